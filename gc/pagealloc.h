/*
 * pagealloc.h - which pages of the committed heap are free.
 *
 * A bitmap over every page of the reservation (1 = free), address-ordered
 * first fit from a search hint (the lowest page that may be free), like Go's
 * pageAlloc searchAddr; runs may cross arena boundaries since the heap is one
 * contiguous range. All calls need tc_mheap.lock.
 * Go: runtime/mpagealloc.go (which adds radix summaries over 4 MiB chunks;
 * a linear word scan is fast enough at our sizes: 1 GiB = 2048 words).
 */
#ifndef TC_PAGEALLOC_H
#define TC_PAGEALLOC_H

#include "base.h"

#define TC_NO_PAGE ((uintptr_t)-1)

typedef struct tc_pagealloc {
  uint64_t *free_bits; /* 1 bit per reserved page, 1 = free */
  uintptr_t npages;    /* pages managed (committed) */
  uintptr_t hint;      /* no free page below this index */
  uintptr_t nfree;     /* free pages */
} tc_pagealloc_t;

bool tc_pagealloc_init(tc_pagealloc_t *pa, uintptr_t max_pages);
/* First fit: the page index of a run of n free pages, now allocated, or TC_NO_PAGE. */
uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n);
void tc_pagealloc_free(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
/* Pages [first, first+n) were just committed: they become free. */
void tc_pagealloc_grow(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);
/* True if every page of [first, first+n) is free (for tests and checks). */
bool tc_pagealloc_is_free(const tc_pagealloc_t *pa, uintptr_t first, uintptr_t n);

#endif
