/*
 * test_pagealloc.c - the page allocator (gc/pagealloc.h) in isolation: an
 * own tc_pagealloc_t, grown by hand, never the heap's. Checks first fit,
 * runs across 64-bit bitmap words, exact fit and refusals, merging of freed
 * runs, growth, tc_pagealloc_is_free, and, against a naive reference model
 * (a bool per page, linear first fit), thousands of random allocs and frees:
 * identical results, identical nfree, and the search hint never above a
 * free page.
 *
 * Chunk kinds (scanned and noscan spans never share a chunk of
 * TC_CHUNK_PAGES pages): each kind stays out of the other's chunks, an
 * emptied chunk serves either kind again (both hints come down to it),
 * multi-chunk runs stop at a chunk of the other kind, next_scan_chunks
 * reports exact runs, the scavenger's take/free leave kinds and counts
 * alone, and a second reference model with kinds (a state per page, chunk
 * kinds derived from it) checks random allocs of both kinds, frees,
 * scavenger takes and returns, and growth: identical first fit, chunk kinds,
 * used counts, nfree, nscav, both hints' invariants and next_scan_chunks.
 *
 * Runs of pages held by spans (tc_pagealloc_next_used, the runs GCMODE=
 * concurrent protects and walks): exact runs across bitmap words, gaps
 * bridged only when shorter than the bridge, clipping to [from, limit);
 * and against the second model, with random bridges.
 */
#include <stdbool.h>

#include "check.h"
#include "pagealloc.h"

#define MAX_PAGES ((uintptr_t)1 << 20)

static bool new_pa(tc_pagealloc_t *pa, uintptr_t npages) {
  if (!tc_pagealloc_init(pa, MAX_PAGES)) return false;
  if (npages) tc_pagealloc_grow(pa, 0, npages);
  return true;
}

/* Every page of [first, first+n) has the given state, page by page. */
static bool range_is(const tc_pagealloc_t *pa, uintptr_t first, uintptr_t n, bool free) {
  for (uintptr_t i = first; i < first + n; i++)
    if (tc_pagealloc_is_free(pa, i, 1) != free) return false;
  return true;
}

TEST(init_and_grow) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 0);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(pa.npages, 0);
  CHECK_EQ(pa.nfree, 0);
  CHECK(tc_pagealloc_alloc(&pa, 1) == TC_NO_PAGE);
  tc_pagealloc_grow(&pa, 0, 64);
  CHECK_EQ(pa.npages, 64);
  CHECK_EQ(pa.nfree, 64);
  CHECK(tc_pagealloc_is_free(&pa, 0, 64));
  CHECK(!tc_pagealloc_is_free(&pa, 0, 65)); /* page 64 is not managed */
  CHECK(!tc_pagealloc_is_free(&pa, 64, 1));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 64), 0);
  CHECK_EQ(pa.nfree, 0);
  CHECK(tc_pagealloc_alloc(&pa, 1) == TC_NO_PAGE);
  /* Growing appends free pages after the old top. */
  tc_pagealloc_grow(&pa, 64, 64);
  CHECK_EQ(pa.npages, 128);
  CHECK_EQ(pa.nfree, 64);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 64);
  /* A free run ending at the old top merges with grown pages (the page heap
   * relies on this: it asks only for what the tail run lacks). */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 63), 65);
  tc_pagealloc_free(&pa, 120, 8);
  tc_pagealloc_grow(&pa, 128, 8);
  CHECK_EQ(pa.nfree, 16);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 16), 120);
  CHECK_EQ(pa.nfree, 0);
}

TEST(first_fit_returns_lowest_run) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 256);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 0);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 3), 1);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 10), 4);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 2), 14);
  CHECK_EQ(pa.nfree, 256 - 16);
  /* Holes: [1,4) (3 pages) and [6,9) of the 10-run (3 pages). */
  tc_pagealloc_free(&pa, 1, 3);
  tc_pagealloc_free(&pa, 6, 3);
  CHECK_EQ(pa.nfree, 256 - 10);
  CHECK(range_is(&pa, 0, 1, false));
  CHECK(range_is(&pa, 1, 3, true));
  CHECK(range_is(&pa, 4, 2, false));
  CHECK(range_is(&pa, 6, 3, true));
  CHECK(range_is(&pa, 9, 7, false));
  CHECK(range_is(&pa, 16, 240, true));
  /* 4 pages fit in neither hole: lowest fitting run is at 16. */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 4), 16);
  /* 2 pages: the lowest hole. */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 2), 1);
  /* 1 page: what is left of the first hole, still the lowest. */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 3);
  /* 3 pages: the second hole exactly. */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 3), 6);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 20);
  CHECK_EQ(pa.nfree, 256 - 21);
  /* A low free page after a later allocation: the hint must come back down. */
  tc_pagealloc_free(&pa, 0, 1);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 2), 21);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 0);
}

TEST(too_small_first_hole_keeps_hint) {
  /* The first free run is too small; the allocation comes from a later run;
   * the small run must still be found afterwards. */
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 200);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 10), 0);
  tc_pagealloc_free(&pa, 3, 1);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 2), 10);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 5), 12);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 3);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 17);
  CHECK_EQ(pa.nfree, 200 - 18);
}

TEST(runs_across_word_boundaries) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 512);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 60), 0);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 10), 60);   /* crosses 64 */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 130), 70);  /* crosses 128 and 192 */
  CHECK(range_is(&pa, 0, 200, false));
  CHECK(tc_pagealloc_is_free(&pa, 200, 312));
  CHECK(!tc_pagealloc_is_free(&pa, 199, 2));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 312), 200); /* exactly the rest */
  CHECK_EQ(pa.nfree, 0);
  CHECK(!tc_pagealloc_is_free(&pa, 0, 1));

  /* A hole [63, 129): 66 pages spanning three words, one of them whole. */
  tc_pagealloc_free(&pa, 63, 66);
  CHECK(tc_pagealloc_is_free(&pa, 63, 66));
  CHECK(!tc_pagealloc_is_free(&pa, 62, 2));
  CHECK(!tc_pagealloc_is_free(&pa, 128, 2));
  CHECK(range_is(&pa, 0, 63, false));
  CHECK(range_is(&pa, 129, 512 - 129, false));
  CHECK(tc_pagealloc_alloc(&pa, 67) == TC_NO_PAGE);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 66), 63);
  CHECK_EQ(pa.nfree, 0);

  /* A whole aligned word, [128, 192). */
  tc_pagealloc_free(&pa, 128, 64);
  CHECK(tc_pagealloc_is_free(&pa, 128, 64));
  CHECK(range_is(&pa, 127, 1, false));
  CHECK(range_is(&pa, 192, 1, false));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 64), 128);

  /* Single pages at both edges of a word, then a run spanning one boundary:
   * [255, 257) */
  tc_pagealloc_free(&pa, 255, 2);
  tc_pagealloc_free(&pa, 319, 1);
  tc_pagealloc_free(&pa, 384, 1);
  CHECK_EQ(pa.nfree, 4);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 2), 255);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 319);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 384);
  CHECK(tc_pagealloc_alloc(&pa, 1) == TC_NO_PAGE);

  /* Free runs in adjacent words that only fit together. */
  tc_pagealloc_free(&pa, 440, 24); /* [440, 464) */
  tc_pagealloc_free(&pa, 464, 24); /* [464, 488) */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 48), 440);
}

