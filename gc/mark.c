/*
 * mark.c - conservative parallel and concurrent marking (mark.h).
 */
#include "mark.h"

#include <pthread.h>
#include <semaphore.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "assist.h"
#include "checkmark.h"
#include "cycle.h"
#include "dirty.h"
#include "error.h"
#include "findobject.h"
#include "gcwork.h"
#include "mheap.h"
#include "options.h"
#include "os.h"
#include "roots.h"
#include "special.h"
#include "stw.h"
#include "thread.h"
#include "throttle.h"

/* A marker shares work if the global list is empty, and a fractional
 * worker checks its budget, every this many scanned entries. */
#define BALANCE_INTERVAL 64

/* The coordinator runs the write throttle's clock every this many entries. */
#define THROTTLE_INTERVAL 8

/* A fractional worker over its budget sleeps at most this long at a time. */
#define FRACTION_SLEEP_MAX_NS 2000000

/* An idle worker looks at the machine's run queues again after this long. */
#define IDLE_CHECK_NS 200000

/* How a marker spends a phase: unlimited (no duty), or as Go's fractional
 * worker, busy at most util of the wall time since start. Over that budget
 * it goes on marking as an idle worker (Go's gcMarkWorkerIdleMode) as long
 * as the machine has a CPU nothing else is ready to run on, and sleeps
 * otherwise. Its time is charged to busy_ns or, in idle mode, idle_ns. */
typedef struct duty {
  double util;
  int cpus;            /* CPUs the program may use: min(GCPROCS, affinity mask) */
  uint64_t start_ns;
  uint64_t busy_ns;
  uint64_t idle_ns;
  uint64_t checked_ns; /* when the run queues were last read (0: never) */
  bool spare;          /* whether a CPU was spare then */
  bool idle;
} duty_t;

TC_INLINE void duty_charge(duty_t *d, uint64_t ns) {
  if (d->idle)
    d->idle_ns += ns;
  else
    d->busy_ns += ns;
}

static struct {
  int nhelpers;              /* helper threads running */
  pthread_t helpers[TC_MAX_PROCS];
  sem_t start, done;
  sem_t late;                /* a post per helper that woke after its phase ended */
  int late_owed;             /* posts of late helpers not yet collected */
  uint64_t phase;            /* tc_gcwork phase the helpers are woken for */
  uint64_t bytes_marked;     /* atomic; summed by helpers and mutators */
  uint64_t scan_bytes;       /* atomic */
  uint64_t helper_ns;        /* atomic; helpers' busy time, concurrent phases */
  uint64_t assist_ns;        /* atomic; mutators' assist time */
  uint64_t work_done;        /* atomic; scan bytes of this mark, published as it goes */
  uint64_t rescan_bytes;     /* atomic; bytes of written pages queued for a re-scan */
  bool concurrent_phase;     /* helpers record their time */
  /* Mark termination's collection of written pages, split among the
   * markers: parts of [scan_lo, scan_hi), taken with scan_next. */
  uintptr_t scan_lo, scan_hi, scan_part;
  uint32_t scan_parts, scan_next; /* scan_next atomic */
  uint64_t scan_pages;            /* atomic */
} mk;

TC_INLINE void grey(tc_gcwork_t *w, uintptr_t addr) {
  tc_object_t o;
  if (!tc_findobject(addr, &o)) return;
  tc_span_t *s = o.span;
  uint64_t bit = (uint64_t)1 << (o.index % 64);
  uint64_t *word = &s->mark_bits[o.index / 64];
  if (tc_atomic_load_relaxed(word) & bit) return;
  if (tc_atomic_fetch_or_relaxed(word, bit) & bit) return;
  w->bytes_marked += s->elemsize;
  if (tc_spanclass_noscan(s->spanclass) || tc_span_is_freed(s, o.index)) return;
  uintptr_t base = tc_object_base(&o);
  uintptr_t len = s->elemsize;
  while (len > TC_SCAN_CHUNK) {
    tc_gcwork_put(w, base, TC_SCAN_CHUNK);
    base += TC_SCAN_CHUNK;
    len -= TC_SCAN_CHUNK;
  }
  tc_gcwork_put(w, base, len);
}

/* The shading pipeline. grey() of a pointer candidate is a chain of up to
 * three dependent cache misses: the page's span map entry, the span
 * descriptor, the mark word. Scanning overlaps the chains of successive
 * candidates: each enters w->pipe, and as later ones arrive it moves
 * through three stages PIPE_STAGE candidates apart, each prefetching the
 * next link of its chain, and is greyed as it leaves. The pipeline belongs
 * to the marker (it lives in its tc_gcwork_t), so the few candidates of one
 * small object overlap with the next object's.
 * Invariant: the pipeline is empty whenever the marker publishes its work,
 * looks for work elsewhere, sleeps or gives its buffers back (pipe_flush
 * first; tc_gcwork_flush and tc_gcwork_dispose check): a candidate left in
 * it would never be shaded. Prefetches are hints: grey() looks everything
 * up again, so a span freed or reused between stages wastes a prefetch and
 * never marks wrongly. */
