/*
 * showcase.c - tricolor at work on a small in-memory service.
 *
 * `make demo` runs this program. It plays four phases a long-running server
 * goes through and prints, for every collection cycle, what the collector
 * did, read back through gc_read_memstats():
 *
 *   1. index     build a long-lived hash map of records (string keys from
 *                gc_strdup, payloads from gc_alloc_noscan), then update it;
 *   2. requests  two worker threads (gc_pthread_create) serve requests that
 *                build temporary trees and lists and drop them;
 *   3. cache     a cache grows while requests go on, then is cleared;
 *   4. leak      every request appends to a list that is never trimmed.
 *
 * Nothing is ever freed by hand. Everything the program keeps hangs off a
 * few globals (the data segment is a root) or the stacks of its threads.
 * At the end it verifies every byte it kept (checksums), checks that the
 * heap holds what it should after a full gc_collect(), and exits non-zero
 * if anything is wrong. The workload is deterministic (fixed-seed PRNG);
 * timings are not.
 *
 * Usage: showcase [scale]   (scale, default 1.0, multiplies every size)
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tricolor.h>

#define MIB (1024.0 * 1024.0)
#define NWORKERS 2

/* Workload sizes at scale 1.0 (about 590 MiB allocated in all). */
static double scale = 1.0;
static size_t n_records = 30000;       /* phase 1: records in the index */
static size_t n_updates = 30000;       /* phase 1: payload replacements */
static size_t n_requests = 8000;       /* phase 2: requests, all workers */
static uint64_t cache_target = 24u << 20; /* phase 3: bytes of cached values */
static uint64_t leak_target = 32u << 20;  /* phase 4: bytes leaked */

static const uint64_t SEED = 0x747269636f6c6f72ull; /* "tricolor" */

/* ---- Small helpers ------------------------------------------------------ */

typedef struct {
  uint64_t s;
} rng_t;

/* splitmix64: tiny, fast, and good enough to drive a workload. */
static uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rng_below(rng_t *r, uint64_t n) { return rng_next(r) % n; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

/* Fill n bytes (a multiple of 8) with a stream fixed by seed, and checksum
 * n bytes; a blob is intact when sum(blob) == expected_sum(seed, n). */
static void fill_blob(uint8_t *p, size_t n, uint64_t seed) {
  rng_t r = {seed};
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = rng_next(&r);
    memcpy(p + i, &w, 8);
  }
}

static uint64_t sum_blob(const uint8_t *p, size_t n) {
  uint64_t h = n;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
  }
  return h;
}

static uint64_t expected_sum(uint64_t seed, size_t n) {
  rng_t r = {seed};
  uint64_t h = n;
  for (size_t i = 0; i < n; i += 8) h = (h ^ rng_next(&r)) * 0x9e3779b97f4a7c15ull;
  return h;
}

static int failures; /* checks that failed (main thread) */
static atomic_int request_failures;

#define FAIL(...)                          \
  do {                                     \
    fprintf(stderr, "showcase: FAILED: "); \
    fprintf(stderr, __VA_ARGS__);          \
    fputc('\n', stderr);                   \
    failures++;                            \
  } while (0)

static void out_of_memory(const char *what) {
  fprintf(stderr, "showcase: out of memory allocating %s (errno %d)\n", what, errno);
  exit(2);
}

/* ---- Cycle monitor: one line per completed cycle --------------------------
 *
 * gc_read_memstats() is sampled about every millisecond. A cycle is seen when
 * num_gc moves; its line is printed once the next cycle is seen (or the phase
 * ends), so that "after" can be the lowest heap_alloc sampled in between:
 * sweeping runs after the cycle, and the heap shrinks while it does. */

struct cycle {
  uint32_t n;
  uint64_t before, goal_before, goal_after, pause_ns, total_pause_ns;
  int forced;
};

