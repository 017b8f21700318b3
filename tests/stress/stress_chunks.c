/*
 * stress_chunks.c - chunks that change kind while marks run.
 *
 * The page allocator keeps spans of pointer-free objects (gc_alloc_noscan)
 * and scanned spans (gc_alloc) in separate 2 MiB chunks; a chunk takes the
 * kind of its first span and is open to both kinds again once its last span
 * is freed (pagealloc.h). GCMODE=concurrent write-protects and walks only
 * the chunks of scanned spans, so a chunk that held pointer-free memory (or
 * nothing) when a mark began and takes scanned spans during that mark must
 * still be reported in full by the mark's later walks (docs/modes.md). This
 * test makes that happen over and over, and checks that nothing reachable
 * is freed.
 *
 * NMOVERS mover threads each own ~TARGET_LEAVES checksummed pointer-free
 * leaves (32 B .. 64 KiB), held by scanned holders in a directory (a heap
 * object reachable from a global). Holders are small (2 .. 64 slots), large
 * (33 .. 128 KiB, a span of their own) or huge (4 .. 5 MiB: such a span
 * covers at least one whole chunk, which had no span, hence no kind, when
 * the holder came). A mover keeps allocating new holders and moves the only
 * pointer to existing leaves from old holders into the new one, clearing
 * the old slot (after the store, or before it with the leaf only in a local
 * meanwhile); the new holder is published in the directory before or after
 * it is filled. Leaves are also created, dropped and moved between old
 * holders. A holder allocated during a mark is allocated black; a leaf the
 * mark has not reached yet, moved into it, is then reachable only through
 * the holder's pages, which only the walks of written pages find: if they
 * skipped a chunk that turned scanned during the mark, the leaf would be
 * freed.
 *
 * A churn thread runs rounds that hand the same chunks back and forth
 * between the kinds:
 *   1. it tells the movers to drop their huge holders and lets a cycle
 *      pass (the sweep empties their chunks);
 *   2. noscan phase: ~NS_BYTES of gc_alloc_noscan buffers, the first NGIANT
 *      of them as big as huge holders (they take the chunks the holders
 *      left), then 17 B .. 384 KiB; each written in full, kept in a scanned
 *      table through a completed cycle, verified, then all dropped, and a
 *      cycle passes (the sweep empties their chunks);
 *   3. it tells the movers to allocate MAXHUGE huge holders each,
 *      HUGE_SPACING seconds apart: they land in the chunks the noscan
 *      buffers left, during marks as often as not, and take leaves at once;
 *   4. scan phase: ~SC_BYTES of scanned objects (32 B .. 256 KiB) linked to
 *      each other, kept through a cycle, verified, dropped: their chunks go
 *      to noscan buffers or leaves next (the reverse change).
 * Large holders (thousands a second) land wherever chunks are free, often
 * in one that had no kind when the running mark began, too.
 * gc_set_percent(100), not a short runway: at 25 the assists that big
 * holders cost park the movers until the mark ends much more often, and far
 * fewer holders take leaves in a chunk that turned scanned during the mark.
 *
 * Every leaf carries its own address xor a mask, its id, its size and a
 * payload pattern derived from its id; a leaf freed while reachable is
 * reused by later allocations (noscan buffers memset with 0xdX bytes, other
 * leaves) and fails the check, as does gc_base(leaf) != leaf. Leaves are
 * checked as they move; each mover verifies its whole structure against a
 * shadow (count, xor and sum of the ids) every VERIFY_CYCLES completed
 * cycles and at the end. The churn verifies the stamps of its buffers
 * before dropping them. With GCCHECKMARK=1 (as ctest runs every stress
 * test) every concurrent mark is also re-checked by a stop-the-world mark
 * that aborts naming any reachable object the mark missed. (A collector
 * that skipped, during a mark, the chunks that had no span at its start,
 * or only those that held noscan spans before, was caught in every run.)
 *
 * Stores of heap pointers into heap objects go through GC_STORE, so the test
 * is correct in GCMODE=barrier; when the mode is not barrier, mover 0 uses
 * plain C stores instead (the concurrent mode must be safe for unannotated
 * code).
 *
 * As a sign that chunks do change kind, the test remembers the kind of the
 * last object it placed in each 2 MiB-aligned block (the heap's chunks are
 * 2 MiB aligned) and counts the objects of the other kind placed there
 * later, per direction.
 *
 * The main thread stops the threads after TARGET_CYCLES completed cycles
 * and MIN_SECONDS (and two phases of each kind), or after TIME_LIMIT
 * seconds; the movers verify everything around two gc_collect calls.
 * Checks: no failed verification, >= MIN_CYCLES cycles, changes of kind
 * seen in both directions.
 */
#include <pthread.h>
#include <stdarg.h>

#include "check.h"
#include "stress_util.h"

