/*
 * alloc.c - the public allocation API: gc_alloc and friends.
 *
 * Fast path (tc_fastpath section, see stw.h): size -> span class, the
 * thread's cached span, a ctz on its alloc_cache; zeroing if the span may
 * hold old data. One unlikely branch leaves for alloc_slow, which is out of
 * line: it registers the thread on first use, refills the span from the
 * mcentral inside a no-stop region, and starts a cycle when heap_live has
 * reached the goal. Large objects (> 32 KiB) get a span each from the page
 * heap, after sweeping as many pages as they need.
 *
 * Heap profiling costs the fast path one subtract and compare: the thread's
 * mcache->next_sample counts down by the slot size, and when it goes
 * negative the out-of-line tc_sample_alloc records the sample
 * (profile/sample.c). The slow paths do the same check inside their no-stop
 * regions. Every function of this file that can be on the stack when a
 * sample is taken is in the tc_fastpath or tc_sampling section
 * (TC_SAMPLING_FRAME), whose frames the stack capture leaves out, so a
 * recorded stack starts in user code.
 *
 * Misuse (gc_free/gc_realloc of anything but the start of a live object)
 * is reported with the call and the pointer, then aborts.
 * Go: runtime/malloc.go (mallocgc, largeAlloc).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include <tricolor.h>

#include "assist.h"
#include "barrier.h"
#include "cycle.h"
#include "error.h"
#include "findobject.h"
#include "mark.h"
#include "mcache.h"
#include "mcentral.h"
#include "mheap.h"
#include "sample.h"
#include "scavenge.h"
#include "special.h"
#include "stats.h"
#include "stw.h"
#include "sweep.h"
#include "thread.h"

#define API __attribute__((visibility("default")))

/* Largest request we try: keeps npages arithmetic far from overflow. */
#define MAX_ALLOC ((size_t)1 << 46)

static TC_NOINLINE TC_COLD void *fail_enomem(void) {
  errno = ENOMEM;
  return NULL;
}

/* Allocates from the cached span of sc after refilling it. Caller is in a
 * no-stop region. */
/* Leaves the allocation fast path and returns p. A suspend signal that
 * landed inside set stop_waiting, and the thread parks here, in a tail call
 * with p its only live value, so the fast path stays a leaf; one landing
 * after the flag is cleared parks the thread in its handler (stw.h). The
 * slow paths that the fast path calls leave it first thing. */
TC_INLINE void *fastpath_exit(tc_mcache_t *c, void *p) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  c->in_fastpath = 0;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (TC_UNLIKELY(c->stop_waiting)) return tc_stw_fastpath_park(c, p);
  return p;
}

static uintptr_t refill_and_alloc(tc_thread_t *t, tc_spanclass_t sc) {
  tc_mcache_t *c = t->mcache;
  tc_span_t *s = c->alloc[sc];
  if (s != &tc_empty_span) {
    uint32_t idx = tc_span_next_free_index(s);
    if (idx < s->nelems) {
      s->alloc_count++;
      return s->base + (uintptr_t)idx * s->elemsize;
    }
  }
  if (!tc_mcache_refill(c, sc)) return 0;
  s = c->alloc[sc];
  uint32_t idx = tc_span_next_free_index(s);
  TC_ASSERT(idx < s->nelems);
  s->alloc_count++;
  return s->base + (uintptr_t)idx * s->elemsize;
}

/* Entered from the fast path, which c's flag still says (a stop meanwhile
 * parks the thread at the exit here). */
