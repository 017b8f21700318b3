/*
 * sweep.c - span sweeping and the background sweeper (sweep.h).
 */
#include "sweep.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "arena.h"
#include "atomic.h"
#include "error.h"
#include "mcentral.h"
#include "mheap.h"
#include "os.h"
#include "options.h"
#include "sample.h"
#include "scavenge.h"
#include "stats.h"
#include "stw.h"
#include "thread.h"

static struct {
  uint32_t active;        /* atomic: sweepers that may hold a span */
  uint32_t drained_gen;   /* atomic: sweepgen whose spans are all swept */
  unsigned next_class;    /* racy hint for tc_sweep_one */
  pthread_mutex_t gate;   /* held by the bg sweeper per span, by the collector across STW */
  pthread_mutex_t lock;   /* background sweeper wake-up */
  pthread_cond_t cond;
  bool started;
  uint64_t wake_gen;      /* protected by lock */
} sw = {0, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER, false, 0};

void tc_sweep_begin(void) { tc_atomic_add_acq_rel(&sw.active, 1); }
void tc_sweep_end(void) { tc_atomic_sub_acq_rel(&sw.active, 1); }

/* What becomes of a span once swept: the caller keeps it (PRESERVE), or it
 * goes to its class's lists, an empty one back to the page heap (LIST) or
 * onto the class's empty list while there is room (KEEP_EMPTY). */
typedef enum { SWEEP_LIST, SWEEP_PRESERVE, SWEEP_KEEP_EMPTY } sweep_to_t;

static bool sweep_large(tc_span_t *s, bool preserve, uint32_t sg) {
  bool live = (s->mark_bits[0] & 1) && !(s->freed_bits[0] & 1);
  if (!live) {
    /* A sampled object dies: the heap profiler records the free. */
    if (TC_UNLIKELY(tc_atomic_load_relaxed(&s->nsampled) != 0)) tc_sample_sweep(s, 0, 0);
    tc_stats_count_large_free(s->elemsize);
    tc_mheap_free_span(s);
    return true;
  }
  s->mark_bits[0] = 0;
  s->freed_bits[0] = 0;
  tc_atomic_store_relaxed(&s->nfreed, 0);
  /* Listed and marked swept under one holding of the class's lock: gc_free
   * takes a large span off its list there (alloc.c free_large). */
  if (preserve) tc_atomic_store_release(&s->sweepgen, sg);
  else tc_mcentral_put_swept(&tc_mcentral[s->spanclass], s);
  return false;
}

static bool sweep_span(tc_span_t *s, sweep_to_t to) {
  uint32_t sg = tc_mheap_sweepgen();
  if (TC_DEBUG >= 1 && tc_atomic_load_relaxed(&s->sweepgen) != sg - 1)
    tc_throw("sweeping span 0x%lx with sweepgen %u (heap %u)", (unsigned long)s->base,
             s->sweepgen, sg);
  if (s->large) return sweep_large(s, to == SWEEP_PRESERVE, sg);
  uint32_t live = 0, taken = 0;
  bool sampled = tc_atomic_load_relaxed(&s->nsampled) != 0;
  for (uint32_t i = 0; i < s->nwords; i++) {
    /* gc_free sets freed bits at any time: a word is taken in one exchange,
     * and a bit set after it stays for the next sweep (its slot is kept
     * allocated until then). */
    uint64_t freed = tc_atomic_exchange_acq_rel(&s->freed_bits[i], 0);
    taken += (uint32_t)__builtin_popcountll(freed);
    /* Slots premarked by allocate-black but never handed out are free. */
    uint64_t keep = s->mark_bits[i] & ~freed & tc_span_allocated_word(s, i);
    /* Sampled slots being freed (sampled & ~keep) are reported to the heap
     * profiler; only surviving sampled bits stay. */
    if (TC_UNLIKELY(sampled)) tc_sample_sweep(s, i, keep);
    live += (uint32_t)__builtin_popcountll(keep);
    s->alloc_bits[i] = keep;
    s->mark_bits[i] = 0;
  }
  TC_ASSERT(live <= s->alloc_count);
  uint32_t nfreed = s->alloc_count - live;
  if (nfreed) tc_stats_count_small_frees(tc_spanclass_sizeclass(s->spanclass), nfreed);
  /* nfreed filters lookups (tc_span_is_freed). A gc_free counts its bit
   * after setting it, so it may wrap for a moment; once every gc_free has
   * counted, it is the number of bits set. */
  if (taken) tc_atomic_sub_relaxed(&s->nfreed, taken);
  s->alloc_count = live;
  s->alloc_count_cached = live;
  /* Lookups racing this sweep (gc_base, gc_free's check, gc_weak_new,
   * markers) read free_index first: while they see the old cursor every
   * slot below it counts as allocated; once they see 0 (acquire) they see
   * the new alloc bits. */
  tc_atomic_store_release(&s->free_index, 0);
  tc_span_refill_cache(s, 0);
  if (nfreed) s->needzero = 1;
  if (live == 0 && to != SWEEP_PRESERVE) {
    if (to == SWEEP_KEEP_EMPTY && tc_mcentral_put_empty(&tc_mcentral[s->spanclass], s))
      return false;
    tc_mheap_free_span(s);
    return true;
  }
  if (to == SWEEP_PRESERVE) tc_atomic_store_release(&s->sweepgen, sg);
  else tc_mcentral_put_swept(&tc_mcentral[s->spanclass], s);
  return false;
}