static struct {
  gc_memstats ms; /* the last sample */
  uint32_t seen_gc, seen_forced;
  uint64_t lo, hi, lo_objects, goal;
  int pending;
  struct cycle cyc;
  double last_poll;
  /* The current phase. */
  uint32_t ph_gc, ph_forced;
  uint64_t ph_total_alloc, ph_max_pause;
  double ph_t0;
} mon;

static int g_percent; /* GCPERCENT in force (negative: off) */

/* The heap the cycle marked live, from the pacing rule next_gc = marked *
 * (1 + GCPERCENT/100); unknown at the 4 MiB floor or with GCPERCENT=off. */
static void format_marked(char *buf, size_t n, uint64_t next_gc) {
  if (g_percent < 0 || next_gc <= (4u << 20))
    snprintf(buf, n, "%5s", "-");
  else
    snprintf(buf, n, "%5.1f", next_gc / (1 + g_percent / 100.0) / MIB);
}

static void print_cycle(const struct cycle *c, int sampled, uint64_t after,
                        uint64_t objects) {
  char marked[16];
  format_marked(marked, sizeof marked, c->goal_after);
  if (sampled)
    printf("   gc %3u  heap %5.1f -> %5.1f  marked %s  goal %5.1f -> %5.1f MiB  "
           "pause %6.0f us  total %6.1f ms  objects %7" PRIu64 "%s\n",
           c->n, c->before / MIB, after / MIB, marked, c->goal_before / MIB,
           c->goal_after / MIB, c->pause_ns / 1e3, c->total_pause_ns / 1e6,
           objects, c->forced ? "  forced" : "");
  else
    printf("   gc %3u  (began and ended between two samples)  pause %6.0f us%s\n",
           c->n, c->pause_ns / 1e3, c->forced ? "  forced" : "");
}

static void flush_cycle(void) {
  if (mon.pending) print_cycle(&mon.cyc, 1, mon.lo, mon.lo_objects);
  mon.pending = 0;
}

static void poll_stats(void) {
  gc_memstats *m = &mon.ms;
  gc_read_memstats(m);
  mon.last_poll = now_s();
  if (m->num_gc == mon.seen_gc) {
    if (m->heap_alloc < mon.lo) {
      mon.lo = m->heap_alloc;
      mon.lo_objects = m->heap_objects;
    }
    if (m->heap_alloc > mon.hi) mon.hi = m->heap_alloc;
    mon.goal = m->next_gc;
    return;
  }
  flush_cycle();
  uint32_t last = m->num_gc, nforced = m->num_forced_gc - mon.seen_forced;
  uint32_t first = mon.seen_gc + 1;
  if (last - first >= 256) { /* only the last 256 pauses are kept */
    printf("   (%u cycles not shown)\n", last - 255 - first);
    first = last - 255;
  }
  for (uint32_t k = first; k != last + 1; k++) {
    struct cycle c = {
        .n = k,
        .pause_ns = m->pause_ns[(k + 255) % 256],
        .forced = last - k < nforced,
    };
    if (c.pause_ns > mon.ph_max_pause) mon.ph_max_pause = c.pause_ns;
    if (k != last) {
      print_cycle(&c, 0, 0, 0);
      continue;
    }
    c.before = m->heap_alloc > mon.hi ? m->heap_alloc : mon.hi;
    c.goal_before = mon.goal;
    c.goal_after = m->next_gc;
    c.total_pause_ns = m->pause_total_ns;
    mon.cyc = c;
    mon.pending = 1;
  }
  mon.seen_gc = last;
  mon.seen_forced = m->num_forced_gc;
  mon.lo = mon.hi = m->heap_alloc;
  mon.lo_objects = m->heap_objects;
  mon.goal = m->next_gc;
}

