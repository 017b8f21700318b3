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
 * All calls need tc_mheap.lock.
 * Go: runtime/mpagealloc.go (which adds radix summaries over 4 MiB chunks;
 * a linear word scan is fast enough at our sizes: 1 GiB = 2048 words).
 */
#ifndef TC_PAGEALLOC_H
#define TC_PAGEALLOC_H

#include "base.h"

#define TC_NO_PAGE ((uintptr_t)-1)

typedef struct tc_pagealloc {
  uint64_t *free_bits; /* 1 bit per reserved page, 1 = free */
  uint64_t *scav_bits; /* 1 = free and not resident (see above) */
  uintptr_t npages;    /* pages managed (committed) */
  uintptr_t hint;      /* no free page below this index */
  uintptr_t nfree;     /* free pages */
  uint64_t nscav;      /* scavenged pages; atomic reads, written under the lock */
} tc_pagealloc_t;

bool tc_pagealloc_init(tc_pagealloc_t *pa, uintptr_t max_pages);
/* First fit: the page index of a run of n free pages, now allocated, or
 * TC_NO_PAGE. *scav gets how many of them were scavenged (zero-filled). */
uintptr_t tc_pagealloc_alloc_run(tc_pagealloc_t *pa, uintptr_t n, uintptr_t *scav);
/* The same, for callers that do not care about scavenged pages. */
uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n);
/* Frees a run; its pages are resident (not scavenged). */
void tc_pagealloc_free(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
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
