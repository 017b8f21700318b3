/*
 * pause.c - stop-the-world pause times over a large live heap under steady
 * churn, for tricolor (GCMODE=concurrent|barrier|stw) and Boehm GC (default
 * stop-the-world, or incremental).
 *
 *   pause_<alloc> LIVE_MIB [--min-seconds S] [--min-cycles N]
 *                 [--max-seconds S] [--incremental] [--verbose]
 *
 * Live data: a forest of complete 4-ary trees of depth 4 (341 nodes each),
 * one scanned root array pointing at the trees. A node is 56 bytes, scanned
 * (four child pointers, a pointer to its payload, two check words); its
 * payload is noscan, 56-248 bytes (16k - 8, so that both collectors round it
 * to the same 64-256 byte slot), 224 bytes per node with its payload on
 * average. LIVE_MIB (e.g. 64, 256, 1024) sets the number of trees. The
 * forest is built with collection off (fast), then one full collection runs,
 * then the steady phase starts.
 *
 * Steady phase, two threads:
 *  (a) the main thread runs churn operations. One operation allocates a
 *      short-lived list of 4 scanned nodes with noscan payloads (it replaces
 *      the oldest of 256 such lists held in a scanned ring), every second
 *      operation also a noscan buffer of 1-8 KiB (ring of 64), and replaces
 *      one live node chosen uniformly at random (a new node and payload take
 *      its children; the old one becomes garbage). ~3.4 KB allocated per
 *      operation (0.9 KB in the list, 0.2 KB in the replacement, 2.3 KB in
 *      buffers, which drive the cycle rate at little cost to the program),
 *      at whatever rate the machine allows: the rate is steady.
 *  (b) a second thread rewrites live pointers without allocating: it
 *      alternately swaps two subtrees of equal depth between two trees
 *      (t = *p; *p = *q; *q = t) and moves a subtree through a "hand" slot in
 *      another heap object (hand = *p; *p = NULL; ...; *p = *q; *q = hand;
 *      hand = NULL), so for a while the only pointer to a subtree is
 *      somewhere else. Every heap pointer store goes through BENCH_STORE
 *      (GC_STORE for tricolor). Trees are locked (spin locks outside the
 *      heap) by whoever changes them; shapes and depths never change.
 * The phase lasts until both --min-seconds (10) and --min-cycles (10) are
 * reached, or --max-seconds (60) have passed. Then the pointer thread stops
 * and every tree is checked (shape, depths, check words of every node and
 * payload), as are the short-lived lists as they leave their ring: an object
 * freed while reachable fails the run (exit 1).
 *
 * Pauses, per collection cycle completed during the steady phase:
 *  tricolor: MemStats pause_ns (per cycle, both pauses of a cycle summed;
 *      cycle k at pause_ns[k % 256]), read by a monitor thread often enough
 *      that fewer than 256 cycles pass between reads (gc_read_memstats stops
 *      the world briefly itself, so it is read every 0.25-2 s, adaptively;
 *      cycles missed anyway would be counted in lost=).
 *  boehm: GC_set_on_collection_event; one stop lasts from
 *      GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD; the stops of one
 *      collection (until GC_get_gc_no() changes) are summed, as tricolor's
 *      pause_ns does; stops= and max_stop_us= show single stops.
 *      --incremental or BENCH_BOEHM_INCREMENTAL=1: GC_enable_incremental()
 *      right after GC_INIT() (mode=incremental if Boehm accepted it).
 *
 * Output, one line on stdout:
 *   pause live=<L>MiB alloc=<a> mode=<m> cycles=<n> max_us= p99_us=
 *   median_us= mean_us= total_pause_ms= wall_s= ops_per_s= rss_mib= ...
 * p99 is nearest-rank (the maximum when there are fewer than 100 cycles).
 * Extra fields: lost (tricolor cycles whose pause fell out of the ring),
 * mut_ops_per_s (pointer rewrites per second), op_max_us / mut_gap_max_us
 * (longest single churn operation / longest gap between two pointer
 * rewrites: what the two threads felt, pauses, assists, incremental work and
 * preemption included), stalls_1ms / stalls_10ms (churn operations that took
 * longer than 1 ms / 10 ms), build_s, nodes, heap_mib (live heap after the full
 * collection), cpu_s (user + system of the steady phase), check.
 * tricolor also prints the longest single pause of the steady phase
 * (max_single_us), its longest stopping part (max_stopping_us: from the
 * stop request until every thread had parked), and the same two for the
 * stops that are not a cycle's (max_other_us, max_other_stopping_us: the
 * monitor's gc_read_memstats), each the floor of its histogram bucket
 * (/sched/pauses/..., at most 25% below the value); -1: no such pause.
 */
