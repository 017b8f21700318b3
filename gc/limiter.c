/*
 * limiter.c - the GC CPU limiter (limiter.h).
 */
#include "limiter.h"

#include "options.h"
#include "os.h"
#include "stats.h"

#define UPDATE_PERIOD_NS 10000000ull
#define CAPACITY_PER_PROC_NS 1000000000ull

int tc_limiter_on;

static struct {
  int busy;               /* atomic try-lock around an update */
  uint64_t pending_ns;    /* atomic; GC ns added since the last update */
  uint64_t last_ns;       /* monotonic time of the last update */
  int64_t fill;           /* ns in the bucket */
  uint32_t last_enabled;  /* atomic */
  uint64_t total_gc_ns;   /* atomic */
  bool was_marking;
} lim;

void tc_limiter_add_gc_ns(uint64_t ns) { tc_atomic_add_relaxed(&lim.pending_ns, ns); }

void tc_limiter_update(bool marking, uint32_t cycle, bool force) {
  uint64_t now = tc_nanotime();
  if (!force && now - tc_atomic_load_relaxed(&lim.last_ns) < UPDATE_PERIOD_NS) return;
  int want = 0;
  if (!tc_atomic_cas_acq_rel(&lim.busy, &want, 1)) return;
  if (lim.last_ns == 0) lim.last_ns = tc_stats_init_ns();
  uint64_t procs = (uint64_t)tc_options.procs;
  uint64_t window = now > lim.last_ns ? now - lim.last_ns : 0;
  uint64_t total = window * procs;
  uint64_t gc = tc_atomic_exchange_acq_rel(&lim.pending_ns, 0);
  /* The background workers' 25% over the part of the window that marked:
   * the state at the last update stands for the whole window. */
  if (lim.was_marking) gc += total / 4;
  if (gc > total) gc = total;
  tc_atomic_add_relaxed(&lim.total_gc_ns, gc);
  int64_t cap = (int64_t)(CAPACITY_PER_PROC_NS * procs);
  lim.fill += (int64_t)gc - (int64_t)(total - gc);
  if (lim.fill < 0) lim.fill = 0;
  if (lim.fill > cap) lim.fill = cap;
  bool on = lim.fill == cap;
  if (on && !tc_limiter_limiting()) tc_atomic_store_relaxed(&lim.last_enabled, cycle);
  tc_atomic_store_relaxed(&tc_limiter_on, on ? 1 : 0);
  lim.was_marking = marking;
  tc_atomic_store_relaxed(&lim.last_ns, now);
  tc_atomic_store_release(&lim.busy, 0);
}

void tc_limiter_after_fork_child(void) { lim.busy = 0; }

uint32_t tc_limiter_last_enabled(void) { return tc_atomic_load_relaxed(&lim.last_enabled); }

uint64_t tc_limiter_gc_total_ns(void) { return tc_atomic_load_relaxed(&lim.total_gc_ns); }
