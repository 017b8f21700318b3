/*
 * test_span.c - span descriptors and the allocation cursor (gc/span.h).
 *
 * Spans are made with tc_span_new over an address inside a malloc'd,
 * page-aligned buffer; the span code never touches that memory, and the
 * spans are never entered in the heap's span map. Allocation goes exactly
 * the way gc/alloc.c does it: tc_span_alloc_fast, and when that returns 0,
 * tc_span_next_free_index with alloc_count incremented by the caller.
 *
 * Checks: every slot handed out exactly once, in increasing order, at
 * base + idx * elemsize, and nothing once full; after a simulated sweep (alloc
 * bits pre-set) only the free slots are handed out, across bitmap words;
 * tc_span_is_allocated against an independent model; the divide-free
 * tc_span_object_index for every byte of every class; large spans.
 */
#include <tricolor.h>

#include "check.h"
#include "sizeclass.h"
#include "span.h"

#define BUF_PAGES 16 /* the largest small class span has 10 pages */

static uintptr_t buf_base(void) {
  static void *buf;
  if (buf == NULL) buf = aligned_alloc(TC_PAGE_SIZE, BUF_PAGES * TC_PAGE_SIZE);
  return (uintptr_t)buf;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned nfast, nslow;

/* One allocation as gc/alloc.c makes it: the pointer, or 0 when full. */
static uintptr_t span_alloc(tc_span_t *s) {
  uintptr_t p = tc_span_alloc_fast(s);
  if (p != 0) {
    nfast++;
    return p;
  }
  uint32_t idx = tc_span_next_free_index(s);
  if (idx >= s->nelems) return 0;
  nslow++;
  s->alloc_count++;
  return s->base + (uintptr_t)idx * s->elemsize;
}

static tc_span_t *new_small(unsigned cls, bool noscan) {
  return tc_span_new(buf_base(), tc_class_to_npages[cls], tc_spanclass_make(cls, noscan),
                     false);
}

static bool bit(const uint64_t *bits, uint32_t i) { return bits[i / 64] >> (i % 64) & 1; }

TEST(span_shape) {
  for (unsigned c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    for (int noscan = 0; noscan <= 1; noscan++) {
      tc_span_t *s = tc_span_new(buf_base(), tc_class_to_npages[c],
                                 tc_spanclass_make(c, noscan), noscan);
      CHECK_OR_RETURN(s != NULL);
      CHECK_EQ(s->base, buf_base());
      CHECK_EQ(s->npages, tc_class_to_npages[c]);
      CHECK_EQ(s->elemsize, tc_class_to_size[c]);
      CHECK_EQ(s->nelems, tc_class_to_nelems[c]);
      CHECK_EQ(s->divmagic, tc_class_to_divmagic[c]);
      CHECK_EQ(tc_spanclass_sizeclass(s->spanclass), c);
      CHECK_EQ(tc_spanclass_noscan(s->spanclass), noscan);
      CHECK_EQ(s->large, 0);
      CHECK_EQ(s->needzero, noscan);
      CHECK_EQ(s->nwords, (s->nelems + 63) / 64);
      CHECK_EQ(s->free_index, 0);
      CHECK_EQ(s->alloc_count, 0);
      CHECK_EQ(tc_span_nfree(s), s->nelems);
      /* Fresh bitmaps are all zero, and the three do not overlap. */
      uint32_t nonzero = 0;
      for (uint32_t w = 0; w < s->nwords; w++)
        nonzero += s->alloc_bits[w] != 0 || s->mark_bits[w] != 0 || s->freed_bits[w] != 0;
      CHECK_EQ(nonzero, 0);
      CHECK(s->mark_bits >= s->alloc_bits + s->nwords);
      CHECK(s->freed_bits >= s->mark_bits + s->nwords);
      CHECK_EQ(s->alloc_cache, ~(uint64_t)0);
      tc_span_delete(s);
    }
  }
}

/* A fresh span hands out slot 0, 1, 2, ... nelems-1, then nothing. */
TEST(fresh_span_hands_out_every_slot_in_order) {
  for (unsigned c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    tc_span_t *s = new_small(c, c % 2);
    CHECK_OR_RETURN(s != NULL);
    nfast = nslow = 0;
    uint32_t bad_ptr = 0, bad_alloc = 0;
    for (uint32_t i = 0; i < s->nelems; i++) {
      uintptr_t p = span_alloc(s);
      if (p != s->base + (uintptr_t)i * s->elemsize) {
        if (bad_ptr++ == 0)
          fprintf(stderr, "class %u slot %u: got %#lx, want %#lx\n", c, i,
                  (unsigned long)p, (unsigned long)(s->base + (uintptr_t)i * s->elemsize));
        continue;
      }
      /* Slot i is now allocated, the next one not yet. */
      if (!tc_span_is_allocated(s, i)) bad_alloc++;
      if (i + 1 < s->nelems && tc_span_is_allocated(s, i + 1)) bad_alloc++;
      if (s->alloc_count != i + 1) bad_alloc++;
    }
    if (bad_ptr || bad_alloc)
      fprintf(stderr, "class %u: %u wrong pointers, %u wrong states\n", c, bad_ptr, bad_alloc);
    CHECK_EQ(bad_ptr, 0);
    CHECK_EQ(bad_alloc, 0);
    for (int k = 0; k < 3; k++) CHECK_EQ(span_alloc(s), 0);
    CHECK_EQ(s->alloc_count, s->nelems);
    CHECK_EQ(s->free_index, s->nelems);
    CHECK_EQ(tc_span_nfree(s), 0);
    CHECK_EQ(nfast + nslow, s->nelems);
    /* The fast path misses at most once per bitmap word (at the word's last
     * slot, where the cache needs a refill). */
    CHECK(nslow <= s->nwords);
    for (uint32_t i = 0; i < s->nelems; i++) CHECK(tc_span_is_allocated(s, i));
    tc_span_delete(s);
  }
}

/* Simulates a sweep that left the slots in `preset` allocated and checks that
 * allocation hands out exactly the others, in order. */
static void check_swept(unsigned cls, const uint64_t *preset, const char *what) {
  tc_span_t *s = new_small(cls, false);
  CHECK_OR_RETURN(s != NULL);
  uint32_t n = s->nelems, pop = 0;
  for (uint32_t w = 0; w < s->nwords; w++) {
    uint64_t v = preset[w];
    if (w + 1 == (uint32_t)s->nwords && n % 64) v &= ((uint64_t)1 << (n % 64)) - 1; /* no bits past nelems */
    s->alloc_bits[w] = v;
    pop += (uint32_t)__builtin_popcountll(v);
  }
  s->free_index = 0;
  s->alloc_count = pop;
  tc_span_refill_cache(s, 0);

  static bool handed[1024];
  memset(handed, 0, sizeof handed);
  nfast = nslow = 0;
  uint32_t expect = 0, errors = 0, state_errors = 0, got = 0;
  for (;;) {
    while (expect < n && bit(s->alloc_bits, expect)) expect++;
    uintptr_t p = span_alloc(s);
    if (p == 0) break;
    got++;
    uintptr_t off = p - s->base;
    uint32_t idx = (uint32_t)(off / s->elemsize);
    if (expect >= n || off % s->elemsize != 0 || idx != expect) {
      if (errors++ == 0)
        fprintf(stderr, "%s (class %u): got slot offset %lu (idx %u), expected idx %u\n", what,
                cls, (unsigned long)off, idx, expect);
      if (errors > 5 || idx >= n) break;
    } else {
      handed[idx] = true;
    }
    expect++;
    /* tc_span_is_allocated must agree with the model (preset or handed out)
     * and with the documented formula, for every slot. */
    if (got % 7 == 1 || got < 70) {
      for (uint32_t j = 0; j < n; j++) {
        bool model = bit(s->alloc_bits, j) || handed[j];
        bool formula = j < s->free_index || bit(s->alloc_bits, j);
        bool actual = tc_span_is_allocated(s, j);
        if (actual != model || actual != formula) {
          if (state_errors++ == 0)
            fprintf(stderr, "%s (class %u): after %u allocs slot %u is_allocated=%d, model %d\n",
                    what, cls, got, j, actual, model);
        }
      }
    }
  }
  while (expect < n && bit(s->alloc_bits, expect)) expect++;
  if (expect != n)
    fprintf(stderr, "%s (class %u): stopped before free slot %u\n", what, cls, expect);
  CHECK_EQ(errors, 0);
  CHECK_EQ(state_errors, 0);
  CHECK_EQ(expect, n);
  CHECK_EQ(got, n - pop);
  CHECK_EQ(s->alloc_count, n);
  CHECK_EQ(span_alloc(s), 0);
  CHECK_EQ(span_alloc(s), 0);
  CHECK_EQ(s->free_index, n); /* the cursor stops at nelems */
  for (uint32_t j = 0; j < n; j++) CHECK(tc_span_is_allocated(s, j));
  tc_span_delete(s);
}

TEST(swept_span_patterns_8byte_class) {
  const unsigned c = 1; /* 8 bytes, 1024 slots, 16 words */
  CHECK_OR_RETURN(tc_class_to_nelems[c] == 1024);
  uint64_t p[16];
  for (int w = 0; w < 16; w++) p[w] = 0;
  check_swept(c, p, "empty");
  for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
  check_swept(c, p, "full");
  for (int w = 0; w < 16; w++) p[w] = 0x5555555555555555ull;
  check_swept(c, p, "even slots allocated");
  for (int w = 0; w < 16; w++) p[w] = 0xAAAAAAAAAAAAAAAAull;
  check_swept(c, p, "odd slots allocated");
  for (int w = 0; w < 16; w++) p[w] = (w % 3 == 0) ? 0 : ~(uint64_t)0;
  check_swept(c, p, "whole words full");
  for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
  p[15] = 0x00FF00FF00FF00FFull;
  check_swept(c, p, "only the last word partly free");
  p[15] = ~((uint64_t)1 << 63);
  check_swept(c, p, "only slot 1023 free");
  for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
  p[0] = ~((uint64_t)1 << 63);
  p[1] = ~(uint64_t)1 & ~((uint64_t)1 << 63);
  p[2] = ~(uint64_t)1;
  check_swept(c, p, "free slots at word edges 63 64 127 128");
  for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
  p[0] = ~(uint64_t)1;
  check_swept(c, p, "only slot 0 free");
  for (int w = 0; w < 16; w++) p[w] = (uint64_t)1 << 63;
  check_swept(c, p, "last slot of each word allocated");
  for (int w = 0; w < 16; w++) p[w] = ~((uint64_t)1 << 63);
  check_swept(c, p, "only the last slot of each word free");
  for (int w = 0; w < 16; w++) p[w] = 0x7FFFFFFFFFFFFFFEull;
  check_swept(c, p, "only first and last slot of each word free");
  for (int w = 0; w < 16; w++) p[w] = w < 15 ? 0 : ~(uint64_t)0;
  check_swept(c, p, "last word full");
  for (int r = 0; r < 40; r++) {
    /* Random densities from sparse to nearly full. */
    for (int w = 0; w < 16; w++) {
      uint64_t v = rng();
      if (r % 4 == 1) v &= rng();
      if (r % 4 == 2) v |= rng();
      if (r % 4 == 3) v |= rng() | rng();
      p[w] = v;
    }
    check_swept(c, p, "random");
  }
}

TEST(swept_span_patterns_other_classes) {
  /* Classes whose slot count is not a multiple of 64 (partial last word)
   * and some with a single word. */
  static const unsigned sizes[] = {16, 24, 32, 48, 80, 112, 128, 144, 1024, 8192, 28672};
  uint64_t p[16];
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    unsigned c = tc_size_to_class(sizes[k]);
    CHECK_OR_RETURN(tc_class_to_size[c] == sizes[k]);
    for (int w = 0; w < 16; w++) p[w] = 0xAAAAAAAAAAAAAAAAull;
    check_swept(c, p, "odd slots allocated");
    for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
    p[(tc_class_to_nelems[c] - 1) / 64] = 0;
    check_swept(c, p, "last word free, others full");
    for (int w = 0; w < 16; w++) p[w] = ~(uint64_t)0;
    uint32_t last = tc_class_to_nelems[c] - 1;
    p[last / 64] &= ~((uint64_t)1 << (last % 64));
    check_swept(c, p, "only the last slot free");
    for (int r = 0; r < 10; r++) {
      for (int w = 0; w < 16; w++) p[w] = r % 2 ? rng() | rng() : rng() & rng();
      check_swept(c, p, "random");
    }
  }
}

