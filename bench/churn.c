/*
 * churn.c - small-object churn through a sliding window of live objects.
 *
 * Per thread: a ring of W = 100000 object pointers (itself allocated with
 * bench_alloc, so the collectors scan it). Step s allocates one object of a
 * random size in [16, 256] bytes (splitmix64 with a fixed seed per thread,
 * so every allocator sees the same size sequence), stamps it, and stores it
 * in slot s % W, dropping the object allocated W steps earlier: malloc and
 * mimalloc free it, the collectors just lose the pointer. The first W steps
 * only fill the ring. So the live set is a constant ~100000 objects (~14 MB
 * of payload) while 20 million objects (~2.7 GB) pass through the heap.
 *
 * Every object carries its step number and size in its first word and the
 * complement of its step number in its last word; both are checked when the
 * object leaves the window, so an allocator that hands out a live object
 * again (a collector that missed a root, say) fails the run.
 *
 * --kind scan (default): bench_alloc, zeroed and scanned (gc_alloc,
 *   GC_MALLOC, malloc+memset, mi_zalloc): the same zeroed memory from all four.
 * --kind noscan: bench_alloc_noscan, neither zeroed nor scanned
 *   (gc_alloc_noscan, GC_MALLOC_ATOMIC, malloc, mi_malloc).
 * --threads N: N threads, each running its own window for the full number
 *   of steps on the shared heap (N times the work of one thread).
 * --steps N: steps per thread (default 20000000).
 * --verbose: what the collector did (cycles, pauses, heap), on stderr.
 *
 * Output, one line on stdout (mops = allocations per microsecond, all
 * threads together, over the wall time):
 *   churn alloc=<name> threads=<n> kind=<k> mops=<x> wall_ms=<y> peak_rss_kb=<z> cpu_ms=<c>
 * (cpu_ms: user + system time of the whole process, for judging noise).
 */
#include "harness.h"

enum { kWindow = 100000, kMinSize = 16, kMaxSize = 256 };

static long steps = 20000000;
static int noscan;

static void Fail(int worker, long step, const char *what) {
  fprintf(stderr, "churn alloc=%s worker=%d step=%ld: FAILED: %s\n", BENCH_ALLOC_NAME, worker,
          step, what);
  fflush(stderr);
  exit(1);
}

static void *RunChurn(void *arg) {
  int worker = (int)(intptr_t)arg;
  uint64_t rng = 0x243f6a8885a308d3ull + (uint64_t)worker * 0x13198a2e03707344ull;
  uint64_t **ring = bench_alloc(sizeof(uint64_t *) * kWindow);

  for (long s = 0; s < steps; s++) {
    size_t size = kMinSize + (size_t)(bench_rand(&rng) % (kMaxSize - kMinSize + 1));
    uint64_t *obj = noscan ? bench_alloc_noscan(size) : bench_alloc(size);
    size_t last = size / sizeof(uint64_t) - 1;
    obj[0] = ((uint64_t)s << 9) | size;
    obj[last] = ~(uint64_t)s;

    long slot = s % kWindow;
    uint64_t *old = ring[slot];
    if (old != NULL) {
      uint64_t head = old[0];
      uint64_t old_step = head >> 9;
      size_t old_size = (size_t)(head & 511);
      if (old_step != (uint64_t)(s - kWindow) || old_size < kMinSize || old_size > kMaxSize ||
          old[old_size / sizeof(uint64_t) - 1] != ~old_step)
        Fail(worker, s, "an object in the window was overwritten");
      bench_free(old);
    }
    ring[slot] = obj;
  }

  /* Drain: the explicit allocators free what is left, as a program would. */
  for (long i = 0; i < kWindow; i++)
    bench_free(ring[i]);
  bench_free(ring);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = (int)bench_opt_long(argc, argv, "--threads", 1, 1, 64);
  steps = bench_opt_long(argc, argv, "--steps", steps, kWindow, 1L << 40);
  const char *kind = bench_opt(argc, argv, "--kind");
  int verbose = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--verbose") == 0)
      verbose = 1;
  if (kind == NULL)
    kind = "scan";
  if (strcmp(kind, "noscan") == 0)
    noscan = 1;
  else if (strcmp(kind, "scan") != 0)
    bench_die("--kind wants scan or noscan");

  bench_init();
  double t0 = bench_now_ms();
  pthread_t tid[64];
  for (int w = 1; w < threads; w++)
    if (bench_thread_create(&tid[w], RunChurn, (void *)(intptr_t)w) != 0)
      bench_die("cannot create a thread");
  RunChurn((void *)(intptr_t)0);
  for (int w = 1; w < threads; w++)
    bench_thread_join(tid[w], NULL);
  double t1 = bench_now_ms();

  if (verbose)
    bench_report_gc();
  double allocs = (double)steps * threads + threads; /* + one ring per thread */
  printf("churn alloc=%s threads=%d kind=%s mops=%.2f wall_ms=%.1f peak_rss_kb=%ld cpu_ms=%.1f\n",
         BENCH_ALLOC_NAME, threads, kind, allocs / ((t1 - t0) * 1e3), t1 - t0,
         bench_peak_rss_kb(), bench_cpu_ms());
  return 0;
}
