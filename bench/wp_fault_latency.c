/*
 * wp_fault_latency.c - what a synchronous userfaultfd write-protect fault
 * costs the writing thread on this machine: the price of finding heap writes
 * before they happen (snapshot-at-the-beginning marking by page,
 * docs/modes.md "Beyond the throttle") rather than after (concurrent mode's
 * asynchronous write-protect, gc/dirty.c).
 *
 *   wp_fault_latency [MIB] [--spin]       (default: 64)
 *
 * An anonymous mapping of MIB, every page touched, registered with
 * userfaultfd for write-protect without UFFD_FEATURE_WP_ASYNC, and
 * protected. A handler thread reads the fault messages; for each it reads
 * the page's 512 words (what shading the page's old values would read) and
 * lifts the protection of that page, which wakes the writer. The writer
 * stores one word into each page in a random order and times each store.
 * Three placements: writer and handler on one CPU, on two CPUs, and (with
 * --spin, or always when there are 2+ CPUs) on two CPUs with a thread
 * spinning on each, as when a program keeps every CPU busy. Prints the
 * median, p99 and maximum store time and the mean per page, per placement.
 *
 * Also reports whether a system call may write a protected page: read(2)
 * from a pipe into one. A userfaultfd opened with UFFD_USER_MODE_ONLY (all
 * an unprivileged process gets while vm.unprivileged_userfaultfd is 0) does
 * not handle faults taken in the kernel, and the call fails with EFAULT.
 *
 * Not a test: timings on a shared machine vary, compare rows of one run.
 * Exits 0 with a note when the kernel refuses the interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KPAGE 4096u

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int open_uffd(bool *user_only) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  *user_only = false;
  if (fd < 0) {
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    *user_only = true;
  }
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = 0};
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool set_wp(int fd, uintptr_t lo, size_t len, bool on) {
  struct uffdio_writeprotect wp = {.range = {lo, len}, .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
  return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0;
}

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static int uffd;
static atomic_int handler_stop, spin_stop;
static atomic_uint_fast64_t shaded; /* keeps the page reads */

typedef struct {
  int cpu;
} place_t;

static void *handler(void *arg) {
  pin(((place_t *)arg)->cpu);
  struct pollfd p = {.fd = uffd, .events = POLLIN};
  while (!atomic_load(&handler_stop)) {
    if (poll(&p, 1, 10) <= 0) continue;
    struct uffd_msg m;
    if (read(uffd, &m, sizeof m) != (ssize_t)sizeof m) continue; /* EAGAIN: taken */
    if (m.event != UFFD_EVENT_PAGEFAULT || !(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) continue;
    uintptr_t page = (uintptr_t)m.arg.pagefault.address & ~(uintptr_t)(KPAGE - 1);
    const volatile uint64_t *w = (const volatile uint64_t *)page;
    uint64_t sum = 0;
    for (unsigned i = 0; i < KPAGE / 8; i++) sum += w[i];
    atomic_fetch_add_explicit(&shaded, sum, memory_order_relaxed);
    if (!set_wp(uffd, page, KPAGE, false)) {
      perror("wp_fault_latency: UFFDIO_WRITEPROTECT off");
      exit(1);
    }
  }
  return NULL;
}

static void *spinner(void *arg) {
  pin(((place_t *)arg)->cpu);
  volatile uint64_t x = 0;
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) x++;
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void run(const char *name, char *base, size_t npages, int wcpu, int hcpu, bool spin) {
  pin(wcpu);
  if (!set_wp(uffd, (uintptr_t)base, npages * KPAGE, true)) {
    perror("wp_fault_latency: UFFDIO_WRITEPROTECT on");
    exit(1);
  }
  atomic_store(&handler_stop, 0);
  atomic_store(&spin_stop, 0);
  place_t hp = {hcpu}, sp[2] = {{wcpu}, {hcpu}};
  pthread_t h, s[2];
  pthread_create(&h, NULL, handler, &hp);
  int nspin = spin ? 2 : 0;
  for (int i = 0; i < nspin; i++) pthread_create(&s[i], NULL, spinner, &sp[i]);
  size_t *order = malloc(npages * sizeof *order);
  uint64_t *took = malloc(npages * sizeof *took);
  if (!order || !took) exit(1);
  for (size_t i = 0; i < npages; i++) order[i] = i;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (size_t i = npages - 1; i > 0; i--) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    size_t j = rng % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < npages; i++) {
    volatile uint64_t *w = (volatile uint64_t *)(base + order[i] * KPAGE + 64);
    uint64_t a = now_ns();
    *w = i;
    took[i] = now_ns() - a;
  }
  uint64_t total = now_ns() - t0;
  atomic_store(&spin_stop, 1);
  for (int i = 0; i < nspin; i++) pthread_join(s[i], NULL);
  atomic_store(&handler_stop, 1);
  pthread_join(h, NULL);
  qsort(took, npages, sizeof *took, cmp_u64);
  size_t r99 = (99 * npages + 99) / 100;
  printf("wp_fault_latency placement=%s pages=%zu median_us=%.1f p99_us=%.1f max_us=%.0f "
         "per_page_us=%.1f\n",
         name, npages, took[npages / 2] / 1e3, took[r99 - 1] / 1e3, took[npages - 1] / 1e3,
         (double)total / (double)npages / 1e3);
  free(order);
  free(took);
}

