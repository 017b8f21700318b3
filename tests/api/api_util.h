/*
 * api_util.h - helpers shared by the API tests: a 64-bit mix for checksums,
 * garbage churn (so prematurely freed slots are reused and overwritten),
 * stack scrubbing (so stale copies of dropped pointers do not keep objects
 * alive in tests that expect reclamation) and a waitpid with a deadline.
 */
#ifndef TC_API_UTIL_H
#define TC_API_UTIL_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#define API_UNUSED __attribute__((unused))

/* murmur3's 64-bit finalizer: a bijective mix. */
static API_UNUSED uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

/* A byte pattern that differs between objects and positions: fill an
 * object with it, verify it after collections and garbage. */
static inline unsigned char pat(const void *base, size_t i, unsigned seed) {
  uintptr_t a = (uintptr_t)base;
  return (unsigned char)((a >> 4) * 31u + i * 7u + seed * 131u + 1u);
}
static API_UNUSED void fill(void *p, size_t n, unsigned seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = pat(p, i, seed);
}
static API_UNUSED int verify(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != pat(p, i, seed)) return 0;
  return 1;
}

/* Overwrite dead stack so stale copies of dropped pointers do not keep
 * objects alive (only matters for tests that expect reclamation). */
__attribute__((noinline)) static API_UNUSED void clear_stack(void) {
  volatile char buf[16384];
  memset((char *)buf, 0, sizeof buf);
  __asm__ volatile("" ::"r"(buf) : "memory");
}

/* Garbage of assorted sizes up to maxsz, total bytes, each object
 * overwritten, so freed slots are reused. */
__attribute__((noinline)) static API_UNUSED void churn(size_t total, size_t maxsz,
                                                       unsigned seed) {
  size_t done = 0;
  unsigned x = seed * 2654435761u + 1;
  while (done < total) {
    x = x * 1103515245u + 12345u;
    size_t n = 1 + (x >> 8) % maxsz;
    unsigned char *p = gc_alloc(n);
    if (!p) return;
    memset(p, 0x5a, n);
    done += n;
  }
}

/* waitpid with a deadline; kills the child when it is exceeded. Returns 0
 * when the child ended in time. */
static API_UNUSED int wait_child(pid_t pid, int *status, int timeout_ms) {
  for (int waited = 0;; waited += 5) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return 0;
    if (r < 0 && errno != EINTR) return -1;
    if (waited >= timeout_ms) {
      fprintf(stderr, "  child %d did not finish in %d ms: killing it\n", (int)pid, timeout_ms);
      kill(pid, SIGKILL);
      waitpid(pid, status, 0);
      return -1;
    }
    usleep(5000);
  }
}

/* Monotonic milliseconds. */
static API_UNUSED long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* main() with a watchdog: a test that deadlocks aborts with a message after
 * `seconds` instead of hanging until ctest's timeout. */
#define API_MAIN_WITH_WATCHDOG(name, seconds)                               \
  static void api_on_alarm(int sig) {                                      \
    static const char msg[] = name ": watchdog expired (deadlock?)\n";     \
    (void)sig;                                                             \
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);                       \
    _exit(2);                                                              \
  }                                                                        \
  int main(int argc, char **argv) {                                        \
    signal(SIGALRM, api_on_alarm);                                         \
    alarm(seconds);                                                        \
    return check_run_all(argc, argv);                                      \
  }

/* Reads everything from fd until EOF or timeout_ms; returns a malloc'd,
 * NUL-terminated string (NULL when out of memory). */
static API_UNUSED char *read_all(int fd, int timeout_ms) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (elapsed > timeout_ms) break;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(timeout_ms - elapsed));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (len + 1024 > cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = 0;
  return buf;
}

/* Forks; the child runs fn(ctx) with its stderr in a pipe (and no core
 * file); if fn returns, the child says "child survived the misuse" and
 * exits 0. Returns the child's stderr (malloc'd, NUL-terminated) and its
 * wait status in *status; *died_abort is whether SIGABRT killed it. NULL
 * when the child could not be run or read. */
static API_UNUSED char *run_dying(void (*fn)(void *), void *ctx, int *status, int *died_abort) {
  *status = 0;
  *died_abort = 0;
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return NULL;
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    close(fds[0]);
    dup2(fds[1], 2);
    close(fds[1]);
    fn(ctx);
    static const char msg[] = "child survived the misuse\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  char *out = read_all(fds[0], 20000);
  close(fds[0]);
  int waited = wait_child(pid, status, 20000);
  *died_abort = waited == 0 && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGABRT;
  return out;
}

/* Output of the last run_child: "key value" lines on its stdout. */
static char child_out[8192];

/* Runs this program again as "PROGRAM --child name arg" (a fresh process
 * and heap), its stdout into child_out. Returns its exit status, or -1 on
 * timeout, death by a signal, or failure to run. */
static API_UNUSED int run_child(const char *name, const char *arg, int timeout_ms) {
  child_out[0] = 0;
  FILE *tmp = tmpfile();
  if (!tmp) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fileno(tmp), 1);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) _exit(126);
    self[n] = 0;
    execl(self, self, "--child", name, arg, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (wait_child(pid, &status, timeout_ms) != 0) {
    fclose(tmp);
    return -1;
  }
  rewind(tmp);
  size_t n = fread(child_out, 1, sizeof child_out - 1, tmp);
  child_out[n] = 0;
  fclose(tmp);
  if (!WIFEXITED(status)) {
    fprintf(stderr, "  child %s %s died (status %d)\n", name, arg, status);
    return -1;
  }
  return WEXITSTATUS(status);
}

/* The value of "key N" in child_out; -1 (and a message) when missing. */
static API_UNUSED double val(const char *key) {
  size_t k = strlen(key);
  for (const char *l = child_out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, key, k) == 0 && l[k] == ' ') return strtod(l + k + 1, NULL);
  fprintf(stderr, "  child output has no \"%s\"\n", key);
  return -1;
}

#endif
