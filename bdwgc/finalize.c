/*
 * finalize.c - bdwgc's finalizers and disappearing links.
 *
 * Owns the mapping onto the collector's special records (gc/special.h,
 * gc/finalizer.h, gc/weak.h):
 *   GC_register_finalizer              TC_FIN_ORDERED: the object's contents
 *       are roots, so an object reachable from another finalizable object
 *       is finalized only after it (bdwgc's topological order), and one
 *       that reaches itself is never finalized (as in bdwgc);
 *   GC_register_finalizer_ignore_self  TC_FIN_IGNORE_SELF: pointers from the
 *       object into itself are ignored;
 *   GC_register_finalizer_no_order     TC_FIN_NO_ORDER: contents are no
 *       roots, cycles are finalized in no defined order; what the object
 *       reaches is kept for the finalizer;
 *   fn == 0 unregisters; the previous fn and client data come back through
 *   ofn / ocd. A pointer outside the heap is ignored with ofn/ocd 0, as
 *   bdwgc does; an interior heap pointer aborts naming the call.
 * When finalizers run: on the thread that allocates or calls GC_gcollect
 * (bdwgc's GC_INVOKE_FINALIZERS), never nested inside a finalizer; with
 * GC_finalize_on_demand set, only in GC_invoke_finalizers, and the
 * notifier (GC_finalizer_notifier) is called once when finalizers become
 * ready. tricolor's finalizer thread is off in the shim (init.c).
 * Disappearing links: "short" links (GC_general_register_disappearing_link)
 * are cleared before finalizers are queued, "long" ones
 * (GC_register_long_link) after; see docs/bdwgc.md for how reachability
 * from finalizable objects differs.
 */
#include <tricolor.h>

#include "error.h"
#include "finalizer.h"
#include "special.h"
#include "weak.h"
#include "shim.h"

BDW_API int GC_finalize_on_demand;
BDW_API GC_finalizer_notifier_proc GC_finalizer_notifier;
/* bdwgc's Java-style finalization switch: accepted, no effect (the kinds
 * above already say how each object's contents count). */
BDW_API int GC_java_finalization = 1;

static __thread int running; /* this thread is inside a finalizer batch */
static int notified;         /* atomic: notifier called for the queued batch */

void bdw_finalizers_poll(void) {
  if (__builtin_expect(tc_finalizer_queued() == 0, 1)) {
    if (__atomic_load_n(&notified, __ATOMIC_RELAXED))
      __atomic_store_n(&notified, 0, __ATOMIC_RELAXED);
    return;
  }
  if (__atomic_load_n(&GC_finalize_on_demand, __ATOMIC_RELAXED)) {
    GC_finalizer_notifier_proc fn = __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_RELAXED);
    if (fn && !__atomic_exchange_n(&notified, 1, __ATOMIC_RELAXED)) fn();
    return;
  }
  if (running) return;
  running = 1;
  gc_invoke_finalizers();
  running = 0;
}

static void do_register(const char *call, void *obj, GC_finalization_proc fn, void *cd,
                        int kind, GC_finalization_proc *ofn, void **ocd) {
  bdw_init();
  if (obj == NULL || gc_base(obj) == NULL) {
    if (ofn) *ofn = NULL;
    if (ocd) *ocd = NULL;
    return;
  }
  tc_finalizer_set(call, obj, fn, cd, kind, ofn, ocd);
}

BDW_API void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                   GC_finalization_proc *ofn, void **ocd) {
  do_register("GC_register_finalizer", obj, fn, cd, TC_FIN_ORDERED, ofn, ocd);
}

BDW_API void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                               GC_finalization_proc *ofn, void **ocd) {
  do_register("GC_register_finalizer_ignore_self", obj, fn, cd, TC_FIN_IGNORE_SELF, ofn, ocd);
}

BDW_API void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                            GC_finalization_proc *ofn, void **ocd) {
  do_register("GC_register_finalizer_no_order", obj, fn, cd, TC_FIN_NO_ORDER, ofn, ocd);
}

BDW_API int GC_invoke_finalizers(void) {
  bdw_init();
  int saved = running;
  running = 1;
  int n = gc_invoke_finalizers();
  running = saved;
  return n;
}

BDW_API int GC_should_invoke_finalizers(void) { return tc_finalizer_queued() != 0; }

BDW_API void GC_set_finalize_on_demand(int v) {
  __atomic_store_n(&GC_finalize_on_demand, v, __ATOMIC_RELAXED);
}
BDW_API int GC_get_finalize_on_demand(void) {
  return __atomic_load_n(&GC_finalize_on_demand, __ATOMIC_RELAXED);
}
BDW_API void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn) {
  __atomic_store_n(&GC_finalizer_notifier, fn, __ATOMIC_RELAXED);
}
BDW_API GC_finalizer_notifier_proc GC_get_finalizer_notifier(void) {
  return __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_RELAXED);
}
BDW_API void GC_set_java_finalization(int v) { GC_java_finalization = v; }
BDW_API int GC_get_java_finalization(void) { return GC_java_finalization; }

/* ---- disappearing links --------------------------------------------------- */

static int register_link(const char *call, void **link, const void *obj, bool is_long) {
  bdw_init();
  if (link == NULL || ((uintptr_t)link & (sizeof(void *) - 1)) != 0)
    tc_misuse(call, link, "the link must be a non-NULL, pointer-aligned address");
  if (obj == NULL || gc_base((void *)obj) != obj)
    tc_misuse(call, obj, "the object must be the start of a live GC_malloc object");
  int r = tc_dlink_register(link, (void *)obj, is_long);
  return r < 0 ? BDW_NO_MEMORY : r;
}

BDW_API int GC_general_register_disappearing_link(void **link, const void *obj) {
  return register_link("GC_general_register_disappearing_link", link, obj, false);
}

/* bdwgc: the link lies inside the object whose death clears it. */
BDW_API int GC_register_disappearing_link(void **link) {
  bdw_init();
  return register_link("GC_register_disappearing_link", link, gc_base(link), false);
}

BDW_API int GC_register_long_link(void **link, const void *obj) {
  return register_link("GC_register_long_link", link, obj, true);
}

BDW_API int GC_unregister_disappearing_link(void **link) {
  bdw_init();
  return tc_dlink_unregister(link, false);
}

BDW_API int GC_unregister_long_link(void **link) {
  bdw_init();
  return tc_dlink_unregister(link, true);
}

BDW_API int GC_move_disappearing_link(void **link, void **new_link) {
  bdw_init();
  if (new_link == NULL || ((uintptr_t)new_link & (sizeof(void *) - 1)) != 0)
    tc_misuse("GC_move_disappearing_link", new_link, "the new link must be pointer-aligned");
  return tc_dlink_move(link, new_link, false);
}

BDW_API int GC_move_long_link(void **link, void **new_link) {
  bdw_init();
  if (new_link == NULL || ((uintptr_t)new_link & (sizeof(void *) - 1)) != 0)
    tc_misuse("GC_move_long_link", new_link, "the new link must be pointer-aligned");
  return tc_dlink_move(link, new_link, true);
}
