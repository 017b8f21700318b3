/*
 * options.c - parses the TC_OPTIONS table from the environment (options.h).
 */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "error.h"
#include "fixalloc.h"
#include "os.h"

tc_options_t tc_options;

/* Parses a decimal integer with nothing after it; false if malformed. */
static bool parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != 0) return false;
  *out = v;
  return true;
}

/* GCMODE names, in the order of gc_mode_t. */
static const char *const mode_names[] = {"concurrent", "barrier", "stw"};

static bool parse_value(const char *kind, const char *s, long *out) {
  if (strcmp(kind, "percent") == 0 && strcmp(s, "off") == 0) {
    *out = -1;
    return true;
  }
  if (strcmp(kind, "mode") == 0) {
    for (long i = 0; i < 3; i++)
      if (strcmp(s, mode_names[i]) == 0) {
        *out = i;
        return true;
      }
    return false;
  }
  return parse_long(s, out);
}

static const char *kind_expect(const char *kind) {
  if (strcmp(kind, "percent") == 0) return "an integer or \"off\"";
  if (strcmp(kind, "mode") == 0) return "one of concurrent, barrier, stw";
  return "an integer";
}

/* Signals the collector cannot use to stop and restart threads. */
static bool usable_signal(long sig) {
  switch (sig) {
    case SIGKILL: case SIGSTOP:                          /* cannot be caught */
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: /* synchronous faults */
    case SIGINT: case SIGQUIT: case SIGTERM: case SIGABRT: /* left deliverable while parked */
    case SIGCHLD: case SIGPIPE: case SIGALRM: case SIGTRAP:
      return false;
    default:
      /* glibc reserves the signals between 31 and SIGRTMIN for itself. */
      return sig < 32 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
  }
}

static void read_option(const char *env, const char *kind, int *field, int def,
                        long min, long max) {
  *field = def;
  const char *s = getenv(env);
  if (s == NULL) return;
  long v;
  if (!parse_value(kind, s, &v)) {
    tc_warn("%s=\"%s\" is not %s; using the default", env, s, kind_expect(kind));
    return;
  }
  if (v < min || v > max) {
    tc_warn("%s=%s is out of range [%ld, %ld]; using the default", env, s, min, max);
    return;
  }
  if (strcmp(kind, "signal") == 0 && !usable_signal(v)) {
    tc_warn("%s=%s is a signal the collector cannot use; using the default", env, s);
    return;
  }
  /* GCPERCENT: any negative value means off, like GOGC. */
  if (strcmp(kind, "percent") == 0 && v < 0) v = -1;
  *field = (int)v;
}

/* GOMEMLIMIT's syntax: digits, then an optional B, KiB, MiB, GiB or TiB;
 * "off" is no limit. False if malformed or past INT64_MAX. */
static bool parse_bytes(const char *s, int64_t *out) {
  if (strcmp(s, "off") == 0) {
    *out = INT64_MAX;
    return true;
  }
  static const struct { const char *suffix; unsigned shift; } units[] = {
      {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}, {"", 0}};
  if (*s < '0' || *s > '9') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0) return false;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].suffix) != 0) continue;
    if (v > (unsigned long long)INT64_MAX >> units[i].shift) return false;
    *out = (int64_t)(v << units[i].shift);
    return true;
  }
  return false;
}

static void read_bytes_option(const char *env, const char *kind, int64_t *field, int64_t def,
                              long min, long max) {
  *field = def;
  const char *s = getenv(env);
  if (s == NULL) return;
  int64_t v;
  if (!parse_bytes(s, &v)) {
    tc_warn("%s=\"%s\" is not a byte count (digits with an optional B, KiB, MiB, GiB or TiB) "
            "or \"off\"; using the default",
            env, s);
    return;
  }
  *field = v;
}

/* A path: copied into metadata memory (the environment may change later). */
static void read_path_option(const char *env, const char *kind, const char **field,
                             const char *def, long min, long max) {
  *field = def;
  const char *s = getenv(env);
  if (s == NULL || s[0] == 0) return;
  size_t n = strlen(s);
  if (n >= PATH_MAX) {
    tc_warn("%s is %zu bytes long, longer than a path may be; using the default", env, n);
    return;
  }
  char *copy = tc_persistent_alloc(n + 1, 16);
  if (copy == NULL) {
    tc_warn("%s: out of memory; using the default", env);
    return;
  }
  memcpy(copy, s, n + 1);
  *field = copy;
}

void tc_options_init(void) {
#define TC_OPTION_READ(env, field, kind, def, min, max, doc)                  \
  _Generic(&tc_options.field, int *: read_option, int64_t *: read_bytes_option, \
           const char **: read_path_option)(                                  \
      #env, #kind, &tc_options.field, def, min, max);
  TC_OPTIONS(TC_OPTION_READ)
#undef TC_OPTION_READ
  if (tc_options.procs == 0) {
    /* Go 1.25's GOMAXPROCS default: the CPUs of the affinity mask, or the
     * cgroup's CPU limit rounded up if lower (at least 2). */
    int n = tc_os_ncpu();
    int limit = tc_cgroup_cpu_limit();
    if (limit > 0 && limit < 2) limit = 2;
    if (limit > 0 && limit < n) n = limit;
    tc_options.procs = n > TC_MAX_PROCS ? TC_MAX_PROCS : n;
  }
  if (tc_options.sig_suspend == tc_options.sig_restart) {
    tc_warn("GCSIGSUSPEND and GCSIGRESTART are both %d; using %d and %d",
            tc_options.sig_suspend, SIGPWR, SIGXCPU);
    tc_options.sig_suspend = SIGPWR;
    tc_options.sig_restart = SIGXCPU;
  }
}
