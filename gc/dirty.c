/*
 * dirty.c - userfaultfd + PAGEMAP_SCAN dirty-page tracking (dirty.h).
 *
 * Kernel interface (Linux >= 6.7; what Debian 12's headers lack is in
 * uffd_uapi.h): userfaultfd(UFFD_USER_MODE_ONLY) with features
 * UFFD_FEATURE_WP_ASYNC (bit 15) and UFFD_FEATURE_WP_UNPOPULATED (bit 13);
 * UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_WP; UFFDIO_WRITEPROTECT;
 * ioctl(pagemap, PAGEMAP_SCAN) = _IOWR('f', 16, struct pm_scan_arg).
 */
#include "dirty.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "stw.h"
#include "uffd_uapi.h"

#define KPAGE 4096u
/* Regions per PAGEMAP_SCAN call; more are fetched by continuing the walk. */
#define VEC_LEN 512
/* Each PAGEMAP_SCAN call holds the process's mmap lock for reading for its
 * whole walk, and a thread that maps memory (the heap growing: mmap in a
 * no-stop region) waits for it, and every page fault behind that thread:
 * a stop then waits as long. Re-protecting a written page takes ~40 ns and
 * passing a protected one ~2 ns, so one call over a 1 GiB heap written all
 * over (the reset before a mark, right after the lifting) held the lock
 * for ~10 ms. A call therefore reports and re-protects at most
 * WALK_MAX_PAGES pages and walks at most WALK_MAX_BYTES: under ~50 us each
 * (docs/performance.md, "What holds a stop": ~256 calls per GiB). */
#define WALK_MAX_PAGES 1024
#define WALK_MAX_BYTES ((uintptr_t)16 << 20)

static struct {
  int uffd;
  int pagemap;
  bool enabled;
  struct tc_page_region vec[VEC_LEN]; /* coordinator only */
} dt = {-1, -1, false, {{0}}};

bool tc_dirty_enabled(void) { return dt.enabled; }

