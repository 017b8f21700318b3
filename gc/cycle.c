/*
 * cycle.c - the collection cycle and its coordinator thread (cycle.h).
 */
#include "cycle.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <tricolor.h>

#include "arena.h"
#include "assist.h"
#include "barrier.h"
#include "bucket.h"
#include "config.h"
#include "dirty.h"
#include "error.h"
#include "finalizer.h"
#include "gctrace.h"
#include "marktrace.h"
#include "mark.h"
#include "mcache.h"
#include "mcentral.h"
#include "mheap.h"
#include "options.h"
#include "os.h"
#include "pacer.h"
#include "limiter.h"
#include "scavenge.h"
#include "pool.h"
#include "protect.h"
#include "roots.h"
#include "special.h"
#include "stats.h"
#include "stw.h"
#include "sweep.h"
#include "thread.h"
#include "throttle.h"

tc_gcstate_t tc_gc;

/* Held by the coordinator for a whole cycle, and by fork. Outermost lock. */
static tc_mutex_t cycle_lock = TC_MUTEX_INIT;
/* Held across every stop of the world. */
static tc_mutex_t world_lock = TC_MUTEX_INIT;

/* Requests to the coordinator. A mutator may be stopped while holding
 * ctl.lock, so the coordinator never takes it with the world stopped. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake, done_cv;
  bool running;            /* the coordinator thread exists */
  bool trigger;            /* a heap-triggered cycle was requested */
  uint32_t started, done;  /* cycles started / completed */
  uint32_t begun;          /* cycles whose mark began (stw: completed) */
  uint32_t handled;        /* requests handled (cycles or no-ops) */
  uint32_t force_target;   /* run cycles until this one is started */
} ctl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
         false, false, 0, 0, 0, 0, 0};

void tc_gc_init(void) { tc_pacer_init(); }

uint64_t tc_gc_goal(void) { return tc_atomic_load_relaxed(&tc_gc.goal); }

/* ---- stopping the world -------------------------------------------------- */

void tc_gc_lock_stoppers(void) {
  tc_mutex_lock(&world_lock);
  tc_sweep_pause();
  tc_mutex_lock(&tc_threads.lock);
}

void tc_gc_unlock_stoppers(void) {
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_mutex_unlock(&world_lock);
}

/* The time slice of a thread stopping or restarting the world (os.h): the
 * coordinator's always, another stopper's for the length of its stop. Every
 * signal it sends may wake a sleeping thread onto its own CPU; with the
 * default ~3 ms slice the woken thread preempted it between two signals
 * and a program thread could then keep it queued for a whole slice. */
#define STOPPER_SLICE_NS 100000

/* Stops the world for a cycle's pause: returns when the stop was requested
 * (the pause's start) and sets *stopped_ns to when every thread had parked. */
static uint64_t stop_world(uint64_t *stopped_ns) {
  uint64_t t;
  /* Writers the throttle still holds parked (and its locks): stop the
   * rest (throttle.h). */
  if (tc_throttle_handover()) {
    t = tc_nanotime();
    tc_stw_stop_rest();
  } else {
    tc_gc_lock_stoppers();
    t = tc_nanotime();
    tc_stw_stop(NULL, false);
  }
  *stopped_ns = tc_nanotime();
  return t;
}

/* After the restart (tc_stw_start, which returns the pause's end: Go
 * measures a pause until the world has restarted) and after the pause is
 * recorded: readers of the pause statistics stop the world, which takes
 * this lock. */
static void release_world(void) {
  tc_throttle_clear();
  tc_gc_unlock_stoppers();
}

/* Mutators waiting to stop the world; the write throttle leaves the world
 * lock to them (it would otherwise take it again every few hundred
 * microseconds and starve them). */
static int stoppers_waiting;

bool tc_gc_stopper_waiting(void) { return tc_atomic_load_relaxed(&stoppers_waiting) > 0; }

/* Blocked (stw.h): a cycle's pause, which holds the lock, takes the thread
 * waiting here without a signal. */
static void lock_world(void *arg) {
  (void)arg;
  tc_mutex_lock(&world_lock);
}

void tc_gc_with_world_stopped(void (*fn)(void *), void *arg) {
  tc_thread_t *self = tc_thread_current();
  tc_atomic_add_relaxed(&stoppers_waiting, 1);
  tc_stw_blocking(self, lock_world, NULL);
  tc_atomic_sub_relaxed(&stoppers_waiting, 1);
  tc_sweep_pause();
  tc_mutex_lock(&tc_threads.lock);
  /* The coordinator's short slice for the length of the stop and the
   * restart (coordinator() below). */
  uint64_t slice = tc_os_thread_slice(STOPPER_SLICE_NS);
  uint64_t t0 = tc_nanotime();
  tc_stw_stop(self, true);
  uint64_t t1 = tc_nanotime();
  fn(arg);
  uint64_t t2 = tc_stw_start(self);
  tc_stats_record_other_pause(t1 - t0, t2 - t0);
  if (slice != 0) tc_os_thread_slice(slice);
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_mutex_unlock(&world_lock);
}

