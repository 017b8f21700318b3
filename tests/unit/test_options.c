/*
 * test_options.c - environment options (gc/options.h), parsed in-process:
 * each case sets the environment, calls tc_options_init() again (the
 * library's constructor already ran it once with the real environment) with
 * stderr redirected to a temporary file, and checks the parsed values and the
 * warnings: none for good values, exactly one line naming the variable and
 * the value for each bad one, and the default in its place.
 *
 * tc_options is restored after every case; this program never allocates
 * from the heap, so no collection runs with the test's values.
 */
#include <signal.h>
#include <unistd.h>

#include "check.h"
#include "options.h"

static const char *const vars[] = {"GCPERCENT",     "GCPROCS",       "GCSIGSUSPEND",
                                   "GCSIGRESTART",  "GCPROFILERATE", "GCHEAPPROFILE",
                                   "GCMEMLIMIT"};

static char captured[4096];
static int captured_lines;

static int default_procs(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > TC_MAX_PROCS ? TC_MAX_PROCS : (int)n;
}

/* Runs tc_options_init with exactly the given variables set (NULL-terminated
 * name/value pairs), capturing what it writes to fd 2. */
static tc_options_t run_with(const char *const *env) {
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
  for (; env && env[0]; env += 2) setenv(env[0], env[1], 1);

  tc_options_t saved = tc_options;
  fflush(stderr);
  FILE *tmp = tmpfile();
  int saved_fd = dup(2);
  if (tmp == NULL || saved_fd < 0) {
    fprintf(stderr, "cannot redirect stderr\n");
    abort();
  }
  dup2(fileno(tmp), 2);
  tc_options_init();
  dup2(saved_fd, 2);
  close(saved_fd);

  tc_options_t got = tc_options;
  tc_options = saved;
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);

  rewind(tmp);
  size_t n = fread(captured, 1, sizeof captured - 1, tmp);
  captured[n] = 0;
  fclose(tmp);
  captured_lines = 0;
  for (size_t i = 0; i < n; i++) captured_lines += captured[i] == '\n';
  if (n > 0 && captured[n - 1] != '\n') captured_lines++; /* unterminated line */
  return got;
}

/* The captured output is exactly one line that mentions every string. */
static bool one_warning_naming(const char *a, const char *b) {
  bool ok = captured_lines == 1 && strstr(captured, a) != NULL &&
            (b == NULL || strstr(captured, b) != NULL) &&
            strncmp(captured, "tricolor: ", 10) == 0;
  if (!ok) fprintf(stderr, "  captured %d line(s): \"%s\"\n", captured_lines, captured);
  return ok;
}

