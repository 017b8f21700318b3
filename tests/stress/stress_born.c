/*
 * stress_born.c - objects born during marking: threads allocate linked
 * structures at a high rate while collection cycles run, link new objects
 * into old ones and old ones into new ones, drop and re-create them.
 *
 * Each of NTHREADS threads owns a forest: NROOTS root slots in a heap table
 * (reachable only from a local of the thread), each holding a tree of
 * checksummed nodes. A node has nk kid slots (0 .. 8, or 4200 .. 6000 for a
 * large node of 34 .. 48 KiB that is mostly empty) and a payload of 0 .. 64
 * words; its checksum covers magic, id, nk, size and the payload pattern
 * (derived from the id), not the kids, which move. Every node is in exactly
 * one place; a libc-memory shadow keeps the count, xor and sum of the ids of
 * the forest. A thread repeatedly:
 *   - wraps old trees in a new node: a new node takes up to nk whole trees
 *     from root slots (old into new), and goes into a root slot; the old
 *     slots are cleared before the links (the trees only in locals and in the
 *     new node meanwhile) or after them;
 *   - grows old trees with new ones: a new chain or small tree (1 .. 6 nodes)
 *     is linked into an empty kid slot of an old node found by a random walk
 *     (new into old), sometimes filled in after it was linked;
 *   - detaches a subtree from inside a tree into a local, allocates, and
 *     puts it into an empty root slot;
 *   - builds a large node (born, possibly during a mark, holding pointers to
 *     old trees and to new nodes at random slots) over several old trees;
 *   - drops whole trees (verified first) and builds new ones;
 *   - allocates garbage;
 * and verifies every node it walks through, plus the whole forest against the
 * shadow every few hundred operations. Every heap pointer store goes through
 * GC_STORE, so the test is correct in every mode.
 *
 * Tree heights are bounded by a per-slot bound kept in the shadow (a wrap
 * only takes trees whose bound is below MAXH), so walks never go deep.
 * gc_set_percent(25) keeps the runway short (a cycle every megabyte or two
 * of allocation). The main thread stops the workers after TARGET_CYCLES
 * cycles and MIN_SECONDS, or after TIME_LIMIT seconds; the workers verify
 * everything around two gc_collect calls. Checks: no node ever failed verification, >= MIN_CYCLES
 * cycles.
 */
#include <pthread.h>
#include <stdarg.h>

#include "check.h"
#include "stress_util.h"

#define NTHREADS 3
#define NROOTS 64
#define MAXH 12          /* trees taller than this are not wrapped */
#define TARGET_NODES 2500 /* per thread */
#define MAXLARGE_LIVE 6  /* large nodes per thread, about */
#define LARGE_MIN 4200
#define LARGE_MAX 6000
#define TARGET_CYCLES 360
#define MIN_CYCLES 300
#define MIN_SECONDS 3.0 /* even when the cycles come faster (stw) */
#define TIME_LIMIT 50.0

#define NODE_MAGIC 0x626f726eu /* "born" */
#define TABLE_MAGIC 0x726f6f74u

struct node {
  uint64_t magic;
  uint64_t id;    /* owner thread in the top 16 bits */
  uint64_t nk;    /* kid slots */
  uint64_t words; /* payload words, after the kids */
  uint64_t sum;
  struct node *kid[]; /* nk kids, then the payload */
};

struct table {
  uint64_t magic;
  struct node *root[NROOTS];
};

static atomic_int g_stop;
static atomic_long g_bad, g_ops, g_born, g_large_born, g_wraps, g_grows, g_detaches, g_drops;
static gc_mode_t g_mode;

ST_DEFINE_BAD("stress_born", g_bad, g_stop)

static uint64_t *payload(const struct node *n) { return (uint64_t *)&n->kid[n->nk]; }

static uint64_t node_sum(const struct node *n) {
  return st_mix(n->magic ^ st_mix(n->id ^ st_mix(n->nk * 131 + n->words)));
}

struct ctx {
  int tid;
  st_rng rng;
  struct table *tab;
  uint64_t next_id;
  st_census_t live; /* shadow of the forest */
  uint64_t nlarge;  /* shadow: its large nodes */
  int h[NROOTS];    /* height bound of each root tree */
};