static int open_uffd(void) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API,
                           .features = TC_UFFD_FEATURE_WP_ASYNC | TC_UFFD_FEATURE_WP_UNPOPULATED};
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Registers [lo, lo + len) for asynchronous write-protect without
 * protecting it. Its pages are unpopulated (a new arena) or count as written
 * (a fork child's heap); either state is tracked (see scan_once). */
static bool do_register(int fd, uintptr_t lo, uintptr_t len) {
  struct uffdio_register r = {.range = {lo, len}, .mode = UFFDIO_REGISTER_MODE_WP};
  return ioctl(fd, UFFDIO_REGISTER, &r) == 0;
}

/* One PAGEMAP_SCAN call over [lo, hi) for written pages, reporting them
 * into vec and, if reprotect, re-protecting them. Returns the region count
 * (or -1) and the walk end.
 *
 * Only pages with a page behind them (present or swapped) are matched. The
 * kernel counts an unpopulated page (never touched, or dropped by madvise)
 * as written, and protecting it installs a marker there: the page's first
 * write then takes two faults, one to populate it with the protection
 * inherited from the marker and one to lift it (measured: GCBench in
 * concurrent mode took ~7,500 such pairs per run, most of its write faults
 * beyond stw mode's). An unpopulated page holds only zeros, so nothing in it
 * needs a re-scan, and its first write maps an unprotected page, which the
 * next scan reports. Nothing else protects unpopulated pages (do_register
 * does not), so the heap has no markers at all. */
static long scan_once(uintptr_t lo, uintptr_t hi, struct tc_page_region *vec, size_t n,
                      bool reprotect, uintptr_t *walk_end) {
  struct tc_pm_scan_arg a = {0};
  a.size = sizeof a;
  a.flags = TC_PM_SCAN_CHECK_WPASYNC | (reprotect ? TC_PM_SCAN_WP_MATCHING : 0);
  a.start = lo;
  a.end = hi;
  a.vec = (uint64_t)(uintptr_t)vec;
  a.vec_len = n;
  a.max_pages = WALK_MAX_PAGES;
  a.category_mask = TC_PAGE_IS_WRITTEN;
  a.category_anyof_mask = TC_PAGE_IS_PRESENT | TC_PAGE_IS_SWAPPED;
  a.return_mask = TC_PAGE_IS_WRITTEN;
  long r;
  do r = ioctl(dt.pagemap, TC_PAGEMAP_SCAN, &a);
  while (r < 0 && errno == EINTR);
  *walk_end = (uintptr_t)a.walk_end;
  return r;
}

bool tc_dirty_init(const char **why) {
  dt.uffd = open_uffd();
  if (dt.uffd < 0) {
    *why = errno == ENOSYS ? "no userfaultfd" : "userfaultfd without asynchronous write-protect";
    return false;
  }
  dt.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (dt.pagemap < 0) {
    *why = "cannot open /proc/self/pagemap";
    goto fail;
  }
  /* Two scratch pages, registered and unpopulated. Each write must be
   * reported exactly once: the first touch of page 0 (and not the untouched
   * page 1), then a write to page 0 after the scan protected it together
   * with the first touch of page 1. */
  char *p = mmap(NULL, 2 * KPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *why = "mmap failed";
    goto fail;
  }
  uintptr_t lo = (uintptr_t)p, hi = lo + 2 * KPAGE, end;
  bool ok = do_register(dt.uffd, lo, 2 * KPAGE);
  if (ok) {
    p[0] = 1;
    ok = scan_once(lo, hi, dt.vec, VEC_LEN, true, &end) == 1 && dt.vec[0].start == lo &&
         dt.vec[0].end == lo + KPAGE && scan_once(lo, hi, dt.vec, VEC_LEN, true, &end) == 0;
    if (ok) {
      p[0] = 2;
      p[KPAGE] = 1;
      ok = scan_once(lo, hi, dt.vec, VEC_LEN, true, &end) == 1 && dt.vec[0].start == lo &&
           dt.vec[0].end == hi && scan_once(lo, hi, dt.vec, VEC_LEN, true, &end) == 0;
    }
    if (!ok) *why = "PAGEMAP_SCAN does not report written pages";
  } else {
    *why = "cannot register memory for write-protect";
  }
  munmap(p, 2 * KPAGE);
  if (!ok) goto fail;
  dt.enabled = true;
  return true;
fail:
  if (dt.pagemap >= 0) close(dt.pagemap);
  close(dt.uffd);
  dt.uffd = dt.pagemap = -1;
  return false;
}

void tc_dirty_track(uintptr_t lo, uintptr_t len) {
  if (!dt.enabled) return;
  if (!do_register(dt.uffd, lo, len))
    tc_throw("userfaultfd: cannot track heap range 0x%lx+%lu (errno %d)", (unsigned long)lo,
             (unsigned long)len, errno);
}

static uint64_t collect(uintptr_t lo, uintptr_t hi, struct tc_page_region *vec, bool reprotect,
                        void (*fn)(uintptr_t, uintptr_t, void *), void *ctx) {
  uint64_t pages = 0;
  while (lo < hi) {
    /* Between calls no lock is held: a stop under way gets this CPU, and
     * the mmap lock stays free for a thread it waits for (stw.h). */
    tc_stw_step_aside();
    uintptr_t end, cap = hi - lo > WALK_MAX_BYTES ? lo + WALK_MAX_BYTES : hi;
    long n = scan_once(lo, cap, vec, VEC_LEN, reprotect, &end);
    if (n < 0) tc_throw("PAGEMAP_SCAN failed (errno %d)", errno);
    for (long i = 0; i < n; i++) {
      pages += (vec[i].end - vec[i].start) / KPAGE;
      if (fn) fn((uintptr_t)vec[i].start, (uintptr_t)vec[i].end, ctx);
    }
    /* The walk stops early when the vector is full or max_pages found. */
    if (end <= lo) break;
    lo = end;
  }
  return pages;
}

uint64_t tc_dirty_collect(uintptr_t lo, uintptr_t hi,
                          void (*fn)(uintptr_t, uintptr_t, void *), void *ctx) {
  return collect(lo, hi, dt.vec, true, fn, ctx);
}

uint64_t tc_dirty_collect_final(uintptr_t lo, uintptr_t hi,
                                void (*fn)(uintptr_t, uintptr_t, void *), void *ctx) {
  struct tc_page_region vec[VEC_LEN]; /* 12 KiB of the caller's stack */
  return collect(lo, hi, vec, false, fn, ctx);
}

void tc_dirty_reset(uintptr_t lo, uintptr_t hi) {
  /* A scan that re-protects what it finds written, not UFFDIO_WRITEPROTECT
   * over the range: the scan skips a protected page for ~2 ns and protects a
   * written one for ~40 ns, where UFFDIO_WRITEPROTECT rewrites every present
   * PTE for 80-230 ns (docs/performance.md, "Protecting the heap"). Pages
   * never populated, or dropped by the scavenger since, stay unpopulated: a
   * first write to one maps a page without write-protect, which the next
   * scan reports as written. */
  if (dt.enabled && hi > lo) collect(lo, hi, dt.vec, true, NULL, NULL);
}

void tc_dirty_release(uintptr_t lo, uintptr_t hi) {
  if (!dt.enabled || hi <= lo) return;
  struct uffdio_writeprotect wp = {.range = {lo, hi - lo}, .mode = 0};
  if (ioctl(dt.uffd, UFFDIO_WRITEPROTECT, &wp) != 0)
    tc_throw("userfaultfd: cannot unprotect the heap (errno %d)", errno);
}

void tc_dirty_after_fork_child(uintptr_t lo, uintptr_t len) {
  if (!dt.enabled) return;
  /* Both descriptors refer to the parent: its mm and its /proc entry. */
  close(dt.uffd);
  close(dt.pagemap);
  dt.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  dt.uffd = open_uffd();
  if (dt.uffd < 0 || dt.pagemap < 0) tc_throw("userfaultfd unavailable in the fork child (errno %d)", errno);
  if (len) tc_dirty_track(lo, len);
}