TEST(exact_fit_and_too_large) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 100);
  CHECK_OR_RETURN(ok);
  CHECK(tc_pagealloc_alloc(&pa, 101) == TC_NO_PAGE);
  CHECK(tc_pagealloc_alloc(&pa, 0) == TC_NO_PAGE);
  CHECK_EQ(pa.nfree, 100);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 100), 0);
  CHECK_EQ(pa.nfree, 0);
  CHECK(tc_pagealloc_alloc(&pa, 1) == TC_NO_PAGE);
  tc_pagealloc_free(&pa, 0, 100);
  CHECK_EQ(pa.nfree, 100);

  /* Fragmented: 50 free pages but no two adjacent. */
  for (uintptr_t i = 0; i < 100; i++) CHECK_EQ(tc_pagealloc_alloc(&pa, 1), i);
  for (uintptr_t i = 0; i < 100; i += 2) tc_pagealloc_free(&pa, i, 1);
  CHECK_EQ(pa.nfree, 50);
  CHECK(tc_pagealloc_alloc(&pa, 2) == TC_NO_PAGE);
  CHECK(tc_pagealloc_alloc(&pa, 50) == TC_NO_PAGE);
  CHECK_EQ(pa.nfree, 50); /* refusals change nothing */
  CHECK(range_is(&pa, 0, 1, true));
  CHECK(range_is(&pa, 1, 1, false));
  /* Freeing 51 makes [50, 53) the only run of 3. */
  tc_pagealloc_free(&pa, 51, 1);
  CHECK(tc_pagealloc_alloc(&pa, 4) == TC_NO_PAGE);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 3), 50);
  CHECK(tc_pagealloc_alloc(&pa, 2) == TC_NO_PAGE);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 0);
  CHECK_EQ(pa.nfree, 47);
}

TEST(freeing_merges_runs) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 100);
  CHECK_OR_RETURN(ok);
  for (uintptr_t i = 0; i < 10; i++) CHECK_EQ(tc_pagealloc_alloc(&pa, 10), i * 10);
  CHECK(tc_pagealloc_alloc(&pa, 1) == TC_NO_PAGE);
  /* Free three neighbours out of order: one 30-page run. */
  tc_pagealloc_free(&pa, 40, 10);
  tc_pagealloc_free(&pa, 20, 10);
  CHECK(tc_pagealloc_alloc(&pa, 11) == TC_NO_PAGE);
  tc_pagealloc_free(&pa, 30, 10);
  CHECK(tc_pagealloc_is_free(&pa, 20, 30));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 30), 20);
  /* Free everything in a scattered order: the whole range fits again. */
  static const int order[10] = {7, 2, 9, 0, 5, 3, 8, 1, 6, 4};
  for (int i = 0; i < 10; i++) {
    CHECK(tc_pagealloc_alloc(&pa, 100) == TC_NO_PAGE);
    tc_pagealloc_free(&pa, (uintptr_t)order[i] * 10, 10);
  }
  CHECK_EQ(pa.nfree, 100);
  CHECK(tc_pagealloc_is_free(&pa, 0, 100));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 100), 0);
}

TEST(large_pages_count) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, MAX_PAGES);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(pa.nfree, MAX_PAGES);
  CHECK(tc_pagealloc_is_free(&pa, 0, MAX_PAGES));
  CHECK_EQ(tc_pagealloc_alloc(&pa, MAX_PAGES / 2 + 1), 0);
  CHECK(tc_pagealloc_alloc(&pa, MAX_PAGES / 2) == TC_NO_PAGE);
  CHECK_EQ(tc_pagealloc_alloc(&pa, MAX_PAGES / 2 - 1), MAX_PAGES / 2 + 1);
  CHECK_EQ(pa.nfree, 0);
  tc_pagealloc_free(&pa, 1000, MAX_PAGES - 2000);
  CHECK(tc_pagealloc_is_free(&pa, 1000, MAX_PAGES - 2000));
  CHECK(!tc_pagealloc_is_free(&pa, 999, 2));
  CHECK(!tc_pagealloc_is_free(&pa, MAX_PAGES - 1001, 2));
  CHECK_EQ(tc_pagealloc_alloc(&pa, MAX_PAGES - 2000), 1000);
}

TEST(is_free) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 300);
  CHECK_OR_RETURN(ok);
  CHECK(tc_pagealloc_is_free(&pa, 0, 300));
  CHECK(tc_pagealloc_is_free(&pa, 5, 1));
  CHECK(tc_pagealloc_is_free(&pa, 63, 2));
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 0);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 200), 1);
  tc_pagealloc_free(&pa, 100, 1);
  CHECK(!tc_pagealloc_is_free(&pa, 0, 1));
  CHECK(!tc_pagealloc_is_free(&pa, 0, 300));
  CHECK(tc_pagealloc_is_free(&pa, 100, 1));
  CHECK(!tc_pagealloc_is_free(&pa, 99, 2));
  CHECK(!tc_pagealloc_is_free(&pa, 100, 2));
  CHECK(tc_pagealloc_is_free(&pa, 201, 99));
  CHECK(!tc_pagealloc_is_free(&pa, 200, 2));
  CHECK(!tc_pagealloc_is_free(&pa, 201, 100)); /* page 300 is not managed */
  CHECK(!tc_pagealloc_is_free(&pa, 300, 1));
  CHECK(!tc_pagealloc_is_free(&pa, 5000, 1));
  /* A single busy page is seen by every range that covers it. */
  tc_pagealloc_free(&pa, 0, 1);
  tc_pagealloc_free(&pa, 1, 99);
  tc_pagealloc_free(&pa, 101, 100);
  CHECK_EQ(pa.nfree, 300);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 300), 0); /* all busy */
  CHECK_EQ(pa.nfree, 0);
  tc_pagealloc_free(&pa, 0, 300);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 1), 0);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 129), 1);
  tc_pagealloc_free(&pa, 0, 129); /* only page 129 busy */
  for (uintptr_t lo = 0; lo <= 129; lo += 7)
    for (uintptr_t hi = 130; hi <= 300; hi += 11) CHECK(!tc_pagealloc_is_free(&pa, lo, hi - lo));
  CHECK(tc_pagealloc_is_free(&pa, 0, 129));
  CHECK(tc_pagealloc_is_free(&pa, 130, 170));
}

/* ---- random operations against a reference model ------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}
static uintptr_t rng_below(uintptr_t n) { return (uintptr_t)(rng() % n); }

#define MODEL_MAX 4096
static bool model_free[MODEL_MAX];
static uintptr_t model_npages;

static uintptr_t model_alloc(uintptr_t n) {
  if (n == 0) return TC_NO_PAGE;
  uintptr_t run = 0;
  for (uintptr_t i = 0; i < model_npages; i++) {
    run = model_free[i] ? run + 1 : 0;
    if (run == n) {
      uintptr_t first = i + 1 - n;
      for (uintptr_t j = first; j <= i; j++) model_free[j] = false;
      return first;
    }
  }
  return TC_NO_PAGE;
}

static uintptr_t model_nfree(void) {
  uintptr_t n = 0;
  for (uintptr_t i = 0; i < model_npages; i++) n += model_free[i];
  return n;
}

static uintptr_t model_lowest_free(void) {
  for (uintptr_t i = 0; i < model_npages; i++)
    if (model_free[i]) return i;
  return model_npages;
}

struct run {
  uintptr_t first, n;
};

/* What to free of a live run of *rn pages at *rfirst: the whole run (true:
 * the caller drops it) or, one time in four, its head or tail (the run keeps
 * the rest). The pages to free in *first, *n. */
static bool pick_part(uintptr_t *rfirst, uintptr_t *rn, uintptr_t *first, uintptr_t *n) {
  *first = *rfirst;
  *n = *rn;
  if (*rn < 2 || rng_below(4) != 0) return true;
  uintptr_t part = 1 + rng_below(*rn - 1);
  if (rng_below(2)) *rfirst += part;
  else *first = *rfirst + *rn - part;
  *n = part;
  *rn -= part;
  return false;
}

