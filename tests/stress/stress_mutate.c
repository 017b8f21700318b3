/*
 * stress_mutate.c - four mutator threads keep moving the only pointer to
 * their objects between heap slots, local variables and global variables
 * while collection cycles (concurrent marks, in the concurrent and barrier
 * modes) run beside them.
 *
 * Each thread owns (and alone touches) a structure of ~500 checksummed
 * objects (40 B .. 4 KiB, a few of 32 .. 64 KiB):
 *   - NTABLES heap tables of TSLOTS slots, reachable from a heap `state`
 *     object whose only reference is a local of the thread;
 *   - NGLOB global slots (g_glob[thread], .bss);
 *   - NLOC local slots (an array in the thread's frame);
 *   - chains: every object has a `kid` pointer, so a slot holds a short
 *     linked list (at most MAXCHAIN objects).
 * Every object is in exactly one place at any time. A thread repeatedly:
 *   - moves an object: load it into a local, clear its place, allocate (so
 *     marking makes progress while the pointer lives only in a local or a
 *     register), store it into an empty place of any kind;
 *   - swaps the pointers held by two heap slots;
 *   - nests a chain at the end of another chain (a heap store into an object)
 *     and clears its old place, or rotates a chain (head moves to the tail);
 *   - holds several objects only in a local array across ~64 KiB of
 *     allocation, then puts them back elsewhere;
 *   - replaces a chain with new objects (born during marking, sometimes);
 *   - copies a whole table into a new table object and drops the old one;
 * and verifies every object it touches (magic, id, size and payload pattern
 * derived from the id; an object freed too early and reused by garbage or by
 * another object fails this), plus, every few hundred operations, the whole
 * structure against a shadow (object count, xor and sum of the ids).
 *
 * Stores of heap pointers into heap objects go through GC_STORE, so the
 * program is correct in GCMODE=barrier. When the mode is not barrier
 * (concurrent, stw), threads 1 and 3 use plain C stores (and memcpy for table
 * copies) instead: the concurrent mode must be safe for unannotated code.
 * Stores to locals and globals are always plain (the barrier promise covers
 * heap stores only).
 *
 * A shared checksummed ballast tree (st_tree_build, ~1.6 MiB) makes every
 * mark take a little while. gc_set_percent(25) keeps the runway short, so a
 * cycle starts every megabyte or two of allocation and the mutators spend
 * much of their time beside a running mark (GCTRACE=1 shows the marks and
 * the bytes allocated black). The main thread stops the workers after
 * TARGET_CYCLES completed cycles (num_gc) and MIN_SECONDS, or after
 * TIME_LIMIT seconds, then the workers verify everything around two
 * gc_collect calls.
 * Checks: no object ever failed verification, >= MIN_CYCLES cycles ran.
 * Run with GCCHECKMARK=1 (as ctest does) to have every concurrent mark
 * verified by a stop-the-world re-mark as well.
 */
#include <pthread.h>
#include <stdarg.h>

#include "check.h"
#include "stress_util.h"

#define NTHREADS 4
#define NTABLES 4
#define TSLOTS 256
#define NGLOB 32
#define NLOC 16
#define NHOLD 8
#define MAXCHAIN 8
#define TARGET_OBJS 500 /* per thread */
#define TARGET_CYCLES 540
#define MIN_CYCLES 500
#define MIN_SECONDS 3.0 /* even when the cycles come faster (stw) */
#define TIME_LIMIT 50.0
#define BALLAST_NODES 8000

#define OBJ_MAGIC 0x6d757461u /* "muta" */
#define TABLE_MAGIC 0x7461626cu

/* ---- Objects ---------------------------------------------------------- */

struct obj {
  uint64_t magic; /* OBJ_MAGIC */
  uint64_t id;    /* owner thread in the top 16 bits */
  uint64_t words; /* payload words, words_of(id) */
  struct obj *kid; /* next in the chain: moves, not checksummed */
  uint64_t sum;   /* st_mix(magic ^ id ^ words) */
  uint64_t pay[]; /* pay[i] = st_pat(id, i) */
};

struct table {
  uint64_t magic;
  uint64_t gen;
  struct obj *slot[TSLOTS];
};

struct state {
  struct table *tab[NTABLES];
};

/* Global slots: thread t uses row t only. */
static struct obj *g_glob[NTHREADS][NGLOB];

/* Ballast: a scanned tree reachable only from this global. */
static struct st_node *g_ballast;
static uint64_t g_ballast_sum;

