/*
 * test_pagealloc.c - the page allocator (gc/pagealloc.h) in isolation: an
 * own tc_pagealloc_t, grown by hand, never the heap's. Checks first fit,
 * runs across 64-bit bitmap words, exact fit and refusals, merging of freed
 * runs, growth, tc_pagealloc_is_free, and, against a naive reference model
 * (a bool per page, linear first fit), thousands of random allocs and frees:
 * identical results, identical nfree, and the search hint never above a
 * free page.
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
      struct run *v = &live[i];
      uintptr_t first = v->first, n = v->n;
      if (n > 1 && rng_below(4) == 0) {
        /* Free the head or the tail of the run; keep the rest live. */
        uintptr_t part = 1 + rng_below(n - 1);
        if (rng_below(2)) {
          first = v->first;
          v->first += part;
        } else {
          first = v->first + v->n - part;
        }
        n = part;
        v->n -= part;
      } else {
        live[i] = live[--nlive];
      }
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
    if (pa.hint > model_lowest_free()) {
      if (hint_violations++ == 0)
        fprintf(stderr, "op %d: hint %lu above free page %lu\n", op, (unsigned long)pa.hint,
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

CHECK_MAIN()