/* The first sample: cycles before it are not reported. */
static void mon_init(void) {
  gc_read_memstats(&mon.ms);
  mon.seen_gc = mon.ms.num_gc;
  mon.seen_forced = mon.ms.num_forced_gc;
  mon.lo = mon.hi = mon.ms.heap_alloc;
  mon.lo_objects = mon.ms.heap_objects;
  mon.goal = mon.ms.next_gc;
  mon.last_poll = now_s();
}

/* Called often from allocation loops; samples at most once a millisecond. */
static void maybe_poll(void) {
  if (now_s() - mon.last_poll >= 0.001) poll_stats();
}

static void phase_begin(int no, const char *name, const char *what,
                        const char *expect) {
  poll_stats();
  flush_cycle();
  printf("\n== phase %d/4: %s - %s\n", no, name, what);
  printf("   %s\n", expect);
  mon.ph_gc = mon.ms.num_gc;
  mon.ph_forced = mon.ms.num_forced_gc;
  mon.ph_total_alloc = mon.ms.total_alloc;
  mon.ph_max_pause = 0;
  mon.ph_t0 = now_s();
}

static void phase_end(void) {
  poll_stats();
  flush_cycle();
  const gc_memstats *m = &mon.ms;
  printf("   summary: allocated %.1f MiB in %.2f s, %u cycles (%u forced), "
         "max pause %.0f us; heap_alloc %.1f MiB, heap_inuse %.1f MiB, "
         "heap_sys %.1f MiB\n",
         (m->total_alloc - mon.ph_total_alloc) / MIB, now_s() - mon.ph_t0,
         m->num_gc - mon.ph_gc, m->num_forced_gc - mon.ph_forced,
         mon.ph_max_pause / 1e3, m->heap_alloc / MIB, m->heap_inuse / MIB,
         m->heap_sys / MIB);
}

/* ---- Phase 1: the index ------------------------------------------------ */

struct record {
  struct record *next; /* bucket chain */
  char *key;           /* gc_strdup: noscan */
  uint8_t *payload;    /* gc_alloc_noscan: never scanned */
  uint64_t sum;        /* checksum of the payload */
  uint32_t id, len, version;
};

static struct {
  struct record **buckets;
  size_t nbuckets, count;
} g_index; /* a global: everything reachable from here stays alive */

static const char *const words[] = {
    "apple", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor",
    "iris",  "jade",  "kelp",  "lumen", "maple", "nova",  "opal",  "pine"};

static void make_key(char *buf, size_t n, uint32_t id) {
  snprintf(buf, n, "user:%06u:%s", id, words[id % 16]);
}

static uint64_t payload_seed(uint32_t id, uint32_t version) {
  return SEED ^ ((uint64_t)id << 20) ^ version;
}

static struct record *index_get(const char *key) {
  uint64_t h = hash_str(key);
  for (struct record *r = g_index.buckets[h & (g_index.nbuckets - 1)]; r; r = r->next)
    if (strcmp(r->key, key) == 0) return r;
  return NULL;
}

static void index_grow(void) {
  size_t n = g_index.nbuckets ? g_index.nbuckets * 2 : 1024;
  struct record **b = gc_calloc(n, sizeof *b);
  if (!b) out_of_memory("index buckets");
  for (size_t i = 0; i < g_index.nbuckets; i++) {
    struct record *r = g_index.buckets[i], *next;
    for (; r; r = next) {
      next = r->next;
      uint64_t h = hash_str(r->key) & (n - 1);
      r->next = b[h];
      b[h] = r;
    }
  }
  g_index.buckets = b; /* the old table is garbage now */
  g_index.nbuckets = n;
}

/* A new payload for r: the old one becomes garbage. */
static void set_payload(struct record *r, rng_t *rng) {
  r->version++;
  r->len = 8 * (4 + rng_below(rng, 93)); /* 32..768 bytes */
  uint8_t *p = gc_alloc_noscan(r->len);
  if (!p) out_of_memory("payload");
  fill_blob(p, r->len, payload_seed(r->id, r->version));
  r->sum = sum_blob(p, r->len);
  r->payload = p;
}