TEST(random_against_reference_model) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 0);
  CHECK_OR_RETURN(ok);
  memset(model_free, 0, sizeof model_free);
  model_npages = 0;
  static struct run live[MODEL_MAX];
  int nlive = 0;
  uintptr_t grow_to = 1024;
  tc_pagealloc_grow(&pa, 0, grow_to);
  for (uintptr_t i = 0; i < grow_to; i++) model_free[i] = true;
  model_npages = grow_to;

  long mismatches = 0, hint_violations = 0, nalloc = 0, nfail = 0, nfreeops = 0;
  const int OPS = 40000;
  for (int op = 0; op < OPS && mismatches == 0 && hint_violations < 10; op++) {
    uint64_t r = rng_below(100);
    if (r < 1 && model_npages + 512 <= MODEL_MAX) {
      /* Grow by a few pages, not always word-aligned. */
      uintptr_t add = 1 + rng_below(300);
      if (model_npages + add > MODEL_MAX) add = MODEL_MAX - model_npages;
      tc_pagealloc_grow(&pa, model_npages, add);
      for (uintptr_t i = model_npages; i < model_npages + add; i++) model_free[i] = true;
      model_npages += add;
    } else if (r < 55 || nlive == 0) {
      /* Mostly small runs, sometimes large ones, now and then too large. */
      uintptr_t n;
      uint64_t k = rng_below(100);
      if (k < 70) n = 1 + rng_below(4);
      else if (k < 90) n = 1 + rng_below(40);
      else if (k < 99) n = 1 + rng_below(300);
      else n = 1 + rng_below(model_npages + 10);
      uintptr_t got = tc_pagealloc_alloc(&pa, n);
      uintptr_t want = model_alloc(n);
      if (got != want) {
        /* The two have diverged; later operations would only repeat it. */
        fprintf(stderr, "op %d: alloc(%lu) = %ld, reference first fit = %ld\n", op,
                (unsigned long)n, (long)got, (long)want);
        mismatches++;
        break;
      }
      if (want != TC_NO_PAGE) {
        nalloc++;
        live[nlive++] = (struct run){want, n};
      } else {
        nfail++;
      }
    } else {
      /* Free a random live run, whole or in part. */
      nfreeops++;
      int i = (int)rng_below((uintptr_t)nlive);
      uintptr_t first, n;
      if (pick_part(&live[i].first, &live[i].n, &first, &n)) live[i] = live[--nlive];
      tc_pagealloc_free(&pa, first, n);
      for (uintptr_t j = first; j < first + n; j++) {
        if (model_free[j] && mismatches++ == 0)
          fprintf(stderr, "test bug: double free of page %lu\n", (unsigned long)j);
        model_free[j] = true;
      }
    }
    if (pa.nfree != model_nfree()) {
      if (mismatches++ == 0)
        fprintf(stderr, "op %d: nfree %lu, reference %lu\n", op, (unsigned long)pa.nfree,
                (unsigned long)model_nfree());
    }
    if (pa.npages != model_npages) mismatches++;
    /* The hint's invariant: no free page below it. */
    if (pa.hint[TC_PAGES_SCAN] > model_lowest_free()) {
      if (hint_violations++ == 0)
        fprintf(stderr, "op %d: hint %lu above free page %lu\n", op, (unsigned long)pa.hint[TC_PAGES_SCAN],
                (unsigned long)model_lowest_free());
    }
    /* Now and then compare the whole bitmap. */
    if (op % 500 == 0) {
      for (uintptr_t j = 0; j < model_npages; j++)
        if (tc_pagealloc_is_free(&pa, j, 1) != model_free[j]) {
          if (mismatches++ == 0)
            fprintf(stderr, "op %d: page %lu free=%d, reference %d\n", op, (unsigned long)j,
                    tc_pagealloc_is_free(&pa, j, 1), model_free[j]);
          break;
        }
    }
  }
  CHECK_EQ(mismatches, 0);
  CHECK_EQ(hint_violations, 0);
  /* The run exercised all three outcomes a fair number of times. */
  CHECK(nalloc > 5000);
  CHECK(nfail > 50);
  CHECK(nfreeops > 5000);
  CHECK(model_npages > 1024);

  /* Free everything left: the allocator is one free run again. */
  for (int i = 0; i < nlive; i++) {
    tc_pagealloc_free(&pa, live[i].first, live[i].n);
    for (uintptr_t j = live[i].first; j < live[i].first + live[i].n; j++) model_free[j] = true;
  }
  CHECK_EQ(pa.nfree, model_npages);
  CHECK_EQ(model_nfree(), model_npages);
  CHECK(tc_pagealloc_is_free(&pa, 0, model_npages));
  CHECK_EQ(tc_pagealloc_alloc(&pa, model_npages), 0);
}

/* ---- chunk kinds ---------------------------------------------------------- */

#define SCAN TC_PAGES_SCAN
#define NOSCAN TC_PAGES_NOSCAN
#define TAG(kind) (1 + (int)(kind)) /* chunk_kind of a chunk holding kind */
#define CP TC_CHUNK_PAGES

static uintptr_t alloc_k(tc_pagealloc_t *pa, uintptr_t n, tc_pagekind_t kind) {
  uintptr_t scav;
  return tc_pagealloc_alloc_run(pa, n, kind, &scav);
}

TEST(kinds_never_share_a_chunk) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 4 * CP);
  CHECK_OR_RETURN(ok);
  for (uintptr_t c = 0; c < 4; c++) {
    CHECK_EQ(pa.chunk_kind[c], 0);
    CHECK_EQ(pa.chunk_used[c], 0);
  }
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 0);
  CHECK_EQ(pa.chunk_kind[0], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[0], 1);
  /* Page 1 is free, but chunk 0 holds scanned pages. */
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 256);
  CHECK_EQ(pa.chunk_kind[1], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[1], 1);
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 1);
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 257);
  CHECK_EQ(tc_pagealloc_alloc(&pa, 3), 2); /* plain alloc is for scanned pages */
  CHECK_EQ(pa.chunk_used[0], 5);
  CHECK_EQ(pa.chunk_used[1], 2);
  /* Chunk 0 has [5, 256) free, chunk 1 [258, 512): 250 noscan pages go to
   * chunk 1 (kind-blind first fit: 5). */
  CHECK_EQ(alloc_k(&pa, 250, NOSCAN), 258);
  CHECK_EQ(pa.chunk_used[1], 252);
  CHECK_EQ(alloc_k(&pa, 251, SCAN), 5); /* exactly the rest of chunk 0 */
  CHECK_EQ(pa.chunk_used[0], 256);
  /* From noscan chunk 1's tail [508, 512) on into empty chunk 2. */
  CHECK_EQ(alloc_k(&pa, 6, NOSCAN), 508);
  CHECK_EQ(pa.chunk_kind[2], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[1], 256);
  CHECK_EQ(pa.chunk_used[2], 2);
  CHECK_EQ(pa.chunk_kind[3], 0);
  /* Chunks 0 and 1 are full, chunk 2 is noscan ([514, 768) free): a scanned
   * page goes to chunk 3 (blind: 514). */
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 768);
  CHECK_EQ(pa.chunk_kind[3], TAG(SCAN));
  CHECK_EQ(alloc_k(&pa, 254, NOSCAN), 514);
  CHECK_EQ(pa.nfree, 255);
  /* 255 free pages, all in a scanned chunk: none for noscan. */
  CHECK(alloc_k(&pa, 1, NOSCAN) == TC_NO_PAGE);
  CHECK_EQ(pa.nfree, 255); /* refusals change nothing */
  CHECK_EQ(pa.chunk_kind[3], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[3], 1);
  CHECK_EQ(alloc_k(&pa, 255, SCAN), 769);
  CHECK_EQ(pa.nfree, 0);
  static const int full_kinds[4] = {TAG(SCAN), TAG(NOSCAN), TAG(NOSCAN), TAG(SCAN)};
  for (uintptr_t c = 0; c < 4; c++) {
    CHECK_EQ(pa.chunk_kind[c], full_kinds[c]);
    CHECK_EQ(pa.chunk_used[c], 256);
  }
  /* One page freed in each chunk: each is for its chunk's kind only. */
  tc_pagealloc_free(&pa, 100, 1);
  tc_pagealloc_free(&pa, 300, 1);
  tc_pagealloc_free(&pa, 600, 1);
  tc_pagealloc_free(&pa, 1000, 1);
  for (uintptr_t c = 0; c < 4; c++) {
    CHECK_EQ(pa.chunk_kind[c], full_kinds[c]);
    CHECK_EQ(pa.chunk_used[c], 255);
  }
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 300);
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 600);
  CHECK(alloc_k(&pa, 1, NOSCAN) == TC_NO_PAGE);
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 100);
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 1000);
  CHECK(alloc_k(&pa, 1, SCAN) == TC_NO_PAGE);
  CHECK_EQ(pa.nfree, 0);
}

