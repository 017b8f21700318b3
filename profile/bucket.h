/*
 * bucket.h - the heap profile's records: buckets keyed by (stack, slot size)
 * with Go's three-cycle publication, and the address -> bucket record of
 * every sampled object still alive.
 *
 * Owns: the bucket hash table, the list of all buckets, each bucket's
 * memory record, the profile cycle counter, and the address map. Memory
 * comes from tc_persistent_alloc (buckets, never freed, like Go's) and from
 * the OS (the hash heads and the address map); nothing lives on the GC heap
 * and nothing here is scanned, so a record never keeps an object alive.
 *
 * Three-cycle publication (Go's mprof.go). C is the profile cycle counter,
 * advanced at every mark termination. Each record has `active` (what the
 * profile shows) and future[3]:
 *
 *   sampled allocation              -> future[(C+2) % 3]
 *   free found by the sweeper       -> future[(C+1) % 3]
 *   explicit free (gc_free)         -> future[(C+2) % 3]  (like an allocation:
 *                                      both are mutator events of cycle C)
 *   mark termination, world stopped -> C++              (tc_bucket_next_cycle)
 *   right after the world restarts  -> active += future[C % 3]   (flush)
 *   gc_collect, after its sweep     -> active += future[(C+1) % 3] (post-sweep)
 *
 *     allocations of cycle k ----+           frees swept after MT k+1 --+
 *                                v                                      v
 *   ... MT k ........ MT k+1 ......(sweep)...... MT k+2: flush publishes both
 *
 * So after an ordinary cycle, active holds the allocations made before the
 * previous mark termination minus the frees that mark found: a consistent
 * picture of the heap as of the last *completed* cycle, never skewed by
 * garbage the sweeper has not reached yet. After gc_collect (which sweeps
 * before returning) the post-sweep flush makes it the heap as of that
 * collection. inuse = active.alloc - active.free; alloc_* are cumulative.
 * A reader (tc_bucket_snapshot) first flushes future[C % 3] itself (in case
 * it runs between a mark termination and its flush); if active is still
 * empty everywhere (no cycle completed yet), it folds all three futures in,
 * so a program that never collects still gets a profile.
 *
 * Locking: one mutex, prof.lock, protects buckets, records and the address
 * map; sample.c also changes the spans' sampled bits only while holding it
 * (tc_bucket_lock and the _locked calls), so "bit set <=> address record"
 * holds whenever the lock is free, in particular across fork(), where a
 * thread that vanishes mid-update would otherwise leave a record without a
 * bit. It is taken with tc_mutex_lock_nostop (a no-stop region when the
 * caller is registered), so no stopped thread ever holds it; the background
 * sweeper holds it only while holding the sweep gate. Lock order: cycle lock
 * -> sweep gate -> prof.lock -> persistent/fixalloc locks; it is never held
 * with the registry, roots, mcentral or mheap locks, and fork takes it after
 * the collector's own (profile/pprof.c registers the handlers).
 * tc_bucket_next_cycle runs with the world stopped and takes no lock.
 * Go: runtime/mprof.go (bucket, memRecord, mProf_*).
 */
#ifndef TC_BUCKET_H
#define TC_BUCKET_H

#include "base.h"

typedef struct tc_memrecord_cycle {
  uint64_t allocs, frees;           /* sampled objects */
  uint64_t alloc_bytes, free_bytes; /* their slot sizes */
} tc_memrecord_cycle_t;

typedef struct tc_memrecord {
  tc_memrecord_cycle_t active;    /* published */
  tc_memrecord_cycle_t future[3]; /* pending, indexed by cycle % 3 */
} tc_memrecord_t;

/* Immutable after insertion except mr (under prof.lock). */
typedef struct tc_pbucket {
  struct tc_pbucket *next;    /* hash chain */
  struct tc_pbucket *allnext; /* list of all buckets, newest first */
  uint64_t hash;
  uintptr_t size;             /* slot size of the sampled objects */
  uint32_t nstk;
  tc_memrecord_t mr;
  uintptr_t stk[];            /* return addresses, leaf first */
} tc_pbucket_t;

struct tc_thread;
/* prof.lock, in a no-stop region when the caller is registered. */
struct tc_thread *tc_bucket_lock(void);
void tc_bucket_unlock(struct tc_thread *t);

/* The key hash of (stack, size); computed before taking the lock. */
uint64_t tc_bucket_hash(const uintptr_t *stk, int nstk, uintptr_t size);
/* Records a sampled allocation of a slot of size bytes at addr. Returns
 * false if metadata memory ran out (the sample is then not taken). */
bool tc_bucket_record_alloc_locked(uintptr_t addr, uintptr_t size, const uintptr_t *stk,
                                   int nstk, uint64_t hash);
/* The sampled object at addr died: found by the sweeper (explicit false)
 * or freed by gc_free (explicit true). */
void tc_bucket_record_free_locked(uintptr_t addr, uintptr_t size, bool explicit_free);

/* The same, taking the lock (tests). record_sweep frees first + i * size
 * for every bit i of mask (one bitmap word of a span). */
bool tc_bucket_record_alloc(uintptr_t addr, uintptr_t size, const uintptr_t *stk, int nstk);
void tc_bucket_record_sweep(uintptr_t first, uintptr_t size, uint64_t mask);
void tc_bucket_record_free(uintptr_t addr, uintptr_t size);

/* Cycle hooks (cycle.c): mark termination with the world stopped; after
 * the world restarts; after gc_collect's sweep. */
void tc_bucket_next_cycle(void);
void tc_bucket_flush(void);
void tc_bucket_post_sweep(void);

/* One published record, for the writers. */
typedef struct tc_bucket_snap {
  const tc_pbucket_t *b;
  tc_memrecord_cycle_t active;
} tc_bucket_snap_t;

struct tc_scratch;
/* Publishes as runtime.MemProfile does (see the header) and copies every
 * bucket's active record into memory from a. Returns the count, or -1 with
 * errno ENOMEM. */
long tc_bucket_snapshot(struct tc_scratch *a, tc_bucket_snap_t **out);

/* Sampled objects currently alive (address records), buckets, and bytes of
 * profiling metadata. */
uint64_t tc_bucket_live_objects(void);
uint64_t tc_bucket_count(void);
uint64_t tc_bucket_sys(void);

/* fork(): hold prof.lock across the fork. */
void tc_bucket_fork_prepare(void);
void tc_bucket_fork_parent(void);
void tc_bucket_fork_child(void);

#endif