static void flush_mcaches(void) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) tc_mcache_release_all(t->mcache);
}

/* ---- the cycle ----------------------------------------------------------- */

/* Pause 1 of the concurrent modes. World stopped. */
static void mark_begin(tc_mark_result_t *mr) {
  if (TC_DEBUG >= 1 && !tc_sweep_done())
    tc_throw("sweep termination: unswept spans remain at mark start");
  /* Spans cached from here on are cached black (mcentral.c). */
  flush_mcaches();
  tc_pool_cleanup();
  tc_atomic_store_relaxed(&tc_gc.black_bytes, 0);
  tc_atomic_store_relaxed(&tc_gc.marking, 1);
  if (tc_gc.mode == TC_MODE_BARRIER) tc_atomic_store_relaxed(&gc_barrier_active_, 1);
  tc_mark_begin(mr);
}

/* The end of mark termination, every mode. World stopped. */
static void mark_done(tc_cycle_record_t *rec, const tc_mark_result_t *mr) {
  rec->goal = tc_pacer_heap_goal(); /* as the mark ends (Go's lastHeapGoal) */
  tc_special_mark_done();
  tc_atomic_store_relaxed(&gc_barrier_active_, 0);
  tc_atomic_store_relaxed(&tc_gc.marking, 0);
  tc_atomic_add_acq_rel(&tc_mheap.sweepgen, 2);
  tc_sweep_start_cycle();
  tc_bucket_next_cycle(); /* heap profile: a new publication cycle (no locks) */
  flush_mcaches();        /* after marking is off: the last black spans are counted */
  rec->heap_live_end = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  uint64_t black = tc_atomic_load_relaxed(&tc_gc.black_bytes);
  uint64_t marked = mr->bytes_marked + black;
  tc_gc.heap_marked = marked;
  tc_atomic_store_relaxed(&tc_gc.heap_live, (int64_t)marked);
  rec->heap_marked = marked;
  rec->black_bytes = black;
  rec->stack_bytes = mr->stack_bytes;
  rec->global_bytes = mr->global_bytes;
  rec->heap_scan_bytes = mr->heap_scan_bytes;
  rec->rounds = mr->rounds;
  rec->dirty_pages = mr->dirty_pages;
  rec->final_dirty_pages = mr->final_dirty_pages;
  rec->term_scan_bytes = mr->term_scan_bytes;
  rec->mark_cpu_ns = mr->mark_cpu_ns;
  rec->assist_ns = mr->assist_ns;
  rec->idle_ns = mr->idle_ns;
  tc_pacer_end_cycle(rec, tc_nanotime());
}

/* Lets the thread that triggered the cycle go on (see tc_gc_run). */
static void announce_begun(uint32_t num) {
  pthread_mutex_lock(&ctl.lock);
  ctl.begun = num;
  pthread_cond_broadcast(&ctl.done_cv);
  pthread_mutex_unlock(&ctl.lock);
}

