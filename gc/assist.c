/*
 * assist.c - mark assists (assist.h).
 */
#include "assist.h"

#include "atomic.h"
#include "cycle.h"
#include "limiter.h"
#include "mark.h"
#include "os.h"
#include "pacer.h"
#include "stats.h"
#include "stw.h"
#include "thread.h"

/* A parked assist re-checks the credit and the phase this often, in case
 * a wake-up was missed (the flush's check of `parked` is racy by design). */
#define PARK_SLICE_NS 1000000

/* Parked assists wait on a futex word, not a condition variable: markers
 * wake them while mutators may be parked by the write throttle (throttle.h)
 * anywhere, also inside a wait, and a pthread_cond_broadcast can block until
 * such a waiter runs again. FUTEX_WAKE never blocks. */
static struct {
  int64_t credit;         /* atomic; scan bytes (Go's bgScanCredit) */
  int parked;             /* atomic; threads waiting below */
  uint32_t seq;           /* atomic; bumped by every wake-up */
} as;

void tc_assist_start_cycle(void) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) t->assist_bytes = 0;
  tc_atomic_store_relaxed(&as.credit, 0);
}

static void wake(void) {
  tc_atomic_add_acq_rel(&as.seq, 1);
  tc_os_futex_wake(&as.seq);
}

void tc_assist_flush_credit(uint64_t work) {
  tc_atomic_add_relaxed(&as.credit, (int64_t)work);
  if (tc_atomic_load_relaxed(&as.parked) > 0) wake();
}

void tc_assist_after_fork_child(void) { as.parked = 0; }

void tc_assist_wake_all(void) {
  if (tc_atomic_load_relaxed(&as.parked) > 0) wake();
}

/* Takes up to `want` scan bytes of background credit; returns them. */
static uint64_t steal(uint64_t want) {
  int64_t c = tc_atomic_load_relaxed(&as.credit);
  while (c > 0) {
    int64_t take = (uint64_t)c < want ? c : (int64_t)want;
    if (tc_atomic_cas_acq_rel(&as.credit, &c, c - take)) return (uint64_t)take;
  }
  return 0;
}

/* Blocked (stw.h): a pause or throttle stop takes a parked assist without
 * a signal. */
static void park_slice(void *arg) {
  (void)arg;
  tc_atomic_add_acq_rel(&as.parked, 1);
  /* Read the word before the checks: a wake-up after them changes it, and
   * the futex then returns at once. */
  uint32_t seq = tc_atomic_load_acquire(&as.seq);
  if (tc_gc_marking() && tc_atomic_load_acquire(&as.credit) <= 0)
    tc_os_futex_wait(&as.seq, seq, PARK_SLICE_NS);
  tc_atomic_sub_relaxed(&as.parked, 1);
}

void tc_assist_alloc(tc_thread_t *t) {
  /* Scanning CPU time (not wall time: a preempted assist on a loaded
   * machine is not GC work): the GC CPU the limiter sees. */
  uint64_t busy = 0;
  for (;;) {
    if (!tc_gc_marking() || t->assist_bytes >= 0) break;
    tc_limiter_update(true, 0, false);
    if (tc_limiter_limiting()) break;
    tc_pacer_revise();
    double wpb = tc_pacer_work_per_byte(), bpw = tc_pacer_bytes_per_work();
    double debt = (double)-t->assist_bytes;
    double work = wpb * debt;
    if (work < (double)TC_ASSIST_MIN_WORK) {
      work = (double)TC_ASSIST_MIN_WORK;
      debt = bpw * work;
    }
    uint64_t want = (uint64_t)work;
    uint64_t stolen = steal(want);
    if (stolen >= want) {
      t->assist_bytes += (int64_t)debt;
      break;
    }
    if (stolen) t->assist_bytes += 1 + (int64_t)(bpw * (double)stolen);
    /* In chunks: each is a no-stop region, which a stop would wait for. */
    uint64_t done = 0;
    bool found = true;
    while (found && done < want - stolen && tc_gc_marking()) {
      uint64_t got = 0, ns = 0;
      found = tc_mark_assist_work(want - stolen - done, &got, &ns);
      done += got;
      busy += ns;
      tc_stw_yield(t); /* the call ends early for a stop (mark.h) */
    }
    if (done) t->assist_bytes += 1 + (int64_t)(bpw * (double)done);
    if (t->assist_bytes >= 0) break;
    /* In debt and nothing left to scan: the background workers hold the
     * rest of the gray objects. Wait for their credit (Go's gcParkAssist). */
    if (!found || done == 0) tc_stw_blocking(t, park_slice, NULL);
  }
  tc_limiter_add_gc_ns(busy);
}
