/*
 * test_pool.c - gc_pool_new / gc_pool_get / gc_pool_put (Go's sync.Pool)
 * against <tricolor.h>:
 *
 * - get on an empty pool returns make() (called once per such get), or NULL
 *   when make is NULL; pools are independent;
 * - put then get returns the same object (also to another thread), without
 *   calling make; ten puts give back the same ten objects;
 * - the victim cache: an object put survives one cycle, is gone after two
 *   without a get, survives again when taken and put back; a cycle drops the
 *   previous victims and keeps the newer puts;
 * - pooled objects (and what they reach) are kept alive and intact while
 *   pooled, and are reclaimed once dropped from the pool;
 * - 4 threads get and put while cycles run: an object is never handed out
 *   to two holders at once (an in-use flag flipped with compare-and-swap),
 *   and is intact whenever it is handed out.
 *
 * The cycle-counting tests turn automatic collection off (gc_set_percent(-1))
 * and quiesce with a gc_collect() first, so the only cycles are the ones the
 * test makes.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define PMAGIC 0x504f4f4c4f424a21ull /* "POOLOBJ!" */
#define HIDEKEY 0x5a3cc3a5a5c33c5aull
#define PAYLEN 64
#define CHILDLEN 100

static uintptr_t hide(const void *p) { return (uintptr_t)p ^ HIDEKEY; }

static uint32_t num_gc(void) {
  gc_memstats m;
  gc_read_memstats(&m);
  return m.num_gc;
}

/* ---- pooled objects ---------------------------------------------------------- */

struct pobj {
  uint64_t magic;
  uint64_t self; /* hide(address) */
  uint64_t id;
  uint64_t gen; /* bumped by each holder in the concurrent test */
  atomic_int in_use;
  int owner;
  unsigned char *child; /* noscan, reachable only from here */
  unsigned char pay[PAYLEN];
};

static unsigned pay_seed(const struct pobj *o) { return (unsigned)(o->id * 31u + o->gen); }

static atomic_long next_id;

static struct pobj *new_pobj(void) {
  struct pobj *o = gc_alloc(sizeof *o);
  if (!o) return NULL;
  unsigned char *c = gc_alloc_noscan(CHILDLEN);
  if (!c) return NULL;
  o->magic = PMAGIC;
  o->self = hide(o);
  o->id = (uint64_t)atomic_fetch_add(&next_id, 1) + 1;
  o->gen = 0;
  fill(c, CHILDLEN, (unsigned)o->id + 5u);
  GC_STORE(o->child, c);
  fill(o->pay, PAYLEN, pay_seed(o));
  return o;
}

static int pobj_ok(const struct pobj *o) {
  return o && o->magic == PMAGIC && o->self == hide(o) && verify(o->pay, PAYLEN, pay_seed(o)) &&
         o->child && verify(o->child, CHILDLEN, (unsigned)o->id + 5u);
}

static atomic_long made_a, made_b;
static void *make_a(void) {
  atomic_fetch_add(&made_a, 1);
  return new_pobj();
}
static void *make_b(void) {
  atomic_fetch_add(&made_b, 1);
  return new_pobj();
}

/* Automatic collection off, no cycle in progress. Returns the old percent. */
static int quiesce(void) {
  int old = gc_set_percent(-1);
  gc_collect();
  return old;
}

/* ---- empty pools ------------------------------------------------------------- */

static gc_pool_t *pool_a, *pool_b, *pool_null;

TEST(empty_pool_get_calls_make) {
  int old = quiesce();
  pool_a = gc_pool_new(make_a);
  pool_b = gc_pool_new(make_b);
  pool_null = gc_pool_new(NULL);
  CHECK_OR_RETURN(pool_a && pool_b && pool_null);
  CHECK(pool_a != pool_b && pool_a != pool_null && pool_b != pool_null);
  long m0 = atomic_load(&made_a);
  struct pobj *o1 = gc_pool_get(pool_a);
  CHECK_EQ(atomic_load(&made_a), m0 + 1);
  CHECK(pobj_ok(o1));
  struct pobj *o2 = gc_pool_get(pool_a);
  CHECK_EQ(atomic_load(&made_a), m0 + 2);
  CHECK(pobj_ok(o2));
  CHECK(o1 != o2);
  CHECK(gc_pool_get(pool_null) == NULL);
  CHECK(gc_pool_get(pool_null) == NULL);
  CHECK_EQ(atomic_load(&made_b), 0);
  gc_set_percent(old);
}

