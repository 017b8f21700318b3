/*
 * knobs.c - bdwgc's settings: warning and out-of-memory hooks, pacing, and
 * the switches that have no tricolor meaning.
 *
 * Owns:
 *   GC_oom_fn (exported, as in bdwgc) and GC_set_oom_fn / GC_get_oom_fn:
 *     called with the requested size when an allocation fails; its result
 *     is what the allocation returns. The default returns NULL, as bdwgc's;
 *     before it, bdwgc's "Out of Memory! Heap size: N MiB. Returning NULL!"
 *     goes to the warning procedure (N from tricolor's heap_live).
 *   the warning procedure (GC_set_warn_proc / GC_get_warn_proc; default
 *     prints "GC Warning: " + the message, with its %lu/%p argument, on
 *     stderr, as bdwgc's; GC_ignore_warn_proc drops it);
 *   GC_free_space_divisor: GC_set_free_space_divisor(d) sets GCPERCENT to
 *     100/d (at least 1). bdwgc starts a collection once allocation since
 *     the last one exceeds about live/d for pointer-rich heaps (its
 *     min_bytes_allocd, scan size / (2d) with composite bytes counted
 *     twice); tricolor's GCPERCENT=p starts one after p% of live, so
 *     p = 100/d (bdwgc's default d=3 would be GCPERCENT=33; the shim keeps
 *     tricolor's default until the program or GC_FREE_SPACE_DIVISOR asks).
 *   switches accepted with no effect, each because tricolor already does
 *   what the switch would ask or because it only tunes bdwgc internals:
 *     GC_enable_incremental (tricolor's mode comes from GCMODE; marking is
 *       concurrent by default), GC_set_all_interior_pointers /
 *       GC_all_interior_pointers (tricolor always recognizes interior
 *       pointers: more retention, never less), GC_no_dls (tricolor always
 *       scans loaded objects: the same), GC_dont_expand, GC_max_retries,
 *       GC_full_freq, GC_use_entire_heap, GC_dont_precollect,
 *       GC_time_limit, GC_non_gc_bytes;
 *   the manual dirty-bit calls: GC_end_stubborn_change and GC_change_stubborn
 *     do nothing (the shim never marks in barrier mode, init.c; concurrent
 *     mode finds written pages itself); GC_ptr_store_and_dirty(p, q) stores
 *     q at p through gc_store.
 */
#include <stdio.h>

#include <tricolor.h>

#include "cycle.h"
#include "shim.h"

/* ---- out of memory -------------------------------------------------------- */

static void *default_oom(size_t n) {
  (void)n;
  return NULL;
}

BDW_API GC_oom_func GC_oom_fn = default_oom;

void *bdw_oom(size_t n) {
  /* bdwgc's words, through the warning procedure, then its OOM function. */
  int64_t live = tc_atomic_load_relaxed(&tc_gc.heap_live);
  bdw_warn("Out of Memory! Heap size: %lu MiB. Returning NULL!\n",
           (GC_word)(live > 0 ? live : 0) >> 20);
  GC_oom_func fn = __atomic_load_n(&GC_oom_fn, __ATOMIC_RELAXED);
  return fn ? fn(n) : NULL;
}

BDW_API void GC_set_oom_fn(GC_oom_func fn) {
  bdw_init();
  __atomic_store_n(&GC_oom_fn, fn ? fn : default_oom, __ATOMIC_RELAXED);
}
BDW_API GC_oom_func GC_get_oom_fn(void) { return __atomic_load_n(&GC_oom_fn, __ATOMIC_RELAXED); }

/* ---- warnings ------------------------------------------------------------- */

BDW_API void GC_default_warn_proc(char *msg, GC_word arg) {
  fputs("GC Warning: ", stderr);
  fprintf(stderr, msg, arg);
  fflush(stderr);
}

BDW_API void GC_ignore_warn_proc(char *msg, GC_word arg) {
  (void)msg;
  (void)arg;
}

static GC_warn_proc warn_proc = GC_default_warn_proc;

BDW_API void GC_set_warn_proc(GC_warn_proc p) {
  bdw_init();
  __atomic_store_n(&warn_proc, p ? p : GC_default_warn_proc, __ATOMIC_RELAXED);
}
BDW_API GC_warn_proc GC_get_warn_proc(void) { return __atomic_load_n(&warn_proc, __ATOMIC_RELAXED); }

void bdw_warn(const char *msg, GC_word arg) {
  __atomic_load_n(&warn_proc, __ATOMIC_RELAXED)((char *)msg, arg);
}

/* ---- pacing --------------------------------------------------------------- */

BDW_API GC_word GC_free_space_divisor = 3;

void bdw_set_free_space_divisor(GC_word d) {
  if (d == 0) d = 1;
  GC_free_space_divisor = d;
  int p = (int)(100 / d);
  bdw_set_percent(p < 1 ? 1 : p);
}

BDW_API void GC_set_free_space_divisor(GC_word d) {
  bdw_init();
  bdw_set_free_space_divisor(d);
}
BDW_API GC_word GC_get_free_space_divisor(void) { return GC_free_space_divisor; }

/* ---- switches with no tricolor meaning (see above) ------------------------ */

BDW_API int GC_all_interior_pointers = 1;
BDW_API int GC_no_dls;
BDW_API int GC_dont_expand;
BDW_API GC_word GC_max_retries;
BDW_API int GC_full_freq = 19;
BDW_API int GC_use_entire_heap;
BDW_API int GC_dont_precollect;
BDW_API unsigned long GC_time_limit = 50;
BDW_API GC_word GC_non_gc_bytes;

BDW_API void GC_enable_incremental(void) { bdw_init(); }
BDW_API int GC_is_incremental_mode(void) {
  bdw_init();
  return gc_get_mode() != GC_MODE_STW;
}
BDW_API void GC_set_all_interior_pointers(int v) { (void)v; }
BDW_API int GC_get_all_interior_pointers(void) { return 1; }
BDW_API void GC_set_no_dls(int v) { GC_no_dls = v; }
BDW_API int GC_get_no_dls(void) { return GC_no_dls; }
BDW_API void GC_set_dont_expand(int v) { GC_dont_expand = v; }
BDW_API int GC_get_dont_expand(void) { return GC_dont_expand; }
BDW_API void GC_set_max_retries(GC_word v) { GC_max_retries = v; }
BDW_API GC_word GC_get_max_retries(void) { return GC_max_retries; }
BDW_API void GC_set_full_freq(int v) { GC_full_freq = v; }
BDW_API int GC_get_full_freq(void) { return GC_full_freq; }
BDW_API void GC_set_time_limit(unsigned long v) { GC_time_limit = v; }
BDW_API unsigned long GC_get_time_limit(void) { return GC_time_limit; }

BDW_API void GC_end_stubborn_change(const void *p) { (void)p; }
BDW_API void GC_change_stubborn(const void *p) { (void)p; }
BDW_API void GC_ptr_store_and_dirty(void *p, const void *q) {
  gc_store((void **)p, (void *)q);
}
