/*
 * test_finalizer.c - gc_set_finalizer / gc_invoke_finalizers against Go's
 * runtime.SetFinalizer semantics, as documented in <tricolor.h>:
 *
 * - an unreachable object with a finalizer gets fn(obj, data) exactly once,
 *   on the finalizer thread (or on a thread calling gc_invoke_finalizers,
 *   whose return value counts the runs made there);
 * - obj, everything it reaches and data are intact when fn runs (checked
 *   after garbage of the same sizes reused any slot freed too early);
 * - after fn ran, an unreachable obj is reclaimed by a later cycle;
 * - fn may resurrect obj (it stays valid, fn does not run again) and may
 *   re-arm a finalizer; fn may allocate and set new finalizers;
 * - a reachable object's finalizer never runs; fn NULL cancels; gc_free
 *   drops the finalizer unrun (and a new object in the same slot does not
 *   inherit it);
 * - objects on a cycle with a finalizer are never finalized nor reclaimed;
 *   when finalized A reaches finalized B, A's fn runs before B's;
 * - 10000 objects, and finalizers set from 4 threads while cycles run: each
 *   finalizer runs exactly once;
 * - misuse (interior or foreign pointer) aborts with one line
 *   "tricolor: gc_set_finalizer(0x...): ...".
 *
 * A conservative collector keeps whatever a stale stack word or register
 * points at, so objects are built in noinline functions, the dead stack is
 * scrubbed, and where reclamation is expected a few survivors are tolerated
 * (e.g. 29 of 32). What must hold exactly is checked exactly: never twice,
 * never for a reachable object, never for a cancelled, freed or cyclic one.
 *
 * Negative checks ("fn did not run") wait for settle(): a fresh batch of
 * sentinel objects with finalizers, made unreachable after the objects under
 * test, must have been finalized, so the cycles that would have queued the
 * objects under test have happened and their queue has been drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define FMAGIC 0x46494e414c495a45ull /* "FINALIZE" */
#define HIDEKEY 0xa5a5c3c35a5a3c3cull

static pthread_t main_thread;
static long invoked_total;     /* sum of gc_invoke_finalizers() on the main thread */
static atomic_long ran_on_main; /* finalizer runs seen on the main thread */
static atomic_long fin_seq;     /* global run order */

static uintptr_t hide(const void *p) { return (uintptr_t)p ^ HIDEKEY; }
static void *unhide(uintptr_t h) { return (void *)(h ^ HIDEKEY); }

/* ---- objects under test ----------------------------------------------------- */

/* A finalizable object: a header, then a payload filled with a pattern that
 * depends on its address and idx. child is a noscan object reachable only
 * from here; peer links objects into chains and cycles. */
struct fobj {
  uint64_t magic;
  uint64_t self; /* hide(address): fn must get the object's start */
  uint32_t idx;
  uint32_t paylen;
  struct fobj *peer;
  unsigned char *child;
  uint64_t childlen;
  unsigned char pay[];
};

#define CHILDLEN 200

/* A scanned object of size bytes (>= sizeof(struct fobj)), optionally with
 * a child; or a noscan one (no child, no peer). */
static struct fobj *new_fobj(uint32_t idx, size_t size, int with_child, int noscan) {
  struct fobj *o = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
  if (!o) return NULL;
  o->magic = FMAGIC;
  o->self = hide(o);
  o->idx = idx;
  o->paylen = (uint32_t)(size - sizeof *o);
  o->childlen = 0;
  if (noscan) {
    o->peer = NULL;
    o->child = NULL;
  } else if (with_child) {
    unsigned char *c = gc_alloc_noscan(CHILDLEN);
    if (!c) return NULL;
    fill(c, CHILDLEN, idx + 7777u);
    GC_STORE(o->child, c);
    o->childlen = CHILDLEN;
  }
  fill(o->pay, o->paylen, idx);
  return o;
}

static int fobj_ok(const struct fobj *o) {
  if (!o || o->magic != FMAGIC || o->self != hide(o)) return 0;
  if (!verify(o->pay, o->paylen, o->idx)) return 0;
  if (o->childlen) {
    if (!o->child || o->childlen != CHILDLEN) return 0;
    if (!verify(o->child, CHILDLEN, o->idx + 7777u)) return 0;
  }
  return 1;
}

/* ---- tallies: what the finalizers saw ------------------------------------- */

struct tally {
  const char *name;
  int n;
  atomic_long total;   /* runs */
  atomic_long bad;     /* runs that found obj (or its peer, or data) damaged */
  atomic_long on_main; /* runs on the main thread */
  atomic_long foreign; /* runs with an idx out of range */
  atomic_int *runs;    /* per idx (malloc'd: not scanned) */
  atomic_long *order;  /* per idx: fin_seq at the run */
  int use_gate;        /* fn waits for gate before checking */
  atomic_int gate;
};

#define MAX_TALLIES 32
static struct tally *all_tallies[MAX_TALLIES];
static int ntallies;

static void tally_init(struct tally *t, const char *name, int n) {
  t->name = name;
  t->n = n;
  t->runs = calloc((size_t)n, sizeof *t->runs);
  t->order = calloc((size_t)n, sizeof *t->order);
  if (!t->runs || !t->order) abort();
  if (ntallies < MAX_TALLIES) all_tallies[ntallies++] = t;
}

