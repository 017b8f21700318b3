/*
 * pacing.c - one GCPERCENT setting over a fixed, deterministic workload: how
 * much CPU the collector takes, how large the heap grows, how many cycles run
 * and how long they pause. bench/pacing.sh sweeps GCPERCENT with it (and with
 * bench/go/pacing, the same algorithm in Go) and draws the GOGC trade-off
 * curve (docs/pacing.md).
 *
 *   pacing --percent P [--live-mib N] [--ops N] [--sample-ms N] [--seed N]
 *
 * Workload (bench/go/pacing/main.go is the same, line for line):
 *
 *  Live set: a scanned table of R records, R = N MiB / 832 B (--live-mib,
 *  default 64). A record is a list of 4 nodes; a node is 64 bytes, scanned
 *  (next, payload pointer, payload length and capacity, id, check word, two
 *  pad words); its payload is noscan, 16-255 bytes (mean slot ~144 B). The
 *  table is built with collection off, then one full collection runs
 *  (gc_collect), then gc_set_percent(P), then the churn phase starts.
 *
 *  Churn phase: --ops operations (default 1500000) on the main thread. One
 *  operation
 *   - allocates 4 short-lived objects of 16 B-4 KiB (size = b + rand % b
 *     rounded down to 8 bytes, b = 16 << (rand % 8): mean ~765 B), each
 *     either pointer-bearing (gc_alloc; slot 0 points at a random record)
 *     or noscan
 *     (gc_alloc_noscan; first and last word written), with even odds; they
 *     replace the oldest entries of two scanned rings of 4096 (one per kind),
 *     so each lives for about 2000 operations;
 *   - replaces one record chosen uniformly at random by a new one (4 nodes
 *     and payloads, ~832 B): the old record becomes garbage.
 *  About 3.9 KB allocated per operation, ~5.5 GiB at the default. Every
 *  random number comes from splitmix64 seeded with --seed (default 1), so
 *  the C and Go programs allocate the same sizes in the same order.
 *  At the end every record is checked (list length, check words, payload
 *  end words): check=ok, or exit 1.
 *
 *  Monitor thread: gc_read_memstats every --sample-ms (default 10) during the
 *  churn phase (it stops the world briefly, as Go's ReadMemStats does):
 *  peak heap_inuse, and the pause of every cycle from the pause_ns ring
 *  (fewer than 256 cycles pass between two reads; cycles missed anyway are
 *  counted in lost=).
 *
 * Output, one line on stdout (key=value):
 *   pacing impl=tricolor percent= mode= live_mib= ops= cycles= gc_cpu_fraction=
 *   peak_heap_mib= peak_rss_mib= max_pause_us= p99_pause_us= median_pause_us=
 *   wall_s= ops_per_s= cpu_s= total_alloc_mib= live_heap_mib= samples= lost=
 *   check=
 * cycles: num_gc delta over the churn phase. gc_cpu_fraction: MemStats at
 * the end (the collector's share of the available CPU since the process
 * started; the build phase runs with collection off). peak_heap_mib: the
 * largest heap_inuse sampled. peak_rss_mib: ru_maxrss. Pauses: per cycle
 * (both stops of a cycle summed, as in Go), churn-phase cycles only, p99
 * nearest-rank. wall_s, cpu_s (user + system, all threads): churn phase.
 * total_alloc_mib: bytes allocated by the churn phase (slot sizes).
 * live_heap_mib: heap_alloc after the full collection that ends the build.
 */
#include "harness.h"

#include <stdatomic.h>
#include <unistd.h>

enum {
  kChain = 4,          /* nodes per record */
  kRecordBytes = 832,  /* 4 * (64 + ~144): one record with its payloads */
  kShortPerOp = 4,     /* short-lived objects per operation */
  kRing = 4096,        /* entries per ring of short-lived objects */
};

#define MAGIC 0x9e3779b97f4a7c15ull

typedef struct Node {
  struct Node *next;
  uint8_t *data; /* noscan payload */
  size_t len, cap;
  uint64_t id;
  uint64_t check; /* id ^ MAGIC */
  uint64_t pad[2];
} Node; /* 64 bytes, like the Go struct (next, data []byte, id, check, pad) */

