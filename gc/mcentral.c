/*
 * mcentral.c - central span lists per span class (mcentral.h).
 */
#include "mcentral.h"

#include "cycle.h"
#include "mheap.h"
#include "protect.h"
#include "stats.h"
#include "sweep.h"
#include "thread.h"

tc_mcentral_t tc_mcentral[TC_NUM_SPAN_CLASSES];

/* How many full unswept spans cache_span sweeps looking for a free slot
 * before it grows the heap instead (Go's spanBudget). */
#define FULL_SWEEP_BUDGET 100
/* How many parts of a lifting pass cache_span takes on, at most, before it
 * sweeps spans of its own (protect.h, tc_protect_help). */
#define LIFT_HELP_PARTS 4

void tc_mcentral_init(void) {
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) {
    tc_mutex_init(&tc_mcentral[i].lock);
    tc_mcentral[i].spanclass = (tc_spanclass_t)i;
  }
}

void tc_spanlist_push_locked(tc_spanlist_t *l, tc_span_t *s) {
  TC_ASSERT(s->list == NULL);
  s->prev = NULL;
  s->next = l->first;
  if (l->first) l->first->prev = s;
  l->first = s;
  s->list = l;
  l->n++;
}

void tc_spanlist_remove_locked(tc_span_t *s) {
  tc_spanlist_t *l = s->list;
  TC_ASSERT(l != NULL);
  if (s->prev) s->prev->next = s->next;
  else l->first = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
  s->list = NULL;
  l->n--;
}

tc_span_t *tc_spanlist_pop_locked(tc_spanlist_t *l) {
  tc_span_t *s = l->first;
  if (s) tc_spanlist_remove_locked(s);
  return s;
}

void tc_mcentral_put_swept(tc_mcentral_t *c, tc_span_t *s) {
  uint32_t sg = tc_mheap_sweepgen();
  tc_mutex_lock(&c->lock);
  unsigned i = tc_swept_index(sg);
  if (s->large || s->alloc_count == s->nelems) tc_spanlist_push_locked(&c->full[i], s);
  else tc_spanlist_push_locked(&c->partial[i], s);
  tc_atomic_store_release(&s->sweepgen, sg); /* with the push: see mcentral.h */
  tc_mutex_unlock(&c->lock);
}

bool tc_mcentral_put_empty(tc_mcentral_t *c, tc_span_t *s) {
  TC_ASSERT(!s->large && s->alloc_count == 0);
  uint64_t cap = TC_EMPTY_KEEP_BYTES / (s->npages << TC_PAGE_SHIFT);
  tc_mutex_lock(&c->lock);
  bool kept = c->empty.n < (cap ? cap : 1);
  if (kept) {
    tc_spanlist_push_locked(&c->empty, s);
    tc_atomic_store_release(&s->sweepgen, tc_mheap_sweepgen());
  }
  tc_mutex_unlock(&c->lock);
  return kept;
}

void tc_mcentral_free_empty(void) {
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) {
    tc_mcentral_t *c = &tc_mcentral[i];
    for (;;) {
      tc_mutex_lock(&c->lock);
      tc_span_t *s = tc_spanlist_pop_locked(&c->empty);
      tc_mutex_unlock(&c->lock);
      if (s == NULL) break;
      tc_mheap_free_span(s);
    }
  }
}

void tc_mcentral_take_unswept_locked(tc_span_t *s, uint32_t sg) {
  tc_spanlist_remove_locked(s);
  uint32_t want = sg - 2;
  if (!tc_atomic_cas_acq_rel(&s->sweepgen, &want, sg - 1))
    tc_throw("span 0x%lx on an unswept list has sweepgen %u (heap %u)",
             (unsigned long)s->base, want, sg);
}

tc_span_t *tc_mcentral_pop_unswept_locked(tc_spanlist_t *l, uint32_t sg) {
  tc_span_t *s = l->first;
  if (s != NULL) tc_mcentral_take_unswept_locked(s, sg);
  return s;
}

/* Registered as an active sweeper for the whole search, so sweep
 * termination never sees a span popped here but not yet swept. */
