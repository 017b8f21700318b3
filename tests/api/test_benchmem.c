/*
 * test_benchmem.c - gc_benchmem, Go's -benchmem measurement: exact B/op and
 * allocs/op (MemStats deltas in slot sizes, large objects in whole pages),
 * zero for a function that does not allocate, an adaptive iteration count
 * that reaches the target time, truncating per-op division, and EINVAL.
 * Short target times keep the test fast; timing is only checked loosely.
 */
#include <errno.h>
#include <stdint.h>

#include <tricolor.h>

#include "check.h"

#define MS 1000000ull

static void *volatile sink;

/* Three objects per op: 48 + 100 (slot 112) + 40000 (5 pages = 40960). */
static void three_allocs(void *arg) {
  sink = gc_alloc(48);
  sink = gc_alloc_noscan(100);
  sink = gc_alloc(40000);
}

static void no_allocs(void *arg) {
  volatile uint64_t *x = arg;
  for (int i = 0; i < 100; i++) *x += (uint64_t)i;
}

/* One object every second call: 0.5 allocs/op, truncated to 0 (n odd) or
 * exactly half the calls. */
static void every_other(void *arg) {
  unsigned *calls = arg;
  if ((*calls)++ % 2 == 0) sink = gc_alloc(16);
}

TEST(exact_bytes_and_allocs_per_op) {
  gc_benchmem_t r;
  CHECK_EQ(gc_benchmem(three_allocs, NULL, 30 * MS, &r), 0);
  CHECK_EQ(r.allocs_per_op, 3);
  CHECK_EQ(r.bytes_per_op, 48 + 112 + 40960);
  CHECK_EQ(r.allocs, 3 * r.n);
  CHECK_EQ(r.bytes, (48 + 112 + 40960) * r.n);
  CHECK(r.n > 1);
  CHECK(r.ns_per_op > 0);
  CHECK(r.ns_per_op == (double)r.ns / (double)r.n);
  fprintf(stderr, "  three_allocs: n=%llu %.1f ns/op %llu B/op %llu allocs/op\n",
          (unsigned long long)r.n, r.ns_per_op, (unsigned long long)r.bytes_per_op,
          (unsigned long long)r.allocs_per_op);
}

TEST(nothing_allocated) {
  volatile uint64_t x = 0;
  gc_benchmem_t r;
  CHECK_EQ(gc_benchmem(no_allocs, (void *)&x, 20 * MS, &r), 0);
  CHECK_EQ(r.allocs, 0);
  CHECK_EQ(r.bytes, 0);
  CHECK_EQ(r.allocs_per_op, 0);
  CHECK_EQ(r.bytes_per_op, 0);
  /* fn really ran: each call adds 0 + 1 + ... + 99, at least r.n calls. */
  CHECK(x >= 4950 * r.n);
  CHECK_EQ(x % 4950, 0);
}

TEST(adaptive_count_reaches_the_target_time) {
  volatile uint64_t x = 0;
  gc_benchmem_t r;
  CHECK_EQ(gc_benchmem(no_allocs, (void *)&x, 50 * MS, &r), 0);
  /* The last run is the first to last the target, or hit 1e9 iterations. */
  CHECK(r.ns >= 50 * MS || r.n == 1000000000ull);
  /* and the prediction (1.2x, at most 100x per step) overshoots modestly. */
  CHECK(r.ns < 50 * MS * 10);
  CHECK(r.n > 100);
}

TEST(per_op_figures_truncate) {
  unsigned calls = 0;
  gc_benchmem_t r;
  CHECK_EQ(gc_benchmem(every_other, &calls, 10 * MS, &r), 0);
  CHECK(r.allocs == r.n / 2 || r.allocs == (r.n + 1) / 2);
  CHECK_EQ(r.allocs_per_op, 0); /* 0.5 truncated, as Go's allocs/op */
  CHECK_EQ(r.bytes_per_op, r.bytes / r.n);
  CHECK_EQ(r.bytes, 16 * r.allocs);
}

TEST(bad_arguments) {
  gc_benchmem_t r;
  errno = 0;
  CHECK_EQ(gc_benchmem(NULL, NULL, MS, &r), -1);
  CHECK_EQ(errno, EINVAL);
  errno = 0;
  CHECK_EQ(gc_benchmem(three_allocs, NULL, MS, NULL), -1);
  CHECK_EQ(errno, EINVAL);
}

CHECK_MAIN()