static int tally_max_runs(struct tally *t) {
  int m = 0;
  for (int i = 0; i < t->n; i++)
    if (atomic_load(&t->runs[i]) > m) m = atomic_load(&t->runs[i]);
  return m;
}
static int tally_count_ran(struct tally *t, int lo, int hi, int step) {
  int c = 0;
  for (int i = lo; i < hi; i += step)
    if (atomic_load(&t->runs[i]) > 0) c++;
  return c;
}

static void note_run(struct tally *t) {
  if (pthread_equal(pthread_self(), main_thread)) {
    atomic_fetch_add(&ran_on_main, 1);
    if (t) atomic_fetch_add(&t->on_main, 1);
  }
}

static void gate_wait(struct tally *t) {
  if (!t->use_gate) return;
  long end = now_ms() + 5000;
  while (!atomic_load(&t->gate) && now_ms() < end) usleep(200);
}

/* Record a run for o in t: exactly-once and damage bookkeeping. */
static void record(struct tally *t, struct fobj *o, int ok) {
  uint32_t idx = o ? o->idx : UINT32_MAX;
  if (!ok) {
    if (atomic_fetch_add(&t->bad, 1) < 5)
      fprintf(stderr, "  %s: finalizer found a damaged object %p (idx %u)\n", t->name,
              (void *)o, (unsigned)idx);
  }
  if (o && o->magic == FMAGIC && idx < (uint32_t)t->n) {
    atomic_fetch_add(&t->runs[idx], 1);
    atomic_store(&t->order[idx], atomic_fetch_add(&fin_seq, 1) + 1);
  } else {
    atomic_fetch_add(&t->foreign, 1);
  }
  atomic_fetch_add(&t->total, 1);
}

/* Finalizers do their work in a noinline body and then scrub the dead stack
 * below them, so the finalizer thread does not keep the object (or what it
 * reached) alive through stale words in its frames. */
#define FINALIZER(name)                                      \
  static void name##_body(void *obj, void *data);            \
  static void name(void *obj, void *data) {                  \
    name##_body(obj, data);                                  \
    clear_stack();                                           \
  }                                                          \
  __attribute__((noinline)) static void name##_body(void *obj, void *data)

/* The common finalizer: data is the tally. Checks obj and its peer. */
FINALIZER(fin_tally) {
  struct tally *t = data;
  struct fobj *o = obj;
  note_run(t);
  gate_wait(t);
  int ok = fobj_ok(o);
  if (ok && o->peer) ok = fobj_ok(o->peer);
  record(t, o, ok);
  clear_stack();
}

/* Poll until *c >= target: runs queued finalizers on this thread too when
 * invoke is set. */
static int wait_for(atomic_long *c, long target, int timeout_ms, int invoke) {
  long end = now_ms() + timeout_ms;
  for (;;) {
    if (atomic_load(c) >= target) return 1;
    if (invoke) invoked_total += gc_invoke_finalizers();
    if (atomic_load(c) >= target) return 1;
    if (now_ms() > end) return 0;
    usleep(1000);
  }
}

/* Up to `rounds` times: scrub the stack, collect, wait for *c >= target;
 * a round ends early when *c has not moved for 100 ms (the rest is held by
 * stale words, or waits for the next cycle). */
static int collect_until(atomic_long *c, long target, int rounds, int ms_per_round) {
  for (int r = 0; r < rounds; r++) {
    clear_stack();
    gc_collect();
    long end = now_ms() + ms_per_round, last = atomic_load(c), idle_since = now_ms();
    for (;;) {
      if (wait_for(c, target, 20, 1)) return 1;
      long v = atomic_load(c), t = now_ms();
      if (v != last) last = v, idle_since = t;
      if (t > end || t - idle_since > 100) break;
    }
  }
  return 0;
}

/* ---- settle: the proof that finalization has caught up ------------------- */

static struct tally t_sent;

__attribute__((noinline)) static void make_sentinels(int n) {
  for (int i = 0; i < n; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 64, 0, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_sent);
  }
}

/* Makes sentinels unreachable after everything the caller dropped, collects
 * until most of them were finalized, then drains the queue. Returns 1 when
 * the sentinels ran (so a finalizer that was going to run has run). */
static int settle(void) {
  long base = atomic_load(&t_sent.total);
  make_sentinels(16);
  int ok = collect_until(&t_sent.total, base + 12, 6, 1000);
  for (int i = 0; i < 5; i++) {
    invoked_total += gc_invoke_finalizers();
    usleep(2000);
  }
  if (!ok)
    fprintf(stderr, "  settle: sentinels were not finalized (%ld of 16)\n",
            atomic_load(&t_sent.total) - base);
  return ok;
}

/* ---- exactly once, on the finalizer thread, object and child intact ------- */

static struct tally t_basic;

__attribute__((noinline)) static void make_basic(struct tally *t, int n, size_t size) {
  for (int i = 0; i < n; i++) {
    struct fobj *o = new_fobj((uint32_t)i, size, 1, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, t);
  }
}