static void index_put(uint32_t id, rng_t *rng) {
  char key[48];
  make_key(key, sizeof key, id);
  if (g_index.count >= g_index.nbuckets) index_grow();
  struct record *r = gc_alloc(sizeof *r);
  if (!r) out_of_memory("record");
  r->key = gc_strdup(key);
  if (!r->key) out_of_memory("key");
  r->id = id;
  set_payload(r, rng);
  uint64_t h = hash_str(key) & (g_index.nbuckets - 1);
  r->next = g_index.buckets[h];
  g_index.buckets[h] = r;
  g_index.count++;
}

static void phase_index(void) {
  phase_begin(1, "index", "a long-lived hash map of records",
              "The live heap grows with the index, so each cycle's goal "
              "(next_gc) grows with it:\n   a cycle starts when the heap has "
              "grown GCPERCENT% past what the last one marked.\n   "
              "Then every payload is replaced once; the old ones are garbage.");
  rng_t rng = {SEED ^ 1};
  for (uint32_t id = 0; id < n_records; id++) {
    index_put(id, &rng);
    maybe_poll();
  }
  for (size_t i = 0; i < n_updates; i++) {
    char key[48];
    make_key(key, sizeof key, (uint32_t)rng_below(&rng, n_records));
    struct record *r = index_get(key);
    if (!r) {
      FAIL("index lost %s while updating", key);
      break;
    }
    set_payload(r, &rng);
    maybe_poll();
  }
  phase_end();
  printf("   index: %zu records in %zu buckets\n", g_index.count, g_index.nbuckets);
}

/* ---- Phase 2: requests ------------------------------------------------- */

struct tnode { /* a temporary binary search tree */
  struct tnode *left, *right;
  uint64_t key;
  struct record *rec;
};

struct frag { /* a temporary list of response fragments */
  struct frag *next;
  char *text;
};

static struct tnode *tree_insert(struct tnode *root, struct tnode *n) {
  if (!root) return n;
  for (struct tnode *p = root;;) {
    struct tnode **slot = n->key < p->key ? &p->left : &p->right;
    if (!*slot) {
      *slot = n;
      return root;
    }
    p = *slot;
  }
}

/* In-order walk: counts nodes, sums them, checks the order. */
static void tree_walk(const struct tnode *t, size_t *count, uint64_t *sum,
                      uint64_t *prev, int *ordered) {
  if (!t) return;
  tree_walk(t->left, count, sum, prev, ordered);
  if (t->key < *prev) *ordered = 0;
  *prev = t->key;
  ++*count;
  *sum += t->key ^ t->rec->sum;
  tree_walk(t->right, count, sum, prev, ordered);
}

/* One request: look records up, build a tree and a list and a response
 * buffer, check them, drop them. Returns a digest of the work (0 on error). */
