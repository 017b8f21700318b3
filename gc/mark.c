/*
 * mark.c - conservative parallel marking (mark.h).
 */
#include "mark.h"

#include <pthread.h>
#include <semaphore.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "error.h"
#include "findobject.h"
#include "gcwork.h"
#include "options.h"
#include "roots.h"
#include "thread.h"

/* Other markers are offered work every this many scanned entries. */
#define BALANCE_INTERVAL 64

static struct {
  int nhelpers;              /* helper threads running */
  pthread_t helpers[TC_MAX_PROCS];
  sem_t start, done;
  int nactive;               /* helpers taking part in this phase */
  uint64_t bytes_marked;     /* atomic; summed by helpers */
  uint64_t scan_bytes;       /* atomic */
} mk;

TC_INLINE void grey(tc_gcwork_t *w, uintptr_t addr) {
  tc_object_t o;
  if (!tc_findobject(addr, &o)) return;
  tc_span_t *s = o.span;
  uint64_t bit = (uint64_t)1 << (o.index % 64);
  uint64_t *word = &s->mark_bits[o.index / 64];
  if (tc_atomic_load_relaxed(word) & bit) return;
  if (tc_atomic_fetch_or_relaxed(word, bit) & bit) return;
  w->bytes_marked += s->elemsize;
  if (tc_spanclass_noscan(s->spanclass) || tc_span_is_freed(s, o.index)) return;
  uintptr_t base = tc_object_base(&o);
  uintptr_t len = s->elemsize;
  while (len > TC_SCAN_CHUNK) {
    tc_gcwork_put(w, base, TC_SCAN_CHUNK);
    base += TC_SCAN_CHUNK;
    len -= TC_SCAN_CHUNK;
  }
  tc_gcwork_put(w, base, len);
}

static void scan_range(tc_gcwork_t *w, uintptr_t lo, uintptr_t hi) {
  const uintptr_t heap_lo = tc_arenas.lo;
  const uintptr_t heap_len = tc_atomic_load_relaxed(&tc_arenas.committed);
  const uintptr_t *p = (const uintptr_t *)tc_align_up(lo, sizeof(uintptr_t));
  const uintptr_t *end = (const uintptr_t *)hi;
  w->scan_bytes += hi - lo;
  for (; p < end; p++) {
    uintptr_t v = *p;
    if (TC_LIKELY(v - heap_lo >= heap_len)) continue;
    grey(w, v);
  }
}

/* Objects are prefetched this many scans before they are scanned: the
 * marker is bound by cache misses on the objects it visits, and a gray
 * queue popped LIFO gives a prefetch no time to land (Cher, Hosking and
 * Vijaykumar's prefetch-on-grey FIFO, as in Boehm GC). Measured on GCBench:
 * mark time per cycle fell by about a third with 8 entries, and by a
 * further ~10% with 16 (32 gains nothing more). */
#define PREFETCH_FIFO 16

static void drain(tc_gcwork_t *w) {
  tc_workentry_t fifo[PREFETCH_FIFO];
  unsigned head = 0, count = 0, n = 0;
  tc_workentry_t e;
  for (;;) {
    if (tc_gcwork_try_get_local(w, &e)) {
      __builtin_prefetch((const void *)e.addr);
      if (count < PREFETCH_FIFO) {
        fifo[(head + count++) % PREFETCH_FIFO] = e;
        continue;
      }
      tc_workentry_t old = fifo[head];
      fifo[head] = e;
      head = (head + 1) % PREFETCH_FIFO;
      scan_range(w, old.addr, old.addr + old.len);
    } else if (count > 0) {
      /* Empty the FIFO before looking elsewhere: a marker must never wait
       * for others while it holds unscanned work. */
      tc_workentry_t old = fifo[head];
      head = (head + 1) % PREFETCH_FIFO;
      count--;
      scan_range(w, old.addr, old.addr + old.len);
    } else {
      if (!tc_gcwork_get(w, &e)) break;
      scan_range(w, e.addr, e.addr + e.len);
    }
    if (++n % BALANCE_INTERVAL == 0 && tc_gcwork_others_waiting()) tc_gcwork_balance(w);
  }
}

static void *helper_main(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    while (sem_wait(&mk.start) != 0) {}
    tc_gcwork_t w;
    tc_gcwork_init(&w);
    drain(&w);
    tc_gcwork_dispose(&w);
    tc_atomic_add_relaxed(&mk.bytes_marked, w.bytes_marked);
    tc_atomic_add_relaxed(&mk.scan_bytes, w.scan_bytes);
    sem_post(&mk.done);
  }
  return NULL;
}

