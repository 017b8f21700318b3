/*
 * marktrace.c - GCMARKTRACE lines (marktrace.h).
 */
#include "marktrace.h"

#include <stdio.h>

#include <tricolor.h>

#include "error.h"
#include "gctrace.h"
#include "protect.h"
#include "throttle.h"

/* The counters' totals at the last line (coordinator only). */
static struct {
  uint64_t stops, held, gave_up;
  tc_protect_counts_t lift;
} last;

void tc_marktrace_print(const tc_cycle_record_t *r) {
  if (r->mode == GC_MODE_STW) return;
  char A[24], a[24], C[24], c[24], line[512];
  tc_gctrace_fmt_ms(A, r->stw1_ns);
  tc_gctrace_fmt_ms(a, r->stop1_ns);
  tc_gctrace_fmt_ms(C, r->stw2_ns);
  tc_gctrace_fmt_ms(c, r->stop2_ns);
  int n;
  if (r->mode == GC_MODE_CONCURRENT) {
    uint64_t stops = tc_throttle_total_stops(), held = tc_throttle_total_held();
    uint64_t gave_up = tc_throttle_total_gave_up();
    tc_protect_counts_t lift;
    tc_protect_read_counts(&lift);
    uint64_t lifted = (lift.lifted_pages - last.lift.lifted_pages) << TC_PAGE_SHIFT;
    uint64_t kept = (lift.kept_pages - last.lift.kept_pages) << TC_PAGE_SHIFT;
    n = snprintf(line, sizeof line,
                 "mark %u concurrent: %u rounds, %llu pages re-scanned, %llu left to pause 2; "
                 "throttle %llu stops%s%s; lifted %llu KiB, kept %llu KiB; pause 1 %s ms "
                 "(stopping %s), pause 2 %s ms (stopping %s), %llu KiB scanned in pause 2\n",
                 r->num, r->rounds, (unsigned long long)r->dirty_pages,
                 (unsigned long long)r->final_dirty_pages,
                 (unsigned long long)(stops - last.stops), held != last.held ? ", held" : "",
                 gave_up != last.gave_up ? ", gave up" : "", (unsigned long long)(lifted >> 10),
                 (unsigned long long)(kept >> 10), A, a, C, c,
                 (unsigned long long)(r->term_scan_bytes >> 10));
    last.stops = stops;
    last.held = held;
    last.gave_up = gave_up;
    last.lift = lift;
  } else {
    n = snprintf(line, sizeof line,
                 "mark %u barrier: %u rounds; pause 1 %s ms (stopping %s), pause 2 %s ms "
                 "(stopping %s), %llu KiB scanned in pause 2\n",
                 r->num, r->rounds, A, a, C, c, (unsigned long long)(r->term_scan_bytes >> 10));
  }
  tc_write_line(line, n, sizeof line);
}
