/*
 * barrier.c - gc_store's slow path and write-barrier buffers (barrier.h).
 */
#include "barrier.h"

#include <tricolor.h>

#include "atomic.h"
#include "mark.h"
#include "thread.h"

__attribute__((visibility("default"))) volatile int gc_barrier_active_;

void tc_barrier_flush(tc_thread_t *t) {
  if (t->wb_n == 0) return;
  if (tc_atomic_load_relaxed(&gc_barrier_active_)) tc_mark_shade(t->wb, t->wb_n);
  t->wb_n = 0;
}

__attribute__((visibility("default"))) void gc_store_slow_(void **slot, void *value) {
  tc_thread_t *t = tc_thread_current();
  if (TC_UNLIKELY(t == NULL)) {
    *slot = value;
    return;
  }
  tc_thread_nostop_enter(t);
  if (tc_atomic_load_relaxed(&gc_barrier_active_)) {
    if (t->wb_n + 2 > TC_WB_ENTRIES) tc_barrier_flush(t);
    t->wb[t->wb_n++] = (uintptr_t)*slot;
    t->wb[t->wb_n++] = (uintptr_t)value;
  }
  *slot = value;
  tc_thread_nostop_exit(t);
}

__attribute__((visibility("default"))) void gc_store(void **slot, void *value) {
  if (TC_UNLIKELY(gc_barrier_active_)) gc_store_slow_(slot, value);
  else *slot = value;
}

void tc_barrier_store(void **slot, void *value) { gc_store(slot, value); }

void tc_barrier_copied(void *lo, size_t n) {
  if (!TC_UNLIKELY(gc_barrier_active_)) return;
  tc_thread_t *t = tc_thread_current();
  if (t) tc_thread_nostop_enter(t);
  if (tc_atomic_load_relaxed(&gc_barrier_active_))
    tc_mark_shade_range((uintptr_t)lo, (uintptr_t)lo + n);
  if (t) tc_thread_nostop_exit(t);
}
