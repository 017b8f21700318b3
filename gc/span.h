/*
 * span.h - a span: a run of pages holding objects of one span class.
 *
 * Owns the per-span allocation state and bitmaps:
 *   alloc_bits  1 = slot allocated as of the last sweep
 *   mark_bits   1 = slot marked by the current/last mark phase
 *   freed_bits  1 = slot released by gc_free since the sweep last took
 *               the bit's word (atomic or; the sweep takes a word with an
 *               exchange, so a bit set during a sweep stays for the next)
 *   sampled_bits 1 = slot holds an object the heap profiler sampled
 *               (profile/sample.c): set with an atomic or when the sample
 *               is recorded, cleared with an atomic and by the sweep that
 *               frees the slot or by gc_free, which report the free
 * and the allocation cursor: free_index (every free slot below it has been
 * handed out since the last sweep) and alloc_cache (the complement of
 * alloc_bits starting at free_index, so the fast path is a count-trailing-
 * zeros; Go's allocCache).
 *
 * A slot is allocated iff idx < free_index || alloc_bit(idx) (Go's isFree).
 * The sweep turns (mark & ~freed & allocated) into the new alloc bits, clears
 * the mark bits, takes the freed bits and resets free_index to 0.
 *
 * Allocate-black: a span cached while marking is on gets the mark bit of
 * every free slot set at caching time (tc_span_premark_free), so whatever
 * its owner allocates from it during the mark is black without a check on
 * the fast path. Slots that stay free keep a stray mark bit, which the
 * sweep masks with "allocated". A marker racing the owner may see a stale
 * free_index and treat a just-allocated slot as free; the slot is black
 * already, so nothing is lost.
 *
 * Ownership: a span is owned by exactly one of: an mcache (cached; only its
 * thread touches the allocation state), an mcentral list (under its lock), a
 * sweeper that acquired it through sweepgen, or the page heap while it is
 * being created or freed. Marking touches only mark_bits (atomic or) and
 * mark_writes (atomic store; a hint for protect.c) and reads the rest with
 * the world stopped.
 *
 * sweepgen (Go's protocol, sg = tc_mheap.sweepgen, +2 per cycle):
 *   sg-2 needs sweeping, sg-1 being swept, sg swept,
 *   sg+1 cached before the sweep began (stale), sg+3 swept then cached.
 * Go: runtime/mheap.go (mspan), mbitmap.go (allocBits, nextFreeIndex).
 */
#ifndef TC_SPAN_H
#define TC_SPAN_H

#include "atomic.h"
#include "base.h"
#include "config.h"
#include "sizeclass.h"

enum { TC_SPAN_DEAD = 0, TC_SPAN_INUSE = 1 };

struct tc_spanlist;

/* Cache-line aligned, with the fast path's fields in the first line, so a
 * thread allocating from its span never shares a line with a sweeper or
 * marker writing another span's fields. */
typedef struct tc_span {
  /* ---- first cache line: everything the fast path and the marker read ---- */
  /* Allocation state: owner only (see header). */
  uint64_t alloc_cache;
  uint32_t free_index;
  uint32_t alloc_count;      /* slots allocated (incl. gc_free'd until swept) */
  /* Shape: written when the span is created, read by anyone. */
  uintptr_t base;
  uintptr_t elemsize;        /* slot size; npages * page for large spans */
  uint64_t *alloc_bits, *mark_bits; /* nwords each, then freed, sampled */
  uint32_t nelems;
  uint32_t divmagic;         /* (off * divmagic) >> 32 == off / elemsize */
  tc_spanclass_t spanclass;
  uint8_t state;             /* TC_SPAN_*; atomic */
  uint8_t needzero;          /* slots may hold old data: zero before reuse */
  uint8_t large;
  uint32_t nfreed;           /* atomic; slots with freed bits set */
  /* ---- second cache line ---- */
  uint64_t *freed_bits;
  uint64_t *sampled_bits;    /* atomic or/and; see header */
  uintptr_t npages;
  uint32_t sweepgen;         /* atomic; see header */
  uint32_t alloc_count_cached; /* alloc_count when cached (stats delta) */
  uint16_t nwords;           /* 64-bit words per bitmap (<= 16) */
  uint8_t cached_black;      /* cached while marking: free slots premarked */
  uint8_t mark_writes;       /* atomic; TC_WRITES_*, see below */
  uint32_t nsampled;         /* atomic; sampled bits set (sweep skips 0) */
  /* List membership: protected by the owning mcentral's lock. */
  struct tc_span *next, *prev;
  struct tc_spanlist *list;
} TC_ALIGNED(TC_CACHELINE) tc_span_t;

/* The span an empty mcache slot points at: its alloc_cache is 0 and
 * free_index == nelems, so the fast path always misses. */
extern tc_span_t tc_empty_span;

/* Creates a span descriptor for [base, base + npages pages) of class sc.
 * NULL when out of metadata memory. */
tc_span_t *tc_span_new(uintptr_t base, uintptr_t npages, tc_spanclass_t sc,
                       bool needzero);