TEST(emptied_chunk_serves_the_other_kind) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 8 * CP);
  CHECK_OR_RETURN(ok);
  /* Chunk 0: two noscan spans, [0, 10) and [10, 20); the lower one freed. */
  CHECK_EQ(alloc_k(&pa, 10, NOSCAN), 0);
  CHECK_EQ(alloc_k(&pa, 10, NOSCAN), 10);
  tc_pagealloc_free(&pa, 0, 10);
  CHECK_EQ(pa.chunk_kind[0], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[0], 10);
  /* Scanned searches pass chunk 0 (its hint may move past it). */
  CHECK_EQ(alloc_k(&pa, 5, SCAN), 256);
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 261);
  /* The last span of chunk 0 goes: the chunk is open to both kinds, and
   * the scanned hint comes down to page 0, below the freed run. */
  tc_pagealloc_free(&pa, 10, 10);
  CHECK_EQ(pa.chunk_kind[0], 0);
  CHECK_EQ(pa.chunk_used[0], 0);
  CHECK_EQ(pa.hint[SCAN], 0);
  CHECK_EQ(pa.hint[NOSCAN], 0);
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 0);
  CHECK_EQ(pa.chunk_kind[0], TAG(SCAN));
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 512); /* chunks 0 and 1 are scanned now */
  CHECK_EQ(pa.chunk_kind[2], TAG(NOSCAN));

  /* The same the other way: chunk 1 holds scanned [256, 261) and [261, 262). */
  tc_pagealloc_free(&pa, 256, 5);
  CHECK_EQ(pa.chunk_kind[1], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[1], 1);
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 513); /* not 256 */
  tc_pagealloc_free(&pa, 261, 1);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_used[1], 0);
  CHECK(pa.hint[NOSCAN] <= 256); /* page 256: free, and noscan's again */
  CHECK_EQ(alloc_k(&pa, 1, NOSCAN), 256);
  CHECK_EQ(pa.chunk_kind[1], TAG(NOSCAN));
  CHECK_EQ(alloc_k(&pa, 1, SCAN), 1); /* chunk 0 is still scanned */

  /* A span over three chunks; freeing it empties all three. */
  CHECK_EQ(alloc_k(&pa, 600, SCAN), 768);
  for (uintptr_t c = 3; c < 6; c++) CHECK_EQ(pa.chunk_kind[c], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[3], 256);
  CHECK_EQ(pa.chunk_used[4], 256);
  CHECK_EQ(pa.chunk_used[5], 88);
  tc_pagealloc_free(&pa, 768, 600);
  for (uintptr_t c = 3; c < 8; c++) {
    CHECK_EQ(pa.chunk_kind[c], 0);
    CHECK_EQ(pa.chunk_used[c], 0);
  }
  /* Noscan may now run from the free tail of chunk 2 through chunks 3, 4. */
  CHECK_EQ(alloc_k(&pa, 600, NOSCAN), 514);
  for (uintptr_t c = 2; c < 5; c++) CHECK_EQ(pa.chunk_kind[c], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_kind[5], 0);
  CHECK_EQ(pa.chunk_used[2], 256);
  CHECK_EQ(pa.chunk_used[3], 256);
  CHECK_EQ(pa.chunk_used[4], 90);
  /* Part of a run freed: only the chunk left without span pages loses its kind. */
  tc_pagealloc_free(&pa, 514, 254); /* the chunk-2 part: 512, 513 stay */
  CHECK_EQ(pa.chunk_kind[2], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[2], 2);
  tc_pagealloc_free(&pa, 768, 256);
  CHECK_EQ(pa.chunk_kind[3], 0);
  CHECK_EQ(pa.chunk_used[3], 0);
  CHECK_EQ(pa.chunk_kind[4], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[4], 90);
  /* 300 scanned pages: empty chunk 3 is too short alone and noscan chunk 4
   * (used [1024, 1114)) blocks the run; it starts at chunk 5 (blind: 514). */
  CHECK_EQ(alloc_k(&pa, 300, SCAN), 1280);
  CHECK_EQ(alloc_k(&pa, 256, SCAN), 768); /* chunk 3 exactly */
  CHECK_EQ(alloc_k(&pa, 10, SCAN), 2);
  CHECK_EQ(pa.chunk_kind[3], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[5], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[6], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[6], 44);
}

TEST(multi_chunk_runs_stop_at_the_other_kind) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 6 * CP);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(alloc_k(&pa, 256, SCAN), 0);
  CHECK_EQ(alloc_k(&pa, 256, NOSCAN), 256);
  tc_pagealloc_free(&pa, 200, 56);  /* chunk 0: scanned [0, 200) */
  tc_pagealloc_free(&pa, 256, 255); /* chunk 1: noscan page 511 */
  CHECK_EQ(pa.chunk_used[0], 200);
  CHECK_EQ(pa.chunk_used[1], 1);
  /* Free runs [200, 511) and [512, 1536). Kind-blind first fit would put
   * 100 scanned pages at 200, into noscan chunk 1. */
  CHECK_EQ(alloc_k(&pa, 100, SCAN), 512);
  CHECK_EQ(alloc_k(&pa, 56, SCAN), 200); /* exactly chunk 0's free pages */
  CHECK_EQ(alloc_k(&pa, 100, NOSCAN), 256);
  /* Noscan: [356, 511) is short and [612, 768) is in scanned chunk 2: the
   * run starts at chunk 3 (blind: 612). */
  CHECK_EQ(alloc_k(&pa, 300, NOSCAN), 768);
  static const int kinds[6] = {TAG(SCAN), TAG(NOSCAN), TAG(SCAN), TAG(NOSCAN), TAG(NOSCAN), 0};
  static const int used[6] = {256, 101, 100, 256, 44, 0};
  for (uintptr_t c = 0; c < 6; c++) {
    CHECK_EQ(pa.chunk_kind[c], kinds[c]);
    CHECK_EQ(pa.chunk_used[c], used[c]);
  }
  /* 400 scanned pages: [1068, 1536) has 468 free, but 1068.. is noscan chunk
   * 4 and chunk 5 alone is too short. */
  uintptr_t nfree = pa.nfree;
  CHECK(alloc_k(&pa, 400, SCAN) == TC_NO_PAGE);
  CHECK_EQ(pa.nfree, nfree);
  for (uintptr_t c = 0; c < 6; c++) CHECK_EQ(pa.chunk_kind[c], kinds[c]);
  /* One more chunk: the run is found past the noscan chunk, over 5 and 6. */
  tc_pagealloc_grow(&pa, 6 * CP, CP);
  CHECK_EQ(pa.chunk_kind[6], 0);
  CHECK_EQ(alloc_k(&pa, 400, SCAN), 1280);
  CHECK_EQ(pa.chunk_kind[5], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[6], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[5], 256);
  CHECK_EQ(pa.chunk_used[6], 144);
  /* The noscan hole [1068, 1280) is still noscan's. */
  CHECK_EQ(alloc_k(&pa, 212, NOSCAN), 1068);
  CHECK(alloc_k(&pa, 200, NOSCAN) == TC_NO_PAGE); /* [356, 511) is 155 */
  CHECK_EQ(alloc_k(&pa, 155, NOSCAN), 356);
  CHECK(tc_pagealloc_alloc(&pa, 157) == TC_NO_PAGE); /* [612, 768): 156 */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 156), 612);
}

