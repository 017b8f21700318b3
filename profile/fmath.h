/*
 * fmath.h - the two transcendental functions the heap profiler needs, so
 * libtricolor does not depend on libm:
 *
 *   tc_log(x)  natural logarithm, x > 0 and normal; used to draw the
 *              exponential sampling countdown (-ln(u) * rate).
 *   tc_exp(x)  e^x; used to scale samples (1 / (1 - e^(-avg/rate))).
 *
 * Both are accurate to a few ulps over the ranges used, which is far below
 * what sampling or pprof's integer truncation can see
 * (tests/unit/test_profile_math.c compares them with libm).
 *
 * tc_log: x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(z),
 * z = (m - 1) / (m + 1), |z| <= 0.172, summed as an odd series to z^27.
 * tc_exp: x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part exact
 * in k and a low part), e^r by its Taylor series to r^18, then scaled by 2^k
 * through the exponent bits (in two steps when 2^k is subnormal).
 */
#ifndef TC_FMATH_H
#define TC_FMATH_H

#include <string.h>

#include "base.h"

#define TC_LN2 0.69314718055994530942
#define TC_LN2_HI 6.93147180369123816490e-01 /* 32 significant bits: k * HI is exact */
#define TC_LN2_LO 1.90821492927058770002e-10

TC_INLINE double tc_f64_from_bits(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}
TC_INLINE uint64_t tc_f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

TC_INLINE double tc_log(double x) {
  uint64_t u = tc_f64_bits(x);
  int e = (int)((u >> 52) & 0x7ff) - 1023;
  double m = tc_f64_from_bits((u & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52));
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double z = (m - 1) / (m + 1), z2 = z * z;
  double s = 1.0 / 27;
  for (int k = 25; k >= 1; k -= 2) s = s * z2 + 1.0 / k;
  return 2 * z * s + (double)e * TC_LN2;
}

TC_INLINE double tc_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return tc_f64_from_bits(UINT64_C(0x7ff0000000000000)); /* +inf */
  if (x < -745.2) return 0.0;
  double kf = x / TC_LN2;
  long k = (long)(kf < 0 ? kf - 0.5 : kf + 0.5);
  double r = (x - (double)k * TC_LN2_HI) - (double)k * TC_LN2_LO;
  double p = 1.0;
  for (int n = 18; n >= 1; n--) p = 1.0 + p * r / n;
  /* p * 2^k; 2^k built from its exponent bits. */
  if (k < -1021) {
    p *= tc_f64_from_bits((uint64_t)(k + 600 + 1023) << 52);
    return p * tc_f64_from_bits((uint64_t)(-600 + 1023) << 52);
  }
  if (k > 1023) {
    p *= tc_f64_from_bits((uint64_t)(k - 1 + 1023) << 52);
    return p * 2.0;
  }
  return p * tc_f64_from_bits((uint64_t)(k + 1023) << 52);
}

#endif