TEST(put_then_get_same_object) {
  int old = quiesce();
  long m0 = atomic_load(&made_a);
  struct pobj *o = new_pobj();
  CHECK_OR_RETURN(o != NULL);
  gc_pool_put(pool_a, o);
  CHECK(gc_pool_get(pool_a) == o);
  CHECK_EQ(atomic_load(&made_a), m0);
  /* Taken: the pool is empty again. */
  struct pobj *fresh = gc_pool_get(pool_a);
  CHECK(fresh != o && pobj_ok(fresh));
  CHECK_EQ(atomic_load(&made_a), m0 + 1);
  /* A pool with no make hands back what was put, then NULL. */
  gc_pool_put(pool_null, o);
  CHECK(gc_pool_get(pool_null) == o);
  CHECK(gc_pool_get(pool_null) == NULL);
  CHECK(pobj_ok(o));
  gc_set_percent(old);
}

TEST(ten_puts_give_the_same_ten_back) {
  int old = quiesce();
  struct pobj *objs[10];
  for (int i = 0; i < 10; i++) {
    objs[i] = new_pobj();
    CHECK_OR_RETURN(objs[i] != NULL);
  }
  for (int i = 0; i < 10; i++) gc_pool_put(pool_null, objs[i]);
  int seen[10] = {0}, foreign = 0;
  for (int k = 0; k < 10; k++) {
    struct pobj *g = gc_pool_get(pool_null);
    int found = 0;
    for (int i = 0; i < 10; i++)
      if (g == objs[i]) {
        seen[i]++;
        found = 1;
      }
    if (!found) foreign++;
  }
  CHECK_EQ(foreign, 0);
  for (int i = 0; i < 10; i++) CHECK_EQ(seen[i], 1);
  CHECK(gc_pool_get(pool_null) == NULL);
  gc_set_percent(old);
}

TEST(pools_are_independent) {
  int old = quiesce();
  struct pobj *o = new_pobj();
  CHECK_OR_RETURN(o != NULL);
  long ma = atomic_load(&made_a), mb = atomic_load(&made_b);
  gc_pool_put(pool_a, o);
  struct pobj *from_b = gc_pool_get(pool_b);
  CHECK(from_b != o && pobj_ok(from_b));
  CHECK_EQ(atomic_load(&made_b), mb + 1);
  CHECK(gc_pool_get(pool_null) == NULL);
  CHECK(gc_pool_get(pool_a) == o);
  CHECK_EQ(atomic_load(&made_a), ma);
  gc_set_percent(old);
}

/* ---- another thread ----------------------------------------------------------- */

static struct pobj *xthread_obj;
static struct pobj *xthread_got;
static void *xthread_get(void *arg) {
  (void)arg;
  xthread_got = gc_pool_get(pool_null);
  return NULL;
}
static void *xthread_put(void *arg) {
  (void)arg;
  struct pobj *o = new_pobj();
  xthread_obj = o;
  gc_pool_put(pool_null, o);
  return NULL;
}

TEST(object_put_on_one_thread_got_on_another) {
  int old = quiesce();
  struct pobj *o = new_pobj();
  CHECK_OR_RETURN(o != NULL);
  gc_pool_put(pool_null, o);
  pthread_t th;
  CHECK_OR_RETURN(gc_pthread_create(&th, NULL, xthread_get, NULL) == 0);
  pthread_join(th, NULL);
  CHECK(xthread_got == o);
  CHECK(gc_pool_get(pool_null) == NULL);
  /* And back: put by a thread that has exited, got here. */
  CHECK_OR_RETURN(gc_pthread_create(&th, NULL, xthread_put, NULL) == 0);
  pthread_join(th, NULL);
  CHECK(xthread_obj != NULL);
  CHECK(gc_pool_get(pool_null) == xthread_obj);
  CHECK(pobj_ok(xthread_obj));
  xthread_obj = xthread_got = NULL;
  gc_set_percent(old);
}

/* ---- the victim cache ------------------------------------------------------------ */

TEST(put_object_survives_one_cycle) {
  int old = quiesce();
  long m0 = atomic_load(&made_a);
  struct pobj *o = new_pobj();
  CHECK_OR_RETURN(o != NULL);
  gc_pool_put(pool_a, o);
  uint32_t n0 = num_gc();
  gc_collect();
  uint32_t n1 = num_gc();
  if (n1 - n0 != 1) fprintf(stderr, "  gc_collect made %u cycles\n", n1 - n0);
  CHECK(gc_pool_get(pool_a) == o);
  CHECK_EQ(atomic_load(&made_a), m0);
  CHECK(pobj_ok(o));
  /* Taken and put again: pooled for one more cycle. */
  gc_pool_put(pool_a, o);
  gc_collect();
  CHECK(gc_pool_get(pool_a) == o);
  gc_pool_put(pool_a, o);
  gc_collect();
  CHECK(gc_pool_get(pool_a) == o);
  CHECK_EQ(atomic_load(&made_a), m0);
  gc_set_percent(old);
}