#define PIPE_STAGE 8
_Static_assert(TC_SHADE_PIPE >= 3 * PIPE_STAGE && (TC_SHADE_PIPE & (TC_SHADE_PIPE - 1)) == 0,
               "the shading pipeline holds three stages, in a power-of-two ring");

TC_INLINE void prefetch_mark_word(uintptr_t v) {
  tc_span_t *s = tc_span_lookup(v);
  if (s == NULL) return;
  uint64_t *bits = tc_atomic_load_relaxed(&s->mark_bits);
  uint32_t idx = tc_span_object_index(s, v);
  if (bits && idx < tc_atomic_load_relaxed(&s->nelems)) __builtin_prefetch(&bits[idx / 64]);
}

/* v is in the committed heap. */
TC_INLINE void pipe_push(tc_gcwork_t *w, uintptr_t v) {
  uint64_t n = w->npipe++;
  uintptr_t *q = w->pipe;
  q[n % TC_SHADE_PIPE] = v;
  __builtin_prefetch(&tc_arenas.spans[(v - tc_arenas.lo) >> TC_PAGE_SHIFT]);
  if (n < PIPE_STAGE) return;
  tc_span_t *s = tc_span_lookup(q[(n - PIPE_STAGE) % TC_SHADE_PIPE]);
  if (s) __builtin_prefetch(s);
  if (n < 2 * PIPE_STAGE) return;
  prefetch_mark_word(q[(n - 2 * PIPE_STAGE) % TC_SHADE_PIPE]);
  if (n < 3 * PIPE_STAGE) return;
  grey(w, q[(n - 3 * PIPE_STAGE) % TC_SHADE_PIPE]);
}

/* Greys what is still in the pipeline, oldest first. */
static void pipe_flush(tc_gcwork_t *w) {
  uint64_t n = w->npipe;
  w->npipe = 0;
  for (uint64_t i = n > 3 * PIPE_STAGE ? n - 3 * PIPE_STAGE : 0; i < n; i++)
    grey(w, w->pipe[i % TC_SHADE_PIPE]);
}

/* Publishes w's work to the other markers, the pipeline emptied first. */
static void work_flush(tc_gcwork_t *w) {
  pipe_flush(w);
  tc_gcwork_flush(w);
}

static void scan_range(tc_gcwork_t *w, uintptr_t lo, uintptr_t hi) {
  const uintptr_t heap_lo = tc_arenas.lo;
  const uintptr_t heap_len = tc_atomic_load_relaxed(&tc_arenas.committed);
  const uintptr_t *p = (const uintptr_t *)tc_align_up(lo, sizeof(uintptr_t));
  const uintptr_t *end = (const uintptr_t *)hi;
  w->scan_bytes += hi - lo;
  for (; p < end; p++) {
    uintptr_t v = *p;
    if (TC_LIKELY(v - heap_lo >= heap_len)) continue;
    pipe_push(w, v);
  }
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
}

/* Objects are prefetched this many scans before they are scanned: the
 * marker is bound by cache misses on the objects it visits, and a gray
 * queue popped LIFO gives a prefetch no time to land (Cher, Hosking and
 * Vijaykumar's prefetch-on-grey FIFO, as in Boehm GC). Measured on GCBench:
 * mark time per cycle fell by about a third with 8 entries, and by a
 * further ~10% with 16 (32 gains nothing more). */
#define PREFETCH_FIFO 16

typedef struct fifo {
  tc_workentry_t e[PREFETCH_FIFO];
  unsigned head, count;
} fifo_t;

/* Nothing else waits for a CPU: the runnable threads, this one included,
 * fit the CPUs the program may use. */
static bool cpu_spare(const duty_t *d) {
  int r = tc_os_runnable();
  return r > 0 && r <= d->cpus;
}

/* A fractional worker's budget check: within budget it goes on; over it,
 * it marks on in idle mode while a CPU is spare (looking again every
 * IDLE_CHECK_NS), and otherwise gives its work back and sleeps. */
static void duty_pause(tc_gcwork_t *w, fifo_t *f, duty_t *d, uint64_t *slice_start) {
  uint64_t now = tc_nanotime();
  duty_charge(d, now - *slice_start);
  *slice_start = now;
  double allowed = d->util * (double)(now - d->start_ns);
  if ((double)d->busy_ns <= allowed) {
    d->idle = false;
    return;
  }
  /* The answer is kept for IDLE_CHECK_NS whatever happens meanwhile: idle
   * marking is not charged to the budget, so the worker crosses it again
   * and again, and a read per crossing (~13k per GCBench run, ~3 us each)
   * took marking time from the very worker it was meant to keep busy. */
  if (d->checked_ns == 0 || now - d->checked_ns >= IDLE_CHECK_NS) {
    d->spare = cpu_spare(d);
    d->checked_ns = now;
  }
  if (d->spare) {
    d->idle = true;
    return;
  }
  d->idle = false;
  while (f->count > 0) {
    tc_gcwork_put(w, f->e[f->head].addr, f->e[f->head].len);
    f->head = (f->head + 1) % PREFETCH_FIFO;
    f->count--;
  }
  work_flush(w);
  uint64_t owed = (uint64_t)(((double)d->busy_ns - allowed) / d->util);
  sleep_ns(owed < FRACTION_SLEEP_MAX_NS ? owed : FRACTION_SLEEP_MAX_NS);
  *slice_start = tc_nanotime();
}