static uint64_t serve_request(rng_t *rng) {
  char key[48];
  size_t n = 64 + rng_below(rng, 1025);
  struct tnode *root = NULL;
  uint64_t want = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t id = (uint32_t)rng_below(rng, n_records);
    make_key(key, sizeof key, id);
    struct record *rec = index_get(key);
    if (!rec || rec->id != id) {
      fprintf(stderr, "showcase: request: %s not found in the index\n", key);
      return 0;
    }
    struct tnode *t = gc_alloc(sizeof *t);
    if (!t) out_of_memory("tree node");
    t->key = rng_next(rng);
    t->rec = rec;
    root = tree_insert(root, t);
    want += t->key ^ rec->sum;
  }

  struct frag *head = NULL;
  uint64_t fwant = 0;
  size_t nfrag = 8 + rng_below(rng, 57);
  for (size_t i = 0; i < nfrag; i++) {
    char text[64];
    snprintf(text, sizeof text, "item-%" PRIu64 "=%016" PRIx64 ";",
             (uint64_t)i, rng_next(rng));
    struct frag *f = gc_alloc(sizeof *f);
    if (!f) out_of_memory("fragment");
    f->text = gc_strdup(text);
    if (!f->text) out_of_memory("fragment text");
    f->next = head;
    head = f;
    fwant += hash_str(text);
  }

  /* A response buffer: usually small, one in 32 a large object. */
  size_t blen = rng_below(rng, 32) == 0 ? 65536 + 8 * rng_below(rng, 57344)
                                        : 1024 + 8 * rng_below(rng, 1920);
  uint8_t *buf = gc_alloc_noscan(blen);
  if (!buf) out_of_memory("response buffer");
  fill_blob(buf, blen, want);

  size_t count = 0;
  uint64_t got = 0, prev = 0;
  int ordered = 1;
  tree_walk(root, &count, &got, &prev, &ordered);
  uint64_t fgot = 0;
  for (struct frag *f = head; f; f = f->next) fgot += hash_str(f->text);
  if (count != n || got != want || !ordered || fgot != fwant ||
      sum_blob(buf, blen) != expected_sum(want, blen)) {
    fprintf(stderr, "showcase: request: temporary data corrupted (tree %zu/%zu "
            "nodes, sum %s, order %s, list %s)\n", count, n,
            got == want ? "ok" : "BAD", ordered ? "ok" : "BAD",
            fgot == fwant ? "ok" : "BAD");
    return 0;
  }
  return want ^ fwant ^ blen;
}

struct worker {
  pthread_t thread;
  int no;
  size_t requests;
  uint64_t digest;
  atomic_int done;
};
static struct worker g_workers[NWORKERS];

static void *worker_main(void *arg) {
  struct worker *w = arg;
  rng_t rng = {SEED ^ (0x100 + w->no)};
  for (size_t i = 0; i < w->requests; i++) {
    uint64_t d = serve_request(&rng);
    if (!d) atomic_fetch_add(&request_failures, 1);
    w->digest += d;
  }
  atomic_store(&w->done, 1);
  return NULL;
}

static uint64_t g_digest; /* digest of every request served */
static size_t g_served;

static void phase_requests(void) {
  phase_begin(2, "requests", "two worker threads serve requests",
              "Each request builds a tree of 64..1088 nodes, a list of "
              "strings and a response buffer,\n   checks them and drops them. "
              "The live heap is the index alone, so the goal stays flat\n   "
              "and every cycle hands back about what the last one let grow.");
  for (int i = 0; i < NWORKERS; i++) {
    g_workers[i].no = i;
    g_workers[i].requests = n_requests / NWORKERS;
    int err = gc_pthread_create(&g_workers[i].thread, NULL, worker_main, &g_workers[i]);
    if (err) {
      fprintf(stderr, "showcase: gc_pthread_create: %s\n", strerror(err));
      exit(2);
    }
  }
  /* The main thread only watches; it samples the stats while it waits. */
  for (;;) {
    int all = 1;
    for (int i = 0; i < NWORKERS; i++) all &= atomic_load(&g_workers[i].done);
    if (all) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL); /* EINTR (the collector's signals) is fine */
    poll_stats();
  }
  for (int i = 0; i < NWORKERS; i++) {
    pthread_join(g_workers[i].thread, NULL);
    g_digest += g_workers[i].digest;
    g_served += g_workers[i].requests;
  }
  phase_end();
}

/* ---- Phase 3: a cache that grows and is cleared ------------------------ */

struct centry {
  uint64_t key;
  uint8_t *value; /* noscan */
  uint32_t len;
  uint64_t sum;
};

static struct {
  struct centry **slots; /* grown with gc_realloc */
  size_t n, cap;
  uint64_t bytes;
} g_cache;

