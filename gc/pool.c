/*
 * pool.c - object pools with a victim cache (pool.h).
 */
#include "pool.h"

#include <string.h>

#include <tricolor.h>

#include "barrier.h"
#include "error.h"
#include "fixalloc.h"
#include "lock.h"
#include "roots.h"
#include "thread.h"

struct gc_pool {
  tc_mutex_t lock;
  void *(*make)(void);
  struct gc_pool *next;          /* all pools; written once at creation */
  size_t n, cap, vn;
  /* The two roots, adjacent: one internal root range covers both. */
  void **items;
  void **victim;
  tc_root_handle_t root;
};

static tc_mutex_t pools_lock = TC_MUTEX_INIT;
static struct gc_pool *pools; /* read with the world stopped */

void tc_pool_cleanup(void) {
  for (struct gc_pool *p = pools; p; p = p->next) {
    p->victim = p->items;
    p->vn = p->n;
    p->items = NULL;
    p->n = p->cap = 0;
  }
}

__attribute__((visibility("default"))) gc_pool_t *gc_pool_new(void *(*make)(void)) {
  struct gc_pool *p = tc_persistent_alloc(sizeof *p, 64);
  if (p == NULL) return NULL;
  memset(p, 0, sizeof *p);
  tc_mutex_init(&p->lock);
  p->make = make;
  tc_roots_add_internal(&p->root, &p->items, &p->victim + 1);
  tc_thread_t *t = tc_mutex_lock_nostop(&pools_lock);
  p->next = pools;
  pools = p;
  tc_mutex_unlock_nostop(&pools_lock, t);
  return p;
}

__attribute__((visibility("default"))) void *gc_pool_get(gc_pool_t *p) {
  void *obj = NULL;
  tc_thread_t *t = tc_mutex_lock_nostop(&p->lock);
  if (p->n > 0) {
    obj = p->items[--p->n];
    p->items[p->n] = NULL;
  } else if (p->vn > 0) {
    obj = p->victim[--p->vn];
    p->victim[p->vn] = NULL;
  }
  tc_mutex_unlock_nostop(&p->lock, t);
  if (obj == NULL && p->make) obj = p->make();
  return obj;
}

__attribute__((visibility("default"))) void gc_pool_put(gc_pool_t *p, void *obj) {
  if (obj == NULL) return;
  for (;;) {
    tc_thread_t *t = tc_mutex_lock_nostop(&p->lock);
    if (p->n < p->cap) {
      tc_barrier_store(&p->items[p->n++], obj);
      tc_mutex_unlock_nostop(&p->lock, t);
      return;
    }
    size_t want = p->cap ? p->cap * 2 : 16;
    tc_mutex_unlock_nostop(&p->lock, t);
    /* Allocated outside the lock (allocation may wait for a sweep). */
    void **arr = gc_alloc(want * sizeof *arr);
    if (arr == NULL) return; /* out of memory: the object is simply not pooled */
    t = tc_mutex_lock_nostop(&p->lock);
    if (p->cap < want) {
      /* A cleanup may have run meanwhile: n is what the primary holds now. */
      if (p->n) {
        memcpy(arr, p->items, p->n * sizeof *arr);
        tc_barrier_copied(arr, p->n * sizeof *arr);
      }
      p->items = arr;
      p->cap = want;
    }
    tc_mutex_unlock_nostop(&p->lock, t);
  }
}
