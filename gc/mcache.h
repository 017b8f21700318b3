/*
 * mcache.h - the per-thread allocation cache: one span per span class.
 *
 * Only the owning thread touches its mcache, except with the world stopped,
 * when the collector flushes every mcache (tc_mcache_release_all) at mark
 * termination. Stopped threads are never inside an allocation (stw.c), so
 * the flush never races a half-done fast path.
 *
 * tc_mcache_tls points at the thread's mcache, or at tc_empty_mcache (every
 * slot the empty span) before registration, so the fast path needs no
 * "registered?" test: the first allocation misses and the slow path
 * registers the thread.
 *
 * next_sample is the heap profiler's countdown (Go's mcache.nextSample):
 * bytes of slots still to be allocated before the next sampled one. Every
 * allocation subtracts its slot size; when it goes negative the allocation
 * is sampled and a new countdown drawn (profile/sample.c). INT64_MAX when
 * profiling is off and in tc_empty_mcache. Written by the owner, or with the
 * world stopped by gc_set_profile_rate.
 * Go: runtime/mcache.go.
 */
#ifndef TC_MCACHE_H
#define TC_MCACHE_H

#include "base.h"
#include "sizeclass.h"
#include "span.h"

typedef struct tc_mcache {
  int64_t next_sample;  /* owner only, or world stopped; see header */
  tc_span_t *alloc[TC_NUM_SPAN_CLASSES];
  /* 1 while the owner is inside the allocation fast path. The suspend
   * handler (same thread) then sets stop_waiting, and the fast path's exit
   * parks the thread (stw.h). in_fastpath is also written, harmlessly, in
   * tc_empty_mcache by unregistered threads; stop_waiting never is. */
  volatile int in_fastpath;
  volatile int stop_waiting;
} tc_mcache_t;

extern tc_mcache_t tc_empty_mcache;
extern __thread tc_mcache_t *tc_mcache_tls __attribute__((tls_model("initial-exec")));

tc_mcache_t *tc_mcache_new(void);
void tc_mcache_delete(tc_mcache_t *c);

/* Replaces the span of class sc with one that has a free slot. Returns false
 * on out of memory. Caller is the owner, in a no-stop region. */
bool tc_mcache_refill(tc_mcache_t *c, tc_spanclass_t sc);

/* Returns every cached span to its mcentral. Owner, or world stopped. */
void tc_mcache_release_all(tc_mcache_t *c);

/* For gc_read_memstats with the world stopped: objects allocated from
 * cached spans and not yet credited to the statistics, per size class. */
void tc_mcache_pending_allocs(const tc_mcache_t *c, uint64_t *per_class);

uint64_t tc_mcache_sys(void);
uint64_t tc_mcache_inuse(void);

#endif
