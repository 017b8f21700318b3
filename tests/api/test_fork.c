/*
 * test_fork.c - fork() while the collector is busy.
 *
 * The parent has a checksummed live list, has collected, and runs a second
 * thread that allocates (and triggers cycles) in a loop; it forks anyway.
 * The child keeps only the forking thread: it verifies the inherited list,
 * allocates, collects several times, allocates 200 MiB of garbage (so
 * automatic cycles run in the child), verifies again and exits 0 through
 * exit() (so the library's exit path runs in the child too). The parent
 * checks the exit status and carries on allocating and collecting.
 *
 * Children are waited for with a deadline, so a deadlock after fork (a lock
 * held by a thread that does not exist in the child) fails the test.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

struct node {
  struct node *next;
  uint64_t value;
  uint64_t check;
  unsigned char payload[24];
};

static struct node *build_list(uint64_t base, int len) {
  struct node *head = NULL;
  for (int i = 0; i < len; i++) {
    struct node *n = gc_alloc(sizeof *n);
    if (!n) return NULL;
    uint64_t v = base + (uint64_t)i;
    n->next = head;
    n->value = v;
    for (size_t k = 0; k < sizeof n->payload; k++) n->payload[k] = (unsigned char)(mix(v) >> (k % 8 * 8));
    n->check = mix(v ^ (uint64_t)(uintptr_t)head);
    head = n;
  }
  return head;
}

static int list_ok(const struct node *head, uint64_t base, int len) {
  int i = len;
  for (const struct node *n = head; n; n = n->next) {
    if (--i < 0) return 0;
    uint64_t v = base + (uint64_t)i;
    if (n->value != v || n->check != mix(v ^ (uint64_t)(uintptr_t)n->next)) return 0;
    for (size_t k = 0; k < sizeof n->payload; k++)
      if (n->payload[k] != (unsigned char)(mix(v) >> (k % 8 * 8))) return 0;
  }
  return i == 0;
}

static int child_ok(pid_t pid, const char *what) {
  int status = 0;
  if (wait_child(pid, &status, 60000) != 0) return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
  if (WIFEXITED(status))
    fprintf(stderr, "  %s: child exited with %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    fprintf(stderr, "  %s: child killed by signal %d\n", what, WTERMSIG(status));
  return 0;
}

/* ---- a second thread that allocates all the time ------------------------------ */

static atomic_int stop_alloc, alloc_failures, alloc_rounds;

static void *allocator(void *arg) {
  unsigned r = 0;
  struct node *keep = build_list(1u << 30, 400);
  while (!atomic_load(&stop_alloc)) {
    uint64_t base = (uint64_t)(r + 1) << 32;
    struct node *l = build_list(base, 300);
    churn(128 * KiB, 500, r);
    if (!l || !list_ok(l, base, 300) || !list_ok(keep, 1u << 30, 400))
      atomic_fetch_add(&alloc_failures, 1);
    if (r % 50 == 0) {
      unsigned char *big = gc_alloc(2 * MiB);
      if (big) memset(big, 1, 2 * MiB);
    }
    r++;
    atomic_fetch_add(&alloc_rounds, 1);
  }
  return NULL;
}

/* The child's work; returns the exit code (0 = all good). */
static int child_main(struct node *inherited, uint64_t base, int len) {
  if (!list_ok(inherited, base, len)) return 10;
  gc_memstats m0;
  gc_read_memstats(&m0);
  struct node *mine = build_list(42u << 20, 2000);
  if (!mine || !list_ok(mine, 42u << 20, 2000)) return 11;
  for (int i = 0; i < 3; i++) {
    gc_collect();
    if (!list_ok(mine, 42u << 20, 2000) || !list_ok(inherited, base, len)) return 12;
  }
  /* 200 MiB of garbage: 1 MiB objects and small ones. */
  size_t bytes = 0;
  unsigned x = 7;
  while (bytes < 200 * MiB) {
    unsigned char *big = gc_alloc(MiB);
    if (!big) return 13;
    big[0] = 1;
    big[MiB - 1] = 1;
    bytes += MiB;
    for (int k = 0; k < 100; k++) {
      x = x * 1103515245u + 12345u;
      size_t s = 8 + (x >> 8) % 2000;
      unsigned char *p = gc_alloc(s);
      if (!p) return 13;
      p[s - 1] = 1;
      bytes += s;
    }
  }
  gc_memstats m1;
  gc_read_memstats(&m1);
  if (m1.num_gc < m0.num_gc + 3 + 5) return 14; /* forced + automatic cycles */
  if (m1.heap_inuse > 128 * MiB) return 15;     /* garbage was reclaimed */
  if (!list_ok(mine, 42u << 20, 2000) || !list_ok(inherited, base, len)) return 16;
  gc_collect();
  if (!list_ok(mine, 42u << 20, 2000) || !list_ok(inherited, base, len)) return 17;
  return 0;
}