TEST(runs_once_object_and_child_intact) {
  tally_init(&t_basic, "basic", 32);
  t_basic.use_gate = 1;
  make_basic(&t_basic, 32, 96);
  clear_stack();
  gc_collect();
  /* The finalizers wait at the gate: first reuse every slot of the object's
   * and the child's size classes that a collector freeing them too early
   * would have handed out again. */
  churn(8 * MiB, 256, 1);
  atomic_store(&t_basic.gate, 1);
  if (!wait_for(&t_basic.total, 32, 2000, 1)) collect_until(&t_basic.total, 32, 4, 1000);
  long ran = atomic_load(&t_basic.total);
  fprintf(stderr, "  %ld of 32 finalized\n", ran);
  CHECK(ran >= 29);
  CHECK_EQ(atomic_load(&t_basic.bad), 0);
  CHECK_EQ(atomic_load(&t_basic.foreign), 0);
  CHECK(tally_max_runs(&t_basic) <= 1);
  CHECK(settle());
  CHECK(tally_max_runs(&t_basic) <= 1);
  CHECK_EQ(atomic_load(&t_basic.bad), 0);
}

static struct tally t_thread;

TEST(runs_on_the_finalizer_thread) {
  tally_init(&t_thread, "thread", 16);
  make_basic(&t_thread, 16, 64);
  /* No gc_invoke_finalizers here: the finalizer thread must run them. */
  int ok = 0;
  for (int r = 0; r < 5 && !ok; r++) {
    clear_stack();
    gc_collect();
    ok = wait_for(&t_thread.total, 14, 1500, 0);
  }
  fprintf(stderr, "  %ld of 16 finalized, %ld on the main thread\n", atomic_load(&t_thread.total),
          atomic_load(&t_thread.on_main));
  CHECK(ok);
  CHECK_EQ(atomic_load(&t_thread.on_main), 0);
  CHECK_EQ(atomic_load(&t_thread.bad), 0);
  CHECK(tally_max_runs(&t_thread) <= 1);
}

/* ---- reclaimed by a later cycle once fn has run ------------------------------ */

static struct tally t_reclaim;
static gc_memstats reclaim_with;

#define BIGN 16
#define BIGSZ (256 * KiB)

__attribute__((noinline)) static void make_big(void) {
  for (int i = 0; i < BIGN; i++) {
    struct fobj *o = new_fobj((uint32_t)i, BIGSZ, 1, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_reclaim);
  }
  gc_read_memstats(&reclaim_with);
}

TEST(reclaimed_after_fn_ran) {
  tally_init(&t_reclaim, "reclaim", BIGN);
  gc_collect();
  gc_memstats m0;
  gc_read_memstats(&m0);
  make_big();
  CHECK(reclaim_with.heap_alloc >= m0.heap_alloc + BIGN * BIGSZ);
  collect_until(&t_reclaim.total, BIGN, 5, 1000);
  long ran = atomic_load(&t_reclaim.total);
  CHECK(ran >= BIGN - 2);
  CHECK_EQ(atomic_load(&t_reclaim.bad), 0);
  /* The objects whose fn ran are garbage now: the next cycles free them. */
  clear_stack();
  gc_collect();
  clear_stack();
  gc_collect();
  gc_memstats m1;
  gc_read_memstats(&m1);
  double freed = ((double)reclaim_with.heap_alloc - (double)m1.heap_alloc) / (double)BIGSZ;
  fprintf(stderr, "  %ld of %d finalized; heap_alloc with %.1f MiB, after %.1f MiB (%.1f objects freed)\n",
          ran, BIGN, reclaim_with.heap_alloc / 1048576.0, m1.heap_alloc / 1048576.0, freed);
  /* Two may linger behind stale words (say, on the finalizer thread's
   * stack). */
  CHECK(freed >= (double)(ran - 2));
  CHECK(tally_max_runs(&t_reclaim) <= 1);
}

/* ---- resurrection, re-arming ------------------------------------------------ */

#define NRES 8
static struct tally t_res;
static _Atomic(struct fobj *) resurrected[NRES];

FINALIZER(fin_resurrect) {
  struct tally *t = data;
  struct fobj *o = obj;
  note_run(t);
  int ok = fobj_ok(o);
  if (ok) atomic_store(&resurrected[o->idx], o);
  record(t, o, ok);
}

__attribute__((noinline)) static void make_res(void) {
  for (int i = 0; i < NRES; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 128, 1, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_resurrect, &t_res);
  }
}

__attribute__((noinline)) static int res_intact(int *count) {
  int bad = 0;
  *count = 0;
  for (int i = 0; i < NRES; i++) {
    struct fobj *o = atomic_load(&resurrected[i]);
    if (!o) continue;
    (*count)++;
    if (!fobj_ok(o) || o->idx != (uint32_t)i) bad++;
  }
  return bad;
}

TEST(resurrection_keeps_object_fn_runs_once) {
  tally_init(&t_res, "resurrect", NRES);
  make_res();
  collect_until(&t_res.total, NRES, 5, 1000);
  long ran = atomic_load(&t_res.total);
  CHECK(ran >= NRES - 2);
  CHECK_EQ(atomic_load(&t_res.bad), 0);
  /* The resurrected objects are ordinary live objects now. */
  for (int r = 0; r < 3; r++) {
    churn(4 * MiB, 256, 10u + (unsigned)r);
    gc_collect();
  }
  int count = 0;
  CHECK_EQ(res_intact(&count), 0);
  CHECK(count >= ran); /* stale-held ones may have been finalized since */
  CHECK(settle());
  CHECK(tally_max_runs(&t_res) <= 1);
  /* Dropped again: the finalizer was consumed by its run. */
  for (int i = 0; i < NRES; i++) atomic_store(&resurrected[i], NULL);
  CHECK(settle());
  CHECK(settle());
  CHECK(tally_max_runs(&t_res) <= 1);
  long late = atomic_load(&t_res.total) - ran; /* stale-held ones finalized late: once */
  CHECK(late >= 0 && ran + late <= NRES);
}

