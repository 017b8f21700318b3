/*
 * finalizer.h - gc_set_finalizer and the finalizer queue and thread.
 *
 * Records live in the special table (special.h). Mark termination moves
 * the record of an unreachable object to the queue (world stopped; the
 * queue is mmap'd memory, grown with mmap, never libc malloc) and marks the
 * object, so it and what it reaches survive that cycle. The queue's words
 * are roots until a finalizer has been taken off it: the taker copies the
 * entry to its own stack inside a no-stop region first. The finalizer
 * thread (a registered thread, started on first use) runs them in queue
 * order; gc_invoke_finalizers runs them on the calling thread. After fn
 * ran, an object nothing reaches is reclaimed by the next cycle.
 * Go: runtime/mfinal.go.
 */
#ifndef TC_FINALIZER_H
#define TC_FINALIZER_H

#include "base.h"
#include "roots.h"

/* World stopped. */
void tc_finalizer_enqueue(uintptr_t obj, void (*fn)(void *, void *), void *data);
void tc_finalizer_roots(tc_root_fn offheap, void *ctx);
/* After the world restarted: start or wake the finalizer thread if work
 * is queued. */
void tc_finalizer_wake(void);
void tc_finalizer_after_fork_child(void);

#endif