#define NMOVERS 2
#define NH 512             /* directory slots per mover */
#define TARGET_LEAVES 5000 /* per mover */
#define SMALL_MAX 64       /* slots of a small holder: 2 .. SMALL_MAX */
#define LARGE_MIN 4200     /* slots of a large holder: 33 KiB .. */
#define LARGE_MAX 16384    /* .. 128 KiB */
/* Slots of a huge holder: 4 .. 5 MiB, 511 pages or more, so it covers at
 * least one whole 2 MiB chunk, which was empty when the holder came (a
 * chunk with no span has no kind). */
#define HUGE_MIN 523260
#define HUGE_MAX 655000
#define MAXHUGE 3            /* huge holders per mover, at most */
#define NS_BYTES (48u << 20) /* noscan bytes per churn noscan phase, */
#define NGIANT (NMOVERS * MAXHUGE) /* the first ones as big as huge holders */
#define SC_BYTES (8u << 20)  /* scanned bytes per churn scan phase */
#define KEEP 16384           /* churn table slots */
#define VERIFY_CYCLES 2
#define TARGET_CYCLES 60
#define MIN_CYCLES 30
#define MIN_SECONDS 3.0 /* even when the cycles come faster (stw) */
#define TIME_LIMIT 40.0

#define LEAF_MAGIC 0x6c656166u   /* "leaf" */
#define HOLDER_MAGIC 0x686f6c64u /* "hold" */
#define DIR_MAGIC 0x64697273u
#define KEEP_MAGIC 0x6b656570u
/* Top bits set: a stamp (address ^ mask) is never a canonical address. */
#define LEAF_MASK 0xd1e5a5e5c0ffee11ull
#define CHURN_MASK 0xdb0c4c0ffee0d1e5ull

/* ---- Objects ---------------------------------------------------------- */

struct leaf {
  uint64_t stamp; /* (uintptr_t)leaf ^ LEAF_MASK */
  uint64_t id;    /* owner mover in the top 16 bits */
  uint64_t words; /* payload words, words_of(id) */
  uint64_t sum;   /* st_mix(LEAF_MAGIC ^ id ^ words) */
  uint64_t pay[]; /* pay[i] = st_pat(id, i) */
};

struct holder {
  uint64_t magic; /* HOLDER_MAGIC */
  uint64_t id;
  uint64_t cap; /* slots */
  uint64_t sum; /* st_mix(magic ^ id ^ cap) */
  struct leaf *slot[];
};

struct dir {
  uint64_t magic;
  struct holder *h[NH];
};

/* The churn's table of live buffers or objects. */
struct keep {
  uint64_t magic;
  uint64_t n;
  void *p[KEEP];
};

static atomic_int g_stop;
static atomic_uint g_cycles; /* completed cycles since the start (main polls) */
static atomic_long g_bad, g_ops, g_moves, g_holders[3], g_leaves_born, g_leaves_dropped;
static atomic_long g_ns_phases, g_sc_phases, g_ns_bytes, g_sc_bytes;
static gc_mode_t g_mode;

ST_DEFINE_BAD("stress_chunks", g_bad, g_stop)

static volatile uint64_t g_sink;

/* The kind of the last object seen in each 2 MiB chunk (1 scanned, 2
 * noscan), indexed by the address's chunk number modulo 2^16 (the heap is
 * contiguous and far smaller than 128 GiB). The allocator never mixes the
 * kinds in a chunk, so an object of the other kind than the chunk's last
 * one means the chunk was emptied and changed kind: counted per direction
 * (to scanned: by holders, by the churn's scanned objects). Statistics and a
 * sanity check only. */
#define CHUNK_SLOTS 65536
enum { SEEN_SCAN = 1, SEEN_NOSCAN = 2 };
static _Atomic uint8_t g_chunk_seen[CHUNK_SLOTS];
static atomic_long g_flip_to_scan_holders, g_flip_to_scan_churn, g_flip_to_noscan;

static inline uint32_t chunk_of(uintptr_t a) { return (uint32_t)((a >> 21) & (CHUNK_SLOTS - 1)); }

static void note_kind(const void *p, size_t n, int kind, atomic_long *flips) {
  for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)((1u << 21) - 1); a < (uintptr_t)p + n; a += 1u << 21) {
    uint8_t old = atomic_exchange_explicit(&g_chunk_seen[chunk_of(a)], (uint8_t)kind, memory_order_relaxed);
    if (old != 0 && old != kind) atomic_fetch_add(flips, 1);
  }
}

/* The churn's signals to the movers (generation counters): drop your huge
 * holders (their chunks then go to the next noscan phase), and allocate
 * MAXHUGE new ones, HUGE_SPACING seconds apart (they land in the chunks the
 * last noscan phase left empty). */
static atomic_uint g_drop_gen, g_burst_gen;
#define HUGE_SPACING 0.008

/* ---- Mover context ------------------------------------------------------ */

