/*
 * benchmem.c - gc_benchmem: ns/op, B/op and allocs/op of a function, the
 * way `go test -bench -benchmem` measures a benchmark (testing/benchmark.go,
 * B.launch and B.runN).
 *
 * Algorithm:
 *   1. runN(n): gc_collect(); read MemStats; call fn n times, timed with
 *      the monotonic clock; read MemStats. The run's allocations are the
 *      Mallocs delta, its bytes the TotalAlloc delta (slot sizes, as Go).
 *      Reading MemStats stops the world, outside the timed region.
 *   2. launch: runN(1); then, while the last run was shorter than the
 *      target and n < 1e9: predict n = target * last_n / last_ns (multiply
 *      first so fast functions are not rounded to 0), add 20%, cap at 100x
 *      the last n, at least last n + 1, at most 1e9; runN(n).
 *   3. The result is the last run; per-op figures are integer divisions for
 *      bytes and allocations (Go's AllocedBytesPerOp, AllocsPerOp) and a
 *      float for ns.
 * Allocations made by other threads during a run are counted too, as in Go.
 */
#include <errno.h>
#include <string.h>

#include <tricolor.h>

#include "os.h"

#define MAX_ITERATIONS 1000000000ULL

typedef struct run {
  uint64_t n, ns, bytes, allocs;
} run_t;

static run_t run_n(void (*fn)(void *), void *arg, uint64_t n) {
  gc_memstats before, after;
  gc_collect();
  gc_read_memstats(&before);
  uint64_t t0 = tc_nanotime();
  for (uint64_t i = 0; i < n; i++) fn(arg);
  uint64_t t1 = tc_nanotime();
  gc_read_memstats(&after);
  run_t r = {n, t1 - t0, after.total_alloc - before.total_alloc, after.mallocs - before.mallocs};
  return r;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

__attribute__((visibility("default"))) int gc_benchmem(void (*fn)(void *arg), void *arg,
                                                       uint64_t benchtime_ns,
                                                       gc_benchmem_t *out) {
  if (fn == NULL || out == NULL) {
    errno = EINVAL;
    return -1;
  }
  uint64_t goal = benchtime_ns ? benchtime_ns : 1000000000ULL;
  run_t r = run_n(fn, arg, 1);
  while (r.ns < goal && r.n < MAX_ITERATIONS) {
    uint64_t last = r.n;
    uint64_t prev_ns = r.ns ? r.ns : 1;
    /* goal * last fits: goal is at most ~1.8e10 s in practice and last
     * at most 1e9; saturate rather than wrap otherwise. */
    unsigned __int128 want = (unsigned __int128)goal * last / prev_ns;
    uint64_t n = want > MAX_ITERATIONS ? MAX_ITERATIONS : (uint64_t)want;
    n += n / 5;
    n = min_u64(n, 100 * last);
    n = max_u64(n, last + 1);
    n = min_u64(n, MAX_ITERATIONS);
    r = run_n(fn, arg, n);
  }
  memset(out, 0, sizeof *out);
  out->n = r.n;
  out->ns = r.ns;
  out->bytes = r.bytes;
  out->allocs = r.allocs;
  out->ns_per_op = (double)r.ns / (double)r.n;
  out->bytes_per_op = r.bytes / r.n;
  out->allocs_per_op = r.allocs / r.n;
  return 0;
}
