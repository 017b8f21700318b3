/*
 * test_profile_sample.c - the heap profiler's countdown (profile/sample.c)
 * and the libm-free logarithm and exponential it and the scaling use
 * (profile/fmath.h).
 *
 * The countdown must be exponential with mean = rate, since pprof's scaling
 * (1 / (1 - e^(-s/rate))) assumes sampling is a Poisson process over bytes:
 * checked by its mean, its standard deviation and three quantiles over
 * 400000 draws, each within several standard errors. Rate 0 never samples,
 * rate 1 samples every allocation.
 */
#include <pthread.h>

#include "check.h"
#include "../../profile/fmath.h"
#include "../../profile/pprof.h"
#include "../../profile/sample.h"

static double absd(double x) { return x < 0 ? -x : x; }

/* |got - want| within a relative tolerance (or absolute near 0). */
static int close_to(double got, double want, double rel) {
  double scale = absd(want) > 1 ? absd(want) : 1;
  if (absd(got - want) <= rel * scale) return 1;
  fprintf(stderr, "  got %.17g, want %.17g\n", got, want);
  return 0;
}

TEST(log_known_values) {
  static const struct { double x, ln; } v[] = {
      {1, 0},
      {2, 0.69314718055994530942},
      {0.5, -0.69314718055994530942},
      {3, 1.0986122886681098},
      {10, 2.302585092994046},
      {1e-10, -23.025850929940457},
      {1e300, 690.77552789821368},
      {0x1p-53, -36.736800569677101},
      {1.4142135623730951, 0.34657359027997264},
      {0.9999999, -1.0000000500000033e-07},
  };
  for (size_t i = 0; i < TC_ARRAY_LEN(v); i++) CHECK(close_to(tc_log(v[i].x), v[i].ln, 1e-15));
}

TEST(exp_known_values) {
  static const struct { double x, e; } v[] = {
      {0, 1},
      {1, 2.7182818284590452},
      {-1, 0.36787944117144233},
      {-0.001, 0.99900049983337502},
      {5, 148.41315910257660},
      {-20, 2.0611536224385579e-09},
      {-700, 9.8596765437597708e-305},
      {700, 1.0142320547350045e+304},
  };
  for (size_t i = 0; i < TC_ARRAY_LEN(v); i++) CHECK(close_to(tc_exp(v[i].x) / v[i].e, 1, 1e-15));
  CHECK(tc_exp(-800) == 0);
  CHECK(tc_exp(-745.0) > 0); /* subnormal, not flushed */
}

TEST(exp_log_round_trip) {
  for (double x = -30; x < 30; x += 0.0371) CHECK(close_to(tc_log(tc_exp(x)), x, 1e-14));
  for (double x = 1e-12; x < 1e12; x *= 1.37) CHECK(close_to(tc_exp(tc_log(x)) / x, 1, 1e-13));
}

TEST(rate_zero_and_one) {
  for (int i = 0; i < 1000; i++) {
    CHECK_EQ(tc_sample_draw(0), INT64_MAX); /* off: never reaches 0 */
    CHECK_EQ(tc_sample_draw(1), 0);         /* every allocation */
  }
}

TEST(countdown_is_exponential_with_mean_rate) {
  const size_t rate = 524288;
  const int n = 400000;
  double sum = 0, sumsq = 0;
  int below_mean = 0, below_median = 0, above_5 = 0;
  int64_t lo = INT64_MAX;
  for (int i = 0; i < n; i++) {
    int64_t d = tc_sample_draw(rate);
    CHECK_OR_RETURN(d >= 0);
    if (d < lo) lo = d;
    double x = (double)d;
    sum += x;
    sumsq += x * x;
    below_mean += x < rate;
    below_median += x < rate * TC_LN2;
    above_5 += x > 5.0 * rate;
  }
  double mean = sum / n, sd = 0;
  double var = sumsq / n - mean * mean;
  if (var > 0) {
    sd = var;
    for (int i = 0; i < 60; i++) sd = 0.5 * (sd + var / sd); /* sqrt */
  }
  /* Standard error of the mean: rate / sqrt(n) = 0.16% of rate. */
  CHECK(close_to(mean / rate, 1, 0.01));
  CHECK(close_to(sd / rate, 1, 0.02)); /* exponential: sd == mean */
  /* P(X < mean) = 1 - 1/e, P(X < mean ln 2) = 1/2, P(X > 5 mean) = e^-5;
   * binomial standard errors 0.00076, 0.00079, 0.00013. */
  CHECK(close_to((double)below_mean / n, 1 - tc_exp(-1), 0.005));
  CHECK(close_to((double)below_median / n, 0.5, 0.005));
  CHECK(close_to((double)above_5 / n, tc_exp(-5), 0.001));
  CHECK(lo < (int64_t)(rate / 1000)); /* small countdowns do occur */
}

static void *draw_some(void *arg) {
  int64_t *out = arg;
  for (int i = 0; i < 8; i++) out[i] = tc_sample_draw(1 << 20);
  return NULL;
}

TEST(threads_draw_different_sequences) {
  int64_t a[8], b[8];
  pthread_t t1, t2;
  pthread_create(&t1, NULL, draw_some, a);
  pthread_create(&t2, NULL, draw_some, b);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(scaling_matches_go) {
  /* Values verified against Go's runtime/pprof (docs: go-runtime-facts
   * section 7.6): 351 sampled 1024-byte objects at 512 KiB, 27 x 64 KiB. */
  int64_t c, s;
  tc_pprof_scale(351, 351 * 1024, 524288, &c, &s);
  CHECK_EQ(c, 179887);
  CHECK_EQ(s, 184204858);
  tc_pprof_scale(27, 27 * 65536, 524288, &c, &s);
  CHECK_EQ(c, 229);
  CHECK_EQ(s, 15058939);
  tc_pprof_scale(5, 640, 1, &c, &s); /* rate 1: unscaled */
  CHECK_EQ(c, 5);
  CHECK_EQ(s, 640);
  tc_pprof_scale(0, 0, 524288, &c, &s);
  CHECK_EQ(c, 0);
  CHECK_EQ(s, 0);
}

CHECK_MAIN()
