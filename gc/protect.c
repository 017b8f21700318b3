/*
 * protect.c - the heap's write protection around a concurrent mark
 * (protect.h; the kernel side is dirty.c).
 *
 * Owns: which pages are protected before a mark and which are lifted after
 * it, and the order of the lifting and the sweep behind it.
 * Invariant: none that correctness rests on. Every page of a scanned span
 * that was written since the last report is protected before pause 1 (the
 * reset) or counts as written, so the mark's walks see every write; what
 * the lifting leaves protected only costs the program a fault if it writes
 * there before the next mark.
 *
 * Before the mark. Only pages where spans of scanned objects live are
 * protected: the marks walk only those pages (mark.c, collect_scanned), so
 * protecting pointer-free or free memory would buy write faults and nothing
 * else. Free pages stay as they are: most were lifted after the last mark,
 * so the spans this mark allocates there (black) take no write fault until
 * a walk has reported and re-protected them. The reset bridges only gaps
 * shorter than RESET_BRIDGE pages: each call flushes the TLB of the CPUs
 * running the process, and with one call per run of a fragmented heap
 * GCBench on two threads ran 10% slower (on one thread the same either
 * way). The price: a free page the reset protects in a bridged gap costs a
 * fault when the mark places a span there, and first fit places there
 * first; that is most of a mark's faults (docs/performance.md, "Where a
 * mark's faults come from, counted": on a machine with 13 us faults, no
 * bridging took GCBench's faults to barrier mode's, one thread 6% faster,
 * two threads 16% slower).
 *
 * After the mark. Lifting a page costs the collector ~0.3 us per 4 KiB
 * (UFFDIO_WRITEPROTECT, ~150 us per 2 MiB) and re-protecting it before the
 * next mark ~40 ns more; leaving it protected costs the program one write
 * fault (~1 us) if it writes there before the next mark, and nothing if it
 * does not. (Those are the figures of the machine of 2026-11-22; on a PVM
 * guest a fault costs ~13 us and a lifted page ~0.9 us, which favours
 * lifting more: docs/modes.md.) So a span is lifted when the program is
 * likely to write it:
 *   - it will be allocated into: it has free slots once swept, or is
 *     cached by a thread, or is not in use (free pages in a run);
 *   - a marker found one of its pages written during this mark
 *     (tc_span_note_written, mark.c): the program writes there now. Writes
 *     to a span a thread was filling during the mark do not count
 *     (TC_WRITES_FILLING, span.h): they were its new objects' first stores.
 * What stays protected are the full spans the mark saw no write to: old
 * data the program only reads, most of a heap of long-lived objects. A
 * kept span shorter than LIFT_BRIDGE pages between lifted ones is lifted
 * with them, and so are free gaps shorter than TC_WALK_BRIDGE pages between
 * runs of in-use pages: a call of its own would cost a TLB flush of every
 * CPU running the process, more than lifting the few pages.
 *
 * The lifting takes a while, and the program runs meanwhile. A write to a
 * page still protected then costs a fault that also flushes the TLB of
 * every CPU running the process (the kernel has a flush pending while a
 * protection change is in flight), several microseconds on this guest. So
 * the coordinator lifts in address order, LIFT_FIRST_PAGES first and twice
 * as many each step up to LIFT_STEP_PAGES, and sweeps each step's spans
 * right after lifting it (tc_sweep_range): the spans with free slots go to
 * their class's swept lists and the empty ones to its empty list, where
 * allocating threads look first. The program thus allocates in pages
 * already lifted instead of sweeping spans of its own in list order, all
 * over the heap. On GCBench (one thread, perf samples of the program's
 * thread) write faults fell from 29% to 20% of its time, those taken while
 * the lifting was in flight from 47% of the fault time to 31%; the wall
 * time against stw mode from 1.28x to 1.12x (21 interleaved runs each).
 *
 * The pass is shared. It is armed inside pause 2 (tc_protect_arm), and its
 * parts are claimed in address order under lf.lock, each stretched to the
 * end of the span it cuts. The coordinator claims growing steps; a thread
 * that needs a span and finds none swept claims parts of HELP_PAGES itself
 * (tc_protect_help, from cache_span) before it sweeps any of its own. When
 * the CPUs are busy the coordinator waits for one after pause 2, often a
 * whole scheduler slice, and the program used to spend it sweeping spans
 * in list order and taking a fault on each page it allocated in: with a
 * busy loop beside GCBench, ~20k of its ~33k faults a run. The pass ends
 * when nothing is left to claim and no helper is still in a part; only
 * then are the empty lists freed.
 */
