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
 * Once the rounds stop shrinking (tc_mark_concurrent), the coordinator
 * alternates run windows and stop windows. At the end of a run window it
 * reads each registered thread's page-fault count (/proc/self/task/TID/
 * stat, minflt: a first write to a protected heap page is a fault, so the
 * count is that thread's dirtying) and parks the threads that faulted at
 * least TC_THROTTLE_MIN_FAULTS times in it, for TC_THROTTLE_STOP_NS, with
 * the stop-the-world handshake aimed at them alone (stw.h); the rest of
 * the program runs on. The markers re-scan in the CPU time the writers
 * gave up: the coordinator's fractional duty is suspended while they are
 * parked and that time is counted as assist time. Each round that still
 * does not shrink halves the run window (down to TC_THROTTLE_MIN_RUN_NS),
 * so a writer's share of the CPU falls until the rounds converge and mark
 * termination is left a bounded remainder (docs/modes.md).
 *
 * The final stretch: when the rounds end with the throttle on, the writers
 * are parked once more and stay parked through the last collection of
 * written pages and its re-scan into mark termination, whose stop then
 * parks only the other threads; termination re-scans what those wrote in
 * the meantime, which the throttle judged to be little.
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
#define TC_THROTTLE_MIN_RUN_NS 100000u   /* shortest run window */
#define TC_THROTTLE_MIN_FAULTS 16u       /* faults in a run window that make a writer */

/* A mark begins: throttle off, counters cleared. */
void tc_throttle_reset(void);
/* Rounds stopped shrinking: turn the throttle on (run window = stop
 * window), or, when it is on, halve the run window. */
void tc_throttle_tighten(void);
bool tc_throttle_on(void);
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

#endif
