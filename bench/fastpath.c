/*
 * fastpath.c - the cost of one small allocation on a warm per-thread cache,
 * meant to be run under callgrind (see docs/performance.md):
 *
 *   valgrind --tool=callgrind --toggle-collect=fastpath_loop \
 *       --callgrind-out-file=/tmp/cg.%p ./fastpath_tricolor
 *
 * Nothing is freed and collection is off (gc_set_percent(-1) for tricolor,
 * GC_disable() for Boehm), so every call takes the allocation path only and
 * the heap simply grows: 10 M x 32 B = 320 MB of payload. A warm-up of
 * 100000 allocations first fills the caches; callgrind then counts only
 * fastpath_loop (--toggle-collect), and instructions per allocation =
 * the total Ir reported / --count. That includes the loop's own ~4
 * instructions per iteration and every amortised refill (a new span every
 * 256 objects of 32 B for tricolor, likewise for the others).
 *
 * --kind scan (default): bench_alloc (gc_alloc, GC_MALLOC, malloc+memset,
 * mi_zalloc), zeroed. --kind noscan: bench_alloc_noscan (gc_alloc_noscan,
 * GC_MALLOC_ATOMIC, malloc, mi_malloc). --count N (default 10000000),
 * --size N (default 32).
 *
 * --pairs: free each object right after allocating it (bench_free), the
 * steady state of an explicit allocator: glibc's malloc is then served from
 * its tcache, which an allocation-only loop never reaches (glibc fills the
 * tcache only on free). For the collectors bench_free is a no-op, so
 * --pairs measures the same thing as the plain loop.
 *
 * Output: fastpath alloc=<name> kind=<k>[ pairs] count=<n> size=<s> ns_per_alloc=<x>
 * (the wall-clock figure is only indicative; use callgrind's count).
 */
#include "harness.h"

static void *volatile sink;

__attribute__((noinline, noipa)) void fastpath_loop(long count, size_t size, int noscan,
                                                    int pairs) {
  if (pairs) {
    for (long i = 0; i < count; i++) {
      void *p = noscan ? bench_alloc_noscan(size) : bench_alloc(size);
      sink = p;
      bench_free(p);
    }
  } else if (noscan) {
    for (long i = 0; i < count; i++)
      sink = bench_alloc_noscan(size);
  } else {
    for (long i = 0; i < count; i++)
      sink = bench_alloc(size);
  }
}

int main(int argc, char **argv) {
  long count = bench_opt_long(argc, argv, "--count", 10000000, 1, 1L << 40);
  size_t size = (size_t)bench_opt_long(argc, argv, "--size", 32, 1, 1 << 20);
  const char *kind = bench_opt(argc, argv, "--kind");
  int noscan = kind != NULL && strcmp(kind, "noscan") == 0;
  int pairs = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--pairs") == 0)
      pairs = 1;

  bench_init();
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  gc_set_percent(-1);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  GC_disable();
#endif
  for (int i = 0; i < 100000; i++) /* warm-up, outside fastpath_loop: not counted */
    sink = noscan ? bench_alloc_noscan(size) : bench_alloc(size);
  double t0 = bench_now_ms();
  fastpath_loop(count, size, noscan, pairs);
  double t1 = bench_now_ms();
  printf("fastpath alloc=%s kind=%s%s count=%ld size=%zu ns_per_alloc=%.2f\n", BENCH_ALLOC_NAME,
         noscan ? "noscan" : "scan", pairs ? " pairs" : "", count, size,
         (t1 - t0) * 1e6 / (double)count);
  return 0;
}
