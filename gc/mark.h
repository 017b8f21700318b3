/*
 * mark.h - conservative marking.
 *
 * Algorithm (with the world stopped, in this version):
 *   1. Root jobs: every registered thread's stack from its saved stack
 *      pointer to its base (the parked threads' registers are in their
 *      signal frames; the collector spills its own), their static TLS, the
 *      global segments, gc_add_roots ranges and internal roots are queued as
 *      ranges, split into TC_SCAN_CHUNK pieces.
 *   2. GCPROCS markers (the collecting thread plus helper threads) drain the
 *      queue: each word of a range that falls in the heap is resolved to a
 *      span and slot in O(1) (tc_findobject); an allocated, unmarked slot is
 *      marked with an atomic or, and if its span is not noscan its slot is
 *      queued for scanning. Interior pointers count; a word pointing at a
 *      free slot or tail waste keeps nothing alive.
 *   3. When every marker is idle and the queue is empty, marking is done.
 * Invariant after marking: every slot reachable from the roots through
 * scanned slots has its mark bit set (black); nothing is gray.
 * Go: runtime/mgcmark.go (scanobject, greyobject), mgc.go (gcBgMarkWorker).
 */
#ifndef TC_MARK_H
#define TC_MARK_H

#include "base.h"

struct tc_thread;

typedef struct tc_mark_result {
  uint64_t bytes_marked;
  uint64_t stack_bytes;
  uint64_t global_bytes;
  uint64_t heap_scan_bytes;
} tc_mark_result_t;

/* Starts the helper threads if needed. World running, cycle lock held. */
void tc_mark_prepare(void);
/* Marks from the roots with the world stopped. self is the collecting thread
 * (registered) and sp its current stack pointer. */
void tc_mark_stw(struct tc_thread *self, uintptr_t sp, tc_mark_result_t *out);
/* fork(): the helper threads do not exist in the child. */
void tc_mark_after_fork_child(void);

#endif