#include "harness.h"

#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

enum {
  kArity = 4,
  kDepth = 4,                 /* levels below the root */
  kTreeNodes = 341,           /* (4^5 - 1) / 3 */
  kAvgNodeBytes = 64 + 160,   /* node slot + average payload slot */
  kGarbageLists = 256,        /* short-lived lists kept in a ring */
  kGarbageLen = 4,            /* nodes per short-lived list */
  kBuffers = 64,              /* noscan buffers kept in a ring */
};

#define MAGIC 0x9e3779b97f4a7c15ull
#define GMAGIC 0x5bd1e9955bd1e995ull

typedef struct Node {
  struct Node *kid[kArity];
  uint64_t *data; /* noscan payload: data[0] = meta, data[last] = ~meta */
  uint64_t meta;  /* id << 12 | size class k << 4 | depth */
  uint64_t check; /* meta ^ MAGIC */
} Node;           /* 56 bytes */

typedef struct Hand {
  Node *slot[2];
} Hand;

/* ---- Shared state (globals are roots for both collectors) ------------- */

static Node **roots;           /* scanned array of ntrees tree roots */
static long ntrees;
static atomic_uchar *locks;    /* one spin lock per tree (malloc: no pointers) */
static Hand *hand;             /* scanned: where a subtree waits while moved */
static Node **garbage;         /* scanned ring of short-lived lists */
static uint64_t **buffers;     /* scanned ring of noscan buffers */
static uint64_t next_id = 1;   /* main thread only */
static int verbose;

static atomic_int stop_mutator;
static atomic_long mut_ops;
static atomic_long mut_gap_max_ns;

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void Fail(const char *what, uint64_t detail) {
  fprintf(stderr, "pause alloc=%s: FAILED: %s (0x%llx)\n", BENCH_ALLOC_NAME, what,
          (unsigned long long)detail);
  fflush(stderr);
  exit(1);
}

/* ---- Pause records ---------------------------------------------------- */

static uint64_t *pauses; /* per-cycle pause, ns (malloc: no heap pointers) */
static size_t npauses, cap_pauses;
static atomic_long cycles_seen; /* cycles completed during the steady phase */
static long lost;

static void push_pause(uint64_t ns) {
  if (npauses == cap_pauses) {
    cap_pauses = cap_pauses ? 2 * cap_pauses : 1024;
    pauses = realloc(pauses, cap_pauses * sizeof *pauses);
    if (pauses == NULL)
      bench_die("out of memory (pause records)");
  }
  pauses[npauses++] = ns;
}

#if BENCH_ALLOC_ID == BENCH_ID_boehm
/* Called by Boehm with its allocation lock held: no other synchronisation. */
static int boehm_recording;
static uint64_t boehm_stop_t0, boehm_cycle_acc, boehm_stop_max;
static GC_word boehm_gcno_at_stop;
static long boehm_stops;