bool tc_span_sweep(tc_span_t *s, bool preserve) {
  return sweep_span(s, preserve ? SWEEP_PRESERVE : SWEEP_LIST);
}

/* Pops and acquires an unswept span of class i, or NULL. */
static tc_span_t *take_unswept(unsigned i, uint32_t sg) {
  tc_mcentral_t *c = &tc_mcentral[i];
  unsigned u = tc_unswept_index(sg);
  if (c->partial[u].first == NULL && c->full[u].first == NULL) return NULL; /* racy peek */
  tc_mutex_lock(&c->lock);
  tc_span_t *s = tc_mcentral_pop_unswept_locked(&c->partial[u], sg);
  if (s == NULL) s = tc_mcentral_pop_unswept_locked(&c->full[u], sg);
  tc_mutex_unlock(&c->lock);
  return s;
}

/* Acquires and sweeps one unswept span of generation sg; its page count,
 * or 0 (and the generation marked drained) when none is left. */
static uintptr_t sweep_one_span(uint32_t sg) {
  unsigned start = sw.next_class;
  for (unsigned k = 0; k < TC_NUM_SPAN_CLASSES; k++) {
    unsigned i = (start + k) % TC_NUM_SPAN_CLASSES;
    tc_span_t *s = take_unswept(i, sg);
    if (s == NULL) continue;
    sw.next_class = i;
    uintptr_t npages = s->npages;
    tc_span_sweep(s, false);
    return npages;
  }
  /* Everything was swept (or is being swept by someone active). */
  tc_atomic_store_release(&sw.drained_gen, sg);
  return 0;
}

/* Acquires s, found through the span map, if it is on an unswept list of
 * its class. The descriptor may be stale by now (swept, freed, reused):
 * descriptors are never unmapped, and a span is taken only if it is on its
 * class's unswept list, checked under that list's lock. */
static bool acquire_listed(tc_span_t *s, uint32_t sg) {
  if (tc_atomic_load_acquire(&s->sweepgen) != sg - 2) return false;
  unsigned sc = __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED);
  if (sc >= TC_NUM_SPAN_CLASSES) return false;
  tc_mcentral_t *c = &tc_mcentral[sc];
  unsigned u = tc_unswept_index(sg);
  tc_mutex_lock(&c->lock);
  /* Read atomically: a stale descriptor may be on another class's list. */
  tc_spanlist_t *l = __atomic_load_n(&s->list, __ATOMIC_RELAXED);
  bool listed = l == &c->partial[u] || l == &c->full[u];
  if (listed) tc_mcentral_take_unswept_locked(s, sg);
  tc_mutex_unlock(&c->lock);
  return listed;
}

bool tc_sweep_leaves_full(const tc_span_t *s, uint32_t sg) {
  if (tc_atomic_load_acquire(&s->sweepgen) != sg - 2) return false;
  if (tc_atomic_load_relaxed(&s->nfreed) != 0) return false;
  /* Every slot stays allocated (marked and handed out, as sweep_span
   * keeps it); most spans that do not fail at their first word. */
  for (uint32_t i = 0; i < s->nwords; i++) {
    uint32_t left = s->nelems - i * 64;
    uint64_t all = left >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << left) - 1;
    if ((tc_atomic_load_relaxed(&s->mark_bits[i]) & tc_span_allocated_word(s, i) & all) != all)
      return false;
  }
  return true;
}

uintptr_t tc_sweep_range(uintptr_t lo, uintptr_t hi) {
  uint32_t sg = tc_mheap_sweepgen();
  uintptr_t a = lo;
  while (a < hi) {
    tc_span_t *s = tc_span_lookup(a);
    uintptr_t next = a + TC_PAGE_SIZE;
    if (s != NULL) {
      /* Racy reads, checked again by acquire_listed under the lock. */
      uintptr_t base, end = tc_span_bounds_racy(s, &base);
      if (base <= a && end > a) next = end;
      if (base == a && end > hi) return a;
      if (base == a && tc_atomic_load_relaxed(&s->state) == TC_SPAN_INUSE) {
        tc_sweep_begin();
        if (acquire_listed(s, sg)) sweep_span(s, SWEEP_KEEP_EMPTY);
        tc_sweep_end();
      }
    }
    a = next;
  }
  return hi;
}

