/*
 * bucket.c - profile buckets, memory records, three-cycle publication and
 * the address map of sampled live objects (bucket.h).
 *
 * Bucket table: BUCKHASH_SIZE chains (Go's 179999), the heads mapped from
 * the OS at the first sample (untouched pages cost nothing); key = (exact
 * return-address sequence, slot size), hashed with Go's stkbucket mixing.
 * Lookups and inserts hold prof.lock: samples are rare (one per
 * GCPROFILERATE bytes per thread), so one lock is simpler than Go's split
 * locks and never contended in practice.
 *
 * Address map: open addressing with linear probing over (address, bucket)
 * pairs, power-of-two capacity, grown at half full (a new mapping, rehash,
 * the old one unmapped), deletion by backward shift so no tombstones build
 * up. Addresses are object starts, never 0.
 */
#include "bucket.h"

#include <errno.h>
#include <string.h>

#include "atomic.h"
#include "error.h"
#include "fixalloc.h"
#include "os.h"
#include "scratch.h"
#include "thread.h"

#define BUCKHASH_SIZE 179999
#define MAP_MIN_CAP 1024

typedef struct addr_entry {
  uintptr_t addr; /* 0 = empty */
  tc_pbucket_t *b;
} addr_entry_t;

static struct {
  tc_mutex_t lock;
  tc_pbucket_t **hash;   /* BUCKHASH_SIZE chains; NULL until the first sample */
  tc_pbucket_t *all;     /* every bucket, newest first */
  uint64_t nbuckets;
  uint64_t cycle;        /* atomic; written with the world stopped only */
  addr_entry_t *map;     /* map_cap entries */
  size_t map_cap, map_count;
  unsigned map_shift;    /* 64 - log2(map_cap) */
  uint64_t sys;          /* atomic: bytes of profiling metadata */
} prof = {.lock = TC_MUTEX_INIT};

/* ---- buckets ------------------------------------------------------------- */

uint64_t tc_bucket_hash(const uintptr_t *stk, int n, uintptr_t size) {
  uint64_t h = 0;
  for (int i = 0; i < n; i++) {
    h += stk[i];
    h += h << 10;
    h ^= h >> 6;
  }
  h += size;
  h += h << 10;
  h ^= h >> 6;
  h += h << 3;
  h ^= h >> 11;
  return h;
}

static tc_pbucket_t *bucket_locked(uint64_t h, uintptr_t size, const uintptr_t *stk, int n) {
  if (prof.hash == NULL) {
    size_t bytes = BUCKHASH_SIZE * sizeof(tc_pbucket_t *);
    prof.hash = tc_persistent_alloc(bytes, 64);
    if (prof.hash == NULL) return NULL;
    tc_atomic_add_relaxed(&prof.sys, bytes);
  }
  size_t i = (size_t)(h % BUCKHASH_SIZE);
  for (tc_pbucket_t *b = prof.hash[i]; b; b = b->next)
    if (b->hash == h && b->size == size && b->nstk == (uint32_t)n &&
        memcmp(b->stk, stk, (size_t)n * sizeof stk[0]) == 0)
      return b;
  size_t bytes = sizeof(tc_pbucket_t) + (size_t)n * sizeof stk[0];
  tc_pbucket_t *b = tc_persistent_alloc(bytes, 16);
  if (b == NULL) return NULL;
  tc_atomic_add_relaxed(&prof.sys, bytes);
  b->hash = h;
  b->size = size;
  b->nstk = (uint32_t)n;
  memcpy(b->stk, stk, (size_t)n * sizeof stk[0]);
  b->next = prof.hash[i];
  prof.hash[i] = b;
  b->allnext = prof.all;
  prof.all = b;
  prof.nbuckets++;
  return b;
}

/* ---- address map ----------------------------------------------------------- */

static size_t map_home(uintptr_t addr) {
  return (size_t)(((uint64_t)addr * UINT64_C(0x9E3779B97F4A7C15)) >> prof.map_shift);
}

