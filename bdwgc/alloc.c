/*
 * alloc.c - bdwgc's allocation calls on tricolor's allocator.
 *
 * Owns the mapping of bdwgc object kinds:
 *   GC_malloc, GC_malloc_ignore_off_page      gc_alloc (zeroed, scanned)
 *   GC_malloc_atomic(_ignore_off_page)        gc_alloc_noscan (not zeroed)
 *   GC_malloc_uncollectable                   gc_alloc + uncollectable table
 *   GC_malloc_atomic_uncollectable            gc_alloc_noscan + table
 * and bdwgc's rules around them:
 *   - every request gets one extra byte, as bdwgc adds EXTRA_BYTES when
 *     all interior pointers are recognized (its default), so a pointer one
 *     past the end of an object still points into it and keeps it alive
 *     (tricolor alone would see the next slot); GC_size reports the slot;
 *   - a failed allocation (or one over GC_set_max_heap_size's cap) returns
 *     what the OOM function returns (bdwgc's default returns NULL);
 *   - every allocation first applies GC_dont_gc and runs queued finalizers
 *     on this thread (bdwgc runs them inside allocation calls);
 *   - GC_realloc keeps the kind, including uncollectable; GC_realloc(p, 0)
 *     frees p and returns NULL; GC_free(NULL) does nothing.
 * Invariant: an uncollectable object is in the table from before its
 * pointer is returned until GC_free removes it, so no cycle can miss it.
 * Bad pointers (not the start of a live object) abort with one line naming
 * the GC_* call and the pointer.
 */
#include <errno.h>
#include <string.h>

#include <tricolor.h>

#include "error.h"
#include "findobject.h"
#include "shim.h"

/* Requested bytes plus bdwgc's extra byte; SIZE_MAX if that overflows. */
static size_t with_extra(size_t n) { return n >= SIZE_MAX - 1 ? SIZE_MAX : n + 1; }

BDW_ALLOC_FRAME void *bdw_alloc(size_t n, int kind) {
  bdw_alloc_poll();
  size_t m = with_extra(n);
  if (m == SIZE_MAX || !bdw_heap_room(m)) return bdw_oom(n);
  void *p = (kind & BDW_KIND_ATOMIC) ? gc_alloc_noscan(m) : gc_alloc(m);
  if (p == NULL) return bdw_oom(n);
  if ((kind & BDW_KIND_UNCOLLECTABLE) && !bdw_uncollectable_add(p)) {
    gc_free(p);
    return bdw_oom(n);
  }
  return p;
}

BDW_API BDW_ALLOC_FRAME void *GC_malloc(size_t n) { return bdw_alloc(n, BDW_KIND_NORMAL); }
BDW_API BDW_ALLOC_FRAME void *GC_malloc_atomic(size_t n) {
  return bdw_alloc(n, BDW_KIND_ATOMIC);
}
BDW_API BDW_ALLOC_FRAME void *GC_malloc_uncollectable(size_t n) {
  return bdw_alloc(n, BDW_KIND_UNCOLLECTABLE);
}
BDW_API BDW_ALLOC_FRAME void *GC_malloc_atomic_uncollectable(size_t n) {
  return bdw_alloc(n, BDW_KIND_ATOMIC | BDW_KIND_UNCOLLECTABLE);
}
/* tricolor recognizes every interior pointer of every object; the hint
 * that only pointers near the start matter has no use here. */
BDW_API BDW_ALLOC_FRAME void *GC_malloc_ignore_off_page(size_t n) {
  return bdw_alloc(n, BDW_KIND_NORMAL);
}
BDW_API BDW_ALLOC_FRAME void *GC_malloc_atomic_ignore_off_page(size_t n) {
  return bdw_alloc(n, BDW_KIND_ATOMIC);
}

/* The start of the live object at p, or an abort naming call and p. */
static void check_start(const char *call, const void *p) {
  if (gc_base(p) != p) tc_misuse(call, p, "not the start of a live GC_malloc object");
}

BDW_API void GC_free(void *p) {
  if (p == NULL) return;
  bdw_init();
  check_start("GC_free", p);
  bdw_uncollectable_remove(p);
  gc_free(p);
}

BDW_API BDW_ALLOC_FRAME void *GC_realloc(void *p, size_t n) {
  if (p == NULL) return GC_malloc(n);
  bdw_init();
  check_start("GC_realloc", p);
  if (n == 0) {
    GC_free(p);
    return NULL;
  }
  tc_object_t o = tc_object_at("GC_realloc", p);
  bool atomic = tc_spanclass_noscan(o.span->spanclass);
  size_t have = o.span->elemsize;
  if (bdw_uncollectable_contains(p)) {
    if (with_extra(n) <= have) return p;
    void *q = bdw_alloc(n, BDW_KIND_UNCOLLECTABLE | (atomic ? BDW_KIND_ATOMIC : 0));
    if (q == NULL) return NULL;
    memcpy(q, p, have);
    GC_free(p);
    return q;
  }
  bdw_alloc_poll();
  size_t m = with_extra(n);
  if (m == SIZE_MAX || (m > have && !bdw_heap_room(m - have))) return bdw_oom(n);
  void *q = gc_realloc(p, m);
  return q ? q : bdw_oom(n);
}

BDW_API BDW_ALLOC_FRAME char *GC_strdup(const char *s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s);
  char *p = bdw_alloc(n + 1, BDW_KIND_ATOMIC);
  if (p) memcpy(p, s, n + 1);
  return p;
}

BDW_API BDW_ALLOC_FRAME char *GC_strndup(const char *s, size_t max) {
  if (s == NULL) return NULL;
  size_t n = strnlen(s, max);
  char *p = bdw_alloc(n + 1, BDW_KIND_ATOMIC);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

BDW_API void *GC_base(void *p) {
  bdw_init();
  return gc_base(p);
}

/* bdwgc returns the size of the object containing p (the slot, extra byte
 * included). A pointer outside every object aborts: bdwgc's answer there
 * is undefined. */
BDW_API size_t GC_size(const void *p) {
  bdw_init();
  if (p == NULL) return 0;
  void *b = gc_base(p);
  if (b == NULL) tc_misuse("GC_size", p, "not a pointer into a live GC_malloc object");
  return gc_usable_size(b);
}

BDW_API int GC_is_heap_ptr(const void *p) {
  bdw_init();
  return gc_base(p) != NULL;
}