/* Background scan work is published (the pacer's progress, assists'
 * credit) every TC_CREDIT_SLACK bytes or so, and when the drain ends. */
static void publish_work(tc_gcwork_t *w, uint64_t *published) {
  if (!mk.concurrent_phase) return;
  uint64_t d = w->scan_bytes - *published;
  *published = w->scan_bytes;
  if (d == 0) return;
  tc_atomic_add_relaxed(&mk.work_done, d);
  tc_assist_flush_credit(d);
}

static void rescan_written(uintptr_t start, uintptr_t end, void *ctx);

/* Collects the written pages of [lo, hi) that lie in spans of the chunks of
 * scanned spans (pagealloc.h), queueing their re-scans into w: pointer-free
 * spans and free pages hold nothing to re-scan, so their page tables are
 * not walked. A page skipped keeps its written state until a walk reaches
 * it, so a chunk that takes scanned spans later, or a span placed on pages
 * that were free, is still reported in full. part: mark termination's
 * tc_dirty_collect_final (any marker; the pages stay written) rather than
 * the coordinator's tc_dirty_collect. */
typedef struct collect_ctx {
  tc_gcwork_t *w;
  bool part;
  uint64_t pages;
} collect_ctx_t;

static void collect_run(uintptr_t lo, uintptr_t hi, void *arg) {
  collect_ctx_t *c = arg;
  c->pages += c->part ? tc_dirty_collect_final(lo, hi, rescan_written, c->w)
                      : tc_dirty_collect(lo, hi, rescan_written, c->w);
}

static uint64_t collect_scanned(tc_gcwork_t *w, uintptr_t lo, uintptr_t hi, bool part) {
  collect_ctx_t c = {w, part, 0};
  tc_mheap_for_scan_runs(lo, hi, TC_WALK_BRIDGE, collect_run, &c);
  return c.pages;
}

/* Mark termination: collect written pages from the parts of the heap not
 * yet taken, queueing their re-scans into w. */
static void collect_parts(tc_gcwork_t *w) {
  for (;;) {
    uint32_t i = tc_atomic_fetch_add_relaxed(&mk.scan_next, 1);
    if (i >= mk.scan_parts) return;
    uintptr_t lo = mk.scan_lo + (uintptr_t)i * mk.scan_part;
    uintptr_t hi = lo + mk.scan_part < mk.scan_hi ? lo + mk.scan_part : mk.scan_hi;
    uint64_t n = collect_scanned(w, lo, hi, true);
    tc_atomic_add_relaxed(&mk.scan_pages, n);
  }
}

/* The coordinator's drain (coord) also runs the write throttle's windows;
 * while writers are parked it marks in their CPU time, off its duty. */
static void drain(tc_gcwork_t *w, duty_t *duty, bool coord) {
  if (mk.scan_parts) collect_parts(w);
  fifo_t f = {.head = 0, .count = 0};
  unsigned n = 0;
  uint64_t published = w->scan_bytes;
  uint64_t slice_start = duty ? tc_nanotime() : 0;
  tc_workentry_t e;
  for (;;) {
    if (tc_gcwork_try_get_local(w, &e)) {
      __builtin_prefetch((const void *)e.addr);
      if (f.count < PREFETCH_FIFO) {
        f.e[(f.head + f.count++) % PREFETCH_FIFO] = e;
        continue;
      }
      tc_workentry_t old = f.e[f.head];
      f.e[f.head] = e;
      f.head = (f.head + 1) % PREFETCH_FIFO;
      scan_range(w, old.addr, old.addr + old.len);
    } else if (f.count > 0) {
      /* Empty the FIFO before looking elsewhere: a marker must never wait
       * for others while it holds unscanned work. */
      tc_workentry_t old = f.e[f.head];
      f.head = (f.head + 1) % PREFETCH_FIFO;
      f.count--;
      scan_range(w, old.addr, old.addr + old.len);
    } else if (w->npipe > 0) {
      pipe_flush(w); /* before looking elsewhere, as the FIFO */
    } else {
      if (duty) duty_charge(duty, tc_nanotime() - slice_start);
      bool got = tc_gcwork_get(w, &e);
      if (duty) slice_start = tc_nanotime();
      if (!got) break;
      scan_range(w, e.addr, e.addr + e.len);
    }
    if (w->scan_bytes - published >= TC_CREDIT_SLACK) publish_work(w, &published);
    ++n;
    /* Throttle windows are 0.1-1 ms: look at the clock more often. */
    bool parked = false;
    if (coord && n % THROTTLE_INTERVAL == 0 && tc_throttle_on()) {
      parked = tc_throttle_tick();
      if (parked && duty) {
        uint64_t now = tc_nanotime();
        tc_throttle_charge(now - slice_start);
        slice_start = now;
      }
    }
    if (n % BALANCE_INTERVAL == 0) {
      /* A stop by another thread (gc_read_memstats, gc_collect) is
       * waiting for threads this marker may be holding a CPU from. */
      tc_stw_step_aside();
      if (tc_gcwork_global_empty()) tc_gcwork_balance(w);
      if (duty && !parked) duty_pause(w, &f, duty, &slice_start);
    }
  }
  if (coord) tc_throttle_release();
  publish_work(w, &published);
}