/* read(2) into a protected page: does the handler get the kernel's fault? */
static void syscall_write(char *page) {
  if (!set_wp(uffd, (uintptr_t)page, KPAGE, true)) return;
  place_t hp = {0};
  pthread_t h;
  atomic_store(&handler_stop, 0);
  pthread_create(&h, NULL, handler, &hp);
  int fds[2];
  if (pipe(fds) != 0) exit(1);
  const char msg[] = "written by read(2)";
  if (write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg) exit(1);
  ssize_t n = read(fds[0], page + 128, sizeof msg);
  int err = n < 0 ? errno : 0;
  atomic_store(&handler_stop, 1);
  pthread_join(h, NULL);
  close(fds[0]);
  close(fds[1]);
  printf("wp_fault_latency syscall_write=%s%s\n",
         n == (ssize_t)sizeof msg && memcmp(page + 128, msg, sizeof msg) == 0 ? "ok" : "failed",
         err == EFAULT ? " errno=EFAULT" : "");
}

int main(int argc, char **argv) {
  size_t mib = 64;
  bool spin = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--spin") == 0) spin = true;
    else mib = strtoul(argv[i], NULL, 10);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  bool user_only;
  uffd = open_uffd(&user_only);
  if (uffd < 0) {
    printf("wp_fault_latency: userfaultfd unavailable here (%s): nothing to measure\n",
           strerror(errno));
    return 0;
  }
  size_t npages = mib * 1024 * 1024 / KPAGE;
  char *base = mmap(NULL, npages * KPAGE + KPAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return 1;
  memset(base, 1, npages * KPAGE + KPAGE);
  struct uffdio_register r = {.range = {(uintptr_t)base, npages * KPAGE + KPAGE},
                              .mode = UFFDIO_REGISTER_MODE_WP};
  if (ioctl(uffd, UFFDIO_REGISTER, &r) != 0) {
    printf("wp_fault_latency: write-protect registration refused (%s): nothing to measure\n",
           strerror(errno));
    return 0;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf("wp_fault_latency uffd=%s cpus=%ld\n", user_only ? "user-mode-only" : "all-faults", ncpu);
  run("one-cpu", base, npages, 0, 0, false);
  if (ncpu >= 2) {
    run("two-cpus", base, npages, 0, 1, false);
    run("two-cpus-busy", base, npages, 0, 1, true);
  } else if (spin) {
    run("one-cpu-busy", base, npages, 0, 0, true);
  }
  syscall_write(base + npages * KPAGE);
  return 0;
}