/* Allocation, then a sweep that frees some slots, then allocation again:
 * the second round hands out exactly the freed slots. */
TEST(alloc_sweep_alloc_cycle) {
  const unsigned sizes[] = {8, 24, 48, 256};
  for (size_t k = 0; k < 4; k++) {
    unsigned c = tc_size_to_class(sizes[k]);
    tc_span_t *s = new_small(c, false);
    CHECK_OR_RETURN(s != NULL);
    uint32_t n = s->nelems;
    for (uint32_t i = 0; i < n; i++) CHECK_EQ(span_alloc(s), s->base + i * s->elemsize);
    CHECK_EQ(span_alloc(s), 0);
    /* Sweep: keep every slot whose index is not divisible by 3. */
    uint32_t kept = 0;
    for (uint32_t w = 0; w < s->nwords; w++) s->alloc_bits[w] = 0;
    for (uint32_t i = 0; i < n; i++)
      if (i % 3 != 0) {
        s->alloc_bits[i / 64] |= (uint64_t)1 << (i % 64);
        kept++;
      }
    s->free_index = 0;
    s->alloc_count = kept;
    tc_span_refill_cache(s, 0);
    CHECK(!tc_span_is_allocated(s, 0));
    CHECK(tc_span_is_allocated(s, 1));
    for (uint32_t i = 0; i < n; i += 3) CHECK_EQ(span_alloc(s), s->base + i * s->elemsize);
    CHECK_EQ(span_alloc(s), 0);
    CHECK_EQ(s->alloc_count, n);
    tc_span_delete(s);
  }
}

