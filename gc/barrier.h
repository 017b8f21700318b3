/*
 * barrier.h - the write barrier of GCMODE=barrier (gc_store, GC_STORE).
 *
 * gc_barrier_active_ is 1 exactly while a barrier-mode mark runs; it is
 * switched only with the world stopped (mark begin and termination). The
 * inline check in tricolor.h costs one load and a predictable branch.
 * Go's hybrid barrier: the slow path records the slot's old value (the
 * deletion half, Yuasa) and the new value (the insertion half, Dijkstra) in
 * the thread's buffer, inside a no-stop region, and re-checks the flag
 * there (a thread that read 1 just before mark termination must not shade
 * into the next cycle; one that read 0 just before mark begin held the new
 * value in a register or on its stack, which mark begin scanned). A full
 * buffer is shaded by its thread; mark termination drains the rest.
 * Library code that copies pointers into heap objects in bulk (gc_realloc,
 * pools) calls tc_barrier_copied.
 * Go: runtime/mwbbuf.go, mbarrier.go.
 */
#ifndef TC_BARRIER_H
#define TC_BARRIER_H

#include "base.h"

struct tc_thread;

extern volatile int gc_barrier_active_;

/* A barriered store by library code. */
void tc_barrier_store(void **slot, void *value);
/* [lo, hi) of a heap object was just filled by a bulk copy. */
void tc_barrier_copied(void *lo, size_t n);
/* Shades and empties t's buffer (owner in a no-stop region, or world
 * stopped). */
void tc_barrier_flush(struct tc_thread *t);

#endif
