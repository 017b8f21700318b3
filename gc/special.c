/*
 * special.c - the table of finalizer and weak records (special.h).
 */
#include "special.h"

#include "atomic.h"
#include "error.h"
#include "finalizer.h"
#include "findobject.h"
#include "lock.h"
#include "mark.h"
#include "os.h"
#include "thread.h"
#include "weak.h"

#define EMPTY 0
#define DELETED 1
#define MIN_CAP 64

static struct {
  tc_mutex_t lock;
  tc_special_t *v;   /* cap entries, mmap'd */
  size_t cap;        /* power of two, or 0 */
  size_t used;       /* live + deleted entries */
  size_t live;       /* atomic: live entries (gc_free's quick check) */
} sp = {TC_MUTEX_INIT, NULL, 0, 0, 0};

tc_thread_t *tc_special_lock(void) { return tc_mutex_lock_nostop(&sp.lock); }
void tc_special_unlock(tc_thread_t *t) { tc_mutex_unlock_nostop(&sp.lock, t); }

static size_t hash(uintptr_t obj) {
  return (size_t)(((uint64_t)obj >> 3) * 0x9E3779B97F4A7C15ull >> 20);
}

tc_special_t *tc_special_find_locked(uintptr_t obj) {
  if (sp.cap == 0) return NULL;
  size_t mask = sp.cap - 1;
  for (size_t i = hash(obj) & mask;; i = (i + 1) & mask) {
    if (sp.v[i].obj == obj) return &sp.v[i];
    if (sp.v[i].obj == EMPTY) return NULL;
  }
}

static bool grow_locked(void) {
  size_t ncap = sp.cap ? sp.cap * 2 : MIN_CAP;
  /* Rehash at the same size when most used entries are deleted ones. */
  if (sp.cap && tc_atomic_load_relaxed(&sp.live) < sp.cap / 4) ncap = sp.cap;
  tc_special_t *nv = tc_os_alloc(ncap * sizeof *nv);
  if (nv == NULL) return false;
  for (size_t j = 0; j < sp.cap; j++) {
    if (sp.v[j].obj <= DELETED) continue;
    size_t i = hash(sp.v[j].obj) & (ncap - 1);
    while (nv[i].obj != EMPTY) i = (i + 1) & (ncap - 1);
    nv[i] = sp.v[j];
  }
  if (sp.v) tc_os_free(sp.v, sp.cap * sizeof *sp.v);
  sp.v = nv;
  sp.cap = ncap;
  sp.used = tc_atomic_load_relaxed(&sp.live);
  return true;
}

tc_special_t *tc_special_insert_locked(uintptr_t obj) {
  tc_special_t *r = tc_special_find_locked(obj);
  if (r) return r;
  if ((sp.used + 1) * 2 > sp.cap && !grow_locked()) return NULL;
  size_t mask = sp.cap - 1;
  size_t i = hash(obj) & mask;
  while (sp.v[i].obj > DELETED) i = (i + 1) & mask;
  if (sp.v[i].obj == EMPTY) sp.used++;
  sp.v[i] = (tc_special_t){obj, NULL, NULL, NULL, TC_FIN_ORDERED};
  tc_atomic_add_relaxed(&sp.live, 1);
  return &sp.v[i];
}

static void remove_locked(tc_special_t *r) {
  *r = (tc_special_t){DELETED, NULL, NULL, NULL, TC_FIN_ORDERED};
  tc_atomic_sub_relaxed(&sp.live, 1);
}

void tc_special_trim_locked(tc_special_t *r) {
  if (r->fn == NULL && r->weak == NULL) remove_locked(r);
}

void tc_special_on_free(uintptr_t obj) {
  if (tc_atomic_load_relaxed(&sp.live) == 0) return;
  tc_mutex_lock(&sp.lock);
  tc_special_t *r = tc_special_find_locked(obj);
  if (r) {
    if (r->weak) tc_weak_clear(r->weak);
    remove_locked(r);
  }
  tc_mutex_unlock(&sp.lock);
}

