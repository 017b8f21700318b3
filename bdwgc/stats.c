/*
 * stats.c - bdwgc's heap figures from tricolor's MemStats.
 *
 * Owns the mapping (each call takes one gc_read_memstats snapshot, which
 * stops the world briefly, like Go's ReadMemStats):
 *   GC_get_heap_size       heap_sys - heap_released (bdwgc: heap size
 *                          without unmapped bytes)
 *   GC_get_free_bytes      heap_sys - heap_released - heap_alloc
 *   GC_get_unmapped_bytes  heap_released
 *   GC_get_total_bytes     total_alloc (slot sizes, since start)
 *   GC_get_bytes_since_gc  heap_live - heap_marked (tricolor's counters:
 *                          allocation since the last mark, in spans)
 *   GC_get_gc_no           num_gc (completed cycles)
 *   GC_get_memory_use      heap_alloc
 * Figures count slots (size classes), as bdwgc counts granules.
 */
#include <tricolor.h>

#include "cycle.h"
#include "shim.h"

static gc_memstats snapshot(void) {
  bdw_init();
  gc_memstats m;
  gc_read_memstats(&m);
  return m;
}

BDW_API size_t GC_get_heap_size(void) {
  gc_memstats m = snapshot();
  return (size_t)(m.heap_sys - m.heap_released);
}

BDW_API size_t GC_get_free_bytes(void) {
  gc_memstats m = snapshot();
  uint64_t mapped = m.heap_sys - m.heap_released;
  return mapped > m.heap_alloc ? (size_t)(mapped - m.heap_alloc) : 0;
}

BDW_API size_t GC_get_unmapped_bytes(void) { return (size_t)snapshot().heap_released; }

BDW_API size_t GC_get_total_bytes(void) { return (size_t)snapshot().total_alloc; }

BDW_API size_t GC_get_memory_use(void) { return (size_t)snapshot().heap_alloc; }

BDW_API size_t GC_get_bytes_since_gc(void) {
  bdw_init();
  int64_t live = tc_atomic_load_relaxed(&tc_gc.heap_live);
  uint64_t marked = tc_gc.heap_marked;
  return live > 0 && (uint64_t)live > marked ? (size_t)((uint64_t)live - marked) : 0;
}

BDW_API GC_word GC_get_gc_no(void) { return snapshot().num_gc; }

BDW_API void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes,
                                    GC_word *unmapped_bytes, GC_word *bytes_since_gc,
                                    GC_word *total_bytes) {
  gc_memstats m = snapshot();
  uint64_t mapped = m.heap_sys - m.heap_released;
  if (heap_size) *heap_size = mapped;
  if (free_bytes) *free_bytes = mapped > m.heap_alloc ? mapped - m.heap_alloc : 0;
  if (unmapped_bytes) *unmapped_bytes = m.heap_released;
  if (bytes_since_gc) *bytes_since_gc = GC_get_bytes_since_gc();
  if (total_bytes) *total_bytes = m.total_alloc;
}