static struct tally t_arm1, t_arm2;
static _Atomic(struct fobj *) rearmed[NRES];

FINALIZER(fin_rearm) {
  struct tally *t = data;
  struct fobj *o = obj;
  note_run(t);
  int ok = fobj_ok(o);
  if (ok) {
    atomic_store(&rearmed[o->idx], o);
    gc_set_finalizer(o, fin_tally, &t_arm2);
  }
  record(t, o, ok);
}

__attribute__((noinline)) static void make_rearm(void) {
  for (int i = 0; i < NRES; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 160, 1, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_rearm, &t_arm1);
  }
}

TEST(finalizer_can_rearm_itself) {
  tally_init(&t_arm1, "rearm-1", NRES);
  tally_init(&t_arm2, "rearm-2", NRES);
  make_rearm();
  collect_until(&t_arm1.total, NRES, 5, 1000);
  long ran1 = atomic_load(&t_arm1.total);
  CHECK(ran1 >= NRES - 2);
  CHECK(settle());
  CHECK_EQ(atomic_load(&t_arm2.total), 0); /* still reachable from rearmed[] */
  for (int i = 0; i < NRES; i++) atomic_store(&rearmed[i], NULL);
  collect_until(&t_arm2.total, ran1, 5, 1000);
  long ran2 = atomic_load(&t_arm2.total);
  fprintf(stderr, "  first fn ran for %ld, second for %ld of %d\n", ran1, ran2, NRES);
  CHECK(ran2 >= ran1 - 2);
  CHECK_EQ(atomic_load(&t_arm1.bad) + atomic_load(&t_arm2.bad), 0);
  CHECK(settle());
  CHECK(tally_max_runs(&t_arm1) <= 1);
  CHECK(tally_max_runs(&t_arm2) <= 1);
  /* The second finalizer only ever runs for objects whose first one ran. */
  for (int i = 0; i < NRES; i++)
    if (atomic_load(&t_arm2.runs[i])) CHECK(atomic_load(&t_arm1.runs[i]) == 1);
}

/* ---- reachable objects: never finalized --------------------------------------- */

static struct tally t_reach;
static struct fobj *reach_global;
static struct fobj **reach_holder; /* gc object reachable from a global */
static char *reach_interior;       /* only an interior pointer */
static void **reach_rootblock;     /* malloc'd, registered with gc_add_roots */

__attribute__((noinline)) static struct fobj *make_reach(uint32_t idx) {
  struct fobj *o = new_fobj(idx, 256, 1, 0);
  if (!o) abort();
  gc_set_finalizer(o, fin_tally, &t_reach);
  return o;
}

TEST(reachable_object_never_finalized) {
  tally_init(&t_reach, "reachable", 8);
  struct fobj *volatile on_stack = make_reach(0);
  reach_global = make_reach(1);
  reach_holder = gc_alloc(4 * sizeof(void *));
  CHECK_OR_RETURN(reach_holder != NULL);
  GC_STORE(reach_holder[2], make_reach(2));
  reach_interior = (char *)make_reach(3) + 40;
  reach_rootblock = malloc(8 * sizeof(void *));
  CHECK_OR_RETURN(reach_rootblock != NULL);
  memset(reach_rootblock, 0, 8 * sizeof(void *));
  gc_add_roots(reach_rootblock, reach_rootblock + 8);
  reach_rootblock[5] = make_reach(4);
  /* A finalized object reachable from another finalized, reachable one. */
  struct fobj *outer = make_reach(5);
  GC_STORE(outer->peer, make_reach(6));
  GC_STORE(reach_holder[3], outer);
  outer = NULL;
  for (int r = 0; r < 3; r++) {
    churn(4 * MiB, 300, 20u + (unsigned)r);
    CHECK(settle());
  }
  CHECK_EQ(atomic_load(&t_reach.total), 0);
  CHECK(fobj_ok(on_stack) && on_stack->idx == 0);
  CHECK(fobj_ok(reach_global) && reach_global->idx == 1);
  CHECK(fobj_ok(reach_holder[2]) && reach_holder[2]->idx == 2);
  struct fobj *in = gc_base(reach_interior);
  CHECK(in != NULL && fobj_ok(in) && in->idx == 3);
  CHECK(fobj_ok(reach_rootblock[5]) && ((struct fobj *)reach_rootblock[5])->idx == 4);
  CHECK(fobj_ok(reach_holder[3]) && fobj_ok(reach_holder[3]->peer));
  in = NULL;
  /* Dropped: now they are finalized (the stack one may linger). */
  on_stack = NULL;
  reach_global = NULL;
  reach_holder = NULL;
  reach_interior = NULL;
  reach_rootblock[5] = NULL;
  gc_remove_roots(reach_rootblock, reach_rootblock + 8);
  free(reach_rootblock);
  reach_rootblock = NULL;
  collect_until(&t_reach.total, 7, 6, 1000);
  fprintf(stderr, "  after dropping: %ld of 7 finalized\n", atomic_load(&t_reach.total));
  CHECK(atomic_load(&t_reach.total) >= 5);
  CHECK_EQ(atomic_load(&t_reach.bad), 0);
  CHECK(tally_max_runs(&t_reach) <= 1);
  /* idx 6 is reachable from idx 5: it cannot have run before 5 did. */
  if (atomic_load(&t_reach.runs[6])) {
    CHECK(atomic_load(&t_reach.runs[5]) == 1);
    CHECK(atomic_load(&t_reach.order[5]) < atomic_load(&t_reach.order[6]));
  }
}

