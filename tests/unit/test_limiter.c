/*
 * test_limiter.c - the GC CPU limiter (gc/limiter.h), driven directly with
 * GC time reported as a share of real elapsed time; no collection runs
 * (this program never allocates).
 *
 * With GCPROCS = 2 the bucket holds 2 CPU-seconds. Reporting GC work at 90%
 * of the available CPU fills it by 0.8 x 2 CPU-s per second of wall time:
 * the limiter must turn on after about 1.25 s (not before 1 s, by 2 s at the
 * latest on a loaded machine) and record the cycle it turned on in; at 40%
 * it must never turn on (GC below half of the CPU drains the bucket); with
 * no GC work it must turn off again once the bucket drained below full.
 */
#include <time.h>

#include <tricolor.h>

#include "check.h"
#include "limiter.h"
#include "options.h"
#include "os.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Reports `share` of the CPU as GC work for `ms` of wall time, in 10 ms
 * windows; returns the wall time (ms) after which the limiter was on, or
 * -1 if it never was. */
static long run(double share, long ms, uint32_t cycle) {
  uint64_t start = tc_nanotime();
  uint64_t last = start;
  long on_at = -1;
  while (tc_nanotime() - start < (uint64_t)ms * 1000000u) {
    sleep_ms(10);
    uint64_t now = tc_nanotime();
    tc_limiter_add_gc_ns((uint64_t)((double)(now - last) * tc_options.procs * share));
    last = now;
    tc_limiter_update(false, cycle, true);
    if (on_at < 0 && tc_limiter_limiting()) on_at = (long)((now - start) / 1000000u);
  }
  return on_at;
}

TEST(limiter_turns_on_past_half_the_cpu_and_off_again) {
  tc_options.procs = 2;
  tc_limiter_update(false, 1, true); /* start the window now */
  CHECK(!tc_limiter_limiting());
  CHECK_EQ(tc_limiter_last_enabled(), 0);

  /* 40%: below half of the CPU, the bucket never fills. */
  CHECK_EQ(run(0.4, 1500, 2), -1);
  CHECK(!tc_limiter_limiting());

  /* 90%: full after ~1.25 s. */
  long on_at = run(0.9, 2500, 7);
  fprintf(stderr, "  at 90%% GC the limiter turned on after %ld ms\n", on_at);
  CHECK(on_at >= 1000);
  CHECK(on_at <= 2000);
  CHECK(tc_limiter_limiting());
  CHECK_EQ(tc_limiter_last_enabled(), 7);
  CHECK(tc_limiter_gc_total_ns() > 0);

  /* No GC work: the bucket drains, the limiter is off at the next update. */
  run(0.0, 100, 8);
  CHECK(!tc_limiter_limiting());
  CHECK_EQ(tc_limiter_last_enabled(), 7);
}

CHECK_MAIN()