static void GC_CALLBACK on_gc_event(GC_EventType e) {
  if (e == GC_EVENT_PRE_STOP_WORLD) {
    boehm_stop_t0 = now_ns();
    boehm_gcno_at_stop = GC_get_gc_no();
  } else if (e == GC_EVENT_POST_START_WORLD && boehm_stop_t0 != 0) {
    uint64_t d = now_ns() - boehm_stop_t0;
    boehm_stop_t0 = 0;
    if (!boehm_recording)
      return;
    boehm_stops++;
    if (d > boehm_stop_max)
      boehm_stop_max = d;
    boehm_cycle_acc += d;
    /* A stopped mark that completed a collection increments gc_no with
     * the world stopped; an abandoned one (incremental time limit) does
     * not, and its stop is added to the collection that follows. */
    if (GC_get_gc_no() != boehm_gcno_at_stop) {
      push_pause(boehm_cycle_acc);
      boehm_cycle_acc = 0;
      atomic_fetch_add_explicit(&cycles_seen, 1, memory_order_relaxed);
    }
  }
}
#endif

#if BENCH_ALLOC_ID == BENCH_ID_tricolor
/* The monitor thread: reads MemStats and collects the pause of every cycle
 * completed since the previous read. */
static gc_memstats ms;        /* ~5 KiB: static, not on a stack */
static uint32_t ms_last;      /* num_gc at the previous read */
static atomic_int stop_monitor;
static pthread_mutex_t ms_lock = PTHREAD_MUTEX_INITIALIZER;
static long ms_reads;
static uint64_t ms_read_max_ns; /* longest gc_read_memstats call (--verbose) */

/* The single pauses of the steady phase, from the pause histograms
 * (/sched/pauses/..., Go's time buckets: a value's bucket floor is at most
 * 25% below it). Snapshot at the start, difference at the end. */
enum { H_GC, H_GC_STOPPING, H_OTHER, H_OTHER_STOPPING, H_COUNT };
static const char *const hist_names[H_COUNT] = {
    "/sched/pauses/total/gc:seconds", "/sched/pauses/stopping/gc:seconds",
    "/sched/pauses/total/other:seconds", "/sched/pauses/stopping/other:seconds"};
static uint64_t *hist_start[H_COUNT];
static size_t hist_n;

static void read_hists(gc_metric_sample *s) {
  memset(s, 0, H_COUNT * sizeof *s);
  for (int h = 0; h < H_COUNT; h++)
    s[h].name = hist_names[h];
  gc_read_metrics(s, H_COUNT);
  for (int h = 0; h < H_COUNT; h++)
    if (s[h].kind != GC_METRIC_KIND_FLOAT64_HISTOGRAM)
      bench_die(hist_names[h]); /* a metric this bench needs is missing */
}

static void hists_begin(void) {
  gc_metric_sample s[H_COUNT];
  read_hists(s);
  hist_n = s[0].value.float64_histogram.ncounts;
  for (int h = 0; h < H_COUNT; h++) {
    hist_start[h] = malloc(hist_n * sizeof(uint64_t));
    if (hist_start[h] == NULL)
      bench_die("out of memory (histograms)");
    memcpy(hist_start[h], s[h].value.float64_histogram.counts, hist_n * sizeof(uint64_t));
  }
}

/* Floor (us) of the highest bucket that gained a pause since hists_begin,
 * per histogram; -1 when none did. */
static void hists_max_us(double out[H_COUNT]) {
  gc_metric_sample s[H_COUNT];
  read_hists(s);
  for (int h = 0; h < H_COUNT; h++) {
    const gc_float64_histogram *x = &s[h].value.float64_histogram;
    out[h] = -1;
    for (size_t i = 0; i < hist_n && i < x->ncounts; i++)
      if (x->counts[i] > hist_start[h][i])
        out[h] = x->buckets[i] > 0 ? x->buckets[i] * 1e6 : 0;
  }
}