static atomic_int g_stop;
static atomic_long g_bad, g_ops, g_moves, g_born, g_tablecopies;
static gc_mode_t g_mode;

ST_DEFINE_BAD("stress_mutate", g_bad, g_stop)

static uint64_t words_of(uint64_t id) {
  uint64_t h = st_mix(id ^ 0x5157);
  uint64_t k = h % 1000;
  if (k < 700) return h % 24;          /* 40 .. 232 B */
  if (k < 995) return 24 + h % 488;    /* .. 4 KiB */
  return 4100 + h % 4000;              /* 32 .. 64 KiB: large objects */
}

/* Thread context: everything is a pointer-free integer or points into the
 * thread's own frame (the local slots), except `st`, the state object. */
struct ctx {
  int tid;
  int plain; /* plain stores instead of GC_STORE */
  st_rng rng;
  struct state *st;
  struct obj **loc; /* the NLOC local slots, in the thread's frame */
  uint64_t next_id;
  st_census_t live; /* shadow of the live set */
  uint64_t table_gen;
};

/* A heap store: GC_STORE, or a plain store on the plain threads. */
#define HSTORE(c, lv, v)        \
  do {                          \
    if ((c)->plain) (lv) = (v); \
    else GC_STORE(lv, v);       \
  } while (0)

/* Places: 0 .. NTABLES*TSLOTS-1 heap table slots, then NGLOB globals, then
 * NLOC locals. */
#define NHEAP (NTABLES * TSLOTS)
#define NPLACES (NHEAP + NGLOB + NLOC)

static struct obj **place(struct ctx *c, int p) {
  if (p < NHEAP) return &c->st->tab[p / TSLOTS]->slot[p % TSLOTS];
  if (p < NHEAP + NGLOB) return &g_glob[c->tid][p - NHEAP];
  return &c->loc[p - NHEAP - NGLOB];
}

static const char *place_kind(int p) { return p < NHEAP ? "heap slot" : p < NHEAP + NGLOB ? "global" : "local"; }

static void put(struct ctx *c, int p, struct obj *o) {
  struct obj **s = place(c, p);
  if (p < NHEAP) HSTORE(c, *s, o);
  else *s = o; /* globals and locals: plain, in every mode */
}

/* ---- Verification ------------------------------------------------------ */

/* 1 if o is an intact object of thread c->tid. */
static int obj_ok(struct ctx *c, const struct obj *o, const char *where, int p) {
  if (gc_base(o) != (const void *)o) {
    bad("thread %d: %s %d: %p is not the start of a live object (gc_base %p)", c->tid, where, p, (const void *)o,
        gc_base(o));
    return 0;
  }
  if (o->magic != OBJ_MAGIC || (o->id >> 48) != (uint64_t)c->tid + 1 || o->words != words_of(o->id) ||
      o->sum != st_mix(o->magic ^ o->id ^ o->words)) {
    bad("thread %d: %s %d: object %p: bad header (magic %#llx id %#llx words %llu sum %#llx): freed and reused?",
        c->tid, where, p, (const void *)o, (unsigned long long)o->magic, (unsigned long long)o->id,
        (unsigned long long)o->words, (unsigned long long)o->sum);
    return 0;
  }
  if (gc_usable_size(o) < sizeof *o + o->words * 8) {
    bad("thread %d: %s %d: object %p: usable size %zu < %zu", c->tid, where, p, (const void *)o, gc_usable_size(o),
        sizeof *o + o->words * 8);
    return 0;
  }
  size_t i = st_check_words(o->pay, 0, o->words, o->id);
  if (i != (size_t)-1) {
    bad("thread %d: %s %d: object %p (id %#llx): payload word %zu is %#llx: freed and reused?", c->tid, where, p,
        (const void *)o, (unsigned long long)o->id, i, (unsigned long long)o->pay[i]);
    return 0;
  }
  return 1;
}

/* Verifies the chain at o; returns its length, or -1 if broken. Adds its
 * objects to *seen if not NULL. */
static int chain_check(struct ctx *c, const struct obj *o, const char *where, int p, st_census_t *seen) {
  int n = 0;
  for (; o; o = o->kid) {
    if (++n > MAXCHAIN) {
      bad("thread %d: %s %d: chain longer than %d", c->tid, where, p, MAXCHAIN);
      return -1;
    }
    if (!obj_ok(c, o, where, p)) return -1;
    if (seen) st_census_add(seen, o->id);
  }
  return n;
}