struct ctx {
  int tid;
  int plain; /* plain stores instead of GC_STORE */
  st_rng rng;
  struct dir *dir;
  int hcount[NH]; /* leaves per directory slot (shadow) */
  uint8_t huge[NH]; /* 1 if the slot holds a huge holder (shadow) */
  int nhuge;
  unsigned drop_gen, burst_gen; /* the churn's signals last seen */
  int want_huge;                /* huge holders still to allocate */
  double last_huge;             /* when the last one was */
  uint64_t next_id;
  st_census_t live; /* shadow of the live leaves */
  uint64_t nholders;
  unsigned verified_at; /* g_cycles at the last full verification */
};

/* A heap store: GC_STORE, or a plain store on the plain mover. */
#define HSTORE(c, lv, v)        \
  do {                          \
    if ((c)->plain) (lv) = (v); \
    else GC_STORE(lv, v);       \
  } while (0)

static uint64_t words_of(uint64_t id) {
  uint64_t h = st_mix(id ^ 0xc4a2);
  uint64_t k = h % 1000;
  if (k < 700) return h % 31;       /* 32 .. 272 B */
  if (k < 995) return 31 + h % 470; /* .. 4 KiB */
  return 4100 + h % 4000;           /* 32 .. 64 KiB: large noscan leaves */
}

/* ---- Verification --------------------------------------------------------- */

/* 1 if l is an intact leaf of this mover; full: the whole payload too (else
 * up to its first 32 words). */
static int leaf_ok(struct ctx *c, const struct leaf *l, const char *where, int full) {
  if (gc_base(l) != (const void *)l) {
    bad("mover %d: %s: leaf %p is not the start of a live object (gc_base %p)", c->tid, where, (const void *)l,
        gc_base(l));
    return 0;
  }
  if (l->stamp != ((uintptr_t)l ^ LEAF_MASK) || (l->id >> 48) != (uint64_t)c->tid + 1 ||
      l->words != words_of(l->id) || l->sum != st_mix(LEAF_MAGIC ^ l->id ^ l->words)) {
    bad("mover %d: %s: leaf %p: bad header (stamp %#llx id %#llx words %llu sum %#llx): freed and reused?", c->tid,
        where, (const void *)l, (unsigned long long)l->stamp, (unsigned long long)l->id,
        (unsigned long long)l->words, (unsigned long long)l->sum);
    return 0;
  }
  if (gc_usable_size(l) < sizeof *l + l->words * 8) {
    bad("mover %d: %s: leaf %p: usable size %zu < %zu", c->tid, where, (const void *)l, gc_usable_size(l),
        sizeof *l + l->words * 8);
    return 0;
  }
  size_t to = full || l->words <= 32 ? l->words : 32;
  size_t i = st_check_words(l->pay, 0, to, l->id);
  if (i != (size_t)-1) {
    bad("mover %d: %s: leaf %p (id %#llx): payload word %zu is %#llx: freed and reused?", c->tid, where,
        (const void *)l, (unsigned long long)l->id, i, (unsigned long long)l->pay[i]);
    return 0;
  }
  return 1;
}

static int holder_ok(struct ctx *c, const struct holder *h, const char *where, int d) {
  if (gc_base(h) != (const void *)h) {
    bad("mover %d: %s (dir %d): holder %p is not the start of a live object (gc_base %p)", c->tid, where, d,
        (const void *)h, gc_base(h));
    return 0;
  }
  int cap_ok = (h->cap >= 2 && h->cap <= SMALL_MAX) || (h->cap >= LARGE_MIN && h->cap <= LARGE_MAX) ||
               (h->cap >= HUGE_MIN && h->cap <= HUGE_MAX);
  if (h->magic != HOLDER_MAGIC || (h->id >> 48) != (uint64_t)c->tid + 1 ||
      h->sum != st_mix(h->magic ^ h->id ^ h->cap) || !cap_ok) {
    bad("mover %d: %s (dir %d): holder %p: bad header (magic %#llx id %#llx cap %llu): freed and reused?", c->tid,
        where, d, (const void *)h, (unsigned long long)h->magic, (unsigned long long)h->id,
        (unsigned long long)h->cap);
    return 0;
  }
  if (gc_usable_size(h) < sizeof *h + h->cap * 8) {
    bad("mover %d: %s (dir %d): holder %p: usable size %zu < %zu", c->tid, where, d, (const void *)h,
        gc_usable_size(h), sizeof *h + h->cap * 8);
    return 0;
  }
  return 1;
}