static void collect_pauses(void) {
  pthread_mutex_lock(&ms_lock);
  uint64_t r0 = now_ns();
  gc_read_memstats(&ms);
  uint64_t r1 = now_ns();
  ms_reads++;
  if (r1 - r0 > ms_read_max_ns)
    ms_read_max_ns = r1 - r0;
  uint32_t n = ms.num_gc;
  for (uint32_t k = ms_last; k != n; k++) {
    if (n - k > 256) { /* overwritten in the ring before we read it */
      lost++;
      continue;
    }
    push_pause(ms.pause_ns[k % 256]);
  }
  atomic_fetch_add_explicit(&cycles_seen, (long)(n - ms_last), memory_order_relaxed);
  ms_last = n;
  pthread_mutex_unlock(&ms_lock);
}

static void *Monitor(void *arg) {
  (void)arg;
  uint64_t interval_ms = 250;
  while (!atomic_load_explicit(&stop_monitor, memory_order_relaxed)) {
    /* Sleep in 10 ms steps so the end of the phase is not delayed. */
    for (uint64_t slept = 0; slept < interval_ms; slept += 10) {
      if (atomic_load_explicit(&stop_monitor, memory_order_relaxed))
        return NULL;
      usleep(10000);
    }
    long before = atomic_load_explicit(&cycles_seen, memory_order_relaxed);
    collect_pauses();
    long delta = atomic_load_explicit(&cycles_seen, memory_order_relaxed) - before;
    if (delta > 64 && interval_ms > 50)
      interval_ms /= 2;
    else if (delta < 16 && interval_ms < 2000)
      interval_ms *= 2;
  }
  return NULL;
}
#endif

/* ---- Locks ------------------------------------------------------------ */

static inline void lock_tree(long t) {
  unsigned spins = 0;
  while (atomic_exchange_explicit(&locks[t], 1, memory_order_acquire)) {
    while (atomic_load_explicit(&locks[t], memory_order_relaxed)) {
      if (++spins > 100)
        sched_yield();
      else
        __builtin_ia32_pause();
    }
  }
}

static inline void unlock_tree(long t) {
  atomic_store_explicit(&locks[t], 0, memory_order_release);
}

/* ---- Nodes ------------------------------------------------------------ */

static inline uint64_t *new_payload(uint64_t meta, unsigned k) {
  size_t size = 16 * (size_t)k - 8;
  uint64_t *d = bench_alloc_noscan(size);
  d[0] = meta;
  d[size / 8 - 1] = ~meta;
  return d;
}

/* A node at the given depth with a fresh id and payload, no children. */
static Node *new_node(unsigned depth, uint64_t *rng) {
  unsigned k = 4 + (unsigned)(bench_rand(rng) % 13); /* payload 56..248 bytes */
  uint64_t meta = (next_id++ << 12) | (uint64_t)k << 4 | depth;
  Node *n = bench_alloc(sizeof(Node));
  BENCH_STORE(n->data, new_payload(meta, k));
  n->meta = meta;
  n->check = meta ^ MAGIC;
  return n;
}

static void check_node(const Node *n, unsigned depth) {
  if (n == NULL)
    Fail("a live node is missing", depth);
  if (n->check != (n->meta ^ MAGIC) || (n->meta & 15) != depth)
    Fail("a live node was overwritten", n->meta);
  unsigned k = (unsigned)(n->meta >> 4) & 255;
  const uint64_t *d = n->data;
  if (k < 4 || k > 16 || d == NULL || d[0] != n->meta || d[(16 * k - 8) / 8 - 1] != ~n->meta)
    Fail("a live payload was overwritten", n->meta);
}

static Node *build(unsigned depth, uint64_t *rng) {
  Node *n = new_node(depth, rng);
  if (depth < kDepth)
    for (int i = 0; i < kArity; i++)
      BENCH_STORE(n->kid[i], build(depth + 1, rng));
  return n;
}

/* Nodes under n, every one checked. */
static long check_tree(const Node *n, unsigned depth) {
  check_node(n, depth);
  if (depth == kDepth) {
    for (int i = 0; i < kArity; i++)
      if (n->kid[i] != NULL)
        Fail("a leaf has a child", n->meta);
    return 1;
  }
  long c = 1;
  for (int i = 0; i < kArity; i++)
    c += check_tree(n->kid[i], depth + 1);
  return c;
}

