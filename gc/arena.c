/*
 * arena.c - heap reservation, growth and the page -> span map (arena.h).
 */
#include "arena.h"

#include "dirty.h"
#include "os.h"

tc_arenas_t tc_arenas;

bool tc_arenas_init(void) {
  /* Largest reservation the address space (or an RLIMIT_AS) allows. */
  for (uintptr_t n = TC_HEAP_RESERVE_MAX; n >= TC_HEAP_RESERVE_MIN; n >>= 1) {
    void *p = tc_os_reserve(n, TC_ARENA_SIZE);
    if (p == NULL) continue;
    size_t mapbytes = (n >> TC_PAGE_SHIFT) * sizeof(struct tc_span *);
    void *m = tc_os_reserve(mapbytes, 4096);
    if (m == NULL || !tc_os_commit(m, mapbytes)) {
      tc_os_free(p, n);
      if (m) tc_os_free(m, mapbytes);
      continue;
    }
    tc_arenas.lo = (uintptr_t)p;
    tc_arenas.reserved = n;
    tc_arenas.spans = m;
    return true;
  }
  return false;
}

uintptr_t tc_arenas_grow_locked(uintptr_t n) {
  uintptr_t cur = tc_arenas.committed;
  uintptr_t ask = tc_align_up(n, TC_COMMIT_CHUNK);
  if (ask < n || ask > tc_arenas.reserved - cur) return (uintptr_t)-1;
  if (!tc_os_commit((void *)(tc_arenas.lo + cur), ask)) return (uintptr_t)-1;
  /* Tracked from the first byte, before any span can live there. */
  tc_dirty_track(tc_arenas.lo + cur, ask);
  tc_arenas.spans_touched += (ask >> TC_PAGE_SHIFT) * sizeof(struct tc_span *);
  tc_atomic_store_release(&tc_arenas.committed, cur + ask);
  return cur >> TC_PAGE_SHIFT;
}
