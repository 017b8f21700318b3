/*
 * cycle.h - the GC cycle state machine, its coordinator thread and the heap
 * trigger.
 *
 * Cycles run on a coordinator thread (unregistered, all signals blocked, so
 * never stopped). A mutator whose allocation finds heap_live at the trigger
 * wakes it and goes on; gc_collect waits for a full cycle that starts after
 * the call (Go's runtime.GC), then sweeps. A cycle, in GCMODE=concurrent
 * and barrier (docs/modes.md):
 *   1. Sweep termination, world running: finish sweeping the last cycle's
 *      spans; refresh global roots (dl_iterate_phdr is unsafe once
 *      stopped); concurrent mode re-protects the pages written since the
 *      last cycle (dirty.h).
 *   2. Stop the world (pause 1): flush every mcache, empty pools into their
 *      victim caches, turn marking on (allocate black; in barrier mode the
 *      write barrier), scan stacks, registers, TLS and user roots
 *      (mark.h tc_mark_begin). Restart.
 *   3. Concurrent mark (mark.h tc_mark_concurrent).
 *   4. Stop the world (pause 2, mark termination): re-scan and drain
 *      (tc_mark_terminate); clear weak handles and queue finalizers of
 *      unreachable objects (special.h); turn marking off; sweepgen += 2
 *      (every span now needs sweeping); flush every mcache; heap_marked =
 *      bytes marked + bytes allocated black; heap_live = heap_marked; next
 *      goal; record the pauses. Restart.
 *   5. Sweep concurrently (sweep.c); run finalizers (finalizer thread).
 * GCMODE=stw: steps 2-4 are one pause that marks everything (tc_mark_stw).
 *
 * heap_live (Go's heapLive): bytes in spans held by mcaches (whole spans
 * minus what was allocated before caching) plus everything marked or
 * allocated since the last mark; reset at mark termination. Checked against
 * the trigger only on span refills and large allocations.
 * The goal and the trigger come from the pacer (pacer.h); with a memory
 * limit the trigger test recomputes them from the current memory figures.
 *
 * Locks (outer first): cycle_lock (held by the coordinator for a whole
 * cycle; fork), world_lock (every stop of the world: cycles,
 * gc_read_memstats, gc_set_profile_rate), then the sweep gate and
 * tc_threads.lock.
 * Go: runtime/mgc.go.
 */
#ifndef TC_CYCLE_H
#define TC_CYCLE_H

#include "atomic.h"
#include "base.h"

/* gc_mode_t values (tricolor.h). */
enum { TC_MODE_CONCURRENT = 0, TC_MODE_BARRIER = 1, TC_MODE_STW = 2 };

typedef struct tc_gcstate {
  int64_t heap_live;      /* atomic */
  uint64_t goal;          /* atomic; UINT64_MAX when collection is off */
  uint64_t trigger;       /* atomic; heap_live that starts a cycle */
  uint64_t heap_marked;   /* written at mark termination */
  int64_t heap_scan;      /* atomic; scannable heap bytes (Go's heapScan) */
  int memory_limited;     /* atomic; a memory limit is set (pacer.h) */
  int mode;               /* TC_MODE_*; fixed once the heap is in use */
  /* 1 from mark begin to mark termination; switched with the world
   * stopped, so stable inside a no-stop region. */
  int marking;
  uint64_t black_bytes;   /* atomic; bytes allocated during this mark */
  int cycle_active;       /* atomic; a cycle is requested or running */
} tc_gcstate_t;

extern tc_gcstate_t tc_gc;

TC_INLINE void tc_gc_heap_live_add(int64_t d) { tc_atomic_add_relaxed(&tc_gc.heap_live, d); }

bool tc_pacer_trigger_slow(uint64_t live);

TC_INLINE bool tc_gc_should_trigger(void) {
  uint64_t live = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  if (live >= tc_atomic_load_relaxed(&tc_gc.trigger)) return true;
  return TC_UNLIKELY(tc_atomic_load_relaxed(&tc_gc.memory_limited)) && tc_pacer_trigger_slow(live);
}

TC_INLINE void tc_gc_heap_scan_add(int64_t d) { tc_atomic_add_relaxed(&tc_gc.heap_scan, d); }

/* Marking is on (read inside a no-stop region, or world stopped). */
TC_INLINE bool tc_gc_marking(void) { return tc_atomic_load_relaxed(&tc_gc.marking) != 0; }

uint64_t tc_gc_goal(void);
void tc_gc_init(void);

/* Requests a heap-triggered cycle (forced=false: returns at once) or runs a
 * full one and waits for it (forced=true, gc_collect). */
void tc_gc_run(bool forced);


/* Runs fn(arg) with the world stopped (not inside a cycle's pause). */
void tc_gc_with_world_stopped(void (*fn)(void *), void *arg);

/* fork(): take every collector lock before, release after. */
void tc_gc_fork_prepare(void);
void tc_gc_fork_parent(void);
void tc_gc_fork_child(void);

/* Takes (releases) the locks a stop of the world holds: the world lock, the
 * sweep gate, tc_threads.lock. The write throttle (throttle.h) holds them
 * while writers are parked, so no other stop and no registration overlaps
 * a throttle stop. */
void tc_gc_lock_stoppers(void);
void tc_gc_unlock_stoppers(void);
/* A mutator waits to stop the world (gc_read_memstats and the like). */
bool tc_gc_stopper_waiting(void);

#endif
