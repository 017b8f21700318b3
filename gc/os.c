/*
 * os.c - the OS seam (see os.h for each verb's contract): memory mappings,
 * clocks, threads, CPU counts and /proc reads. System calls with a single
 * user stay with it: the stop protocol's signals (stw.c, thread.c), dirty
 * tracking (dirty.c), markers' sleeps
 * (mark.c), the sweeper's scheduling (sweep.c), madvise (scavenge.c).
 */
#include "os.h"

#include <pthread.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *tc_os_reserve(size_t n, size_t align) {
  /* Over-reserve by align and trim both ends so the result is aligned. */
  size_t len = n + align;
  char *p = mmap(NULL, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  uintptr_t start = tc_align_up((uintptr_t)p, align);
  size_t head = start - (uintptr_t)p;
  size_t tail = len - head - n;
  if (head) munmap(p, head);
  if (tail) munmap((char *)start + n, tail);
  return (void *)start;
}

bool tc_os_commit(void *p, size_t n) {
  /* A fixed anonymous mapping over the reservation: the pages are backed on
   * first touch and not charged to the commit limit (MAP_NORESERVE). */
  void *r = mmap(p, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return r == p;
}

void tc_os_decommit(void *p, size_t n) {
  int saved = errno;
  madvise(p, n, MADV_DONTNEED);
  errno = saved;
}

void *tc_os_alloc(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void tc_os_free(void *p, size_t n) { munmap(p, n); }

int tc_os_ncpu(void) {
  /* The CPUs of the affinity mask (Go's getproccount): under taskset or a
   * cpuset the others are online but not ours. */
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return tc_os_online_cpus();
}

int tc_os_online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

/* One descriptor for the process's life: a pread at offset 0 regenerates
 * the file, ~1 us. The fourth field is "running/threads". */
static int loadavg_fd = -1;
static pthread_once_t loadavg_once = PTHREAD_ONCE_INIT;
static void loadavg_open(void) { loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC); }

/* The kernel's struct sched_attr (linux/sched/types.h; glibc 2.36 has no
 * wrapper). For SCHED_OTHER, sched_runtime is the requested slice. */
struct tc_sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};

uint64_t tc_os_thread_slice(uint64_t ns) {
  struct tc_sched_attr a;
  memset(&a, 0, sizeof a);
  /* Keep the policy and nice value; a policy other than SCHED_OTHER has
   * no slice to set. */
  if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0 || a.sched_policy != SCHED_OTHER) return 0;
  uint64_t old = a.sched_runtime;
  if (old == ns) return 0;
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = ns;
  return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? old : 0;
}

void tc_os_futex_wait(uint32_t *w, uint32_t v, uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, ns ? &ts : NULL, NULL, 0);
}

void tc_os_futex_wake(uint32_t *w) {
  syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

int tc_os_runnable(void) {
  pthread_once(&loadavg_once, loadavg_open);
  if (loadavg_fd < 0) return -1;
  char buf[128];
  ssize_t n = pread(loadavg_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = buf;
  for (int field = 0; field < 3; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return -1;
    p++;
  }
  char *end;
  long r = strtol(p, &end, 10);
  return end == p || *end != '/' ? -1 : (int)r;
}

ssize_t tc_os_read_file(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t have = 0;
  while (have < n - 1) {
    ssize_t r = read(fd, buf + have, n - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      close(fd);
      return -1;
    }
    if (r == 0) break;
    have += (size_t)r;
  }
  close(fd);
  buf[have] = 0;
  return (ssize_t)have;
}

/* Idle and total CPU ticks since boot, summed over CPUs (/proc/stat's
 * first line; idle includes iowait). */
bool tc_os_cpu_ticks(uint64_t *idle, uint64_t *total) {
  char buf[512];
  ssize_t n = tc_os_read_file("/proc/stat", buf, sizeof buf);
  if (n <= 4 || memcmp(buf, "cpu ", 4) != 0) return false;
  uint64_t v[8] = {0}, sum = 0;
  char *p = buf + 4;
  for (int i = 0; i < 8; i++) {
    v[i] = strtoull(p, &p, 10);
    sum += v[i];
  }
  *idle = v[3] + v[4];
  *total = sum;
  return true;
}

bool tc_os_clock_ns(clockid_t id, uint64_t *ns) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) return false;
  *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  return true;
}

static uint64_t clock_ns(clockid_t id) {
  uint64_t ns = 0;
  (void)tc_os_clock_ns(id, &ns);
  return ns;
}

bool tc_os_pin_thread(pid_t tid, int cpu, cpu_set_t *old) {
  if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(tid, sizeof *old, old) != 0 ||
      !CPU_ISSET(cpu, old) || CPU_COUNT(old) == 1)
    return false;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(tid, sizeof one, &one) == 0;
}

void tc_os_unpin_thread(pid_t tid, const cpu_set_t *old) {
  /* Fails only if the thread's cpuset changed meanwhile: it then keeps the
   * one CPU, which slows it but breaks nothing. */
  (void)sched_setaffinity(tid, sizeof *old, old);
}

uint64_t tc_nanotime(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t tc_unixnanos(void) { return clock_ns(CLOCK_REALTIME); }
uint64_t tc_thread_cputime(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

int tc_os_thread_start(void *(*fn)(void *), pthread_t *out) {
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&th, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  if (err == 0 && out) *out = th;
  return err;
}
