/*
 * test_weak.c - weak handles (gc_weak_new / gc_weak_get, Go's weak.Pointer)
 * against <tricolor.h>:
 *
 * - gc_weak_new(NULL) is NULL; the same object gets the same handle (also
 *   across cycles, and when 4 threads ask at once), different objects
 *   different handles;
 * - gc_weak_get returns the object while it is reachable (from a global, the
 *   stack, a heap object, an interior pointer, a gc_add_roots range), and
 *   the handle does not keep it alive: NULL after the gc_collect() that finds
 *   it unreachable, NULL for good (also after its slot holds a new object),
 *   and NULL once the object was released with gc_free;
 * - objects reachable only through other weakly held objects are cleared in
 *   the same cycle as those;
 * - 10000 handles;
 * - one thread creates objects and handles and drops objects while two
 *   threads call gc_weak_get and cycles run: a non-NULL result is always the
 *   handle's own, intact object, and stays intact while it is held.
 *
 * Reclamation is checked with a tolerance for stale stack words (objects are
 * built in noinline functions and the stack is scrubbed first); everything
 * about reachable objects and about handles once cleared is exact.
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

#define WMAGIC 0x5745414b484e444cull /* "WEAKHNDL" */
#define HIDEKEY 0x3c3c5a5aa5a5c3c3ull

static uintptr_t hide(const void *p) { return (uintptr_t)p ^ HIDEKEY; }

/* ---- objects ---------------------------------------------------------------- */

struct wobj {
  uint64_t magic;
  uint64_t self; /* hide(address) */
  uint64_t seq;
  struct wobj *next; /* chains */
  gc_weak_t *w;      /* the object's own handle, when set */
  uint64_t len;
  unsigned char pay[];
};

static struct wobj *new_wobj(uint64_t seq, size_t size, int noscan) {
  if (size < sizeof(struct wobj)) size = sizeof(struct wobj);
  struct wobj *o = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
  if (!o) return NULL;
  o->magic = WMAGIC;
  o->self = hide(o);
  o->seq = seq;
  o->next = NULL;
  o->w = NULL;
  o->len = size - sizeof *o;
  fill(o->pay, o->len, (unsigned)seq);
  return o;
}

static int wobj_ok(const struct wobj *o, uint64_t seq) {
  return o && o->magic == WMAGIC && o->self == hide(o) && o->seq == seq &&
         verify(o->pay, o->len, (unsigned)seq);
}

/* Sizes: small scanned, noscan, tiny, large. */
static struct wobj *new_mixed(uint64_t seq) {
  switch (seq % 5) {
  case 0: return new_wobj(seq, 64, 0);
  case 1: return new_wobj(seq, 100, 1);
  case 2: return new_wobj(seq, 48, 0);
  case 3: return new_wobj(seq, seq % 50 == 3 ? 50000 : 300, 0);
  default: return new_wobj(seq, 2000, 1);
  }
}

/* ---- basics ------------------------------------------------------------------- */

TEST(new_null_is_null) { CHECK(gc_weak_new(NULL) == NULL); }

static struct wobj *same_objs[5];
static gc_weak_t *same_handles[5];

TEST(same_object_same_handle) {
  same_objs[0] = new_wobj(1, 64, 0);
  same_objs[1] = new_wobj(2, 100, 1);
  same_objs[2] = new_wobj(3, 200000, 0);
  same_objs[3] = new_wobj(4, 5000, 1);
  same_objs[4] = gc_alloc(8); /* the smallest class: no header fits */
  for (int i = 0; i < 5; i++) CHECK_OR_RETURN(same_objs[i] != NULL);
  for (int i = 0; i < 5; i++) {
    same_handles[i] = gc_weak_new(same_objs[i]);
    CHECK(same_handles[i] != NULL);
    CHECK(gc_weak_new(same_objs[i]) == same_handles[i]);
    CHECK(gc_weak_get(same_handles[i]) == same_objs[i]);
    for (int k = 0; k < i; k++) CHECK(same_handles[i] != same_handles[k]);
  }
  for (int r = 0; r < 3; r++) {
    churn(2 * MiB, 300, 1u + (unsigned)r);
    gc_collect();
    for (int i = 0; i < 5; i++) {
      CHECK(gc_weak_new(same_objs[i]) == same_handles[i]);
      CHECK(gc_weak_get(same_handles[i]) == same_objs[i]);
    }
  }
  for (int i = 0; i < 4; i++) CHECK(wobj_ok(same_objs[i], (uint64_t)i + 1));
  for (int i = 0; i < 5; i++) {
    same_objs[i] = NULL;
    same_handles[i] = NULL;
  }
}