/* The slot holding a random node at the given depth of tree t (lock held). */
static inline Node **slot_at(long t, unsigned depth, uint64_t *rng) {
  Node **slot = &roots[t];
  uint64_t r = bench_rand(rng);
  for (unsigned l = 0; l < depth; l++, r >>= 2)
    slot = &(*slot)->kid[r & 3];
  return slot;
}

/* A depth drawn so that every node of a tree is equally likely. */
static inline unsigned uniform_depth(uint64_t *rng) {
  unsigned r = (unsigned)(bench_rand(rng) % kTreeNodes), d = 0, level = 1;
  while (r >= level) {
    r -= level;
    level *= kArity;
    d++;
  }
  return d;
}

/* ---- (a) churn: the main thread --------------------------------------- */

static long gslot, bslot;

static void check_garbage(const Node *n) {
  for (int i = 0; i < kGarbageLen; i++, n = n->kid[0]) {
    if (n == NULL || n->check != (n->meta ^ GMAGIC))
      Fail("a short-lived node was overwritten while reachable", n ? n->meta : 0);
    unsigned k = (unsigned)(n->meta >> 4) & 255;
    if (n->data[0] != n->meta || n->data[(16 * k - 8) / 8 - 1] != ~n->meta)
      Fail("a short-lived payload was overwritten while reachable", n->meta);
  }
}

static void churn_op(long op, uint64_t *rng) {
  /* Short-lived garbage: a list of scanned nodes with payloads. */
  Node *head = NULL;
  for (int i = 0; i < kGarbageLen; i++) {
    unsigned k = 4 + (unsigned)(bench_rand(rng) % 13);
    uint64_t meta = ((uint64_t)op << 12) | (uint64_t)k << 4 | 15;
    Node *n = bench_alloc(sizeof(Node));
    BENCH_STORE(n->data, new_payload(meta, k));
    n->meta = meta;
    n->check = meta ^ GMAGIC;
    BENCH_STORE(n->kid[0], head);
    head = n;
  }
  Node *old = garbage[gslot];
  if (old != NULL)
    check_garbage(old);
  BENCH_STORE(garbage[gslot], head);
  gslot = (gslot + 1) % kGarbageLists;

  if ((op & 1) == 0) {
    size_t words = 128 + (size_t)(bench_rand(rng) % 897); /* 1-8 KiB */
    uint64_t *b = bench_alloc_noscan(words * 8);
    b[0] = words;
    b[words - 1] = ~(uint64_t)words;
    const uint64_t *ob = buffers[bslot];
    if (ob != NULL && (ob[0] < 128 || ob[0] > 1024 || ob[ob[0] - 1] != ~ob[0]))
      Fail("a short-lived buffer was overwritten while reachable", ob[0]);
    BENCH_STORE(buffers[bslot], b);
    bslot = (bslot + 1) % kBuffers;
  }

  /* Replace one live node: allocate first, then link under the lock. */
  unsigned depth = uniform_depth(rng);
  Node *n = new_node(depth, rng);
  long t = (long)(bench_rand(rng) % (uint64_t)ntrees);
  lock_tree(t);
  Node **slot = slot_at(t, depth, rng);
  Node *victim = *slot;
  for (int i = 0; i < kArity; i++)
    BENCH_STORE(n->kid[i], victim->kid[i]);
  BENCH_STORE(*slot, n);
  unlock_tree(t);
}

/* ---- (b) pointer rewrites: the second thread -------------------------- */