static bool map_grow_locked(void) {
  size_t cap = prof.map_cap ? prof.map_cap * 2 : MAP_MIN_CAP;
  addr_entry_t *m = tc_os_alloc(cap * sizeof *m);
  if (m == NULL) return false;
  addr_entry_t *old = prof.map;
  size_t old_cap = prof.map_cap;
  prof.map = m;
  prof.map_cap = cap;
  prof.map_shift = 64 - (unsigned)__builtin_ctzll(cap);
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].addr == 0) continue;
    size_t j = map_home(old[i].addr);
    while (m[j].addr != 0) j = (j + 1) & (cap - 1);
    m[j] = old[i];
  }
  if (old) tc_os_free(old, old_cap * sizeof *old);
  tc_atomic_add_relaxed(&prof.sys, (cap - old_cap) * sizeof *m);
  return true;
}

static bool map_insert_locked(uintptr_t addr, tc_pbucket_t *b) {
  if ((prof.map_count + 1) * 2 > prof.map_cap && !map_grow_locked()) {
    /* Out of memory: keep going while the table has room to probe. */
    if (prof.map_cap == 0 || (prof.map_count + 1) * 16 > prof.map_cap * 15) return false;
  }
  size_t mask = prof.map_cap - 1;
  size_t i = map_home(addr);
  while (prof.map[i].addr != 0) {
    if (prof.map[i].addr == addr)
      tc_throw("heap profile: object 0x%lx sampled twice without a free", (unsigned long)addr);
    i = (i + 1) & mask;
  }
  prof.map[i].addr = addr;
  prof.map[i].b = b;
  prof.map_count++;
  return true;
}

static tc_pbucket_t *map_remove_locked(uintptr_t addr) {
  if (prof.map_cap == 0) return NULL;
  size_t mask = prof.map_cap - 1;
  size_t i = map_home(addr);
  while (prof.map[i].addr != addr) {
    if (prof.map[i].addr == 0) return NULL;
    i = (i + 1) & mask;
  }
  tc_pbucket_t *b = prof.map[i].b;
  prof.map_count--;
  /* Backward shift: move later entries of the probe run into the hole
   * unless their home lies cyclically in (hole, j]. */
  size_t j = i;
  for (;;) {
    prof.map[i].addr = 0;
    prof.map[i].b = NULL;
    for (;;) {
      j = (j + 1) & mask;
      if (prof.map[j].addr == 0) return b;
      size_t k = map_home(prof.map[j].addr);
      bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) break;
    }
    prof.map[i] = prof.map[j];
    i = j;
  }
}

/* ---- records --------------------------------------------------------------- */

static void cycle_add(tc_memrecord_cycle_t *dst, const tc_memrecord_cycle_t *src) {
  dst->allocs += src->allocs;
  dst->frees += src->frees;
  dst->alloc_bytes += src->alloc_bytes;
  dst->free_bytes += src->free_bytes;
}

/* The slot a mutator event of the current cycle goes to. Read under
 * prof.lock, inside a no-stop region: no mark termination can happen in
 * between, so the event is never filed against a cycle already flushed. */
static unsigned future_index(unsigned ahead) {
  return (unsigned)((tc_atomic_load_relaxed(&prof.cycle) + ahead) % 3);
}

tc_thread_t *tc_bucket_lock(void) { return tc_mutex_lock_nostop(&prof.lock); }
void tc_bucket_unlock(tc_thread_t *t) { tc_mutex_unlock_nostop(&prof.lock, t); }

bool tc_bucket_record_alloc_locked(uintptr_t addr, uintptr_t size, const uintptr_t *stk,
                                   int nstk, uint64_t hash) {
  tc_pbucket_t *b = bucket_locked(hash, size, stk, nstk);
  if (b == NULL || !map_insert_locked(addr, b)) return false;
  tc_memrecord_cycle_t *f = &b->mr.future[future_index(2)];
  f->allocs++;
  f->alloc_bytes += size;
  return true;
}

bool tc_bucket_record_alloc(uintptr_t addr, uintptr_t size, const uintptr_t *stk, int nstk) {
  uint64_t h = tc_bucket_hash(stk, nstk, size);
  tc_thread_t *t = tc_bucket_lock();
  bool ok = tc_bucket_record_alloc_locked(addr, size, stk, nstk, h);
  tc_bucket_unlock(t);
  return ok;
}

void tc_bucket_record_free_locked(uintptr_t addr, uintptr_t size, bool explicit_free) {
  tc_pbucket_t *b = map_remove_locked(addr);
  if (b == NULL)
    tc_throw("heap profile: sampled object 0x%lx has no record", (unsigned long)addr);
  if (TC_DEBUG >= 1 && b->size != size)
    tc_throw("heap profile: object 0x%lx sampled as %lu bytes, freed as %lu",
             (unsigned long)addr, (unsigned long)b->size, (unsigned long)size);
  tc_memrecord_cycle_t *f = &b->mr.future[future_index(explicit_free ? 2 : 1)];
  f->frees++;
  f->free_bytes += size;
}

