/*
 * test_dirty.c - the page states concurrent mode relies on (gc/dirty.h),
 * checked on this kernel: which pages a scan reports, and how many faults
 * a write costs in each state.
 *
 * A registered range starts unprotected and unpopulated. An unpopulated
 * page must never be reported (it holds only zeros) and must never be
 * protected by a scan: protecting it installs a marker, and its first write
 * then takes two faults instead of one (populate, then lift). That used to
 * be most of GCBench's extra write faults in concurrent mode. Every write
 * must still be reported exactly once: a first touch, a write to a page
 * the last scan protected, a write after the scavenger dropped a page, and
 * every populated page after the protection was lifted. Mark
 * termination's collection reports without protecting: its pages stay
 * written until the next collection that protects.
 *
 * Faults are counted with getrusage(RUSAGE_THREAD) around the writes only.
 * Without kernel support (no userfaultfd write-protect or PAGEMAP_SCAN) the
 * test says so and passes: concurrent mode then runs as stw.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "check.h"
#include "dirty.h"
#include "os.h"

#define KPAGE 4096
#define NPAGES 64

static long faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

typedef struct report {
  char *base;
  int runs;
  unsigned char page[NPAGES]; /* times reported */
} report_t;

static void note(uintptr_t start, uintptr_t end, void *ctx) {
  report_t *r = ctx;
  r->runs++;
  for (uintptr_t a = start; a < end; a += KPAGE) r->page[(a - (uintptr_t)r->base) / KPAGE]++;
}

/* Collects [base, base + NPAGES pages); returns the pages reported, and in
 * *r which pages (each exactly once, or the count shows it). */
static uint64_t collect(char *base, report_t *r) {
  memset(r, 0, sizeof *r);
  r->base = base;
  return tc_dirty_collect((uintptr_t)base, (uintptr_t)base + NPAGES * KPAGE, note, r);
}

/* The same with mark termination's collection, which leaves pages written. */
static uint64_t collect_final(char *base, report_t *r) {
  memset(r, 0, sizeof *r);
  r->base = base;
  return tc_dirty_collect_final((uintptr_t)base, (uintptr_t)base + NPAGES * KPAGE, note, r);
}

/* Exactly the pages [lo, hi) were reported, once each. */
static int reported_exactly(const report_t *r, int lo, int hi) {
  for (int i = 0; i < NPAGES; i++)
    if (r->page[i] != (i >= lo && i < hi)) return 0;
  return 1;
}

static void write_page(char *base, int i, char v) { ((volatile char *)base)[(size_t)i * KPAGE] = v; }

static int available(void) {
  if (tc_dirty_enabled()) return 1;
  const char *why = "";
  if (tc_dirty_init(&why)) return 1;
  fprintf(stderr, "  no dirty-page tracking here (%s): nothing to check\n", why);
  return 0;
}

