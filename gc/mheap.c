/*
 * mheap.c - the page heap (mheap.h).
 */
#include "mheap.h"

#include "arena.h"
#include "error.h"
#include "scavenge.h"

tc_mheap_t tc_mheap = {.lock = TC_MUTEX_INIT};

_Static_assert(TC_COMMIT_CHUNK % (TC_CHUNK_PAGES << TC_PAGE_SHIFT) == 0,
               "heap growth keeps chunks whole");

bool tc_mheap_init(void) {
  if (!tc_arenas_init()) return false;
  return tc_pagealloc_init(&tc_mheap.pages, tc_arenas.reserved >> TC_PAGE_SHIFT);
}

static void set_span_map(tc_span_t *s, tc_span_t *v) {
  uintptr_t first = tc_page_index(s->base);
  for (uintptr_t i = 0; i < s->npages; i++)
    tc_atomic_store_relaxed(&tc_arenas.spans[first + i], v);
}

/* A run of npages pages for spans of kind; *scav gets how many were
 * scavenged (so zero and not resident until touched), *grown the bytes the
 * heap grew by. */
static uintptr_t alloc_pages_locked(uintptr_t npages, tc_pagekind_t kind, uintptr_t *scav,
                                    uintptr_t *grown_bytes) {
  *grown_bytes = 0;
  uintptr_t first = tc_pagealloc_alloc_run(&tc_mheap.pages, npages, kind, scav);
  if (first != TC_NO_PAGE) return first;
  /* Grow: the new pages join whatever free run ends at the old top, so ask
   * only for what that run lacks. If that run lies in a chunk of the other
   * kind the new pages alone must do: then ask for all of it (growth is
   * chunk aligned, so new pages start a new chunk). */
  for (int attempt = 0; attempt < 2; attempt++) {
    uintptr_t top = tc_mheap.pages.npages;
    uintptr_t tail = 0;
    while (attempt == 0 && tail < top && tail < npages &&
           tc_pagealloc_is_free(&tc_mheap.pages, top - tail - 1, 1))
      tail++;
    uintptr_t need = npages - tail;
    if (need == 0) continue; /* the free top is all there but not for this kind */
    if (need > (((uintptr_t)-1) >> TC_PAGE_SHIFT)) return TC_NO_PAGE;
    uintptr_t grown = tc_arenas_grow_locked(need << TC_PAGE_SHIFT);
    if (grown == (uintptr_t)-1) return TC_NO_PAGE;
    uintptr_t ngrown = (tc_arenas.committed >> TC_PAGE_SHIFT) - grown;
    tc_pagealloc_grow(&tc_mheap.pages, grown, ngrown);
    *grown_bytes += ngrown << TC_PAGE_SHIFT;
    first = tc_pagealloc_alloc_run(&tc_mheap.pages, npages, kind, scav);
    if (first != TC_NO_PAGE) return first;
  }
  return TC_NO_PAGE;
}

tc_span_t *tc_mheap_alloc_span(uintptr_t npages, tc_spanclass_t sc) {
  tc_mutex_lock(&tc_mheap.lock);
  uintptr_t scav, grown;
  tc_pagekind_t kind = tc_spanclass_noscan(sc) ? TC_PAGES_NOSCAN : TC_PAGES_SCAN;
  uintptr_t first = alloc_pages_locked(npages, kind, &scav, &grown);
  if (first == TC_NO_PAGE) {
    tc_mutex_unlock(&tc_mheap.lock);
    return NULL;
  }
  tc_span_t *s = tc_span_new(tc_page_addr(first), npages, sc, scav < npages);
  if (s == NULL) {
    tc_pagealloc_free(&tc_mheap.pages, first, npages); /* now resident: no harm */
    tc_mutex_unlock(&tc_mheap.lock);
    return NULL;
  }
  s->sweepgen = tc_mheap.sweepgen;
  tc_atomic_store_relaxed(&s->state, (uint8_t)TC_SPAN_INUSE);
  set_span_map(s, s);
  tc_atomic_add_relaxed(&tc_mheap.pages_inuse, npages);
  tc_mutex_unlock(&tc_mheap.lock);
  /* Pages made resident: the scavenger may give as much back at once. */
  if (scav) tc_scavenge_after_alloc((uint64_t)scav << TC_PAGE_SHIFT, grown != 0);
  return s;
}

void tc_mheap_free_span(tc_span_t *s) {
  TC_ASSERT(s->list == NULL);
  tc_mutex_lock(&tc_mheap.lock);
  if (tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE)
    tc_throw("freeing span 0x%lx in state %d", (unsigned long)s->base, s->state);
  tc_atomic_store_relaxed(&s->state, (uint8_t)TC_SPAN_DEAD);
  set_span_map(s, NULL);
  tc_pagealloc_free(&tc_mheap.pages, tc_page_index(s->base), s->npages);
  tc_atomic_sub_relaxed(&tc_mheap.pages_inuse, s->npages);
  tc_mutex_unlock(&tc_mheap.lock);
  tc_span_delete(s);
}

bool tc_mheap_next_scan_run(uintptr_t lo, uintptr_t hi, uintptr_t bridge, uintptr_t *start,
                            uintptr_t *end) {
  uintptr_t p = tc_page_index(lo), limit = tc_page_index(hi), cend, e;
  while ((p = tc_pagealloc_next_scan_chunks(&tc_mheap.pages, p, limit, &cend)) < limit) {
    uintptr_t q = tc_pagealloc_next_used(&tc_mheap.pages, p, cend, bridge, &e);
    if (q < cend) {
      *start = tc_page_addr(q);
      *end = tc_page_addr(e);
      return true;
    }
    p = cend;
  }
  return false;
}

void tc_mheap_for_scan_runs(uintptr_t lo, uintptr_t hi, uintptr_t bridge,
                            void (*fn)(uintptr_t start, uintptr_t end, void *ctx), void *ctx) {
  uintptr_t a, b;
  while (tc_mheap_next_scan_run(lo, hi, bridge, &a, &b)) {
    fn(a, b, ctx);
    lo = b;
  }
}
