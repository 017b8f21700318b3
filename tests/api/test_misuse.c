/*
 * test_misuse.c - death tests for API misuse, and bad environment values.
 *
 * Each misuse runs in a forked child whose stderr goes into a pipe; the
 * parent checks that the child died of SIGABRT and printed one line naming
 * the call and the offending pointer (as printf's %p spells it, 0x<hex>).
 *
 * The environment tests re-execute this binary (/proc/self/exe) with a
 * private argv flag and a crafted environment, and check that a malformed
 * GCPERCENT / GCPROCS costs exactly one line on stderr and leaves the default
 * in force.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

extern char **environ;


static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    if (*s == '\n') n++;
  return n;
}

/* ---- death tests ------------------------------------------------------------ */

typedef void (*misuse_fn)(void *ctx);

/* Fork; the child runs fn(ctx) with stderr in a pipe and must die of
 * SIGABRT after printing a line with `call` and `ptr`. */
static void expect_death(const char *what, misuse_fn fn, void *ctx, const char *call,
                         const void *ptr) {
  char want_ptr[64];
  snprintf(want_ptr, sizeof want_ptr, "%p", ptr);
  int status, died_abort;
  char *out = run_dying(fn, ctx, &status, &died_abort);
  CHECK_OR_RETURN(out != NULL);
  const char *line = out;
  /* The line that names the pointer must also name the call. */
  const char *hit = strstr(out, want_ptr);
  int names_both = 0;
  if (hit) {
    const char *bol = hit;
    while (bol > out && bol[-1] != '\n') bol--;
    const char *eol = strchr(hit, '\n');
    size_t len = eol ? (size_t)(eol - bol) : strlen(bol);
    char *l = strndup(bol, len);
    /* The pointer must not be a prefix of a longer hex number. */
    const char *after = hit + strlen(want_ptr);
    int whole = !((*after >= '0' && *after <= '9') || (*after >= 'a' && *after <= 'f'));
    names_both = l && strstr(l, call) != NULL && whole;
    free(l);
    line = bol;
  }
  if (!died_abort || !names_both || count_lines(out) != 1) {
    fprintf(stderr, "  %s: status %#x (%s%d), want %s and %s; child stderr:\n---\n%s---\n", what,
            status, WIFSIGNALED(status) ? "signal " : "exit ",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), call, want_ptr, out);
  }
  CHECK(died_abort);
  CHECK(names_both);
  CHECK_EQ(count_lines(out), 1);
  (void)line;
  free(out);
}

static void do_free(void *p) { gc_free(p); }
static void do_free_twice(void *p) {
  gc_free(p);
  gc_free(p);
}
static void do_realloc(void *p) {
  void *r = gc_realloc(p, 100);
  __asm__ volatile("" ::"r"(r) : "memory");
}
static void do_free_then_realloc(void *p) {
  gc_free(p);
  void *r = gc_realloc(p, 100);
  __asm__ volatile("" ::"r"(r) : "memory");
}
static void do_usable_size(void *p) {
  volatile size_t n = gc_usable_size(p);
  (void)n;
}

static int global_victim[16];

TEST(free_interior_pointer) {
  char *p = gc_alloc(64);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_free(small + 16)", do_free, p + 16, "gc_free", p + 16);
  char *l = gc_alloc(200000);
  CHECK_OR_RETURN(l != NULL);
  expect_death("gc_free(large + 8192)", do_free, l + 8192, "gc_free", l + 8192);
  expect_death("gc_free(large + 1)", do_free, l + 1, "gc_free", l + 1);
}

TEST(free_twice_small) {
  void *p = gc_alloc(48);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_free twice (small)", do_free_twice, p, "gc_free", p);
  void *q = gc_alloc_noscan(1000);
  CHECK_OR_RETURN(q != NULL);
  expect_death("gc_free twice (small noscan)", do_free_twice, q, "gc_free", q);
}

TEST(free_twice_large) {
  void *p = gc_alloc(100000);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_free twice (large)", do_free_twice, p, "gc_free", p);
  void *q = gc_alloc(5 << 20);
  CHECK_OR_RETURN(q != NULL);
  expect_death("gc_free twice (5 MiB)", do_free_twice, q, "gc_free", q);
}