static ST_NOINLINE void verify_all(struct ctx *c, const char *when) {
  st_census_t seen = {0};
  for (int t = 0; t < NTABLES; t++) {
    const struct table *tb = c->st->tab[t];
    if (gc_base(tb) != (const void *)tb || tb->magic != TABLE_MAGIC) {
      bad("thread %d (%s): table %d at %p is broken", c->tid, when, t, (const void *)tb);
      return;
    }
  }
  for (int p = 0; p < NPLACES; p++) {
    if (chain_check(c, *place(c, p), place_kind(p), p, &seen) < 0) return;
  }
  if (!st_census_same(&seen, &c->live))
    bad("thread %d (%s): %llu objects, expected %llu (id set %s)", c->tid, when, (unsigned long long)seen.count,
        (unsigned long long)c->live.count, st_census_idset(&seen, &c->live));
}

/* ---- Allocation --------------------------------------------------------- */

static ST_NOINLINE struct obj *obj_new(struct ctx *c) {
  uint64_t id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
  uint64_t w = words_of(id);
  struct obj *o = st_xalloc(sizeof *o + w * 8);
  o->magic = OBJ_MAGIC;
  o->id = id;
  o->words = w;
  o->sum = st_mix(o->magic ^ o->id ^ o->words);
  st_fill_words(o->pay, 0, w, id);
  st_census_add(&c->live, id);
  atomic_fetch_add(&g_born, 1);
  return o;
}


static volatile uint64_t g_sink;

static void work(struct ctx *c) {
  uint64_t k = st_below(&c->rng, 100);
  size_t n = k < 70 ? st_range(&c->rng, 64, 4096) : k < 98 ? st_range(&c->rng, 4096, 32768) : 65536;
  g_sink += st_garbage(&c->rng, n, 64 << 10);
}

/* ---- Operations --------------------------------------------------------- */

static int random_place(struct ctx *c, int want_full) {
  for (int tries = 0; tries < 64; tries++) {
    int p = (int)st_below(&c->rng, NPLACES);
    if ((*place(c, p) != NULL) == want_full) return p;
  }
  for (int p = 0; p < NPLACES; p++)
    if ((*place(c, p) != NULL) == want_full) return p;
  return -1;
}

static struct obj *chain_last(struct obj *o) {
  while (o->kid) o = o->kid;
  return o;
}

/* Load the chain at src into a local, clear src, allocate, store at dst. */
static ST_NOINLINE void op_move(struct ctx *c) {
  int src = random_place(c, 1), dst = random_place(c, 0);
  if (src < 0 || dst < 0) return;
  struct obj *o = *place(c, src);
  if (chain_check(c, o, place_kind(src), src, NULL) < 0) return;
  put(c, src, NULL);
  work(c); /* the chain is reachable only from `o` now */
  if (!obj_ok(c, o, "moved object", src)) return;
  put(c, dst, o);
  atomic_fetch_add(&g_moves, 1);
}

/* Swap the pointers of two heap slots (possibly of two tables). */
static ST_NOINLINE void op_swap(struct ctx *c) {
  int a = (int)st_below(&c->rng, NHEAP), b = (int)st_below(&c->rng, NHEAP);
  struct obj **pa = place(c, a), **pb = place(c, b);
  struct obj *x = *pa, *y = *pb;
  if (x && !obj_ok(c, x, "swap source", a)) return;
  if (y && !obj_ok(c, y, "swap source", b)) return;
  HSTORE(c, *pa, y);
  if (st_below(&c->rng, 4) == 0) work(c); /* x only in a local meanwhile */
  HSTORE(c, *pb, x);
}

/* Append the chain at src to the chain at dst (a store into a heap object),
 * and clear src: before the link (the chain only in a local meanwhile) or
 * after it. */
static ST_NOINLINE void op_nest(struct ctx *c) {
  int src = random_place(c, 1), dst = random_place(c, 1);
  if (src < 0 || dst < 0 || src == dst) return;
  struct obj *o = *place(c, src), *head = *place(c, dst);
  int lo = chain_check(c, o, place_kind(src), src, NULL);
  int ld = chain_check(c, head, place_kind(dst), dst, NULL);
  if (lo < 0 || ld < 0 || lo + ld > MAXCHAIN) return;
  struct obj *last = chain_last(head);
  if (st_below(&c->rng, 2)) {
    put(c, src, NULL);
    work(c);
    HSTORE(c, last->kid, o);
  } else {
    HSTORE(c, last->kid, o);
    work(c);
    put(c, src, NULL);
  }
}