static ST_NOINLINE void verify_all(struct ctx *c, const char *when) {
  if (gc_base(c->dir) != (void *)c->dir || c->dir->magic != DIR_MAGIC) {
    bad("mover %d (%s): directory %p broken", c->tid, when, (void *)c->dir);
    return;
  }
  st_census_t seen = {0};
  uint64_t nh = 0, nhuge = 0;
  for (int d = 0; d < NH; d++) {
    const struct holder *h = c->dir->h[d];
    if (!h) {
      if (c->hcount[d] != 0) {
        bad("mover %d (%s): dir %d empty, shadow says %d leaves (test bug)", c->tid, when, d, c->hcount[d]);
        return;
      }
      continue;
    }
    nh++;
    if (!holder_ok(c, h, when, d)) return;
    if ((h->cap >= HUGE_MIN) != c->huge[d]) {
      bad("mover %d (%s): dir %d: holder of %llu slots, shadow says %s", c->tid, when, d,
          (unsigned long long)h->cap, c->huge[d] ? "huge" : "not huge");
      return;
    }
    nhuge += c->huge[d];
    int n = 0;
    for (uint64_t i = 0; i < h->cap; i++) {
      const struct leaf *l = h->slot[i];
      if (!l) continue;
      if (!leaf_ok(c, l, when, 1)) return;
      n++;
      st_census_add(&seen, l->id);
    }
    if (n != c->hcount[d]) {
      bad("mover %d (%s): dir %d: %d leaves, shadow says %d", c->tid, when, d, n, c->hcount[d]);
      return;
    }
  }
  if (!st_census_same(&seen, &c->live) || nh != c->nholders || nhuge != (uint64_t)c->nhuge)
    bad("mover %d (%s): %llu leaves in %llu holders, expected %llu in %llu (id set %s)", c->tid, when,
        (unsigned long long)seen.count, (unsigned long long)nh, (unsigned long long)c->live.count,
        (unsigned long long)c->nholders, st_census_idset(&seen, &c->live));
}

/* ---- Allocation ---------------------------------------------------------- */

static ST_NOINLINE struct leaf *leaf_new(struct ctx *c) {
  uint64_t id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
  uint64_t w = words_of(id);
  struct leaf *l = gc_alloc_noscan(sizeof *l + w * 8);
  if (!l) {
    fprintf(stderr, "gc_alloc_noscan(%zu) failed\n", (size_t)(sizeof *l + w * 8));
    abort();
  }
  note_kind(l, sizeof *l + w * 8, SEEN_NOSCAN, &g_flip_to_noscan);
  l->stamp = (uintptr_t)l ^ LEAF_MASK;
  l->id = id;
  l->words = w;
  l->sum = st_mix(LEAF_MAGIC ^ id ^ w);
  st_fill_words(l->pay, 0, w, id);
  st_census_add(&c->live, id);
  atomic_fetch_add(&g_leaves_born, 1);
  return l;
}

/* size: 0 small, 1 large, 2 huge. */
static ST_NOINLINE struct holder *holder_new(struct ctx *c, int size) {
  uint64_t cap = size == 2   ? st_range(&c->rng, HUGE_MIN, HUGE_MAX)
                 : size == 1 ? st_range(&c->rng, LARGE_MIN, LARGE_MAX)
                             : st_range(&c->rng, 2, SMALL_MAX);
  struct holder *h = st_xalloc(sizeof *h + cap * 8);
  h->magic = HOLDER_MAGIC;
  h->id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
  h->cap = cap;
  h->sum = st_mix(h->magic ^ h->id ^ h->cap);
  atomic_fetch_add(&g_holders[size], 1);
  note_kind(h, sizeof *h + cap * 8, SEEN_SCAN, &g_flip_to_scan_holders);
  return h;
}

/* A little garbage, so time (and marking) moves on. */
static void work(struct ctx *c) { g_sink += st_garbage(&c->rng, st_range(&c->rng, 64, 4096), 16384); }

/* ---- Mover operations -------------------------------------------------------- */

static int find_dir(struct ctx *c, int full, int except) {
  for (int t = 0; t < 32; t++) {
    int d = (int)st_below(&c->rng, NH);
    if (d != except && (c->hcount[d] > 0) == full && (full || c->dir->h[d] == NULL)) return d;
  }
  for (int d = 0; d < NH; d++)
    if (d != except && (c->hcount[d] > 0) == full && (full || c->dir->h[d] == NULL)) return d;
  return -1;
}

/* An empty slot of h, from a random start (large) or the first (small). */
static int64_t empty_slot(struct ctx *c, const struct holder *h) {
  uint64_t start = h->cap > SMALL_MAX ? st_below(&c->rng, h->cap) : 0;
  for (uint64_t i = 0; i < h->cap; i++) {
    uint64_t k = (start + i) % h->cap;
    if (!h->slot[k]) return (int64_t)k;
  }
  return -1;
}

static void put_holder(struct ctx *c, int d, struct holder *h) {
  HSTORE(c, c->dir->h[d], h);
  c->huge[d] = h->cap >= HUGE_MIN;
  c->nhuge += c->huge[d];
  c->nholders++;
}