TEST(object_index_every_byte_every_class) {
  for (unsigned c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    tc_span_t *s = new_small(c, false);
    CHECK_OR_RETURN(s != NULL);
    uintptr_t size = s->elemsize, spanbytes = s->npages * TC_PAGE_SIZE;
    uint32_t bad = 0, bad_tail = 0;
    for (uintptr_t off = 0; off < (uintptr_t)s->nelems * size; off++)
      if (tc_span_object_index(s, s->base + off) != off / size) bad++;
    /* Tail waste maps to an index >= nelems (findobject rejects it). */
    for (uintptr_t off = (uintptr_t)s->nelems * size; off < spanbytes; off++)
      if (tc_span_object_index(s, s->base + off) < s->nelems) bad_tail++;
    if (bad || bad_tail)
      fprintf(stderr, "class %u (size %lu): %u wrong indices, %u tail bytes inside\n", c,
              (unsigned long)size, bad, bad_tail);
    CHECK_EQ(bad, 0);
    CHECK_EQ(bad_tail, 0);
    tc_span_delete(s);
  }
}

TEST(large_span) {
  const uintptr_t npages = 5;
  for (int noscan = 0; noscan <= 1; noscan++) {
    tc_span_t *s = tc_span_new(buf_base(), npages, tc_spanclass_make(0, noscan), true);
    CHECK_OR_RETURN(s != NULL);
    CHECK_EQ(s->large, 1);
    CHECK_EQ(s->nelems, 1);
    CHECK_EQ(s->elemsize, npages * 8192);
    CHECK_EQ(s->npages, npages);
    CHECK_EQ(s->nwords, 1);
    CHECK_EQ(s->needzero, 1);
    CHECK_EQ(tc_spanclass_sizeclass(s->spanclass), 0);
    CHECK_EQ(tc_spanclass_noscan(s->spanclass), noscan);
    uint32_t bad = 0;
    for (uintptr_t off = 0; off < npages * 8192; off++)
      if (tc_span_object_index(s, s->base + off) != 0) bad++;
    CHECK_EQ(bad, 0);
    CHECK(!tc_span_is_allocated(s, 0));
    CHECK_EQ(span_alloc(s), s->base);
    CHECK(tc_span_is_allocated(s, 0));
    CHECK_EQ(s->alloc_count, 1);
    CHECK_EQ(span_alloc(s), 0);
    CHECK_EQ(span_alloc(s), 0);
    CHECK_EQ(s->alloc_count, 1);
    CHECK_EQ(tc_span_nfree(s), 0);
    tc_span_delete(s);
  }
}

