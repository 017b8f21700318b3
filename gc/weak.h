/*
 * weak.h - weak handles (gc_weak_new / gc_weak_get; Go's weak.Pointer).
 *
 * A handle is a small noscan heap object holding its object's address, so
 * the handle does not keep the object alive and is itself collected when
 * the program drops it. The object's special record (special.h) points at
 * the handle; mark termination clears the handle (world stopped) when the
 * object is unmarked, so every handle of an object turns NULL in the same
 * pause, and gc_weak_get never returns an object the sweep will free. A
 * gc_weak_get racing a mark returns the object into a register or the
 * stack, which mark termination scans: the object is then marked, not
 * cleared.
 */
#ifndef TC_WEAK_H
#define TC_WEAK_H

#include "base.h"

struct gc_weak {
  uintptr_t obj; /* atomic; 0 once cleared */
};

/* World stopped, or special lock held. */
void tc_weak_clear(struct gc_weak *w);

#endif