static void drop_holder(struct ctx *c, int d) {
  HSTORE(c, c->dir->h[d], NULL);
  c->hcount[d] = 0;
  c->nhuge -= c->huge[d];
  c->huge[d] = 0;
  c->nholders--;
}

static ST_NOINLINE void op_drop_at(struct ctx *c, int d);

/* Old into new: a new holder takes leaves from old holders; the old slots
 * are cleared. Returns early (leaving a consistent structure) after a
 * failed check. */
static ST_NOINLINE void op_rehome(struct ctx *c, int size) {
  if (size == 2 && c->nhuge >= MAXHUGE) {
    /* Make room: drop a huge holder with its leaves (op_grow makes more). */
    for (int d = 0; d < NH; d++)
      if (c->huge[d]) {
        op_drop_at(c, d);
        break;
      }
  }
  struct holder *h = holder_new(c, size);
  int want = size ? (int)st_range(&c->rng, 16, 400) : (int)h->cap;
  int publish_first = (int)st_below(&c->rng, 2);
  int d = -1, got = 0;
  if (publish_first) {
    d = find_dir(c, 0, -1);
    if (d < 0) return; /* directory full: drop the new holder */
    put_holder(c, d, h);
  }
  for (int tries = 0; tries < 12 && got < want; tries++) {
    int s = find_dir(c, 1, d);
    if (s < 0) break;
    struct holder *src = c->dir->h[s];
    if (!holder_ok(c, src, "rehome source", s)) return;
    uint64_t start = st_below(&c->rng, src->cap);
    for (uint64_t i = 0; i < src->cap && got < want && c->hcount[s] > 0; i++) {
      uint64_t k = (start + i) % src->cap;
      struct leaf *l = src->slot[k];
      if (!l) continue;
      if (!leaf_ok(c, l, "moved leaf", 0)) return;
      int64_t j = empty_slot(c, h);
      if (j < 0) break;
      if (st_below(&c->rng, 4) == 0) {
        /* Clear first: the leaf only in a local for a moment. */
        HSTORE(c, src->slot[k], NULL);
        if (st_below(&c->rng, 8) == 0) work(c);
        HSTORE(c, h->slot[j], l);
      } else {
        HSTORE(c, h->slot[j], l);
        HSTORE(c, src->slot[k], NULL);
      }
      c->hcount[s]--;
      got++;
      atomic_fetch_add(&g_moves, 1);
      if ((got & 31) == 0) work(c);
    }
    if (c->hcount[s] == 0) drop_holder(c, s);
  }
  if (publish_first) {
    c->hcount[d] = got;
    if (got == 0) drop_holder(c, d);
  } else if (got > 0) {
    d = find_dir(c, 0, -1);
    if (d < 0) { /* cannot happen: a source emptied or the directory has room */
      bad("mover %d: directory full (test bug)", c->tid);
      return;
    }
    put_holder(c, d, h);
    c->hcount[d] = got;
  }
}

/* Old into old: move a leaf between two old holders. */
static ST_NOINLINE void op_shuffle(struct ctx *c) {
  for (int n = 0; n < 16; n++) {
    int s = find_dir(c, 1, -1), t = find_dir(c, 1, s);
    if (s < 0 || t < 0) return;
    struct holder *a = c->dir->h[s], *b = c->dir->h[t];
    int64_t j = empty_slot(c, b);
    if (j < 0) continue;
    uint64_t start = st_below(&c->rng, a->cap);
    for (uint64_t i = 0; i < a->cap; i++) {
      uint64_t k = (start + i) % a->cap;
      struct leaf *l = a->slot[k];
      if (!l) continue;
      if (!leaf_ok(c, l, "shuffled leaf", 0)) return;
      HSTORE(c, b->slot[j], l);
      HSTORE(c, a->slot[k], NULL);
      c->hcount[s]--;
      c->hcount[t]++;
      if (c->hcount[s] == 0) drop_holder(c, s);
      break;
    }
  }
}

/* New leaves into a new small holder, or into empty slots of an old one. */
static ST_NOINLINE void op_grow(struct ctx *c) {
  if (c->live.count >= TARGET_LEAVES) return;
  int d = -1;
  struct holder *h = NULL;
  if (st_below(&c->rng, 2)) {
    d = find_dir(c, 1, -1);
    if (d >= 0) h = c->dir->h[d];
  }
  if (!h) {
    d = find_dir(c, 0, -1);
    if (d < 0) return;
    h = holder_new(c, st_below(&c->rng, 8) == 0);
    put_holder(c, d, h);
  }
  int n = (int)st_range(&c->rng, 1, 32);
  for (int i = 0; i < n; i++) {
    int64_t j = empty_slot(c, h);
    if (j < 0) break;
    HSTORE(c, h->slot[j], leaf_new(c));
    c->hcount[d]++;
  }
  if (c->hcount[d] == 0) drop_holder(c, d);
}