/* Walks [from, limit) with next (tc_pagealloc_next_used, or next_scan:
 * tc_pagealloc_next_scan_chunks, which has no bridge), storing the runs as
 * (first, end) pairs; returns how many. */
typedef uintptr_t (*next_run_fn)(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit,
                                 uintptr_t bridge, uintptr_t *end);

static uintptr_t next_scan(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit,
                           uintptr_t bridge, uintptr_t *end) {
  (void)bridge;
  return tc_pagealloc_next_scan_chunks(pa, from, limit, end);
}

static int walk_runs(next_run_fn next, const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit,
                     uintptr_t bridge, uintptr_t *out, int max) {
  int n = 0;
  while (from < limit && n < max) {
    uintptr_t end = TC_NO_PAGE;
    uintptr_t first = next(pa, from, limit, bridge, &end);
    if (first >= limit) break;
    out[2 * n] = first;
    out[2 * n + 1] = end;
    n++;
    if (end <= first) break; /* would not progress */
    from = end;
  }
  return n;
}

static int scan_runs(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit, uintptr_t *out,
                     int max) {
  return walk_runs(next_scan, pa, from, limit, 0, out, max);
}

static int used_runs(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit, uintptr_t bridge,
                     uintptr_t *out, int max) {
  return walk_runs(tc_pagealloc_next_used, pa, from, limit, bridge, out, max);
}

TEST(next_used_exact_runs_and_bridges) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 512);
  CHECK_OR_RETURN(ok);
  uintptr_t r[40], end = 12345;
  /* Nothing held: no run. */
  CHECK_EQ(tc_pagealloc_next_used(&pa, 0, 512, 1, &end), 512);
  /* Held: [60, 70) across a word boundary, [73, 74) after a gap of 3,
   * [80, 128) after a gap of 6, [200, 201), [255, 257) across a word. */
  CHECK_EQ(tc_pagealloc_alloc(&pa, 512), 0);
  tc_pagealloc_free(&pa, 0, 60);
  tc_pagealloc_free(&pa, 70, 3);
  tc_pagealloc_free(&pa, 74, 6);
  tc_pagealloc_free(&pa, 128, 72);
  tc_pagealloc_free(&pa, 201, 54);
  tc_pagealloc_free(&pa, 257, 255);
  CHECK_EQ(pa.nfree, 512 - 10 - 1 - 48 - 1 - 2);
  /* No bridging (bridge 1: a gap of one page is not shorter than 1). */
  static const uintptr_t exact[10] = {60, 70, 73, 74, 80, 128, 200, 201, 255, 257};
  CHECK_EQ(used_runs(&pa, 0, 512, 1, r, 20), 5);
  for (int i = 0; i < 10; i++) CHECK_EQ(r[i], exact[i]);
  /* Gaps shorter than 4 pages bridged (3), 6 not. */
  static const uintptr_t b4[8] = {60, 74, 80, 128, 200, 201, 255, 257};
  CHECK_EQ(used_runs(&pa, 0, 512, 4, r, 20), 4);
  for (int i = 0; i < 8; i++) CHECK_EQ(r[i], b4[i]);
  /* A gap exactly as long as the bridge is not bridged; one page shorter is. */
  CHECK_EQ(used_runs(&pa, 0, 512, 6, r, 20), 4);
  CHECK_EQ(r[1], 74);
  CHECK_EQ(used_runs(&pa, 0, 512, 7, r, 20), 3);
  CHECK_EQ(r[0], 60);
  CHECK_EQ(r[1], 128);
  /* A run never ends in a bridged gap: the last run is [255, 257) even
   * with a bridge longer than what follows. */
  CHECK_EQ(used_runs(&pa, 0, 512, 1000, r, 20), 1);
  CHECK_EQ(r[0], 60);
  CHECK_EQ(r[1], 257);
  /* Clipped to [from, limit): from inside a run, limit inside a run or a gap. */
  CHECK_EQ(tc_pagealloc_next_used(&pa, 65, 512, 1, &end), 65);
  CHECK_EQ(end, 70);
  CHECK_EQ(tc_pagealloc_next_used(&pa, 0, 66, 1, &end), 60);
  CHECK_EQ(end, 66);
  CHECK_EQ(tc_pagealloc_next_used(&pa, 0, 72, 4, &end), 60);
  CHECK_EQ(end, 70); /* the gap after 70 reaches the limit: not bridged */
  CHECK_EQ(tc_pagealloc_next_used(&pa, 70, 73, 4, &end), 73);
  CHECK_EQ(tc_pagealloc_next_used(&pa, 129, 200, 1, &end), 200);
  CHECK_EQ(tc_pagealloc_next_used(&pa, 257, 512, 1, &end), 512);
  /* Every held page is in some run, whatever the bridge. */
  for (uintptr_t bridge = 1; bridge < 80; bridge += 7) {
    int n = used_runs(&pa, 0, 512, bridge, r, 20);
    uintptr_t covered = 0;
    for (int i = 0; i < n; i++)
      for (uintptr_t p = r[2 * i]; p < r[2 * i + 1]; p++) covered += !tc_pagealloc_is_free(&pa, p, 1);
    CHECK_EQ(covered, 512 - pa.nfree);
  }
}

TEST(next_scan_chunks_exact_runs) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 10 * CP);
  CHECK_OR_RETURN(ok);
  const uintptr_t L = 10 * CP;
  uintptr_t end = 12345, r[20];
  /* Nothing allocated: no scanned chunk. */
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, L, &end), L);
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 0);
  /* Chunk kinds S S N - S - S S S N (- = empty), one span page in each
   * nonempty chunk. */
  static const int kinds[10] = {SCAN, SCAN, NOSCAN, -1, SCAN, -1, SCAN, SCAN, SCAN, NOSCAN};
  for (uintptr_t c = 0; c < 10; c++)
    CHECK_EQ(alloc_k(&pa, CP, kinds[c] < 0 ? SCAN : (tc_pagekind_t)kinds[c]), c * CP);
  for (uintptr_t c = 0; c < 10; c++) {
    if (kinds[c] < 0) {
      tc_pagealloc_free(&pa, c * CP, CP);
    } else {
      tc_pagealloc_free(&pa, c * CP, 100);
      tc_pagealloc_free(&pa, c * CP + 101, CP - 101);
    }
    CHECK_EQ(pa.chunk_kind[c], kinds[c] < 0 ? 0 : TAG(kinds[c]));
  }
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, L, &end), 0);
  CHECK_EQ(end, 512);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 512, L, &end), 1024);
  CHECK_EQ(end, 1280);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 1280, L, &end), 1536);
  CHECK_EQ(end, 2304); /* chunks 6, 7, 8 as one run */
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 2304, L, &end), L);
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 3);
  static const uintptr_t want[6] = {0, 512, 1024, 1280, 1536, 2304};
  for (int i = 0; i < 6; i++) CHECK_EQ(r[i], want[i]);
  /* Clipped to [from, limit). */
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 100, L, &end), 100);
  CHECK_EQ(end, 512);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 256, L, &end), 256);
  CHECK_EQ(end, 512);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, 300, &end), 0);
  CHECK_EQ(end, 300);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, 256, &end), 0);
  CHECK_EQ(end, 256);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 600, 1100, &end), 1024);
  CHECK_EQ(end, 1100);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 1600, 2000, &end), 1600);
  CHECK_EQ(end, 2000);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 1792, 2048, &end), 1792); /* chunk 7 alone */
  CHECK_EQ(end, 2048);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 1300, L, &end), 1536);
  CHECK_EQ(end, 2304);
  /* None in range: limit. */
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 512, 1024, &end), 1024);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 512, 1000, &end), 1000);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 600, 700, &end), 700);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 1280, 1536, &end), 1536);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 2304, L, &end), L);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 2400, 2500, &end), 2500);
  /* Chunk 7 emptied: the run splits. */
  tc_pagealloc_free(&pa, 7 * CP + 100, 1);
  CHECK_EQ(pa.chunk_kind[7], 0);
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 4);
  static const uintptr_t want2[8] = {0, 512, 1024, 1280, 1536, 1792, 2048, 2304};
  for (int i = 0; i < 8; i++) CHECK_EQ(r[i], want2[i]);
  /* Noscan chunk 2 emptied; a scanned run from chunk 1's free tail over
   * chunks 2 and 3 (empty) joins chunks 0..4 into one run. */
  tc_pagealloc_free(&pa, 2 * CP + 100, 1);
  CHECK_EQ(pa.chunk_kind[2], 0);
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 4);
  CHECK_EQ(alloc_k(&pa, 600, SCAN), CP + 101);
  CHECK_EQ(pa.chunk_kind[2], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[3], TAG(SCAN));
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 3);
  static const uintptr_t want3[6] = {0, 1280, 1536, 1792, 2048, 2304};
  for (int i = 0; i < 6; i++) CHECK_EQ(r[i], want3[i]);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 700, 1100, &end), 700);
  CHECK_EQ(end, 1100);
  /* Everything scanned goes: nothing left. */
  tc_pagealloc_free(&pa, CP + 101, 600);
  static const uintptr_t left[5] = {0, 1, 4, 6, 8};
  for (int i = 0; i < 5; i++) tc_pagealloc_free(&pa, left[i] * CP + 100, 1);
  CHECK_EQ(scan_runs(&pa, 0, L, r, 10), 0);
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, L, &end), L);
}