/* ---- helper threads ------------------------------------------------------ */

static void *helper_main(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    while (sem_wait(&mk.start) != 0) {}
    if (!tc_gcwork_join(mk.phase)) { /* the others finished the phase meanwhile */
      sem_post(&mk.late);
      continue;
    }
    uint64_t t0 = tc_nanotime();
    tc_gcwork_t w;
    tc_gcwork_init(&w);
    drain(&w, NULL, false);
    tc_gcwork_dispose(&w);
    tc_atomic_add_relaxed(&mk.bytes_marked, w.bytes_marked);
    tc_atomic_add_relaxed(&mk.scan_bytes, w.scan_bytes);
    if (mk.concurrent_phase) tc_atomic_add_relaxed(&mk.helper_ns, tc_nanotime() - t0);
    sem_post(&mk.done);
  }
  return NULL;
}

void tc_mark_prepare(void) {
  if (mk.nhelpers == 0) {
    sem_init(&mk.start, 0, 0);
    sem_init(&mk.done, 0, 0);
    sem_init(&mk.late, 0, 0);
    mk.late_owed = 0;
  }
  while (mk.nhelpers < tc_options.procs - 1) {
    if (tc_os_thread_start(helper_main, &mk.helpers[mk.nhelpers]) != 0)
      break; /* mark with fewer threads */
    mk.nhelpers++;
  }
}

void tc_mark_after_fork_child(void) { mk.nhelpers = 0; }

/* Drains the global queue with the coordinator (w, duty) and nhelp helpers
 * until every participant runs dry. A helper joins when it wakes; one that
 * wakes after the others ran dry leaves at once, so a pause never waits for
 * a helper's wake-up (up to milliseconds on a loaded machine), only for the
 * helpers that joined to finish. A late helper's leaving is collected at the
 * next phase's start, before any new helper is woken. */
static void collect_late_helpers(void) {
  for (; mk.late_owed > 0; mk.late_owed--)
    while (sem_wait(&mk.late) != 0) {}
}

static void run_phase(tc_gcwork_t *w, int nhelp, duty_t *duty, bool concurrent) {
  if (nhelp > mk.nhelpers) nhelp = mk.nhelpers;
  collect_late_helpers();
  mk.concurrent_phase = concurrent;
  work_flush(w);
  /* The helpers' posts of start are all collected (late ones above), so a
   * helper that wakes from this one reads this phase's number. */
  mk.phase = tc_gcwork_begin_phase(1);
  for (int i = 0; i < nhelp; i++) sem_post(&mk.start);
  drain(w, duty, concurrent);
  int joined = tc_gcwork_markers() - 1;
  for (int i = 0; i < joined; i++)
    while (sem_wait(&mk.done) != 0) {}
  mk.late_owed += nhelp - joined;
}

/* ---- roots --------------------------------------------------------------- */

/* Queues a root range in chunks. */
static void put_root(uintptr_t lo, uintptr_t hi, void *ctx) {
  tc_gcwork_t *w = ctx;
  lo = tc_align_up(lo, sizeof(uintptr_t));
  while (lo + TC_SCAN_CHUNK < hi) {
    tc_gcwork_put(w, lo, TC_SCAN_CHUNK);
    lo += TC_SCAN_CHUNK;
  }
  if (lo < hi) tc_gcwork_put(w, lo, hi - lo);
}

/* Scans a root range at once (its memory may change or vanish later). */
static void scan_root_now(uintptr_t lo, uintptr_t hi, void *ctx) {
  scan_range(ctx, lo, hi);
}

/* Lowest mapped address of the main thread's stack: the start of the
 * [stack] mapping, read with plain system calls (no stdio, no malloc: the
 * world is stopped). 0 if it cannot be found. */
static uintptr_t main_stack_mapped_lo(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  size_t have = 0;
  uintptr_t result = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) break;
    have += (size_t)n;
    buf[have] = 0;
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      *nl = 0;
      if (strstr(line, "[stack]")) result = (uintptr_t)strtoull(line, NULL, 16);
      line = nl + 1;
    }
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0; /* an absurdly long line */
  }
  close(fd);
  return result;
}

/* The normal stack of a thread stopped on an alternate signal stack: its
 * interrupted stack pointer is in a signal frame we cannot locate, so the
 * whole mapped stack is scanned (conservatively more, never less). */