void tc_mark_prepare(void) {
  if (mk.nhelpers == 0) {
    sem_init(&mk.start, 0, 0);
    sem_init(&mk.done, 0, 0);
  }
  while (mk.nhelpers < tc_options.procs - 1) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&mk.helpers[mk.nhelpers], &attr, helper_main, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) break; /* mark with fewer threads */
    mk.nhelpers++;
  }
}

void tc_mark_after_fork_child(void) { mk.nhelpers = 0; }

/* Queues a root range in chunks. */
static void put_root(uintptr_t lo, uintptr_t hi, void *ctx) {
  tc_gcwork_t *w = ctx;
  lo = tc_align_up(lo, sizeof(uintptr_t));
  while (lo + TC_SCAN_CHUNK < hi) {
    tc_gcwork_put(w, lo, TC_SCAN_CHUNK);
    lo += TC_SCAN_CHUNK;
  }
  if (lo < hi) tc_gcwork_put(w, lo, hi - lo);
}

/* Lowest mapped address of the main thread's stack: the start of the
 * [stack] mapping, read with plain system calls (no stdio, no malloc: the
 * world is stopped). 0 if it cannot be found. */
static uintptr_t main_stack_mapped_lo(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  size_t have = 0;
  uintptr_t result = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) break;
    have += (size_t)n;
    buf[have] = 0;
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      *nl = 0;
      if (strstr(line, "[stack]")) result = (uintptr_t)strtoull(line, NULL, 16);
      line = nl + 1;
    }
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0; /* an absurdly long line */
  }
  close(fd);
  return result;
}

/* The normal stack of a thread stopped on an alternate signal stack: its
 * interrupted stack pointer is in a signal frame we cannot locate, so the
 * whole mapped stack is scanned (conservatively more, never less). */
static void put_whole_stack(tc_gcwork_t *w, const tc_thread_t *t) {
  uintptr_t lo = t->stack_lo;
  if (t->tid == getpid()) {
    /* The main thread's reported stack is its rlimit; only part is mapped. */
    uintptr_t mapped = main_stack_mapped_lo();
    if (mapped == 0 || mapped >= t->stack_hi)
      tc_throw("cannot find the main thread's stack mapping");
    if (mapped > lo) lo = mapped;
  }
  put_root(lo, t->stack_hi, w);
}

static uint64_t queue_stacks(tc_gcwork_t *w, tc_thread_t *self, uintptr_t self_sp) {
  uint64_t bytes = 0;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    uintptr_t sp = t == self ? self_sp : t->stop_sp;
    if (sp >= t->stack_lo && sp <= t->stack_hi) {
      put_root(sp, t->stack_hi, w);
      bytes += t->stack_hi - sp;
    } else if (t != self && t->alt_hi != 0 && sp >= t->alt_lo && sp <= t->alt_hi) {
      put_root(sp, t->alt_hi, w);
      put_whole_stack(w, t);
      bytes += t->alt_hi - sp + t->stack_hi - t->stack_lo;
    } else {
      tc_throw("thread %d stack pointer 0x%lx outside its stack [0x%lx, 0x%lx)",
               (int)t->tid, (unsigned long)sp, (unsigned long)t->stack_lo,
               (unsigned long)t->stack_hi);
    }
    tc_roots_for_each_tls(t, put_root, w);
  }
  return bytes;
}

void tc_mark_stw(tc_thread_t *self, uintptr_t sp, tc_mark_result_t *out) {
  int nproc = 1 + mk.nhelpers;
  tc_gcwork_begin_phase(nproc);
  mk.bytes_marked = 0;
  mk.scan_bytes = 0;
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  out->stack_bytes = queue_stacks(&w, self, sp);
  tc_roots_for_each_global(put_root, &w);
  out->global_bytes = tc_roots_global_bytes();
  tc_gcwork_flush(&w);
  for (int i = 0; i < mk.nhelpers; i++) sem_post(&mk.start);
  drain(&w);
  for (int i = 0; i < mk.nhelpers; i++)
    while (sem_wait(&mk.done) != 0) {}
  tc_gcwork_dispose(&w);
  out->bytes_marked = w.bytes_marked + mk.bytes_marked;
  out->heap_scan_bytes = w.scan_bytes + mk.scan_bytes;
}