/* ---- reachable: get returns the object ---------------------------------------- */

static struct wobj *reach_global;
static struct wobj **reach_holder;
static char *reach_interior;
static void **reach_rootblock;
static gc_weak_t *reach_w[8];

__attribute__((noinline)) static struct wobj *make_reach(uint64_t seq, size_t size) {
  struct wobj *o = new_wobj(seq, size, 0);
  if (!o) abort();
  gc_weak_t *w = gc_weak_new(o);
  if (!w) abort();
  GC_STORE(o->w, w); /* the handle reachable from its own object */
  reach_w[seq] = w;
  return o;
}

__attribute__((noinline)) static int reach_check(struct wobj *on_stack) {
  int bad = 0;
  struct wobj *expect[6] = {on_stack, reach_global, reach_holder[1],
                            (struct wobj *)gc_base(reach_interior), reach_rootblock[3],
                            reach_holder[2]};
  for (int i = 0; i < 6; i++) {
    struct wobj *o = expect[i];
    if (!wobj_ok(o, (uint64_t)i) || gc_weak_get(reach_w[i]) != o || gc_weak_get(o->w) != o ||
        gc_weak_new(o) != reach_w[i]) {
      fprintf(stderr, "  reachable object %d: %p, get %p\n", i, (void *)o,
              gc_weak_get(reach_w[i]));
      bad++;
    }
  }
  return bad;
}

TEST(get_returns_reachable_object) {
  struct wobj *volatile on_stack = make_reach(0, 64);
  reach_global = make_reach(1, 128);
  reach_holder = gc_alloc(4 * sizeof(void *));
  CHECK_OR_RETURN(reach_holder != NULL);
  GC_STORE(reach_holder[1], make_reach(2, 48));
  reach_interior = (char *)make_reach(3, 100000) + 5000;
  reach_rootblock = malloc(8 * sizeof(void *));
  CHECK_OR_RETURN(reach_rootblock != NULL);
  memset(reach_rootblock, 0, 8 * sizeof(void *));
  gc_add_roots(reach_rootblock, reach_rootblock + 8);
  reach_rootblock[3] = make_reach(4, 640);
  GC_STORE(reach_holder[2], make_reach(5, 3000));
  CHECK_EQ(reach_check(on_stack), 0);
  for (int r = 0; r < 4; r++) {
    churn(4 * MiB, 3000, 10u + (unsigned)r);
    clear_stack();
    gc_collect();
    CHECK_EQ(reach_check(on_stack), 0);
  }
  gc_remove_roots(reach_rootblock, reach_rootblock + 8);
  free(reach_rootblock);
  reach_rootblock = NULL;
  reach_global = NULL;
  reach_holder = NULL;
  reach_interior = NULL;
  on_stack = NULL;
  for (int i = 0; i < 8; i++) reach_w[i] = NULL;
}

/* ---- unreachable: cleared --------------------------------------------------------- */

#define NDROP 100
static gc_weak_t *drop_w[NDROP];
static uintptr_t drop_addr[NDROP]; /* hidden */
static size_t drop_size[NDROP];

__attribute__((noinline)) static void make_dropped(void) {
  for (int i = 0; i < NDROP; i++) {
    struct wobj *o = new_mixed((uint64_t)i);
    if (!o) abort();
    drop_w[i] = gc_weak_new(o);
    if (!drop_w[i]) abort();
    if (i % 2) GC_STORE(o->w, drop_w[i]); /* the handle also in its object */
    drop_addr[i] = hide(o);
    drop_size[i] = gc_usable_size(o);
  }
}