/* A fresh registered range, 4 KiB pages (no transparent huge pages). */
static char *fresh(void) {
  char *p = mmap(NULL, NPAGES * KPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  madvise(p, NPAGES * KPAGE, MADV_NOHUGEPAGE);
  tc_dirty_track((uintptr_t)p, NPAGES * KPAGE);
  return p;
}

/* A fresh range whose pages [lo, hi) were written and then collected, so
 * they are protected now; NULL (after a failed check) if that went wrong. */
static char *fresh_protected(int lo, int hi) {
  char *p = fresh();
  if (p == NULL) return NULL;
  for (int i = lo; i < hi; i++) write_page(p, i, 1);
  report_t r;
  uint64_t n = collect(p, &r);
  CHECK_EQ(n, hi - lo);
  if (n == (uint64_t)(hi - lo)) return p;
  munmap(p, NPAGES * KPAGE);
  return NULL;
}

/* Faults taken by one write of v to page i. */
static long write_faults(char *p, int i, char v) {
  long f0 = faults();
  write_page(p, i, v);
  return faults() - f0;
}

TEST(first_touch_is_one_fault_and_reported_once) {
  if (!available()) return;
  char *p = fresh();
  CHECK_OR_RETURN(p != NULL);
  report_t r;
  CHECK_EQ(collect(p, &r), 0); /* unpopulated: not reported, not protected */
  long f0 = faults();
  for (int i = 0; i < 16; i++) write_page(p, i, 1);
  long d = faults() - f0;
  CHECK(d >= 16 && d <= 18); /* two faults a page if the scan had protected them */
  CHECK_EQ(collect(p, &r), 16);
  CHECK(reported_exactly(&r, 0, 16));
  CHECK_EQ(r.runs, 1);
  CHECK_EQ(collect(p, &r), 0);
  /* Pages 16.. were scanned twice while unpopulated: still one fault each. */
  f0 = faults();
  for (int i = 16; i < 32; i++) write_page(p, i, 1);
  d = faults() - f0;
  CHECK(d >= 16 && d <= 18);
  CHECK_EQ(collect(p, &r), 16);
  CHECK(reported_exactly(&r, 16, 32));
  munmap(p, NPAGES * KPAGE);
}

TEST(write_to_protected_page_is_one_fault_and_reported_once) {
  if (!available()) return;
  char *p = fresh_protected(0, 8);
  CHECK_OR_RETURN(p != NULL);
  report_t r;
  long d = write_faults(p, 3, 2);
  d += write_faults(p, 3, 3); /* the second write is free */
  CHECK(d >= 1 && d <= 2);
  CHECK_EQ(collect(p, &r), 1);
  CHECK(reported_exactly(&r, 3, 4));
  CHECK_EQ(collect(p, &r), 0);
  CHECK_EQ(p[3 * KPAGE], 3);
  munmap(p, NPAGES * KPAGE);
}

TEST(dropped_pages_need_no_protection) {
  if (!available()) return;
  char *p = fresh_protected(0, 16);
  CHECK_OR_RETURN(p != NULL);
  report_t r;
  /* The scavenger drops free pages (some protected, as here) and does
   * nothing else: a write after reuse must still be reported. */
  tc_os_decommit(p, 8 * KPAGE);
  CHECK_EQ(collect(p, &r), 0);
  long d = write_faults(p, 5, 7);
  CHECK(d >= 1 && d <= 2);
  CHECK_EQ(collect(p, &r), 1);
  CHECK(reported_exactly(&r, 5, 6));
  CHECK_EQ(p[5 * KPAGE], 7);
  CHECK_EQ(p[4 * KPAGE], 0); /* dropped: zero again */
  munmap(p, NPAGES * KPAGE);
}

TEST(lifted_pages_count_as_written_unpopulated_ones_do_not) {
  if (!available()) return;
  char *p = fresh_protected(8, 24);
  CHECK_OR_RETURN(p != NULL);
  report_t r;
  tc_dirty_release((uintptr_t)p, (uintptr_t)p + NPAGES * KPAGE);
  CHECK_EQ(write_faults(p, 10, 2), 0); /* unprotected: no fault */
  /* The lifting makes every populated page count as written (as after a
   * mark), and leaves the unpopulated ones out. */
  CHECK_EQ(collect(p, &r), 16);
  CHECK(reported_exactly(&r, 8, 24));
  CHECK_EQ(collect(p, &r), 0);
  munmap(p, NPAGES * KPAGE);
}

TEST(final_collection_reports_and_leaves_pages_written) {
  if (!available()) return;
  char *p = fresh_protected(0, 16);
  CHECK_OR_RETURN(p != NULL);
  report_t r;
  CHECK_EQ(write_faults(p, 2, 4), 1);
  CHECK_EQ(write_faults(p, 9, 4), 1);
  /* Mark termination: both pages reported, neither protected again, so a
   * further write is free and the pages are still pending... */
  CHECK_EQ(collect_final(p, &r), 2);
  CHECK(r.page[2] == 1 && r.page[9] == 1 && r.runs == 2);
  CHECK_EQ(write_faults(p, 2, 5), 0);
  CHECK_EQ(collect_final(p, &r), 2);
  /* ...until the next collection that protects (the reset before a mark):
   * then the next write faults and is reported once. */
  CHECK_EQ(collect(p, &r), 2);
  CHECK_EQ(collect(p, &r), 0);
  CHECK_EQ(write_faults(p, 9, 6), 1);
  CHECK_EQ(collect(p, &r), 1);
  CHECK(reported_exactly(&r, 9, 10));
  CHECK_EQ(p[2 * KPAGE], 5);
  munmap(p, NPAGES * KPAGE);
}

CHECK_MAIN()
