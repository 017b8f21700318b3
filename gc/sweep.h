/*
 * sweep.h - concurrent sweeping.
 *
 * After mark termination every in-use span is unswept (sweepgen sg-2). Spans
 * are swept, one at a time, by whoever gets them first through the sweepgen
 * CAS (sg-2 -> sg-1), made as the span leaves its unswept list; a swept span
 * reads swept (sg) as it joins a list, both under the class's lock
 * (mcentral.h):
 *   - the allocation slow path, for the span class it needs (mcentral.c);
 *   - large allocations, which sweep pages before growing the heap;
 *   - the background sweeper thread (SCHED_IDLE), through tc_sweep_one;
 *   - in GCMODE=concurrent, the coordinator right after a mark, in address
 *     order, each part of the heap just after lifting its page protection
 *     (tc_sweep_range, protect.c; allocating threads that find no swept
 *     span take parts of that pass too): spans left without objects stay on an
 *     empty list of their class for the time of that pass (mcentral.h),
 *     so allocating threads take spans whose pages they can write without
 *     a fault;
 *   - the next cycle's starter, which finishes whatever is left before it
 *     stops the world (sweep termination), and gc_collect.
 * Sweeping a span: (mark & ~freed) becomes the alloc bitmap, the mark and
 * freed bitmaps are cleared, free_index restarts at 0; frees are counted; an
 * empty span goes back to the page heap; a large span whose object is
 * unmarked is freed whole.
 * Invariant: all spans are swept before the next mark begins; tc_sweep.active
 * counts sweepers that may hold a span so sweep termination can wait them out.
 * Go: runtime/mgcsweep.go.
 */
#ifndef TC_SWEEP_H
#define TC_SWEEP_H

#include "base.h"
#include "span.h"

/* Register/deregister as an active sweeper (around popping + sweeping). */
void tc_sweep_begin(void);
void tc_sweep_end(void);

/* Sweeps a span the caller acquired (sweepgen sg-1). With preserve the
 * caller keeps the span (it is neither freed nor listed); otherwise it goes
 * to its mcentral's swept lists or back to the heap. Returns true if the span
 * was freed. */
bool tc_span_sweep(tc_span_t *s, bool preserve);

/* Sweeps, in address order, the spans that begin in [lo, hi) and are on
 * their class's unswept lists (not cached); keeps empty ones on their
 * class's empty list while it has room. Returns hi, or the base of a span
 * that runs past hi, left for the caller's next range. */
uintptr_t tc_sweep_range(uintptr_t lo, uintptr_t hi);

/* A hint, read without taking s: s is unswept (sg-2) and its sweep will
 * leave it without a free slot, so nobody allocates in it before the next
 * mark (a slot gc_free'd meanwhile stays allocated until then). */
bool tc_sweep_leaves_full(const tc_span_t *s, uint32_t sg);

/* Sweeps one unswept span; returns its page count, 0 when none is left. */
uintptr_t tc_sweep_one(void);
/* Sweeps until at least npages pages were swept or none are left. */
void tc_sweep_pages(uintptr_t npages);
/* Sweeps everything and waits for other sweepers to finish. */
void tc_sweep_finish(void);
/* True when no unswept span remains (world stopped: exact). */
bool tc_sweep_done(void);

/* Keep the background sweeper out (before stopping the world) and let it
 * back in (after restarting). */
void tc_sweep_pause(void);
void tc_sweep_resume(void);

/* A new sweep generation began (world stopped). */
void tc_sweep_start_cycle(void);
/* Starts the background sweeper thread if needed; wakes it. */
void tc_sweep_wake(void);
void tc_sweep_after_fork_child(void);

#endif
