/*
 * thread.c - thread registry (thread.h).
 */
#include "thread.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "fixalloc.h"
#include "init.h"
#include "barrier.h"
#include "mcache.h"
#include "roots.h"
#include "stw.h"

tc_threads_t tc_threads = {.lock = TC_MUTEX_INIT};
__thread tc_thread_t *tc_thread_tls = NULL;

static tc_fixalloc_t thread_alloc = TC_FIXALLOC_INIT(sizeof(tc_thread_t), "thread");
static pthread_key_t thread_key;

uint64_t tc_thread_sys(void) { return thread_alloc.sys; }

static void thread_key_destructor(void *arg);

void tc_thread_init(void) {
  if (pthread_key_create(&thread_key, thread_key_destructor) != 0)
    tc_throw("pthread_key_create failed");
}

static void stack_bounds(tc_thread_t *t) {
  pthread_attr_t attr;
  void *addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  if (addr == NULL) {
    /* Without bounds, scan 1 MiB above the current frame at most. */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    t->stack_lo = here - ((uintptr_t)1 << 20);
    t->stack_hi = here + 4096;
    return;
  }
  t->stack_lo = (uintptr_t)addr;
  t->stack_hi = (uintptr_t)addr + size;
}

/* The calling thread's rseq cpu_id, if glibc registered an rseq area for
 * it (glibc >= 2.35 does unless GLIBC_TUNABLES=glibc.pthread.rseq=0 or the
 * kernel refused; __rseq_size is then 0). */
static const volatile uint32_t *rseq_cpu_word(void) {
  if (__rseq_size < offsetof(struct rseq, cpu_id) + sizeof(uint32_t)) return NULL;
  const struct rseq *r = (const struct rseq *)((const char *)__builtin_thread_pointer() + __rseq_offset);
  return &r->cpu_id;
}

/* Who the calling thread is, for signals and its CPU clock: at
 * registration, and again in a fork child (a new thread id, and the CPU
 * time seen by the previous stop is the parent's). */
static void set_identity(tc_thread_t *t) {
  t->pthread = pthread_self();
  t->tid = (pid_t)syscall(SYS_gettid);
  t->has_cpu_clock = pthread_getcpuclockid(t->pthread, &t->cpu_clock) == 0;
  t->stop_wall_ns = 0;
  t->rseq_cpu = rseq_cpu_word();
}

static tc_thread_t *register_self(void) {
  tc_gc_ensure_init();
  tc_thread_t *t = tc_fixalloc_alloc(&thread_alloc);
  if (t == NULL) return NULL;
  tc_mcache_t *c = tc_mcache_new();
  if (c == NULL) {
    tc_fixalloc_free(&thread_alloc, t);
    return NULL;
  }
  set_identity(t);
  t->tp = (uintptr_t)__builtin_thread_pointer();
  t->mcache = c;
  stack_bounds(t);
  pthread_setspecific(thread_key, t);
  tc_mutex_lock(&tc_threads.lock);
  t->next = tc_threads.list;
  t->prev = NULL;
  if (tc_threads.list) tc_threads.list->prev = t;
  tc_threads.list = t;
  tc_threads.count++;
  /* Publish under the lock: no stop is in progress while we hold it, and
   * from the moment it is released a stop signal parks this thread. */
  tc_thread_tls = t;
  tc_mcache_tls = c;
  tc_mutex_unlock(&tc_threads.lock);
  return t;
}

tc_thread_t *tc_thread_current(void) {
  tc_thread_t *t = tc_thread_tls;
  if (TC_LIKELY(t != NULL)) return t;
  return register_self();
}

static void unregister(tc_thread_t *t) {
  /* Give the cached spans back first, as the owner. */
  tc_thread_nostop_enter(t);
  tc_mcache_release_all(t->mcache);
  tc_barrier_flush(t);
  tc_thread_nostop_exit(t);
  /* Waits (stoppable) while a collection holds the registry. */
  tc_mutex_lock(&tc_threads.lock);
  if (t->prev) t->prev->next = t->next;
  else tc_threads.list = t->next;
  if (t->next) t->next->prev = t->prev;
  tc_threads.count--;
  /* Unpublish while holding the lock: no stop can target us any more. */
  tc_thread_tls = NULL;
  tc_mcache_tls = &tc_empty_mcache;
  tc_mutex_unlock(&tc_threads.lock);
  pthread_setspecific(thread_key, NULL);
  tc_mcache_delete(t->mcache);
  tc_fixalloc_free(&thread_alloc, t);
}

static void thread_key_destructor(void *arg) {
  tc_thread_t *t = arg;
  if (t != NULL && t == tc_thread_tls) unregister(t);
}