/* ---- cancel with NULL ---------------------------------------------------------- */

static struct tally t_cancel;

__attribute__((noinline)) static void make_cancel(void) {
  for (int i = 0; i < 32; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 80, 0, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_cancel);
    if (i % 2 == 0) gc_set_finalizer(o, NULL, NULL);
  }
}

TEST(null_fn_cancels) {
  tally_init(&t_cancel, "cancel", 32);
  make_cancel();
  collect_until(&t_cancel.total, 16, 5, 1000);
  CHECK(settle());
  int odd = tally_count_ran(&t_cancel, 1, 32, 2), even = tally_count_ran(&t_cancel, 0, 32, 2);
  fprintf(stderr, "  armed: %d of 16 ran; cancelled: %d of 16 ran\n", odd, even);
  CHECK(odd >= 13);
  CHECK_EQ(even, 0);
  CHECK(tally_max_runs(&t_cancel) <= 1);
  CHECK_EQ(atomic_load(&t_cancel.bad), 0);
}

/* ---- data is kept alive ------------------------------------------------------- */

#define NDATA 16
static struct tally t_data;
static struct fobj *data_objs[NDATA]; /* obj reachable, data only via the finalizer */

FINALIZER(fin_data) {
  struct fobj *o = obj, *d = data;
  note_run(&t_data);
  gate_wait(&t_data);
  int ok = fobj_ok(o) && fobj_ok(d) && d->idx == o->idx + 1000;
  record(&t_data, o, ok);
  clear_stack();
}

__attribute__((noinline)) static void make_data(void) {
  for (int i = 0; i < NDATA; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 96, 0, 0);
    /* data: a scanned object with a child, reachable from nowhere else. */
    struct fobj *d = new_fobj((uint32_t)i + 1000, 112, 1, 0);
    if (!o || !d) abort();
    gc_set_finalizer(o, fin_data, d);
    data_objs[i] = o;
  }
}

TEST(data_kept_alive) {
  tally_init(&t_data, "data", NDATA);
  t_data.use_gate = 1;
  make_data();
  /* While the finalizers are set and obj is reachable, data survives. */
  for (int r = 0; r < 2; r++) {
    clear_stack();
    gc_collect();
    churn(4 * MiB, 256, 30u + (unsigned)r);
  }
  CHECK_EQ(atomic_load(&t_data.total), 0);
  for (int i = 0; i < NDATA; i++) data_objs[i] = NULL;
  clear_stack();
  gc_collect();
  churn(8 * MiB, 256, 40);
  atomic_store(&t_data.gate, 1);
  if (!wait_for(&t_data.total, NDATA, 2000, 1)) collect_until(&t_data.total, NDATA, 4, 1000);
  fprintf(stderr, "  %ld of %d finalized\n", atomic_load(&t_data.total), NDATA);
  CHECK(atomic_load(&t_data.total) >= NDATA - 3);
  CHECK_EQ(atomic_load(&t_data.bad), 0);
  CHECK(tally_max_runs(&t_data) <= 1);
}

/* ---- cycles: never finalized, never reclaimed ---------------------------------- */

#define NCYC 8
static struct tally t_cycle;
static uintptr_t cyc_hidden[4 * NCYC]; /* hidden: not roots */

__attribute__((noinline)) static void make_cycles(void) {
  for (int i = 0; i < NCYC; i++) {
    /* A <-> B, both finalized. */
    struct fobj *a = new_fobj((uint32_t)(4 * i), 96, 1, 0);
    struct fobj *b = new_fobj((uint32_t)(4 * i + 1), 96, 1, 0);
    /* C -> C, finalized. */
    struct fobj *c = new_fobj((uint32_t)(4 * i + 2), 96, 1, 0);
    /* D -> E -> D, only D finalized: D reaches itself. */
    struct fobj *d = new_fobj((uint32_t)(4 * i + 3), 96, 1, 0);
    struct fobj *e = new_fobj(9999, 96, 1, 0);
    if (!a || !b || !c || !d || !e) abort();
    GC_STORE(a->peer, b);
    GC_STORE(b->peer, a);
    GC_STORE(c->peer, c);
    GC_STORE(d->peer, e);
    GC_STORE(e->peer, d);
    gc_set_finalizer(a, fin_tally, &t_cycle);
    gc_set_finalizer(b, fin_tally, &t_cycle);
    gc_set_finalizer(c, fin_tally, &t_cycle);
    gc_set_finalizer(d, fin_tally, &t_cycle);
    cyc_hidden[4 * i] = hide(a);
    cyc_hidden[4 * i + 1] = hide(b);
    cyc_hidden[4 * i + 2] = hide(c);
    cyc_hidden[4 * i + 3] = hide(d);
  }
}

__attribute__((noinline)) static int cycles_damaged(void) {
  int bad = 0;
  for (int i = 0; i < 4 * NCYC; i++) {
    struct fobj *o = unhide(cyc_hidden[i]);
    if (!fobj_ok(o) || o->idx != (uint32_t)i || !fobj_ok(o->peer)) bad++;
  }
  return bad;
}

