/*
 * assist.h - mark assists: allocating threads pay for their allocation with
 * scan work while a mark runs (Go's gcAssistAlloc).
 *
 * Owns: each thread's assist balance (tc_thread_t.assist_bytes, Go's
 * gcAssistBytes: bytes, negative = debt), the background scan credit
 * (Go's bgScanCredit) and the queue of parked assists.
 *
 * Debt: reset to 0 for every thread when a mark begins; a thread is charged
 * what it takes from the heap while marking, at the same points heap_live
 * counts it (a span's free bytes when it caches the span, a large object's
 * size), so the charge costs the fast path nothing.
 * Paying (tc_assist_alloc, after the allocation, outside no-stop regions,
 * skipped while the GC CPU limiter is on):
 *   work = debt * work-per-byte (pacer.h), at least 64 KiB (over-assist to
 *   pre-pay, Go's gcOverAssistWork); steal background credit first; scan the
 *   rest from the gray queue (tc_mark_assist_work); credit the work done at
 *   bytes-per-work. Still in debt with no gray work left: park until
 *   background workers flush credit (they do every 2000+ bytes scanned,
 *   Go's gcCreditSlack) or the mark ends.
 * Invariants: a thread parks only while marking; mark termination wakes
 * every parked assist; balances are touched only by their owner (and by
 * the start of a mark, with the world stopped).
 * Go: runtime/mgcmark.go (gcAssistAlloc, gcParkAssist, gcFlushBgCredit).
 */
#ifndef TC_ASSIST_H
#define TC_ASSIST_H

#include "base.h"

struct tc_thread;

/* Go's gcOverAssistWork and gcCreditSlack. */
#define TC_ASSIST_MIN_WORK ((uint64_t)64 << 10)
#define TC_CREDIT_SLACK 2000

/* World stopped, pause 1: every balance and the credit to zero. */
void tc_assist_start_cycle(void);
/* A background worker scanned `work` bytes: credit for assists. */
void tc_assist_flush_credit(uint64_t work);
/* The calling thread is in debt while marking: pay (see above). */
void tc_assist_alloc(struct tc_thread *t);
/* After mark termination (world running): wake parked assists. */
void tc_assist_wake_all(void);
/* fork(): the child's parked assists vanished; its lock may be held by one. */
void tc_assist_after_fork_child(void);

#endif
