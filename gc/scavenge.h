/*
 * scavenge.h - returning free heap pages to the OS (Go's scavenger).
 *
 * Owns: the retained-memory goals, the background scavenger thread, the
 * allocation-time ("eager") scavenging, gc_free_os_memory, and the GCTRACE=2
 * scavtrace line.
 *
 * Goals, set at every pacer commit (Go's gcPaceScavenger):
 *   retained = heap_inuse + heap_free (resident heap: HeapInuse + HeapIdle -
 *              HeapReleased);
 *   percent goal = last_heap_inuse * (heap_goal / last_heap_goal) * 1.10,
 *              none before the second cycle;
 *   limit goal  = memory limit * 0.95, against mapped-and-ready memory
 *              (sys - heap_released).
 * The background thread releases while retained > percent goal or
 * mapped-ready > limit goal, 64 KiB at a time, highest addresses first, at
 * about 1% of the CPU (GCPROCS x 1% of one thread's time, measured per
 * batch; it sleeps the rest). When an allocation makes scavenged pages
 * resident again (heap growth or reuse) and that takes the heap past a goal,
 * the allocating thread releases as much at once (Go's allocSpan), unless
 * the GC CPU limiter is on.
 * A released run is taken out of the page allocator under the heap lock,
 * given back to the OS with madvise(MADV_DONTNEED) outside it, and returned
 * marked scavenged; in GCMODE=concurrent its pages are write-protected
 * again (dirty.h), so a write after reuse is still recorded.
 * Go: runtime/mgcscavenge.go, mheap.go (allocSpan).
 */
#ifndef TC_SCAVENGE_H
#define TC_SCAVENGE_H

#include "base.h"

enum { TC_SCAV_BG = 0, TC_SCAV_EAGER = 1, TC_SCAV_FORCED = 2 };

/* World stopped (pacer commit) or under the pacer's rules: new goals. */
void tc_scavenge_set_goals(uint64_t heap_goal, uint64_t last_heap_goal,
                           uint64_t last_heap_inuse, int64_t memory_limit);
/* The heap made `bytes` of scavenged pages resident (grew: the heap grew):
 * records what should be released at once. Called in no-stop regions, so
 * it only records; the allocating thread releases it with
 * tc_scavenge_pay_eager once out of the region (a stop never waits for
 * madvise calls). */
void tc_scavenge_after_alloc(uint64_t bytes, bool grew);
extern uint64_t tc_scavenge_eager_owed; /* atomic */
void tc_scavenge_pay_eager_slow(void);
TC_INLINE void tc_scavenge_pay_eager(void) {
  if (TC_UNLIKELY(__atomic_load_n(&tc_scavenge_eager_owed, __ATOMIC_RELAXED) != 0))
    tc_scavenge_pay_eager_slow();
}
/* Releases up to `bytes` of free resident pages now; returns bytes released. */
uint64_t tc_scavenge_release(uint64_t bytes, int kind);
/* After a cycle: wake the background scavenger if a goal is exceeded. */
void tc_scavenge_wake(void);
/* GCTRACE=2: Go's scavtrace line for the work since the last line. At most
 * one unforced line per sweep generation (the background sweeper's, when
 * the sweep is over); a forced line (gc_free_os_memory) always prints and
 * suppresses a later unforced one of the same generation. */
void tc_scavenge_trace(bool forced);
/* Cumulative CPU ns of background and eager scavenging. */
void tc_scavenge_cpu(uint64_t *bg_ns, uint64_t *eager_ns);
void tc_scavenge_after_fork_child(void);

#endif