/* The contents of obj minus the words pointing into obj itself, as runs. */
static void roots_ignoring_self(uintptr_t obj, uintptr_t end, tc_root_fn heap, void *ctx) {
  uintptr_t run = obj;
  for (uintptr_t a = obj; a < end; a += sizeof(uintptr_t)) {
    uintptr_t v = *(const volatile uintptr_t *)a;
    if (v >= obj && v < end) {
      if (a > run) heap(run, a, ctx);
      run = a + sizeof(uintptr_t);
    }
  }
  if (end > run) heap(run, end, ctx);
}

void tc_special_roots(tc_root_fn offheap, tc_root_fn heap, void *ctx) {
  for (size_t i = 0; i < sp.cap; i++) {
    tc_special_t *r = &sp.v[i];
    if (r->obj <= DELETED || r->fn == NULL) continue;
    offheap((uintptr_t)&r->data, (uintptr_t)(&r->data + 1), ctx);
    if (r->fin_kind == TC_FIN_NO_ORDER) continue;
    tc_object_t o;
    if (!tc_findobject(r->obj, &o) || tc_spanclass_noscan(o.span->spanclass)) continue;
    if (r->fin_kind == TC_FIN_IGNORE_SELF)
      roots_ignoring_self(r->obj, r->obj + o.span->elemsize, heap, ctx);
    else
      heap(r->obj, r->obj + o.span->elemsize, ctx);
  }
  tc_finalizer_roots(offheap, ctx);
}

/* Marks everything reachable from obj (already marked), depth first on an
 * mmap'd stack, with the world stopped. For TC_FIN_NO_ORDER objects, whose
 * contents were no roots: the finalizer must find what obj reaches intact. */
static struct {
  uintptr_t *v;
  size_t n, cap;
} cl;

static void closure_push(uintptr_t base) {
  if (cl.n == cl.cap) {
    size_t ncap = cl.cap ? cl.cap * 2 : 4096;
    uintptr_t *nv = tc_os_alloc(ncap * sizeof *nv);
    if (nv == NULL) tc_throw("out of memory marking a finalizer's closure");
    for (size_t i = 0; i < cl.n; i++) nv[i] = cl.v[i];
    if (cl.v) tc_os_free(cl.v, cl.cap * sizeof *cl.v);
    cl.v = nv;
    cl.cap = ncap;
  }
  cl.v[cl.n++] = base;
}

static void mark_closure(uintptr_t obj) {
  closure_push(obj);
  while (cl.n > 0) {
    uintptr_t base = cl.v[--cl.n];
    tc_object_t o;
    if (!tc_findobject(base, &o) || tc_spanclass_noscan(o.span->spanclass)) continue;
    for (uintptr_t a = base; a < base + o.span->elemsize; a += sizeof(uintptr_t)) {
      tc_object_t q;
      if (!tc_findobject(*(const uintptr_t *)a, &q)) continue;
      uintptr_t b = tc_object_base(&q);
      if (tc_mark_is_marked(b)) continue;
      tc_mark_set(b);
      if (!tc_spanclass_noscan(q.span->spanclass)) closure_push(b);
    }
  }
}

void tc_special_mark_done(void) {
  if (sp.cap == 0) {
    tc_dlink_mark_done(false);
    tc_dlink_mark_done(true);
    return;
  }
  /* Weak handles first: an object kept only for its finalizer is already
   * unreachable for them (as Go clears weak pointers before finalizing). */
  for (size_t i = 0; i < sp.cap; i++) {
    tc_special_t *r = &sp.v[i];
    if (r->obj <= DELETED || r->weak == NULL) continue;
    if (!tc_mark_is_marked((uintptr_t)r->weak)) {
      r->weak = NULL;
    } else if (!tc_mark_is_marked(r->obj)) {
      tc_weak_clear(r->weak);
      r->weak = NULL;
    }
    tc_special_trim_locked(r);
  }
  tc_dlink_mark_done(false);
  for (size_t i = 0; i < sp.cap; i++) {
    tc_special_t *r = &sp.v[i];
    if (r->obj <= DELETED || r->fn == NULL || tc_mark_is_marked(r->obj)) continue;
    tc_finalizer_enqueue(r->obj, r->fn, r->data);
    tc_mark_set(r->obj);
    if (r->fin_kind == TC_FIN_NO_ORDER) mark_closure(r->obj);
    r->fn = NULL;
    r->data = NULL;
    tc_special_trim_locked(r);
  }
  tc_dlink_mark_done(true);
}
