/*
 * check.h - the tiny test harness: TEST(name) { CHECK(...); } and a main that
 * runs every test and prints "N passed, M failed".
 *
 *   #include "check.h"
 *   TEST(alloc_zeroed) { char *p = gc_alloc(10); CHECK(p[3] == 0); }
 *   CHECK_MAIN()
 *
 * A failed CHECK prints file:line and the expression and fails the test; the
 * test goes on so one run shows every failure. CHECK_EQ prints both values.
 */
#ifndef TC_TEST_CHECK_H
#define TC_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*check_fn)(void);
struct check_test {
  const char *name;
  check_fn fn;
};

#define CHECK_MAX_TESTS 256
static struct check_test check_tests[CHECK_MAX_TESTS];
static int check_ntests;
static int check_failed_now;
static long check_assertions;

#define TEST(name)                                                          \
  static void test_##name(void);                                            \
  __attribute__((constructor)) static void register_##name(void) {          \
    if (check_ntests < CHECK_MAX_TESTS)                                     \
      check_tests[check_ntests++] = (struct check_test){#name, test_##name}; \
  }                                                                         \
  static void test_##name(void)

#define CHECK(cond)                                                         \
  do {                                                                      \
    check_assertions++;                                                     \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      check_failed_now = 1;                                                 \
    }                                                                       \
  } while (0)

#define CHECK_EQ(a, b)                                                      \
  do {                                                                      \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);         \
    check_assertions++;                                                     \
    if (check_a_ != check_b_) {                                             \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n",   \
              __FILE__, __LINE__, #a, #b, check_a_, check_b_);              \
      check_failed_now = 1;                                                 \
    }                                                                       \
  } while (0)

/* Abort the current test early (after a failed CHECK that makes the rest
 * meaningless). */
#define CHECK_OR_RETURN(cond)                                               \
  do {                                                                      \
    int check_ok_ = !!(cond); /* evaluated once */                          \
    check_assertions++;                                                     \
    if (!check_ok_) {                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      check_failed_now = 1;                                                 \
      return;                                                               \
    }                                                                       \
  } while (0)

static inline int check_run_all(int argc, char **argv) {
  int passed = 0, failed = 0;
  for (int i = 0; i < check_ntests; i++) {
    if (argc > 1 && strcmp(argv[1], check_tests[i].name) != 0) continue;
    check_failed_now = 0;
    fprintf(stderr, "[ RUN  ] %s\n", check_tests[i].name);
    check_tests[i].fn();
    fprintf(stderr, "[ %s ] %s\n", check_failed_now ? "FAIL" : " OK ",
            check_tests[i].name);
    if (check_failed_now) failed++;
    else passed++;
  }
  if (check_assertions == 0 && failed == 0) {
    fprintf(stderr, "no assertions were checked\n");
    failed = 1;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define CHECK_MAIN()                                                        \
  int main(int argc, char **argv) { return check_run_all(argc, argv); }

#endif
