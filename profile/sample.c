/*
 * sample.c - sampling countdowns, the sample taken by the allocator, and the
 * spans' sampled bits (sample.h). docs/profiling.md explains the numbers.
 */
#include "sample.h"

#include <tricolor.h>

#include "atomic.h"
#include "bucket.h"
#include "cycle.h"
#include "fmath.h"
#include "init.h"
#include "os.h"
#include "stack.h"
#include "thread.h"

#define TLS __thread __attribute__((tls_model("initial-exec")))

size_t tc_sample_rate;

/* Per-thread splitmix64 state; 0 = not seeded yet. */
static TLS uint64_t rng_state;
/* Set while this thread records a sample: an allocation made underneath
 * (a malloc replaced by gc_alloc, called by the unwinder) is not sampled. */
static TLS bool in_sample;
static uint64_t seed_counter;

void tc_sample_init(size_t rate) { tc_atomic_store_relaxed(&tc_sample_rate, rate); }

static uint64_t rng_next(void) {
  uint64_t x = rng_state;
  if (TC_UNLIKELY(x == 0)) {
    /* Distinct per thread and per run; quality comes from the mixer. */
    x = tc_nanotime() ^ ((uintptr_t)&rng_state * UINT64_C(0x9E3779B97F4A7C15)) ^
        (tc_atomic_add_relaxed(&seed_counter, 1) << 40);
  }
  x += UINT64_C(0x9E3779B97F4A7C15);
  rng_state = x | 1; /* never 0 again; costs one bit of a 64-bit counter */
  uint64_t z = x;
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

int64_t tc_sample_draw(size_t rate) {
  if (rate == 0) return INT64_MAX;
  if (rate == 1) return 0;
  /* u uniform in (0, 1] with 53 random bits: -ln(u) is finite, <= 36.8. */
  double u = (double)((rng_next() >> 11) + 1) * 0x1p-53;
  double next = -tc_log(u) * (double)rate;
  return next >= 0x1p62 ? INT64_MAX : (int64_t)next;
}

int64_t tc_sample_next(void) { return tc_sample_draw(tc_atomic_load_relaxed(&tc_sample_rate)); }

void *tc_sample_alloc(tc_mcache_t *c, tc_span_t *s, uintptr_t p) {
  if (tc_atomic_load_relaxed(&tc_sample_rate) != 0 && !in_sample) {
    in_sample = true;
    uintptr_t stk[TC_STACK_MAX];
    int n = tc_stack_capture(stk, TC_STACK_MAX);
    uint64_t h = tc_bucket_hash(stk, n, s->elemsize);
    /* Record and bit change together under the profile lock (bucket.h).
     * p is live throughout (it is in this frame). */
    tc_thread_t *t = tc_bucket_lock();
    if (tc_bucket_record_alloc_locked(p, s->elemsize, stk, n, h)) {
      uint32_t idx = tc_span_object_index(s, p);
      tc_atomic_add_relaxed(&s->nsampled, 1);
      tc_atomic_fetch_or_relaxed(&s->sampled_bits[idx / 64], UINT64_C(1) << (idx % 64));
    }
    tc_bucket_unlock(t);
    in_sample = false;
  }
  /* A world-stopped gc_set_profile_rate must not be overwritten by a
   * countdown drawn for the old rate: draw and store in a no-stop region. */
  tc_thread_t *t = tc_thread_tls;
  if (t) tc_thread_nostop_enter(t);
  c->next_sample = tc_sample_next();
  if (t) tc_thread_nostop_exit(t);
  return (void *)p;
}

void tc_sample_sweep(tc_span_t *s, uint32_t word, uint64_t keep) {
  /* Without the lock first: the only bits that can appear meanwhile belong
   * to live objects, which are in keep; so no dead bit means nothing to do. */
  if ((tc_atomic_load_relaxed(&s->sampled_bits[word]) & ~keep) == 0) return;
  tc_thread_t *t = tc_bucket_lock();
  uint64_t old = tc_atomic_fetch_and_relaxed(&s->sampled_bits[word], keep);
  uint64_t dead = old & ~keep;
  tc_atomic_sub_relaxed(&s->nsampled, (uint32_t)__builtin_popcountll(dead));
  uintptr_t first = s->base + (uintptr_t)word * 64 * s->elemsize;
  while (dead) {
    unsigned i = (unsigned)__builtin_ctzll(dead);
    dead &= dead - 1;
    tc_bucket_record_free_locked(first + (uintptr_t)i * s->elemsize, s->elemsize, false);
  }
  tc_bucket_unlock(t);
}

void tc_sample_free(tc_span_t *s, uint32_t idx) {
  uint64_t bit = UINT64_C(1) << (idx % 64);
  if (!(tc_atomic_load_relaxed(&s->sampled_bits[idx / 64]) & bit)) return;
  tc_thread_t *t = tc_bucket_lock();
  uint64_t old = tc_atomic_fetch_and_relaxed(&s->sampled_bits[idx / 64], ~bit);
  if (old & bit) {
    tc_atomic_sub_relaxed(&s->nsampled, 1);
    tc_bucket_record_free_locked(s->base + (uintptr_t)idx * s->elemsize, s->elemsize, true);
  }
  tc_bucket_unlock(t);
}

/* ---- public API ---------------------------------------------------------- */

static void reset_countdowns(void *arg) {
  /* World stopped: the owners are not in the middle of a `-=`. */
  size_t rate = tc_atomic_load_relaxed(&tc_sample_rate);
  for (tc_thread_t *t = tc_threads.list; t; t = t->next)
    t->mcache->next_sample = tc_sample_draw(rate);
}

__attribute__((visibility("default"))) size_t gc_set_profile_rate(size_t rate) {
  tc_gc_ensure_init(); /* so GCPROFILERATE is read before, not after, this */
  size_t old = tc_atomic_exchange_acq_rel(&tc_sample_rate, rate);
  tc_gc_with_world_stopped(reset_countdowns, NULL);
  return old;
}