static void whole_stack(tc_root_fn fn, void *ctx, const tc_thread_t *t) {
  uintptr_t lo = t->stack_lo;
  if (t->tid == getpid()) {
    /* The main thread's reported stack is its rlimit; only part is mapped. */
    uintptr_t mapped = main_stack_mapped_lo();
    if (mapped == 0 || mapped >= t->stack_hi)
      tc_throw("cannot find the main thread's stack mapping");
    if (mapped > lo) lo = mapped;
  }
  fn(lo, t->stack_hi, ctx);
}

/* Every stopped thread's stack (from its stop pointer; the kernel saved its
 * registers in the signal frame below it) and static TLS. World stopped;
 * the caller is not a registered thread. */
uint64_t tc_mark_for_each_stack(tc_root_fn fn, void *ctx) {
  uint64_t bytes = 0;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    uintptr_t sp = t->stop_sp;
    if (sp >= t->stack_lo && sp <= t->stack_hi) {
      fn(sp, t->stack_hi, ctx);
      bytes += t->stack_hi - sp;
    } else if (t->alt_hi != 0 && sp >= t->alt_lo && sp <= t->alt_hi) {
      fn(sp, t->alt_hi, ctx);
      whole_stack(fn, ctx, t);
      bytes += t->alt_hi - sp + t->stack_hi - t->stack_lo;
    } else {
      tc_throw("thread %d stack pointer 0x%lx outside its stack [0x%lx, 0x%lx)",
               (int)t->tid, (unsigned long)sp, (unsigned long)t->stack_lo,
               (unsigned long)t->stack_hi);
    }
    tc_roots_for_each_tls(t, fn, ctx);
  }
  return bytes;
}

/* Every root, queued (world stopped: nothing changes until restart). */
static void queue_all_roots(tc_gcwork_t *w, tc_mark_result_t *out) {
  out->stack_bytes = tc_mark_for_each_stack(put_root, w);
  tc_roots_for_each_global(put_root, w);
  tc_special_roots(put_root, put_root, w);
  out->global_bytes = tc_roots_global_bytes();
}

static void reset_counters(void) {
  mk.work_done = 0;
  mk.rescan_bytes = 0;
  mk.bytes_marked = 0;
  mk.scan_bytes = 0;
  mk.helper_ns = 0;
  mk.assist_ns = 0;
}

static void collect_counters(tc_gcwork_t *w, tc_mark_result_t *out) {
  out->bytes_marked += w->bytes_marked + tc_atomic_exchange_acq_rel(&mk.bytes_marked, 0);
  out->heap_scan_bytes += w->scan_bytes + tc_atomic_exchange_acq_rel(&mk.scan_bytes, 0);
  w->bytes_marked = w->scan_bytes = 0;
}

/* ---- stop-the-world mark ------------------------------------------------- */

void tc_mark_stw(tc_mark_result_t *out) {
  memset(out, 0, sizeof *out);
  reset_counters();
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  queue_all_roots(&w, out);
  run_phase(&w, mk.nhelpers, NULL, false);
  if (tc_options.checkmark) tc_checkmark_run();
  collect_counters(&w, out);
  tc_gcwork_dispose(&w);
}

/* ---- concurrent mark ----------------------------------------------------- */

void tc_mark_begin(tc_mark_result_t *out) {
  memset(out, 0, sizeof *out);
  reset_counters();
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  out->stack_bytes = tc_mark_for_each_stack(scan_root_now, &w);
  tc_roots_for_each_user(scan_root_now, &w);
  tc_special_roots(scan_root_now, put_root, &w);
  tc_roots_for_each_segment(put_root, &w);
  out->global_bytes = tc_roots_global_bytes();
  work_flush(&w);
  tc_atomic_add_relaxed(&mk.work_done, w.scan_bytes);
  collect_counters(&w, out);
  tc_gcwork_dispose(&w);
}

/* Go's 25% background utilization: dedicated workers, the rest as a
 * fractional worker when rounding would miss the goal by more than 30%
 * (gcControllerState.startCycle). */
static void worker_split(int procs, int *dedicated, double *fraction) {
  double goal = procs * 0.25;
  int d = (int)(goal + 0.5);
  double err = d / goal - 1;
  double frac = 0;
  if (err < -0.3 || err > 0.3) {
    if (d > goal) d--;
    frac = goal - d;
  }
  *dedicated = d;
  *fraction = frac;
}

/* Queues the written part of every marked, allocated slot on the written
 * pages [start, end) for another scan. */
