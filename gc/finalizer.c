/*
 * finalizer.c - finalizers (finalizer.h).
 */
#include "finalizer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <tricolor.h>

#include "atomic.h"
#include "error.h"
#include "findobject.h"
#include "lock.h"
#include "os.h"
#include "special.h"
#include "thread.h"

typedef struct fin {
  uintptr_t obj;
  void (*fn)(void *, void *);
  void *data;
} fin_t;

static struct {
  tc_mutex_t lock;       /* no-stop lock: the collector reads the queue stopped */
  fin_t *v;              /* ring of cap entries, mmap'd */
  size_t cap, head, n;
  uint64_t enqueued;     /* world stopped */
  pthread_mutex_t wlock; /* finalizer thread wake-up */
  pthread_cond_t cond;
  uint64_t wake_seen, wake_gen;
  bool started;
  bool no_thread;        /* tc_finalizer_set_thread(false) */
} fq = {TC_MUTEX_INIT, NULL, 0, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
        0, 0, false, false};

void tc_finalizer_enqueue(uintptr_t obj, void (*fn)(void *, void *), void *data) {
  if (fq.n == fq.cap) {
    size_t ncap = fq.cap ? fq.cap * 2 : 256;
    fin_t *nv = tc_os_alloc(ncap * sizeof *nv);
    if (nv == NULL) tc_throw("out of memory for the finalizer queue");
    for (size_t i = 0; i < fq.n; i++) nv[i] = fq.v[(fq.head + i) % fq.cap];
    if (fq.v) tc_os_free(fq.v, fq.cap * sizeof *fq.v);
    fq.v = nv;
    fq.cap = ncap;
    fq.head = 0;
  }
  fq.v[(fq.head + fq.n) % fq.cap] = (fin_t){obj, fn, data};
  fq.n++;
  fq.enqueued++;
}

void tc_finalizer_roots(tc_root_fn offheap, void *ctx) {
  for (size_t i = 0; i < fq.n; i++) {
    fin_t *f = &fq.v[(fq.head + i) % fq.cap];
    offheap((uintptr_t)&f->obj, (uintptr_t)(f + 1), ctx);
  }
}

/* Takes the next finalizer onto the caller's stack; false if none. */
static bool take(fin_t *out) {
  tc_thread_t *t = tc_mutex_lock_nostop(&fq.lock);
  bool got = fq.n > 0;
  if (got) {
    *out = fq.v[fq.head];
    __asm__ __volatile__("" : : "r"(out) : "memory"); /* in our frame before the slot goes */
    fq.v[fq.head] = (fin_t){0, NULL, NULL};
    fq.head = (fq.head + 1) % fq.cap;
    fq.n--;
  }
  tc_mutex_unlock_nostop(&fq.lock, t);
  return got;
}

static int run_pending(void) {
  int ran = 0;
  fin_t f;
  while (take(&f)) {
    f.fn((void *)f.obj, f.data);
    ran++;
    /* Nothing of the object stays in this frame. */
    __atomic_store_n(&f.obj, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&f.data, NULL, __ATOMIC_RELAXED);
  }
  return ran;
}

static void *finalizer_main(void *arg) {
  /* Created by the collector's thread, which blocks every signal: this one
   * runs user code and must be stoppable. */
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  gc_register_thread();
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&fq.wlock);
    while (fq.wake_gen == seen) pthread_cond_wait(&fq.cond, &fq.wlock);
    seen = fq.wake_gen;
    pthread_mutex_unlock(&fq.wlock);
    run_pending();
  }
  return NULL;
}

void tc_finalizer_set_thread(bool enabled) {
  __atomic_store_n(&fq.no_thread, !enabled, __ATOMIC_RELAXED);
}

size_t tc_finalizer_queued(void) { return __atomic_load_n(&fq.n, __ATOMIC_RELAXED); }

void tc_finalizer_wake(void) {
  if (__atomic_load_n(&fq.n, __ATOMIC_RELAXED) == 0) return;
  if (__atomic_load_n(&fq.no_thread, __ATOMIC_RELAXED)) return;
  pthread_mutex_lock(&fq.wlock);
  if (!fq.started) {
    if (tc_os_thread_start(finalizer_main, NULL) == 0) fq.started = true;
  }
  fq.wake_gen++;
  pthread_cond_signal(&fq.cond);
  pthread_mutex_unlock(&fq.wlock);
}

void tc_finalizer_after_fork_child(void) {
  pthread_mutex_init(&fq.wlock, NULL);
  pthread_cond_init(&fq.cond, NULL);
  fq.started = false;
  tc_finalizer_wake();
}

/* ---- public API ---------------------------------------------------------- */

void tc_finalizer_set(const char *call, void *obj, void (*fn)(void *, void *), void *data,
                      int kind, void (**ofn)(void *, void *), void **odata) {
  tc_object_at(call, obj);
  tc_thread_t *t = tc_special_lock();
  tc_special_t *r = fn ? tc_special_insert_locked((uintptr_t)obj)
                       : tc_special_find_locked((uintptr_t)obj);
  if (ofn) *ofn = r ? r->fn : NULL;
  if (odata) *odata = r && r->fn ? r->data : NULL;
  if (r) {
    r->fn = fn;
    r->data = fn ? data : NULL;
    r->fin_kind = kind;
    tc_special_trim_locked(r);
  }
  tc_special_unlock(t);
  if (fn && r == NULL) tc_misuse(call, obj, "out of memory for the finalizer table");
}

__attribute__((visibility("default"))) void gc_set_finalizer(void *obj,
                                                             void (*fn)(void *, void *),
                                                             void *data) {
  tc_finalizer_set("gc_set_finalizer", obj, fn, data, TC_FIN_ORDERED, NULL, NULL);
}

__attribute__((visibility("default"))) int gc_invoke_finalizers(void) {
  tc_thread_current();
  return run_pending();
}
