/*
 * uncollectable.c - the set of GC_malloc_uncollectable objects.
 *
 * Owns: an open-addressing hash set of object addresses in mmap'd memory
 * (never libc malloc, never the collected heap), registered with the
 * collector as an internal root range. Being a root, every word of it
 * marks its object on every cycle, so an uncollectable object is never
 * freed by the collector, and (unless atomic) its contents are scanned:
 * it is a root, as bdwgc documents. Only GC_free removes an entry.
 * Invariants: the set is covered by a root range at every moment: on
 * growth the new table is registered before the old one is unregistered.
 * Entries are written under `lock`; the collector reads the memory as a
 * root (both pauses re-scan internal ranges in full, so no barrier is
 * needed). Deleted entries hold 1, which is no heap pointer.
 */
#include <pthread.h>

#include "os.h"
#include "roots.h"
#include "shim.h"

#define EMPTY 0
#define DELETED 1

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  uintptr_t *v;           /* cap words */
  size_t cap, used, live;
  tc_root_handle_t root[2]; /* root[cur] covers v while cap != 0 */
  int cur;
} set;

static size_t hash(uintptr_t p) { return (size_t)((uint64_t)p * 0x9E3779B97F4A7C15ull >> 24); }

static uintptr_t *find(uintptr_t p) {
  if (set.cap == 0) return NULL;
  size_t mask = set.cap - 1;
  for (size_t i = hash(p) & mask;; i = (i + 1) & mask) {
    if (set.v[i] == p) return &set.v[i];
    if (set.v[i] == EMPTY) return NULL;
  }
}

static bool grow(void) {
  size_t ncap = set.cap ? set.cap * 2 : 256;
  if (set.cap && set.live < set.cap / 4) ncap = set.cap;
  uintptr_t *nv = tc_os_alloc(ncap * sizeof *nv);
  if (nv == NULL) return false;
  for (size_t j = 0; j < set.cap; j++) {
    if (set.v[j] <= DELETED) continue;
    size_t i = hash(set.v[j]) & (ncap - 1);
    while (nv[i] != EMPTY) i = (i + 1) & (ncap - 1);
    nv[i] = set.v[j];
  }
  uintptr_t *ov = set.v;
  size_t ocap = set.cap;
  int next = set.cur ^ 1;
  tc_roots_add_internal(&set.root[next], nv, nv + ncap);
  if (ov) {
    tc_roots_remove_internal(&set.root[set.cur]);
    tc_os_free(ov, ocap * sizeof *ov);
  }
  set.cur = next;
  set.v = nv;
  set.cap = ncap;
  set.used = set.live;
  return true;
}

bool bdw_uncollectable_add(void *p) {
  pthread_mutex_lock(&lock);
  bool ok = true;
  if ((set.used + 1) * 2 > set.cap) ok = grow();
  if (ok) {
    size_t mask = set.cap - 1;
    size_t i = hash((uintptr_t)p) & mask;
    while (set.v[i] > DELETED) i = (i + 1) & mask;
    if (set.v[i] == EMPTY) set.used++;
    __atomic_store_n(&set.v[i], (uintptr_t)p, __ATOMIC_RELAXED);
    set.live++;
  }
  pthread_mutex_unlock(&lock);
  return ok;
}

bool bdw_uncollectable_remove(void *p) {
  pthread_mutex_lock(&lock);
  uintptr_t *e = find((uintptr_t)p);
  if (e) {
    __atomic_store_n(e, (uintptr_t)DELETED, __ATOMIC_RELAXED);
    set.live--;
  }
  pthread_mutex_unlock(&lock);
  return e != NULL;
}

bool bdw_uncollectable_contains(const void *p) {
  pthread_mutex_lock(&lock);
  bool in = find((uintptr_t)p) != NULL;
  pthread_mutex_unlock(&lock);
  return in;
}