TEST(cycles_never_finalized_nor_reclaimed) {
  tally_init(&t_cycle, "cycles", 4 * NCYC);
  make_cycles();
  for (int r = 0; r < 3; r++) {
    CHECK(settle());
    churn(4 * MiB, 256, 50u + (unsigned)r);
  }
  CHECK(settle());
  CHECK_EQ(atomic_load(&t_cycle.total), 0);
  /* Never reclaimed either: still intact after garbage reused free slots. */
  CHECK_EQ(cycles_damaged(), 0);
}

/* ---- A reaches B, both finalized: A first, B in a later cycle ------------------ */

#define NCHAIN 16
static struct tally t_chain;

__attribute__((noinline)) static void make_chains(void) {
  for (int i = 0; i < NCHAIN; i++) {
    struct fobj *a = new_fobj((uint32_t)(2 * i), 96, 1, 0);
    struct fobj *b = new_fobj((uint32_t)(2 * i + 1), 96, 1, 0);
    if (!a || !b) abort();
    GC_STORE(a->peer, b);
    gc_set_finalizer(a, fin_tally, &t_chain);
    gc_set_finalizer(b, fin_tally, &t_chain);
  }
}

TEST(chain_finalized_in_order) {
  tally_init(&t_chain, "chain", 2 * NCHAIN);
  make_chains();
  collect_until(&t_chain.total, 2 * NCHAIN, 8, 1000);
  int both = 0, misordered = 0, b_without_a = 0;
  for (int i = 0; i < NCHAIN; i++) {
    int ra = atomic_load(&t_chain.runs[2 * i]), rb = atomic_load(&t_chain.runs[2 * i + 1]);
    if (rb && !ra) b_without_a++;
    if (ra && rb) {
      both++;
      if (atomic_load(&t_chain.order[2 * i]) > atomic_load(&t_chain.order[2 * i + 1]))
        misordered++;
    }
  }
  fprintf(stderr, "  %d of %d chains fully finalized\n", both, NCHAIN);
  CHECK(both >= NCHAIN - 3);
  CHECK_EQ(b_without_a, 0);
  CHECK_EQ(misordered, 0);
  CHECK_EQ(atomic_load(&t_chain.bad), 0);
  CHECK(tally_max_runs(&t_chain) <= 1);
}

/* ---- gc_free drops the finalizer ------------------------------------------------ */

static struct tally t_free;

__attribute__((noinline)) static void make_and_free(void) {
  for (int i = 0; i < 16; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 96, 0, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_free);
    gc_free(o);
  }
  for (int i = 16; i < 20; i++) {
    struct fobj *o = new_fobj((uint32_t)i, 200 * KiB, 0, 0); /* large: freed at once */
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_free);
    gc_free(o);
  }
}

/* New objects of the same sizes, likely in the freed slots. */
static void **reuse_holder;
__attribute__((noinline)) static void reuse_slots(void) {
  reuse_holder = gc_alloc(3000 * sizeof(void *));
  if (!reuse_holder) abort();
  for (int i = 0; i < 3000; i++) {
    size_t sz = i < 2990 ? 96 : 200 * KiB;
    struct fobj *o = new_fobj(777, sz, 0, 0);
    if (!o) abort();
    GC_STORE(reuse_holder[i], o);
  }
}

TEST(gc_free_drops_finalizer_unrun) {
  tally_init(&t_free, "free", 20);
  make_and_free();
  CHECK(settle());
  CHECK_EQ(atomic_load(&t_free.total), 0);
  /* A new object in a freed slot does not inherit the finalizer. */
  reuse_slots();
  reuse_holder = NULL;
  CHECK(settle());
  CHECK(settle());
  CHECK_EQ(atomic_load(&t_free.total), 0);
}

/* ---- 10000 objects ------------------------------------------------------------- */

#define NMANY 10000
static struct tally t_many;

__attribute__((noinline)) static void make_many(void) {
  for (int i = 0; i < NMANY; i++) {
    struct fobj *o;
    if (i % 500 == 7) o = new_fobj((uint32_t)i, 40000, 1, 0); /* large */
    else if (i % 3 == 0) o = new_fobj((uint32_t)i, 96, 1, 0);
    else if (i % 3 == 1) o = new_fobj((uint32_t)i, 112, 0, 1); /* noscan */
    else o = new_fobj((uint32_t)i, 64, 0, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_many);
  }
}

TEST(ten_thousand_exactly_once) {
  tally_init(&t_many, "many", NMANY);
  long t0 = now_ms();
  make_many();
  collect_until(&t_many.total, NMANY, 6, 1500);
  long ran = atomic_load(&t_many.total);
  fprintf(stderr, "  %ld of %d finalized in %ld ms (%ld on the main thread)\n", ran, NMANY,
          now_ms() - t0, atomic_load(&t_many.on_main));
  CHECK(ran >= NMANY - 10);
  CHECK_EQ(atomic_load(&t_many.bad), 0);
  CHECK_EQ(atomic_load(&t_many.foreign), 0);
  CHECK(tally_max_runs(&t_many) <= 1);
  CHECK(settle());
  CHECK(tally_max_runs(&t_many) <= 1);
}

/* ---- finalizers set from 4 threads while cycles run ------------------------------ */

#define NTHR 4
#define PERTHR 2000
static struct tally t_thr;
static void **thr_keep[NTHR]; /* odd-indexed objects stay reachable */
static atomic_int thr_done;

static uint32_t cycles_done(void) {
  gc_memstats m;
  gc_read_memstats(&m);
  return m.num_gc;
}