TEST(empty_span_always_misses) {
  CHECK_EQ(tc_span_alloc_fast(&tc_empty_span), 0);
  CHECK_EQ(tc_empty_span.alloc_cache, 0);
  CHECK_EQ(tc_empty_span.nelems, 0);
  CHECK_EQ(tc_span_next_free_index(&tc_empty_span), 0); /* == nelems: full */
}

TEST(descriptors_are_reused) {
  /* Deleting and re-creating spans recycles descriptors with clean state. */
  for (int r = 0; r < 1000; r++) {
    unsigned c = 1 + (unsigned)(r % (TC_NUM_SIZE_CLASSES - 1));
    tc_span_t *s = new_small(c, false);
    CHECK_OR_RETURN(s != NULL);
    CHECK_EQ(s->free_index, 0);
    CHECK_EQ(s->alloc_count, 0);
    uint32_t dirty = 0;
    for (uint32_t w = 0; w < s->nwords; w++)
      dirty += s->alloc_bits[w] != 0 || s->mark_bits[w] != 0 || s->freed_bits[w] != 0;
    CHECK_EQ(dirty, 0);
    /* Dirty everything before giving it back. */
    span_alloc(s);
    for (uint32_t w = 0; w < s->nwords; w++)
      s->alloc_bits[w] = s->mark_bits[w] = s->freed_bits[w] = ~(uint64_t)0;
    tc_span_delete(s);
  }
}

CHECK_MAIN()