/* Drop a whole holder (verified first) when there are enough leaves. */
static ST_NOINLINE void op_drop_at(struct ctx *c, int d) {
  struct holder *h = c->dir->h[d];
  if (!holder_ok(c, h, "dropped holder", d)) return;
  for (uint64_t i = 0; i < h->cap; i++) {
    if (!h->slot[i]) continue;
    if (!leaf_ok(c, h->slot[i], "dropped leaf", 0)) return;
    st_census_remove(&c->live, h->slot[i]->id);
    atomic_fetch_add(&g_leaves_dropped, 1);
  }
  drop_holder(c, d);
}

static ST_NOINLINE void op_drop(struct ctx *c) {
  if (c->live.count < TARGET_LEAVES * 9 / 10) return;
  int d = find_dir(c, 1, -1);
  if (d >= 0) op_drop_at(c, d);
}

/* The churn's signals. */
static ST_NOINLINE void follow_churn(struct ctx *c) {
  unsigned g = atomic_load(&g_drop_gen);
  if (g != c->drop_gen) {
    c->drop_gen = g;
    for (int d = 0; d < NH; d++)
      if (c->huge[d]) op_drop_at(c, d);
  }
  g = atomic_load(&g_burst_gen);
  if (g != c->burst_gen) {
    c->burst_gen = g;
    c->want_huge = MAXHUGE;
  }
}

static ST_NOINLINE void step(struct ctx *c) {
  follow_churn(c);
  if (c->want_huge > 0 && st_now() - c->last_huge >= HUGE_SPACING) {
    c->want_huge--;
    c->last_huge = st_now();
    op_rehome(c, 2);
    atomic_fetch_add(&g_ops, 1);
    return;
  }
  uint64_t k = st_below(&c->rng, 1000);
  if (c->live.count < TARGET_LEAVES * 9 / 10 && k < 500) op_grow(c);
  else if (k < 600) op_rehome(c, (int)(k & 1)); /* large or small */
  else if (k < 750) op_shuffle(c);
  else if (k < 850) op_grow(c);
  else if (k < 950) op_drop(c);
  else work(c);
  atomic_fetch_add(&g_ops, 1);
}

static pthread_barrier_t g_phase;

static ST_NOINLINE void dir_new(struct ctx *c) {
  c->dir = st_xalloc(sizeof *c->dir);
  c->dir->magic = DIR_MAGIC;
}

static void *mover(void *arg) {
  static struct ctx ctxs[NMOVERS]; /* a global: dir is a root */
  int tid = (int)(intptr_t)arg;
  struct ctx *c = &ctxs[tid];
  memset(c, 0, sizeof *c);
  c->tid = tid;
  c->plain = g_mode != GC_MODE_BARRIER && tid == 0;
  c->rng.s = st_seed() * 71 + (uint64_t)tid * 0x5a5a5a5;
  dir_new(c);
  while (c->live.count < TARGET_LEAVES) op_grow(c);
  verify_all(c, "initial");
  c->verified_at = atomic_load(&g_cycles);
  long n = 0;
  while (!atomic_load(&g_stop)) {
    step(c);
    n++;
    unsigned cy = atomic_load(&g_cycles);
    if (cy - c->verified_at >= VERIFY_CYCLES) {
      verify_all(c, "periodic");
      c->verified_at = cy;
    }
    if ((n & 1023) == 0) st_scrub_stack();
  }
  verify_all(c, "after stop");
  pthread_barrier_wait(&g_phase); /* main collects */
  pthread_barrier_wait(&g_phase);
  verify_all(c, "after gc_collect");
  if (tid == 0)
    fprintf(stderr, "stress_chunks: mover 0: %ld operations, %llu leaves in %llu holders, %s stores\n", n,
            (unsigned long long)c->live.count, (unsigned long long)c->nholders, c->plain ? "plain" : "GC_STORE");
  return NULL;
}

/* ---- Churn ----------------------------------------------------------------- */

struct churn {
  st_rng rng;
  uint64_t next_id;
};

/* Wait (allocating a little, so cycles come) until a whole cycle has run
 * since the call (g_cycles, polled by main, moved twice), or 0.5 s: objects
 * made before lived through a mark, memory dropped before was swept. */
static void hold_a_cycle(struct churn *ch) {
  unsigned c0 = atomic_load(&g_cycles);
  double t0 = st_now();
  while (!atomic_load(&g_stop) && atomic_load(&g_cycles) < c0 + 2 && st_now() - t0 < 0.5)
    g_sink += st_garbage(&ch->rng, 8192, 8192);
}

static int churn_stamp_ok(const void *p, uint64_t id, size_t n, int fill, const char *what) {
  const uint64_t *w = p;
  if (gc_base(p) != p || w[0] != ((uintptr_t)p ^ CHURN_MASK) || w[1] != id || gc_usable_size(p) < n ||
      ((const unsigned char *)p)[n - 1] != fill) {
    bad("churn: %s %p (%zu bytes, id %llu): stamp %#llx/%llu, last byte %#x, expected %#x: freed and reused?",
        what, p, n, (unsigned long long)id, (unsigned long long)w[0], (unsigned long long)w[1],
        ((const unsigned char *)p)[n - 1], fill);
    return 0;
  }
  return 1;
}