static int node_ok(struct ctx *c, const struct node *n, const char *where, int slot) {
  if (gc_base(n) != (const void *)n) {
    bad("thread %d: %s (root %d): %p is not the start of a live object (gc_base %p)", c->tid, where, slot,
        (const void *)n, gc_base(n));
    return 0;
  }
  if (n->magic != NODE_MAGIC || (n->id >> 48) != (uint64_t)c->tid + 1 || n->sum != node_sum(n) ||
      (n->nk > 8 && (n->nk < LARGE_MIN || n->nk > LARGE_MAX)) || n->words > 64) {
    bad("thread %d: %s (root %d): node %p: bad header (magic %#llx id %#llx nk %llu words %llu): freed and reused?",
        c->tid, where, slot, (const void *)n, (unsigned long long)n->magic, (unsigned long long)n->id,
        (unsigned long long)n->nk, (unsigned long long)n->words);
    return 0;
  }
  size_t need = sizeof *n + (n->nk + n->words) * 8;
  if (gc_usable_size(n) < need) {
    bad("thread %d: %s (root %d): node %p: usable size %zu < %zu", c->tid, where, slot, (const void *)n,
        gc_usable_size(n), need);
    return 0;
  }
  size_t i = st_check_words(payload(n), 0, n->words, n->id);
  if (i != (size_t)-1) {
    bad("thread %d: %s (root %d): node %p (id %#llx): payload word %zu is %#llx: freed and reused?", c->tid, where,
        slot, (const void *)n, (unsigned long long)n->id, i, (unsigned long long)payload(n)[i]);
    return 0;
  }
  return 1;
}

/* Verifies the tree at n; adds its nodes to *seen and its large ones to
 * *nlarge; returns its height, -1 if broken. */
static int tree_walk(struct ctx *c, const struct node *n, int depth, const char *where, int slot, st_census_t *seen,
                     uint64_t *nlarge) {
  if (!n) return 0;
  if (depth > 4 * MAXH) {
    bad("thread %d: %s (root %d): tree deeper than %d", c->tid, where, slot, 4 * MAXH);
    return -1;
  }
  if (!node_ok(c, n, where, slot)) return -1;
  st_census_add(seen, n->id);
  if (n->nk > 8) (*nlarge)++;
  int h = 0;
  for (uint64_t k = 0; k < n->nk; k++) {
    if (!n->kid[k]) continue;
    int kh = tree_walk(c, n->kid[k], depth + 1, where, slot, seen, nlarge);
    if (kh < 0) return -1;
    if (kh > h) h = kh;
  }
  return h + 1;
}

static ST_NOINLINE void verify_all(struct ctx *c, const char *when) {
  if (gc_base(c->tab) != (void *)c->tab || c->tab->magic != TABLE_MAGIC) {
    bad("thread %d (%s): root table %p broken", c->tid, when, (void *)c->tab);
    return;
  }
  st_census_t seen = {0};
  uint64_t nl = 0;
  for (int r = 0; r < NROOTS; r++) {
    int h = tree_walk(c, c->tab->root[r], 0, when, r, &seen, &nl);
    if (h < 0) return;
    if (h > c->h[r]) {
      bad("thread %d (%s): root %d: height %d above its bound %d (test bug)", c->tid, when, r, h, c->h[r]);
      return;
    }
    c->h[r] = h; /* tighten */
  }
  if (!st_census_same(&seen, &c->live) || nl != c->nlarge)
    bad("thread %d (%s): %llu nodes (%llu large), expected %llu (%llu large); id set %s", c->tid, when,
        (unsigned long long)seen.count, (unsigned long long)nl, (unsigned long long)c->live.count,
        (unsigned long long)c->nlarge, st_census_idset(&seen, &c->live));
}

/* ---- Allocation ---------------------------------------------------------- */

static ST_NOINLINE struct node *node_new(struct ctx *c, uint64_t nk) {
  uint64_t id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
  uint64_t h = st_mix(id ^ 0xb0b);
  uint64_t words = h % 4 == 0 ? h % 65 : h % 9;
  struct node *n = st_xalloc(sizeof *n + (nk + words) * 8);
  n->magic = NODE_MAGIC;
  n->id = id;
  n->nk = nk;
  n->words = words;
  st_fill_words(payload(n), 0, words, id);
  n->sum = node_sum(n);
  st_census_add(&c->live, id);
  if (nk > 8) {
    c->nlarge++;
    atomic_fetch_add(&g_large_born, 1);
  }
  atomic_fetch_add(&g_born, 1);
  return n;
}

