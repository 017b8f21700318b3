/*
 * protect_cost.c - what concurrent mode's page protection costs on this
 * kernel, per 4 KiB page (docs/performance.md, "Scanned chunks only, a
 * cheaper re-protection, a shading pipeline").
 *
 *   protect_cost [MIB...]     (default: 32 256)
 *
 * For each size: an anonymous mapping, every page touched, registered with
 * userfaultfd for asynchronous write-protect (as gc/dirty.c does), then three
 * rounds of: UFFDIO_WRITEPROTECT on; the same again on protected pages;
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING finding nothing written; one write
 * per page (the fault); the scan again, every page written and re-protected;
 * UFFDIO_WRITEPROTECT off. Prints ns per page for each. Then the cost of one
 * UFFDIO_WRITEPROTECT call by range size (1-512 pages, on and off), alone
 * and with another thread of the process spinning on another CPU (so that
 * each flush must interrupt it): the kernel invalidates a range of up to
 * 33 pages page by page and flushes a larger one whole, and under some
 * hypervisors each invalidation is dear (docs/performance.md, "A machine
 * where page faults are dear"). Exits 0 with a note when the kernel lacks
 * the interface (Linux < 6.7). Not a test: timings on a shared machine
 * vary, compare rows of one run.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "uffd_uapi.h" /* gc/: what Debian 12's headers lack */

#define KPAGE 4096u

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int uffd = -1, pagemap = -1;
static struct tc_page_region vec[4096];

static void wp(char *p, size_t len, bool on) {
  struct uffdio_writeprotect w = {.range = {(uintptr_t)p, len},
                                  .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
  if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) != 0) {
    perror("UFFDIO_WRITEPROTECT");
    exit(1);
  }
}

/* Re-protects the written pages of [p, p + len); returns their count. */
static size_t scan(char *p, size_t len) {
  size_t pages = 0;
  uintptr_t lo = (uintptr_t)p, hi = lo + len;
  while (lo < hi) {
    struct tc_pm_scan_arg a = {.size = sizeof a,
                            .flags = TC_PM_SCAN_WP_MATCHING | TC_PM_SCAN_CHECK_WPASYNC,
                            .start = lo,
                            .end = hi,
                            .vec = (uintptr_t)vec,
                            .vec_len = sizeof vec / sizeof vec[0],
                            .category_mask = TC_PAGE_IS_WRITTEN,
                            .category_anyof_mask = TC_PAGE_IS_PRESENT | TC_PAGE_IS_SWAPPED,
                            .return_mask = TC_PAGE_IS_WRITTEN};
    long n = ioctl(pagemap, TC_PAGEMAP_SCAN, &a);
    if (n < 0) {
      perror("PAGEMAP_SCAN");
      exit(1);
    }
    for (long i = 0; i < n; i++) pages += (vec[i].end - vec[i].start) / KPAGE;
    if (a.walk_end <= lo) break;
    lo = a.walk_end;
  }
  return pages;
}

static atomic_int spin_stop;

static void *spin(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
  }
  return NULL;
}

/* One UFFDIO_WRITEPROTECT call per range of `pages` pages over a touched,
 * registered 16 MiB mapping: microseconds per call, on and off. */
static void by_range(bool spinning) {
  size_t len = (size_t)16 << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  madvise(p, len, MADV_NOHUGEPAGE);
  memset(p, 1, len);
  struct uffdio_register r = {.range = {(uintptr_t)p, len}, .mode = UFFDIO_REGISTER_MODE_WP};
  if (ioctl(uffd, UFFDIO_REGISTER, &r) != 0) {
    perror("UFFDIO_REGISTER");
    exit(1);
  }
  pthread_t t;
  atomic_store(&spin_stop, 0);
  if (spinning && pthread_create(&t, NULL, spin, NULL) != 0) spinning = false;
  for (size_t pages = 1; pages <= 512; pages *= 2) {
    size_t n = len / (pages * KPAGE);
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) wp(p + i * pages * KPAGE, pages * KPAGE, true);
    double t1 = now_ns();
    for (size_t i = 0; i < n; i++) wp(p + i * pages * KPAGE, pages * KPAGE, false);
    double t2 = now_ns();
    printf("%8s %6zu %10.1f %10.1f\n", spinning ? "spinning" : "alone", pages,
           (t1 - t0) / (double)n / 1e3, (t2 - t1) / (double)n / 1e3);
  }
  if (spinning) {
    atomic_store(&spin_stop, 1);
    pthread_join(t, NULL);
  }
  munmap(p, len);
}

int main(int argc, char **argv) {
  uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  struct uffdio_api api = {.api = UFFD_API, .features = TC_UFFD_FEATURE_WP_ASYNC | TC_UFFD_FEATURE_WP_UNPOPULATED};
  pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || pagemap < 0) {
    printf("protect_cost: no asynchronous userfaultfd write-protect here (errno %d)\n", errno);
    return 0;
  }
  printf("%8s %5s %10s %10s %10s %10s %12s %10s   (ns per 4 KiB page)\n", "MiB", "round",
         "wp_on", "wp_again", "scan_clean", "fault", "scan_written", "wp_off");
  int nsizes = argc > 1 ? argc - 1 : 2;
  for (int s = 0; s < nsizes; s++) {
    size_t mib = argc > 1 ? strtoul(argv[s + 1], NULL, 10) : (s == 0 ? 32 : 256);
    if (mib == 0 || mib > 16384) {
      fprintf(stderr, "protect_cost: sizes are MiB, 1..16384\n");
      return 2;
    }
    size_t len = mib << 20;
    double pages = (double)(len / KPAGE);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    memset(p, 1, len);
    struct uffdio_register r = {.range = {(uintptr_t)p, len}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(uffd, UFFDIO_REGISTER, &r) != 0) {
      perror("UFFDIO_REGISTER");
      return 1;
    }
    for (int round = 1; round <= 3; round++) {
      double t0 = now_ns();
      wp(p, len, true);
      double t1 = now_ns();
      wp(p, len, true);
      double t2 = now_ns();
      size_t clean = scan(p, len);
      double t3 = now_ns();
      for (size_t i = 0; i < len; i += KPAGE) p[i] = (char)round;
      double t4 = now_ns();
      size_t written = scan(p, len);
      double t5 = now_ns();
      wp(p, len, false);
      double t6 = now_ns();
      if (clean != 0 || written != len / KPAGE) {
        fprintf(stderr, "protect_cost: scans found %zu and %zu pages, expected 0 and %zu\n",
                clean, written, len / KPAGE);
        return 1;
      }
      printf("%8zu %5d %10.0f %10.0f %10.1f %10.0f %12.0f %10.0f\n", mib, round,
             (t1 - t0) / pages, (t2 - t1) / pages, (t3 - t2) / pages, (t4 - t3) / pages,
             (t5 - t4) / pages, (t6 - t5) / pages);
    }
    munmap(p, len);
  }
  printf("\n%8s %6s %10s %10s   (us per UFFDIO_WRITEPROTECT call)\n", "other", "pages", "wp_on",
         "wp_off");
  by_range(false);
  by_range(true);
  return 0;
}