static TC_NOINLINE TC_SAMPLING_FRAME void *alloc_small_slow(tc_mcache_t *c, tc_spanclass_t sc) {
  fastpath_exit(c, NULL);
  tc_thread_t *t = tc_thread_current();
  if (t == NULL) return fail_enomem();
  tc_stw_yield(t);
  tc_thread_nostop_enter(t);
  uintptr_t p = refill_and_alloc(t, sc);
  tc_span_t *s = t->mcache->alloc[sc];
  bool needzero = p && s->needzero;
  /* The profiler's countdown is updated inside the region: with the world
   * stopped, gc_set_profile_rate rewrites it. */
  bool sample = p && (t->mcache->next_sample -= (int64_t)s->elemsize) < 0;
  needzero = needzero && !tc_spanclass_noscan(sc);
  if (needzero) t->zeroing = p;
  tc_thread_nostop_exit(t);
  if (p == 0) return fail_enomem();
  if (needzero) {
    memset((void *)p, 0, tc_class_to_size[tc_spanclass_sizeclass(sc)]);
    t->zeroing = 0;
  }
  if (TC_UNLIKELY(sample)) tc_sample_alloc(t->mcache, s, p);
  tc_scavenge_pay_eager();
  if (tc_gc_should_trigger()) tc_gc_run(false);
  /* Pay for the span just taken while marking (assist.h). */
  if (TC_UNLIKELY(tc_atomic_load_relaxed(&tc_gc.marking)) && t->assist_bytes < 0)
    tc_assist_alloc(t);
  return (void *)p;
}

static TC_NOINLINE TC_SAMPLING_FRAME void *alloc_large(size_t size, bool noscan) {
  if (size > MAX_ALLOC) return fail_enomem();
  tc_thread_t *t = tc_thread_current();
  if (t == NULL) return fail_enomem();
  uintptr_t npages = (size + TC_PAGE_SIZE - 1) >> TC_PAGE_SHIFT;
  tc_spanclass_t sc = tc_spanclass_make(0, noscan);
  tc_stw_yield(t);
  /* Reclaim before growing (Go's mheap.reclaim). */
  tc_sweep_pages(npages);
  tc_thread_nostop_enter(t);
  tc_span_t *s = tc_mheap_alloc_span(npages, sc);
  uintptr_t p = 0;
  bool needzero = false, sample = false;
  if (s != NULL) {
    s->free_index = 1;
    s->alloc_count = 1;
    s->alloc_cache = 0;
    needzero = s->needzero && !noscan;
    /* The object must be visible in this frame before a stop can land:
     * once we leave the no-stop region, s->base alone (metadata) keeps
     * nothing alive. */
    p = s->base;
    __asm__ __volatile__("" : "+r"(p));
    /* Allocate black while marking (the flag is stable in this region). */
    if (tc_gc_marking()) {
      tc_atomic_fetch_or_relaxed(&s->mark_bits[0], 1);
      tc_atomic_store_relaxed(&s->mark_writes, (uint8_t)TC_WRITES_FILLING); /* span.h */
      tc_atomic_add_relaxed(&tc_gc.black_bytes, s->elemsize);
      t->assist_bytes -= (int64_t)s->elemsize; /* assist.h */
    }
    tc_mcentral_put_swept(&tc_mcentral[sc], s);
    tc_gc_heap_live_add((int64_t)s->elemsize);
    if (!noscan) tc_gc_heap_scan_add((int64_t)s->elemsize);
    tc_stats_count_large_alloc(s->elemsize);
    sample = (t->mcache->next_sample -= (int64_t)s->elemsize) < 0;
  }
  uintptr_t bytes = npages << TC_PAGE_SHIFT;
  if (needzero) t->zeroing = p;
  tc_thread_nostop_exit(t);
  if (p == 0) return fail_enomem();
  if (needzero) {
    memset((void *)p, 0, bytes);
    t->zeroing = 0;
  }
  /* s stays valid: the object it holds is live (p is in this frame). */
  if (TC_UNLIKELY(sample)) tc_sample_alloc(t->mcache, s, p);
  tc_scavenge_pay_eager();
  if (tc_gc_should_trigger()) tc_gc_run(false);
  if (TC_UNLIKELY(tc_atomic_load_relaxed(&tc_gc.marking)) && t->assist_bytes < 0)
    tc_assist_alloc(t);
  return (void *)p;
}

/* Zeroes a slot. Small slots (most allocations) are cleared with inline
 * 16-byte stores: a libc memset call costs more than the clearing itself
 * below ~256 bytes. Slot sizes are multiples of 16 from 32 bytes on. */