/* A new tree of `count` nodes of height <= maxh, built bottom-up or
 * top-down (linked first, filled after). */
static struct node *tree_new(struct ctx *c, int count, int maxh, int *height) {
  struct node *n = node_new(c, st_range(&c->rng, count > 1 ? 1 : 0, 8));
  int h = 1;
  int left = count - 1;
  for (uint64_t k = 0; k < n->nk && left > 0 && maxh > 1; k++) {
    int take = k + 1 == n->nk ? left : (int)st_range(&c->rng, 1, (uint64_t)left);
    int kh;
    GC_STORE(n->kid[k], tree_new(c, take, maxh - 1, &kh));
    if (kh + 1 > h) h = kh + 1;
    left -= take;
  }
  *height = h;
  return n;
}

static volatile uint64_t g_sink;


static void work(struct ctx *c) { g_sink += st_garbage(&c->rng, st_range(&c->rng, 256, 16384), 64 << 10); }

/* ---- Operations ----------------------------------------------------------- */

static int find_root(struct ctx *c, int full) {
  for (int t = 0; t < 32; t++) {
    int r = (int)st_below(&c->rng, NROOTS);
    if ((c->tab->root[r] != NULL) == full) return r;
  }
  for (int r = 0; r < NROOTS; r++)
    if ((c->tab->root[r] != NULL) == full) return r;
  return -1;
}

static void forget_tree(struct ctx *c, const struct node *n) {
  if (!n) return;
  st_census_remove(&c->live, n->id);
  if (n->nk > 8) c->nlarge--;
  for (uint64_t k = 0; k < n->nk; k++) forget_tree(c, n->kid[k]);
}

/* A non-NULL kid index of n from a random start, or -1. */
static int64_t some_kid(struct ctx *c, const struct node *n, int want_full) {
  if (n->nk == 0) return -1;
  uint64_t start = st_below(&c->rng, n->nk);
  for (uint64_t i = 0; i < n->nk; i++) {
    uint64_t k = (start + i) % n->nk;
    if ((n->kid[k] != NULL) == want_full) return (int64_t)k;
  }
  return -1;
}

/* Old into new: a new node (small or large) takes whole trees from root
 * slots, and goes into a root slot. */
static ST_NOINLINE void op_wrap(struct ctx *c, int large) {
  if (large && c->nlarge >= MAXLARGE_LIVE) large = 0;
  uint64_t nk = large ? st_range(&c->rng, LARGE_MIN, LARGE_MAX) : st_range(&c->rng, 1, 8);
  int ntake = large ? (int)st_range(&c->rng, 1, 16) : (int)st_range(&c->rng, 1, nk);
  int early = (int)st_below(&c->rng, 2); /* clear the old slots before linking */
  struct node *n = node_new(c, nk);      /* only in a local until published */
  int h = 0;
  if (st_below(&c->rng, 3) == 0) {
    /* Publish first: the new node is in the table while it is filled. */
    int dst = find_root(c, 0);
    if (dst < 0) {
      forget_tree(c, n);
      return;
    }
    GC_STORE(c->tab->root[dst], n);
    c->h[dst] = 1;
    for (int i = 0; i < ntake; i++) {
      int src = find_root(c, 1);
      if (src < 0 || src == dst || c->h[src] >= MAXH) continue;
      struct node *t = c->tab->root[src];
      if (!node_ok(c, t, "wrapped tree", src)) return;
      int64_t k = some_kid(c, n, 0);
      if (k < 0) break;
      if (early) {
        GC_STORE(c->tab->root[src], NULL);
        work(c);
        GC_STORE(n->kid[k], t);
      } else {
        GC_STORE(n->kid[k], t);
        GC_STORE(c->tab->root[src], NULL);
      }
      if (c->h[src] + 1 > c->h[dst]) c->h[dst] = c->h[src] + 1;
      c->h[src] = 0;
    }
  } else {
    /* Fill first, publish after: the new node holds the trees, and is itself
     * only in a local. */
    for (int i = 0; i < ntake; i++) {
      int src = find_root(c, 1);
      if (src < 0 || c->h[src] >= MAXH) continue;
      struct node *t = c->tab->root[src];
      if (!node_ok(c, t, "wrapped tree", src)) return;
      int64_t k = some_kid(c, n, 0);
      if (k < 0) break;
      if (early) {
        GC_STORE(c->tab->root[src], NULL);
        if (st_below(&c->rng, 4) == 0) work(c);
        GC_STORE(n->kid[k], t);
      } else {
        GC_STORE(n->kid[k], t);
        GC_STORE(c->tab->root[src], NULL);
      }
      if (c->h[src] + 1 > h) h = c->h[src] + 1;
      c->h[src] = 0;
    }
    if (large) {
      /* New nodes at random slots of the large node, too. */
      int extra = (int)st_range(&c->rng, 1, 16);
      for (int i = 0; i < extra; i++) {
        int64_t k = some_kid(c, n, 0);
        if (k < 0) break;
        int kh;
        GC_STORE(n->kid[k], tree_new(c, (int)st_range(&c->rng, 1, 4), 3, &kh));
        if (kh + 1 > h) h = kh + 1;
      }
    }
    work(c);
    if (!node_ok(c, n, "new wrapper (before publishing)", -1)) return;
    int dst = find_root(c, 0);
    if (dst < 0) { /* took no tree and every slot is full: drop it */
      forget_tree(c, n);
      return;
    }
    GC_STORE(c->tab->root[dst], n);
    c->h[dst] = h > 1 ? h : 1;
  }
  atomic_fetch_add(&g_wraps, 1);
}