static void rescan_written(uintptr_t start, uintptr_t end, void *ctx) {
  tc_gcwork_t *w = ctx;
  uintptr_t a = start;
  while (a < end) {
    tc_span_t *s = tc_span_lookup(a);
    if (s == NULL || tc_atomic_load_relaxed(&s->state) != TC_SPAN_INUSE) {
      a = tc_align_down(a, TC_PAGE_SIZE) + TC_PAGE_SIZE;
      continue;
    }
    uintptr_t span_end = s->base + (s->npages << TC_PAGE_SHIFT);
    uintptr_t hi = end < span_end ? end : span_end;
    if (tc_spanclass_noscan(s->spanclass)) {
      a = hi;
      continue;
    }
    tc_span_note_written(s);
    /* Adjacent marked slots are queued as one range: small objects would
     * otherwise cost a work entry each (a page holds up to 512). */
    uint32_t idx = tc_span_object_index(s, a);
    uintptr_t run_lo = 0, run_hi = 0, bytes = 0;
    for (; idx < s->nelems; idx++) {
      uintptr_t lo = s->base + (uintptr_t)idx * s->elemsize;
      if (lo >= hi) break;
      if (!(tc_atomic_load_relaxed(&s->mark_bits[idx / 64]) >> (idx % 64) & 1)) continue;
      if (!tc_span_is_allocated(s, idx) || tc_span_is_freed(s, idx)) continue;
      uintptr_t from = lo > a ? lo : a;
      uintptr_t to = lo + s->elemsize < hi ? lo + s->elemsize : hi;
      if (from != run_hi) {
        if (run_hi > run_lo) put_root(run_lo, run_hi, w);
        run_lo = from;
      }
      run_hi = to;
      bytes += to - from;
    }
    if (run_hi > run_lo) put_root(run_lo, run_hi, w);
    if (bytes) tc_atomic_add_relaxed(&mk.rescan_bytes, bytes);
    a = hi;
  }
}

/* CPUs the machine left idle since the last call (the coordinator's view
 * of Go's idle Ps). Called when a concurrent mark ends (to start the
 * window) and when the next begins, so the window is the time between
 * marks: what the program leaves idle, not what the last mark's workers
 * did. */
static double idle_cpus(void) {
  static uint64_t last_idle, last_total;
  uint64_t idle, total;
  if (!tc_os_cpu_ticks(&idle, &total)) return 0;
  double cpus = 0;
  if (last_total != 0 && total > last_total)
    cpus = (double)(idle - last_idle) / (double)(total - last_total) * tc_os_online_cpus();
  if (cpus > tc_os_ncpu()) cpus = tc_os_ncpu(); /* idle CPUs outside our mask are not ours */
  last_idle = idle;
  last_total = total;
  return cpus;
}

