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
 * ring and totals are updated under the world lock, with the world stopped
 * or just restarted (no stdio, no malloc).
 * Go: runtime/mstats.go.
 */
#ifndef TC_STATS_H
#define TC_STATS_H

#include <tricolor.h>

#include "base.h"
#include "sizeclass.h"

/* Go's time histogram: 162 counts between 163 boundaries. */
#define TC_PAUSE_HIST_COUNTS 162

/* The pause histograms (Go's /sched/pauses/...): each stop-the-world's
 * total time and its stopping part, for the cycles' pauses (gc) and for
 * the other stops (gc_read_memstats, the metrics snapshot,
 * gc_set_profile_rate). */
enum { TC_PAUSE_GC, TC_PAUSE_GC_STOPPING, TC_PAUSE_OTHER, TC_PAUSE_OTHER_STOPPING, TC_PAUSE_HISTS };

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
  uint64_t stop1_ns, stop2_ns; /* the part of each pause spent stopping the
                                  world: from the stop request until every
                                  thread has parked */
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
  uint64_t next_trigger;   /* trigger of the next cycle */
  double cons_mark;        /* the pacer's estimate after this cycle */
  uint64_t stack_bytes, global_bytes, heap_scan_bytes;
  int procs;
} tc_cycle_record_t;

/* Memory figures for the pacer and the scavenger, read without stopping
 * the world (each counter atomic, the set racy): MemStats' sys,
 * heap_inuse, heap_idle - heap_released and heap_released. */
typedef struct tc_memsnap {
  uint64_t sys, heap_inuse, heap_free, heap_released;
} tc_memsnap_t;
void tc_stats_memory(tc_memsnap_t *out);

/* Everything gc_read_metrics needs, from one stop of the world. */
typedef struct tc_stats_snapshot {
  gc_memstats m;
  uint64_t small_allocs[TC_NUM_SIZE_CLASSES], small_frees[TC_NUM_SIZE_CLASSES];
  uint64_t large_allocs, large_frees, large_alloc_bytes, large_free_bytes;
  uint64_t pause_hist[TC_PAUSE_HISTS][TC_PAUSE_HIST_COUNTS];
  uint64_t cpu_assist_ns, cpu_mark_ns, cpu_idle_ns, cpu_pause_ns, elapsed_ns;
} tc_stats_snapshot_t;
void tc_stats_snapshot(tc_stats_snapshot_t *s);
/* The 163 pause histogram boundaries, in seconds. */
const double *tc_stats_pause_buckets(void);

void tc_stats_count_small_allocs(unsigned sizeclass, uint32_t n);
void tc_stats_count_small_frees(unsigned sizeclass, uint32_t n);
void tc_stats_count_large_alloc(uintptr_t bytes);
void tc_stats_count_large_free(uintptr_t bytes);

/* Holding the world lock, right after the restart (readers stop the world,
 * which takes that lock): record a finished cycle's pauses (stw1_ns +
 * stw2_ns, Go's per-cycle PauseNs, each until the world restarted) ending
 * at end_unix_ns. */
void tc_stats_record_cycle_stw(const tc_cycle_record_t *r, uint64_t end_unix_ns);
/* The same, for a stop that is not a cycle's (TC_PAUSE_OTHER). */
void tc_stats_record_other_pause(uint64_t stopping_ns, uint64_t total_ns);
void tc_stats_init(void);
uint64_t tc_stats_init_ns(void);
/* Go 1.19's GCCPUFraction: GC CPU time over procs x wall time since start. */
double tc_stats_gc_cpu_fraction(void);

#endif
