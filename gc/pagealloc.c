/*
 * pagealloc.c - first-fit page runs over a free bitmap, kinds kept apart
 * by chunk (pagealloc.h).
 */
#include "pagealloc.h"

#include "atomic.h"
#include "os.h"

static void set_range(uint64_t *bits, uintptr_t first, uintptr_t n, bool v) {
  uintptr_t i = first, end = first + n;
  while (i < end) {
    uintptr_t w = i / 64, b = i % 64;
    uintptr_t take = 64 - b < end - i ? 64 - b : end - i;
    uint64_t mask = (take == 64 ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1)) << b;
    /* Under the lock, but read without it (tc_pagealloc_next_used). */
    uint64_t x = tc_atomic_load_relaxed(&bits[w]);
    tc_atomic_store_relaxed(&bits[w], v ? x | mask : x & ~mask);
    i += take;
  }
}

/* Index of the first bit >= i whose value is v, or limit. */
static uintptr_t next_bit(const uint64_t *bits, uintptr_t i, uintptr_t limit, bool v) {
  while (i < limit) {
    uint64_t w = tc_atomic_load_relaxed(&bits[i / 64]);
    if (!v) w = ~w;
    w &= ~(uint64_t)0 << (i % 64);
    if (w != 0) {
      uintptr_t r = (i & ~(uintptr_t)63) + (uintptr_t)__builtin_ctzll(w);
      return r < limit ? r : limit;
    }
    i = (i & ~(uintptr_t)63) + 64;
  }
  return limit;
}

/* Number of set bits in [first, first + n). */
static uintptr_t count_range(const uint64_t *bits, uintptr_t first, uintptr_t n) {
  uintptr_t c = 0, i = first, end = first + n;
  while (i < end) {
    uintptr_t w = i / 64, b = i % 64;
    uintptr_t take = 64 - b < end - i ? 64 - b : end - i;
    uint64_t mask = (take == 64 ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1)) << b;
    c += (uintptr_t)__builtin_popcountll(bits[w] & mask);
    i += take;
  }
  return c;
}

bool tc_pagealloc_init(tc_pagealloc_t *pa, uintptr_t max_pages) {
  size_t bytes = tc_align_up((max_pages + 63) / 64 * 8, 4096);
  uintptr_t nchunks = (max_pages + TC_CHUNK_PAGES - 1) >> TC_CHUNK_SHIFT;
  size_t kbytes = tc_align_up(nchunks, 4096), ubytes = tc_align_up(nchunks * 2, 4096);
  size_t total = 2 * bytes + kbytes + ubytes;
  void *p = tc_os_reserve(total, 4096);
  if (p == NULL || !tc_os_commit(p, total)) return false;
  pa->free_bits = p;
  pa->scav_bits = (uint64_t *)((char *)p + bytes);
  pa->chunk_kind = (uint8_t *)((char *)p + 2 * bytes);
  pa->chunk_used = (uint16_t *)((char *)p + 2 * bytes + kbytes);
  pa->npages = 0;
  pa->hint[TC_PAGES_SCAN] = pa->hint[TC_PAGES_NOSCAN] = 0;
  pa->nfree = 0;
  pa->nscav = 0;
  return true;
}

/* Marks [first, first + n) free, without touching the chunks' spans. */
static void release(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  set_range(pa->free_bits, first, n, true);
  pa->nfree += n;
  for (int k = 0; k < 2; k++)
    if (first < pa->hint[k]) pa->hint[k] = first;
}

/* Adds (sign 1) or removes (sign -1) span pages [first, first + n) to their
 * chunks. A chunk takes kind when its first span comes and is open to both
 * kinds again when its last goes: the other kind's hint comes down to it. */
static void count_chunks(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n, int sign,
                         tc_pagekind_t kind) {
  uintptr_t end = first + n;
  for (uintptr_t p = first; p < end;) {
    uintptr_t c = p >> TC_CHUNK_SHIFT;
    uintptr_t ce = (c + 1) << TC_CHUNK_SHIFT;
    uintptr_t take = (ce < end ? ce : end) - p;
    if (sign > 0) {
      pa->chunk_used[c] = (uint16_t)(pa->chunk_used[c] + take);
      tc_atomic_store_relaxed(&pa->chunk_kind[c], (uint8_t)(1 + kind));
    } else {
      pa->chunk_used[c] = (uint16_t)(pa->chunk_used[c] - take);
      if (pa->chunk_used[c] == 0) {
        tc_atomic_store_relaxed(&pa->chunk_kind[c], (uint8_t)0);
        for (int k = 0; k < 2; k++)
          if (c << TC_CHUNK_SHIFT < pa->hint[k]) pa->hint[k] = c << TC_CHUNK_SHIFT;
      }
    }
    p += take;
  }
}

uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n) {
  uintptr_t scav;
  return tc_pagealloc_alloc_run(pa, n, TC_PAGES_SCAN, &scav);
}

