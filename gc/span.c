/*
 * span.c - span descriptors, their bitmaps, and the bitmap walk of the
 * allocation slow path (span.h).
 */
#include "span.h"

#include <string.h>

#include "fixalloc.h"

/* Span descriptors come from one fixed-size allocator; bitmaps (4 * nwords
 * words: alloc, mark, freed, sampled) from one allocator per word count,
 * 1..16 (1024 objects per span at most: the 8-byte class). */
tc_fixalloc_t tc_span_alloc = TC_FIXALLOC_INIT(sizeof(tc_span_t), "span");
#define MAX_BITMAP_WORDS 16
static tc_fixalloc_t bitmap_alloc[MAX_BITMAP_WORDS + 1] = {
#define BA(n) [n] = TC_FIXALLOC_INIT(4 * 8 * (n), "bitmap")
    BA(1), BA(2), BA(3), BA(4), BA(5), BA(6), BA(7), BA(8), BA(9), BA(10),
    BA(11), BA(12), BA(13), BA(14), BA(15), BA(16),
#undef BA
};

tc_span_t tc_empty_span = {.free_index = 0, .nelems = 0};

uint64_t tc_span_bitmap_sys(void) {
  uint64_t n = 0;
  for (int i = 1; i <= MAX_BITMAP_WORDS; i++) n += bitmap_alloc[i].sys;
  return n;
}

tc_span_t *tc_span_new(uintptr_t base, uintptr_t npages, tc_spanclass_t sc,
                       bool needzero) {
  unsigned cls = tc_spanclass_sizeclass(sc);
  uint32_t nelems;
  uintptr_t elemsize;
  if (cls == 0) {
    nelems = 1;
    elemsize = npages << TC_PAGE_SHIFT;
  } else {
    nelems = tc_class_to_nelems[cls];
    elemsize = tc_class_to_size[cls];
  }
  uint32_t nwords = (nelems + 63) / 64;
  TC_ASSERT(nwords <= MAX_BITMAP_WORDS);
  tc_span_t *s = tc_fixalloc_alloc(&tc_span_alloc);
  if (s == NULL) return NULL;
  uint64_t *bits = tc_fixalloc_alloc(&bitmap_alloc[nwords]);
  if (bits == NULL) {
    tc_fixalloc_free(&tc_span_alloc, s);
    return NULL;
  }
  s->base = base;
  s->npages = npages;
  s->spanclass = sc;
  s->large = cls == 0;
  s->nelems = nelems;
  s->elemsize = elemsize;
  s->divmagic = tc_class_to_divmagic[cls];
  s->needzero = needzero;
  s->nwords = nwords;
  s->alloc_bits = bits;
  s->mark_bits = bits + nwords;
  s->freed_bits = bits + 2 * nwords;
  s->sampled_bits = bits + 3 * nwords;
  s->free_index = 0;
  s->alloc_count = 0;
  s->cached_black = 0;
  s->mark_writes = TC_WRITES_NONE;
  tc_span_refill_cache(s, 0);
  return s;
}

void tc_span_delete(tc_span_t *s) {
  /* Every sampled slot was reported freed before its span died. */
  TC_ASSERT(tc_atomic_load_relaxed(&s->nsampled) == 0);
  tc_fixalloc_free(&bitmap_alloc[s->nwords], s->alloc_bits);
  tc_fixalloc_free(&tc_span_alloc, s);
}

uint32_t tc_span_next_free_index(tc_span_t *s) {
  uint32_t idx = s->free_index;
  uint32_t n = s->nelems;
  if (idx >= n) return n;
  uint64_t cache = s->alloc_cache;
  while (cache == 0) {
    idx = (idx + 64) & ~(uint32_t)63;
    if (idx >= n) {
      s->free_index = n;
      return n;
    }
    tc_span_refill_cache(s, idx);
    cache = s->alloc_cache;
  }
  unsigned bit = (unsigned)__builtin_ctzll(cache);
  uint32_t result = idx + bit;
  if (result >= n) {
    s->free_index = n;
    return n;
  }
  s->alloc_cache = (cache >> bit) >> 1;
  uint32_t next = result + 1;
  if (next % 64 == 0 && next != n) tc_span_refill_cache(s, next);
  s->free_index = next;
  return result;
}

void tc_span_premark_free(tc_span_t *s) {
  for (uint32_t i = 0; i < s->nwords; i++) {
    uint64_t valid = s->nelems >= (i + 1) * 64 ? ~(uint64_t)0
                                               : ((uint64_t)1 << (s->nelems - i * 64)) - 1;
    uint64_t free = ~tc_span_allocated_word(s, i) & valid;
    if (free) tc_atomic_fetch_or_relaxed(&s->mark_bits[i], free);
  }
}
