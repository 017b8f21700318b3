/*
 * arena.h - the heap's address space and the page -> span map.
 *
 * Owns: one contiguous reservation of address space (up to 1 TiB, PROT_NONE,
 * costs no memory) in which the heap grows upward in 64 MiB arenas, committed
 * 4 MiB at a time (Go's page-allocator chunk) as the page heap asks for more;
 * and the page -> span map over the whole reservation (a lazily touched
 * array, 8 bytes per 8 KiB page).
 *
 * Pointer lookup is O(1): one unsigned compare against the committed size
 * rejects every non-heap word; the page index selects the span.
 *
 * Invariants:
 *   - [tc_arenas.lo, tc_arenas.lo + tc_arenas.committed) is mapped RW;
 *     committed only grows (atomic, release on grow).
 *   - spans[i] is the in-use span covering page i, or NULL. Written under
 *     tc_mheap.lock; read racily (relaxed) by markers and gc_base, which then
 *     check the span's state and bounds.
 * Not owned: which pages are free (pagealloc.c), spans themselves (span.c).
 * Go: runtime/malloc.go (arena hints, heapArena), mheap.go (sysAlloc/grow).
 */
#ifndef TC_ARENA_H
#define TC_ARENA_H

#include "atomic.h"
#include "base.h"
#include "config.h"

struct tc_span;

#define TC_COMMIT_CHUNK ((uintptr_t)4 << 20)

typedef struct tc_arenas {
  uintptr_t lo;              /* start of the reservation; constant after init */
  uintptr_t reserved;        /* bytes reserved; constant after init */
  uintptr_t committed;       /* bytes mapped RW from lo; atomic, grows under tc_mheap.lock */
  struct tc_span **spans;    /* page index -> span; see invariants */
  uint64_t spans_touched;    /* bytes of the span map backing committed pages */
} tc_arenas_t;

extern tc_arenas_t tc_arenas;

bool tc_arenas_init(void);

/* Commits at least n more bytes at the end of the heap; returns the page
 * index of the first new page, or (uintptr_t)-1 when the reservation is
 * exhausted or the OS refuses. Caller holds tc_mheap.lock. */
uintptr_t tc_arenas_grow_locked(uintptr_t n);

/* The end of the committed heap (acquire: the span map covers it). */
TC_INLINE uintptr_t tc_arenas_hi(void) {
  return tc_arenas.lo + tc_atomic_load_acquire(&tc_arenas.committed);
}

TC_INLINE uintptr_t tc_page_index(uintptr_t addr) {
  return (addr - tc_arenas.lo) >> TC_PAGE_SHIFT;
}
TC_INLINE uintptr_t tc_page_addr(uintptr_t pageidx) {
  return tc_arenas.lo + (pageidx << TC_PAGE_SHIFT);
}

/* The span map entry for addr if addr is inside the committed heap, else
 * NULL. The caller must still check the span's state and range. */
TC_INLINE struct tc_span *tc_span_lookup(uintptr_t addr) {
  uintptr_t off = addr - tc_arenas.lo;
  if (off >= tc_atomic_load_relaxed(&tc_arenas.committed)) return NULL;
  return tc_atomic_load_relaxed(&tc_arenas.spans[off >> TC_PAGE_SHIFT]);
}

#endif