TEST(scavenger_leaves_kinds_alone) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 3 * CP);
  CHECK_OR_RETURN(ok);
  uintptr_t scav = 0, n = 0;
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, CP, SCAN, &scav), 0);
  CHECK_EQ(scav, CP);
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, CP, NOSCAN, &scav), CP);
  tc_pagealloc_free(&pa, 100, 156); /* chunk 0: scanned [0, 100) */
  tc_pagealloc_free(&pa, 306, 206); /* chunk 1: noscan [256, 306) */
  CHECK_EQ(pa.nscav, CP);           /* chunk 2, never touched */
  CHECK_EQ(pa.nfree, 156 + 206 + 256);
  /* The highest resident free run, [306, 512), in noscan chunk 1. */
  CHECK_EQ(tc_pagealloc_take_resident(&pa, 1000, &n), 306);
  CHECK_EQ(n, 206);
  CHECK_EQ(tc_pagealloc_take_resident(&pa, 10, &n), 246);
  CHECK_EQ(n, 10);
  CHECK_EQ(pa.nfree, 146 + 256);
  CHECK_EQ(pa.chunk_kind[0], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[1], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_kind[2], 0);
  CHECK_EQ(pa.chunk_used[0], 100);
  CHECK_EQ(pa.chunk_used[1], 50);
  CHECK_EQ(pa.chunk_used[2], 0);
  /* Chunk 1's last span goes while the scavenger holds the rest of it. */
  tc_pagealloc_free(&pa, 256, 50);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_used[1], 0);
  tc_pagealloc_free_scavenged(&pa, 306, 206);
  tc_pagealloc_free_scavenged(&pa, 246, 10);
  CHECK_EQ(pa.nscav, CP + 216);
  CHECK_EQ(pa.chunk_kind[0], TAG(SCAN));
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_used[0], 100);
  CHECK_EQ(pa.chunk_used[1], 0);
  /* Noscan may take chunks 1 and 2: [256, 306) resident, [306, 556) not. */
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, 300, NOSCAN, &scav), 256);
  CHECK_EQ(scav, 250);
  CHECK_EQ(pa.chunk_kind[1], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_kind[2], TAG(NOSCAN));
  CHECK_EQ(pa.chunk_used[1], 256);
  CHECK_EQ(pa.chunk_used[2], 44);
  tc_pagealloc_free(&pa, 256, 300);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_kind[2], 0);
  /* Pages the scavenger holds in an empty chunk give it no kind. */
  CHECK_EQ(tc_pagealloc_take_resident(&pa, 1000, &n), 256);
  CHECK_EQ(n, 300);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_kind[2], 0);
  CHECK_EQ(pa.chunk_used[1], 0);
  CHECK_EQ(pa.chunk_used[2], 0);
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, 1, NOSCAN, &scav), 556);
  CHECK_EQ(scav, 1);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_kind[2], TAG(NOSCAN));
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, 1, SCAN, &scav), 100);
  CHECK_EQ(scav, 0);
  tc_pagealloc_free_scavenged(&pa, 256, 300);
  CHECK_EQ(pa.chunk_kind[1], 0);
  CHECK_EQ(pa.chunk_used[1], 0);
  CHECK_EQ(pa.chunk_used[2], 1);
  /* A scanned run from chunk 0's free tail into empty chunk 1. */
  CHECK_EQ(tc_pagealloc_alloc_run(&pa, CP, SCAN, &scav), 101);
  CHECK_EQ(scav, 10 + 101); /* [246, 256) and [256, 357) */
  CHECK_EQ(pa.chunk_kind[1], TAG(SCAN));
  CHECK_EQ(pa.chunk_used[0], 256);
  CHECK_EQ(pa.chunk_used[1], 101);

  /* Growth over the top of a chunk with a kind keeps the kind; new chunks
   * have none. */
  tc_pagealloc_t pb;
  ok = new_pa(&pb, 100);
  CHECK_OR_RETURN(ok);
  CHECK_EQ(alloc_k(&pb, 10, NOSCAN), 0);
  tc_pagealloc_grow(&pb, 100, 200);
  CHECK_EQ(pb.chunk_kind[0], TAG(NOSCAN));
  CHECK_EQ(pb.chunk_used[0], 10);
  CHECK_EQ(pb.chunk_kind[1], 0);
  CHECK_EQ(pb.chunk_used[1], 0);
  CHECK(alloc_k(&pb, 150, SCAN) == TC_NO_PAGE); /* chunk 1 has 44 pages */
  CHECK_EQ(alloc_k(&pb, 150, NOSCAN), 10);
  CHECK_EQ(alloc_k(&pb, 44, SCAN), 256);
}

/* ---- random operations against a reference model with kinds ------------- */

/* A state per page; chunk kinds and used counts derive from it. */
enum { PG_FREE, PG_SCAN, PG_NOSCAN, PG_HELD }; /* HELD: taken by the scavenger */
#define MODEL_CHUNKS (MODEL_MAX / TC_CHUNK_PAGES)
static unsigned char km_page[MODEL_MAX];
static bool km_scav[MODEL_MAX]; /* free and not resident */
static uintptr_t km_npages;
static int km_kind[MODEL_CHUNKS]; /* 0, or TAG of its span pages */
static uintptr_t km_used[MODEL_CHUNKS];
static bool km_mixed; /* a chunk with span pages of both kinds */

static void km_derive_chunks(void) {
  for (uintptr_t c = 0; c < MODEL_CHUNKS; c++) km_kind[c] = 0, km_used[c] = 0;
  for (uintptr_t p = 0; p < km_npages; p++) {
    if (km_page[p] != PG_SCAN && km_page[p] != PG_NOSCAN) continue;
    uintptr_t c = p / TC_CHUNK_PAGES;
    int t = km_page[p] == PG_SCAN ? TAG(SCAN) : TAG(NOSCAN);
    if (km_kind[c] != 0 && km_kind[c] != t) km_mixed = true;
    km_kind[c] = t;
    km_used[c]++;
  }
}

static bool km_may_use(uintptr_t p, tc_pagekind_t kind) {
  int k = km_kind[p / TC_CHUNK_PAGES];
  return k == 0 || k == TAG(kind);
}