__attribute__((noinline)) static void thr_build(int t) {
  void **keep = gc_alloc(PERTHR * sizeof(void *));
  if (!keep) abort();
  thr_keep[t] = keep;
  for (int i = 0; i < PERTHR; i++) {
    uint32_t idx = (uint32_t)(t * PERTHR + i);
    struct fobj *o = new_fobj(idx, i % 4 == 0 ? 64 : 128, i % 2, 0);
    if (!o) abort();
    gc_set_finalizer(o, fin_tally, &t_thr);
    if (i % 2) GC_STORE(keep[i], o);
    if (i % 4 == 0) churn(16 * KiB, 256, idx);
    /* In 10 slices, each waiting for a cycle to end: the finalizers are set
     * across at least 10 cycles, however fast or slow the machine is. */
    if (i % (PERTHR / 10) == PERTHR / 10 - 1) {
      uint32_t n0 = cycles_done();
      long end = now_ms() + 3000;
      while (cycles_done() == n0 && now_ms() < end) churn(16 * KiB, 256, idx);
    }
  }
}

static void *thr_main(void *arg) {
  int t = (int)(intptr_t)arg;
  thr_build(t);
  clear_stack();
  atomic_fetch_add(&thr_done, 1);
  return NULL;
}

__attribute__((noinline)) static int thr_kept_damaged(void) {
  int bad = 0;
  for (int t = 0; t < NTHR; t++)
    for (int i = 1; i < PERTHR; i += 2) {
      struct fobj *o = thr_keep[t][i];
      if (!fobj_ok(o) || o->idx != (uint32_t)(t * PERTHR + i)) bad++;
    }
  return bad;
}

TEST(set_from_threads_while_collecting) {
  tally_init(&t_thr, "threads", NTHR * PERTHR);
  long t0 = now_ms();
  gc_memstats m0, m1;
  gc_read_memstats(&m0);
  pthread_t th[NTHR];
  for (int t = 0; t < NTHR; t++)
    CHECK_OR_RETURN(gc_pthread_create(&th[t], NULL, thr_main, (void *)(intptr_t)t) == 0);
  int cycles = 0;
  long end = now_ms() + 20000;
  while (atomic_load(&thr_done) < NTHR && now_ms() < end) {
    gc_collect();
    invoked_total += gc_invoke_finalizers();
    cycles++;
  }
  for (int t = 0; t < NTHR; t++) pthread_join(th[t], NULL);
  gc_read_memstats(&m1);
  long build_ms = now_ms() - t0;
  int dropped = NTHR * PERTHR / 2;
  long dropped_ran = 0;
  for (int i = 0; i < NTHR * PERTHR; i += 2) dropped_ran += atomic_load(&t_thr.runs[i]) > 0;
  if (dropped_ran < dropped) {
    collect_until(&t_thr.total, dropped, 6, 1000);
    dropped_ran = 0;
    for (int i = 0; i < NTHR * PERTHR; i += 2) dropped_ran += atomic_load(&t_thr.runs[i]) > 0;
  }
  CHECK(settle());
  int kept_ran = tally_count_ran(&t_thr, 1, NTHR * PERTHR, 2);
  fprintf(stderr, "  %u cycles (%d forced) during the %ld ms build; dropped: %ld of %d finalized; "
          "kept: %d (at %ld ms)\n", m1.num_gc - m0.num_gc, cycles, build_ms, dropped_ran, dropped,
          kept_ran, now_ms() - t0);
  CHECK(m1.num_gc - m0.num_gc >= 10);
  CHECK(dropped_ran >= dropped - 10);
  CHECK_EQ(kept_ran, 0);
  CHECK_EQ(thr_kept_damaged(), 0);
  CHECK_EQ(atomic_load(&t_thr.bad), 0);
  CHECK(tally_max_runs(&t_thr) <= 1);
  /* Now drop the kept half too. */
  for (int t = 0; t < NTHR; t++) thr_keep[t] = NULL;
  collect_until(&t_thr.total, NTHR * PERTHR, 6, 1000);
  kept_ran = tally_count_ran(&t_thr, 1, NTHR * PERTHR, 2);
  fprintf(stderr, "  after dropping the kept half: %d of %d finalized (at %ld ms)\n", kept_ran,
          dropped, now_ms() - t0);
  CHECK(kept_ran >= dropped - 10);
  CHECK_EQ(atomic_load(&t_thr.bad), 0);
  CHECK(tally_max_runs(&t_thr) <= 1);
}

/* ---- a finalizer that allocates and sets finalizers ------------------------------ */

#define NGENCHAIN 8
#define NGEN 5
static struct tally t_gen;
static atomic_int gen_reached[NGENCHAIN];

static void fin_gen(void *obj, void *data);
static void fin_gen_body(void *obj, void *data);

__attribute__((noinline)) static void spawn_gen(uint32_t chain, uint32_t gen) {
  struct fobj *o = new_fobj(chain * 16 + gen, 96, 1, 0);
  if (!o) abort();
  gc_set_finalizer(o, fin_gen, &t_gen);
}

FINALIZER(fin_gen) {
  struct tally *t = data;
  struct fobj *o = obj;
  note_run(t);
  int ok = fobj_ok(o);
  record(t, o, ok);
  if (ok) {
    uint32_t chain = o->idx / 16, gen = o->idx % 16;
    atomic_store(&gen_reached[chain], (int)gen);
    if (gen + 1 < NGEN) spawn_gen(chain, gen + 1);
  }
  clear_stack();
}