static void *Mutator(void *arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg;
  uint64_t last = now_ns(), gap_max = 0;
  long ops = 0;
  while (!atomic_load_explicit(&stop_mutator, memory_order_relaxed)) {
    long t1 = (long)(bench_rand(&rng) % (uint64_t)ntrees);
    long t2 = (long)(bench_rand(&rng) % (uint64_t)ntrees);
    if (t1 == t2)
      continue;
    unsigned depth = (unsigned)(bench_rand(&rng) % (kDepth + 1));
    long lo = t1 < t2 ? t1 : t2, hi = t1 < t2 ? t2 : t1;
    lock_tree(lo);
    lock_tree(hi);
    Node **p = slot_at(t1, depth, &rng);
    Node **q = slot_at(t2, depth, &rng);
    if (ops & 1) {
      /* Swap: for a moment the subtree at *p is held only in a register. */
      Node *a = *p;
      BENCH_STORE(*p, *q);
      BENCH_STORE(*q, a);
    } else {
      /* Move through the hand: the only pointer to the subtree at *p is in
       * another heap object while we walk down q's subtree. */
      BENCH_STORE(hand->slot[ops & 2 ? 1 : 0], *p);
      BENCH_STORE(*p, NULL);
      const Node *w = *q;
      uint64_t sum = 0;
      for (unsigned l = depth; l < kDepth; l++) {
        sum += w->meta;
        w = w->kid[sum & 3];
      }
      if (w == NULL)
        Fail("a subtree lost its leaves", sum);
      Node *h = *(Node *volatile *)&hand->slot[ops & 2 ? 1 : 0];
      BENCH_STORE(*p, *q);
      BENCH_STORE(*q, h);
      BENCH_STORE(hand->slot[ops & 2 ? 1 : 0], NULL);
    }
    unlock_tree(hi);
    unlock_tree(lo);
    ops++;
    uint64_t now = now_ns();
    if (now - last > gap_max)
      gap_max = now - last;
    last = now;
    if ((ops & 1023) == 0)
      atomic_store_explicit(&mut_ops, ops, memory_order_relaxed);
  }
  atomic_store_explicit(&mut_ops, ops, memory_order_relaxed);
  atomic_store_explicit(&mut_gap_max_ns, (long)gap_max, memory_order_relaxed);
  return NULL;
}

/* ---- Main ------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static const char *mode_name(void) {
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  switch (gc_get_mode()) {
  case GC_MODE_CONCURRENT: return "concurrent";
  case GC_MODE_BARRIER: return "barrier";
  case GC_MODE_STW: return "stw";
  }
  return "unknown";
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  return GC_is_incremental_mode() ? "incremental" : "stw";
#else
  return "none";
#endif
}

static double heap_live_mib(void) {
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  pthread_mutex_lock(&ms_lock);
  gc_read_memstats(&ms);
  double v = ms.heap_alloc / 1048576.0;
  pthread_mutex_unlock(&ms_lock);
  return v;
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  return (double)(GC_get_heap_size() - GC_get_free_bytes()) / 1048576.0;
#else
  return 0;
#endif
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] < '0' || argv[1][0] > '9') {
    fprintf(stderr,
            "usage: %s LIVE_MIB [--min-seconds S] [--min-cycles N] [--max-seconds S]"
            " [--incremental] [--verbose]\n",
            argv[0]);
    return 2;
  }
  long live_mib = strtol(argv[1], NULL, 10);
  if (live_mib < 1 || live_mib > 65536)
    bench_die("LIVE_MIB wants 1..65536");
  double min_s = (double)bench_opt_long(argc, argv, "--min-seconds", 10, 0, 3600);
  long min_cycles = bench_opt_long(argc, argv, "--min-cycles", 10, 0, 1000000);
  double max_s = (double)bench_opt_long(argc, argv, "--max-seconds", 60, 1, 36000);
  int incremental = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--verbose") == 0)
      verbose = 1;
    if (strcmp(argv[i], "--incremental") == 0)
      incremental = 1;
  }
  const char *inc_env = getenv("BENCH_BOEHM_INCREMENTAL");
  if (inc_env != NULL && strcmp(inc_env, "1") == 0)
    incremental = 1;

  bench_init();
#if BENCH_ALLOC_ID == BENCH_ID_boehm
  if (incremental)
    GC_enable_incremental(); /* before GC_disable(): ignored while disabled */
  GC_set_on_collection_event(on_gc_event);
