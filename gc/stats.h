/*
 * stats.h - the collector's counters and the per-cycle record.
 *
 * Allocation counts are credited per span when it leaves an mcache (refill,
 * flush), never per object; frees when the sweeper frees; large objects at
 * allocation and free. All counters are atomic adds. gc_read_memstats (in
 * stats.c) stops the world, adds what cached spans have not yet credited,
 * and derives Go's MemStats fields.
 *
 * tc_cycle_record_t is filled at phase boundaries by cycle.c; the pause
 * ring and totals are updated with the world stopped (no stdio, no malloc).
 * Go: runtime/mstats.go.
 */
#ifndef TC_STATS_H
#define TC_STATS_H

#include "base.h"
#include "sizeclass.h"

typedef struct tc_cycle_record {
  uint32_t num;            /* cycle number, from 1 */
  bool forced;             /* started by gc_collect */
  uint64_t start_ns;       /* monotonic, when the cycle was requested */
  uint64_t sweep_term_ns;  /* monotonic, the first stop requested (Go's tSweepTerm) */
  uint64_t stw_start_ns;   /* world stop requested (mark termination's in
                              concurrent modes) */
  uint64_t stw_end_ns;     /* world restarted */
  uint64_t stw1_ns;        /* sweep termination pause (0 in stw mode) */
  uint64_t stw2_ns;        /* mark termination pause (the whole mark in stw) */
  uint64_t mark_start_ns, mark_end_ns; /* concurrent mark, monotonic */
  uint64_t mark_cpu_ns;    /* background mark workers' time */
  uint64_t assist_ns;      /* mutators' mark assist time */
  uint64_t idle_ns;        /* idle workers' part of mark_cpu_ns */
  uint64_t heap_live_end;  /* heap_live at mark termination (Go's H1) */
  uint64_t black_bytes;    /* allocated during the mark */
  uint32_t rounds;         /* concurrent re-scan rounds */
  uint64_t dirty_pages, final_dirty_pages, term_scan_bytes;
  int mode;                /* gc_mode_t */
  uint64_t heap_live_start;/* heap_live when the cycle started */
  uint64_t heap_marked;    /* bytes marked */
  uint64_t goal;           /* heap goal of this cycle */
  uint64_t next_goal;      /* goal of the next cycle */
  uint64_t stack_bytes, global_bytes, heap_scan_bytes;
  int procs;
} tc_cycle_record_t;

void tc_stats_count_small_allocs(unsigned sizeclass, uint32_t n);
void tc_stats_count_small_frees(unsigned sizeclass, uint32_t n);
void tc_stats_count_large_alloc(uintptr_t bytes);
void tc_stats_count_large_free(uintptr_t bytes);

/* World stopped: record a finished cycle's pauses (stw1_ns + stw2_ns, Go's
 * per-cycle PauseNs) ending at end_unix_ns. */
void tc_stats_record_cycle_stw(const tc_cycle_record_t *r, uint64_t end_unix_ns);
void tc_stats_init(void);
uint64_t tc_stats_init_ns(void);
/* Go 1.19's GCCPUFraction: GC CPU time over procs x wall time since start. */
double tc_stats_gc_cpu_fraction(void);

#endif