void tc_bucket_record_sweep(uintptr_t first, uintptr_t size, uint64_t mask) {
  tc_thread_t *t = tc_bucket_lock();
  while (mask) {
    unsigned i = (unsigned)__builtin_ctzll(mask);
    mask &= mask - 1;
    tc_bucket_record_free_locked(first + (uintptr_t)i * size, size, false);
  }
  tc_bucket_unlock(t);
}

void tc_bucket_record_free(uintptr_t addr, uintptr_t size) {
  tc_thread_t *t = tc_bucket_lock();
  tc_bucket_record_free_locked(addr, size, true);
  tc_bucket_unlock(t);
}

/* ---- publication ------------------------------------------------------------ */

void tc_bucket_next_cycle(void) {
  /* World stopped: the only writer, and no reader is between its load of
   * the counter and its use (they read it in no-stop regions). */
  tc_atomic_store_relaxed(&prof.cycle, tc_atomic_load_relaxed(&prof.cycle) + 1);
}

static void flush_locked(unsigned index) {
  for (tc_pbucket_t *b = prof.all; b; b = b->allnext) {
    cycle_add(&b->mr.active, &b->mr.future[index]);
    memset(&b->mr.future[index], 0, sizeof b->mr.future[index]);
  }
}

void tc_bucket_flush(void) {
  tc_thread_t *t = tc_mutex_lock_nostop(&prof.lock);
  flush_locked(future_index(0));
  tc_mutex_unlock_nostop(&prof.lock, t);
}

void tc_bucket_post_sweep(void) {
  tc_thread_t *t = tc_mutex_lock_nostop(&prof.lock);
  flush_locked(future_index(1));
  tc_mutex_unlock_nostop(&prof.lock, t);
}

long tc_bucket_snapshot(struct tc_scratch *a, tc_bucket_snap_t **out) {
  tc_thread_t *t = tc_mutex_lock_nostop(&prof.lock);
  flush_locked(future_index(0));
  bool clear = true;
  for (tc_pbucket_t *b = prof.all; b && clear; b = b->allnext)
    if (b->mr.active.allocs != 0 || b->mr.active.frees != 0) clear = false;
  if (clear) {
    /* No cycle has published anything yet: show everything recorded. */
    for (tc_pbucket_t *b = prof.all; b; b = b->allnext)
      for (unsigned c = 0; c < 3; c++) {
        cycle_add(&b->mr.active, &b->mr.future[c]);
        memset(&b->mr.future[c], 0, sizeof b->mr.future[c]);
      }
  }
  long n = (long)prof.nbuckets;
  tc_bucket_snap_t *s = tc_scratch_alloc(a, (size_t)n * sizeof *s + 1);
  if (s != NULL) {
    long i = 0;
    for (tc_pbucket_t *b = prof.all; b; b = b->allnext, i++) {
      s[i].b = b;
      s[i].active = b->mr.active;
    }
  }
  tc_mutex_unlock_nostop(&prof.lock, t);
  if (s == NULL) {
    errno = ENOMEM;
    return -1;
  }
  *out = s;
  return n;
}

uint64_t tc_bucket_live_objects(void) {
  tc_thread_t *t = tc_mutex_lock_nostop(&prof.lock);
  uint64_t n = prof.map_count;
  tc_mutex_unlock_nostop(&prof.lock, t);
  return n;
}

uint64_t tc_bucket_count(void) {
  tc_thread_t *t = tc_mutex_lock_nostop(&prof.lock);
  uint64_t n = prof.nbuckets;
  tc_mutex_unlock_nostop(&prof.lock, t);
  return n;
}

uint64_t tc_bucket_sys(void) { return tc_atomic_load_relaxed(&prof.sys); }

/* The collector's prepare handler runs first (registered last) and waits
 * until no registered thread is in a no-stop region, where this lock is
 * only ever held; the background sweeper is kept out. */
void tc_bucket_fork_prepare(void) { tc_mutex_lock(&prof.lock); }
void tc_bucket_fork_parent(void) { tc_mutex_unlock(&prof.lock); }
void tc_bucket_fork_child(void) { tc_mutex_unlock(&prof.lock); }
