/*
 * pagealloc.c - first-fit page runs over a free bitmap (pagealloc.h).
 */
#include "pagealloc.h"

#include "os.h"

static void set_range(uint64_t *bits, uintptr_t first, uintptr_t n, bool v) {
  uintptr_t i = first, end = first + n;
  while (i < end) {
    uintptr_t w = i / 64, b = i % 64;
    uintptr_t take = 64 - b < end - i ? 64 - b : end - i;
    uint64_t mask = (take == 64 ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1)) << b;
    if (v) bits[w] |= mask;
    else bits[w] &= ~mask;
    i += take;
  }
}

/* Index of the first bit >= i whose value is v, or limit. */
static uintptr_t next_bit(const uint64_t *bits, uintptr_t i, uintptr_t limit, bool v) {
  while (i < limit) {
    uint64_t w = bits[i / 64];
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

bool tc_pagealloc_init(tc_pagealloc_t *pa, uintptr_t max_pages) {
  size_t bytes = tc_align_up((max_pages + 63) / 64 * 8, 4096);
  void *p = tc_os_reserve(bytes, 4096);
  if (p == NULL || !tc_os_commit(p, bytes)) return false;
  pa->free_bits = p;
  pa->npages = 0;
  pa->hint = 0;
  pa->nfree = 0;
  return true;
}

uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n) {
  if (n == 0 || n > pa->nfree) return TC_NO_PAGE;
  uintptr_t i = pa->hint;
  bool first_run = true;
  while (i < pa->npages) {
    uintptr_t start = next_bit(pa->free_bits, i, pa->npages, true);
    if (start >= pa->npages) break;
    if (first_run) {
      pa->hint = start; /* nothing free below the first free page */
      first_run = false;
    }
    uintptr_t end = next_bit(pa->free_bits, start, pa->npages, false);
    if (end - start >= n) {
      set_range(pa->free_bits, start, n, false);
      pa->nfree -= n;
      if (start == pa->hint) pa->hint = start + n;
      return start;
    }
    i = end;
  }
  return TC_NO_PAGE;
}

void tc_pagealloc_free(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  set_range(pa->free_bits, first, n, true);
  pa->nfree += n;
  if (first < pa->hint) pa->hint = first;
}

void tc_pagealloc_grow(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  if (first + n > pa->npages) pa->npages = first + n;
  tc_pagealloc_free(pa, first, n);
}

bool tc_pagealloc_is_free(const tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  return next_bit(pa->free_bits, first, first + n, false) == first + n;
}