/* Counts handles that return NULL; checks the others return their object. */
__attribute__((noinline)) static int count_cleared(gc_weak_t **ws, int n, int *wrong) {
  int c = 0;
  for (int i = 0; i < n; i++) {
    struct wobj *o = gc_weak_get(ws[i]);
    if (!o) c++;
    else if (!wobj_ok(o, (uint64_t)i)) (*wrong)++;
  }
  return c;
}

static int was_null[NDROP];

TEST(cleared_when_unreachable) {
  make_dropped();
  int wrong = 0;
  CHECK_EQ(count_cleared(drop_w, NDROP, &wrong), 0);
  clear_stack();
  gc_collect();
  int c1 = count_cleared(drop_w, NDROP, &wrong);
  clear_stack();
  gc_collect();
  clear_stack();
  gc_collect();
  for (int i = 0; i < NDROP; i++) was_null[i] = gc_weak_get(drop_w[i]) == NULL;
  int c3 = count_cleared(drop_w, NDROP, &wrong);
  fprintf(stderr, "  cleared after one cycle: %d of %d, after three: %d\n", c1, NDROP, c3);
  CHECK(c1 >= NDROP * 9 / 10);
  CHECK(c3 >= NDROP * 9 / 10);
  CHECK_EQ(wrong, 0);
}

/* New objects in the freed slots: the old handles stay NULL, and the new
 * objects get new handles. */
static struct wobj **reuse_keep;
#define NREUSE 6000

__attribute__((noinline)) static void reuse_and_check(int *still_null_bad, int *same_handle,
                                                      int *reused) {
  reuse_keep = gc_alloc(NREUSE * sizeof(void *));
  if (!reuse_keep) abort();
  for (int k = 0; k < NREUSE; k++) {
    int i = k % NDROP;
    struct wobj *o = gc_alloc(drop_size[i]);
    if (!o) abort();
    memset(o, 0x77, drop_size[i] < 64 ? drop_size[i] : 64);
    GC_STORE(reuse_keep[k], o);
    for (int j = 0; j < NDROP; j++) {
      if (!was_null[j] || hide(o) != drop_addr[j]) continue;
      (*reused)++;
      gc_weak_t *nw = gc_weak_new(o);
      if (nw == drop_w[j]) (*same_handle)++;
      if (gc_weak_get(nw) != o) (*same_handle)++;
    }
  }
  for (int j = 0; j < NDROP; j++)
    if (was_null[j] && gc_weak_get(drop_w[j]) != NULL) (*still_null_bad)++;
}

TEST(cleared_handle_stays_null_after_slot_reuse) {
  int bad = 0, same = 0, reused = 0;
  reuse_and_check(&bad, &same, &reused);
  gc_collect();
  for (int j = 0; j < NDROP; j++)
    if (was_null[j] && gc_weak_get(drop_w[j]) != NULL) bad++;
  fprintf(stderr, "  %d freed slots reused by new objects\n", reused);
  CHECK_EQ(bad, 0);
  CHECK_EQ(same, 0);
  reuse_keep = NULL;
  for (int i = 0; i < NDROP; i++) drop_w[i] = NULL;
}

/* ---- gc_free -------------------------------------------------------------------- */

static gc_weak_t *freed_w[4];

__attribute__((noinline)) static void make_and_free(int *immediate_bad) {
  size_t sizes[4] = {64, 700, 100000, 3 * MiB};
  for (int i = 0; i < 4; i++) {
    struct wobj *o = new_wobj((uint64_t)i, sizes[i], i == 1);
    if (!o) abort();
    freed_w[i] = gc_weak_new(o);
    if (gc_weak_get(freed_w[i]) != o) (*immediate_bad)++;
    gc_free(o);
    /* The object is gone: the handle must not hand it out any more. */
    if (gc_weak_get(freed_w[i]) != NULL) {
      fprintf(stderr, "  size %zu: gc_weak_get after gc_free returned the freed object\n",
              sizes[i]);
      (*immediate_bad)++;
    }
  }
}

static void *refill_keep[4 * 200];
__attribute__((noinline)) static void refill_sizes(void) {
  size_t sizes[4] = {64, 700, 100000, 3 * MiB};
  void **keep = refill_keep;
  for (int r = 0; r < 200; r++)
    for (int i = 0; i < 4; i++) {
      if (i >= 2 && r >= 4) continue;
      keep[4 * r + i] = new_wobj(999, sizes[i], 0);
    }
  for (int i = 0; i < 4 * 200; i++) keep[i] = NULL;
}