TEST(free_foreign_pointers) {
  int local = 0;
  expect_death("gc_free(stack)", do_free, &local, "gc_free", &local);
  expect_death("gc_free(global)", do_free, global_victim, "gc_free", global_victim);
  void *m = malloc(64);
  CHECK_OR_RETURN(m != NULL);
  memset(m, 0, 64);
  expect_death("gc_free(malloc)", do_free, m, "gc_free", m);
  free(m);
  (void)local;
}

TEST(realloc_interior_pointer) {
  char *p = gc_alloc(256);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_realloc(small + 8)", do_realloc, p + 8, "gc_realloc", p + 8);
  char *l = gc_alloc(100000);
  CHECK_OR_RETURN(l != NULL);
  expect_death("gc_realloc(large + 4096)", do_realloc, l + 4096, "gc_realloc", l + 4096);
}

TEST(realloc_freed_object) {
  void *p = gc_alloc(256);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_realloc(freed small)", do_free_then_realloc, p, "gc_realloc", p);
  void *l = gc_alloc(300000);
  CHECK_OR_RETURN(l != NULL);
  expect_death("gc_realloc(freed large)", do_free_then_realloc, l, "gc_realloc", l);
}

TEST(usable_size_foreign_pointer) {
  void *m = malloc(64);
  CHECK_OR_RETURN(m != NULL);
  memset(m, 0, 64);
  expect_death("gc_usable_size(malloc)", do_usable_size, m, "gc_usable_size", m);
  free(m);
  int local = 0;
  expect_death("gc_usable_size(stack)", do_usable_size, &local, "gc_usable_size", &local);
  char *p = gc_alloc(64);
  CHECK_OR_RETURN(p != NULL);
  expect_death("gc_usable_size(interior)", do_usable_size, p + 8, "gc_usable_size", p + 8);
  (void)local;
}

/* The parent is unharmed by all of the above. */
TEST(parent_still_works) {
  for (int i = 0; i < 1000; i++) {
    unsigned char *p = gc_alloc(16 + (size_t)i);
    CHECK_OR_RETURN(p != NULL);
    p[i] = 1;
  }
  gc_collect();
  void *p = gc_alloc(64);
  CHECK(p != NULL && gc_base(p) == p);
  gc_free(p);
}

/* ---- environment -------------------------------------------------------- */

#define ENV_CHILD_FLAG "--tricolor-env-child"

/* Child mode: report gc_set_percent's view of the configured percent on
 * stdout, and show that allocation and collection work. */
static int env_child(void) {
  int old = gc_set_percent(100);
  void **keep = gc_alloc(100 * sizeof(void *));
  if (!keep) return 2;
  for (int i = 0; i < 100; i++) {
    keep[i] = gc_alloc(64);
    if (!keep[i]) return 2;
    memset(keep[i], i, 64);
  }
  for (int i = 0; i < 20000; i++) {
    void *g = gc_alloc(200);
    if (!g) return 2;
  }
  gc_collect();
  gc_collect();
  for (int i = 0; i < 100; i++)
    for (int k = 0; k < 64; k++)
      if (((unsigned char *)keep[i])[k] != (unsigned char)i) return 4;
  printf("percent=%d ok\n", old);
  fflush(stdout);
  return 0;
}

struct run_result {
  int exited, code;
  char *out, *err;
};

/* Run /proc/self/exe ENV_CHILD_FLAG with every GC* variable removed from
 * the environment and the given extra "NAME=value" entries added. */
static struct run_result run_env_child(const char *const *extra) {
  struct run_result rr = {0, -1, NULL, NULL};
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 8, sizeof(char *));
  if (!env) return rr;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "GC", 2) != 0) env[k++] = environ[i];
  for (size_t i = 0; extra && extra[i]; i++) env[k++] = (char *)extra[i];
  env[k] = NULL;
  int out[2], err[2];
  if (pipe(out) || pipe(err)) {
    free(env);
    return rr;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]);
    close(out[1]);
    close(err[0]);
    close(err[1]);
    char *argv[] = {"test_misuse", ENV_CHILD_FLAG, NULL};
    execve("/proc/self/exe", argv, env);
    _exit(127);
  }
  free(env);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    return rr;
  }
  /* The outputs are small: stderr first (a few lines at most), then stdout;
   * the child writes stdout only at its end, so neither pipe can fill. */
  rr.err = read_all(err[0], 30000);
  rr.out = read_all(out[0], 30000);
  close(out[0]);
  close(err[0]);
  int status = 0;
  if (wait_child(pid, &status, 30000) == 0 && WIFEXITED(status)) {
    rr.exited = 1;
    rr.code = WEXITSTATUS(status);
  }
  return rr;
}