/* Lowest p with [p, p + n) free and every chunk touched usable by kind
 * (blind: whatever the chunks' kinds). Does not allocate. */
static uintptr_t km_first_fit(uintptr_t n, tc_pagekind_t kind, bool blind) {
  if (n == 0) return TC_NO_PAGE;
  uintptr_t run = 0;
  for (uintptr_t p = 0; p < km_npages; p++) {
    bool ok = km_page[p] == PG_FREE && (blind || km_may_use(p, kind));
    run = ok ? run + 1 : 0;
    if (run == n) return p + 1 - n;
  }
  return TC_NO_PAGE;
}

/* The scavenger's pick: the highest run of free resident pages, at most max. */
static uintptr_t km_take_resident(uintptr_t max, uintptr_t *n) {
  for (uintptr_t p = km_npages; p-- > 0;) {
    if (km_page[p] != PG_FREE || km_scav[p]) continue;
    uintptr_t first = p;
    while (first > 0 && p - first + 1 < max && km_page[first - 1] == PG_FREE && !km_scav[first - 1])
      first--;
    for (uintptr_t j = first; j <= p; j++) km_page[j] = PG_HELD;
    *n = p - first + 1;
    return first;
  }
  return TC_NO_PAGE;
}

/* Expected tc_pagealloc_next_scan_chunks, page by page. */
static uintptr_t km_next_scan(uintptr_t from, uintptr_t limit, uintptr_t *end) {
  for (uintptr_t p = from; p < limit; p++) {
    if (km_kind[p / TC_CHUNK_PAGES] != TAG(SCAN)) continue;
    uintptr_t e = p;
    while (e < limit && km_kind[e / TC_CHUNK_PAGES] == TAG(SCAN)) e++;
    *end = e;
    return p;
  }
  return limit;
}

/* Expected tc_pagealloc_next_used, page by page: pages not free (in a span
 * or held by the scavenger), gaps shorter than bridge taken in. */
static uintptr_t km_next_used(uintptr_t from, uintptr_t limit, uintptr_t bridge, uintptr_t *end) {
  uintptr_t p = from;
  while (p < limit && km_page[p] == PG_FREE) p++;
  if (p >= limit) return limit;
  uintptr_t e = p;
  for (;;) {
    while (e < limit && km_page[e] != PG_FREE) e++;
    uintptr_t g = e;
    while (g < limit && km_page[g] == PG_FREE) g++;
    if (g >= limit || g - e >= bridge) break;
    e = g;
  }
  *end = e;
  return p;
}

struct krun {
  uintptr_t first, n;
  tc_pagekind_t kind;
};

