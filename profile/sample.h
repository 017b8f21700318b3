/*
 * sample.h - which allocations the heap profiler samples.
 *
 * Owns: the sampling rate (GCPROFILERATE, gc_set_profile_rate), the
 * per-thread countdown draw, the out-of-line sample taken by the allocator,
 * and the spans' sampled bits (set here, cleared by the sweep and gc_free
 * hooks below). It does not own stacks (stack.c) or the records (bucket.c).
 *
 * Algorithm (Go's nextSample, runtime/malloc.go):
 *   1. Every mcache holds next_sample, the number of bytes still to be
 *      allocated before the next sampled allocation. A countdown is an
 *      exponential variate with mean `rate` (-ln(u) * rate, u uniform in
 *      (0, 1]), so sampling is a Poisson process over allocated bytes and an
 *      object of slot size s is sampled with probability 1 - e^(-s/rate),
 *      the probability pprof's scaling divides by. rate 1 gives 0 (every
 *      allocation); rate 0 gives INT64_MAX (never).
 *   2. The allocator subtracts each allocation's slot size (the size class's
 *      size, npages * 8192 for large objects, as Go) and calls
 *      tc_sample_alloc when the countdown goes negative.
 *   3. tc_sample_alloc captures the stack, records the sample in its bucket
 *      with the object's address, sets the slot's sampled bit and draws the
 *      next countdown.
 *   4. When a sampled slot dies, the sweeper (tc_sample_sweep) or gc_free
 *      (tc_sample_free) clears its bit and reports the free to bucket.c.
 *
 * Invariants: a sampled bit is set iff the slot holds a live object with an
 * address record in bucket.c; span->nsampled counts the set bits. Bits and
 * records change together under bucket.c's lock (so the invariant also
 * survives fork()), bits with atomic or/and because other span bits share
 * their words' cache lines with unlocked readers; a sweep racing a gc_free
 * reports each free exactly once (whoever clears the bit reports it).
 * nsampled is raised before the bit is set, so a sweeper that sees a bit
 * sees a nonzero count.
 *
 * Threads: tc_sample_alloc runs on the allocating thread outside any no-stop
 * region (it unwinds, which takes the loader lock); it redraws the countdown
 * inside one, because gc_set_profile_rate rewrites every countdown with the
 * world stopped. Sweep and free hooks run wherever sweeping and gc_free run.
 * Go: runtime/malloc.go (nextSample, profilealloc), mprof.go (mProf_Malloc).
 */
#ifndef TC_SAMPLE_H
#define TC_SAMPLE_H

#include "base.h"
#include "mcache.h"
#include "span.h"
#include "stack.h"

/* Average bytes between samples; 0 = off, 1 = every allocation. Atomic. */
extern size_t tc_sample_rate;

void tc_sample_init(size_t rate);

/* A countdown for rate from the calling thread's generator (no locks, no
 * allocation: usable with the world stopped). */
int64_t tc_sample_draw(size_t rate);
/* tc_sample_draw(the current rate): an mcache's first countdown. */
int64_t tc_sample_next(void);

/* The countdown of c went negative on the allocation of p from span s:
 * records the sample and draws the next countdown. Returns p. */
TC_NOINLINE TC_COLD TC_SAMPLING_FRAME void *tc_sample_alloc(tc_mcache_t *c, tc_span_t *s,
                                                            uintptr_t p);

/* Sweep of bitmap word `word` of s, keeping the slots in keep: reports the
 * sampled slots outside keep as freed and clears their bits. */
void tc_sample_sweep(tc_span_t *s, uint32_t word, uint64_t keep);

/* gc_free of slot idx of s: if it was sampled, clears the bit and reports
 * an explicit free. */
void tc_sample_free(tc_span_t *s, uint32_t idx);

#endif
