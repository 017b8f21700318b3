/*
 * profile_overhead.c - what heap profiling costs the allocator (tricolor
 * only; bench/profile_overhead.sh runs it and docs/performance.md has the
 * numbers).
 *
 * The workload is churn.c's: a ring of 100000 live objects per thread,
 * each step allocating a zeroed, scanned object of a random size in
 * [16, 256] bytes (a fixed splitmix64 sequence) and dropping the one
 * allocated 100000 steps earlier, so collections run and the sweeper frees
 * sampled objects too. The sampling rate comes from GCPROFILERATE (0 off,
 * default 524288, 1 every allocation); everything else is the default.
 *
 *   profile_overhead [--steps N] [--threads N]
 * Output: profile_overhead rate=<r> threads=<t> steps=<n> mops=<x> wall_ms=<y>
 * (mops = allocations per microsecond, all threads, over the wall time).
 */
#include "harness.h"

enum { kWindow = 100000, kMinSize = 16, kMaxSize = 256 };

static long steps = 5000000;

static void *run(void *arg) {
  uint64_t rng = 0x243f6a8885a308d3ull + (uint64_t)(intptr_t)arg * 0x13198a2e03707344ull;
  uint64_t **ring = bench_alloc(sizeof(uint64_t *) * kWindow);
  for (long s = 0; s < steps; s++) {
    size_t size = kMinSize + (size_t)(bench_rand(&rng) % (kMaxSize - kMinSize + 1));
    uint64_t *obj = bench_alloc(size);
    obj[0] = (uint64_t)s;
    ring[s % kWindow] = obj;
  }
  return ring[0];
}

int main(int argc, char **argv) {
  steps = bench_opt_long(argc, argv, "--steps", steps, 1, 1L << 40);
  int threads = (int)bench_opt_long(argc, argv, "--threads", 1, 1, 64);
  bench_init();
  const char *rate = getenv("GCPROFILERATE");
  pthread_t th[64];
  double t0 = bench_now_ms();
  for (int i = 0; i < threads; i++) gc_pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double ms = bench_now_ms() - t0;
  printf("profile_overhead rate=%s threads=%d steps=%ld mops=%.2f wall_ms=%.0f\n",
         rate ? rate : "524288", threads, steps, (double)steps * threads / (ms * 1000), ms);
  return 0;
}