TEST(random_kinds_against_reference_model) {
  tc_pagealloc_t pa;
  bool ok = new_pa(&pa, 0);
  CHECK_OR_RETURN(ok);
  rng_state = 0x243F6A8885A308D3ull; /* the same run alone or after others */
  memset(km_page, PG_FREE, sizeof km_page);
  memset(km_scav, 0, sizeof km_scav);
  km_mixed = false;
  static struct krun live[MODEL_MAX];
  static struct run held[8];
  int nlive = 0, nheld = 0;
  tc_pagealloc_grow(&pa, 0, 1024);
  for (uintptr_t i = 0; i < 1024; i++) km_scav[i] = true;
  km_npages = 1024;
  km_derive_chunks();

  long mismatches = 0, nalloc[2] = {0, 0}, nfail = 0, nkindfail = 0, nkinddiff = 0;
  long nfreeops = 0, ntakes = 0, nreturns = 0, nemptied = 0, nswitched = 0, nscanq = 0, nusedq = 0;
  int last_kind[MODEL_CHUNKS] = {0}; /* last nonzero kind of each chunk */
  const int OPS = 30000;
  for (int op = 0; op < OPS && mismatches == 0; op++) {
    /* Phases of filling and of draining, so that chunks empty and change hands. */
    uint64_t alloc_pct = (op / 1500) % 2 == 0 ? 60 : 15;
    uint64_t r = rng_below(100);
    int prev_kind[MODEL_CHUNKS];
    memcpy(prev_kind, km_kind, sizeof prev_kind);
    if (r < 1 && km_npages < MODEL_MAX) {
      /* Grow, not always word- or chunk-aligned. */
      uintptr_t add = 1 + rng_below(300);
      if (km_npages + add > MODEL_MAX) add = MODEL_MAX - km_npages;
      tc_pagealloc_grow(&pa, km_npages, add);
      for (uintptr_t i = km_npages; i < km_npages + add; i++) km_scav[i] = true;
      km_npages += add;
    } else if (r < 4 && nheld < 8) {
      /* The scavenger takes a run. */
      uintptr_t max = rng_below(2) ? 1 + rng_below(16) : 1 + rng_below(600);
      uintptr_t n = 0, wn = 0;
      uintptr_t got = tc_pagealloc_take_resident(&pa, max, &n);
      uintptr_t want = km_take_resident(max, &wn);
      if (got != want || (want != TC_NO_PAGE && n != wn)) {
        fprintf(stderr, "op %d: take_resident(%lu) = %ld n=%lu, model %ld n=%lu\n", op,
                (unsigned long)max, (long)got, (unsigned long)n, (long)want, (unsigned long)wn);
        mismatches++;
        break;
      }
      if (want != TC_NO_PAGE) {
        ntakes++;
        held[nheld++] = (struct run){want, wn};
      }
    } else if (r < 7 && nheld > 0) {
      /* ... and hands one back, not resident. */
      int i = (int)rng_below((uintptr_t)nheld);
      struct run h = held[i];
      held[i] = held[--nheld];
      tc_pagealloc_free_scavenged(&pa, h.first, h.n);
      for (uintptr_t j = h.first; j < h.first + h.n; j++) {
        km_page[j] = PG_FREE;
        km_scav[j] = true;
      }
      nreturns++;
    } else if (r < 7 + alloc_pct || nlive == 0) {
      tc_pagekind_t kind = rng_below(2) ? NOSCAN : SCAN;
      uintptr_t n;
      uint64_t k = rng_below(100);
      if (k < 60) n = 1 + rng_below(8);
      else if (k < 85) n = 1 + rng_below(64);
      else if (k < 98) n = 1 + rng_below(400);
      else n = 1 + rng_below(km_npages + 10);
      uintptr_t sc = 12345;
      uintptr_t got = tc_pagealloc_alloc_run(&pa, n, kind, &sc);
      uintptr_t want = km_first_fit(n, kind, false);
      uintptr_t blind = km_first_fit(n, kind, true);
      if (got != want) {
        /* Diverged: later operations would only repeat it. */
        fprintf(stderr, "op %d: alloc_run(%lu, %s) = %ld, reference first fit = %ld (kind-blind %ld)\n",
                op, (unsigned long)n, kind == SCAN ? "SCAN" : "NOSCAN", (long)got, (long)want,
                (long)blind);
        mismatches++;
        break;
      }
      if (blind != want) nkinddiff++;
      if (want == TC_NO_PAGE) {
        nfail++;
        if (blind != TC_NO_PAGE) nkindfail++;
      } else {
        uintptr_t wsc = 0;
        for (uintptr_t j = want; j < want + n; j++) {
          wsc += km_scav[j];
          km_scav[j] = false;
          km_page[j] = kind == SCAN ? PG_SCAN : PG_NOSCAN;
        }
        if (sc != wsc && mismatches++ == 0)
          fprintf(stderr, "op %d: alloc_run(%lu) at %lu: %lu scavenged, model %lu\n", op,
                  (unsigned long)n, (unsigned long)want, (unsigned long)sc, (unsigned long)wsc);
        nalloc[kind]++;
        live[nlive++] = (struct krun){want, n, kind};
      }
    } else {
      /* Free a random live run, whole or its head or tail. */
      nfreeops++;
      int i = (int)rng_below((uintptr_t)nlive);
      uintptr_t first, n;
      if (pick_part(&live[i].first, &live[i].n, &first, &n)) live[i] = live[--nlive];
      tc_pagealloc_free(&pa, first, n);
      for (uintptr_t j = first; j < first + n; j++) {
        if (km_page[j] == PG_FREE || km_page[j] == PG_HELD) {
          if (mismatches++ == 0)
            fprintf(stderr, "test bug: freeing page %lu, not in a span\n", (unsigned long)j);
        }
        km_page[j] = PG_FREE; /* resident */
      }
    }

    /* Compare the whole state. */
    km_derive_chunks();
    if (km_mixed) {
      if (mismatches++ == 0) fprintf(stderr, "op %d: model chunk with both kinds\n", op);
      break;
    }
    for (uintptr_t c = 0; c < MODEL_CHUNKS; c++) {
      if (pa.chunk_kind[c] != km_kind[c] || pa.chunk_used[c] != km_used[c]) {
        if (mismatches++ == 0)
          fprintf(stderr, "op %d: chunk %lu kind %d used %d, model kind %d used %lu\n", op,
                  (unsigned long)c, pa.chunk_kind[c], pa.chunk_used[c], km_kind[c],
                  (unsigned long)km_used[c]);
      }
      if (prev_kind[c] != 0 && km_kind[c] == 0) nemptied++;
      if (km_kind[c] != 0) {
        if (last_kind[c] != 0 && last_kind[c] != km_kind[c]) nswitched++;
        last_kind[c] = km_kind[c];
      }
    }
    uintptr_t nfree = 0, nscav = 0, low[2] = {TC_NO_PAGE, TC_NO_PAGE};
    for (uintptr_t p = 0; p < km_npages; p++) {
      if (km_page[p] != PG_FREE) continue;
      nfree++;
      nscav += km_scav[p];
      for (int k = 0; k < 2; k++)
        if (low[k] == TC_NO_PAGE && km_may_use(p, (tc_pagekind_t)k)) low[k] = p;
    }
    if (pa.nfree != nfree || pa.nscav != nscav || pa.npages != km_npages) {
      if (mismatches++ == 0)
        fprintf(stderr, "op %d: nfree %lu nscav %lu npages %lu, model %lu %lu %lu\n", op,
                (unsigned long)pa.nfree, (unsigned long)pa.nscav, (unsigned long)pa.npages,
                (unsigned long)nfree, (unsigned long)nscav, (unsigned long)km_npages);
    }
    /* Each hint's invariant: no free page below it that its kind may use. */
    for (int k = 0; k < 2; k++)
      if (low[k] != TC_NO_PAGE && pa.hint[k] > low[k]) {
        if (mismatches++ == 0)
          fprintf(stderr, "op %d: hint[%s] %lu above page %lu, free and usable\n", op,
                  k == SCAN ? "SCAN" : "NOSCAN", (unsigned long)pa.hint[k], (unsigned long)low[k]);
      }
    /* next_scan_chunks over a random range: chunk-aligned mostly. */
    {
      uintptr_t a = rng_below(MODEL_MAX + 1), b = rng_below(MODEL_MAX + 1);
      if (rng_below(4) != 0) {
        a &= ~(TC_CHUNK_PAGES - 1);
        b &= ~(TC_CHUNK_PAGES - 1);
      }
      if (a > b) {
        uintptr_t t = a;
        a = b;
        b = t;
      }
      if (a < b) {
        uintptr_t end = TC_NO_PAGE, wend = TC_NO_PAGE;
        uintptr_t got = tc_pagealloc_next_scan_chunks(&pa, a, b, &end);
        uintptr_t want = km_next_scan(a, b, &wend);
        nscanq += want < b;
        if (got != want || (want < b && end != wend)) {
          if (mismatches++ == 0)
            fprintf(stderr, "op %d: next_scan_chunks(%lu, %lu) = %lu end %lu, model %lu end %lu\n",
                    op, (unsigned long)a, (unsigned long)b, (unsigned long)got,
                    (unsigned long)end, (unsigned long)want, (unsigned long)wend);
        }
      }
    }
    /* next_used over a random range with a random bridge. */
    {
      uintptr_t a = rng_below(MODEL_MAX + 1), b = rng_below(MODEL_MAX + 1);
      uintptr_t bridge = 1 + rng_below(rng_below(2) ? 4 : 40);
      if (a > b) {
        uintptr_t t = a;
        a = b;
        b = t;
      }
      if (b > km_npages) b = km_npages;
      if (a < b) {
        uintptr_t end = TC_NO_PAGE, wend = TC_NO_PAGE;
        uintptr_t got = tc_pagealloc_next_used(&pa, a, b, bridge, &end);
        uintptr_t want = km_next_used(a, b, bridge, &wend);
        nusedq += want < b;
        if (got != want || (want < b && end != wend)) {
          if (mismatches++ == 0)
            fprintf(stderr, "op %d: next_used(%lu, %lu, bridge %lu) = %lu end %lu, model %lu end %lu\n",
                    op, (unsigned long)a, (unsigned long)b, (unsigned long)bridge,
                    (unsigned long)got, (unsigned long)end, (unsigned long)want,
                    (unsigned long)wend);
        }
      }
    }
    /* Now and then the bitmaps page by page. */
    if (op % 500 == 0) {
      for (uintptr_t j = 0; j < km_npages; j++) {
        bool sb = pa.scav_bits[j / 64] >> (j % 64) & 1;
        if (tc_pagealloc_is_free(&pa, j, 1) != (km_page[j] == PG_FREE) || sb != km_scav[j]) {
          if (mismatches++ == 0)
            fprintf(stderr, "op %d: page %lu free=%d scav=%d, model state %d scav %d\n", op,
                    (unsigned long)j, tc_pagealloc_is_free(&pa, j, 1), sb, km_page[j], km_scav[j]);
          break;
        }
      }
    }
  }
  CHECK_EQ(mismatches, 0);
  /* The run exercised what it is for a fair number of times. */
  fprintf(stderr,
          "  allocs scan %ld noscan %ld, refused %ld (by kinds %ld), kind-changed answers %ld,\n"
          "  frees %ld, takes %ld, returns %ld, chunks emptied %ld, switched kind %ld, "
          "scan runs found %ld, used runs found %ld, pages %lu\n",
          nalloc[0], nalloc[1], nfail, nkindfail, nkinddiff, nfreeops, ntakes, nreturns, nemptied,
          nswitched, nscanq, nusedq, (unsigned long)km_npages);
  CHECK(nalloc[SCAN] > 3000);
  CHECK(nalloc[NOSCAN] > 3000);
  CHECK(nfail > 50);
  CHECK(nkindfail > 100);
  CHECK(nkinddiff > 1000);
  CHECK(nfreeops > 5000);
  CHECK(ntakes > 500);
  CHECK(nreturns > 500);
  CHECK(nemptied > 1000);
  CHECK(nswitched > 500);
  CHECK(nscanq > 1000);
  CHECK(nusedq > 1000);
  CHECK(km_npages > 2048);

  /* Everything back: no kinds left, one free run for either kind. */
  for (int i = 0; i < nlive; i++) tc_pagealloc_free(&pa, live[i].first, live[i].n);
  for (int i = 0; i < nheld; i++) tc_pagealloc_free_scavenged(&pa, held[i].first, held[i].n);
  CHECK_EQ(pa.nfree, km_npages);
  for (uintptr_t c = 0; c < MODEL_CHUNKS; c++) {
    CHECK_EQ(pa.chunk_kind[c], 0);
    CHECK_EQ(pa.chunk_used[c], 0);
  }
  uintptr_t end;
  CHECK_EQ(tc_pagealloc_next_scan_chunks(&pa, 0, MODEL_MAX, &end), MODEL_MAX);
  CHECK_EQ(alloc_k(&pa, km_npages, NOSCAN), 0);
}

CHECK_MAIN()