static tc_span_t *find_span_swept(tc_mcentral_t *c, uint32_t sg) {
  tc_span_t *s;
  for (int help = 0;; help++) {
    tc_mutex_lock(&c->lock);
    s = tc_spanlist_pop_locked(&c->partial[tc_swept_index(sg)]);
    if (s == NULL) s = tc_spanlist_pop_locked(&c->empty);
    if (s) {
      tc_mutex_unlock(&c->lock);
      return s;
    }
    /* While the protection is being lifted, take the lifting's next parts
     * before sweeping spans of our own (protect.h). */
    if (help == LIFT_HELP_PARTS || !tc_protect_lifting()) break;
    tc_mutex_unlock(&c->lock);
    tc_protect_help();
  }
  s = tc_mcentral_pop_unswept_locked(&c->partial[tc_unswept_index(sg)], sg);
  if (s) {
    tc_mutex_unlock(&c->lock);
    tc_span_sweep(s, true); /* had free slots before; sweeping only adds */
    return s;
  }
  for (int budget = FULL_SWEEP_BUDGET; budget > 0; budget--) {
    s = tc_mcentral_pop_unswept_locked(&c->full[tc_unswept_index(sg)], sg);
    if (s == NULL) break;
    tc_mutex_unlock(&c->lock);
    tc_span_sweep(s, true);
    if (s->alloc_count < s->nelems) return s;
    tc_mutex_lock(&c->lock);
    tc_spanlist_push_locked(&c->full[tc_swept_index(sg)], s);
  }
  tc_mutex_unlock(&c->lock);
  return NULL;
}

static tc_span_t *find_span(tc_mcentral_t *c, uint32_t sg) {
  tc_sweep_begin();
  tc_span_t *s = find_span_swept(c, sg);
  tc_sweep_end();
  return s;
}

tc_span_t *tc_mcentral_cache_span(tc_mcentral_t *c) {
  uint32_t sg = tc_mheap_sweepgen();
  tc_span_t *s = find_span(c, sg);
  if (s == NULL) {
    unsigned cls = tc_spanclass_sizeclass(c->spanclass);
    s = tc_mheap_alloc_span(tc_class_to_npages[cls], c->spanclass);
    if (s == NULL) return NULL;
  }
  TC_ASSERT(s->alloc_count < s->nelems);
  /* Re-derive the cache at free_index (Go's cacheSpan). */
  uint32_t fi = s->free_index;
  tc_span_refill_cache(s, fi & ~(uint32_t)63);
  s->alloc_cache >>= fi % 64;
  s->alloc_count_cached = s->alloc_count;
  /* Allocate black while marking (span.h). The flag is stable: we are in a
   * no-stop region (mcache.c) and marking switches with the world stopped. */
  if (tc_gc_marking()) {
    tc_span_premark_free(s);
    s->cached_black = 1;
    /* Its writes until the lifting are its new objects' (span.h). */
    tc_atomic_store_relaxed(&s->mark_writes, (uint8_t)TC_WRITES_FILLING);
  }
  tc_atomic_store_release(&s->sweepgen, sg + 3);
  /* The whole span counts toward heap_live while cached (Go's heapLive),
   * and toward heap_scan if it holds scannable objects; while marking, the
   * caching thread owes assist work for it (assist.h). */
  int64_t charge = (int64_t)(s->npages << TC_PAGE_SHIFT) -
                   (int64_t)s->alloc_count * (int64_t)s->elemsize;
  tc_gc_heap_live_add(charge);
  if (!tc_spanclass_noscan(s->spanclass)) tc_gc_heap_scan_add(charge);
  if (s->cached_black) {
    tc_thread_t *t = tc_thread_tls;
    if (t) t->assist_bytes -= charge;
  }
  return s;
}

void tc_mcentral_uncache_span(tc_mcentral_t *c, tc_span_t *s) {
  uint32_t sg = tc_mheap_sweepgen();
  uint32_t gen = tc_atomic_load_relaxed(&s->sweepgen);
  tc_stats_count_small_allocs(tc_spanclass_sizeclass(s->spanclass),
                              s->alloc_count - s->alloc_count_cached);
  if (s->cached_black) {
    s->cached_black = 0;
    tc_atomic_add_relaxed(&tc_gc.black_bytes,
                          (uint64_t)(s->alloc_count - s->alloc_count_cached) * s->elemsize);
  }
  s->alloc_count_cached = s->alloc_count;
  if (gen == sg + 1) {
    /* Cached before the sweep began: its mark bits are this cycle's; sweep
     * it later like any other span. heap_live was reset by the cycle. */
    tc_mutex_lock(&c->lock);
    unsigned i = tc_unswept_index(sg);
    if (s->alloc_count == s->nelems) tc_spanlist_push_locked(&c->full[i], s);
    else tc_spanlist_push_locked(&c->partial[i], s);
    tc_atomic_store_release(&s->sweepgen, sg - 2);
    tc_mutex_unlock(&c->lock);
    return;
  }
  TC_ASSERT(gen == sg + 3);
  tc_gc_heap_live_add(-(int64_t)tc_span_nfree(s) * (int64_t)s->elemsize);
  if (!tc_spanclass_noscan(s->spanclass))
    tc_gc_heap_scan_add(-(int64_t)tc_span_nfree(s) * (int64_t)s->elemsize);
  tc_mcentral_put_swept(c, s);
}
