/*
 * cycle.h - the GC cycle state machine and the heap trigger.
 *
 * A cycle (stop-the-world marking in this version; docs/design.md):
 *   0. Trigger: heap_live reaches the goal (allocation slow path) or
 *      gc_collect. Cycles are serialized by tc_gc.lock; a heap-triggered
 *      request that finds the heap back under the goal does nothing.
 *   1. Sweep termination (world running): finish sweeping the last cycle's
 *      spans; refresh global roots (dl_iterate_phdr is unsafe once stopped).
 *   2. Stop the world (stw.c). Mark in parallel from all roots (mark.c).
 *   3. Mark termination: sweepgen += 2 (every span now needs sweeping),
 *      flush every thread's mcache, heap_marked = bytes marked, heap_live =
 *      heap_marked, next goal = heap_marked * (1 + GCPERCENT/100) (at least
 *      4 MiB * GCPERCENT/100), record the pause. Restart the world.
 *   4. Sweep concurrently (sweep.c); gc_collect sweeps everything itself.
 *
 * heap_live (Go's heapLive): bytes in spans held by mcaches (whole spans
 * minus what was allocated before caching) plus everything marked or
 * allocated since the last mark; reset at mark termination. Checked against
 * the goal only on span refills and large allocations.
 * Go: runtime/mgc.go.
 */
#ifndef TC_CYCLE_H
#define TC_CYCLE_H

#include "atomic.h"
#include "base.h"

typedef struct tc_gcstate {
  int64_t heap_live;      /* atomic */
  uint64_t goal;          /* atomic; UINT64_MAX when collection is off */
  uint64_t heap_marked;   /* written at mark termination */
  int percent;            /* atomic; negative = off */
} tc_gcstate_t;

extern tc_gcstate_t tc_gc;

TC_INLINE void tc_gc_heap_live_add(int64_t d) { tc_atomic_add_relaxed(&tc_gc.heap_live, d); }

TC_INLINE bool tc_gc_should_trigger(void) {
  return (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live) >=
         tc_atomic_load_relaxed(&tc_gc.goal);
}

uint64_t tc_gc_goal(void);
void tc_gc_init(void);

/* Runs a cycle: heap-triggered (forced=false) or gc_collect (forced=true). */
void tc_gc_run(bool forced);

/* Runs fn(arg) with the world stopped (and no cycle or sweeper running). */
void tc_gc_with_world_stopped(void (*fn)(void *), void *arg);

/* fork(): take every collector lock before, release after. */
void tc_gc_fork_prepare(void);
void tc_gc_fork_parent(void);
void tc_gc_fork_child(void);

#endif
