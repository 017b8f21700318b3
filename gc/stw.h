/*
 * stw.h - stopping the world with signals (Boehm's protocol), restarting it
 * with one futex broadcast.
 *
 * Stop: the collector, holding tc_threads.lock, sends the suspend signal to
 * every other registered thread and waits for each to acknowledge. The
 * handler of a thread that is
 *   - inside a no-stop region: records the request and returns; the thread
 *     parks itself when it leaves the region (thread.h);
 *   - executing the inline allocation fast path (its mcache's in_fastpath
 *     is 1), also when a signal handler of the program interrupted the fast
 *     path and the suspend signal landed in that handler: sets the cache's
 *     stop_waiting and returns. The fast path's exit clears in_fastpath,
 *     then reads stop_waiting and parks the thread if it is set (a dozen
 *     instructions later). A signal between the two finds in_fastpath 0
 *     and parks the thread at once: the span is consistent by then. (It
 *     used to decline and be signalled again; when the stopper shared the
 *     thread's CPU, the new signal arrived before the thread had run one
 *     instruction, and the two traded the CPU for up to 10 ms.)
 *   - anywhere else: parks. The kernel saved its registers in the signal
 *     frame on its own stack; the handler publishes its stack pointer,
 *     acknowledges, and waits (futex on the epoch word, the program's
 *     signals blocked) until a restart changes its state; the restart
 *     bumps the epoch and wakes every parked thread with one call. (A restart signal per thread let the first
 *     thread woken preempt the restarter and keep the rest parked for its
 *     time slice, up to 4 ms.)
 * So a stopped thread never holds an allocator lock and never has a span
 * half-updated, and the collector may flush every mcache.
 *
 * A thread waiting inside the collector (tc_stw_blocking) is taken without
 * a signal: its registers are already on its stack, and it cannot leave the
 * wait until the restart.
 *
 * Nothing in the handler or in the stopped window allocates with libc,
 * prints, or takes a lock a stopped thread could hold.
 * Signals: GCSIGSUSPEND (default SIGPWR); GCSIGRESTART (default SIGXCPU) is
 * reserved, as Boehm's restart signal, and not sent.
 */
#ifndef TC_STW_H
#define TC_STW_H

#include "atomic.h"
#include "base.h"

struct tc_thread;
struct tc_mcache;

void tc_stw_init(void);
/* Caller holds tc_threads.lock and is a registered thread (or none).
 * hold_collector: the caller is not the collector (gc_read_memstats and
 * the like), and collector threads stay stepped aside until the restart:
 * woken at once, the coordinator took the stopper's CPU for a whole slice
 * while the world stood (docs/performance.md, "Sleepers last"). */
void tc_stw_stop(struct tc_thread *self, bool hold_collector);
/* Restarts the world; returns when every thread was released (monotonic
 * ns): the end of the pause, as Go ends one when the world has restarted.
 * The call itself may return later, the threads it woke having taken the
 * caller's CPU. */
uint64_t tc_stw_start(struct tc_thread *self);
/* Stop and restart only the threads whose `throttled` flag is set (the
 * write throttle, throttle.h); the rest of the world runs on. Same
 * handshake and guarantees as tc_stw_stop; caller holds the world lock and
 * tc_threads.lock across both calls. */
void tc_stw_stop_throttled(void);
void tc_stw_start_throttled(void);
/* With the throttled threads parked: stop the others; the world is then
 * stopped, and tc_stw_start restarts everyone. */
void tc_stw_stop_rest(void);
/* A stop still waiting for some threads after tc_stw_rescue_after_ns
 * (250 us; tests lower it) moves them onto the stopper's CPU for the rest
 * of the stop, when their own affinity allows that CPU, and puts their
 * masks back once they have parked. tc_stw_rescues counts the stops that
 * did (atomic). */
extern uint64_t tc_stw_rescue_after_ns;
extern uint64_t tc_stw_rescues;
/* Park the calling thread until the world restarts (handler and deferred
 * stops). */
void tc_stw_park(struct tc_thread *t);

/* Runs fn(arg), a wait inside the collector (for a cycle, the mark's start,
 * assist credit, the world lock), with thread t (the caller, or NULL)
 * marked blocked, as Go counts a goroutine blocked in the runtime as
 * stopped: stops take it where it is, without a signal, and a stop that
 * took it holds it when fn returns until the world restarts. A signal to a
 * sleeping thread must wake it first, on a CPU that may be idle; on this
 * machine's virtual CPUs that wake-up alone has taken 3 ms (performance.md).
 * fn must not touch the heap, allocate, or keep heap pointers in registers
 * only; the caller's own registers are spilled where the scan sees them.
 * The program's signals (all but synchronous faults) are blocked during
 * the wait: a handler could touch the heap while a stop counts the thread
 * as parked. The dead stack below is cleared first (Boehm's
 * GC_clear_stack). Not inside a no-stop region (fn then runs unblocked). */
void tc_stw_blocking(struct tc_thread *t, void (*fn)(void *), void *arg);

/* Collector threads (the coordinator, mark helpers) call this where they
 * hold no lock: while a stop is signalling threads and waiting for them to
 * park, it waits, leaving the CPU to them. One load when no stop is under
 * way. A registered thread calls it only inside a blocked wait (unblock),
 * and tc_stw_yield otherwise. */
extern uint32_t tc_stw_stopping; /* atomic; stops between signalling and the last park */
void tc_stw_step_aside_slow(void);
TC_INLINE void tc_stw_step_aside(void) {
  if (TC_UNLIKELY(tc_atomic_load_relaxed(&tc_stw_stopping) != 0)) tc_stw_step_aside_slow();
}

/* A registered thread's safe point, outside any no-stop region (the
 * allocation slow path, between assist chunks, between sweeps): while a
 * stop is signalling threads, the thread gives itself up as blocked (a
 * blocked wait of nothing, tc_stw_blocking) instead of running on, perhaps
 * on the stopper's CPU, until its signal comes. Go's goroutines check for
 * a pending stop at their safe points the same way. One load otherwise. */
void tc_stw_yield_slow(struct tc_thread *t);
TC_INLINE void tc_stw_yield(struct tc_thread *t) {
  if (TC_UNLIKELY(tc_atomic_load_relaxed(&tc_stw_stopping) != 0)) tc_stw_yield_slow(t);
}
bool tc_stw_world_stopped(void);

/* Functions holding an inline allocation fast path go in this section
 * (the profiler leaves their frames out of stacks, profile/stack.c). */
#define TC_FASTPATH __attribute__((section("tc_fastpath"), noinline))

/* The fast path's exit found a stop waiting (mcache stop_waiting): park
 * until the restart, then return p (the new object, kept visible
 * meanwhile). Out of line. */
void *tc_stw_fastpath_park(struct tc_mcache *c, void *p);

#endif