__attribute__((noinline)) static void cache_put(rng_t *rng) {
  if (g_cache.n == g_cache.cap) {
    size_t cap = g_cache.cap ? 2 * g_cache.cap : 256;
    struct centry **s = gc_realloc(g_cache.slots, cap * sizeof *s);
    if (!s) out_of_memory("cache slots");
    g_cache.slots = s;
    g_cache.cap = cap;
  }
  struct centry *e = gc_alloc(sizeof *e);
  if (!e) out_of_memory("cache entry");
  e->key = rng_next(rng);
  e->len = 8 * (64 + rng_below(rng, 961)); /* 512..8192 bytes */
  e->value = gc_alloc_noscan(e->len);
  if (!e->value) out_of_memory("cache value");
  fill_blob(e->value, e->len, e->key);
  e->sum = sum_blob(e->value, e->len);
  g_cache.slots[g_cache.n++] = e;
  g_cache.bytes += e->len;
}

/* A cache hit: an entry put in earlier must still hold its value. */
__attribute__((noinline)) static void cache_hit(rng_t *rng) {
  if (!g_cache.n) return;
  const struct centry *e = g_cache.slots[rng_below(rng, g_cache.n)];
  if (sum_blob(e->value, e->len) != e->sum || e->sum != expected_sum(e->key, e->len))
    FAIL("cache entry %016" PRIx64 " corrupted", e->key);
}

__attribute__((noinline)) static void cache_clear(void) {
  g_cache.slots = NULL; /* every entry is unreachable now */
  g_cache.n = g_cache.cap = 0;
  g_cache.bytes = 0;
}

/* Overwrite the stack below the caller, so stale copies of pointers that
 * dead frames left there cannot keep garbage alive (conservative hygiene). */
__attribute__((noinline)) static void clear_stack(void) {
  volatile char pad[16384]; /* volatile: the stores must not be dropped */
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = 0;
}

static void phase_cache(void) {
  phase_begin(3, "cache", "a cache grows while requests go on, then is cleared",
              "The live heap climbs with the cache and the goal follows it. "
              "Clearing the cache drops\n   one pointer; the forced "
              "gc_collect() after it finds every entry unreachable.");
  rng_t rng = {SEED ^ 3};
  while (g_cache.bytes < cache_target) {
    uint64_t d = serve_request(&rng);
    if (!d) atomic_fetch_add(&request_failures, 1);
    g_digest += d;
    g_served++;
    for (int i = 0; i < 3; i++) {
      cache_put(&rng);
      cache_hit(&rng);
    }
    maybe_poll();
  }
  poll_stats();
  flush_cycle();
  size_t entries = g_cache.n;
  double cached = g_cache.bytes / MIB;
  uint64_t before = mon.ms.heap_alloc;
  cache_clear();
  clear_stack();
  gc_collect();
  poll_stats();
  flush_cycle();
  uint64_t after = mon.ms.heap_alloc;
  double freed = before > after ? (before - after) / MIB : 0;
  printf("   cache of %zu entries (%.1f MiB of values) cleared; gc_collect(): "
         "heap_alloc %.1f -> %.1f MiB\n", entries, cached, before / MIB, after / MIB);
  if (freed < 0.5 * cached)
    FAIL("clearing a %.1f MiB cache gave back only %.1f MiB", cached, freed);
  phase_end();
}

/* ---- Phase 4: a leak --------------------------------------------------- */

struct leak {
  struct leak *next;
  uint64_t seq;
  uint8_t *blob; /* noscan */
  uint32_t len;
};

static struct {
  struct leak *head;
  size_t n;
  uint64_t bytes;
} g_leak;

static uint64_t leak_seed(uint64_t seq) { return SEED ^ 0x1eaf0000ull ^ seq; }

static void leak_one(rng_t *rng) {
  struct leak *l = gc_alloc(sizeof *l);
  if (!l) out_of_memory("leak node");
  l->seq = g_leak.n;
  l->len = 8 * (32 + rng_below(rng, 481)); /* 256..4096 bytes */
  l->blob = gc_alloc_noscan(l->len);
  if (!l->blob) out_of_memory("leak blob");
  fill_blob(l->blob, l->len, leak_seed(l->seq));
  l->next = g_leak.head;
  g_leak.head = l;
  g_leak.n++;
  g_leak.bytes += l->len;
}