/* Sizes and fill bytes are derived from (phase seed, index), so they need
 * no bookkeeping. */
static size_t ns_size(uint64_t h, uint64_t n) {
  if (n < NGIANT) return sizeof(struct holder) + (HUGE_MIN + (h >> 10) % (HUGE_MAX - HUGE_MIN)) * 8;
  uint64_t k = h % 1000;
  if (k < 600) return 17 + (h >> 10) % 2032;           /* .. 2 KiB: the last byte past the stamp */
  if (k < 850) return 2049 + (h >> 10) % 30720;        /* .. 32 KiB */
  return 32769 + (h >> 10) % (393216 - 32769);         /* .. 384 KiB, large */
}

static size_t sc_size(uint64_t h) {
  uint64_t k = h % 1000;
  if (k < 500) return 32 + ((h >> 10) % 29) * 8;       /* .. 256 B: the last word holds no pointer */
  if (k < 850) return 264 + ((h >> 10) % 991) * 8;     /* .. 8 KiB */
  return 8200 + ((h >> 10) % 31744) * 8;               /* .. 256 KiB */
}

/* Noscan phase: fill, hold through a cycle, verify, drop. */
static ST_NOINLINE void churn_noscan(struct churn *ch) {
  uint64_t seed = st_next(&ch->rng);
  struct keep *kp = st_xalloc(sizeof *kp);
  kp->magic = KEEP_MAGIC;
  size_t bytes = 0;
  uint64_t n = 0;
  while (bytes < NS_BYTES && n < KEEP && !atomic_load(&g_stop)) {
    uint64_t h = st_mix(seed + n);
    size_t sz = ns_size(h, n);
    int fill = 0xd0 | (int)(h >> 60);
    unsigned char *p = gc_alloc_noscan(sz);
    if (!p) {
      fprintf(stderr, "gc_alloc_noscan(%zu) failed\n", sz);
      abort();
    }
    memset(p, fill, sz); /* every page written */
    ((uint64_t *)p)[0] = (uintptr_t)p ^ CHURN_MASK;
    ((uint64_t *)p)[1] = ch->next_id + n;
    note_kind(p, sz, SEEN_NOSCAN, &g_flip_to_noscan);
    GC_STORE(kp->p[n], p);
    n++;
    bytes += sz;
  }
  kp->n = n;
  hold_a_cycle(ch);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t h = st_mix(seed + i);
    if (!churn_stamp_ok(kp->p[i], ch->next_id + i, ns_size(h, i), 0xd0 | (int)(h >> 60), "noscan buffer")) break;
  }
  ch->next_id += n;
  kp = NULL; /* all dropped */
  atomic_fetch_add(&g_ns_phases, 1);
  atomic_fetch_add(&g_ns_bytes, (long)bytes);
}

/* Scan phase: scanned objects linked to each other (word 2 to the previous
 * one, a few other words to random earlier ones), the rest non-pointer
 * words; hold through a cycle, verify, drop. */
static ST_NOINLINE void churn_scan(struct churn *ch) {
  uint64_t seed = st_next(&ch->rng);
  struct keep *kp = st_xalloc(sizeof *kp);
  kp->magic = KEEP_MAGIC;
  size_t bytes = 0;
  uint64_t n = 0;
  void *prev = NULL;
  while (bytes < SC_BYTES && n < KEEP && !atomic_load(&g_stop)) {
    uint64_t h = st_mix(seed + n);
    size_t sz = sc_size(h);
    void **p = st_xalloc(sz);
    size_t nw = sz / 8;
    /* Non-pointer words (0xdc.. is not a canonical address); the last byte
     * is the fill too. */
    memset(p, 0xdc, sz);
    ((uint64_t *)p)[0] = (uintptr_t)p ^ CHURN_MASK;
    ((uint64_t *)p)[1] = ch->next_id + n;
    GC_STORE(p[2], prev);
    for (size_t k = 3; k + 1 < nw; k += 1 + (size_t)st_below(&ch->rng, 64))
      if (n > 0 && st_below(&ch->rng, 4) == 0) GC_STORE(p[k], kp->p[st_below(&ch->rng, n)]);
    note_kind(p, sz, SEEN_SCAN, &g_flip_to_scan_churn);
    GC_STORE(kp->p[n], p);
    prev = p;
    n++;
    bytes += sz;
  }
  prev = NULL;
  kp->n = n;
  hold_a_cycle(ch);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t h = st_mix(seed + i);
    if (!churn_stamp_ok(kp->p[i], ch->next_id + i, sc_size(h), 0xdc, "scanned object")) break;
  }
  ch->next_id += n;
  kp = NULL;
  atomic_fetch_add(&g_sc_phases, 1);
  atomic_fetch_add(&g_sc_bytes, (long)bytes);
}