TC_INLINE void zero_slot(uintptr_t p, uintptr_t size) {
  if (size > 256) {
    /* memset is outside the tc_fastpath section, so a stop can land in
     * it: the thread says which (possibly black) slot still holds old
     * data (thread.h zeroing). */
    tc_thread_t *t = tc_thread_tls;
    t->zeroing = p;
    memset((void *)p, 0, size);
    t->zeroing = 0;
    return;
  }
  typedef uint64_t u64x2 __attribute__((vector_size(16), aligned(8)));
  uintptr_t end = p + size;
  if (size & 8) {
    *(uint64_t *)p = 0;
    p += 8;
  }
  for (; p < end; p += 16) *(u64x2 *)p = (u64x2){0, 0};
}

/* A small allocation whose countdown ran out (zeroed already, inside the
 * fast path, which it leaves here): the sample is recorded out of line. */
static TC_NOINLINE TC_COLD TC_SAMPLING_FRAME void *alloc_sampled(tc_mcache_t *c, tc_span_t *s,
                                                                 uintptr_t p) {
  fastpath_exit(c, (void *)p);
  return tc_sample_alloc(c, s, p);
}

/* The inline fast path. Callers live in the tc_fastpath section. The
 * profiler's subtract and compare comes before the zeroing, so nothing but
 * p lives across zero_slot's memset call. */
