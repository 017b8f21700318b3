/*
 * stress_util.h - helpers shared by the stress tests: hashing, a small PRNG,
 * pointer hiding, garbage generation, stack scrubbing, a census of a live
 * set, statistics.
 *
 * The stress tests look for premature frees. Every live object carries a
 * checksum of its contents (and of its children's checksums); lots of garbage
 * is allocated between checks so that a slot freed too early is handed out
 * again, zeroed by gc_alloc and overwritten with a garbage pattern, which
 * breaks the checksum.
 *
 * Objects must be reachable only from the place a test names. Bookkeeping
 * keeps pointers hidden (xor-ed with ST_MASK, whose top bit makes the result
 * a non-canonical address no collector takes for a pointer). Work that touches
 * a pointer the test means to hide runs in noinline functions, so that the
 * test's own frame keeps no stale copy; where a stale copy survives anyway it
 * only keeps garbage alive (a weaker test), never frees anything early.
 */
#ifndef TC_STRESS_UTIL_H
#define TC_STRESS_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#define ST_NOINLINE __attribute__((noinline))
#define ST_UNUSED __attribute__((unused))

/* ---- Hashing ----------------------------------------------------------- */

/* splitmix64's finalizer: a bijective 64-bit mix. */
static inline uint64_t st_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static inline uint64_t st_combine(uint64_t h, uint64_t v) {
  return st_mix(h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

/* A hash of n bytes at p, eight at a time. */
static inline uint64_t st_hash_bytes(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = p;
  uint64_t h = st_mix(seed ^ (n * 0x9e3779b97f4a7c15ull));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = (h ^ st_mix(w + i)) * 0x100000001b3ull;
  }
  uint64_t tail = 0;
  for (; i < n; i++) tail = (tail << 8) | b[i];
  return st_mix(h ^ tail ^ 0x5bd1e995u);
}

/* gc_alloc that never returns NULL: a stress test cannot go on without
 * memory, so it aborts with the size. */
static ST_UNUSED void *st_xalloc(size_t n) {
  void *p = gc_alloc(n);
  if (!p) {
    fprintf(stderr, "gc_alloc(%zu) failed\n", n);
    abort();
  }
  return p;
}

/* ---- PRNG (splitmix64) --------------------------------------------------- */

typedef struct st_rng {
  uint64_t s;
} st_rng;

static inline uint64_t st_next(st_rng *r) {
  r->s += 0x9e3779b97f4a7c15ull;
  return st_mix(r->s);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t st_below(st_rng *r, uint64_t n) { return st_next(r) % n; }

/* Uniform in [lo, hi]. */
static inline uint64_t st_range(st_rng *r, uint64_t lo, uint64_t hi) {
  return lo + st_below(r, hi - lo + 1);
}

/* log-uniform in [lo, hi]: small sizes as often as large ones per octave. */
static inline size_t st_logsize(st_rng *r, size_t lo, size_t hi) {
  int llo = 63 - __builtin_clzll(lo), lhi = 63 - __builtin_clzll(hi);
  int e = (int)st_range(r, (uint64_t)llo, (uint64_t)lhi);
  size_t base = (size_t)1 << e;
  size_t v = base + (size_t)st_below(r, base);
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

/* ---- Pointer hiding ------------------------------------------------------ */

/* Top bit set: a masked pointer is a kernel-half address, never a heap one. */
#define ST_MASK 0xc6a4a7935bd1e995ull

static inline uintptr_t st_hide(const void *p) { return (uintptr_t)p ^ (uintptr_t)ST_MASK; }
static inline void *st_unhide(uintptr_t h) { return (void *)(h ^ (uintptr_t)ST_MASK); }

/* ---- Patterned blobs ----------------------------------------------------- */

/* Word i of a patterned blob is st_pat(seed, i). */
static inline uint64_t st_pat(uint64_t seed, size_t i) { return st_mix(seed + i * 0x9e3779b97f4a7c15ull); }

static inline void st_fill_words(void *p, size_t from, size_t to, uint64_t seed) {
  uint64_t *w = p;
  for (size_t i = from; i < to; i++) w[i] = st_pat(seed, i);
}

/* Index of the first word in [from, to) that breaks the pattern, or (size_t)-1. */
static inline size_t st_check_words(const void *p, size_t from, size_t to, uint64_t seed) {
  const uint64_t *w = p;
  for (size_t i = from; i < to; i++)
    if (w[i] != st_pat(seed, i)) return i;
  return (size_t)-1;
}

/* Deterministic bytes: byte i of a blob seeded with seed. */
static inline void st_fill_bytes(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = st_pat(seed, i / 8);
    memcpy(b + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = st_pat(seed, i / 8);
    memcpy(b + i, &w, n - i);
  }
}

/* 1 if the n bytes at p are exactly st_fill_bytes(p, n, seed). */
static inline int st_check_bytes(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = st_pat(seed, i / 8), v;
    memcpy(&v, b + i, 8);
    if (v != w) return 0;
  }
  if (i < n) {
    uint64_t w = st_pat(seed, i / 8);
    if (memcmp(b + i, &w, n - i) != 0) return 0;
  }
  return 1;
}

/* ---- Garbage -------------------------------------------------------------- */

/* Allocates about `bytes` of garbage in objects of every size class (up to
 * max_size, large ones included when max_size > 32 KiB), filled with a
 * pattern that no scanner takes for a pointer (0xdb.. bytes and the like),
 * so a slot freed too early and reused here loses its contents. Some
 * scanned garbage points at older garbage (so the marker traces dead graphs
 * as well). Returns a value so the compiler keeps the work. */
static ST_NOINLINE ST_UNUSED uint64_t st_garbage(st_rng *r, size_t bytes, size_t max_size) {
  size_t done = 0;
  uint64_t acc = 0;
  void *prev = NULL;
  while (done < bytes) {
    uint64_t k = st_below(r, 1000);
    size_t n;
    if (k < 700) n = st_range(r, 1, 256);
    else if (k < 900) n = st_range(r, 257, 4096);
    else if (k < 985) n = st_range(r, 4097, 32768);
    else n = st_logsize(r, 32769, max_size > 32769 ? max_size : 32769);
    if (n > max_size) n = st_range(r, 1, max_size);
    int noscan = st_below(r, 3) == 0;
    unsigned char *p = noscan ? gc_alloc_noscan(n) : gc_alloc(n);
    if (!p) {
      fprintf(stderr, "st_garbage: allocation of %zu bytes failed\n", n);
      abort();
    }
    /* 0xd0..0xdf bytes: words 0xdXdXdX.. are non-canonical addresses. */
    memset(p, 0xd0 | (int)(k & 15), n);
    if (!noscan && n >= 2 * sizeof(void *) && (k & 3) == 0) {
      GC_STORE(((void **)p)[0], prev);
      prev = p;
    }
    acc += p[n - 1];
    done += n;
  }
  prev = NULL;
  return acc;
}

/* Overwrite 16 KiB of the stack below the caller, so stale pointers left by
 * earlier calls in the dead part of the stack are gone. */
static ST_NOINLINE ST_UNUSED void st_scrub_stack(void) {
  volatile char buf[16384];
  memset((char *)buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

/* ---- A checksummed tree ------------------------------------------------------ */

/* A balanced binary tree of scanned nodes, each owning a noscan blob of
 * 1..300 bytes (tiny objects included). A node's checksum covers its id, its
 * blob and both children's checksums, so the root's checksum covers
 * everything below it. */
struct st_node {
  struct st_node *l, *r;
  unsigned char *blob;
  uint64_t id, len, sum;
};

static inline uint64_t st_node_sum(const struct st_node *n) {
  uint64_t h = st_combine(n->id, n->len);
  h = st_combine(h, st_hash_bytes(n->blob, n->len, 33));
  h = st_combine(h, n->l ? n->l->sum : 5);
  return st_combine(h, n->r ? n->r->sum : 6);
}

static ST_UNUSED struct st_node *st_tree_build_range(uint64_t seed, size_t lo, size_t hi) {
  if (lo >= hi) return NULL;
  size_t mid = lo + (hi - lo) / 2;
  struct st_node *n = gc_alloc(sizeof *n);
  if (!n) abort();
  /* Heap stores through GC_STORE, so the tree is valid in GCMODE=barrier. */
  GC_STORE(n->l, st_tree_build_range(seed, lo, mid));
  GC_STORE(n->r, st_tree_build_range(seed, mid + 1, hi));
  n->id = st_mix(seed * 1000003 + mid);
  n->len = 1 + n->id % 300;
  GC_STORE(n->blob, (unsigned char *)gc_alloc_noscan(n->len));
  if (!n->blob) abort();
  st_fill_bytes(n->blob, n->len, n->id);
  n->sum = st_node_sum(n);
  return n;
}

/* A tree of `count` nodes; its root's sum is the expected checksum. */
static ST_NOINLINE ST_UNUSED struct st_node *st_tree_build(uint64_t seed, size_t count) {
  return st_tree_build_range(seed, 0, count);
}

/* Recomputes every checksum below n. Returns the number of bad nodes found
 * (reporting the first few with `what`), adds the node count to *count. */
static ST_UNUSED long st_tree_check_rec(const struct st_node *n, size_t *count, int depth, const char *what) {
  if (!n) return 0;
  if (depth > 64) {
    fprintf(stderr, "%s: tree deeper than 64 at %p\n", what, (const void *)n);
    return 1;
  }
  long bad = 0;
  (*count)++;
  if (n->len < 1 || n->len > 300 || n->len != 1 + n->id % 300 || !n->blob) {
    fprintf(stderr, "%s: node %p: bad header (id %#llx len %llu blob %p)\n", what, (const void *)n,
            (unsigned long long)n->id, (unsigned long long)n->len, (void *)n->blob);
    return 1;
  }
  if (!st_check_bytes(n->blob, n->len, n->id)) {
    fprintf(stderr, "%s: node %p: blob %p corrupted\n", what, (const void *)n, (void *)n->blob);
    bad++;
  }
  bad += st_tree_check_rec(n->l, count, depth + 1, what);
  bad += st_tree_check_rec(n->r, count, depth + 1, what);
  if (st_node_sum(n) != n->sum) {
    if (bad == 0) fprintf(stderr, "%s: node %p: checksum mismatch\n", what, (const void *)n);
    bad++;
  }
  return bad;
}

/* 0 if the tree at root has `count` nodes, checksum `sum` and every node
 * intact; otherwise the number of problems (printed). */
static ST_NOINLINE ST_UNUSED long st_tree_check(const struct st_node *root, uint64_t sum, size_t count, const char *what) {
  if (!root) {
    fprintf(stderr, "%s: root is NULL\n", what);
    return 1;
  }
  size_t n = 0;
  long bad = st_tree_check_rec(root, &n, 0, what);
  if (n != count) {
    fprintf(stderr, "%s: %zu nodes, expected %zu\n", what, n, count);
    bad++;
  }
  if (root->sum != sum) {
    fprintf(stderr, "%s: root checksum %#llx, expected %#llx\n", what, (unsigned long long)root->sum,
            (unsigned long long)sum);
    bad++;
  }
  return bad;
}

/* ---- Census of a live set ---------------------------------------------------- */

/* A shadow of a set of objects: how many, and the xor and the sum of their
 * ids (an object lost or counted twice changes at least one of them). A test
 * keeps one in libc memory, updated as objects are born and forgotten, and
 * compares it with one taken by walking its structures. */
typedef struct st_census {
  uint64_t count, idxor, idsum;
} st_census_t;

static inline void st_census_add(st_census_t *c, uint64_t id) {
  c->count++;
  c->idxor ^= id;
  c->idsum += id;
}

static inline void st_census_remove(st_census_t *c, uint64_t id) {
  c->count--;
  c->idxor ^= id;
  c->idsum -= id;
}

/* 1 if a and b have the same ids (by xor and sum), whatever their counts. */
static inline int st_census_same_ids(const st_census_t *a, const st_census_t *b) {
  return a->idxor == b->idxor && a->idsum == b->idsum;
}

/* 1 if a and b agree in count and ids. */
static inline int st_census_same(const st_census_t *a, const st_census_t *b) {
  return a->count == b->count && st_census_same_ids(a, b);
}

/* "same" or "differs", for a report of a census mismatch: the id set of a
 * against b's. */
static inline ST_UNUSED const char *st_census_idset(const st_census_t *a, const st_census_t *b) {
  return st_census_same_ids(a, b) ? "same" : "differs";
}

/* ---- Statistics and time ----------------------------------------------------- */

static ST_NOINLINE ST_UNUSED uint32_t st_num_gc(void) {
  static __thread gc_memstats m; /* 6 KiB: not on small thread stacks */
  gc_read_memstats(&m);
  return m.num_gc;
}

static ST_NOINLINE ST_UNUSED void st_stats(uint64_t *heap_alloc, uint64_t *heap_sys, uint64_t *heap_inuse) {
  static __thread gc_memstats m;
  gc_read_memstats(&m);
  if (heap_alloc) *heap_alloc = m.heap_alloc;
  if (heap_sys) *heap_sys = m.heap_sys;
  if (heap_inuse) *heap_inuse = m.heap_inuse;
}

/* The marking mode's GCMODE name. */
static inline ST_UNUSED const char *st_mode_name(gc_mode_t m) {
  return m == GC_MODE_CONCURRENT ? "concurrent" : m == GC_MODE_BARRIER ? "barrier" : "stw";
}

/* Defines `static void bad(const char *fmt, ...)` for a stress test: a
 * failed check is counted in COUNT (an atomic_long); the first
 * ST_MAX_REPORTS are printed with the test's NAME, the marking mode and the
 * cycle number, and then STOP (an atomic_int) is raised so the workers wind
 * down instead of flooding the log. */
#define ST_MAX_REPORTS 40
#define ST_DEFINE_BAD(NAME, COUNT, STOP)                                              \
  static void bad(const char *fmt, ...) {                                             \
    long n_ = atomic_fetch_add(&(COUNT), 1);                                          \
    if (n_ >= ST_MAX_REPORTS) return;                                                 \
    va_list ap_;                                                                      \
    va_start(ap_, fmt);                                                               \
    fprintf(stderr, NAME ": ");                                                       \
    vfprintf(stderr, fmt, ap_);                                                       \
    va_end(ap_);                                                                      \
    fprintf(stderr, " (mode %s, num_gc %u)\n", st_mode_name(gc_get_mode()), st_num_gc()); \
    if (n_ + 1 >= ST_MAX_REPORTS) atomic_store(&(STOP), 1);                           \
  }

static inline double st_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Environment knob for longer local runs: STRESS_SCALE=N multiplies the
 * amount of work (default 1). */
static inline ST_UNUSED double st_scale(void) {
  const char *s = getenv("STRESS_SCALE");
  double v = s ? atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

static inline ST_UNUSED uint64_t st_seed(void) {
  const char *s = getenv("STRESS_SEED");
  if (s) return strtoull(s, NULL, 0);
  return 0x7ea5eed5u;
}

/* ---- Watchdog ------------------------------------------------------------------ */

/* A plain pthread, unknown to the collector (it never calls into it), that
 * aborts the process with a message if it is still running after `seconds`:
 * a deadlocked collector then fails fast with a core dump instead of waiting
 * for ctest's timeout. */
static const char *st_watchdog_name;
static unsigned st_watchdog_seconds;

static void *st_watchdog_main(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < st_watchdog_seconds; i++) sleep(1);
  static const char msg[] = ": watchdog: still running, probably deadlocked; aborting\n";
  ssize_t w = write(2, st_watchdog_name, strlen(st_watchdog_name));
  w = write(2, msg, sizeof msg - 1);
  (void)w;
  abort();
  return NULL;
}

static ST_UNUSED void st_watchdog_start(const char *name, unsigned seconds) {
  st_watchdog_name = name;
  st_watchdog_seconds = seconds;
  pthread_t t;
  if (pthread_create(&t, NULL, st_watchdog_main, NULL) == 0) pthread_detach(t);
}

#endif /* TC_STRESS_UTIL_H */
