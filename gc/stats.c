/*
 * stats.c - counters and gc_read_memstats (stats.h).
 */
#include "stats.h"

#include <string.h>

#include <tricolor.h>

#include "arena.h"
#include "bucket.h"
#include "atomic.h"
#include "cycle.h"
#include "fixalloc.h"
#include "gcwork.h"
#include "mcache.h"
#include "mheap.h"
#include "options.h"
#include "os.h"
#include "stw.h"
#include "thread.h"

static struct {
  uint64_t small_allocs[TC_NUM_SIZE_CLASSES]; /* atomic */
  uint64_t small_frees[TC_NUM_SIZE_CLASSES];  /* atomic */
  uint64_t large_allocs, large_alloc_bytes;   /* atomic */
  uint64_t large_frees, large_free_bytes;     /* atomic */
  /* Written under the world lock (stats.h), read with the world stopped. */
  uint64_t pause_ns[256], pause_end[256];
  uint64_t pause_total_ns;
  uint64_t gc_cpu_ns;       /* STW wall x procs, summed (Go 1.19's rule) */
  uint32_t num_gc, num_forced_gc;
  uint64_t last_gc_unix;
  uint64_t init_ns;
  /* Cumulative CPU ns by class (runtime/metrics /cpu/classes/...). */
  uint64_t cpu_assist_ns, cpu_mark_ns, cpu_idle_ns, cpu_pause_ns;
  /* Every pause (each of a cycle's two, and the others), Go's time
   * histogram, total and stopping part (TC_PAUSE_GC ...). */
  uint64_t pause_hist[TC_PAUSE_HISTS][TC_PAUSE_HIST_COUNTS];
} st;

/* Go's time histogram boundaries in ns (runtime/histogram.go, current):
 * -Inf, 0, 64, 128, 192, then 2^(i-1) + j 2^(i-3) for i = 9..47 and
 * j = 0..3, then 2^47, +Inf. */
static double pause_bounds_ns[TC_PAUSE_HIST_COUNTS + 1];
static double pause_bounds_s[TC_PAUSE_HIST_COUNTS + 1];

static void init_pause_bounds(void) {
  int k = 0;
  pause_bounds_ns[k++] = -__builtin_inf();
  pause_bounds_ns[k++] = 0;
  pause_bounds_ns[k++] = 64;
  pause_bounds_ns[k++] = 128;
  pause_bounds_ns[k++] = 192;
  for (int i = 9; i <= 47; i++)
    for (int j = 0; j < 4; j++)
      pause_bounds_ns[k++] = (double)((uint64_t)1 << (i - 1)) + j * (double)((uint64_t)1 << (i - 3));
  pause_bounds_ns[k++] = (double)((uint64_t)1 << 47);
  pause_bounds_ns[k++] = __builtin_inf();
  for (int i = 0; i < k; i++) pause_bounds_s[i] = pause_bounds_ns[i] / 1e9;
}

const double *tc_stats_pause_buckets(void) { return pause_bounds_s; }

static void record_pause(int hist, uint64_t ns) {
  /* The last boundary not above ns (0 <= ns, so index >= 1). */
  int lo = 1, hi = TC_PAUSE_HIST_COUNTS; /* bounds[lo] <= ns < bounds[hi] */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (pause_bounds_ns[mid] <= (double)ns) lo = mid;
    else hi = mid;
  }
  st.pause_hist[hist][lo]++;
}

void tc_stats_init(void) {
  st.init_ns = tc_nanotime();
  init_pause_bounds();
}

void tc_stats_count_small_allocs(unsigned c, uint32_t n) {
  if (n) tc_atomic_add_relaxed(&st.small_allocs[c], n);
}
void tc_stats_count_small_frees(unsigned c, uint32_t n) {
  tc_atomic_add_relaxed(&st.small_frees[c], n);
}
void tc_stats_count_large_alloc(uintptr_t bytes) {
  tc_atomic_add_relaxed(&st.large_allocs, 1);
  tc_atomic_add_relaxed(&st.large_alloc_bytes, bytes);
}
void tc_stats_count_large_free(uintptr_t bytes) {
  tc_atomic_add_relaxed(&st.large_frees, 1);
  tc_atomic_add_relaxed(&st.large_free_bytes, bytes);
}

