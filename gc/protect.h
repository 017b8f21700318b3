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

#include "base.h"

/* Before pause 1: protects the written pages of the scanned spans. */
void tc_protect_before_mark(void);

/* After pause 2, world running: lifts the protection of the spans the
 * program will allocate into or wrote during the mark, sweeping each part
 * of the heap right behind its lifting (tc_sweep_range). */
void tc_protect_lift_and_sweep(void);

/* Pages (8 KiB) passed by tc_protect_lift_and_sweep since start: lifted,
 * and kept protected (full spans not written during their mark). */
typedef struct tc_protect_counts {
  uint64_t lifted_pages, kept_pages;
} tc_protect_counts_t;
void tc_protect_read_counts(tc_protect_counts_t *out);

#endif
