/*
 * weak.c - weak handles (weak.h).
 */
#include "weak.h"

#include <tricolor.h>

#include "atomic.h"
#include "error.h"
#include "findobject.h"
#include "special.h"

void tc_weak_clear(struct gc_weak *w) { tc_atomic_store_relaxed(&w->obj, 0); }

__attribute__((visibility("default"))) gc_weak_t *gc_weak_new(void *obj) {
  if (obj == NULL) return NULL;
  tc_object_at("gc_weak_new", obj);
  /* Allocated before taking the lock (allocation may start a cycle). */
  struct gc_weak *h = gc_alloc_noscan(sizeof *h);
  if (h == NULL) return NULL;
  tc_atomic_store_relaxed(&h->obj, (uintptr_t)obj);
  struct tc_thread *t = tc_special_lock();
  tc_special_t *r = tc_special_insert_locked((uintptr_t)obj);
  struct gc_weak *res = NULL;
  if (r) {
    if (r->weak == NULL) r->weak = h;
    res = r->weak;
  }
  tc_special_unlock(t);
  return res;
}

__attribute__((visibility("default"))) void *gc_weak_get(gc_weak_t *w) {
  if (w == NULL) return NULL;
  return (void *)tc_atomic_load_relaxed(&w->obj);
}
