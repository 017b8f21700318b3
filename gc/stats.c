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
  /* Written with the world stopped. */
  uint64_t pause_ns[256], pause_end[256];
  uint64_t pause_total_ns;
  uint64_t gc_cpu_ns;       /* STW wall x procs, summed (Go 1.19's rule) */
  uint32_t num_gc, num_forced_gc;
  uint64_t last_gc_unix;
  uint64_t init_ns;
} st;

void tc_stats_init(void) { st.init_ns = tc_nanotime(); }

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
  st.gc_cpu_ns += pause_ns * (uint64_t)r->procs + r->mark_cpu_ns + r->assist_ns;
  st.last_gc_unix = end_unix_ns;
  if (r->forced) st.num_forced_gc++;
  st.num_gc++;
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

  uint64_t committed = tc_arenas.committed;
  uint64_t never_used = committed - ((uint64_t)tc_mheap.zeroed_page << TC_PAGE_SHIFT);
  m->heap_sys = committed;
  m->heap_inuse = tc_mheap.pages_inuse << TC_PAGE_SHIFT;
  m->heap_idle = committed - m->heap_inuse;
  /* Pages never touched since they were mapped are not resident: Go counts
   * fresh heap growth as released until first use. */
  m->heap_released = never_used;

  m->stack_inuse = 0;
  m->stack_sys = 0;
  m->mspan_inuse = tc_span_alloc.inuse;
  m->mspan_sys = tc_span_alloc.sys;
  m->mcache_inuse = tc_mcache_inuse();
  m->mcache_sys = tc_mcache_sys();
  m->buck_hash_sys = tc_bucket_sys();
  m->gc_sys = tc_span_bitmap_sys() + tc_gcwork_sys() + tc_arenas.spans_touched +
              (committed >> TC_PAGE_SHIFT) / 8;
  uint64_t persistent = tc_persistent_sys();
  /* Profile buckets also come from persistent chunks (their address map
   * from mmap): count them once, under buck_hash_sys. */
  uint64_t accounted = m->mspan_sys + m->mcache_sys + tc_span_bitmap_sys() +
                       tc_gcwork_sys() + m->buck_hash_sys;
  m->other_sys = persistent > accounted ? persistent - accounted : 0;
  m->sys = m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys +
           m->buck_hash_sys + m->gc_sys + m->other_sys;

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

__attribute__((visibility("default"))) void gc_read_memstats(gc_memstats *m) {
  tc_gc_with_world_stopped((void (*)(void *))fill, m);
}