#else
  if (incremental)
    bench_die("--incremental is for the boehm variant");
#endif

  /* ---- Build the live forest with collection off. ---- */
  ntrees = (long)(((double)live_mib * 1048576.0 / kAvgNodeBytes) / kTreeNodes + 0.5);
  if (ntrees < 2)
    ntrees = 2;
  uint64_t rng = 0x243f6a8885a308d3ull;
  double t_build0 = bench_now_ms();
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  int old_percent = gc_set_percent(-1);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  GC_disable();
#endif
  locks = calloc((size_t)ntrees, sizeof *locks);
  if (locks == NULL)
    bench_die("out of memory (locks)");
  roots = bench_alloc((size_t)ntrees * sizeof(Node *));
  hand = bench_alloc(sizeof(Hand));
  garbage = bench_alloc(kGarbageLists * sizeof(Node *));
  buffers = bench_alloc(kBuffers * sizeof(uint64_t *));
  for (long t = 0; t < ntrees; t++)
    BENCH_STORE(roots[t], build(0, &rng));
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  gc_set_percent(old_percent);
  gc_collect();
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  GC_enable();
  GC_gcollect();
#endif
  double build_s = (bench_now_ms() - t_build0) / 1e3;
  double heap_mib = heap_live_mib();
  long nodes = ntrees * kTreeNodes;
  if (verbose)
    fprintf(stderr, "pause: %ld trees, %ld nodes, built and collected in %.2f s, heap %.1f MiB\n",
            ntrees, nodes, build_s, heap_mib);

  /* ---- Steady phase. ---- */
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  pthread_mutex_lock(&ms_lock);
  gc_read_memstats(&ms);
  ms_last = ms.num_gc;
  pthread_mutex_unlock(&ms_lock);
  hists_begin();
  pthread_t monitor;
  if (bench_thread_create(&monitor, Monitor, NULL) != 0)
    bench_die("cannot create the monitor thread");
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  boehm_recording = 1; /* a plain int read under Boehm's lock: the next
                        * collection sees it after thread creation's sync */
#endif
  pthread_t mutator;
  double cpu0 = bench_cpu_ms();
  uint64_t t0 = now_ns();
  if (bench_thread_create(&mutator, Mutator, (void *)(uintptr_t)0x13198a2e03707344ull) != 0)
    bench_die("cannot create the mutator thread");

  long op = 0;
  uint64_t op_max = 0, last = t0, t_end = t0;
  long stalls_1ms = 0, stalls_10ms = 0;
  for (;;) {
    churn_op(op++, &rng);
    uint64_t now = now_ns();
    uint64_t took = now - last;
    if (took > op_max)
      op_max = took;
    if (took > 1000000) {
      stalls_1ms++;
      if (took > 10000000)
        stalls_10ms++;
    }
    last = now;
    if ((op & 255) == 0) {
      double el = (double)(now - t0) / 1e9;
      long cyc = atomic_load_explicit(&cycles_seen, memory_order_relaxed);
      if ((el >= min_s && cyc >= min_cycles) || el >= max_s) {
        t_end = now;
        break;
      }
    }
  }
  atomic_store(&stop_mutator, 1);
  bench_thread_join(mutator, NULL);
  double cpu_s = (bench_cpu_ms() - cpu0) / 1e3;
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  atomic_store(&stop_monitor, 1);
  bench_thread_join(monitor, NULL);
  collect_pauses(); /* cycles completed up to now */
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  GC_disable(); /* no more collections (or callbacks) while we report */
  boehm_recording = 0;
