/*
 * mark.h - conservative tri-color marking: stop-the-world and concurrent.
 *
 * Colors: a slot is white while its mark bit is clear, gray while marked
 * with its contents queued in a work buffer (gcwork.h), black once marked
 * and scanned. Every word of a scanned range that falls in the heap is
 * resolved to a span and slot in O(1) (findobject.h); an allocated, unmarked
 * slot is marked with an atomic or and, unless its span is noscan or it was
 * gc_free'd, queued. Interior pointers count; a word pointing at a free slot
 * or tail waste keeps nothing alive.
 *
 * GCMODE=stw: tc_mark_stw marks everything with the world stopped, on the
 * collecting thread plus GCPROCS-1 helper threads.
 *
 * GCMODE=concurrent and barrier, three steps:
 *   tc_mark_begin (world stopped; sweep termination): every thread's stack
 *     from its stop pointer, its static TLS, gc_add_roots and internal
 *     ranges and the finalizer table's words are scanned on the spot (they
 *     may change or vanish once the world runs); loaded objects' segments
 *     and finalizer objects' contents are queued. Marking is on from here:
 *     new objects are allocated black (mcentral.c, alloc.c).
 *   tc_mark_concurrent (world running): Go's 25% of GCPROCS as dedicated
 *     helper threads plus one fractional worker (the coordinator, duty-
 *     cycled; over its budget it marks on as an idle worker while the
 *     runnable threads fit the CPUs, /proc/loadavg), and idle workers on
 *     CPUs the machine left idle since the last cycle (/proc/stat), drain
 *     the gray queue; markers share work whenever the global list is empty,
 *     for assists. Then, round after round: concurrent mode
 *     collects the heap pages written meanwhile (dirty.h) and re-scans the
 *     marked slots on them (only the written part of each); barrier mode
 *     picks up what write barriers flushed. Rounds stop when a round leaves
 *     at most TC_FINAL_DIRTY_PAGES written pages (or after
 *     TC_MAX_MARK_ROUNDS rounds). A round that does not shrink turns on the
 *     write throttle (throttle.h), which parks the threads that dirty pages
 *     in 1 ms windows; when the next round does not shrink either, the
 *     rounds end, and the throttle parks those threads through the last
 *     collection and mark termination.
 *   tc_mark_terminate (world stopped; mark termination): the last written
 *     pages (concurrent) or every thread's barrier buffer (barrier), all
 *     stacks, registers, TLS and global roots are scanned again, and the
 *     gray queue is drained in parallel. Its work is bounded by the roots'
 *     size, the last round's written pages or barrier buffers, and what is
 *     reachable only from them and still white (docs/modes.md).
 * Invariant at the end of any mark: every slot reachable from the roots
 * through scanned slots is marked; nothing is gray. A slot allocated during
 * the mark is marked (black) and holds only pointers that are either found
 * by the re-scans above or were shaded by the barrier.
 * GCCHECKMARK=1 verifies that invariant after each mark (checkmark.c).
 * Go: runtime/mgcmark.go, mgc.go (gcBgMarkWorker, gcMarkDone), mgcpacer.go
 * (dedicated/fractional workers).
 */
#ifndef TC_MARK_H
#define TC_MARK_H

#include "base.h"

/* Concurrent rounds end when a collection finds at most this many written
 * 4 KiB pages (128 KiB); their re-scan is one last concurrent drain, and
 * mark termination collects what is written during it. The shorter that
 * drain, the less: at 256 pages, bench/pause at 1 GiB left 57-143 pages to
 * 5 of 12 pauses 2 (1.2-2.7 ms, 6-15 us a page on a PVM guest); at 32,
 * none in 12 (a round or two more per mark, a walk of the page tables
 * each; GCBench the same). */
#define TC_FINAL_DIRTY_PAGES 32
#define TC_MAX_MARK_ROUNDS 16
/* Re-scans (each followed by a collection) in a throttled mark's final
 * stretch (throttle.h). */
#define TC_FINAL_STRETCH_ROUNDS 4
/* Mark termination splits the heap into parts of at least this size for
 * its parallel collection of written pages. */
#define TC_FINAL_SCAN_PART ((uintptr_t)64 << 20)

typedef struct tc_mark_result {
  uint64_t bytes_marked;
  uint64_t stack_bytes;
  uint64_t global_bytes;
  uint64_t heap_scan_bytes;
  uint32_t rounds;             /* concurrent rounds after the first drain */
  uint32_t idle_workers;       /* extra helpers run on idle CPUs */
  uint64_t dirty_pages;        /* written pages re-scanned concurrently */
  uint64_t final_dirty_pages;  /* written pages re-scanned at termination */
  uint64_t term_scan_bytes;    /* bytes scanned at mark termination */
  uint64_t mark_cpu_ns;        /* concurrent mark worker time */
  uint64_t assist_ns;          /* mutators' mark assist time */
  uint64_t idle_ns;            /* idle workers' part of mark_cpu_ns */
} tc_mark_result_t;

/* Starts the helper threads if needed. World running, cycle lock held. */
void tc_mark_prepare(void);
/* GCMODE=stw: marks from the roots with the world stopped. */
void tc_mark_stw(tc_mark_result_t *out);
/* The three steps of a concurrent mark (see above). */
void tc_mark_begin(tc_mark_result_t *out);
void tc_mark_concurrent(tc_mark_result_t *out);
void tc_mark_terminate(tc_mark_result_t *out);

/* Assist scanning (assist.h decides how much): the calling thread scans
 * gray objects from the global queue until `budget` bytes are scanned or
 * none are left; *scanned gets the bytes. In a no-stop region, so mark
 * termination waits for it and finds its results flushed; the gray work it
 * holds keeps the phase open (tc_gcwork_assist_done). At most
 * TC_ASSIST_MAX_BYTES per call (64 KiB, tens of microseconds), since a
 * stop of the world waits for the region to end; callers loop. A stop
 * that signals the thread meanwhile ends the call early, and it returns
 * true (more to do) whatever it found. *cpu_ns
 * gets the thread CPU time the call spent (two clock reads, each a system
 * call: callers use this rather than reading the clock again). Returns
 * false when no gray work was found. */
#define TC_ASSIST_MAX_BYTES ((uint64_t)64 << 10)
bool tc_mark_assist_work(uint64_t budget, uint64_t *scanned, uint64_t *cpu_ns);
/* Scan work (bytes) done so far in the running mark, roots included, not
 * counting re-scans of written pages (tc_mark_rescan_bytes, this mark's
 * total: the pacer leaves them out of its work measure). */
uint64_t tc_mark_work_done(void);
uint64_t tc_mark_rescan_bytes(void);

/* Shades n values (write barrier buffers). Caller is in a no-stop region
 * and marking is on. */
void tc_mark_shade(const uintptr_t *v, size_t n);
/* Shades every word of [lo, hi) (a bulk copy into a black object). */
void tc_mark_shade_range(uintptr_t lo, uintptr_t hi);

/* Calls fn on every stopped thread's stack range (from its stop pointer;
 * the whole mapping as well for a thread stopped on an alternate signal
 * stack) and its static TLS; returns the stack bytes. World stopped. */
uint64_t tc_mark_for_each_stack(void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx);

/* Mark bit of the object starting at base (world stopped). */
bool tc_mark_is_marked(uintptr_t base);
void tc_mark_set(uintptr_t base);

/* fork(): the helper threads do not exist in the child. */
void tc_mark_after_fork_child(void);

#endif
