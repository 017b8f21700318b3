/*
 * bdw_finalize.c - bdwgc's finalizers and disappearing links through
 * libgc.so.1 from tricolor: the three ordering kinds, old fn/cd out-params,
 * unregistering, on-demand finalization with a notifier, short and long
 * links. Every check also holds on the real bdwgc 8.2 (run the binary with
 * LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu).
 */
#define GC_THREADS
#include "bdw_util.h"

#define PAIRS 200

struct node {
  struct node *next;
  int id;
};

static int order[4 * PAIRS]; /* finalization sequence number per id */
static int seq;
static int finalized;

static void fin(void *obj, void *cd) {
  struct node *n = obj;
  CHECK(cd == (void *)(long)(n->id + 1000));
  order[n->id] = ++seq;
  finalized++;
}

static void reset(void) {
  memset(order, 0, sizeof order);
  seq = finalized = 0;
}

static struct node *make(int id, GC_finalization_proc f, int kind) {
  struct node *n = GC_MALLOC(sizeof *n);
  n->id = id;
  void *cd = (void *)(long)(id + 1000);
  if (kind == 0) GC_REGISTER_FINALIZER(n, f, cd, NULL, NULL);
  else if (kind == 1) GC_REGISTER_FINALIZER_IGNORE_SELF(n, f, cd, NULL, NULL);
  else GC_REGISTER_FINALIZER_NO_ORDER(n, f, cd, NULL, NULL);
  return n;
}

/* Pairs a -> b, both with finalizers of kind: ids 2i, 2i+1. */
static __attribute__((noinline)) void make_chains(int kind) {
  for (int i = 0; i < PAIRS; i++) {
    struct node *a = make(2 * i, fin, kind), *b = make(2 * i + 1, fin, kind);
    a->next = b;
  }
}

TEST(ordered_chain_finalizes_head_first) {
  reset();
  make_chains(0);
  bdw_collect(1);
  int heads = 0, tails = 0;
  for (int i = 0; i < PAIRS; i++) {
    heads += order[2 * i] != 0;
    tails += order[2 * i + 1] != 0;
  }
  CHECK(heads >= PAIRS * 9 / 10);
  CHECK_EQ(tails, 0); /* b is reachable from finalizable a */
  bdw_collect(2);
  int done = 0;
  for (int i = 0; i < PAIRS; i++) {
    if (order[2 * i + 1]) {
      CHECK(order[2 * i] != 0 && order[2 * i] < order[2 * i + 1]);
      done++;
    }
  }
  CHECK(done >= PAIRS * 8 / 10);
}

/* Objects pointing to themselves: ids 0..PAIRS-1. */
static __attribute__((noinline)) void make_selfs(int kind) {
  for (int i = 0; i < PAIRS; i++) {
    struct node *n = make(i, fin, kind);
    n->next = n;
  }
}

TEST(self_reference_blocks_ordered_only) {
  reset();
  make_selfs(0);
  bdw_collect(3);
  CHECK_EQ(finalized, 0);
  reset();
  make_selfs(1);
  bdw_collect(2);
  CHECK(finalized >= PAIRS * 9 / 10);
}

/* Two-object cycles a <-> b. */
static __attribute__((noinline)) void make_cycles(int kind) {
  for (int i = 0; i < PAIRS; i++) {
    struct node *a = make(2 * i, fin, kind), *b = make(2 * i + 1, fin, kind);
    a->next = b;
    b->next = a;
  }
}

TEST(cycles_finalized_only_without_order) {
  reset();
  make_cycles(0);
  bdw_collect(3);
  CHECK_EQ(finalized, 0);
  reset();
  make_cycles(2);
  bdw_collect(2);
  CHECK(finalized >= 2 * PAIRS * 9 / 10);
}

static void other(void *obj, void *cd) { (void)obj, (void)cd; }
static int unreg_ran;
static void fin_unreg(void *obj, void *cd) { (void)obj, (void)cd, unreg_ran++; }