TEST(handle_of_freed_object_is_null) {
  int immediate_bad = 0;
  make_and_free(&immediate_bad);
  CHECK_EQ(immediate_bad, 0);
  gc_collect();
  refill_sizes();
  int bad = 0;
  for (int i = 0; i < 4; i++) bad += gc_weak_get(freed_w[i]) != NULL;
  gc_collect();
  for (int i = 0; i < 4; i++) bad += gc_weak_get(freed_w[i]) != NULL;
  CHECK_EQ(bad, 0);
  for (int i = 0; i < 4; i++) freed_w[i] = NULL;
}

/* ---- chains: cleared together ------------------------------------------------------ */

#define NCH 100
static gc_weak_t *ch_w[NCH][3];
static struct wobj *ch_kept[NCH]; /* the heads of the even chains stay reachable */

__attribute__((noinline)) static void make_chains(void) {
  for (int i = 0; i < NCH; i++) {
    struct wobj *a = new_wobj((uint64_t)(3 * i), 64, 0);
    struct wobj *b = new_wobj((uint64_t)(3 * i + 1), 200, 0);
    struct wobj *c = new_wobj((uint64_t)(3 * i + 2), i % 10 == 0 ? 40000 : 96, 0);
    if (!a || !b || !c) abort();
    GC_STORE(a->next, b);
    GC_STORE(b->next, c);
    ch_w[i][0] = gc_weak_new(a);
    ch_w[i][1] = gc_weak_new(b);
    ch_w[i][2] = gc_weak_new(c);
    /* c also holds a's handle: weak references do not keep a alive. */
    GC_STORE(c->w, ch_w[i][0]);
    if (i % 2 == 0) ch_kept[i] = a;
  }
}

/* For each chain: 3 = all cleared, 0 = none. Counts inconsistencies: a
 * live object whose strongly reachable successor was cleared. */
__attribute__((noinline)) static void chain_state(int *all_cleared, int *inconsistent,
                                                  int *kept_bad) {
  for (int i = 0; i < NCH; i++) {
    struct wobj *a = gc_weak_get(ch_w[i][0]);
    struct wobj *b = gc_weak_get(ch_w[i][1]);
    struct wobj *c = gc_weak_get(ch_w[i][2]);
    if (i % 2 == 0) {
      if (a != ch_kept[i] || !a || a->next != b || !b || b->next != c || !c ||
          !wobj_ok(a, (uint64_t)(3 * i)) || !wobj_ok(b, (uint64_t)(3 * i + 1)) ||
          !wobj_ok(c, (uint64_t)(3 * i + 2)) || c->w != ch_w[i][0])
        (*kept_bad)++;
      continue;
    }
    if (!a && !b && !c) (*all_cleared)++;
    if ((a && (!b || a->next != b)) || (b && (!c || b->next != c))) (*inconsistent)++;
    if ((a && !wobj_ok(a, (uint64_t)(3 * i))) || (b && !wobj_ok(b, (uint64_t)(3 * i + 1))) ||
        (c && !wobj_ok(c, (uint64_t)(3 * i + 2))))
      (*inconsistent)++;
  }
}

TEST(reachable_only_through_weak_objects_cleared_together) {
  make_chains();
  int cleared = 0, inconsistent = 0, kept_bad = 0;
  chain_state(&cleared, &inconsistent, &kept_bad);
  CHECK_EQ(cleared, 0);
  CHECK_EQ(inconsistent, 0);
  CHECK_EQ(kept_bad, 0);
  for (int r = 0; r < 3; r++) {
    clear_stack();
    gc_collect();
    cleared = inconsistent = kept_bad = 0;
    chain_state(&cleared, &inconsistent, &kept_bad);
    fprintf(stderr, "  cycle %d: %d of %d dropped chains cleared\n", r + 1, cleared, NCH / 2);
    CHECK(cleared >= NCH / 2 * 9 / 10);
    CHECK_EQ(inconsistent, 0);
    CHECK_EQ(kept_bad, 0);
  }
  /* Dropping the kept heads clears those chains too. */
  for (int i = 0; i < NCH; i++) ch_kept[i] = NULL;
  clear_stack();
  gc_collect();
  int now_cleared = 0;
  for (int i = 0; i < NCH; i += 2)
    now_cleared += !gc_weak_get(ch_w[i][0]) && !gc_weak_get(ch_w[i][1]) && !gc_weak_get(ch_w[i][2]);
  CHECK(now_cleared >= NCH / 2 * 9 / 10);
  for (int i = 0; i < NCH; i++) ch_w[i][0] = ch_w[i][1] = ch_w[i][2] = NULL;
}