_Static_assert(sizeof(Node) == 64, "Node is 64 bytes");

/* Globals are roots. */
static Node **table;  /* scanned array of nrec record heads */
static long nrec;
static void **ptr_ring;       /* scanned ring of pointer-bearing objects */
static uint8_t **noscan_ring; /* scanned ring of noscan objects */
static uint64_t rng;
static uint64_t next_id = 1;

static inline uint64_t rnd(void) { return bench_rand(&rng); }

static void Fail(const char *what, uint64_t detail) {
  fprintf(stderr, "pacing: FAILED: %s (%llu)\n", what, (unsigned long long)detail);
  exit(1);
}

/* A payload of 16-255 bytes: first and last byte carry the id. */
static Node *NewNode(Node *next) {
  Node *n = gc_alloc(sizeof *n);
  size_t len = 16 + rnd() % 240;
  uint8_t *d = gc_alloc_noscan(len);
  if (n == NULL || d == NULL) bench_die("out of memory");
  n->id = next_id++;
  n->check = n->id ^ MAGIC;
  d[0] = (uint8_t)n->id;
  d[len - 1] = (uint8_t)~n->id;
  n->len = n->cap = len;
  GC_STORE(n->data, d);
  GC_STORE(n->next, next);
  return n;
}

static Node *NewRecord(void) {
  Node *head = NULL;
  for (int i = 0; i < kChain; i++) head = NewNode(head);
  return head;
}

/* ---- Monitor ----------------------------------------------------------- */

static atomic_int stop_monitor;
static gc_memstats ms;  /* monitor thread only (and main after join) */
static uint32_t seen_gc; /* num_gc up to which pauses were collected */
static uint64_t peak_inuse;
static uint64_t *pauses;
static size_t npauses, cap_pauses;
static long lost, samples;

static void Sample(void) {
  gc_read_memstats(&ms);
  samples++;
  if (ms.heap_inuse > peak_inuse) peak_inuse = ms.heap_inuse;
  uint32_t n = ms.num_gc;
  if (n - seen_gc > 256) {
    lost += (long)(n - seen_gc - 256);
    seen_gc = n - 256;
  }
  for (uint32_t c = seen_gc + 1; c <= n; c++) { /* cycle c at (c - 1) % 256 */
    if (npauses == cap_pauses) {
      cap_pauses = cap_pauses ? 2 * cap_pauses : 1024;
      pauses = realloc(pauses, cap_pauses * sizeof *pauses);
      if (pauses == NULL) bench_die("out of memory (pause records)");
    }
    pauses[npauses++] = ms.pause_ns[(c - 1) % 256];
  }
  seen_gc = n;
}

static long sample_ms = 10;

static void *Monitor(void *arg) {
  (void)arg;
  struct timespec ts = {sample_ms / 1000, (sample_ms % 1000) * 1000000L};
  while (!atomic_load_explicit(&stop_monitor, memory_order_relaxed)) {
    nanosleep(&ts, NULL);
    Sample();
  }
  return NULL;
}

