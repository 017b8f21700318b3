/*
 * gcwork.c - work buffers and the global gray list (gcwork.h).
 */
#include "gcwork.h"

#include <pthread.h>

#include "atomic.h"
#include "error.h"
#include "fixalloc.h"

static tc_fixalloc_t workbuf_alloc = TC_FIXALLOC_INIT(sizeof(tc_workbuf_t), "workbuf");

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  tc_workbuf_t *full;   /* protected by lock */
  tc_workbuf_t *empty;  /* protected by lock */
  int nproc;            /* protected by lock */
  int nwait;            /* written atomically under lock; read without it as a hint */
  int holders;          /* protected by lock: assists holding taken work */
  bool done;            /* protected by lock */
  uint64_t phase;       /* protected by lock: number of the current phase */
} work = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, false, 0};

uint64_t tc_gcwork_sys(void) { return workbuf_alloc.sys; }

static tc_workbuf_t *get_empty(void) {
  pthread_mutex_lock(&work.lock);
  tc_workbuf_t *b = work.empty;
  if (b) work.empty = b->next;
  pthread_mutex_unlock(&work.lock);
  if (b == NULL) {
    b = tc_fixalloc_alloc(&workbuf_alloc);
    if (b == NULL) tc_throw("out of memory for mark work buffers");
  }
  b->n = 0;
  b->next = NULL;
  return b;
}

static void put_empty(tc_workbuf_t *b) {
  pthread_mutex_lock(&work.lock);
  b->next = work.empty;
  work.empty = b;
  pthread_mutex_unlock(&work.lock);
}

static void put_full(tc_workbuf_t *b) {
  pthread_mutex_lock(&work.lock);
  b->next = work.full;
  work.full = b;
  if (work.nwait > 0) pthread_cond_signal(&work.cond);
  pthread_mutex_unlock(&work.lock);
}

/* A full buffer from the global list, waiting while other markers may still
 * produce one; NULL once every marker is waiting and the list is empty. */
static tc_workbuf_t *get_full_wait(void) {
  pthread_mutex_lock(&work.lock);
  for (;;) {
    if (work.full != NULL) {
      tc_workbuf_t *b = work.full;
      work.full = b->next;
      pthread_mutex_unlock(&work.lock);
      return b;
    }
    if (work.done) break;
    int nwait = __atomic_add_fetch(&work.nwait, 1, __ATOMIC_RELAXED);
    if (nwait == work.nproc && work.holders == 0) {
      work.done = true;
      pthread_cond_broadcast(&work.cond);
      break;
    }
    pthread_cond_wait(&work.cond, &work.lock);
    __atomic_sub_fetch(&work.nwait, 1, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&work.lock);
  return NULL;
}

uint64_t tc_gcwork_begin_phase(int nproc) {
  pthread_mutex_lock(&work.lock);
  work.nproc = nproc;
  __atomic_store_n(&work.nwait, 0, __ATOMIC_RELAXED);
  work.done = false;
  uint64_t phase = ++work.phase;
  pthread_mutex_unlock(&work.lock);
  return phase;
}

bool tc_gcwork_join(uint64_t phase) {
  pthread_mutex_lock(&work.lock);
  bool ok = !work.done && work.phase == phase;
  if (ok) work.nproc++;
  pthread_mutex_unlock(&work.lock);
  return ok;
}

int tc_gcwork_markers(void) {
  pthread_mutex_lock(&work.lock);
  int n = work.nproc;
  pthread_mutex_unlock(&work.lock);
  return n;
}

void tc_gcwork_init(tc_gcwork_t *w) {
  w->buf1 = get_empty();
  w->buf2 = get_empty();
  w->bytes_marked = 0;
  w->scan_bytes = 0;
  w->npipe = 0;
}

void tc_gcwork_flush(tc_gcwork_t *w) {
  if (w->npipe != 0) tc_throw("mark: work flushed with %lu pointers unshaded", (unsigned long)w->npipe);
  if (w->buf1->n > 0) {
    put_full(w->buf1);
    w->buf1 = get_empty();
  }
  if (w->buf2->n > 0) {
    put_full(w->buf2);
    w->buf2 = get_empty();
  }
}

void tc_gcwork_dispose(tc_gcwork_t *w) {
  if (w->npipe != 0) tc_throw("mark: work given back with %lu pointers unshaded", (unsigned long)w->npipe);
  TC_ASSERT(w->buf1->n == 0 && w->buf2->n == 0);
  put_empty(w->buf1);
  put_empty(w->buf2);
  w->buf1 = w->buf2 = NULL;
}

void tc_gcwork_put_slow(tc_gcwork_t *w, uintptr_t addr, uintptr_t len) {
  tc_workbuf_t *t = w->buf1;
  w->buf1 = w->buf2;
  w->buf2 = t;
  if (w->buf1->n == TC_WORKBUF_ENTRIES) {
    put_full(w->buf1);
    w->buf1 = get_empty();
  }
  w->buf1->e[w->buf1->n++] = (tc_workentry_t){addr, len};
}

bool tc_gcwork_get_slow(tc_gcwork_t *w, tc_workentry_t *out) {
  tc_workbuf_t *t = w->buf1;
  w->buf1 = w->buf2;
  w->buf2 = t;
  if (w->buf1->n == 0) {
    tc_workbuf_t *b = get_full_wait();
    if (b == NULL) return false;
    put_empty(w->buf1);
    w->buf1 = b;
  }
  *out = w->buf1->e[--w->buf1->n];
  return true;
}

bool tc_gcwork_try_get_global(tc_gcwork_t *w) {
  if (__atomic_load_n(&work.full, __ATOMIC_RELAXED) == NULL) return false; /* racy peek */
  pthread_mutex_lock(&work.lock);
  tc_workbuf_t *b = work.full;
  if (b) {
    work.full = b->next;
    work.holders++; /* until tc_gcwork_assist_done: markers must not finish */
  }
  pthread_mutex_unlock(&work.lock);
  if (b == NULL) return false;
  TC_ASSERT(w->buf1->n == 0);
  put_empty(w->buf1);
  w->buf1 = b;
  return true;
}

void tc_gcwork_assist_done(tc_gcwork_t *w, int taken) {
  tc_gcwork_flush(w);
  if (taken == 0) return;
  pthread_mutex_lock(&work.lock);
  work.holders -= taken;
  /* Markers waiting for this work, or for the last holder to finish. */
  if (work.nwait > 0) pthread_cond_broadcast(&work.cond);
  pthread_mutex_unlock(&work.lock);
}

bool tc_gcwork_pending(void) {
  pthread_mutex_lock(&work.lock);
  bool any = work.full != NULL;
  pthread_mutex_unlock(&work.lock);
  return any;
}

bool tc_gcwork_global_empty(void) {
  return __atomic_load_n(&work.full, __ATOMIC_RELAXED) == NULL; /* racy peek */
}

void tc_gcwork_balance(tc_gcwork_t *w) {
  if (w->buf2->n > 0) {
    put_full(w->buf2);
    w->buf2 = get_empty();
    return;
  }
  tc_workbuf_t *b1 = w->buf1;
  if (b1->n < 4) return;
  tc_workbuf_t *nb = get_empty();
  uint32_t half = b1->n / 2;
  for (uint32_t i = 0; i < half; i++) nb->e[i] = b1->e[b1->n - half + i];
  nb->n = half;
  b1->n -= half;
  put_full(nb);
}