/* ---- 10000 handles ------------------------------------------------------------------ */

#define NMANY 10000
static gc_weak_t **many_w;    /* gc_alloc'd */
static struct wobj **many_keep; /* every third object */

__attribute__((noinline)) static void make_many(void) {
  many_w = gc_alloc(NMANY * sizeof *many_w);
  many_keep = gc_alloc(NMANY * sizeof *many_keep);
  if (!many_w || !many_keep) abort();
  for (int i = 0; i < NMANY; i++) {
    struct wobj *o = new_mixed((uint64_t)i);
    if (!o) abort();
    GC_STORE(many_w[i], gc_weak_new(o));
    if (!many_w[i]) abort();
    if (i % 3 == 0) GC_STORE(many_keep[i], o);
  }
}

__attribute__((noinline)) static void many_state(int *kept_bad, int *dropped_cleared,
                                                 int *dropped_wrong, int *distinct_bad) {
  for (int i = 0; i < NMANY; i++) {
    struct wobj *o = gc_weak_get(many_w[i]);
    if (i % 3 == 0) {
      if (o != many_keep[i] || !wobj_ok(o, (uint64_t)i)) (*kept_bad)++;
    } else if (!o) {
      (*dropped_cleared)++;
    } else if (!wobj_ok(o, (uint64_t)i)) {
      (*dropped_wrong)++;
    }
    if (i && many_w[i] == many_w[i - 1]) (*distinct_bad)++;
  }
}

TEST(ten_thousand_handles) {
  long t0 = now_ms();
  make_many();
  int dropped = NMANY - (NMANY + 2) / 3;
  int kept_bad = 0, cleared = 0, wrong = 0, distinct_bad = 0;
  many_state(&kept_bad, &cleared, &wrong, &distinct_bad);
  CHECK_EQ(kept_bad, 0);
  CHECK_EQ(distinct_bad, 0);
  clear_stack();
  gc_collect();
  kept_bad = cleared = wrong = distinct_bad = 0;
  many_state(&kept_bad, &cleared, &wrong, &distinct_bad);
  fprintf(stderr, "  %d of %d dropped objects cleared after one cycle (%ld ms)\n", cleared,
          dropped, now_ms() - t0);
  CHECK_EQ(kept_bad, 0);
  CHECK_EQ(wrong, 0);
  CHECK(cleared >= dropped - 10);
  /* Drop the kept third. */
  for (int i = 0; i < NMANY; i += 3) GC_STORE(many_keep[i], NULL);
  clear_stack();
  gc_collect();
  int all = 0;
  for (int i = 0; i < NMANY; i++) all += gc_weak_get(many_w[i]) == NULL;
  fprintf(stderr, "  %d of %d cleared after dropping all\n", all, NMANY);
  CHECK(all >= NMANY - 10);
  many_w = NULL;
  many_keep = NULL;
}

/* ---- 4 threads ask for the handles of the same objects ------------------------------ */

#define NSHARED 2000
#define NASK 4
static struct wobj **shared_objs;
static gc_weak_t **asked[NASK];
static atomic_int ask_go, ask_done;

static void *ask_main(void *arg) {
  int t = (int)(intptr_t)arg;
  gc_weak_t **mine = gc_alloc(NSHARED * sizeof *mine);
  if (!mine) abort();
  asked[t] = mine;
  while (!atomic_load(&ask_go)) sched_yield();
  /* Half of the threads walk forwards, half backwards. */
  for (int k = 0; k < NSHARED; k++) {
    int i = t % 2 ? NSHARED - 1 - k : k;
    GC_STORE(mine[i], gc_weak_new(shared_objs[i]));
    if (k % 256 == 0) churn(32 * KiB, 128, (unsigned)k);
  }
  atomic_fetch_add(&ask_done, 1);
  return NULL;
}