static void run_cycle(uint32_t num, bool forced) {
  tc_cycle_record_t rec = {0};
  tc_mark_result_t mr;
  rec.num = num;
  rec.forced = forced;
  rec.mode = tc_gc.mode;
  rec.start_ns = tc_nanotime();
  rec.heap_live_start = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  rec.procs = tc_options.procs;
  /* 1. Sweep termination, world running. */
  tc_sweep_finish();
  tc_roots_refresh();
  tc_mark_prepare();
  if (tc_gc.mode == TC_MODE_STW) {
    uint64_t stopped;
    rec.stw_start_ns = rec.sweep_term_ns = stop_world(&stopped);
    rec.stop2_ns = stopped - rec.stw_start_ns;
    if (TC_DEBUG >= 1 && !tc_sweep_done())
      tc_throw("sweep termination: unswept spans remain at mark start");
    tc_pool_cleanup();
    tc_pacer_start_cycle(rec.stw_start_ns);
    tc_mark_stw(&mr);
    mark_done(&rec, &mr);
  } else {
    if (tc_gc.mode == TC_MODE_CONCURRENT) tc_protect_before_mark();
    /* 2. Pause 1. */
    uint64_t stopped;
    uint64_t t1 = rec.sweep_term_ns = stop_world(&stopped);
    rec.stop1_ns = stopped - t1;
    tc_pacer_start_cycle(t1);
    mark_begin(&mr);
    tc_pacer_revise(); /* with the roots' scan work done */
    rec.stw1_ns = tc_stw_start(NULL) - t1;
    release_world();
    tc_limiter_add_gc_ns(rec.stw1_ns * (uint64_t)tc_options.procs);
    tc_limiter_update(true, num, true);
    announce_begun(num);
    /* 3. Concurrent mark. */
    rec.mark_start_ns = tc_nanotime();
    tc_mark_concurrent(&mr);
    rec.mark_end_ns = tc_nanotime();
    /* 4. Pause 2: mark termination. */
    rec.stw_start_ns = stop_world(&stopped);
    rec.stop2_ns = stopped - rec.stw_start_ns;
    tc_mark_terminate(&mr);
    mark_done(&rec, &mr);
    if (tc_gc.mode == TC_MODE_CONCURRENT) tc_protect_arm();
  }
  uint64_t end = tc_stw_start(NULL);
  rec.stw2_ns = end - rec.stw_start_ns;
  tc_stats_record_cycle_stw(&rec, tc_unixnanos());
  release_world();
  rec.stw_end_ns = end;
  tc_limiter_add_gc_ns(rec.stw2_ns * (uint64_t)tc_options.procs);
  tc_limiter_update(false, num, true);
  tc_assist_wake_all();
  tc_bucket_flush(); /* heap profile: publish the cycle that just ended */
  if (tc_gc.mode == TC_MODE_CONCURRENT) tc_protect_lift_and_sweep();
  /* 5. Concurrent sweep; finalizers. */
  tc_sweep_wake();
  tc_finalizer_wake();
  tc_scavenge_wake();
  if (tc_options.trace) tc_gctrace_print(&rec);
  if (tc_options.marktrace) tc_marktrace_print(&rec);
}

/* ---- the coordinator ----------------------------------------------------- */


static void *coordinator(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  tc_os_thread_slice(STOPPER_SLICE_NS);
  pthread_mutex_lock(&ctl.lock);
  for (;;) {
    while (!ctl.trigger && ctl.force_target <= ctl.started)
      pthread_cond_wait(&ctl.wake, &ctl.lock);
    bool forced = ctl.force_target > ctl.started;
    ctl.trigger = false;
    if (!forced && !tc_gc_should_trigger()) {
      tc_atomic_store_relaxed(&tc_gc.cycle_active, 0);
      ctl.handled++;
      pthread_cond_broadcast(&ctl.done_cv);
      continue;
    }
    uint32_t num = ++ctl.started;
    pthread_mutex_unlock(&ctl.lock);
    tc_mutex_lock(&cycle_lock);
    run_cycle(num, forced);
    tc_mutex_unlock(&cycle_lock);
    pthread_mutex_lock(&ctl.lock);
    ctl.done = num;
    if (ctl.begun != num) ctl.begun = num;
    ctl.handled++;
    if (!ctl.trigger && ctl.force_target <= ctl.started)
      tc_atomic_store_relaxed(&tc_gc.cycle_active, 0);
    pthread_cond_broadcast(&ctl.done_cv);
  }
  return NULL;
}

/* Starts the coordinator if it is not running, before a blocked request
 * (pthread_create allocates with libc). */
static void coordinator_started(void) {
  pthread_mutex_lock(&ctl.lock);
  if (!ctl.running) {
    int err = tc_os_thread_start(coordinator, NULL);
    if (err != 0) tc_throw("cannot start the collector thread (error %d)", err);
    ctl.running = true;
  }
  pthread_mutex_unlock(&ctl.lock);
}

/* What a thread asks for and waits for in tc_gc_run: a mark begun by
 * another thread (or that thread's cycle handled otherwise); the mark of
 * the cycle it triggers; the end of the cycle it forces. */
enum { WAIT_OTHERS_MARK, WAIT_BEGUN, WAIT_DONE };

/* Blocked (stw.h): the pauses of the cycle waited for take this thread
 * without signalling it awake. The request is made inside too: waking the
 * coordinator may hand it this thread's CPU at once (its short slice), and
 * a stop that then finds this thread still running would signal it. The
 * coordinator exists already (see coordinator_started): a blocked thread
 * must not call into libc's allocator, as pthread_create does. */
static void cycle_request_and_wait(void *arg) {
  int what = *(const int *)arg;
  pthread_mutex_lock(&ctl.lock);
  uint32_t begun = ctl.begun, handled = ctl.handled, target = 0;
  if (what == WAIT_BEGUN) {
    ctl.trigger = true;
    target = ctl.started + 1;
    pthread_cond_signal(&ctl.wake);
  } else if (what == WAIT_DONE) {
    target = ctl.started + 1;
    if (ctl.force_target < target) ctl.force_target = target;
    tc_atomic_store_relaxed(&tc_gc.cycle_active, 1);
    pthread_cond_signal(&ctl.wake);
  }
  for (;;) {
    bool over;
    if (what == WAIT_OTHERS_MARK)
      over = ctl.begun != begun || ctl.handled != handled ||
             !tc_atomic_load_relaxed(&tc_gc.cycle_active) || tc_gc_marking();
    else if (what == WAIT_BEGUN)
      over = (int32_t)(ctl.begun - target) >= 0 || ctl.handled != handled;
    else
      over = (int32_t)(ctl.done - target) >= 0;
    if (over) break;
    pthread_cond_wait(&ctl.done_cv, &ctl.lock);
  }
  pthread_mutex_unlock(&ctl.lock);
}