void tc_thread_park_deferred(tc_thread_t *t) {
  t->stop_deferred = 0;
  tc_stw_park(t);
}

int tc_fork_pending;

void tc_thread_fork_wait(tc_thread_t *t) {
  /* Step out of the region, let the fork pass, step back in. Nothing is
   * held yet: this is the outermost entry. */
  while (__atomic_load_n(&tc_fork_pending, __ATOMIC_SEQ_CST)) {
    __atomic_sub_fetch(&t->nostop, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&tc_fork_pending, __ATOMIC_ACQUIRE)) sched_yield();
    __atomic_add_fetch(&t->nostop, 1, __ATOMIC_SEQ_CST);
  }
}

void tc_thread_fork_quiesce(void) {
  tc_thread_t *self = tc_thread_tls;
  __atomic_store_n(&tc_fork_pending, 1, __ATOMIC_SEQ_CST);
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    if (t == self) continue;
    while (__atomic_load_n(&t->nostop, __ATOMIC_SEQ_CST) != 0) sched_yield();
  }
}

void tc_thread_fork_release(void) {
  __atomic_store_n(&tc_fork_pending, 0, __ATOMIC_RELEASE);
}

/* A thread that vanished at fork may have been inside the inline fast path
 * (which is not a no-stop region): alloc_cache, free_index and alloc_count
 * are written one after another. Re-derive alloc_count from the cursor and
 * the bitmap (every slot below free_index is allocated); the cache is
 * re-derived from free_index whenever the span is cached again. The slot
 * being handed out belonged to the dead thread and is unreachable. */
static void repair_dead_mcache(tc_mcache_t *c) {
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) {
    tc_span_t *s = c->alloc[i];
    if (s == &tc_empty_span) continue;
    uint32_t fi = s->free_index, count = fi;
    for (uint32_t w = fi / 64; w < s->nwords; w++) {
      uint64_t bits = s->alloc_bits[w];
      if (w == fi / 64) bits &= ~(uint64_t)0 << (fi % 64);
      count += (uint32_t)__builtin_popcountll(bits);
    }
    s->alloc_count = count;
  }
}

void tc_thread_after_fork_child(void) {
  /* Only the forking thread exists in the child. Other threads' cached
   * spans go back to the central lists; their records are dropped. */
  tc_thread_t *self = tc_thread_tls;
  tc_thread_t *t = tc_threads.list;
  while (t) {
    tc_thread_t *next = t->next;
    if (t != self) {
      repair_dead_mcache(t->mcache);
      tc_mcache_release_all(t->mcache);
      tc_mcache_delete(t->mcache);
      tc_fixalloc_free(&thread_alloc, t);
    }
    t = next;
  }
  tc_threads.list = self;
  tc_threads.count = self ? 1 : 0;
  if (self) {
    self->next = self->prev = NULL;
    set_identity(self);
    self->stop_state = TC_STOP_RUNNING;
  }
}

/* ---- public API ---------------------------------------------------------- */

__attribute__((visibility("default"))) int gc_register_thread(void) {
  if (tc_thread_tls != NULL) return 1;
  return register_self() ? 0 : -1;
}

__attribute__((visibility("default"))) int gc_unregister_thread(void) {
  tc_thread_t *t = tc_thread_tls;
  if (t == NULL) return -1;
  unregister(t);
  return 0;
}

/* The start record of gc_pthread_create lives in collector memory that is
 * scanned as a root until the child has registered, so arg stays alive even
 * if the creator drops it at once. */
typedef struct start_record {
  void *(*start)(void *);
  void *arg;
  tc_root_handle_t root;
} start_record_t;

static tc_fixalloc_t start_alloc = TC_FIXALLOC_INIT(sizeof(start_record_t), "start");

static void *thread_trampoline(void *p) {
  start_record_t *r = p;
  gc_register_thread();
  void *(*start)(void *) = r->start;
  void *arg = r->arg; /* now on this registered thread's stack */
  tc_roots_remove_internal(&r->root);
  tc_fixalloc_free(&start_alloc, r);
  return start(arg);
}

__attribute__((visibility("default"))) int gc_pthread_create(
    pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
    void *arg) {
  tc_gc_ensure_init();
  start_record_t *r = tc_fixalloc_alloc(&start_alloc);
  if (r == NULL) return EAGAIN;
  r->start = start;
  r->arg = arg;
  tc_roots_add_internal(&r->root, &r->arg, &r->arg + 1);
  int err = pthread_create(thread, attr, thread_trampoline, r);
  if (err != 0) {
    tc_roots_remove_internal(&r->root);
    tc_fixalloc_free(&start_alloc, r);
  }
  return err;
}