#include "protect.h"

#include <sched.h>

#include "arena.h"
#include "atomic.h"
#include "dirty.h"
#include "lock.h"
#include "mcentral.h"
#include "mheap.h"
#include "span.h"
#include "stw.h"
#include "sweep.h"

#define RESET_BRIDGE 8
#define LIFT_FIRST_PAGES 8
#define LIFT_STEP_PAGES 256
#define LIFT_BRIDGE 32
#define HELP_PAGES 32

/* The lifting pass after a mark: the coordinator and the threads that help
 * it (tc_protect_help) claim its parts in address order under lock. */
static struct {
  tc_mutex_t lock;    /* claims (next) */
  uint32_t helpers;   /* atomic: threads working on a claimed part */
  uint32_t sg;        /* the sweep generation of the pass */
  uintptr_t next, hi; /* what is left to claim */
  uintptr_t step;     /* the coordinator's next part, bytes; its own */
  uint64_t lifted, kept; /* pages since start; atomic */
  uint64_t helped;       /* parts taken by tc_protect_help; atomic */
} lf = {.lock = TC_MUTEX_INIT};

uint32_t tc_protect_pass; /* atomic: a pass is under way; set in pause 2, cleared under lf.lock */

void tc_protect_read_counts(tc_protect_counts_t *out) {
  out->lifted_pages = tc_atomic_load_relaxed(&lf.lifted);
  out->kept_pages = tc_atomic_load_relaxed(&lf.kept);
  out->helped_parts = tc_atomic_load_relaxed(&lf.helped);
}

static void reset_run(uintptr_t lo, uintptr_t hi, void *ctx) {
  (void)ctx;
  tc_dirty_reset(lo, hi);
}

void tc_protect_before_mark(void) {
  tc_mheap_for_scan_runs(tc_arenas.lo, tc_arenas_hi(), RESET_BRIDGE, reset_run, NULL);
}

/* The last span decided within a part, and its decision. */
typedef struct decided {
  const tc_span_t *span;
  bool keep;
} decided_t;

/* Whether the page at a may stay protected, and in *next where the span
 * (or page) holding it ends. Descriptors are read racily, as the sweep's
 * lookups do (tc_sweep_range): a wrong answer costs a fault or a lifting,
 * nothing else. */
static bool keeps_protection(decided_t *d, uintptr_t a, uintptr_t *next) {
  *next = tc_align_down(a, TC_PAGE_SIZE) + TC_PAGE_SIZE;
  tc_span_t *s = tc_span_lookup(a);
  if (s == NULL) return false;
  uintptr_t base, end = tc_span_bounds_racy(s, &base);
  if (base > a || end <= a) return false;
  *next = end;
  if (s == d->span) return d->keep;
  d->span = s;
  d->keep = false;
  if (tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE) return false;
  uint8_t w = tc_atomic_load_relaxed(&s->mark_writes);
  if (w != TC_WRITES_NONE) tc_atomic_store_relaxed(&s->mark_writes, (uint8_t)TC_WRITES_NONE);
  if (w == TC_WRITES_SEEN) return false;
  return d->keep = tc_sweep_leaves_full(s, lf.sg);
}