static void phase_leak(void) {
  phase_begin(4, "leak", "every request appends to a list nobody trims",
              "leak: the live heap keeps growing, so each cycle's goal follows "
              "it (about twice the\n   heap marked live), cycles come further "
              "apart, and heap_sys grows to hold it all.");
  rng_t rng = {SEED ^ 4};
  while (g_leak.bytes < leak_target) {
    if (g_leak.n % 4 == 0) {
      uint64_t d = serve_request(&rng);
      if (!d) atomic_fetch_add(&request_failures, 1);
      g_digest += d;
      g_served++;
    }
    leak_one(&rng);
    maybe_poll();
  }
  phase_end();
  printf("   leaked %zu nodes, %.1f MiB of blobs\n", g_leak.n, g_leak.bytes / MIB);
}

/* ---- Verification ------------------------------------------------------ */

static size_t index_bad, leak_bad; /* damage found by the last verify_live */

/* Checks every record and leak node; returns the bytes they occupy (slot
 * sizes, as gc_usable_size reports them). */
static uint64_t verify_live(const char *when) {
  uint64_t held = gc_usable_size(g_index.buckets);
  size_t bad = 0, seen = 0;
  for (uint32_t id = 0; id < n_records; id++) {
    char key[48];
    make_key(key, sizeof key, id);
    struct record *r = index_get(key);
    if (!r || r->id != id || strcmp(r->key, key) != 0 ||
        sum_blob(r->payload, r->len) != r->sum ||
        r->sum != expected_sum(payload_seed(id, r->version), r->len) ||
        gc_usable_size(r->payload) < r->len ||
        gc_base(r->payload + r->len / 2) != r->payload) {
      if (bad++ < 5) fprintf(stderr, "showcase: record %s is damaged\n", key);
      continue;
    }
    held += gc_usable_size(r) + gc_usable_size(r->key) + gc_usable_size(r->payload);
  }
  for (size_t i = 0; i < g_index.nbuckets; i++)
    for (struct record *r = g_index.buckets[i]; r; r = r->next) seen++;
  if (bad || seen != n_records)
    FAIL("%s: index has %zu records (want %zu), %zu damaged", when, seen,
         n_records, bad);
  index_bad = bad + (seen != n_records);

  size_t nleak = 0;
  bad = 0;
  uint64_t expect = g_leak.n;
  for (struct leak *l = g_leak.head; l; l = l->next, nleak++) {
    if (l->seq != --expect ||
        sum_blob(l->blob, l->len) != expected_sum(leak_seed(l->seq), l->len)) {
      if (bad++ < 5) fprintf(stderr, "showcase: leak node %zu is damaged\n", nleak);
      if (l->seq != expect) break;
      continue;
    }
    held += gc_usable_size(l) + gc_usable_size(l->blob);
  }
  if (bad || nleak != g_leak.n)
    FAIL("%s: leak list has %zu nodes (want %zu), %zu damaged", when, nleak,
         g_leak.n, bad);
  leak_bad = bad + (nleak != g_leak.n);
  return held;
}