TEST(concurrent_new_gives_one_handle) {
  shared_objs = gc_alloc(NSHARED * sizeof *shared_objs);
  CHECK_OR_RETURN(shared_objs != NULL);
  for (int i = 0; i < NSHARED; i++) {
    GC_STORE(shared_objs[i], new_mixed((uint64_t)i));
    CHECK_OR_RETURN(shared_objs[i] != NULL);
  }
  pthread_t th[NASK];
  for (int t = 0; t < NASK; t++)
    CHECK_OR_RETURN(gc_pthread_create(&th[t], NULL, ask_main, (void *)(intptr_t)t) == 0);
  atomic_store(&ask_go, 1);
  long end = now_ms() + 20000;
  while (atomic_load(&ask_done) < NASK && now_ms() < end) gc_collect();
  for (int t = 0; t < NASK; t++) pthread_join(th[t], NULL);
  int differ = 0, wrong = 0;
  for (int i = 0; i < NSHARED; i++) {
    for (int t = 1; t < NASK; t++) differ += asked[t][i] != asked[0][i];
    wrong += asked[0][i] == NULL || gc_weak_get(asked[0][i]) != shared_objs[i] ||
             gc_weak_new(shared_objs[i]) != asked[0][i];
  }
  CHECK_EQ(differ, 0);
  CHECK_EQ(wrong, 0);
  shared_objs = NULL;
  for (int t = 0; t < NASK; t++) asked[t] = NULL;
}

/* ---- get racing with the producer and the cycles -------------------------------------- */

#define RING 512
#define NSTRONG 64
struct entry {
  gc_weak_t *w;
  uint64_t seq;
};
static _Atomic(struct entry *) ring[RING];
static _Atomic(struct wobj *) strong[NSTRONG];
static atomic_int race_stop;
static atomic_long race_hits, race_nulls, race_errors, race_produced;

static size_t race_size(uint64_t seq) {
  uint64_t h = mix(seq);
  if (h % 1000 == 0) return 40000;
  if (h % 8 == 0) return 2000;
  return 48 + h % 200;
}

static void *producer_main(void *arg) {
  (void)arg;
  uint64_t seq = 1;
  while (!atomic_load(&race_stop)) {
    struct wobj *o = new_wobj(seq, race_size(seq), 0);
    if (!o) abort();
    gc_weak_t *w = gc_weak_new(o);
    if (!w || gc_weak_new(o) != w || gc_weak_get(w) != o) atomic_fetch_add(&race_errors, 1);
    GC_STORE(o->w, w);
    struct entry *e = gc_alloc(sizeof *e);
    if (!e) abort();
    GC_STORE(e->w, w);
    e->seq = seq;
    atomic_store(&ring[seq % RING], e);
    if (mix(seq ^ 0xabc) % 4 == 0) atomic_store(&strong[(seq / 4) % NSTRONG], o);
    if (seq % 64 == 0) churn(32 * KiB, 256, (unsigned)seq);
    seq++;
  }
  atomic_store(&race_produced, (long)seq - 1);
  clear_stack();
  return NULL;
}