/* Lifts what [a, b) should have lifted (see above); returns the bytes. */
static uintptr_t lift_range(uintptr_t a, uintptr_t b) {
  decided_t d = {NULL, false};
  uintptr_t run_lo = 0, run_hi = 0, lifted = 0, next;
  for (uintptr_t p = a; p < b; p = next) {
    bool keep = keeps_protection(&d, p, &next);
    if (next > b) next = b;
    if (keep) continue;
    if (run_hi != 0 && p - run_hi >= LIFT_BRIDGE * TC_PAGE_SIZE) {
      tc_dirty_release(run_lo, run_hi);
      lifted += run_hi - run_lo;
      run_hi = 0;
    }
    if (run_hi == 0) run_lo = p;
    run_hi = next;
  }
  if (run_hi != 0) {
    tc_dirty_release(run_lo, run_hi);
    lifted += run_hi - run_lo;
  }
  return lifted;
}

/* Claims the next part of the pass, at most max bytes (aligned to max, as
 * the coordinator's steps are) and stretched to the end of the span it
 * cuts, so that no span is decided or swept twice. False when the pass is
 * over or nothing is left. */
static bool claim(uintptr_t max, uintptr_t *a, uintptr_t *b) {
  bool ok = false;
  uintptr_t lo, hi;
  tc_mutex_lock(&lf.lock);
  if (tc_atomic_load_relaxed(&tc_protect_pass) &&
      tc_mheap_next_scan_run(lf.next, lf.hi, TC_WALK_BRIDGE, &lo, &hi)) {
    uintptr_t end = tc_align_down(lo, max) + max;
    if (end > hi) end = hi;
    tc_span_t *s = tc_span_lookup(end - 1);
    if (s != NULL) {
      uintptr_t base, send = tc_span_bounds_racy(s, &base);
      if (base < end && send > end) end = send;
    }
    *a = lo;
    *b = end;
    lf.next = end;
    tc_atomic_add_relaxed(&lf.helpers, 1);
    ok = true;
  }
  tc_mutex_unlock(&lf.lock);
  return ok;
}

/* Lifts a claimed part and sweeps its spans right behind. */
static void lift_part(uintptr_t a, uintptr_t b) {
  uintptr_t lifted = lift_range(a, b);
  tc_atomic_add_relaxed(&lf.lifted, (uint64_t)(lifted >> TC_PAGE_SHIFT));
  tc_atomic_add_relaxed(&lf.kept, (uint64_t)((b - a - lifted) >> TC_PAGE_SHIFT));
  tc_sweep_range(a, b);
  tc_atomic_sub_acq_rel(&lf.helpers, 1);
}

void tc_protect_help(void) {
  uintptr_t a, b;
  if (!tc_protect_lifting() || !claim(HELP_PAGES * TC_PAGE_SIZE, &a, &b)) return;
  tc_atomic_add_relaxed(&lf.helped, 1);
  lift_part(a, b);
}

void tc_protect_arm(void) {
  /* No lock: every thread is stopped outside its no-stop regions, where
   * alone it would claim, and the last pass ended with no helper left. */
  lf.sg = tc_mheap_sweepgen();
  lf.next = tc_arenas.lo;
  lf.hi = tc_arenas_hi();
  lf.step = LIFT_FIRST_PAGES * TC_PAGE_SIZE;
  tc_atomic_store_release(&tc_protect_pass, 1u);
}

void tc_protect_lift_and_sweep(void) {
  uintptr_t a, b;
  for (;;) {
    tc_stw_step_aside();
    if (!claim(lf.step, &a, &b)) break;
    lift_part(a, b);
    if (lf.step < LIFT_STEP_PAGES * TC_PAGE_SIZE) lf.step *= 2;
  }
  tc_mutex_lock(&lf.lock);
  tc_atomic_store_release(&tc_protect_pass, 0u);
  tc_mutex_unlock(&lf.lock);
  /* A helper may still be sweeping into the empty lists. */
  while (tc_atomic_load_acquire(&lf.helpers) != 0) sched_yield();
  /* Empty spans nobody took go back to the page heap, where any class and
   * the scavenger can have them. */
  tc_mcentral_free_empty();
}
