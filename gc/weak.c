/*
 * weak.c - weak handles and disappearing links (weak.h).
 */
#include "weak.h"

#include <tricolor.h>

#include "atomic.h"
#include "error.h"
#include "findobject.h"
#include "lock.h"
#include "mark.h"
#include "os.h"
#include "special.h"
#include "thread.h"

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

/* ---- disappearing links (weak.h) ----------------------------------------- */

#define DL_EMPTY 0
#define DL_DELETED 1

typedef struct dlink {
  uintptr_t key; /* link | is_long, or DL_EMPTY / DL_DELETED */
  uintptr_t obj;
} dlink_t;

static struct {
  tc_mutex_t lock; /* no-stop lock: the collector reads the table stopped */
  dlink_t *v;      /* cap entries, mmap'd, never scanned */
  size_t cap, used, live;
} dl = {TC_MUTEX_INIT, NULL, 0, 0, 0};

static size_t dl_hash(uintptr_t key) {
  return (size_t)(((uint64_t)key >> 2) * 0x9E3779B97F4A7C15ull >> 20);
}

static dlink_t *dl_find(uintptr_t key) {
  if (dl.cap == 0) return NULL;
  size_t mask = dl.cap - 1;
  for (size_t i = dl_hash(key) & mask;; i = (i + 1) & mask) {
    if (dl.v[i].key == key) return &dl.v[i];
    if (dl.v[i].key == DL_EMPTY) return NULL;
  }
}

static bool dl_grow(void) {
  size_t ncap = dl.cap ? dl.cap * 2 : 64;
  if (dl.cap && dl.live < dl.cap / 4) ncap = dl.cap;
  dlink_t *nv = tc_os_alloc(ncap * sizeof *nv);
  if (nv == NULL) return false;
  for (size_t j = 0; j < dl.cap; j++) {
    if (dl.v[j].key <= DL_DELETED) continue;
    size_t i = dl_hash(dl.v[j].key) & (ncap - 1);
    while (nv[i].key != DL_EMPTY) i = (i + 1) & (ncap - 1);
    nv[i] = dl.v[j];
  }
  if (dl.v) tc_os_free(dl.v, dl.cap * sizeof *dl.v);
  dl.v = nv;
  dl.cap = ncap;
  dl.used = dl.live;
  return true;
}

static bool dl_insert(uintptr_t key, uintptr_t obj) {
  if ((dl.used + 1) * 2 > dl.cap && !dl_grow()) return false;
  size_t mask = dl.cap - 1;
  size_t i = dl_hash(key) & mask;
  while (dl.v[i].key > DL_DELETED) i = (i + 1) & mask;
  if (dl.v[i].key == DL_EMPTY) dl.used++;
  dl.v[i] = (dlink_t){key, obj};
  dl.live++;
  return true;
}

static void dl_remove(dlink_t *r) {
  *r = (dlink_t){DL_DELETED, 0};
  dl.live--;
}

static uintptr_t dl_key(void **link, bool is_long) {
  return (uintptr_t)link | (is_long ? 1 : 0);
}

int tc_dlink_register(void **link, void *obj, bool is_long) {
  uintptr_t key = dl_key(link, is_long);
  struct tc_thread *t = tc_mutex_lock_nostop(&dl.lock);
  int res = 0;
  if (dl_find(key)) res = 1;
  else if (!dl_insert(key, (uintptr_t)obj)) res = -1;
  tc_mutex_unlock_nostop(&dl.lock, t);
  return res;
}

int tc_dlink_unregister(void **link, bool is_long) {
  struct tc_thread *t = tc_mutex_lock_nostop(&dl.lock);
  dlink_t *r = dl_find(dl_key(link, is_long));
  if (r) dl_remove(r);
  tc_mutex_unlock_nostop(&dl.lock, t);
  return r != NULL;
}

int tc_dlink_move(void **link, void **new_link, bool is_long) {
  struct tc_thread *t = tc_mutex_lock_nostop(&dl.lock);
  int res = 0;
  dlink_t *r = dl_find(dl_key(link, is_long));
  if (r == NULL) {
    res = 4;
  } else if (new_link != link) {
    if (dl_find(dl_key(new_link, is_long))) {
      res = 1;
    } else {
      uintptr_t obj = r->obj;
      dl_remove(r);
      dl_insert(dl_key(new_link, is_long), obj); /* a slot was just freed */
    }
  }
  tc_mutex_unlock_nostop(&dl.lock, t);
  return res;
}

void tc_dlink_mark_done(bool after_finalizers) {
  for (size_t i = 0; i < dl.cap; i++) {
    dlink_t *r = &dl.v[i];
    if (r->key <= DL_DELETED) continue;
    bool is_long = r->key & 1;
    uintptr_t link = r->key & ~(uintptr_t)1;
    if (after_finalizers) {
      /* A link inside a heap object that is garbage now: drop it. */
      tc_object_t o;
      if (tc_findobject(link, &o) && !tc_mark_is_marked(tc_object_base(&o))) {
        dl_remove(r);
        continue;
      }
    }
    if (is_long != after_finalizers || tc_mark_is_marked(r->obj)) continue;
    *(volatile uintptr_t *)link = 0;
    dl_remove(r);
  }
}