#endif
  double wall_s = (double)(t_end - t0) / 1e9;
  long mops = atomic_load(&mut_ops);

  /* ---- Check everything that must be alive. ---- */
  for (long t = 0; t < ntrees; t++)
    if (check_tree(roots[t], 0) != kTreeNodes)
      Fail("a tree lost nodes", (uint64_t)t);
  for (long g = 0; g < kGarbageLists; g++)
    if (garbage[g] != NULL)
      check_garbage(garbage[g]);
  if (hand->slot[0] != NULL || hand->slot[1] != NULL)
    Fail("the hand is not empty", 0);

  /* ---- Report. ---- */
  qsort(pauses, npauses, sizeof *pauses, cmp_u64);
  double max_us = 0, p99_us = 0, med_us = 0, mean_us = 0, total_ms = 0;
  if (npauses > 0) {
    uint64_t sum = 0;
    for (size_t i = 0; i < npauses; i++)
      sum += pauses[i];
    size_t r99 = (99 * npauses + 99) / 100; /* nearest rank: ceil(0.99 n) */
    max_us = pauses[npauses - 1] / 1e3;
    p99_us = pauses[r99 - 1] / 1e3;
    med_us = (npauses % 2) ? pauses[npauses / 2] / 1e3
                           : (pauses[npauses / 2 - 1] + pauses[npauses / 2]) / 2e3;
    mean_us = (double)sum / (double)npauses / 1e3;
    total_ms = (double)sum / 1e6;
  }
  if (verbose) {
    fprintf(stderr, "pause: per-cycle pauses (us, sorted):");
    for (size_t i = 0; i < npauses; i++)
      fprintf(stderr, " %.0f", pauses[i] / 1e3);
    fprintf(stderr, "\n");
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
    fprintf(stderr, "pause: %ld MemStats reads, the longest call %.0f us\n", ms_reads,
            ms_read_max_ns / 1e3);
#endif
    bench_report_gc();
  }
  char extra[256] = "";
#if BENCH_ALLOC_ID == BENCH_ID_boehm
  snprintf(extra, sizeof extra, " stops=%ld max_stop_us=%.0f", boehm_stops, boehm_stop_max / 1e3);
#elif BENCH_ALLOC_ID == BENCH_ID_tricolor
  double hmax[H_COUNT];
  hists_max_us(hmax);
  int len = snprintf(extra, sizeof extra,
                     " max_single_us=%.0f max_stopping_us=%.0f max_other_us=%.0f"
                     " max_other_stopping_us=%.0f",
                     hmax[H_GC], hmax[H_GC_STOPPING], hmax[H_OTHER], hmax[H_OTHER_STOPPING]);
  const char *req = getenv("GCMODE");
  if (req != NULL && strcmp(req, mode_name()) != 0)
    snprintf(extra + len, sizeof extra - (size_t)len, " requested=%s", req);
#endif
  /* No completed cycle (the cap came first): no pause statistics. */
  char stats[160] = "max_us=- p99_us=- median_us=- mean_us=-";
  if (npauses > 0)
    snprintf(stats, sizeof stats, "max_us=%.0f p99_us=%.0f median_us=%.0f mean_us=%.0f", max_us,
             p99_us, med_us, mean_us);
  printf("pause live=%ldMiB alloc=%s mode=%s cycles=%zu %s total_pause_ms=%.1f wall_s=%.2f"
         " ops_per_s=%.0f rss_mib=%.0f lost=%ld mut_ops_per_s=%.0f op_max_us=%.0f"
         " stalls_1ms=%ld stalls_10ms=%ld mut_gap_max_us=%.0f build_s=%.2f nodes=%ld"
         " heap_mib=%.0f cpu_s=%.2f%s check=ok\n",
         live_mib, BENCH_ALLOC_NAME, mode_name(), npauses, stats, total_ms, wall_s,
         (double)op / wall_s, bench_peak_rss_kb() / 1024.0, lost, (double)mops / wall_s,
         op_max / 1e3, stalls_1ms, stalls_10ms, atomic_load(&mut_gap_max_ns) / 1e3, build_s, nodes,
         heap_mib, cpu_s, extra);
  return 0;
}
