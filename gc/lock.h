/*
 * lock.h - the collector's mutex. A thin wrapper over pthread mutexes so the
 * lock discipline is spelled in one place:
 *
 * Lock order (outer first): tc_gc.lock (cycles) > tc_threads.lock (registry)
 * > tc_roots.lock > tc_mcentral[i].lock > tc_mheap.lock > tc_fixalloc locks.
 *
 * Rule for stop-the-world: a mutator may hold an allocator lock
 * (mcentral, mheap, roots, fixalloc) only inside a no-stop region
 * (tc_thread_nostop_enter/exit), so when the world is stopped no stopped
 * thread holds one and the collector may take them all.
 */
#ifndef TC_LOCK_H
#define TC_LOCK_H

#include <pthread.h>

#include "base.h"

typedef struct tc_mutex {
  pthread_mutex_t m;
} tc_mutex_t;

#define TC_MUTEX_INIT {PTHREAD_MUTEX_INITIALIZER}

TC_INLINE void tc_mutex_init(tc_mutex_t *l) { pthread_mutex_init(&l->m, NULL); }
TC_INLINE void tc_mutex_lock(tc_mutex_t *l) { pthread_mutex_lock(&l->m); }
TC_INLINE void tc_mutex_unlock(tc_mutex_t *l) { pthread_mutex_unlock(&l->m); }
TC_INLINE bool tc_mutex_trylock(tc_mutex_t *l) {
  return pthread_mutex_trylock(&l->m) == 0;
}

#endif
