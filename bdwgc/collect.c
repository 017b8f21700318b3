/*
 * collect.c - when collections run: GC_gcollect, GC_disable / GC_enable
 * (bdwgc's GC_dont_gc counter), the pacing percent the free-space divisor
 * sets, and the hard heap cap of GC_set_max_heap_size.
 *
 * Owns: GC_dont_gc (exported, as in bdwgc: GC_disable increments it,
 * GC_enable decrements it, programs may also write it), the percent the
 * shim wants (`want`, GCPERCENT's value until the program changes it) and
 * the state last applied to the collector.
 * Invariants: while GC_dont_gc != 0 the collector's percent is -1 (no
 * automatic cycle) and GC_gcollect does nothing, as in bdwgc; otherwise it
 * is `want`. A direct write to GC_dont_gc takes effect at the next
 * allocation or GC_* call that polls (bdw_collect_poll), as bdwgc reads it
 * only when it considers collecting.
 * The heap cap compares tricolor's heap_live (bytes in cached spans plus
 * large objects plus what the last mark found live, Go's heapLive) plus
 * the request with bdw_max_heap; over it, one full collection runs, and if
 * still over the allocation fails (OOM function). It caps live data plus
 * allocation since the last cycle, not address space or fragmentation: a
 * stand-in until the collector has its own memory limit.
 */
#include <pthread.h>

#include <tricolor.h>

#include "cycle.h"
#include "shim.h"

BDW_API int GC_dont_gc;
size_t bdw_max_heap;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int want = 100;      /* under lock */
static int applied_off = -1; /* under lock: -1 unknown, 0 on, 1 off */
static bool want_known;

/* Applies GC_dont_gc and want to the collector. */
static void apply(void) {
  pthread_mutex_lock(&lock);
  if (!want_known) {
    want = gc_set_percent(100); /* learn GCPERCENT's value */
    gc_set_percent(want);
    want_known = true;
  }
  int off = __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0;
  if (off != applied_off) {
    gc_set_percent(off ? -1 : want);
    __atomic_store_n(&applied_off, off, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&lock);
}

void bdw_collect_poll(void) {
  int off = __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0;
  if (__builtin_expect(off != __atomic_load_n(&applied_off, __ATOMIC_RELAXED), 0)) apply();
}

void bdw_set_percent(int percent) {
  apply();
  pthread_mutex_lock(&lock);
  want = percent;
  if (applied_off == 0) gc_set_percent(want);
  pthread_mutex_unlock(&lock);
}

bool bdw_heap_room(size_t n) {
  size_t max = __atomic_load_n(&bdw_max_heap, __ATOMIC_RELAXED);
  if (max == 0) return true;
  int64_t live = tc_atomic_load_relaxed(&tc_gc.heap_live);
  if (live >= 0 && (uint64_t)live + n <= max) return true;
  if (__atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED)) return false;
  gc_collect();
  live = tc_atomic_load_relaxed(&tc_gc.heap_live);
  return live >= 0 && (uint64_t)live + n <= max;
}

BDW_API void GC_gcollect(void) {
  bdw_init();
  bdw_collect_poll();
  if (__atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) == 0) gc_collect();
  bdw_finalizers_poll();
}

/* bdwgc: collect, then unmap the free pages: gc_free_os_memory (a full
 * collection, then every free page back to the OS). */
BDW_API void GC_gcollect_and_unmap(void) {
  bdw_init();
  bdw_collect_poll();
  if (__atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) == 0) gc_free_os_memory();
  bdw_finalizers_poll();
}

/* bdwgc: returns nonzero if the collection completed; stop_func is polled
 * by bdwgc's incremental steps, and tricolor's cycle cannot be abandoned,
 * so it is not called. */
BDW_API int GC_try_to_collect(int (*stop_func)(void)) {
  (void)stop_func;
  bdw_init();
  bdw_collect_poll();
  if (__atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0) return 0;
  GC_gcollect();
  return 1;
}

BDW_API void GC_disable(void) {
  bdw_init();
  __atomic_add_fetch(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  apply();
}

BDW_API void GC_enable(void) {
  bdw_init();
  __atomic_sub_fetch(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  apply();
}

BDW_API int GC_is_disabled(void) { return __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0; }

BDW_API void GC_set_max_heap_size(GC_word n) {
  bdw_init();
  __atomic_store_n(&bdw_max_heap, (size_t)n, __ATOMIC_RELAXED);
}

/* tricolor has no pre-sized heap: accepted, reports success. */
BDW_API int GC_expand_hp(size_t n) {
  (void)n;
  bdw_init();
  return 1;
}