/* New into old: link a new small tree into an empty kid slot of an old node
 * found by a random walk (depth <= 4). */
static ST_NOINLINE void op_grow(struct ctx *c) {
  int r = find_root(c, 1);
  if (r < 0) return;
  struct node *n = c->tab->root[r];
  int depth = 1;
  for (; depth < 4; depth++) {
    if (!node_ok(c, n, "grow walk", r)) return;
    if (st_below(&c->rng, 3) == 0) break;
    int64_t k = some_kid(c, n, 1);
    if (k < 0) break;
    n = n->kid[k];
  }
  if (!node_ok(c, n, "grow target", r)) return;
  int64_t k = some_kid(c, n, 0);
  if (k < 0) return;
  int kh;
  if (st_below(&c->rng, 3) == 0) {
    /* Link the new node first, then hang its kids under it. */
    struct node *m = node_new(c, st_range(&c->rng, 1, 8));
    GC_STORE(n->kid[k], m);
    work(c);
    int th = 1;
    for (uint64_t j = 0; j < m->nk; j++)
      if (st_below(&c->rng, 2)) {
        GC_STORE(m->kid[j], tree_new(c, 1 + (int)st_below(&c->rng, 2), 2, &kh));
        if (kh + 1 > th) th = kh + 1;
      }
    kh = th;
  } else {
    struct node *m = tree_new(c, (int)st_range(&c->rng, 1, 6), 3, &kh);
    if (st_below(&c->rng, 2)) work(c); /* m only in a local */
    GC_STORE(n->kid[k], m);
  }
  if (depth + kh > c->h[r]) c->h[r] = depth + kh;
  atomic_fetch_add(&g_grows, 1);
}

/* Detach a subtree from inside a tree into a local, allocate, put it into an
 * empty root slot. */
static ST_NOINLINE void op_detach(struct ctx *c) {
  int r = find_root(c, 1), dst = find_root(c, 0);
  if (r < 0 || dst < 0) return;
  struct node *parent = c->tab->root[r];
  if (!node_ok(c, parent, "detach walk", r)) return;
  int64_t k = some_kid(c, parent, 1);
  if (k < 0) return;
  int depth = 1;
  while (st_below(&c->rng, 2)) {
    struct node *m = parent->kid[k];
    if (!node_ok(c, m, "detach walk", r)) return;
    int64_t j = some_kid(c, m, 1);
    if (j < 0) break;
    parent = m;
    k = j;
    depth++;
  }
  struct node *t = parent->kid[k];
  GC_STORE(parent->kid[k], NULL);
  work(c); /* the subtree only in a local */
  if (!node_ok(c, t, "detached subtree", r)) return;
  GC_STORE(c->tab->root[dst], t);
  c->h[dst] = c->h[r] - depth > 1 ? c->h[r] - depth : 1;
  atomic_fetch_add(&g_detaches, 1);
}

/* Drop a whole tree (verified first). */
static ST_NOINLINE void op_drop(struct ctx *c) {
  int r = find_root(c, 1);
  if (r < 0) return;
  st_census_t seen = {0};
  uint64_t nl = 0;
  if (tree_walk(c, c->tab->root[r], 0, "dropped tree", r, &seen, &nl) < 0) return;
  forget_tree(c, c->tab->root[r]);
  GC_STORE(c->tab->root[r], NULL);
  c->h[r] = 0;
  atomic_fetch_add(&g_drops, 1);
}