static void verify(void) {
  printf("\n== verification\n");
  uint64_t held = verify_live("before gc_collect");
  size_t ibad = index_bad, lbad = leak_bad;
  clear_stack();
  gc_collect();
  uint64_t held2 = verify_live("after gc_collect");
  ibad += index_bad;
  lbad += leak_bad;
  gc_memstats *m = &mon.ms;
  gc_read_memstats(m);
  printf("   index: %zu records, keys and payload checksums %s, before and "
         "after gc_collect()\n", n_records, ibad ? "DAMAGED" : "intact");
  printf("   leak list: %zu nodes, checksums %s, before and after gc_collect()\n",
         g_leak.n, lbad ? "DAMAGED" : "intact");
  int rf = atomic_load(&request_failures);
  printf("   requests: %zu served, %d failed their own checks, workload "
         "digest %016" PRIx64 "\n", g_served, rf, g_digest);
  if (rf) FAIL("%d requests found their temporary data damaged", rf);
  if (held != held2) FAIL("slot sizes changed across gc_collect");
  /* After a full cycle heap_alloc is what is live: what this program holds
   * plus whatever stale pointers (stacks, registers) still pin. */
  uint64_t slack = (4u << 20) + held / 10;
  printf("   after gc_collect(): heap_alloc %.1f MiB, data held %.1f MiB "
         "(sum of gc_usable_size)\n", m->heap_alloc / MIB, held / MIB);
  if (m->heap_alloc < held)
    FAIL("heap_alloc (%" PRIu64 ") is below the bytes this program holds (%" PRIu64 ")",
         m->heap_alloc, held);
  if (m->heap_alloc > held + slack)
    FAIL("heap_alloc exceeds the data held by %.1f MiB after a full collection",
         (m->heap_alloc - held) / MIB);
  if (m->heap_objects != m->mallocs - m->frees)
    FAIL("heap_objects %" PRIu64 " != mallocs - frees %" PRIu64, m->heap_objects,
         m->mallocs - m->frees);
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1) {
    char *end;
    scale = strtod(argv[1], &end);
    if (*end || !(scale > 0 && scale <= 100)) {
      fprintf(stderr, "usage: %s [scale]   (0 < scale <= 100, default 1)\n", argv[0]);
      return 2;
    }
    n_records = (size_t)(n_records * scale) + 1;
    n_updates = (size_t)(n_updates * scale);
    n_requests = (size_t)(n_requests * scale);
    cache_target = (uint64_t)(cache_target * scale);
    leak_target = (uint64_t)(leak_target * scale);
  }
  double t0 = now_s();
  int percent = gc_set_percent(100); /* read the setting (GCPERCENT) ... */
  gc_set_percent(percent);           /* ... and put it back */
  g_percent = percent;

  printf("tricolor %d.%d.%d showcase: a small in-memory service in four phases\n",
         GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_PATCH);
  if (percent < 0)
    printf("GCPERCENT=off: no automatic cycles, only forced ones.\n");
  else
    printf("GCPERCENT=%d: a cycle starts when the heap reaches next_gc = live "
           "heap * %.2f (4 MiB minimum).\n", percent, 1 + percent / 100.0);
  printf("Scale %g, seed %016" PRIx64 ". One line per completed cycle, from "
         "gc_read_memstats(), in MiB:\n"
         "  heap A -> B   heap_alloc: highest sample before the cycle -> lowest "
         "before the next one\n"
         "                (it falls as sweeping frees what the cycle found dead)\n"
         "  marked        heap the cycle found live: next_gc / (1 + GCPERCENT/100)\n"
         "  goal A -> B   next_gc that triggered the cycle -> next_gc it set\n"
         "  pause         the cycle's stop-the-world time (pause_ns ring); "
         "total = pause_total_ns\n"
         "  objects       heap_objects at the lowest sample; 'forced' = "
         "started by gc_collect()\n",
         scale, SEED);

  mon_init();
  phase_index();
  phase_requests();
  phase_cache();
  phase_leak();
  verify();

  const gc_memstats *m = &mon.ms;
  printf("\n%u cycles (%u forced), %.2f ms paused in all, %.1f MiB allocated "
         "in %" PRIu64 " objects, %.2f s\n",
         m->num_gc, m->num_forced_gc, m->pause_total_ns / 1e6,
         m->total_alloc / MIB, m->mallocs, now_s() - t0);
  if (failures) {
    printf("FAILED: %d check%s failed (details on stderr)\n", failures,
           failures == 1 ? "" : "s");
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