#define HOLD 8
static void *consumer_main(void *arg) {
  uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(uintptr_t)arg + 1;
  /* The last HOLD objects gotten, held on this stack and re-verified. */
  struct wobj *held[HOLD] = {0};
  uint64_t held_seq[HOLD] = {0};
  long hits = 0, nulls = 0, errors = 0;
  for (unsigned it = 0; !atomic_load(&race_stop); it++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    struct entry *e = atomic_load(&ring[x % RING]);
    if (!e) continue;
    gc_weak_t *w = e->w;
    uint64_t seq = e->seq;
    struct wobj *o = gc_weak_get(w);
    if (!o) {
      nulls++;
    } else {
      hits++;
      if (!wobj_ok(o, seq) || o->w != w) {
        if (errors < 5)
          fprintf(stderr, "  consumer: handle %p seq %" PRIu64 " gave %p (magic %#" PRIx64
                  ", seq %" PRIu64 ")\n", (void *)w, seq, (void *)o, o->magic, o->seq);
        errors++;
      }
      held[it % HOLD] = o;
      held_seq[it % HOLD] = seq;
    }
    if (it % 64 == 0)
      for (int k = 0; k < HOLD; k++)
        if (held[k] && !wobj_ok(held[k], held_seq[k])) {
          if (errors < 5)
            fprintf(stderr, "  consumer: held object %p (seq %" PRIu64 ") damaged\n",
                    (void *)held[k], held_seq[k]);
          errors++;
          held[k] = NULL;
        }
  }
  atomic_fetch_add(&race_hits, hits);
  atomic_fetch_add(&race_nulls, nulls);
  atomic_fetch_add(&race_errors, errors);
  return NULL;
}

__attribute__((noinline)) static void race_final_state(int *strong_bad, int *ring_live,
                                                       int *ring_wrong) {
  for (int i = 0; i < NSTRONG; i++) {
    struct wobj *o = atomic_load(&strong[i]);
    if (o && (!wobj_ok(o, o->seq) || gc_weak_get(o->w) != o || gc_weak_new(o) != o->w))
      (*strong_bad)++;
  }
  for (int i = 0; i < RING; i++) {
    struct entry *e = atomic_load(&ring[i]);
    if (!e) continue;
    struct wobj *o = gc_weak_get(e->w);
    if (!o) continue;
    if (!wobj_ok(o, e->seq)) {
      (*ring_wrong)++;
      continue;
    }
    int is_strong = 0;
    for (int k = 0; k < NSTRONG; k++) is_strong |= atomic_load(&strong[k]) == o;
    if (!is_strong) (*ring_live)++;
  }
}

TEST(get_races_with_drops_and_cycles) {
  pthread_t prod, cons[2];
  CHECK_OR_RETURN(gc_pthread_create(&prod, NULL, producer_main, NULL) == 0);
  for (int i = 0; i < 2; i++)
    CHECK_OR_RETURN(gc_pthread_create(&cons[i], NULL, consumer_main, (void *)(intptr_t)(i + 1)) == 0);
  gc_memstats m0, m1;
  gc_read_memstats(&m0);
  /* At least 2 s and 20 cycles (at most 6 s on a slow or busy machine). */
  long start = now_ms();
  int forced = 0;
  for (;;) {
    gc_collect();
    forced++;
    usleep(3000);
    gc_read_memstats(&m1);
    long el = now_ms() - start;
    if ((el >= 2000 && m1.num_gc - m0.num_gc >= 20) || el >= 6000) break;
  }
  atomic_store(&race_stop, 1);
  pthread_join(prod, NULL);
  for (int i = 0; i < 2; i++) pthread_join(cons[i], NULL);
  gc_read_memstats(&m1);
  fprintf(stderr, "  %ld objects, %u cycles (%d forced); gets: %ld objects, %ld NULL, %ld bad\n",
          atomic_load(&race_produced), m1.num_gc - m0.num_gc, forced, atomic_load(&race_hits),
          atomic_load(&race_nulls), atomic_load(&race_errors));
  CHECK_EQ(atomic_load(&race_errors), 0);
  CHECK(atomic_load(&race_hits) > 1000);
  CHECK(m1.num_gc - m0.num_gc >= 20);
  /* Quiet now: strongly held objects are found through their handles, the
   * others are cleared. */
  clear_stack();
  gc_collect();
  int strong_bad = 0, ring_live = 0, ring_wrong = 0;
  race_final_state(&strong_bad, &ring_live, &ring_wrong);
  fprintf(stderr, "  after the race: %d of %d ring entries not strongly held still live\n",
          ring_live, RING);
  CHECK_EQ(strong_bad, 0);
  CHECK_EQ(ring_wrong, 0);
  CHECK(ring_live <= RING / 20);
  for (int i = 0; i < RING; i++) atomic_store(&ring[i], NULL);
  for (int i = 0; i < NSTRONG; i++) atomic_store(&strong[i], NULL);
}

API_MAIN_WITH_WATCHDOG("test_weak", 120)