/* Rotate the chain at p: its second object becomes the head, the old head
 * goes to the tail (and is only in a local in between). Or take the tail
 * out into an empty place. */
static ST_NOINLINE void op_rotate(struct ctx *c) {
  int p = random_place(c, 1);
  if (p < 0) return;
  struct obj *head = *place(c, p);
  int n = chain_check(c, head, place_kind(p), p, NULL);
  if (n < 2) return;
  if (st_below(&c->rng, 3) == 0) {
    int dst = random_place(c, 0);
    if (dst < 0) return;
    struct obj *prev = head;
    while (prev->kid->kid) prev = prev->kid;
    struct obj *tail = prev->kid;
    HSTORE(c, prev->kid, NULL);
    work(c);
    if (!obj_ok(c, tail, "chain tail", p)) return;
    put(c, dst, tail);
    return;
  }
  struct obj *second = head->kid;
  put(c, p, second);
  HSTORE(c, head->kid, NULL);
  work(c); /* head only in a local */
  if (!obj_ok(c, head, "rotated head", p)) return;
  HSTORE(c, chain_last(second)->kid, head);
}

/* Hold up to NHOLD chains only in a local array across some allocation. */
static ST_NOINLINE void op_hold(struct ctx *c) {
  struct obj *hold[NHOLD];
  int n = (int)st_range(&c->rng, 1, NHOLD);
  for (int i = 0; i < n; i++) {
    hold[i] = NULL;
    int p = random_place(c, 1);
    if (p < 0 || p >= NHEAP + NGLOB) continue; /* not from the local slots */
    struct obj *o = *place(c, p);
    if (chain_check(c, o, place_kind(p), p, NULL) < 0) return;
    hold[i] = o;
    put(c, p, NULL);
  }
  g_sink += st_garbage(&c->rng, 64 << 10, 64 << 10);
  for (int i = 0; i < n; i++) {
    if (!hold[i]) continue;
    if (chain_check(c, hold[i], "held chain", i, NULL) < 0) return;
    int dst = random_place(c, 0);
    if (dst < 0) abort(); /* fewer objects than places: cannot happen */
    put(c, dst, hold[i]);
    hold[i] = NULL;
  }
}

/* Drop the chain at p (verified first) and put a new chain in its place, or
 * add a new chain in an empty place when there are too few objects. */
static ST_NOINLINE void op_replace(struct ctx *c) {
  int p;
  if (c->live.count < TARGET_OBJS) {
    p = random_place(c, 0);
  } else {
    p = random_place(c, 1);
    if (p < 0) return;
    struct obj *o = *place(c, p);
    if (chain_check(c, o, place_kind(p), p, NULL) < 0) return;
    for (; o; o = o->kid) st_census_remove(&c->live, o->id);
    put(c, p, NULL);
  }
  if (p < 0) return;
  int n = (int)st_range(&c->rng, 1, 3);
  struct obj *head = NULL;
  for (int i = 0; i < n; i++) {
    struct obj *o = obj_new(c);
    HSTORE(c, o->kid, head); /* o is new: born black during a mark */
    head = o;
  }
  put(c, p, head);
}

/* Copy table t into a new table and drop the old one. */
static ST_NOINLINE void op_table_copy(struct ctx *c) {
  int t = (int)st_below(&c->rng, NTABLES);
  struct table *old = c->st->tab[t];
  struct table *nt = st_xalloc(sizeof *nt);
  nt->magic = TABLE_MAGIC;
  nt->gen = ++c->table_gen;
  if (c->plain && st_below(&c->rng, 2)) {
    memcpy(nt->slot, old->slot, sizeof nt->slot); /* an unannotated bulk copy */
  } else {
    for (int i = 0; i < TSLOTS; i++) {
      HSTORE(c, nt->slot[i], old->slot[i]);
      if (i == TSLOTS / 2) work(c);
    }
  }
  if (st_below(&c->rng, 2)) {
    /* Clear the old table first: the objects are only in the new one, which
     * itself is only in a local. */
    for (int i = 0; i < TSLOTS; i++) HSTORE(c, old->slot[i], NULL);
    work(c);
  }
  HSTORE(c, c->st->tab[t], nt);
  atomic_fetch_add(&g_tablecopies, 1);
}