TEST(fork_while_another_thread_allocates) {
  atomic_store(&stop_alloc, 0);
  atomic_store(&alloc_failures, 0);
  atomic_store(&alloc_rounds, 0);
  struct node *list = build_list(1000, 5000);
  CHECK_OR_RETURN(list != NULL);
  churn(8 * MiB, 1000, 1);
  gc_collect();
  pthread_t t;
  int rc = gc_pthread_create(&t, NULL, allocator, NULL);
  CHECK_OR_RETURN(rc == 0);
  while (atomic_load(&alloc_rounds) < 5) usleep(1000);

  for (int i = 0; i < 5; i++) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK_OR_RETURN(pid >= 0);
    if (pid == 0) exit(child_main(list, 1000, 5000));
    char what[32];
    snprintf(what, sizeof what, "fork %d", i);
    CHECK(child_ok(pid, what));
    /* The parent carries on. */
    churn(4 * MiB, 1000, 100u + (unsigned)i);
    gc_collect();
    CHECK(list_ok(list, 1000, 5000));
  }
  int rounds_before = atomic_load(&alloc_rounds);
  for (int i = 0; i < 1000 && atomic_load(&alloc_rounds) < rounds_before + 3; i++) usleep(10000);
  CHECK(atomic_load(&alloc_rounds) >= rounds_before + 3); /* still running */
  atomic_store(&stop_alloc, 1);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_EQ(atomic_load(&alloc_failures), 0);
  gc_collect();
  CHECK(list_ok(list, 1000, 5000));
}

/* ---- fork while other threads are collecting --------------------------------- */

static atomic_int stop_collect, collect_count;

static void *collector(void *arg) {
  struct node *keep = build_list(5u << 20, 300);
  while (!atomic_load(&stop_collect)) {
    gc_collect();
    churn(64 * KiB, 300, (unsigned)atomic_load(&collect_count));
    if (!list_ok(keep, 5u << 20, 300)) atomic_fetch_add(&alloc_failures, 1);
    atomic_fetch_add(&collect_count, 1);
  }
  return NULL;
}

static int small_child(struct node *inherited, int depth) {
  if (!list_ok(inherited, 77, 1000)) return 20;
  struct node *l = build_list(88, 500);
  churn(8 * MiB, 500, 3);
  gc_collect();
  if (!l || !list_ok(l, 88, 500) || !list_ok(inherited, 77, 1000)) return 21;
  if (depth > 0) {
    /* A grandchild, forked from a child that has collected. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 22;
    if (pid == 0) exit(small_child(inherited, depth - 1));
    int status = 0;
    if (wait_child(pid, &status, 30000) != 0) return 23;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 24;
  }
  gc_collect();
  return list_ok(l, 88, 500) ? 0 : 25;
}

TEST(fork_while_other_threads_collect) {
  atomic_store(&stop_collect, 0);
  atomic_store(&collect_count, 0);
  atomic_store(&alloc_failures, 0);
  struct node *list = build_list(77, 1000);
  CHECK_OR_RETURN(list != NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    int rc = gc_pthread_create(&t[i], NULL, collector, NULL);
    CHECK_OR_RETURN(rc == 0);
  }
  while (atomic_load(&collect_count) < 2) usleep(1000);
  for (int i = 0; i < 12; i++) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK_OR_RETURN(pid >= 0);
    if (pid == 0) exit(small_child(list, i % 4 == 0 ? 1 : 0));
    char what[32];
    snprintf(what, sizeof what, "fork %d", i);
    CHECK(child_ok(pid, what));
    usleep(1000 * (unsigned)(i % 3));
  }
  atomic_store(&stop_collect, 1);
  for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0);
  CHECK_EQ(atomic_load(&alloc_failures), 0);
  CHECK(atomic_load(&collect_count) >= 2);
  gc_collect();
  CHECK(list_ok(list, 77, 1000));
}

/* ---- fork while a thread is inside libc malloc ----------------------------------
 * glibc's fork takes the malloc arena locks after the atfork prepare
 * handlers. If the collector's prepare handler stopped threads, one parked
 * inside malloc would hold an arena lock forever and fork would hang (the
 * alarm below turns that into a failure). */

static atomic_int stop_malloc, malloc_rounds;

static void *malloc_hammer(void *arg) {
  unsigned x = 7;
  void *ring[64] = {0};
  while (!atomic_load(&stop_malloc)) {
    for (int i = 0; i < 64; i++) {
      x = x * 1103515245u + 12345u;
      free(ring[i]);
      ring[i] = malloc(16 + (x >> 8) % 4000);
      if (i % 8 == 0) churn(2 * KiB, 200, x); /* and the collector's allocator */
    }
    atomic_fetch_add(&malloc_rounds, 1);
  }
  for (int i = 0; i < 64; i++) free(ring[i]);
  return NULL;
}

TEST(fork_while_a_thread_is_in_malloc) {
  atomic_store(&stop_malloc, 0);
  pthread_t t;
  int rc = gc_pthread_create(&t, NULL, malloc_hammer, NULL);
  CHECK_OR_RETURN(rc == 0);
  while (atomic_load(&malloc_rounds) < 10) usleep(1000);
  int ok = 0;
  for (int i = 0; i < 100; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      void *p = malloc(100);
      struct node *l = build_list(5, 50);
      gc_collect();
      _exit(p && list_ok(l, 5, 50) ? 0 : 1);
    }
    if (pid > 0 && child_ok(pid, "fork during malloc")) ok++;
  }
  atomic_store(&stop_malloc, 1);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_EQ(ok, 100);
}

int main(int argc, char **argv) {
  alarm(240);
  return check_run_all(argc, argv);
}