static int gens_done(void) {
  int n = 0;
  for (int i = 0; i < NGENCHAIN; i++) n += atomic_load(&gen_reached[i]) == NGEN - 1;
  return n;
}

TEST(finalizer_allocates_and_sets_finalizers) {
  tally_init(&t_gen, "generations", NGENCHAIN * 16);
  for (uint32_t c = 0; c < NGENCHAIN; c++) spawn_gen(c, 0);
  long end = now_ms() + 8000;
  while (gens_done() < NGENCHAIN && now_ms() < end) {
    clear_stack();
    gc_collect();
    wait_for(&t_gen.total, atomic_load(&t_gen.total) + 1, 100, 1);
  }
  fprintf(stderr, "  %d of %d chains reached generation %d (%ld runs)\n", gens_done(), NGENCHAIN,
          NGEN - 1, atomic_load(&t_gen.total));
  CHECK(gens_done() >= NGENCHAIN - 2);
  CHECK_EQ(atomic_load(&t_gen.bad), 0);
  CHECK(tally_max_runs(&t_gen) <= 1);
}

/* ---- misuse ---------------------------------------------------------------- */


static void noop_fin(void *obj, void *data) { (void)obj, (void)data; }

/* Fork; the child calls gc_set_finalizer(ptr, ...) and must die of SIGABRT
 * after printing exactly one line "tricolor: gc_set_finalizer(<ptr>)...". */
static void set_noop_finalizer(void *ptr) { gc_set_finalizer(ptr, noop_fin, NULL); }

static void expect_set_finalizer_death(const char *what, void *ptr) {
  char want[96];
  snprintf(want, sizeof want, "tricolor: gc_set_finalizer(%p)", ptr);
  int status, died_abort;
  char *out = run_dying(set_noop_finalizer, ptr, &status, &died_abort);
  CHECK_OR_RETURN(out != NULL);
  /* One line, starting with the call and the pointer, not followed by more
   * hex digits, and the line names the call. */
  int starts = strncmp(out, "tricolor: gc_set_finalizer(0x", 29) == 0;
  size_t wl = strlen(want) - 1; /* without the ')' */
  char after = strlen(out) > wl ? out[wl] : 0;
  int names = strncmp(out, want, wl) == 0 && strlen(out) > wl &&
              !((after >= '0' && after <= '9') || (after >= 'a' && after <= 'f'));
  int one_line = strchr(out, '\n') != NULL && strchr(out, '\n')[1] == 0;
  if (!died_abort || !starts || !names || !one_line)
    fprintf(stderr, "  %s: status %#x (%s%d), want SIGABRT and \"%s...\"; child stderr:\n---\n%s---\n",
            what, status, WIFSIGNALED(status) ? "signal " : "exit ",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), want, out);
  CHECK(died_abort);
  CHECK(starts);
  CHECK(names);
  CHECK(one_line);
  free(out);
}

static int global_victim[16];

TEST(misuse_interior_pointer) {
  char *p = gc_alloc(64);
  CHECK_OR_RETURN(p != NULL);
  expect_set_finalizer_death("small + 16", p + 16);
  expect_set_finalizer_death("small + 1", p + 1);
  char *l = gc_alloc(200000);
  CHECK_OR_RETURN(l != NULL);
  expect_set_finalizer_death("large + 8192", l + 8192);
  expect_set_finalizer_death("large + 8", l + 8);
}

TEST(misuse_foreign_pointer) {
  int local = 0;
  expect_set_finalizer_death("stack", &local);
  expect_set_finalizer_death("global", global_victim);
  void *m = malloc(64);
  CHECK_OR_RETURN(m != NULL);
  memset(m, 0, 64);
  expect_set_finalizer_death("malloc", m);
  free(m);
  (void)local;
}

/* ---- bookkeeping across the whole run ---------------------------------------- */

/* Every run on the main thread came from gc_invoke_finalizers, which
 * counted it; no finalizer ran twice, even late. */
TEST(zz_invoke_counts_and_no_late_reruns) {
  CHECK(settle());
  invoked_total += gc_invoke_finalizers();
  fprintf(stderr, "  gc_invoke_finalizers ran %ld; finalizers seen on the main thread: %ld\n",
          invoked_total, atomic_load(&ran_on_main));
  CHECK_EQ(invoked_total, atomic_load(&ran_on_main));
  for (int i = 0; i < ntallies; i++) {
    struct tally *t = all_tallies[i];
    if (t == &t_sent) continue;
    if (tally_max_runs(t) > 1 || atomic_load(&t->foreign) || atomic_load(&t->bad))
      fprintf(stderr, "  tally %s: max runs %d, foreign %ld, bad %ld\n", t->name,
              tally_max_runs(t), atomic_load(&t->foreign), atomic_load(&t->bad));
    CHECK(tally_max_runs(t) <= 1);
    CHECK_EQ(atomic_load(&t->foreign), 0);
    CHECK_EQ(atomic_load(&t->bad), 0);
  }
}

static void on_alarm(int sig) {
  static const char msg[] = "test_finalizer: watchdog expired (deadlock?)\n";
  (void)sig;
  if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
  _exit(2);
}

int main(int argc, char **argv) {
  main_thread = pthread_self();
  tally_init(&t_sent, "sentinels", 64);
  signal(SIGALRM, on_alarm);
  alarm(120);
  return check_run_all(argc, argv);
}