static int CmpU64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* ---- Main -------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (bench_opt(argc, argv, "--percent") == NULL) {
    fprintf(stderr,
            "usage: %s --percent P [--live-mib N] [--ops N] [--sample-ms N] [--seed N]\n",
            argv[0]);
    return 2;
  }
  long percent = bench_opt_long(argc, argv, "--percent", 100, 1, 1000000);
  long live_mib = bench_opt_long(argc, argv, "--live-mib", 64, 1, 1 << 20);
  long ops = bench_opt_long(argc, argv, "--ops", 1500000, 1, 1L << 40);
  sample_ms = bench_opt_long(argc, argv, "--sample-ms", 10, 1, 10000);
  rng = (uint64_t)bench_opt_long(argc, argv, "--seed", 1, 0, 1L << 62);
  bench_init();

  /* Build the live set with collection off, then one full collection. */
  gc_set_percent(-1);
  nrec = live_mib * 1048576L / kRecordBytes;
  table = gc_calloc((size_t)nrec, sizeof *table);
  ptr_ring = gc_calloc(kRing, sizeof *ptr_ring);
  noscan_ring = gc_calloc(kRing, sizeof *noscan_ring);
  if (table == NULL || ptr_ring == NULL || noscan_ring == NULL) bench_die("out of memory");
  for (long i = 0; i < nrec; i++) GC_STORE(table[i], NewRecord());
  gc_collect();
  gc_read_memstats(&ms);
  double live_heap_mib = ms.heap_alloc / 1048576.0;
  uint32_t gc0 = ms.num_gc;
  uint64_t alloc0 = ms.total_alloc;
  seen_gc = gc0;
  peak_inuse = ms.heap_inuse;
  gc_set_percent((int)percent);

  pthread_t mon;
  if (pthread_create(&mon, NULL, Monitor, NULL) != 0) bench_die("pthread_create");

  double t0 = bench_now_ms(), c0 = bench_cpu_ms();
  unsigned pi = 0, ni = 0;
  for (long op = 0; op < ops; op++) {
    for (int k = 0; k < kShortPerOp; k++) {
      uint64_t r = rnd();
      size_t b = (size_t)16 << (r % 8);
      size_t size = (b + (r >> 8) % b) & ~(size_t)7;
      if ((r >> 40) & 1) {
        void **p = gc_alloc(size);
        if (p == NULL) bench_die("out of memory");
        GC_STORE(p[0], table[(r >> 41) % (uint64_t)nrec]);
        GC_STORE(ptr_ring[pi], p);
        pi = (pi + 1) % kRing;
      } else {
        uint8_t *p = gc_alloc_noscan(size);
        if (p == NULL) bench_die("out of memory");
        memset(p, (int)r, 8);
        memset(p + size - 8, (int)r, 8);
        GC_STORE(noscan_ring[ni], p);
        ni = (ni + 1) % kRing;
      }
    }
    uint64_t j = rnd() % (uint64_t)nrec; /* before NewRecord draws its sizes */
    GC_STORE(table[j], NewRecord());
  }
  double wall_s = (bench_now_ms() - t0) / 1e3, cpu_s = (bench_cpu_ms() - c0) / 1e3;

  atomic_store(&stop_monitor, 1);
  pthread_join(mon, NULL);
  Sample(); /* the last cycles, and the final gc_cpu_fraction */
  uint32_t cycles = ms.num_gc - gc0;

  /* Check every record. */
  for (long i = 0; i < nrec; i++) {
    int len = 0;
    for (Node *n = table[i]; n != NULL; n = n->next, len++) {
      if (n->check != (n->id ^ MAGIC)) Fail("node check word", (uint64_t)i);
      if (n->len < 16 || n->len > 255 || n->data[0] != (uint8_t)n->id ||
          n->data[n->len - 1] != (uint8_t)~n->id)
        Fail("payload", (uint64_t)i);
    }
    if (len != kChain) Fail("record length", (uint64_t)i);
  }

  qsort(pauses, npauses, sizeof *pauses, CmpU64);
  double max_us = npauses ? pauses[npauses - 1] / 1e3 : 0;
  double med_us = npauses ? pauses[(npauses - 1) / 2] / 1e3 : 0;
  size_t rank = (npauses * 99 + 99) / 100; /* nearest rank, 1-based */
  double p99_us = npauses ? pauses[rank - 1] / 1e3 : 0;
  const char *mode = gc_get_mode() == GC_MODE_CONCURRENT ? "concurrent"
                     : gc_get_mode() == GC_MODE_BARRIER  ? "barrier"
                                                         : "stw";
  printf("pacing impl=tricolor percent=%ld mode=%s live_mib=%ld ops=%ld cycles=%u "
         "gc_cpu_fraction=%.4f peak_heap_mib=%.1f peak_rss_mib=%.1f max_pause_us=%.0f "
         "p99_pause_us=%.0f median_pause_us=%.0f wall_s=%.3f ops_per_s=%.0f cpu_s=%.3f "
         "total_alloc_mib=%.0f live_heap_mib=%.1f samples=%ld lost=%ld check=ok\n",
         percent, mode, live_mib, ops, cycles, ms.gc_cpu_fraction, peak_inuse / 1048576.0,
         bench_peak_rss_kb() / 1024.0, max_us, p99_us, med_us, wall_s, ops / wall_s, cpu_s,
         (ms.total_alloc - alloc0) / 1048576.0, live_heap_mib, samples, lost);
  return 0;
}