TEST(put_object_gone_after_two_cycles) {
  int old = quiesce();
  long m0 = atomic_load(&made_a);
  struct pobj *o = new_pobj();
  CHECK_OR_RETURN(o != NULL);
  gc_pool_put(pool_a, o);
  gc_collect();
  gc_collect();
  struct pobj *g = gc_pool_get(pool_a);
  CHECK(g != o);
  CHECK(pobj_ok(g));
  CHECK_EQ(atomic_load(&made_a), m0 + 1);
  /* Several objects, and a pool without make. */
  struct pobj *objs[5];
  for (int i = 0; i < 5; i++) {
    objs[i] = new_pobj();
    CHECK_OR_RETURN(objs[i] != NULL);
    gc_pool_put(pool_null, objs[i]);
  }
  gc_collect();
  gc_collect();
  CHECK(gc_pool_get(pool_null) == NULL);
  gc_set_percent(old);
}

TEST(cycle_drops_previous_victims_keeps_newer_puts) {
  int old = quiesce();
  struct pobj *a = new_pobj(), *b = new_pobj();
  CHECK_OR_RETURN(a && b);
  gc_pool_put(pool_null, a);
  gc_collect(); /* a: victim */
  gc_pool_put(pool_null, b);
  gc_collect(); /* a: dropped; b: victim */
  CHECK(gc_pool_get(pool_null) == b);
  CHECK(gc_pool_get(pool_null) == NULL);
  /* A put after a cycle is found along with the victims. */
  gc_pool_put(pool_null, a);
  gc_collect(); /* a: victim */
  gc_pool_put(pool_null, b);
  struct pobj *g1 = gc_pool_get(pool_null), *g2 = gc_pool_get(pool_null);
  CHECK((g1 == a && g2 == b) || (g1 == b && g2 == a));
  CHECK(gc_pool_get(pool_null) == NULL);
  gc_set_percent(old);
}

/* ---- pooled objects are kept alive, dropped ones reclaimed ---------------------- */

#define NKEEP 32
static uintptr_t kept_hidden[NKEEP];

__attribute__((noinline)) static void put_only_refs(void) {
  for (int i = 0; i < NKEEP; i++) {
    struct pobj *o = new_pobj();
    if (!o) abort();
    kept_hidden[i] = hide(o);
    gc_pool_put(pool_null, o);
  }
}

TEST(pooled_objects_kept_alive_and_intact) {
  int old = quiesce();
  put_only_refs();
  clear_stack();
  gc_collect();
  /* Reuse every slot a premature free would have released (pobj: 112-byte
   * class; child: 112). */
  churn(8 * MiB, 128, 3);
  int got = 0, bad = 0, foreign = 0;
  uintptr_t seen[NKEEP] = {0};
  for (int k = 0; k < NKEEP; k++) {
    struct pobj *g = gc_pool_get(pool_null);
    if (!g) break;
    got++;
    if (!pobj_ok(g)) bad++;
    int found = 0;
    for (int i = 0; i < NKEEP; i++)
      if (hide(g) == kept_hidden[i] && !seen[i]) seen[i] = found = 1;
    if (!found) foreign++;
  }
  fprintf(stderr, "  %d of %d pooled objects back after a cycle\n", got, NKEEP);
  CHECK_EQ(got, NKEEP);
  CHECK_EQ(bad, 0);
  CHECK_EQ(foreign, 0);
  CHECK(gc_pool_get(pool_null) == NULL);
  gc_set_percent(old);
}

#define NBIG 16
#define BIGSZ (512 * KiB)
static gc_memstats big_with;

__attribute__((noinline)) static void put_big(gc_pool_t *p) {
  for (int i = 0; i < NBIG; i++) {
    unsigned char *b = gc_alloc(BIGSZ);
    if (!b) abort();
    fill(b, 4096, (unsigned)i);
    gc_pool_put(p, b);
  }
  gc_read_memstats(&big_with);
}

TEST(dropped_objects_reclaimed) {
  int old = quiesce();
  gc_pool_t *p = gc_pool_new(NULL);
  CHECK_OR_RETURN(p != NULL);
  gc_memstats m0, m1, m2;
  gc_read_memstats(&m0);
  put_big(p);
  clear_stack();
  gc_collect(); /* victims: still alive */
  gc_read_memstats(&m1);
  clear_stack();
  gc_collect(); /* dropped */
  clear_stack();
  gc_collect();
  gc_read_memstats(&m2);
  fprintf(stderr, "  heap_alloc: before %.1f, pooled %.1f, after one cycle %.1f, after three %.1f MiB\n",
          m0.heap_alloc / 1048576.0, big_with.heap_alloc / 1048576.0, m1.heap_alloc / 1048576.0,
          m2.heap_alloc / 1048576.0);
  CHECK(big_with.heap_alloc >= m0.heap_alloc + NBIG * BIGSZ);
  /* The first cycle may free some small garbage that m0 counted. */
  CHECK(m1.heap_alloc + BIGSZ / 2 >= m0.heap_alloc + NBIG * BIGSZ);
  CHECK(m2.heap_alloc <= m0.heap_alloc + 2 * BIGSZ);
  CHECK(gc_pool_get(p) == NULL);
  gc_set_percent(old);
}