void tc_gc_run(bool forced) {
  tc_thread_t *self = tc_thread_current();
  if (self == NULL) return;
  int what = WAIT_DONE;
  if (!forced) {
    /* Many allocations see the trigger crossed; one wakes the coordinator.
     * The others go on, unless the heap has reached the goal before the
     * mark began (the coordinator is still finishing the sweep): then they
     * wait for the mark too, and assist from there. */
    if (tc_atomic_load_relaxed(&tc_gc.cycle_active) ||
        tc_atomic_exchange_acq_rel(&tc_gc.cycle_active, 1)) {
      if (tc_gc_marking() || (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live) <
                                 tc_atomic_load_relaxed(&tc_gc.goal))
        return;
      what = WAIT_OTHERS_MARK;
      tc_stw_blocking(self, cycle_request_and_wait, &what);
      return;
    }
    /* Like Go's gcStart on the triggering goroutine, this thread does not
     * run ahead of the cycle it started: it waits until the mark has begun
     * (assists pace it from there), in stw mode until the cycle is over. */
    what = WAIT_BEGUN;
    coordinator_started();
    tc_stw_blocking(self, cycle_request_and_wait, &what);
    return;
  }
  coordinator_started();
  tc_stw_blocking(self, cycle_request_and_wait, &what);
  tc_sweep_finish();      /* like runtime.GC: the heap is swept on return */
  tc_bucket_post_sweep(); /* so the heap profile is as of this cycle */
}

/* ---- fork ---------------------------------------------------------------- */

/* fork(): cycles (a running one is waited out), other stops and the
 * background sweeper are held off, the registry is locked, and every other
 * registered thread is let out of (and kept out of) its no-stop regions, so
 * no span operation is half done and no allocator lock is held (thread.h).
 * The world is not stopped: glibc takes malloc and stdio locks after these
 * handlers, and a stopped thread could hold one. The central and heap locks
 * are then taken, against the (unregistered) background sweeper's last
 * span. */
void tc_gc_fork_prepare(void) {
  tc_mutex_lock(&cycle_lock);
  tc_mutex_lock(&world_lock);
  tc_sweep_pause();
  tc_mutex_lock(&tc_threads.lock);
  tc_thread_fork_quiesce();
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) tc_mutex_lock(&tc_mcentral[i].lock);
  tc_mutex_lock(&tc_mheap.lock);
}

static void fork_release(void) {
  tc_mutex_unlock(&tc_mheap.lock);
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) tc_mutex_unlock(&tc_mcentral[i].lock);
  tc_thread_fork_release();
}

void tc_gc_fork_parent(void) {
  fork_release();
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_mutex_unlock(&world_lock);
  tc_mutex_unlock(&cycle_lock);
}

void tc_gc_fork_child(void) {
  /* Only this thread exists. Locks were taken by it, so unlocking is valid;
   * state owned by threads that vanished is rebuilt: their cached spans
   * (counts repaired) go back to the central lists; the coordinator,
   * markers, sweeper and finalizer thread are started again on demand. */
  fork_release();
  tc_thread_after_fork_child();
  tc_mark_after_fork_child();
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_sweep_after_fork_child();
  tc_dirty_after_fork_child(tc_arenas.lo, tc_arenas.committed);
  tc_finalizer_after_fork_child();
  tc_scavenge_after_fork_child();
  tc_assist_after_fork_child();
  tc_limiter_after_fork_child();
  pthread_mutex_init(&ctl.lock, NULL);
  pthread_cond_init(&ctl.wake, NULL);
  pthread_cond_init(&ctl.done_cv, NULL);
  ctl.running = false;
  ctl.trigger = false;
  ctl.force_target = ctl.started;
  ctl.done = ctl.started;
  tc_gc.cycle_active = 0;
  tc_mutex_unlock(&world_lock);
  tc_mutex_unlock(&cycle_lock);
}

/* ---- public API ---------------------------------------------------------- */

__attribute__((visibility("default"))) void gc_collect(void) { tc_gc_run(true); }

__attribute__((visibility("default"))) void gc_free_os_memory(void) {
  tc_gc_run(true);
  tc_scavenge_release(UINT64_MAX, TC_SCAV_FORCED);
  if (tc_options.trace >= 2) tc_scavenge_trace(true);
}
