/*
 * findobject.h - resolve a pointer candidate to an object in O(1).
 *
 * Range check against the committed heap, page -> span map, span state,
 * slot index by multiplication (no division on the mark path), allocated
 * check. Interior pointers resolve to their object; tail waste, free slots
 * and free pages resolve to nothing.
 * Go: runtime/mbitmap.go findObject, mheap.go spanOf.
 */
#ifndef TC_FINDOBJECT_H
#define TC_FINDOBJECT_H

#include "arena.h"
#include "span.h"

typedef struct tc_object {
  tc_span_t *span;
  uint32_t index;
} tc_object_t;

/* The span map holds only in-use spans (set after a span becomes in use,
 * cleared before it dies), and an entry always covers its page, so a hit
 * needs no bounds check; the state check guards lookups racing a free. */
TC_INLINE bool tc_findobject(uintptr_t addr, tc_object_t *out) {
  tc_span_t *s = tc_span_lookup(addr);
  if (s == NULL || tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE) return false;
  uint32_t idx = tc_span_object_index(s, addr);
  if (idx >= s->nelems || !tc_span_is_allocated(s, idx)) return false;
  out->span = s;
  out->index = idx;
  return true;
}

TC_INLINE uintptr_t tc_object_base(const tc_object_t *o) {
  return o->span->base + (uintptr_t)o->index * o->span->elemsize;
}

/* The live object starting exactly at p; anything else (foreign, interior,
 * freed) is misuse: one line naming call and p, then abort (alloc.c). */
tc_object_t tc_object_at(const char *call, const void *p);

#endif
