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
 *
 * For the bdwgc shim, the finalizer thread can be turned off
 * (tc_finalizer_set_thread(false), before the first cycle queues work):
 * queued finalizers then run only where gc_invoke_finalizers is called, as
 * Boehm GC runs them inside allocation calls; tc_finalizer_queued tells
 * such a poller cheaply whether any wait. tc_finalizer_set carries the
 * ordering kinds of special.h and returns the previous finalizer.
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

/* Sets (fn != NULL) or removes obj's finalizer with kind TC_FIN_*; the
 * previous fn and data are stored through ofn / odata when not NULL.
 * obj must be the start of a live object (misuse aborts naming call). */
void tc_finalizer_set(const char *call, void *obj, void (*fn)(void *, void *), void *data,
                      int kind, void (**ofn)(void *, void *), void **odata);
/* false: no finalizer thread; queued finalizers wait for
 * gc_invoke_finalizers. */
void tc_finalizer_set_thread(bool enabled);
/* Finalizers queued and not yet taken (a relaxed read). */
size_t tc_finalizer_queued(void);

#endif
