/*
 * scavenge.c - returning free heap pages to the OS (scavenge.h).
 */
#include "scavenge.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "atomic.h"
#include "arena.h"
#include "error.h"
#include "limiter.h"
#include "mheap.h"
#include "options.h"
#include "os.h"
#include "stats.h"
#include "thread.h"

/* Pages released per step (64 KiB, Go's scavenger unit). */
#define STEP_PAGES 8
/* The background scavenger works in batches of at least this long. */
#define BATCH_NS 1000000
/* Its share of the machine: 1% of GCPROCS CPUs (Go's scavengePercent). */
#define SCAVENGE_PERCENT 1

static struct {
  uint64_t percent_goal;  /* atomic; UINT64_MAX: none */
  uint64_t limit_goal;    /* atomic; UINT64_MAX: none */
  uint64_t work_bg, work_eager; /* atomic; bytes since the last trace line */
  uint64_t cpu_bg, cpu_eager;   /* atomic; cumulative ns */
  pthread_mutex_t lock;   /* background thread wake-up */
  pthread_cond_t cond;
  bool started;
  uint64_t wake_gen;      /* protected by lock */
  /* GCTRACE=2 lines: one per sweep generation, a forced one (from
   * gc_free_os_memory) taking the place of the background sweeper's. */
  pthread_mutex_t trace_lock;
  uint32_t traced_gen;    /* protected by trace_lock */
} sc = {UINT64_MAX, UINT64_MAX, 0, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER, false, 0, PTHREAD_MUTEX_INITIALIZER, UINT32_MAX};

void tc_scavenge_set_goals(uint64_t heap_goal, uint64_t last_heap_goal,
                           uint64_t last_heap_inuse, int64_t limit) {
  uint64_t pg = UINT64_MAX;
  if (last_heap_goal != 0 && heap_goal != UINT64_MAX) {
    double g = (double)last_heap_inuse * ((double)heap_goal / (double)last_heap_goal);
    g += g / 10; /* retainExtraPercent */
    pg = g >= 1.8e19 ? UINT64_MAX : tc_align_up((uint64_t)g, 4096);
  }
  tc_atomic_store_relaxed(&sc.percent_goal, pg);
  uint64_t lg = limit == INT64_MAX ? UINT64_MAX : (uint64_t)limit / 100 * 95;
  tc_atomic_store_relaxed(&sc.limit_goal, lg);
}

/* Bytes of resident memory over the goals. */
static uint64_t excess(void) {
  tc_memsnap_t m;
  tc_stats_memory(&m);
  uint64_t retained = m.heap_inuse + m.heap_free;
  uint64_t mapped = m.sys - m.heap_released;
  uint64_t pg = tc_atomic_load_relaxed(&sc.percent_goal);
  uint64_t lg = tc_atomic_load_relaxed(&sc.limit_goal);
  uint64_t e = 0;
  if (retained > pg) e = retained - pg;
  if (mapped > lg && mapped - lg > e) e = mapped - lg;
  return e;
}

uint64_t tc_scavenge_release(uint64_t bytes, int kind) {
  uint64_t t0 = tc_nanotime(), done = 0;
  while (done < bytes) {
    uintptr_t want = (uintptr_t)((bytes - done + TC_PAGE_SIZE - 1) >> TC_PAGE_SHIFT);
    if (want > STEP_PAGES) want = STEP_PAGES;
    uintptr_t n;
    tc_thread_t *t = tc_mutex_lock_nostop(&tc_mheap.lock);
    uintptr_t first = tc_pagealloc_take_resident(&tc_mheap.pages, want, &n);
    tc_mutex_unlock_nostop(&tc_mheap.lock, t);
    if (first == TC_NO_PAGE) break;
    uintptr_t addr = tc_page_addr(first), len = n << TC_PAGE_SHIFT;
    /* The pages are unpopulated now. Concurrent mode needs nothing more: a
     * write after reuse maps an unprotected page, which the next scan
     * reports (dirty.c, scan_once). */
    tc_os_decommit((void *)addr, len);
    t = tc_mutex_lock_nostop(&tc_mheap.lock);
    tc_pagealloc_free_scavenged(&tc_mheap.pages, first, n);
    tc_mutex_unlock_nostop(&tc_mheap.lock, t);
    done += len;
  }
  uint64_t ns = tc_nanotime() - t0;
  if (kind == TC_SCAV_BG) {
    tc_atomic_add_relaxed(&sc.work_bg, done);
    tc_atomic_add_relaxed(&sc.cpu_bg, ns);
  } else {
    /* gc_free_os_memory's release counts as eager work, as in Go. */
    tc_atomic_add_relaxed(&sc.work_eager, done);
    tc_atomic_add_relaxed(&sc.cpu_eager, ns);
  }
  return done;
}