void tc_stats_record_cycle_stw(const tc_cycle_record_t *r, uint64_t end_unix_ns) {
  uint64_t pause_ns = r->stw1_ns + r->stw2_ns;
  unsigned i = st.num_gc % 256;
  st.pause_ns[i] = pause_ns;
  st.pause_end[i] = end_unix_ns;
  st.pause_total_ns += pause_ns;
  /* Read without the world stopped (tc_stats_gc_cpu_fraction). */
  tc_atomic_add_relaxed(&st.gc_cpu_ns, pause_ns * (uint64_t)r->procs + r->mark_cpu_ns + r->assist_ns);
  st.cpu_assist_ns += r->assist_ns;
  st.cpu_mark_ns += r->mark_cpu_ns - r->idle_ns;
  st.cpu_idle_ns += r->idle_ns;
  st.cpu_pause_ns += pause_ns * (uint64_t)r->procs;
  if (r->mode != TC_MODE_STW) {
    record_pause(TC_PAUSE_GC, r->stw1_ns);
    record_pause(TC_PAUSE_GC_STOPPING, r->stop1_ns);
  }
  record_pause(TC_PAUSE_GC, r->stw2_ns);
  record_pause(TC_PAUSE_GC_STOPPING, r->stop2_ns);
  st.last_gc_unix = end_unix_ns;
  if (r->forced) st.num_forced_gc++;
  st.num_gc++;
}

void tc_stats_record_other_pause(uint64_t stopping_ns, uint64_t total_ns) {
  record_pause(TC_PAUSE_OTHER, total_ns);
  record_pause(TC_PAUSE_OTHER_STOPPING, stopping_ns);
}

uint64_t tc_stats_init_ns(void) { return st.init_ns; }

double tc_stats_gc_cpu_fraction(void) {
  uint64_t elapsed = tc_nanotime() - st.init_ns;
  double avail = (double)elapsed * (double)tc_options.procs;
  return avail > 0 ? (double)tc_atomic_load_relaxed(&st.gc_cpu_ns) / avail : 0;
}

extern tc_fixalloc_t tc_span_alloc;
uint64_t tc_span_bitmap_sys(void);
uint64_t tc_thread_sys(void);

/* The heap and off-heap memory fields of MemStats. Racy reads of counters
 * (each one atomic), so callers that need them consistent stop the world. */
static void sys_parts(gc_memstats *m) {
  uint64_t committed = tc_atomic_load_acquire(&tc_arenas.committed);
  m->heap_sys = committed;
  m->heap_inuse = tc_atomic_load_relaxed(&tc_mheap.pages_inuse) << TC_PAGE_SHIFT;
  m->heap_idle = committed > m->heap_inuse ? committed - m->heap_inuse : 0;
  /* Scavenged pages: returned to the OS, or never touched since the heap
   * grew over them (Go counts fresh growth as released until first use). */
  m->heap_released = tc_atomic_load_relaxed(&tc_mheap.pages.nscav) << TC_PAGE_SHIFT;
  if (m->heap_released > m->heap_idle) m->heap_released = m->heap_idle;

  m->stack_inuse = 0;
  m->stack_sys = 0;
  m->mspan_inuse = tc_span_alloc.inuse;
  m->mspan_sys = tc_span_alloc.sys;
  m->mcache_inuse = tc_mcache_inuse();
  m->mcache_sys = tc_mcache_sys();
  m->buck_hash_sys = tc_bucket_sys();
  /* The pagealloc bitmaps (free and scavenged: 2 bits per page) and the
   * page -> span map pages touched are collector metadata. */
  m->gc_sys = tc_span_bitmap_sys() + tc_gcwork_sys() + tc_arenas.spans_touched +
              (committed >> TC_PAGE_SHIFT) / 4;
  uint64_t persistent = tc_persistent_sys();
  /* Profile buckets also come from persistent chunks (their address map
   * from mmap): count them once, under buck_hash_sys. */
  uint64_t accounted = m->mspan_sys + m->mcache_sys + tc_span_bitmap_sys() +
                       tc_gcwork_sys() + m->buck_hash_sys;
  m->other_sys = persistent > accounted ? persistent - accounted : 0;
  m->sys = m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys +
           m->buck_hash_sys + m->gc_sys + m->other_sys;
}