void tc_span_delete(tc_span_t *s);

/* Go's refillAllocCache: alloc_cache = ~alloc_bits word holding slot idx
 * (idx a multiple of 64). */
TC_INLINE void tc_span_refill_cache(tc_span_t *s, uint32_t idx) {
  s->alloc_cache = ~s->alloc_bits[idx / 64];
}

/* The fast path: the next free slot from alloc_cache, or 0 when the cache
 * word is exhausted (the slow path then walks the bitmap). The pointer is
 * formed and pinned in a register before the cursor moves, so a thread
 * stopped anywhere here is never holding an allocated slot only as an index. */
TC_INLINE uintptr_t tc_span_alloc_fast(tc_span_t *s) {
  uint64_t cache = s->alloc_cache;
  if (TC_UNLIKELY(cache == 0)) return 0;
  unsigned bit = (unsigned)__builtin_ctzll(cache);
  uint32_t idx = s->free_index + bit;
  uint32_t next = idx + 1;
  if (TC_UNLIKELY(idx >= s->nelems || (next % 64 == 0 && next != s->nelems)))
    return 0;
  uintptr_t p = s->base + (uintptr_t)idx * s->elemsize;
  __asm__ __volatile__("" : "+r"(p));
  s->alloc_cache = (cache >> bit) >> 1;
  s->free_index = next;
  s->alloc_count++;
  return p;
}

/* The slow half of nextFree: the next free slot index, walking alloc_bits
 * word by word; nelems when the span is full. Advances the cursor. */
uint32_t tc_span_next_free_index(tc_span_t *s);

TC_INLINE uint32_t tc_span_object_index(const tc_span_t *s, uintptr_t addr) {
  return (uint32_t)(((uint64_t)(addr - s->base) * s->divmagic) >> 32);
}

TC_INLINE bool tc_span_is_allocated(const tc_span_t *s, uint32_t idx) {
  /* Acquire pairs with the sweep's release of free_index = 0 (sweep.c). */
  return idx < tc_atomic_load_acquire(&s->free_index) ||
         (tc_atomic_load_relaxed(&s->alloc_bits[idx / 64]) >> (idx % 64) & 1);
}

TC_INLINE bool tc_span_is_freed(const tc_span_t *s, uint32_t idx) {
  return tc_atomic_load_relaxed(&s->nfreed) != 0 &&
         (tc_atomic_load_relaxed(&s->freed_bits[idx / 64]) >> (idx % 64) & 1);
}

/* Sets the mark bit of every free slot (idx >= free_index, alloc bit 0). */
void tc_span_premark_free(tc_span_t *s);

/* Bits of word i of the "allocated" mask: alloc bits or below free_index. */
TC_INLINE uint64_t tc_span_allocated_word(const tc_span_t *s, uint32_t i) {
  uint32_t lo = i * 64;
  uint64_t below = s->free_index >= lo + 64 ? ~(uint64_t)0
                   : s->free_index <= lo   ? 0
                                           : ((uint64_t)1 << (s->free_index - lo)) - 1;
  return s->alloc_bits[i] | below;
}

/* What the mark under way learnt of the program's writes to a span, for the
 * lifting after it (GCMODE=concurrent, protect.c, which reads and clears
 * it). SEEN: a marker found a page of the span written (mark.c,
 * rescan_written), so the program writes there. FILLING: a thread took the
 * span to allocate in while marking; the writes found in it are taken for
 * the new objects' first stores, which the program makes once, and do not
 * count as SEEN (a store into an older object of the span is then missed,
 * which costs a fault later, nothing else). */
enum { TC_WRITES_NONE = 0, TC_WRITES_SEEN = 1, TC_WRITES_FILLING = 2 };

/* A marker found a page of s written. Stored only when nothing is noted:
 * most reports hit spans already noted. */
TC_INLINE void tc_span_note_written(tc_span_t *s) {
  if (tc_atomic_load_relaxed(&s->mark_writes) == TC_WRITES_NONE)
    tc_atomic_store_relaxed(&s->mark_writes, (uint8_t)TC_WRITES_SEEN);
}

/* The end of s, and in *base its start, read without the heap lock (the
 * lifting, tc_sweep_range): a descriptor freed and reused meanwhile may
 * give bounds that do not hold the address it was looked up by, which the
 * callers check. */
TC_INLINE uintptr_t tc_span_bounds_racy(const tc_span_t *s, uintptr_t *base) {
  *base = tc_atomic_load_relaxed(&s->base);
  return *base + (tc_atomic_load_relaxed(&s->npages) << TC_PAGE_SHIFT);
}

/* Number of free slots (for heap_live accounting). */
TC_INLINE uint32_t tc_span_nfree(const tc_span_t *s) {
  return s->nelems - s->alloc_count;
}

_Static_assert(offsetof(tc_span_t, nfreed) + sizeof(uint32_t) <= TC_CACHELINE,
               "fast-path and mark fields must share the first cache line");
_Static_assert(sizeof(tc_span_t) == 2 * TC_CACHELINE,
               "span descriptors are two cache lines");

#endif
