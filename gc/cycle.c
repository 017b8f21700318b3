/*
 * cycle.c - the collection cycle (cycle.h).
 */
#include "cycle.h"

#include <stdint.h>

#include <tricolor.h>

#include "bucket.h"
#include "config.h"
#include "error.h"
#include "mark.h"
#include "mcache.h"
#include "mcentral.h"
#include "mheap.h"
#include "options.h"
#include "os.h"
#include "roots.h"
#include "stats.h"
#include "stw.h"
#include "sweep.h"
#include "thread.h"

tc_gcstate_t tc_gc;

/* Serializes cycles, gc_read_memstats and fork. Outermost lock. */
static tc_mutex_t cycle_lock = TC_MUTEX_INIT;
static uint32_t cycles_started;

static uint64_t compute_goal(uint64_t marked, int percent) {
  if (percent < 0) return UINT64_MAX;
  uint64_t minimum = TC_HEAP_MINIMUM * (uint64_t)percent / 100;
  uint64_t goal = marked + marked / 100 * (uint64_t)percent +
                  marked % 100 * (uint64_t)percent / 100;
  return goal > minimum ? goal : minimum;
}

void tc_gc_init(void) {
  tc_gc.percent = tc_options.percent;
  tc_gc.goal = compute_goal(0, tc_gc.percent);
}

uint64_t tc_gc_goal(void) {
  uint64_t g = tc_atomic_load_relaxed(&tc_gc.goal);
  return g;
}

/* Steps 2-3, world stopped. */
static void mark_and_terminate(tc_thread_t *self, uintptr_t sp, tc_cycle_record_t *rec) {
  if (TC_DEBUG >= 1 && !tc_sweep_done())
    tc_throw("sweep termination: unswept spans remain at mark start");
  tc_mark_result_t mr;
  tc_mark_stw(self, sp, &mr);
  /* Mark termination. */
  tc_atomic_add_acq_rel(&tc_mheap.sweepgen, 2);
  tc_sweep_start_cycle();
  tc_bucket_next_cycle(); /* heap profile: a new publication cycle (no locks) */
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) tc_mcache_release_all(t->mcache);
  tc_gc.heap_marked = mr.bytes_marked;
  tc_atomic_store_relaxed(&tc_gc.heap_live, (int64_t)mr.bytes_marked);
  rec->heap_marked = mr.bytes_marked;
  rec->stack_bytes = mr.stack_bytes;
  rec->global_bytes = mr.global_bytes;
  rec->heap_scan_bytes = mr.heap_scan_bytes;
  rec->next_goal = compute_goal(mr.bytes_marked, tc_atomic_load_relaxed(&tc_gc.percent));
  tc_atomic_store_relaxed(&tc_gc.goal, rec->next_goal);
}

static TC_NOINLINE void run_locked(tc_thread_t *self, bool forced) {
  tc_cycle_record_t rec = {0};
  rec.forced = forced;
  rec.start_ns = tc_nanotime();
  rec.heap_live_start = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  rec.goal = tc_gc_goal();
  rec.procs = tc_options.procs;
  /* 1. Sweep termination, world running. */
  tc_sweep_finish();
  tc_roots_refresh();
  tc_mark_prepare();
  /* 2. Stop the world. Registers of this thread go to its stack first. */
  __builtin_unwind_init();
  volatile uintptr_t marker = 0;
  tc_sweep_pause();
  tc_mutex_lock(&tc_threads.lock);
  rec.stw_start_ns = tc_nanotime();
  tc_stw_stop(self);
  mark_and_terminate(self, (uintptr_t)&marker, &rec);
  rec.num = ++cycles_started;
  uint64_t end = tc_nanotime();
  tc_stats_record_cycle_stw(&rec, end - rec.stw_start_ns, tc_unixnanos());
  tc_stw_start(self);
  tc_mutex_unlock(&tc_threads.lock);
  tc_bucket_flush(); /* heap profile: publish the cycle that just ended */
  tc_sweep_resume();
  rec.stw_end_ns = end;
  (void)marker;
  /* 4. Concurrent sweep. */
  tc_sweep_wake();
}

void tc_gc_run(bool forced) {
  tc_thread_t *self = tc_thread_current();
  if (self == NULL) return;
  tc_mutex_lock(&cycle_lock);
  if (forced || tc_gc_should_trigger()) run_locked(self, forced);
  tc_mutex_unlock(&cycle_lock);
  if (forced) {
    tc_sweep_finish(); /* like runtime.GC: the heap is swept on return */
    tc_bucket_post_sweep(); /* so the heap profile is as of this cycle */
  }
}

void tc_gc_with_world_stopped(void (*fn)(void *), void *arg) {
  tc_thread_t *self = tc_thread_current();
  tc_mutex_lock(&cycle_lock);
  tc_sweep_pause();
  tc_mutex_lock(&tc_threads.lock);
  tc_stw_stop(self);
  fn(arg);
  tc_stw_start(self);
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_mutex_unlock(&cycle_lock);
}

/* ---- fork ---------------------------------------------------------------- */

/* fork(): cycles and the background sweeper are held off, the registry is
 * locked, and every other registered thread is let out of (and kept out of)
 * its no-stop regions, so no span operation is half done and no allocator
 * lock is held (thread.h). The world is not stopped: glibc takes malloc and
 * stdio locks after these handlers, and a stopped thread could hold one.
 * The central and heap locks are then taken, against the (unregistered)
 * background sweeper's last span. */
void tc_gc_fork_prepare(void) {
  tc_mutex_lock(&cycle_lock);
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
  tc_mutex_unlock(&cycle_lock);
}

void tc_gc_fork_child(void) {
  /* Only this thread exists. Locks were taken by it, so unlocking is valid;
   * state owned by threads that vanished is rebuilt: their cached spans
   * (counts repaired) go back to the central lists. */
  fork_release();
  tc_thread_after_fork_child();
  tc_mark_after_fork_child();
  tc_mutex_unlock(&tc_threads.lock);
  tc_sweep_resume();
  tc_sweep_after_fork_child();
  tc_mutex_unlock(&cycle_lock);
}

/* ---- public API ---------------------------------------------------------- */

__attribute__((visibility("default"))) void gc_collect(void) { tc_gc_run(true); }

__attribute__((visibility("default"))) int gc_set_percent(int percent) {
  tc_thread_current();
  tc_mutex_lock(&cycle_lock);
  int old = tc_atomic_exchange_acq_rel(&tc_gc.percent, percent < 0 ? -1 : percent);
  tc_atomic_store_relaxed(&tc_gc.goal, compute_goal(tc_gc.heap_marked, percent < 0 ? -1 : percent));
  tc_mutex_unlock(&cycle_lock);
  return old;
}
