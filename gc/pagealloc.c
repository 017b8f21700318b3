/*
 * pagealloc.c - first-fit page runs over a free bitmap (pagealloc.h).
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
  void *p = tc_os_reserve(2 * bytes, 4096);
  if (p == NULL || !tc_os_commit(p, 2 * bytes)) return false;
  pa->free_bits = p;
  pa->scav_bits = (uint64_t *)((char *)p + bytes);
  pa->npages = 0;
  pa->hint = 0;
  pa->nfree = 0;
  pa->nscav = 0;
  return true;
}

uintptr_t tc_pagealloc_alloc(tc_pagealloc_t *pa, uintptr_t n) {
  uintptr_t scav;
  return tc_pagealloc_alloc_run(pa, n, &scav);
}

uintptr_t tc_pagealloc_alloc_run(tc_pagealloc_t *pa, uintptr_t n, uintptr_t *scav) {
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
      uintptr_t sc = count_range(pa->scav_bits, start, n);
      if (sc) {
        set_range(pa->scav_bits, start, n, false);
        tc_atomic_store_relaxed(&pa->nscav, pa->nscav - sc);
      }
      *scav = sc;
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
  tc_pagealloc_free_scavenged(pa, first, n);
}

void tc_pagealloc_free_scavenged(tc_pagealloc_t *pa, uintptr_t first, uintptr_t n) {
  tc_pagealloc_free(pa, first, n);
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