uintptr_t tc_sweep_one(void) {
  /* A mutator sweeps inside a no-stop region: it takes mcentral and heap
   * locks and owns a half-swept span, neither of which may be frozen by a
   * stop (thread.h). The sweep generation is read inside the region: no
   * cycle can end while we are in it, so it stays current. */
  tc_thread_t *t = tc_thread_tls;
  if (t) tc_thread_nostop_enter(t);
  uint32_t sg = tc_mheap_sweepgen();
  uintptr_t n = 0;
  if (tc_atomic_load_acquire(&sw.drained_gen) != sg) {
    tc_sweep_begin();
    n = sweep_one_span(sg);
    tc_sweep_end();
  }
  if (t) tc_thread_nostop_exit(t);
  return n;
}

void tc_sweep_pages(uintptr_t npages) {
  uintptr_t done = 0;
  tc_thread_t *t = tc_thread_tls;
  while (done < npages) {
    if (t) tc_stw_yield(t); /* each sweep is a no-stop region */
    uintptr_t n = tc_sweep_one();
    if (n == 0) return;
    done += n;
  }
}

void tc_sweep_finish(void) {
  while (tc_sweep_one() != 0) {}
  while (tc_atomic_load_acquire(&sw.active) != 0) sched_yield();
}

bool tc_sweep_done(void) {
  uint32_t sg = tc_mheap_sweepgen();
  unsigned u = tc_unswept_index(sg);
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++)
    if (tc_mcentral[i].partial[u].first || tc_mcentral[i].full[u].first) return false;
  return tc_atomic_load_acquire(&sw.active) == 0;
}

void tc_sweep_start_cycle(void) {
  sw.next_class = 0;
  /* The spans of an empty list are swept for the generation that just
   * ended: left listed, they would never be swept again. */
  if (TC_DEBUG >= 1)
    for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++)
      if (tc_mcentral[i].empty.first != NULL)
        tc_throw("sweep generation ends with span 0x%lx on the empty list of class %u",
                 (unsigned long)tc_mcentral[i].empty.first->base, i);
}

/* ---- background sweeper -------------------------------------------------- */

/* Spans swept between yields, so the sweeper gives the CPU back often. */
#define BG_SWEEP_BATCH 16

static void *bg_sweeper(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct sched_param sp = {0};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
  uint64_t seen = 0;
  uint32_t traced_gen = 0;
  for (;;) {
    pthread_mutex_lock(&sw.lock);
    while (sw.wake_gen == seen) pthread_cond_wait(&sw.cond, &sw.lock);
    seen = sw.wake_gen;
    pthread_mutex_unlock(&sw.lock);
    unsigned n = 0;
    for (;;) {
      pthread_mutex_lock(&sw.gate);
      uintptr_t swept = tc_sweep_one();
      pthread_mutex_unlock(&sw.gate);
      if (swept == 0) break;
      if (++n % BG_SWEEP_BATCH == 0) sched_yield();
    }
    /* GCTRACE=2: Go prints its scavtrace line once per cycle, when the
     * cycle's sweep is over (sweepone finding no work). */
    uint32_t sg = tc_mheap_sweepgen();
    if (tc_atomic_load_acquire(&sw.drained_gen) == sg && traced_gen != sg) {
      traced_gen = sg;
      /* The cycle's sweep is over: freed spans are free pages now, which
       * the scavenger may return (it was woken before they were). */
      tc_scavenge_wake();
      if (tc_options.trace >= 2) tc_scavenge_trace(false);
    }
  }
  return NULL;
}

void tc_sweep_wake(void) {
  pthread_mutex_lock(&sw.lock);
  if (!sw.started) {
    if (tc_os_thread_start(bg_sweeper, NULL) == 0) sw.started = true;
  }
  sw.wake_gen++;
  pthread_cond_signal(&sw.cond);
  pthread_mutex_unlock(&sw.lock);
}

/* The background sweeper never runs while the world is stopped: the stale
 * spans the collector pushes onto unswept lists then cannot race a sweeper
 * that already concluded the lists were drained. */
void tc_sweep_pause(void) { pthread_mutex_lock(&sw.gate); }
void tc_sweep_resume(void) { pthread_mutex_unlock(&sw.gate); }

void tc_sweep_after_fork_child(void) {
  pthread_mutex_init(&sw.gate, NULL);
  pthread_mutex_init(&sw.lock, NULL);
  pthread_cond_init(&sw.cond, NULL);
  sw.started = false;
  sw.active = 0;
}
