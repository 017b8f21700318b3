/*
 * throttle.h - the write throttle of GCMODE=concurrent.
 *
 * Concurrent mode learns of heap writes only by page, after the fact
 * (dirty.h): a thread that writes pointers on fresh pages faster than the
 * markers re-scan them keeps every re-scan round as large as the last,
 * and whatever the last round leaves is re-scanned with the world stopped.
 * Go bounds that work by charging it to the threads that cause it (mark
 * assists, the write barrier's buffer flushes); the throttle does the same
 * for page writes.
 *
 * Once a re-scan round fails to shrink by a quarter (tc_mark_concurrent),
 * the throttle is engaged. At the coordinator's first check it reads each
 * registered thread's page-fault count (/proc/self/task/TID/stat, minflt:
 * a first write to a protected heap page is a fault, so the count is that
 * thread's dirtying); one run window (TC_THROTTLE_RUN_NS) later it reads
 * them again and parks the threads that faulted at least
 * TC_THROTTLE_MIN_FAULTS times, the writers, for a stop window
 * (TC_THROTTLE_STOP_NS), with the stop-the-world handshake aimed at them
 * alone (stw.h); the rest of the program runs on. When a stop window ends
 * the writers are restarted and, at the coordinator's next check a few
 * microseconds later, parked again: while the coordinator drains, the
 * writers run only in those gaps, and in the collections of written pages
 * between drains. Stop windows are short so that a mutator waiting to stop
 * the world (gc_read_memstats) gets in within one. The markers re-scan in
 * the CPU time the writers gave up: the coordinator's fractional duty is
 * suspended while they are parked and that time is counted as assist
 * time. If the next round does not shrink by a quarter either, the writers
 * dirty pages faster than a round re-scans them even so, and every further
 * round would re-scan the same pages: the rounds end there
 * (tc_throttle_engage returns false) and the mark goes to its final
 * stretch (docs/modes.md has the figures).
 *
 * The final stretch: when the rounds end with the throttle on, the writers
 * are parked once more and stay parked through up to
 * TC_FINAL_STRETCH_ROUNDS re-scans (each followed by a collection of what
 * the other threads wrote meanwhile, until one finds few pages) and into
 * mark termination (through the mark's last drain, which re-scans the last
 * collection's pages), whose stop then parks only the other threads;
 * termination collects what those wrote during that short drain. The
 * stretch's drains take one more helper per parked writer
 * (tc_throttle_parked), on the CPUs the writers left.
 *
 * Invariants: the coordinator holds the stoppers' locks (world lock, sweep
 * gate, tc_threads.lock) whenever a thread is parked by the throttle, so no
 * other stop and no registration overlaps; a throttle stop ends at the end
 * of the coordinator's drain, or, in the final stretch, when the world
 * restarts after mark termination (tc_stw_start restarts every thread).
 * Coordinator only, world running.
 */
#ifndef TC_THROTTLE_H
#define TC_THROTTLE_H

#include "base.h"

#define TC_THROTTLE_STOP_NS 1000000u     /* one stop window */
#define TC_THROTTLE_RUN_NS 1000000u      /* the run window that finds the writers */
#define TC_THROTTLE_MIN_FAULTS 16u       /* faults in a run window that make a writer */

/* A mark begins: throttle off, counters cleared. */
void tc_throttle_reset(void);
/* A round did not shrink: turn the throttle on. False if it was on
 * already (the rounds did not shrink with the writers parked either): the
 * mark goes to its final stretch. */
bool tc_throttle_engage(void);
bool tc_throttle_on(void);
/* Writers parked now. */
uint32_t tc_throttle_parked(void);
/* Called by the coordinator between units of mark work: ends a window when
 * it is over. Returns whether writers are parked now (the coordinator then
 * marks without duty-cycling). */
bool tc_throttle_tick(void);
/* Restarts parked writers, if any (not in the final stretch). */
void tc_throttle_release(void);
/* The final stretch of a throttled mark: parks the writers (those of the
 * last window when no new sample is due) and keeps them parked through
 * the last collection of written pages, its re-scan and mark termination,
 * so termination re-scans only what the others wrote. False if the
 * throttle is off or there is no writer to park. */
bool tc_throttle_hold(void);
/* In the final stretch, when others still wrote many pages: parks every
 * thread that faulted TC_THROTTLE_MIN_FAULTS times since the last sample
 * as well. */
void tc_throttle_hold_more(void);
/* Mark termination's stop (cycle.c): true if writers are parked, and the
 * stoppers' locks are held, on its behalf; it then stops only the rest
 * (tc_stw_stop_rest). */
bool tc_throttle_handover(void);
/* After the world restarted (every thread, the writers included): forget
 * the handed-over writers. World lock still held. */
void tc_throttle_clear(void);
/* Coordinator CPU time spent while writers were parked. */
void tc_throttle_charge(uint64_t ns);

/* This mark's marker time charged to the writers (read after
 * tc_mark_concurrent; gctrace counts it as assist time). */
uint64_t tc_throttle_charged_ns(void);
/* Stop windows since start (tests). */
uint64_t tc_throttle_total_stops(void);
/* Marks whose writers were parked through termination, since start
 * (tests). */
uint64_t tc_throttle_total_held(void);
/* Times tc_throttle_engage found the throttle on already, since start:
 * marks whose rounds ended because they did not shrink with the throttle
 * on (tests). */
uint64_t tc_throttle_total_gave_up(void);
/* Mark termination, world stopped: the written pages it collected. */
void tc_throttle_count_final_pages(uint64_t pages);
/* Pages collected by the terminations of held marks, since start (tests:
 * with the writers held, that is what the others wrote between the last
 * collection and the stop). */
uint64_t tc_throttle_total_held_final_pages(void);

#endif
