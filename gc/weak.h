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
 *
 * Disappearing links (Boehm's GC_general_register_disappearing_link and
 * GC_register_long_link, for the bdwgc shim): a word *link that mark
 * termination sets to NULL once obj is found unmarked. Records live in an
 * mmap'd open-addressing table keyed by (link, short/long) that the
 * collector never scans, so a record keeps neither obj nor link's object
 * alive. Short links are cleared before finalizers are queued (an object
 * kept only for its finalizer counts as unreachable), long links after
 * (such an object still counts as reachable). A record whose link lies in
 * a heap object that is unmarked after finalizers were queued is dropped
 * (the link is garbage). Mutators change the table under its no-stop lock;
 * the collector reads it with the world stopped.
 */
#ifndef TC_WEAK_H
#define TC_WEAK_H

#include "base.h"

struct gc_weak {
  uintptr_t obj; /* atomic; 0 once cleared */
};

/* World stopped, or special lock held. */
void tc_weak_clear(struct gc_weak *w);

/* Disappearing links. link must be pointer-aligned; obj is the object whose
 * death clears *link. register: 0, 1 if link is already registered (of
 * that kind; nothing changes), -1 out of memory. unregister: 1 if a record
 * was removed, else 0. move: 0, 1 if new_link is registered already, 4 if
 * link is not (the values of Boehm's GC_SUCCESS, GC_DUPLICATE,
 * GC_NOT_FOUND). */
int tc_dlink_register(void **link, void *obj, bool is_long);
int tc_dlink_unregister(void **link, bool is_long);
int tc_dlink_move(void **link, void **new_link, bool is_long);
/* World stopped, at mark termination (special.c): false before finalizers
 * are queued, true after (see above). */
void tc_dlink_mark_done(bool after_finalizers);

#endif
