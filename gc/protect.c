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
 * way).
 *
 * After the mark. Lifting a page costs the collector ~0.3 us per 4 KiB here
 * (UFFDIO_WRITEPROTECT, ~150 us per 2 MiB) and re-protecting it before the
 * next mark ~40 ns more; leaving it protected costs the program one write
 * fault (~1 us) if it writes there before the next mark, and nothing if it
 * does not. So a span is lifted when the program is likely to write it:
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
 */
#include "protect.h"

#include "arena.h"
#include "atomic.h"
#include "dirty.h"
#include "mcentral.h"
#include "mheap.h"
#include "span.h"
#include "stw.h"
#include "sweep.h"

#define RESET_BRIDGE 8
#define LIFT_FIRST_PAGES 8
#define LIFT_STEP_PAGES 256
#define LIFT_BRIDGE 32

/* Written by the coordinator only; read by anyone. */
static struct {
  uint64_t lifted, kept; /* pages */
} counts;

void tc_protect_read_counts(tc_protect_counts_t *out) {
  out->lifted_pages = tc_atomic_load_relaxed(&counts.lifted);
  out->kept_pages = tc_atomic_load_relaxed(&counts.kept);
}

/* Calls fn over the runs of in-use pages of the whole committed heap's
 * chunks of scanned spans, gaps under bridge pages taken in. */
static void over_scan_runs(uintptr_t bridge, void (*fn)(uintptr_t, uintptr_t, void *), void *ctx) {
  tc_mheap_for_scan_runs(tc_arenas.lo, tc_arenas.lo + tc_atomic_load_acquire(&tc_arenas.committed),
                         bridge, fn, ctx);
}

static void reset_run(uintptr_t lo, uintptr_t hi, void *ctx) {
  (void)ctx;
  tc_dirty_reset(lo, hi);
}

void tc_protect_before_mark(void) { over_scan_runs(RESET_BRIDGE, reset_run, NULL); }

typedef struct lift {
  uint32_t sg;           /* the sweep generation this lifting runs in */
  uintptr_t step;        /* bytes lifted per call, growing to LIFT_STEP_PAGES */
  uintptr_t pending;     /* base of a span that ran past the last step, or 0 */
  const tc_span_t *span; /* the last span decided, and its decision: a span */
  bool keep;             /* across two steps is decided once */
} lift_t;

/* Whether the page at a may stay protected, and in *next where the span
 * (or page) holding it ends. Descriptors are read racily, as the sweep's
 * lookups do (tc_sweep_range): a wrong answer costs a fault or a lifting,
 * nothing else. */
static bool keeps_protection(lift_t *l, uintptr_t a, uintptr_t *next) {
  *next = tc_align_down(a, TC_PAGE_SIZE) + TC_PAGE_SIZE;
  tc_span_t *s = tc_span_lookup(a);
  if (s == NULL) return false;
  uintptr_t base = __atomic_load_n(&s->base, __ATOMIC_RELAXED);
  uintptr_t end = base + (__atomic_load_n(&s->npages, __ATOMIC_RELAXED) << TC_PAGE_SHIFT);
  if (base > a || end <= a) return false;
  *next = end;
  if (s == l->span) return l->keep;
  l->span = s;
  l->keep = false;
  if (tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE) return false;
  uint8_t w = tc_atomic_load_relaxed(&s->mark_writes);
  if (w != TC_WRITES_NONE) tc_atomic_store_relaxed(&s->mark_writes, (uint8_t)TC_WRITES_NONE);
  if (w == TC_WRITES_SEEN) return false;
  return l->keep = tc_sweep_leaves_full(s, l->sg);
}

/* Lifts what [a, b) should have lifted (see above); returns the bytes. */
static uintptr_t lift_step(lift_t *l, uintptr_t a, uintptr_t b) {
  uintptr_t run_lo = 0, run_hi = 0, lifted = 0, next;
  for (uintptr_t p = a; p < b; p = next) {
    bool keep = keeps_protection(l, p, &next);
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

static void lift_run(uintptr_t lo, uintptr_t hi, void *ctx) {
  lift_t *l = ctx;
  for (uintptr_t a = lo; a < hi;) {
    tc_stw_step_aside();
    uintptr_t b = tc_align_down(a, l->step) + l->step;
    if (b > hi) b = hi;
    uintptr_t lifted = lift_step(l, a, b);
    tc_atomic_store_relaxed(&counts.lifted, counts.lifted + (lifted >> TC_PAGE_SHIFT));
    tc_atomic_store_relaxed(&counts.kept, counts.kept + ((b - a - lifted) >> TC_PAGE_SHIFT));
    uintptr_t from = l->pending != 0 && l->pending < a ? l->pending : a;
    uintptr_t stop = tc_sweep_range(from, b);
    l->pending = stop < b ? stop : 0;
    if (l->step < LIFT_STEP_PAGES * TC_PAGE_SIZE) l->step *= 2;
    a = b;
  }
}

void tc_protect_lift_and_sweep(void) {
  lift_t l = {tc_mheap_sweepgen(), LIFT_FIRST_PAGES * TC_PAGE_SIZE, 0, NULL, false};
  over_scan_runs(TC_WALK_BRIDGE, lift_run, &l);
  /* Empty spans nobody took go back to the page heap, where any class and
   * the scavenger can have them. */
  tc_mcentral_free_empty();
}