static __attribute__((noinline)) void register_and_unregister(void) {
  for (int i = 0; i < PAIRS; i++) {
    struct node *n = make(i, fin_unreg, 0);
    GC_finalization_proc ofn = NULL;
    void *ocd = NULL;
    GC_REGISTER_FINALIZER(n, other, (void *)7, &ofn, &ocd);
    CHECK(ofn == fin_unreg && ocd == (void *)(long)(i + 1000));
    GC_REGISTER_FINALIZER(n, 0, 0, &ofn, &ocd);
    CHECK(ofn == other && ocd == (void *)7);
    GC_REGISTER_FINALIZER(n, 0, 0, &ofn, &ocd);
    CHECK(ofn == NULL && ocd == NULL);
  }
}

TEST(old_values_and_unregister) {
  reset();
  register_and_unregister();
  bdw_collect(2);
  CHECK_EQ(unreg_ran, 0);
  /* Outside the heap: ignored, as bdwgc does. */
  static long not_heap;
  GC_finalization_proc ofn = fin;
  void *ocd = &ofn;
  GC_REGISTER_FINALIZER(&not_heap, fin, 0, &ofn, &ocd);
  CHECK(ofn == NULL && ocd == NULL);
}

static int notified;
static void notifier(void) { notified++; }

static __attribute__((noinline)) void make_plain(int n) {
  for (int i = 0; i < n; i++) (void)make(i, fin, 0);
}

TEST(finalize_on_demand_with_notifier) {
  reset();
  GC_set_finalize_on_demand(1);
  GC_set_finalizer_notifier(notifier);
  CHECK(GC_get_finalizer_notifier() == notifier);
  make_plain(PAIRS);
  bdw_wipe_stack();
  GC_gcollect();
  (void)GC_MALLOC(16); /* an allocation must not run them */
  CHECK_EQ(finalized, 0);
  CHECK(notified >= 1);
  CHECK(GC_should_invoke_finalizers());
  int ran = GC_invoke_finalizers();
  CHECK(ran >= PAIRS * 9 / 10);
  CHECK_EQ(finalized, ran);
  GC_set_finalize_on_demand(0);
  GC_set_finalizer_notifier(0);
}

/* Short and long links to objects with a finalizer. */
static void *shortl[PAIRS], *longl[PAIRS];

static __attribute__((noinline)) void make_links(void) {
  for (int i = 0; i < PAIRS; i++) {
    struct node *n = make(i, fin, 0);
    shortl[i] = longl[i] = (void *)GC_HIDE_POINTER(n);
    CHECK_EQ(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&shortl[i], n), GC_SUCCESS);
    CHECK_EQ(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&shortl[i], n), GC_DUPLICATE);
    CHECK_EQ(GC_REGISTER_LONG_LINK(&longl[i], n), GC_SUCCESS);
  }
}

TEST(short_links_clear_before_finalization_long_after) {
  reset();
  make_links();
  bdw_wipe_stack();
  GC_gcollect(); /* queues and runs the finalizers */
  int s = 0, l = 0;
  for (int i = 0; i < PAIRS; i++) {
    if (order[i]) CHECK(shortl[i] == NULL); /* cleared before finalization */
    if (longl[i] == NULL) CHECK(order[i] != 0); /* never before it */
    s += shortl[i] == NULL;
    l += longl[i] == NULL;
  }
  CHECK(s >= PAIRS * 9 / 10);
  /* tricolor: the cycle that queues a finalizer keeps its object for it. */
  if (!getenv("BDW_REAL_LIBGC")) CHECK_EQ(l, 0);
  bdw_collect(2);
  l = 0;
  for (int i = 0; i < PAIRS; i++) l += longl[i] == NULL;
  CHECK(l >= PAIRS * 9 / 10);
  for (int i = 0; i < PAIRS; i++) GC_unregister_long_link(&longl[i]);
}

TEST(unregister_link) {
  static void *link;
  void *o = GC_MALLOC(8);
  link = (void *)GC_HIDE_POINTER(o);
  CHECK_EQ(GC_general_register_disappearing_link(&link, o), GC_SUCCESS);
  CHECK_EQ(GC_unregister_disappearing_link(&link), 1);
  CHECK_EQ(GC_unregister_disappearing_link(&link), 0);
  o = NULL;
  bdw_collect(2);
  CHECK(link != NULL); /* no longer registered: never cleared */
}

BDW_MAIN()
