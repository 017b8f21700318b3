/*
 * stw.h - stopping and restarting the world with signals (Boehm's protocol).
 *
 * Stop: the collector, holding tc_threads.lock, sends the suspend signal to
 * every other registered thread and waits for each to acknowledge. The
 * handler of a thread that is
 *   - inside a no-stop region: records the request and returns; the thread
 *     parks itself when it leaves the region (thread.h);
 *   - executing the inline allocation fast path (its mcache's in_fastpath
 *     is set, or its PC lies in the tc_fastpath section), also when a signal
 *     handler of the program interrupted the fast path and the suspend
 *     signal landed in that handler (the PC is then the handler's, the
 *     flag still says): declines; the collector signals it again, by then
 *     it has left the fast path (a dozen instructions);
 *   - anywhere else: parks. The kernel saved its registers in the signal
 *     frame on its own stack; the handler publishes its stack pointer,
 *     acknowledges, and waits in sigsuspend until the restart signal.
 * So a stopped thread never holds an allocator lock and never has a span
 * half-updated, and the collector may flush every mcache.
 * The restart handler blocks the suspend signal: a restart can be delivered
 * late (a thread that saw the new epoch before it slept returns without
 * consuming it), in the middle of a fast path.
 *
 * Nothing in the handler or in the stopped window allocates with libc,
 * prints, or takes a lock a stopped thread could hold.
 * Signals: GCSIGSUSPEND (default SIGPWR) and GCSIGRESTART (default SIGXCPU).
 */
#ifndef TC_STW_H
#define TC_STW_H

#include "base.h"

struct tc_thread;

void tc_stw_init(void);
/* Caller holds tc_threads.lock and is a registered thread (or none). */
void tc_stw_stop(struct tc_thread *self);
void tc_stw_start(struct tc_thread *self);
/* Stop and restart only the threads whose `throttled` flag is set (the
 * write throttle, throttle.h); the rest of the world runs on. Same
 * handshake and guarantees as tc_stw_stop; caller holds the world lock and
 * tc_threads.lock across both calls. */
void tc_stw_stop_throttled(void);
void tc_stw_start_throttled(void);
/* With the throttled threads parked: stop the others; the world is then
 * stopped, and tc_stw_start restarts everyone. */
void tc_stw_stop_rest(void);
/* Park the calling thread until the world restarts (handler and deferred
 * stops). */
void tc_stw_park(struct tc_thread *t);
bool tc_stw_world_stopped(void);

/* Functions holding an inline allocation fast path go in this section. */
#define TC_FASTPATH __attribute__((section("tc_fastpath"), noinline))

#endif
