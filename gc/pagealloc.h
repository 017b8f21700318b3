/*
 * pagealloc.h - which pages of the committed heap are free.
 *
 * A bitmap over every page of the reservation (1 = free), address-ordered
 * first fit from a search hint (the lowest page that may be free), like Go's
 * pageAlloc searchAddr; runs may cross arena boundaries since the heap is one
 * contiguous range. A second bitmap marks scavenged pages (Go's scavenged
 * bits): free pages whose memory is not resident, either never touched
 * since the heap grew over them or returned to the OS by the scavenger
 * (scavenge.h). Invariant: scavenged implies free. Allocating a run clears
 * its scavenged bits and says how many it had: those pages come back zeroed.
 * All calls need tc_mheap.lock, except tc_pagealloc_next_scan_chunks and
 * tc_pagealloc_next_used.
 * Go: runtime/mpagealloc.go (which adds radix summaries over 4 MiB chunks;
 * a linear word scan is fast enough at our sizes: 1 GiB = 2048 words).
 *
 * Kinds (not in Go): spans of pointer-free objects (noscan) and spans that
 * are scanned never share a chunk of TC_CHUNK_PAGES pages (2 MiB). A chunk
 * takes the kind of the first span placed in it and loses it when its last
 * span is freed; first fit looks only at chunks of the wanted kind or of
 * none. GCMODE=concurrent reads the chunks' kinds to walk the page tables
 * of the scanned chunks alone (dirty.h): writes to pointer-free memory
 * cannot hide a pointer, so only scanned spans need looking at. Pages the
 * scavenger holds for a moment (tc_pagealloc_take_resident) belong to no
 * span and do not count toward a chunk's kind.
 */
#ifndef TC_PAGEALLOC_H
#define TC_PAGEALLOC_H

#include "base.h"

#define TC_NO_PAGE ((uintptr_t)-1)

#define TC_CHUNK_SHIFT 8 /* pages per chunk, log2: 256 pages, 2 MiB */
#define TC_CHUNK_PAGES ((uintptr_t)1 << TC_CHUNK_SHIFT)

/* What a span's pages hold: scanned memory, or pointer-free (noscan). */
typedef enum { TC_PAGES_SCAN = 0, TC_PAGES_NOSCAN = 1 } tc_pagekind_t;

typedef struct tc_pagealloc {
  uint64_t *free_bits; /* 1 bit per reserved page, 1 = free */
  uint64_t *scav_bits; /* 1 = free and not resident (see above) */
  uint8_t *chunk_kind; /* per chunk: 0 = no span, else 1 + tc_pagekind_t; atomic reads */
  uint16_t *chunk_used; /* per chunk: pages in spans */
  uintptr_t npages;    /* pages managed (committed) */
  uintptr_t hint[2];   /* per kind: no free page below it in a chunk that kind may use */
  uintptr_t nfree;     /* free pages */
  uint64_t nscav;      /* scavenged pages; atomic reads, written under the lock */
} tc_pagealloc_t;

bool tc_pagealloc_init(tc_pagealloc_t *pa, uintptr_t max_pages);
/* First fit among the chunks kind may use: the page index of a run of n
 * free pages, now allocated, or TC_NO_PAGE. *scav gets how many of them were
 * scavenged (zero-filled). */
uintptr_t tc_pagealloc_alloc_run(tc_pagealloc_t *pa, uintptr_t n, tc_pagekind_t kind,
                                 uintptr_t *scav);
/* The same for scanned pages, for callers that do not care about scavenged
 * pages. */
uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n);
/* Frees a run allocated by tc_pagealloc_alloc(_run); its pages are resident
 * (not scavenged). */
void tc_pagealloc_free(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
/* The first run of whole chunks holding scanned spans in pages [from, limit)
 * (chunk aligned): its first page, its end in *end; limit if none. Reads the
 * kinds without the lock: with the world stopped the answer is exact; while
 * spans come and go it may include chunks just emptied or miss ones just
 * taken (the caller must not need those). */
uintptr_t tc_pagealloc_next_scan_chunks(const tc_pagealloc_t *pa, uintptr_t from,
                                        uintptr_t limit, uintptr_t *end);
/* The first run of pages held by spans in [from, limit): its first page,
 * its end in *end; limit if none. Free gaps of fewer than bridge pages
 * between two such runs are taken into the run. Reads the free bits
 * without the lock, like tc_pagealloc_next_scan_chunks: exact with the
 * world stopped; while spans come and go a run just taken may be missed
 * and one just freed included. */
uintptr_t tc_pagealloc_next_used(const tc_pagealloc_t *pa, uintptr_t from, uintptr_t limit,
                                 uintptr_t bridge, uintptr_t *end);
/* Pages [first, first+n) were just committed: free and scavenged. */
void tc_pagealloc_grow(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
/* The scavenger's side (Go's scavengeOne): takes the highest run of free,
 * resident pages, at most max long, marking it allocated; returns its first
 * page and length in *n, or TC_NO_PAGE. The caller releases the memory and
 * hands the run back with tc_pagealloc_free_scavenged. */
uintptr_t tc_pagealloc_take_resident(tc_pagealloc_t *pa, uintptr_t max, uintptr_t *n);
void tc_pagealloc_free_scavenged(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
/* Free pages that are resident: nfree - nscav. */
TC_INLINE uintptr_t tc_pagealloc_resident_free(const tc_pagealloc_t *pa) {
  return pa->nfree - (uintptr_t)pa->nscav;
}
/* True if every page of [first, first+n) is free (for tests and checks). */
bool tc_pagealloc_is_free(const tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);

#endif