void tc_mark_concurrent(tc_mark_result_t *out) {
  int dedicated;
  double frac;
  worker_split(tc_options.procs, &dedicated, &frac);
  /* The coordinator is the fractional worker, or else a dedicated one. */
  int nhelp = frac > 0 ? dedicated : dedicated - 1;
  /* Idle workers (Go's gcMarkWorkerIdleMode): helpers that mark full time
   * when CPUs sat idle since the last cycle, so a program that leaves a
   * core free gets its marks done sooner (fewer black allocations, fewer
   * write faults); their time is reported apart from the 25%. */
  double idle = idle_cpus();
  int nidle = (int)(idle - frac + 0.5);
  if (nidle > mk.nhelpers - nhelp) nidle = mk.nhelpers - nhelp;
  if (nidle > 0) {
    nhelp += nidle;
    out->idle_workers = (uint32_t)nidle;
  }
  int ncpu = tc_os_ncpu();
  duty_t duty = {.util = frac,
                 .cpus = tc_options.procs < ncpu ? tc_options.procs : ncpu,
                 .start_ns = tc_nanotime()};
  duty_t *dp = frac > 0 ? &duty : NULL;
  bool pages = tc_gc.mode == TC_MODE_CONCURRENT;
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  uint64_t t0 = tc_nanotime();
  tc_throttle_reset();
  run_phase(&w, nhelp, dp, true);
  uint64_t last = UINT64_MAX;
  for (uint32_t round = 0; round < TC_MAX_MARK_ROUNDS; round++) {
    if (pages) {
      uint64_t n = collect_scanned(&w, tc_arenas.lo, tc_arenas_hi(), false);
      out->dirty_pages += n;
      work_flush(&w);
      /* Few pages written since the last collection: their re-scan is the
       * last drain below, and mark termination collects what is written
       * meanwhile. */
      if (n <= TC_FINAL_DIRTY_PAGES) break;
      /* A round that did not shrink by a quarter: the program writes pages
       * about as fast as they are re-scanned. Slow the writers down; if
       * the next round does not shrink either, more rounds would only
       * re-scan the same pages again (bench/pause at 256 MiB: ~30k pages
       * a round, for up to 13 more rounds, with the writers parked in
       * every drain): go to the final stretch now. */
      if (last != UINT64_MAX && n * 4 > last * 3 && !tc_throttle_engage()) break;
      last = n;
    } else if (!tc_gcwork_pending()) {
      break;
    }
    out->rounds = round + 1;
    run_phase(&w, nhelp, dp, true);
  }
  /* Throttled: the writers stay parked from here through termination, so
   * what termination collects is what the others wrote during the last
   * drain. */
  uint64_t stretch_helpers_ns = 0;
  bool held = pages && tc_throttle_hold();
  uint64_t h0 = tc_atomic_load_acquire(&mk.helper_ns);
  if (held) {
    /* The held writers leave their CPUs to the markers: one more helper
     * drains for each, and its time, like the coordinator's here, is
     * marking on the writers' behalf. Each step drains first (the rounds
     * above may have ended on a collection not yet re-scanned: a mark that
     * gave up), then collects what the threads still running wrote
     * meanwhile. A collection of few pages ends the stretch, and its
     * re-scan is the short last drain below: termination then collects
     * what was written during that drain, not what the others wrote during
     * a whole one (collecting before draining left 400-2,500 pages to
     * pause 2 in bench/pause at 64 MiB, 1-2.6 ms). */
    for (int i = 0; i < TC_FINAL_STRETCH_ROUNDS; i++) {
      run_phase(&w, nhelp + (int)tc_throttle_parked(), dp, true);
      uint64_t n = collect_scanned(&w, tc_arenas.lo, tc_arenas_hi(), false);
      out->dirty_pages += n;
      work_flush(&w);
      if (n <= TC_FINAL_DIRTY_PAGES) break;
      tc_throttle_hold_more(); /* another thread wrote much meanwhile */
    }
  }
  /* The last collection's re-scan runs now, with the world running (and
   * held writers still parked), not in pause 2: a written page's re-scan
   * costs ~5 us on one machine and more on others, so the pages a last
   * collection leaves were up to 1.3 ms of pause 2 (bench/pause at 1 GiB,
   * when the rounds ended at 256 pages). Pause 2 then collects what was
   * written during this short drain. */
  if (pages && tc_gcwork_pending()) run_phase(&w, nhelp + (int)tc_throttle_parked(), dp, true);
  if (held) stretch_helpers_ns = tc_atomic_load_acquire(&mk.helper_ns) - h0;
  collect_counters(&w, out);
  tc_gcwork_dispose(&w);
  /* A helper that woke too late for the last phase is waited for here,
   * with the world running, not at mark termination's first phase. */
  collect_late_helpers();
  (void)idle_cpus(); /* the next window starts now */
  uint64_t coord_ns = dp ? duty.busy_ns + duty.idle_ns : tc_nanotime() - t0;
  uint64_t helpers_ns = tc_atomic_exchange_acq_rel(&mk.helper_ns, 0);
  if (stretch_helpers_ns > helpers_ns) stretch_helpers_ns = helpers_ns;
  helpers_ns -= stretch_helpers_ns; /* background work from here on */
  out->mark_cpu_ns = coord_ns + helpers_ns;
  out->assist_ns = tc_atomic_exchange_acq_rel(&mk.assist_ns, 0);
  /* Marking in the writers' CPU time is on their behalf: assist time. */
  uint64_t charged = tc_throttle_charged_ns();
  out->assist_ns += charged + stretch_helpers_ns;
  /* The fractional worker left that time out of its busy time already. */
  if (!dp) out->mark_cpu_ns -= charged < out->mark_cpu_ns ? charged : out->mark_cpu_ns;
  /* Helpers share the helper time evenly; the idle ones are the last. */
  if (nhelp > 0 && out->idle_workers > 0)
    out->idle_ns = helpers_ns / (uint64_t)nhelp * out->idle_workers;
  out->idle_ns += duty.idle_ns;
}

/* Write-barrier buffers of the stopped threads. */
static void drain_barrier_buffers(tc_gcwork_t *w) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    for (uint32_t i = 0; i < t->wb_n; i++) {
      uintptr_t v = t->wb[i];
      if (v - tc_arenas.lo < tc_atomic_load_relaxed(&tc_arenas.committed)) grey(w, v);
    }
    t->wb_n = 0;
  }
}

void tc_mark_terminate(tc_mark_result_t *out) {
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  uint64_t scanned_before = out->heap_scan_bytes;
  if (tc_gc.mode == TC_MODE_CONCURRENT) {
    /* The last collection walks the page tables of the whole heap (~0.4 ms
     * per GiB): every marker takes parts of it, in the same phase as the
     * drain. */
    mk.scan_lo = tc_arenas.lo;
    mk.scan_hi = tc_arenas_hi();
    uintptr_t len = mk.scan_hi - mk.scan_lo;
    uintptr_t parts = len / TC_FINAL_SCAN_PART + 1;
    uintptr_t most = 4 * (uintptr_t)(1 + mk.nhelpers);
    if (parts > most) parts = most;
    mk.scan_part = tc_align_up(len / parts + 1, TC_PAGE_SIZE);
    mk.scan_parts = (uint32_t)parts;
    mk.scan_next = 0;
    mk.scan_pages = 0;
  } else {
    drain_barrier_buffers(&w);
  }
  tc_mark_result_t roots = {0};
  queue_all_roots(&w, &roots);
  out->stack_bytes = roots.stack_bytes;
  mk.concurrent_phase = false;
  run_phase(&w, mk.nhelpers, NULL, false);
  if (mk.scan_parts) {
    out->final_dirty_pages = mk.scan_pages;
    tc_throttle_count_final_pages(mk.scan_pages);
    mk.scan_parts = 0;
  }
  if (tc_options.checkmark) tc_checkmark_run();
  collect_counters(&w, out);
  tc_gcwork_dispose(&w);
  out->term_scan_bytes = out->heap_scan_bytes - scanned_before;
}

