/*
 * protect.h - when GCMODE=concurrent protects the heap and lifts the
 * protection (dirty.h is how).
 *
 * The protection matters only while a mark runs: a write to a protected
 * page is recorded, and the mark re-scans what was written. Between marks
 * it is a cost, one write fault per page written, so the protection is
 * lifted after a mark where the program is likely to write before the
 * next one, and kept elsewhere. Any page state is safe at a mark's start
 * (a protected page becomes written at its next write, an unprotected one
 * counts as written already), so these choices trade costs and nothing
 * else: no choice here can hide a write from a mark.
 */
#ifndef TC_PROTECT_H
#define TC_PROTECT_H

#include "atomic.h"
#include "base.h"

/* Before pause 1: protects the written pages of the scanned spans. */
void tc_protect_before_mark(void);

/* In pause 2, after the sweep generation moved: opens the lifting pass, so
 * that threads can help with it (tc_protect_help) as soon as the world
 * restarts, before the coordinator gets to it. */
void tc_protect_arm(void);

/* After pause 2, world running: runs the armed pass. It lifts the
 * protection of the spans the program will allocate into or wrote during
 * the mark, in address order, sweeping each part of the heap right behind
 * its lifting (tc_sweep_range). Returns when the pass is over, helpers
 * included. */
void tc_protect_lift_and_sweep(void);

/* A thread that needs a span while the pass is under way and finds none
 * swept takes the pass's next part (at most 32 pages) and lifts and sweeps
 * it itself, rather than sweep spans of its own in list order, still
 * protected, and take a fault on each page it allocates in. Does nothing
 * when no pass is under way or nothing of it is left. Called in a no-stop
 * region (mcentral.c, cache_span). */
void tc_protect_help(void);

extern uint32_t tc_protect_pass;
/* A lifting pass is under way (a hint: tc_protect_help checks again). */
TC_INLINE bool tc_protect_lifting(void) { return tc_atomic_load_relaxed(&tc_protect_pass) != 0; }

/* Since start: pages (8 KiB) the lifting passes lifted, and kept
 * protected (full spans not written during their mark); parts of the
 * passes that allocating threads took (tc_protect_help). */
typedef struct tc_protect_counts {
  uint64_t lifted_pages, kept_pages, helped_parts;
} tc_protect_counts_t;
void tc_protect_read_counts(tc_protect_counts_t *out);

#endif