static void *churner(void *arg) {
  (void)arg;
  struct churn ch = {{st_seed() * 97 + 0xc0ffee}, 1};
  while (!atomic_load(&g_stop)) {
    atomic_fetch_add(&g_drop_gen, 1); /* the movers drop their huge holders, */
    hold_a_cycle(&ch);                /* the next sweep frees them, */
    churn_noscan(&ch);                /* noscan buffers take their chunks; */
    st_scrub_stack();
    hold_a_cycle(&ch);                /* the next sweep frees the buffers, */
    atomic_fetch_add(&g_burst_gen, 1); /* new huge holders take their chunks */
    if (atomic_load(&g_stop)) break;
    churn_scan(&ch);
    st_scrub_stack();
  }
  pthread_barrier_wait(&g_phase);
  pthread_barrier_wait(&g_phase);
  return NULL;
}

/* ---- Main ------------------------------------------------------------------ */

TEST(chunks_change_kind_during_marks) {
  g_mode = gc_get_mode();
  fprintf(stderr, "stress_chunks: mode %s\n", st_mode_name(g_mode));
  /* A cycle every few tens of MiB of allocation (the churn allocates ~56
   * MiB a round, the movers more), marks running much of the time, assists
   * light enough (see the top). */
  int old_percent = gc_set_percent(100);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  uint32_t gc0 = st_num_gc(), want = (uint32_t)(TARGET_CYCLES * st_scale());
  pthread_barrier_init(&g_phase, NULL, NMOVERS + 2);
  pthread_t th[NMOVERS + 1];
  for (int i = 0; i < NMOVERS; i++)
    CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, mover, (void *)(intptr_t)i) == 0);
  CHECK_OR_RETURN(gc_pthread_create(&th[NMOVERS], NULL, churner, NULL) == 0);
  uint32_t cycles = 0;
  while (!atomic_load(&g_stop)) {
    usleep(25000); /* gc_read_memstats stops the world: not too often */
    cycles = st_num_gc() - gc0;
    atomic_store(&g_cycles, cycles);
    double el = st_now() - t0;
    if ((cycles >= want && el >= MIN_SECONDS * st_scale() && atomic_load(&g_ns_phases) >= 2 &&
         atomic_load(&g_sc_phases) >= 2) ||
        el > limit)
      break;
  }
  atomic_store(&g_stop, 1);
  cycles = st_num_gc() - gc0;
  double secs = st_now() - t0;
  pthread_barrier_wait(&g_phase);
  gc_collect();
  gc_collect();
  pthread_barrier_wait(&g_phase);
  for (int i = 0; i < NMOVERS + 1; i++) pthread_join(th[i], NULL);
  uint64_t heap = 0, sys = 0;
  st_stats(&heap, &sys, NULL);
  long to_scan = atomic_load(&g_flip_to_scan_holders) + atomic_load(&g_flip_to_scan_churn);
  long to_noscan = atomic_load(&g_flip_to_noscan);
  fprintf(stderr,
          "stress_chunks: %u cycles in %.1f s, %ld operations, %ld leaf moves; holders born: %ld small, %ld large, "
          "%ld huge; %ld leaves born, %ld dropped; churn: %ld noscan phases (%.0f MiB), %ld scan phases (%.0f MiB); "
          "2 MiB chunks seen changing kind: %ld to scanned (%ld by holders), %ld to noscan; heap %.1f MiB of "
          "%.1f MiB; %ld bad\n",
          cycles, secs, atomic_load(&g_ops), atomic_load(&g_moves), atomic_load(&g_holders[0]),
          atomic_load(&g_holders[1]), atomic_load(&g_holders[2]), atomic_load(&g_leaves_born),
          atomic_load(&g_leaves_dropped), atomic_load(&g_ns_phases), atomic_load(&g_ns_bytes) / 1048576.0,
          atomic_load(&g_sc_phases), atomic_load(&g_sc_bytes) / 1048576.0, to_scan,
          atomic_load(&g_flip_to_scan_holders), to_noscan, heap / 1048576.0, sys / 1048576.0, atomic_load(&g_bad));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK(cycles >= (uint32_t)MIN_CYCLES);
  if (cycles < (uint32_t)MIN_CYCLES) fprintf(stderr, "stress_chunks: only %u cycles, want >= %d\n", cycles, MIN_CYCLES);
  /* The allocator must hand the chunks one kind emptied to the other kind:
   * without that the test exercises nothing of what it is about. */
  CHECK(to_scan > 0);
  CHECK(to_noscan > 0);
  gc_set_percent(old_percent);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_chunks", 150); }

CHECK_MAIN()