void tc_scavenge_after_alloc(uint64_t bytes, bool grew) {
  if (tc_limiter_limiting()) return;
  uint64_t pg = tc_atomic_load_relaxed(&sc.percent_goal);
  uint64_t lg = tc_atomic_load_relaxed(&sc.limit_goal);
  if (pg == UINT64_MAX && lg == UINT64_MAX) return;
  tc_memsnap_t m;
  tc_stats_memory(&m);
  uint64_t want = 0;
  uint64_t mapped = m.sys - m.heap_released;
  if (lg != UINT64_MAX && mapped > lg) want = mapped - lg;
  uint64_t retained = m.heap_inuse + m.heap_free;
  if (grew && retained > pg) {
    uint64_t over = retained - pg;
    if (over > bytes) over = bytes;
    if (over > want) want = over;
  }
  if (want) tc_atomic_add_relaxed(&tc_scavenge_eager_owed, want);
}

uint64_t tc_scavenge_eager_owed;

void tc_scavenge_pay_eager_slow(void) {
  uint64_t owed = tc_atomic_exchange_acq_rel(&tc_scavenge_eager_owed, 0);
  if (owed) tc_scavenge_release(owed, TC_SCAV_EAGER);
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
}

static void *scavenger(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  double duty = SCAVENGE_PERCENT / 100.0 * tc_options.procs;
  if (duty > 1) duty = 1;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&sc.lock);
    while (sc.wake_gen == seen) pthread_cond_wait(&sc.cond, &sc.lock);
    seen = sc.wake_gen;
    pthread_mutex_unlock(&sc.lock);
    for (;;) {
      uint64_t e = excess();
      if (e == 0) break;
      /* A batch: 64 KiB steps until BATCH_NS of this thread's CPU time
       * have passed; then sleep so that CPU / (CPU + sleep) is the duty
       * (CPU time, not wall time: on a loaded machine a preempted batch
       * would otherwise buy a sleep of seconds). */
      uint64_t t0 = tc_thread_cputime(), released = 0;
      while (released < e && tc_thread_cputime() - t0 < BATCH_NS) {
        uint64_t got = tc_scavenge_release(STEP_PAGES << TC_PAGE_SHIFT, TC_SCAV_BG);
        if (got == 0) break;
        released += got;
      }
      if (released == 0) break; /* nothing free and resident left */
      uint64_t work = tc_thread_cputime() - t0;
      sleep_ns((uint64_t)((double)work * (1 - duty) / duty));
    }
  }
  return NULL;
}

void tc_scavenge_wake(void) {
  if (excess() == 0) return;
  pthread_mutex_lock(&sc.lock);
  if (!sc.started) {
    if (tc_os_thread_start(scavenger, NULL) == 0) sc.started = true;
  }
  sc.wake_gen++;
  pthread_cond_signal(&sc.cond);
  pthread_mutex_unlock(&sc.lock);
}

void tc_scavenge_trace(bool forced) {
  /* Under the lock: the sweeper's line of this generation comes before the
   * forced one or not at all (one sweep generation per cycle). */
  uint32_t sg = tc_mheap_sweepgen();
  pthread_mutex_lock(&sc.trace_lock);
  if (!forced && sc.traced_gen == sg) {
    pthread_mutex_unlock(&sc.trace_lock);
    return;
  }
  sc.traced_gen = sg;
  uint64_t bg = tc_atomic_exchange_acq_rel(&sc.work_bg, 0);
  uint64_t eager = tc_atomic_exchange_acq_rel(&sc.work_eager, 0);
  tc_memsnap_t m;
  tc_stats_memory(&m);
  uint64_t retained = m.heap_inuse + m.heap_free;
  uint64_t util = retained ? m.heap_inuse * 100 / retained : 0;
  char line[160];
  int n = snprintf(line, sizeof line,
                   "scav %llu KiB work (bg), %llu KiB work (eager), %llu KiB now, %llu%% util%s\n",
                   (unsigned long long)(bg >> 10), (unsigned long long)(eager >> 10),
                   (unsigned long long)(m.heap_released >> 10), (unsigned long long)util,
                   forced ? " (forced)" : "");
  tc_write_line(line, n, sizeof line);
  pthread_mutex_unlock(&sc.trace_lock);
}

void tc_scavenge_cpu(uint64_t *bg_ns, uint64_t *eager_ns) {
  *bg_ns = tc_atomic_load_relaxed(&sc.cpu_bg);
  *eager_ns = tc_atomic_load_relaxed(&sc.cpu_eager);
}

void tc_scavenge_after_fork_child(void) {
  pthread_mutex_init(&sc.lock, NULL);
  pthread_mutex_init(&sc.trace_lock, NULL);
  pthread_cond_init(&sc.cond, NULL);
  sc.started = false;
}