/* ---- 4 threads, cycles running ---------------------------------------------------- */

#define NT 4
#define MAXHOLD 4
static gc_pool_t *pool_c;
static atomic_long made_c;
static atomic_int conc_stop;
static atomic_long conc_gets, conc_errors, conc_dropped;

static void *make_c(void) {
  atomic_fetch_add(&made_c, 1);
  return new_pobj();
}

static void conc_error(const char *what, struct pobj *o, int t) {
  if (atomic_fetch_add(&conc_errors, 1) < 8)
    fprintf(stderr, "  thread %d: %s: %p (id %" PRIu64 ", owner %d)\n", t, what, (void *)o,
            o ? o->id : 0, o ? o->owner : -1);
}

static void *conc_main(void *arg) {
  int t = (int)(intptr_t)arg;
  uint64_t x = mix((uint64_t)t + 100);
  struct pobj *held[MAXHOLD];
  long gets = 0;
  while (!atomic_load(&conc_stop)) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int n = 1 + (int)(x % MAXHOLD);
    for (int k = 0; k < n; k++) {
      struct pobj *o = gc_pool_get(pool_c);
      held[k] = o;
      gets++;
      if (!o) {
        conc_error("get returned NULL", o, t);
        continue;
      }
      int expect = 0;
      if (!atomic_compare_exchange_strong(&o->in_use, &expect, 1)) {
        conc_error("handed out while in use", o, t);
        held[k] = NULL;
        continue;
      }
      if (!pobj_ok(o)) conc_error("damaged when handed out", o, t);
      /* Make it ours: new contents. */
      o->owner = t;
      o->gen++;
      fill(o->pay, PAYLEN, pay_seed(o));
    }
    if (x % 8 == 0) sched_yield();
    if (x % 16 == 1) churn(16 * KiB, 256, (unsigned)x);
    /* Give back in another order; now and then drop one instead. */
    for (int k = n - 1; k >= 0; k--) {
      struct pobj *o = held[k];
      held[k] = NULL;
      if (!o) continue;
      if (o->owner != t || !pobj_ok(o) || atomic_load(&o->in_use) != 1)
        conc_error("changed while held", o, t);
      atomic_store(&o->in_use, 0);
      if ((x >> 20) % 64 == (uint64_t)k) {
        atomic_fetch_add(&conc_dropped, 1);
        continue;
      }
      gc_pool_put(pool_c, o);
    }
  }
  atomic_fetch_add(&conc_gets, gets);
  clear_stack();
  return NULL;
}

TEST(concurrent_get_put_while_collecting) {
  pool_c = gc_pool_new(make_c);
  CHECK_OR_RETURN(pool_c != NULL);
  pthread_t th[NT];
  for (int t = 0; t < NT; t++)
    CHECK_OR_RETURN(gc_pthread_create(&th[t], NULL, conc_main, (void *)(intptr_t)t) == 0);
  /* At least 2 s and 20 cycles (at most 6 s on a slow or busy machine). */
  uint32_t n0 = num_gc();
  long start = now_ms();
  for (;;) {
    gc_collect();
    usleep(2000);
    long el = now_ms() - start;
    if ((el >= 2000 && num_gc() - n0 >= 20) || el >= 6000) break;
  }
  atomic_store(&conc_stop, 1);
  for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
  uint32_t cycles = num_gc() - n0;
  long gets = atomic_load(&conc_gets), made = atomic_load(&made_c);
  fprintf(stderr, "  %ld gets, %ld made, %ld dropped, %u cycles, %ld errors\n", gets, made,
          atomic_load(&conc_dropped), cycles, atomic_load(&conc_errors));
  CHECK_EQ(atomic_load(&conc_errors), 0);
  CHECK(gets > 10000);
  CHECK(made < gets / 2); /* objects are reused */
  CHECK(cycles >= 20);
  /* What is left in the pool is intact and not in use. */
  int left = 0, bad = 0;
  for (struct pobj *o; (o = gc_pool_get(pool_c)) != NULL && left < 100000; left++) {
    if (atomic_load(&made_c) > made) break; /* empty: make() was called */
    if (!pobj_ok(o) || atomic_load(&o->in_use) != 0) bad++;
  }
  CHECK_EQ(bad, 0);
}

API_MAIN_WITH_WATCHDOG("test_pool", 120)