static void free_rr(struct run_result *rr) {
  free(rr->out);
  free(rr->err);
}

static void report_rr(const char *what, const struct run_result *rr) {
  fprintf(stderr, "  %s: exited=%d code=%d\n  stdout: %s  stderr: ---\n%s---\n", what, rr->exited,
          rr->code, rr->out ? rr->out : "(null)\n", rr->err ? rr->err : "(null)");
}

/* The child printed exactly one stderr line mentioning all of `words`. */
static int one_line_naming(const char *err, const char *w1, const char *w2) {
  return err && count_lines(err) == 1 && strstr(err, w1) && strstr(err, w2);
}

TEST(env_baseline_is_silent) {
  struct run_result rr = run_env_child(NULL);
  int ok = rr.exited && rr.code == 0 && rr.err && rr.err[0] == 0 && rr.out &&
           strcmp(rr.out, "percent=100 ok\n") == 0;
  if (!ok) report_rr("no GC* variables", &rr);
  CHECK(ok);
  free_rr(&rr);
}

TEST(env_gcpercent_malformed) {
  const char *values[] = {"banana", "12abc", "1e3"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char var[64];
    snprintf(var, sizeof var, "GCPERCENT=%s", values[i]);
    const char *extra[] = {var, NULL};
    struct run_result rr = run_env_child(extra);
    int ok = rr.exited && rr.code == 0 && rr.out && strcmp(rr.out, "percent=100 ok\n") == 0 &&
             one_line_naming(rr.err, "GCPERCENT", values[i]);
    if (!ok) report_rr(var, &rr);
    CHECK(ok);
    free_rr(&rr);
  }
}

TEST(env_gcpercent_valid) {
  const char *extra50[] = {"GCPERCENT=50", NULL};
  struct run_result rr = run_env_child(extra50);
  int ok = rr.exited && rr.code == 0 && rr.out && strcmp(rr.out, "percent=50 ok\n") == 0 &&
           rr.err && rr.err[0] == 0;
  if (!ok) report_rr("GCPERCENT=50", &rr);
  CHECK(ok);
  free_rr(&rr);
  const char *extraoff[] = {"GCPERCENT=off", NULL};
  rr = run_env_child(extraoff);
  int old = 0;
  ok = rr.exited && rr.code == 0 && rr.out && sscanf(rr.out, "percent=%d ok", &old) == 1 &&
       old < 0 && rr.err && rr.err[0] == 0;
  if (!ok) report_rr("GCPERCENT=off", &rr);
  CHECK(ok);
  free_rr(&rr);
}

TEST(env_gcprocs_malformed) {
  const char *values[] = {"-3", "banana"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char var[64];
    snprintf(var, sizeof var, "GCPROCS=%s", values[i]);
    const char *extra[] = {var, NULL};
    struct run_result rr = run_env_child(extra);
    int ok = rr.exited && rr.code == 0 && rr.out && strcmp(rr.out, "percent=100 ok\n") == 0 &&
             one_line_naming(rr.err, "GCPROCS", values[i]);
    if (!ok) report_rr(var, &rr);
    CHECK(ok);
    free_rr(&rr);
  }
}

TEST(env_two_bad_values_two_lines) {
  const char *extra[] = {"GCPERCENT=banana", "GCPROCS=-3", NULL};
  struct run_result rr = run_env_child(extra);
  int ok = rr.exited && rr.code == 0 && rr.out && strcmp(rr.out, "percent=100 ok\n") == 0 &&
           rr.err && count_lines(rr.err) == 2 && strstr(rr.err, "GCPERCENT") &&
           strstr(rr.err, "banana") && strstr(rr.err, "GCPROCS") && strstr(rr.err, "-3");
  if (!ok) report_rr("GCPERCENT=banana GCPROCS=-3", &rr);
  CHECK(ok);
  free_rr(&rr);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], ENV_CHILD_FLAG) == 0) return env_child();
  return check_run_all(argc, argv);
}
