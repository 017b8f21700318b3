/*
 * pacer.h - Go's GC pacer (the redesign of proposal 44167, Go 1.18+; the
 * memory limit of Go 1.19): heap goal, trigger, assist ratio, cons/mark.
 *
 * Owns: GCPERCENT and the memory limit (gc_set_percent,
 * gc_set_memory_limit), the inputs measured by the last mark (M bytes
 * marked, heap scan work, stack and global bytes scanned), the cons/mark
 * history, and the goal and trigger it publishes in tc_gc (cycle.h).
 *
 *   goal    = M + (M + S + G) * GCPERCENT/100, at least 4 MiB * GCPERCENT/100;
 *             with a memory limit, lowered to limit - non-heap memory -
 *             headroom (max(3%, 1 MiB)), never below M; while a cycle runs,
 *             at least the heap at its start + 64 KiB.
 *   runway  = cons/mark * (1 - 0.25)/0.25 * (last heap scan + S + G)
 *   trigger = goal - runway, clamped to [M + 45/64 (goal - M),
 *             max(M + 61/64 (goal - M), goal - 4 MiB)]; the goal itself in
 *             GCMODE=stw, where no concurrent mark needs a head start.
 *   cons/mark (end of each cycle) = (heap growth during the mark) *
 *             (u + u_idle) / (scan work * (1 - u)), u = 0.25 + assist
 *             share; the estimate used is the maximum of the last five.
 *   assist ratio (revise) = remaining scan work / remaining heap to the
 *             goal, with Go's extrapolation when the work exceeds the
 *             expectation and 10% extra once the heap is past the goal.
 * The goal and trigger are committed with the world stopped (mark
 * termination) or by a mutator inside a no-stop region holding the pacer
 * lock (gc_set_percent, gc_set_memory_limit): a commit never overlaps a
 * cycle's pause. With a memory limit the goal depends on memory figures
 * that change between cycles, so the trigger test then recomputes it
 * (tc_pacer_trigger_slow), as Go evaluates heapGoal on every trigger test.
 * Go: runtime/mgcpacer.go.
 */
#ifndef TC_PACER_H
#define TC_PACER_H

#include "base.h"
#include "stats.h"

void tc_pacer_init(void);
/* World stopped, the first pause of a cycle (the only one in stw mode):
 * the heap at the trigger, the mark's start time, a first assist ratio. */
void tc_pacer_start_cycle(uint64_t now_ns);
/* World stopped, mark termination: cons/mark from this cycle, the new
 * inputs (M, heap scan, S, G), then a commit. rec->next_goal is filled. */
void tc_pacer_end_cycle(tc_cycle_record_t *rec, uint64_t now_ns);
/* Recomputes the assist ratio (Go's revise). Any thread, any time. */
void tc_pacer_revise(void);
/* Scan work per byte allocated, and its inverse, as of the last revise. */
double tc_pacer_work_per_byte(void);
double tc_pacer_bytes_per_work(void);
/* The heap goal as of now (Go's heapGoal; MemStats next_gc). */
uint64_t tc_pacer_heap_goal(void);
/* With a memory limit: whether heap_live `live` reached the trigger
 * recomputed from the current memory figures. */
bool tc_pacer_trigger_slow(uint64_t live);
int tc_pacer_percent(void);
int64_t tc_pacer_memory_limit(void);
/* The last mark's inputs (metrics). */
uint64_t tc_pacer_heap_marked(void);
uint64_t tc_pacer_last_heap_scan(void);
uint64_t tc_pacer_last_stack_scan(void);
uint64_t tc_pacer_globals_scan(void);
/* The goal captured at the end of the last cycle (scavenger, gctrace). */
uint64_t tc_pacer_last_heap_goal(void);
double tc_pacer_cons_mark(void);

#endif