/* A new tree into an empty root slot. */
static ST_NOINLINE void op_create(struct ctx *c) {
  int r = find_root(c, 0);
  if (r < 0) return;
  int h;
  struct node *t = tree_new(c, (int)st_range(&c->rng, 5, 60), 6, &h);
  GC_STORE(c->tab->root[r], t);
  c->h[r] = h;
}

static ST_NOINLINE void step(struct ctx *c) {
  uint64_t k = st_below(&c->rng, 1000);
  if (c->live.count > TARGET_NODES && k < 400) op_drop(c);
  else if (k < 250) op_wrap(c, st_below(&c->rng, 40) == 0);
  else if (k < 550) op_grow(c);
  else if (k < 700) op_detach(c);
  else if (k < 760) op_drop(c);
  else if (k < 900) op_create(c);
  else work(c);
  atomic_fetch_add(&g_ops, 1);
}

/* ---- Threads --------------------------------------------------------------- */

static pthread_barrier_t g_phase;

static void *worker(void *arg) {
  struct ctx c = {0};
  c.tid = (int)(intptr_t)arg;
  c.rng.s = st_seed() * 53 + (uint64_t)c.tid * 0x9876543;
  c.tab = st_xalloc(sizeof *c.tab); /* only in this frame */
  c.tab->magic = TABLE_MAGIC;
  while (c.live.count < TARGET_NODES / 2) op_create(&c);
  verify_all(&c, "initial");
  long n = 0;
  while (!atomic_load(&g_stop)) {
    step(&c);
    if (++n % 400 == 0) verify_all(&c, "periodic");
  }
  verify_all(&c, "after stop");
  pthread_barrier_wait(&g_phase);
  pthread_barrier_wait(&g_phase);
  verify_all(&c, "after gc_collect");
  if (c.tid == 0)
    fprintf(stderr, "stress_born: thread 0: %ld operations, %llu nodes (%llu large) at the end\n", n,
            (unsigned long long)c.live.count, (unsigned long long)c.nlarge);
  return NULL;
}

TEST(objects_born_during_marking_link_old_and_new) {
  g_mode = gc_get_mode();
  fprintf(stderr, "stress_born: mode %s\n",
          st_mode_name(g_mode));
  /* A small heap runway: a cycle every ~1-2 MiB of allocation, and the
   * mutators spend much of their time beside a running mark. */
  int old_percent = gc_set_percent(25);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  uint32_t gc0 = st_num_gc(), want = (uint32_t)(TARGET_CYCLES * st_scale());
  pthread_barrier_init(&g_phase, NULL, NTHREADS + 1);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
  uint32_t cycles = 0;
  while (!atomic_load(&g_stop)) {
    usleep(50000); /* gc_read_memstats stops the world: not too often */
    cycles = st_num_gc() - gc0;
    double el = st_now() - t0;
    if ((cycles >= want && el >= MIN_SECONDS * st_scale()) || el > limit) break;
  }
  atomic_store(&g_stop, 1);
  cycles = st_num_gc() - gc0;
  double secs = st_now() - t0;
  pthread_barrier_wait(&g_phase);
  gc_collect();
  gc_collect();
  pthread_barrier_wait(&g_phase);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  uint64_t heap = 0;
  st_stats(&heap, NULL, NULL);
  fprintf(stderr,
          "stress_born: %u cycles in %.1f s, %ld operations, %ld nodes born (%ld large), %ld wraps, %ld grows, %ld "
          "detaches, %ld drops, heap %.1f MiB, %ld bad\n",
          cycles, secs, atomic_load(&g_ops), atomic_load(&g_born), atomic_load(&g_large_born), atomic_load(&g_wraps),
          atomic_load(&g_grows), atomic_load(&g_detaches), atomic_load(&g_drops), heap / 1048576.0,
          atomic_load(&g_bad));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK(cycles >= (uint32_t)MIN_CYCLES);
  if (cycles < (uint32_t)MIN_CYCLES) fprintf(stderr, "stress_born: only %u cycles, want >= %d\n", cycles, MIN_CYCLES);
  gc_set_percent(old_percent);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_born", 150); }

CHECK_MAIN()