static bool silent(void) {
  if (captured_lines != 0) fprintf(stderr, "  unexpected output: \"%s\"\n", captured);
  return captured_lines == 0 && captured[0] == 0;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

TEST(defaults_with_nothing_set) {
  tc_options_t o = run_with(NULL);
  CHECK(silent());
  CHECK_EQ(o.percent, 100);
  CHECK(o.procs >= 1);
  CHECK(o.procs <= TC_MAX_PROCS);
  CHECK_EQ(o.procs, default_procs());
  CHECK_EQ(o.sig_suspend, SIGPWR);
  CHECK_EQ(o.sig_restart, SIGXCPU);
  CHECK_EQ(o.profile_rate, 524288);
  CHECK(o.heap_profile != NULL && o.heap_profile[0] == 0);
  CHECK(o.memory_limit == INT64_MAX);
}

TEST(gcprofilerate) {
  tc_options_t o = run_with(ENV("GCPROFILERATE", "0"));
  CHECK(silent());
  CHECK_EQ(o.profile_rate, 0);
  o = run_with(ENV("GCPROFILERATE", "1"));
  CHECK(silent());
  CHECK_EQ(o.profile_rate, 1);
  o = run_with(ENV("GCPROFILERATE", "2147483647"));
  CHECK(silent());
  CHECK_EQ(o.profile_rate, 2147483647);
  static const char *const bad[] = {"-1", "2147483648", "512k", "", "off", "1e6"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o = run_with(ENV("GCPROFILERATE", bad[i]));
    CHECK_EQ(o.profile_rate, 524288);
    CHECK(one_warning_naming("GCPROFILERATE", bad[i]));
  }
  CHECK_EQ(o.percent, 100);
}

TEST(gcheapprofile) {
  tc_options_t o = run_with(ENV("GCHEAPPROFILE", "/tmp/some dir/heap.pb.gz"));
  CHECK(silent());
  CHECK(strcmp(o.heap_profile, "/tmp/some dir/heap.pb.gz") == 0);
  /* The value is a copy: changing the environment afterwards changes nothing. */
  setenv("GCHEAPPROFILE", "/elsewhere", 1);
  CHECK(strcmp(o.heap_profile, "/tmp/some dir/heap.pb.gz") == 0);
  unsetenv("GCHEAPPROFILE");
  o = run_with(ENV("GCHEAPPROFILE", ""));
  CHECK(silent()); /* empty means unset */
  CHECK_EQ(o.heap_profile[0], 0);
  static char longpath[PATH_MAX + 10];
  memset(longpath, 'a', sizeof longpath - 1);
  o = run_with(ENV("GCHEAPPROFILE", longpath));
  CHECK(one_warning_naming("GCHEAPPROFILE", NULL));
  CHECK_EQ(o.heap_profile[0], 0);
}

TEST(gcpercent_valid) {
  tc_options_t o = run_with(ENV("GCPERCENT", "off"));
  CHECK(silent());
  CHECK_EQ(o.percent, -1);
  o = run_with(ENV("GCPERCENT", "50"));
  CHECK(silent());
  CHECK_EQ(o.percent, 50);
  o = run_with(ENV("GCPERCENT", "0"));
  CHECK(silent());
  CHECK_EQ(o.percent, 0);
  o = run_with(ENV("GCPERCENT", "-1"));
  CHECK(silent());
  CHECK_EQ(o.percent, -1);
  o = run_with(ENV("GCPERCENT", "-2"));
  CHECK(silent());
  CHECK_EQ(o.percent, -1); /* any negative value means off, like GOGC */
  o = run_with(ENV("GCPERCENT", "1000000"));
  CHECK(silent());
  CHECK_EQ(o.percent, 1000000);
  /* The other options keep their defaults. */
  CHECK_EQ(o.procs, default_procs());
  CHECK_EQ(o.sig_suspend, SIGPWR);
  CHECK_EQ(o.sig_restart, SIGXCPU);
}

TEST(gcpercent_malformed) {
  static const char *const bad[] = {"abc", "", "50x", "5 0", "OFF", "off ", "0x10",
                                    "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_options_t o = run_with(ENV("GCPERCENT", bad[i]));
    if (o.percent != 100) fprintf(stderr, "  GCPERCENT=\"%s\" -> %d\n", bad[i], o.percent);
    CHECK_EQ(o.percent, 100);
    CHECK(one_warning_naming("GCPERCENT", bad[i]));
    CHECK_EQ(o.procs, default_procs());
  }
}

TEST(gcpercent_out_of_range) {
  static const char *const bad[] = {"-5000000", "1000001", "2147483648"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_options_t o = run_with(ENV("GCPERCENT", bad[i]));
    if (o.percent != 100) fprintf(stderr, "  GCPERCENT=\"%s\" -> %d\n", bad[i], o.percent);
    CHECK_EQ(o.percent, 100);
    CHECK(one_warning_naming("GCPERCENT", bad[i]));
  }
}

TEST(unusable_signals) {
  /* Uncatchable, synchronous-fault, left-deliverable and glibc-reserved
   * signals fall back to the default with one warning, never abort. */
  static const char *const bad[] = {"9", "19", "11", "7", "2", "15", "6", "32", "33"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_options_t o = run_with(ENV("GCSIGSUSPEND", bad[i]));
    CHECK_EQ(o.sig_suspend, SIGPWR);
    CHECK(one_warning_naming("GCSIGSUSPEND", bad[i]));
    o = run_with(ENV("GCSIGRESTART", bad[i]));
    CHECK_EQ(o.sig_restart, SIGXCPU);
    CHECK(one_warning_naming("GCSIGRESTART", bad[i]));
  }
  tc_options_t o = run_with(ENV("GCSIGSUSPEND", "10"));
  CHECK(silent());
  CHECK_EQ(o.sig_suspend, SIGUSR1);
  o = run_with(ENV("GCSIGRESTART", "40"));
  CHECK(silent());
  CHECK_EQ(o.sig_restart, 40);
}

TEST(gcprocs) {
  tc_options_t o = run_with(ENV("GCPROCS", "3"));
  CHECK(silent());
  CHECK_EQ(o.procs, 3);
  o = run_with(ENV("GCPROCS", "1"));
  CHECK(silent());
  CHECK_EQ(o.procs, 1);
  o = run_with(ENV("GCPROCS", "64"));
  CHECK(silent());
  CHECK_EQ(o.procs, 64);
  o = run_with(ENV("GCPROCS", "0"));
  CHECK(one_warning_naming("GCPROCS", "0"));
  CHECK_EQ(o.procs, default_procs());
  o = run_with(ENV("GCPROCS", "65"));
  CHECK(one_warning_naming("GCPROCS", "65"));
  CHECK_EQ(o.procs, default_procs());
  o = run_with(ENV("GCPROCS", "-3"));
  CHECK(one_warning_naming("GCPROCS", "-3"));
  CHECK_EQ(o.procs, default_procs());
  o = run_with(ENV("GCPROCS", "off")); /* only GCPERCENT takes "off" */
  CHECK(one_warning_naming("GCPROCS", "off"));
  CHECK_EQ(o.procs, default_procs());
  o = run_with(ENV("GCPROCS", "two"));
  CHECK(one_warning_naming("GCPROCS", "two"));
  CHECK_EQ(o.procs, default_procs());
  CHECK_EQ(o.percent, 100);
}

TEST(signals) {
  tc_options_t o = run_with(ENV("GCSIGSUSPEND", "12", "GCSIGRESTART", "10"));
  CHECK(silent());
  CHECK_EQ(o.sig_suspend, 12);
  CHECK_EQ(o.sig_restart, 10);
  o = run_with(ENV("GCSIGSUSPEND", "40"));
  CHECK(silent());
  CHECK_EQ(o.sig_suspend, 40);
  CHECK_EQ(o.sig_restart, SIGXCPU);
  /* Equal: one warning naming both, and both defaults. */
  o = run_with(ENV("GCSIGSUSPEND", "10", "GCSIGRESTART", "10"));
  CHECK(one_warning_naming("GCSIGSUSPEND", "GCSIGRESTART"));
  CHECK(strstr(captured, "10") != NULL);
  CHECK_EQ(o.sig_suspend, SIGPWR);
  CHECK_EQ(o.sig_restart, SIGXCPU);
  /* Equal through a default: the restart signal set to the suspend default. */
  char pwr[16];
  snprintf(pwr, sizeof pwr, "%d", SIGPWR);
  o = run_with(ENV("GCSIGRESTART", pwr));
  CHECK(one_warning_naming("GCSIGSUSPEND", "GCSIGRESTART"));
  CHECK_EQ(o.sig_suspend, SIGPWR);
  CHECK_EQ(o.sig_restart, SIGXCPU);
  /* Out of range or malformed: warning and default. */
  o = run_with(ENV("GCSIGSUSPEND", "0"));
  CHECK(one_warning_naming("GCSIGSUSPEND", "0"));
  CHECK_EQ(o.sig_suspend, SIGPWR);
  o = run_with(ENV("GCSIGRESTART", "65"));
  CHECK(one_warning_naming("GCSIGRESTART", "65"));
  CHECK_EQ(o.sig_restart, SIGXCPU);
  o = run_with(ENV("GCSIGSUSPEND", "SIGUSR1"));
  CHECK(one_warning_naming("GCSIGSUSPEND", "SIGUSR1"));
  CHECK_EQ(o.sig_suspend, SIGPWR);
}

TEST(several_bad_values_one_line_each) {
  tc_options_t o = run_with(ENV("GCPERCENT", "abc", "GCPROCS", "0", "GCSIGSUSPEND", "99"));
  CHECK_EQ(captured_lines, 3);
  CHECK(strstr(captured, "GCPERCENT") != NULL);
  CHECK(strstr(captured, "abc") != NULL);
  CHECK(strstr(captured, "GCPROCS") != NULL);
  CHECK(strstr(captured, "GCSIGSUSPEND") != NULL);
  CHECK(strstr(captured, "99") != NULL);
  CHECK_EQ(o.percent, 100);
  CHECK_EQ(o.procs, default_procs());
  CHECK_EQ(o.sig_suspend, SIGPWR);
  CHECK_EQ(o.sig_restart, SIGXCPU);
}

/* GCMEMLIMIT: GOMEMLIMIT's syntax, powers of two. */
TEST(gcmemlimit_valid) {
  static const struct {
    const char *v;
    int64_t want;
  } good[] = {
      {"100MiB", 104857600},
      {"1GiB", 1073741824},
      {"123", 123},
      {"5B", 5},
      {"0", 0},
      {"64KiB", 65536},
      {"2TiB", (int64_t)2 << 40},
      {"off", INT64_MAX},
      {"9223372036854775807", INT64_MAX},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    tc_options_t o = run_with(ENV("GCMEMLIMIT", good[i].v));
    if (o.memory_limit != good[i].want)
      fprintf(stderr, "  GCMEMLIMIT=\"%s\" -> %lld\n", good[i].v, (long long)o.memory_limit);
    CHECK(o.memory_limit == good[i].want);
    CHECK(silent());
    CHECK_EQ(o.percent, 100);
  }
}

TEST(gcmemlimit_malformed) {
  static const char *const bad[] = {"10MB", "-5",  "1.5GiB", "",    "10mib", "MiB",
                                    "10 MiB", "OFF", "0x10",  "1e9", "8388608TiB",
                                    "9223372036854775808"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_options_t o = run_with(ENV("GCMEMLIMIT", bad[i]));
    if (o.memory_limit != INT64_MAX)
      fprintf(stderr, "  GCMEMLIMIT=\"%s\" -> %lld\n", bad[i], (long long)o.memory_limit);
    CHECK(o.memory_limit == INT64_MAX);
    CHECK(one_warning_naming("GCMEMLIMIT", NULL));
    if (bad[i][0]) CHECK(strstr(captured, bad[i]) != NULL);
    CHECK_EQ(o.percent, 100);
  }
}

TEST(reinit_restores_defaults) {
  /* A second call with a clean environment forgets earlier values. */
  tc_options_t o = run_with(ENV("GCPERCENT", "7", "GCPROCS", "2"));
  CHECK_EQ(o.percent, 7);
  CHECK_EQ(o.procs, 2);
  o = run_with(NULL);
  CHECK(silent());
  CHECK_EQ(o.percent, 100);
  CHECK_EQ(o.procs, default_procs());
}

CHECK_MAIN()