void tc_stats_memory(tc_memsnap_t *out) {
  gc_memstats m;
  sys_parts(&m);
  out->sys = m.sys;
  out->heap_inuse = m.heap_inuse;
  out->heap_free = m.heap_idle - m.heap_released;
  out->heap_released = m.heap_released;
}

/* Derives Go's fields. World stopped, so caches and counters are still. */
static void fill(gc_memstats *m) {
  uint64_t small_allocs[TC_NUM_SIZE_CLASSES];
  for (unsigned c = 0; c < TC_NUM_SIZE_CLASSES; c++) small_allocs[c] = st.small_allocs[c];
  for (tc_thread_t *t = tc_threads.list; t; t = t->next)
    tc_mcache_pending_allocs(t->mcache, small_allocs);

  uint64_t total_alloc = st.large_alloc_bytes, total_free = st.large_free_bytes;
  uint64_t mallocs = st.large_allocs, frees = st.large_frees;
  for (unsigned c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    total_alloc += small_allocs[c] * tc_class_to_size[c];
    total_free += st.small_frees[c] * tc_class_to_size[c];
    mallocs += small_allocs[c];
    frees += st.small_frees[c];
  }
  m->total_alloc = total_alloc;
  m->alloc = m->heap_alloc = total_alloc - total_free;
  m->lookups = 0;
  m->mallocs = mallocs;
  m->frees = frees;
  m->heap_objects = mallocs - frees;

  sys_parts(m);

  m->next_gc = tc_gc_goal();
  m->last_gc = st.last_gc_unix;
  m->pause_total_ns = st.pause_total_ns;
  memcpy(m->pause_ns, st.pause_ns, sizeof m->pause_ns);
  memcpy(m->pause_end, st.pause_end, sizeof m->pause_end);
  m->num_gc = st.num_gc;
  m->num_forced_gc = st.num_forced_gc;
  m->gc_cpu_fraction = tc_stats_gc_cpu_fraction();
  m->enable_gc = 1;
  m->debug_gc = 0;
  for (unsigned c = 0; c < 61; c++) {
    m->by_size[c].size = tc_class_to_size[c];
    m->by_size[c].mallocs = c ? small_allocs[c] : 0;
    m->by_size[c].frees = c ? st.small_frees[c] : 0;
  }
}

static void fill_snapshot(void *arg) {
  tc_stats_snapshot_t *s = arg;
  fill(&s->m);
  for (unsigned c = 0; c < TC_NUM_SIZE_CLASSES; c++) {
    s->small_allocs[c] = st.small_allocs[c];
    s->small_frees[c] = st.small_frees[c];
  }
  for (tc_thread_t *t = tc_threads.list; t; t = t->next)
    tc_mcache_pending_allocs(t->mcache, s->small_allocs);
  s->large_allocs = st.large_allocs;
  s->large_frees = st.large_frees;
  s->large_alloc_bytes = st.large_alloc_bytes;
  s->large_free_bytes = st.large_free_bytes;
  memcpy(s->pause_hist, st.pause_hist, sizeof s->pause_hist);
  s->cpu_assist_ns = st.cpu_assist_ns;
  s->cpu_mark_ns = st.cpu_mark_ns;
  s->cpu_idle_ns = st.cpu_idle_ns;
  s->cpu_pause_ns = st.cpu_pause_ns;
  s->elapsed_ns = tc_nanotime() - st.init_ns;
}

void tc_stats_snapshot(tc_stats_snapshot_t *s) { tc_gc_with_world_stopped(fill_snapshot, s); }

__attribute__((visibility("default"))) void gc_read_memstats(gc_memstats *m) {
  tc_gc_with_world_stopped((void (*)(void *))fill, m);
}