TC_INLINE void fastpath_enter(tc_mcache_t *c) {
  c->in_fastpath = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

TC_INLINE void *alloc_inline(size_t size, bool noscan) {
  if (TC_UNLIKELY(size > TC_MAX_SMALL_SIZE)) return alloc_large(size, noscan);
  tc_spanclass_t sc = tc_spanclass_make(tc_size_to_class(size), noscan);
  /* No stop lands between here and fastpath_exit, wherever it is (stw.h):
   * the span's cursor and the countdown are updated in several stores. */
  tc_mcache_t *c = tc_mcache_tls;
  fastpath_enter(c);
  tc_span_t *s = c->alloc[sc];
  uintptr_t p = tc_span_alloc_fast(s);
  if (TC_UNLIKELY(p == 0)) return alloc_small_slow(c, sc);
  uintptr_t slot = s->elemsize; /* read once: the store below may alias it */
  if (TC_UNLIKELY((c->next_sample -= (int64_t)slot) < 0)) {
    if (!noscan && s->needzero) zero_slot(p, slot);
    return alloc_sampled(c, s, p);
  }
  if (!noscan && s->needzero) zero_slot(p, slot);
  return fastpath_exit(c, (void *)p);
}

API TC_FASTPATH void *gc_alloc(size_t n) { return alloc_inline(n, false); }

API TC_FASTPATH void *gc_alloc_noscan(size_t n) { return alloc_inline(n, true); }

API TC_FASTPATH void *gc_calloc(size_t count, size_t size) {
  size_t n;
  if (TC_UNLIKELY(__builtin_mul_overflow(count, size, &n))) return fail_enomem();
  return alloc_inline(n, false);
}

/* ---- lookup and free ----------------------------------------------------- */

tc_object_t tc_object_at(const char *call, const void *p) {
  tc_object_t o;
  if (!tc_findobject((uintptr_t)p, &o))
    tc_misuse(call, p, "pointer does not point into a live object allocated by tricolor");
  if (tc_object_base(&o) != (uintptr_t)p)
    tc_misuse(call, p, "pointer is not the start of an object (interior pointer)");
  if (tc_span_is_freed(o.span, o.index))
    tc_misuse(call, p, "object was already freed (double free)");
  return o;
}

API void *gc_base(const void *p) {
  tc_object_t o;
  if (!tc_findobject((uintptr_t)p, &o)) return NULL;
  if (tc_span_is_freed(o.span, o.index)) return NULL;
  return (void *)tc_object_base(&o);
}

API size_t gc_usable_size(const void *p) {
  if (p == NULL) return 0;
  tc_object_t o = tc_object_at("gc_usable_size", p);
  return o.span->elemsize;
}

static void free_large(tc_span_t *s, const void *p) {
  /* Take the span away from the sweeper: wait out a sweep in progress.
   * Under the class's lock a span that reads unswept or swept is on a list
   * (mcentral.h), so one on none was freed already. */
  tc_mcentral_t *c = &tc_mcentral[s->spanclass];
  for (;;) {
    tc_mutex_lock(&c->lock);
    uint32_t sg = tc_mheap_sweepgen();
    uint32_t gen = tc_atomic_load_acquire(&s->sweepgen);
    if (gen == sg || gen == sg - 2) {
      if (tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE || s->list == NULL) {
        tc_mutex_unlock(&c->lock);
        tc_misuse("gc_free", p, "object was already freed (double free)");
      }
      tc_spanlist_remove_locked(s);
      tc_mutex_unlock(&c->lock);
      break;
    }
    tc_mutex_unlock(&c->lock);
    sched_yield();
  }
  int64_t bytes = (int64_t)s->elemsize;
  if (TC_UNLIKELY(tc_atomic_load_relaxed(&s->nsampled) != 0)) tc_sample_free(s, 0);
  tc_stats_count_large_free(s->elemsize);
  tc_gc_heap_live_add(-bytes);
  if (!tc_spanclass_noscan(s->spanclass)) tc_gc_heap_scan_add(-bytes);
  tc_mheap_free_span(s);
}

API void gc_free(void *p) {
  if (p == NULL) return;
  tc_thread_t *t = tc_thread_current();
  if (t == NULL) return;
  tc_object_t o = tc_object_at("gc_free", p);
  tc_thread_nostop_enter(t);
  tc_span_t *s = o.span;
  tc_special_on_free((uintptr_t)p);
  /* While marking, a large span is left to the sweep like a small slot: a
   * marker may be holding its descriptor. */
  if (s->large && !tc_gc_marking()) {
    free_large(s, p);
  } else {
    uint64_t bit = (uint64_t)1 << (o.index % 64);
    uint64_t old = tc_atomic_fetch_or_relaxed(&s->freed_bits[o.index / 64], bit);
    if (old & bit) {
      tc_thread_nostop_exit(t);
      tc_misuse("gc_free", p, "object was already freed (double free)");
    }
    tc_atomic_add_relaxed(&s->nfreed, 1);
    if (TC_UNLIKELY(tc_atomic_load_relaxed(&s->nsampled) != 0)) tc_sample_free(s, o.index);
  }
  tc_thread_nostop_exit(t);
}

API TC_SAMPLING_FRAME void *gc_realloc(void *p, size_t n) {
  if (p == NULL) return gc_alloc(n);
  tc_object_t o = tc_object_at("gc_realloc", p);
  if (n == 0) {
    gc_free(p);
    return NULL;
  }
  tc_span_t *s = o.span;
  bool noscan = tc_spanclass_noscan(s->spanclass);
  size_t have = s->elemsize;
  /* Keep the object when n fits and would not waste more than half. */
  if (n <= have && (n > TC_MAX_SMALL_SIZE ? n >= have / 2 : tc_size_to_class(n) == tc_spanclass_sizeclass(s->spanclass))) {
    if (!noscan && n < have) memset((char *)p + n, 0, have - n);
    return p;
  }
  void *q = noscan ? gc_alloc_noscan(n) : gc_alloc(n);
  if (q == NULL) return NULL;
  memcpy(q, p, n < have ? n : have);
  /* q may be black already: its pointers must not hide from a barrier-mode
   * mark (concurrent mode sees the written pages). */
  if (!noscan) tc_barrier_copied(q, n < have ? n : have);
  gc_free(p);
  return q;
}

API TC_SAMPLING_FRAME char *gc_strdup(const char *str) {
  size_t n = strlen(str) + 1;
  char *p = gc_alloc_noscan(n);
  if (p) memcpy(p, str, n);
  return p;
}