uintptr_t tc_pagealloc_alloc_run(tc_pagealloc_t *pa, uintptr_t n, tc_pagekind_t kind,
                                 uintptr_t *scav) {
  if (n == 0 || n > pa->nfree) return TC_NO_PAGE;
  const uint8_t tag = (uint8_t)(1 + kind);
  uintptr_t i = pa->hint[kind];
  bool first_seen = false;
  while (i < pa->npages) {
    uintptr_t start = next_bit(pa->free_bits, i, pa->npages, true);
    if (start >= pa->npages) break;
    uintptr_t end = next_bit(pa->free_bits, start, pa->npages, false);
    /* The free run [start, end), cut by chunks of the other kind. */
    uintptr_t cand = TC_NO_PAGE;
    for (uintptr_t p = start; p < end;) {
      uintptr_t c = p >> TC_CHUNK_SHIFT;
      uintptr_t ce = (c + 1) << TC_CHUNK_SHIFT;
      if (ce > end) ce = end;
      uint8_t k = pa->chunk_kind[c];
      if (k == 0 || k == tag) {
        if (!first_seen) {
          pa->hint[kind] = p; /* nothing free for this kind below */
          first_seen = true;
        }
        if (cand == TC_NO_PAGE) cand = p;
        if (ce - cand >= n) goto found;
      } else {
        cand = TC_NO_PAGE;
      }
      p = ce;
    }
    i = end;
    continue;
  found:
    set_range(pa->free_bits, cand, n, false);
    pa->nfree -= n;
    count_chunks(pa, cand, n, 1, kind);
    uintptr_t sc = count_range(pa->scav_bits, cand, n);
    if (sc) {
      set_range(pa->scav_bits, cand, n, false);
      tc_atomic_store_relaxed(&pa->nscav, pa->nscav - sc);
    }
    *scav = sc;
    if (cand == pa->hint[kind]) pa->hint[kind] = cand + n;
    return cand;
  }
  return TC_NO_PAGE;
}

void tc_pagealloc_free(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  release(pa, first, n);
  count_chunks(pa, first, n, -1, TC_PAGES_SCAN);
}

uintptr_t tc_pagealloc_next_scan_chunks(const tc_pagealloc_t *pa, uintptr_t from,
                                        uintptr_t limit, uintptr_t *end) {
  const uint8_t tag = 1 + TC_PAGES_SCAN;
  uintptr_t c = from >> TC_CHUNK_SHIFT, climit = (limit + TC_CHUNK_PAGES - 1) >> TC_CHUNK_SHIFT;
  while (c < climit && tc_atomic_load_relaxed(&pa->chunk_kind[c]) != tag) c++;
  if (c >= climit) return limit;
  uintptr_t e = c;
  while (e < climit && tc_atomic_load_relaxed(&pa->chunk_kind[e]) == tag) e++;
  uintptr_t first = c << TC_CHUNK_SHIFT;
  *end = e << TC_CHUNK_SHIFT < limit ? e << TC_CHUNK_SHIFT : limit;
  return first > from ? first : from;
}

uintptr_t tc_pagealloc_next_used(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit,
                                 uintptr_t bridge, uintptr_t *end) {
  uintptr_t first = next_bit(pa->free_bits, from, limit, false);
  if (first >= limit) return limit;
  uintptr_t e = first;
  for (;;) {
    uintptr_t gap = next_bit(pa->free_bits, e, limit, true);
    uintptr_t next = next_bit(pa->free_bits, gap, limit, false);
    if (next >= limit || next - gap >= bridge) {
      e = gap;
      break;
    }
    e = next;
  }
  *end = e;
  return first;
}

void tc_pagealloc_grow(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  if (first + n > pa->npages) pa->npages = first + n;
  tc_pagealloc_free_scavenged(pa, first, n);
}

void tc_pagealloc_free_scavenged(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  release(pa, first, n); /* no span held them */
  set_range(pa->scav_bits, first, n, true);
  tc_atomic_store_relaxed(&pa->nscav, pa->nscav + n);
}

uintptr_t tc_pagealloc_take_resident(tc_pagealloc_t *pa, uintptr_t max, uintptr_t *n) {
  /* Highest addresses first (Go's scavenger): they are the last the
   * first-fit allocator would reuse. */
  for (uintptr_t w = (pa->npages + 63) / 64; w-- > 0;) {
    uint64_t word = pa->free_bits[w] & ~pa->scav_bits[w];
    if (w == pa->npages / 64 && pa->npages % 64) word &= ((uint64_t)1 << (pa->npages % 64)) - 1;
    if (word == 0) continue;
    uintptr_t last = w * 64 + 63 - (uintptr_t)__builtin_clzll(word);
    uintptr_t first = last;
    while (first > 0 && last - first + 1 < max) {
      uintptr_t p = first - 1;
      bool ok = (pa->free_bits[p / 64] >> (p % 64) & 1) && !(pa->scav_bits[p / 64] >> (p % 64) & 1);
      if (!ok) break;
      first = p;
    }
    uintptr_t len = last - first + 1;
    set_range(pa->free_bits, first, len, false);
    pa->nfree -= len;
    *n = len;
    return first;
  }
  return TC_NO_PAGE;
}

bool tc_pagealloc_is_free(const tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  return next_bit(pa->free_bits, first, first + n, false) == first + n;
}
