/*
 * checkmark.c - the stop-the-world verification mark (checkmark.h).
 */
#include "checkmark.h"


#include "arena.h"
#include "error.h"
#include "findobject.h"
#include "gcwork.h"
#include "mark.h"
#include "os.h"
#include "roots.h"
#include "special.h"
#include "thread.h"

static uint64_t *bits; /* one bit per 8 bytes of the reservation */

/* A slot a stopped thread is still zeroing holds old data, not pointers. */
static bool being_zeroed(uintptr_t base) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next)
    if (t->zeroing == base) return true;
  return false;
}

static void check_grey(tc_gcwork_t *w, uintptr_t addr, uintptr_t from) {
  tc_object_t o;
  if (!tc_findobject(addr, &o)) return;
  tc_span_t *s = o.span;
  if (tc_span_is_freed(s, o.index)) return;
  uintptr_t base = tc_object_base(&o);
  uintptr_t bit = (base - tc_arenas.lo) / 8;
  if (bits[bit / 64] >> (bit % 64) & 1) return;
  bits[bit / 64] |= (uint64_t)1 << (bit % 64);
  if (!(tc_atomic_load_relaxed(&s->mark_bits[o.index / 64]) >> (o.index % 64) & 1)) {
    /* Where the pointer was found: a heap object (its state), or a root. */
    tc_object_t c;
    bool in_heap = tc_findobject(from, &c);
    tc_throw("checkmark: object 0x%lx (%lu bytes, span 0x%lx class %u, slot %u, "
             "free_index %u) is reachable but the mark missed it; pointer 0x%lx "
             "found at 0x%lx (%s 0x%lx, marked %d, slot %u of span class %u, "
             "free_index %u)",
             (unsigned long)base, (unsigned long)s->elemsize, (unsigned long)s->base,
             (unsigned)s->spanclass, o.index, s->free_index, (unsigned long)addr,
             (unsigned long)from, in_heap ? "in heap object" : "in a root, not the heap",
             in_heap ? (unsigned long)tc_object_base(&c) : 0UL,
             in_heap ? (int)(c.span->mark_bits[c.index / 64] >> (c.index % 64) & 1) : -1,
             in_heap ? c.index : 0, in_heap ? (unsigned)c.span->spanclass : 0,
             in_heap ? c.span->free_index : 0);
  }
  if (tc_spanclass_noscan(s->spanclass) || being_zeroed(base)) return;
  for (uintptr_t off = 0; off < s->elemsize; off += TC_SCAN_CHUNK) {
    uintptr_t len = s->elemsize - off < TC_SCAN_CHUNK ? s->elemsize - off : TC_SCAN_CHUNK;
    tc_gcwork_put(w, base + off, len);
  }
}

static void check_range(uintptr_t lo, uintptr_t hi, void *ctx) {
  tc_gcwork_t *w = ctx;
  const uintptr_t heap_len = tc_atomic_load_relaxed(&tc_arenas.committed);
  for (const uintptr_t *p = (const uintptr_t *)tc_align_up(lo, 8); p < (const uintptr_t *)hi; p++)
    if (*p - tc_arenas.lo < heap_len) check_grey(w, *p, (uintptr_t)p);
}


void tc_checkmark_run(void) {
  size_t nbytes = tc_arenas.reserved / 64;
  if (bits == NULL) {
    bits = tc_os_reserve(nbytes, 4096);
    if (bits == NULL || !tc_os_commit(bits, nbytes)) tc_throw("checkmark: cannot map its bitmap");
  }
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  tc_mark_for_each_stack(check_range, &w);
  tc_roots_for_each_global(check_range, &w);
  tc_special_roots(check_range, check_range, &w);
  tc_workentry_t e;
  while (tc_gcwork_get(&w, &e)) check_range(e.addr, e.addr + e.len, &w);
  tc_gcwork_dispose(&w);
  uintptr_t used = tc_align_up(tc_atomic_load_relaxed(&tc_arenas.committed) / 64, 4096);
  tc_os_decommit(bits, used);
}