/* ---- mutator shading (write barrier) ------------------------------------- */

void tc_mark_shade(const uintptr_t *v, size_t n) {
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  const uintptr_t heap_lo = tc_arenas.lo;
  const uintptr_t heap_len = tc_atomic_load_relaxed(&tc_arenas.committed);
  for (size_t i = 0; i < n; i++)
    if (v[i] - heap_lo < heap_len) grey(&w, v[i]);
  work_flush(&w);
  tc_atomic_add_relaxed(&mk.bytes_marked, w.bytes_marked);
  tc_gcwork_dispose(&w);
}

void tc_mark_shade_range(uintptr_t lo, uintptr_t hi) {
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  scan_range(&w, lo, hi);
  work_flush(&w);
  tc_atomic_add_relaxed(&mk.bytes_marked, w.bytes_marked);
  tc_gcwork_dispose(&w);
}

/* ---- mark assists -------------------------------------------------------- */

bool tc_mark_assist_work(uint64_t budget, uint64_t *scanned, uint64_t *cpu_ns) {
  tc_thread_t *t = tc_thread_tls;
  *scanned = 0;
  *cpu_ns = 0;
  if (t == NULL) return false;
  if (budget > TC_ASSIST_MAX_BYTES) budget = TC_ASSIST_MAX_BYTES;
  bool found = false;
  /* Thread CPU time: gctrace reports assists as CPU (its E field), and a
   * preempted assist on a loaded machine did no GC work meanwhile. Read
   * before the region: a system call's return is where a thread is most
   * often preempted, and a stop waits for a region a preempted thread is
   * in. */
  uint64_t t0 = tc_thread_cputime();
  tc_thread_nostop_enter(t);
  if (tc_gc_marking()) {
    tc_gcwork_t w;
    tc_gcwork_init(&w);
    tc_workentry_t e;
    int taken = 0;
    bool yielded = false;
    while (w.scan_bytes < budget) {
      /* A stop is signalling threads (a deferred stop of ours included:
       * the flag stays set until we park) and may wait for this region:
       * end it now (flushing what we hold); the caller gives way
       * (tc_stw_yield) and comes back. Only when this region is the
       * outermost one. */
      if (TC_UNLIKELY(tc_atomic_load_relaxed(&tc_stw_stopping) != 0) && t->nostop == 1) {
        yielded = true;
        break;
      }
      if (!tc_gcwork_try_get_local(&w, &e)) {
        if (w.npipe > 0) {
          pipe_flush(&w);
          continue;
        }
        if (!tc_gcwork_try_get_global(&w)) break;
        taken++;
        continue;
      }
      scan_range(&w, e.addr, e.addr + e.len);
    }
    pipe_flush(&w); /* the budget ran out with candidates in flight */
    found = taken > 0 || yielded;
    *scanned = w.scan_bytes;
    tc_gcwork_assist_done(&w, taken);
    tc_atomic_add_relaxed(&mk.bytes_marked, w.bytes_marked);
    tc_atomic_add_relaxed(&mk.scan_bytes, w.scan_bytes);
    tc_atomic_add_relaxed(&mk.work_done, w.scan_bytes);
    tc_gcwork_dispose(&w);
    *cpu_ns = tc_thread_cputime() - t0;
    tc_atomic_add_relaxed(&mk.assist_ns, *cpu_ns);
  }
  tc_thread_nostop_exit(t);
  return found;
}

uint64_t tc_mark_work_done(void) {
  /* Re-scans of written pages are extra work on objects already counted
   * (mostly ones allocated black): progress toward the pacer's expected
   * work is first scans only. */
  uint64_t done = tc_atomic_load_relaxed(&mk.work_done);
  uint64_t re = tc_atomic_load_relaxed(&mk.rescan_bytes);
  return done > re ? done - re : 0;
}

uint64_t tc_mark_rescan_bytes(void) { return tc_atomic_load_relaxed(&mk.rescan_bytes); }

/* ---- single objects ------------------------------------------------------ */

bool tc_mark_is_marked(uintptr_t base) {
  tc_object_t o;
  if (!tc_findobject(base, &o)) return false;
  return tc_atomic_load_relaxed(&o.span->mark_bits[o.index / 64]) >> (o.index % 64) & 1;
}

void tc_mark_set(uintptr_t base) {
  tc_object_t o;
  if (!tc_findobject(base, &o)) return;
  tc_atomic_fetch_or_relaxed(&o.span->mark_bits[o.index / 64], (uint64_t)1 << (o.index % 64));
}
