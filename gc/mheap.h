/*
 * mheap.h - the page heap: spans carved from the arenas.
 *
 * Owns: the page allocator, heap growth, span creation and destruction, the
 * sweep generation, and page-level accounting. Every entry point takes
 * tc_mheap.lock itself (the *_locked variants expect it held). Mutators call
 * in only from no-stop regions (lock.h).
 *
 * Zeroing: scavenged pages (never touched since the heap grew, or returned
 * to the OS) are zero; a span made only of them needs no zeroing (Go's
 * needzero from the scavenged bits).
 * Memory returned to the OS: the page allocator's scavenged bits
 * (pagealloc.h); allocation reports the pages it made resident again to
 * the scavenger, which may release others at once (scavenge.h).
 * Go: runtime/mheap.go.
 */
#ifndef TC_MHEAP_H
#define TC_MHEAP_H

#include "base.h"
#include "lock.h"
#include "pagealloc.h"
#include "span.h"

typedef struct tc_mheap {
  tc_mutex_t lock;
  uint32_t sweepgen;      /* atomic; +2 per cycle with the world stopped */
  tc_pagealloc_t pages;   /* protected by lock */
  uint64_t pages_inuse;   /* pages in in-use spans; atomic reads, written under lock */
  uint64_t nspans_large;  /* protected by lock */
} tc_mheap_t;

extern tc_mheap_t tc_mheap;

bool tc_mheap_init(void);

/* A new in-use span of npages pages and class sc, registered in the span
 * map; NULL when the heap cannot grow (errno untouched). The span is owned
 * by the caller; its sweepgen is the current sweepgen. */
tc_span_t *tc_mheap_alloc_span(uintptr_t npages, tc_spanclass_t sc);

/* Returns a span's pages to the heap and destroys the descriptor. The span
 * must be owned by the caller and on no list. */
void tc_mheap_free_span(tc_span_t *s);

/* Calls fn(start, end, ctx) for each run of pages held by spans in the
 * chunks of scanned spans (pagealloc.h) within [lo, hi), clipped to it, in
 * address order; free gaps shorter than bridge pages are included (one
 * system call per run costs more than walking a few free pages). Takes no
 * lock (see tc_pagealloc_next_used): exact with the world stopped. */
#define TC_WALK_BRIDGE 16 /* pages: a call ~1-2 us, a free page ~2-40 ns */
void tc_mheap_for_scan_runs(uintptr_t lo, uintptr_t hi, uintptr_t bridge,
                            void (*fn)(uintptr_t start, uintptr_t end, void *ctx), void *ctx);
/* The first such run at or after lo (starting at lo if lo is in one), in
 * [*start, *end); false if none is left below hi. */
bool tc_mheap_next_scan_run(uintptr_t lo, uintptr_t hi, uintptr_t bridge, uintptr_t *start,
                            uintptr_t *end);

TC_INLINE uint32_t tc_mheap_sweepgen(void) {
  return tc_atomic_load_acquire(&tc_mheap.sweepgen);
}

#endif