static ST_NOINLINE void step(struct ctx *c) {
  uint64_t k = st_below(&c->rng, 1000);
  if (k < 400) op_move(c);
  else if (k < 600) op_swap(c);
  else if (k < 720) op_nest(c);
  else if (k < 840) op_rotate(c);
  else if (k < 880) op_hold(c);
  else if (k < 995) op_replace(c);
  else op_table_copy(c);
  atomic_fetch_add(&g_ops, 1);
}

/* ---- Threads ------------------------------------------------------------ */

static pthread_barrier_t g_phase;

static ST_NOINLINE struct state *state_new(struct ctx *c) {
  struct state *st = st_xalloc(sizeof *st);
  for (int t = 0; t < NTABLES; t++) {
    struct table *tb = st_xalloc(sizeof *tb);
    tb->magic = TABLE_MAGIC;
    HSTORE(c, st->tab[t], tb);
  }
  return st;
}

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  struct obj *loc[NLOC];
  memset(loc, 0, sizeof loc);
  struct ctx c = {0};
  c.tid = tid;
  c.plain = g_mode != GC_MODE_BARRIER && (tid & 1);
  c.rng.s = st_seed() * 31 + (uint64_t)tid * 0x1234567;
  c.loc = loc;
  c.st = state_new(&c);
  while (c.live.count < TARGET_OBJS) op_replace(&c);
  verify_all(&c, "initial");
  long n = 0;
  while (!atomic_load(&g_stop)) {
    step(&c);
    if (++n % 500 == 0) verify_all(&c, "periodic");
  }
  verify_all(&c, "after stop");
  pthread_barrier_wait(&g_phase); /* main collects */
  pthread_barrier_wait(&g_phase);
  verify_all(&c, "after gc_collect");
  if (tid == 0)
    fprintf(stderr, "stress_mutate: thread 0: %ld operations, %llu objects, %s stores\n", n,
            (unsigned long long)c.live.count, c.plain ? "plain" : "GC_STORE");
  return NULL;
}

/* ---- Ballast -------------------------------------------------------------- */

static ST_NOINLINE void ballast_verify(void) {
  if (st_tree_check(g_ballast, g_ballast_sum, BALLAST_NODES, "ballast"))
    bad("ballast tree damaged (details above)");
}

/* ---- The test ---------------------------------------------------------------- */

TEST(pointers_move_between_heap_locals_and_globals_during_marks) {
  g_mode = gc_get_mode();
  fprintf(stderr, "stress_mutate: mode %s\n",
          st_mode_name(g_mode));
  /* A small heap runway: a cycle every ~1-2 MiB of allocation, and the
   * mutators spend much of their time beside a running mark. */
  int old_percent = gc_set_percent(25);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  g_ballast = st_tree_build(0xba11a57, BALLAST_NODES);
  g_ballast_sum = g_ballast->sum;
  uint32_t gc0 = st_num_gc();
  uint32_t want = (uint32_t)(TARGET_CYCLES * st_scale());
  pthread_barrier_init(&g_phase, NULL, NTHREADS + 1);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
  uint32_t cycles = 0;
  int ticks = 0;
  while (!atomic_load(&g_stop)) {
    usleep(50000); /* gc_read_memstats stops the world: not too often */
    cycles = st_num_gc() - gc0;
    double el = st_now() - t0;
    if ((cycles >= want && el >= MIN_SECONDS * st_scale()) || el > limit) break;
    if (++ticks % 20 == 0) ballast_verify();
  }
  atomic_store(&g_stop, 1);
  cycles = st_num_gc() - gc0;
  double secs = st_now() - t0;
  pthread_barrier_wait(&g_phase);
  gc_collect();
  gc_collect();
  pthread_barrier_wait(&g_phase);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  ballast_verify();
  fprintf(stderr,
          "stress_mutate: %u cycles in %.1f s, %ld operations, %ld moves, %ld objects born, %ld table copies, %ld "
          "bad\n",
          cycles, secs, atomic_load(&g_ops), atomic_load(&g_moves), atomic_load(&g_born),
          atomic_load(&g_tablecopies), atomic_load(&g_bad));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK(cycles >= (uint32_t)MIN_CYCLES);
  if (cycles < (uint32_t)MIN_CYCLES) fprintf(stderr, "stress_mutate: only %u cycles, want >= %d\n", cycles, MIN_CYCLES);
  gc_set_percent(old_percent);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_mutate", 150); }

CHECK_MAIN()
