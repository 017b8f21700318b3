/*
 * fixalloc.c - persistent chunks and fixed-size free lists (see fixalloc.h).
 * Mirrors Go's persistentalloc/fixalloc (runtime/malloc.go, mfixalloc.go).
 */
#include "fixalloc.h"

#include <string.h>

#include "atomic.h"
#include "os.h"
#include "thread.h"

#define PERSISTENT_CHUNK ((size_t)256 << 10)

static struct {
  tc_mutex_t lock;
  char *cur, *end;   /* protected by lock */
  uint64_t sys;      /* atomic */
} persistent = {TC_MUTEX_INIT, NULL, NULL, 0};

void *tc_persistent_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  if (n >= PERSISTENT_CHUNK / 4) {
    /* Big requests get their own mapping. */
    size_t len = tc_align_up(n, 4096);
    void *p = tc_os_alloc(len);
    if (p) tc_atomic_add_relaxed(&persistent.sys, len);
    return p;
  }
  tc_thread_t *t = tc_mutex_lock_nostop(&persistent.lock);
  uintptr_t p = tc_align_up((uintptr_t)persistent.cur, align);
  if (persistent.cur == NULL || p + n > (uintptr_t)persistent.end) {
    char *c = tc_os_alloc(PERSISTENT_CHUNK);
    if (c == NULL) {
      tc_mutex_unlock_nostop(&persistent.lock, t);
      return NULL;
    }
    tc_atomic_add_relaxed(&persistent.sys, PERSISTENT_CHUNK);
    persistent.cur = c;
    persistent.end = c + PERSISTENT_CHUNK;
    p = tc_align_up((uintptr_t)c, align);
  }
  persistent.cur = (char *)(p + n);
  tc_mutex_unlock_nostop(&persistent.lock, t);
  return (void *)p;
}

uint64_t tc_persistent_sys(void) {
  return tc_atomic_load_relaxed(&persistent.sys);
}

void *tc_fixalloc_alloc(tc_fixalloc_t *f) {
  tc_thread_t *t = tc_mutex_lock_nostop(&f->lock);
  void *p = f->free;
  if (p != NULL) {
    f->free = *(void **)p;
    f->inuse += f->size;
    tc_mutex_unlock_nostop(&f->lock, t);
    memset(p, 0, f->size);
    return p;
  }
  f->inuse += f->size;
  f->sys += f->size;
  tc_mutex_unlock_nostop(&f->lock, t);
  p = tc_persistent_alloc(f->size, f->size % 64 == 0 ? 64 : 16);
  if (p == NULL) {
    t = tc_mutex_lock_nostop(&f->lock);
    f->inuse -= f->size;
    f->sys -= f->size;
    tc_mutex_unlock_nostop(&f->lock, t);
  }
  return p;
}

void tc_fixalloc_free(tc_fixalloc_t *f, void *p) {
  tc_thread_t *t = tc_mutex_lock_nostop(&f->lock);
  *(void **)p = f->free;
  f->free = p;
  f->inuse -= f->size;
  tc_mutex_unlock_nostop(&f->lock, t);
}
