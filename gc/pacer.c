/*
 * pacer.c - Go's GC pacer (pacer.h).
 */
#include "pacer.h"

#include <string.h>

#include <tricolor.h>

#include "assist.h"
#include "config.h"
#include "cycle.h"
#include "fmath.h"
#include "limiter.h"
#include "mark.h"
#include "mheap.h"
#include "options.h"
#include "scavenge.h"
#include "thread.h"

/* Go's constants (mgcpacer.go). */
#define BG_UTIL 0.25                      /* gcBackgroundUtilization */
#define MIN_RUNWAY_CYCLE ((uint64_t)64 << 10) /* goal >= triggered + 64 KiB while running */
#define TRIGGER_RATIO_DEN 64
#define MIN_TRIGGER_NUM 45                /* ~0.7 of the way from M to the goal */
#define MAX_TRIGGER_NUM 61                /* ~0.95 */
#define MAX_TRIGGER_SLACK ((uint64_t)4 << 20)
#define LIMIT_HEADROOM_MIN ((uint64_t)1 << 20)
#define CONS_MARK_HISTORY 4

static struct {
  tc_mutex_t lock;          /* mutator-side commits, inside no-stop regions */
  int percent;              /* atomic; < 0: off */
  int64_t memory_limit;     /* atomic; INT64_MAX: none */
  /* Measured by the last mark (written with the world stopped). */
  uint64_t heap_marked;     /* M */
  uint64_t last_heap_scan;  /* heap scan work */
  uint64_t last_stack_scan; /* S */
  uint64_t globals_scan;    /* G */
  uint64_t last_heap_inuse; /* heap_inuse at mark termination (scavenger) */
  uint64_t last_heap_goal;  /* the goal as the last cycle ended */
  double cons_mark;
  double cons_mark_hist[CONS_MARK_HISTORY];
  /* Committed. */
  uint64_t percent_goal;    /* UINT64_MAX: none */
  uint64_t runway;
  /* The running cycle. */
  uint64_t triggered;       /* heap_live at its start */
  uint64_t mark_start_ns;
  uint64_t work_per_byte;   /* atomic, double bits */
  uint64_t bytes_per_work;  /* atomic, double bits */
} pc = {.lock = TC_MUTEX_INIT};


int tc_pacer_percent(void) { return tc_atomic_load_relaxed(&pc.percent); }
int64_t tc_pacer_memory_limit(void) { return tc_atomic_load_relaxed(&pc.memory_limit); }
uint64_t tc_pacer_heap_marked(void) { return pc.heap_marked; }
uint64_t tc_pacer_last_heap_scan(void) { return pc.last_heap_scan; }
uint64_t tc_pacer_last_stack_scan(void) { return pc.last_stack_scan; }
uint64_t tc_pacer_globals_scan(void) { return pc.globals_scan; }
uint64_t tc_pacer_last_heap_goal(void) { return pc.last_heap_goal; }
double tc_pacer_cons_mark(void) { return pc.cons_mark; }
double tc_pacer_work_per_byte(void) { return tc_f64_from_bits(tc_atomic_load_relaxed(&pc.work_per_byte)); }
double tc_pacer_bytes_per_work(void) { return tc_f64_from_bits(tc_atomic_load_relaxed(&pc.bytes_per_work)); }

/* Go's memoryLimitHeapGoal: the heap left under the limit once everything
 * else mapped (and any overage) is taken away, minus headroom. */
static uint64_t memory_limit_goal(int64_t limit) {
  tc_memsnap_t m;
  tc_stats_memory(&m);
  uint64_t lim = (uint64_t)limit;
  uint64_t mapped = m.sys - m.heap_released;
  /* HeapAlloc, as far as the pacer can see it without stopping the world:
   * heap_live, which counts cached spans whole, within the in-use pages. */
  uint64_t live = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  uint64_t heap_alloc = live < m.heap_inuse ? live : m.heap_inuse;
  uint64_t used = m.heap_free + heap_alloc;
  uint64_t non_heap = mapped > used ? mapped - used : 0;
  uint64_t overage = mapped > lim ? mapped - lim : 0;
  uint64_t marked = pc.heap_marked;
  if (non_heap + overage >= lim) return marked;
  uint64_t g = lim - (non_heap + overage);
  uint64_t headroom = g / 100 * 3;
  if (headroom < LIMIT_HEADROOM_MIN) headroom = LIMIT_HEADROOM_MIN;
  g = g < 2 * headroom ? headroom : g - headroom;
  return g > marked ? g : marked;
}

/* Go's heapGoalInternal. *limited: the memory limit set it. */
static uint64_t heap_goal(bool *limited) {
  uint64_t goal = pc.percent_goal;
  int64_t limit = tc_pacer_memory_limit();
  *limited = false;
  if (limit != INT64_MAX) {
    uint64_t ml = memory_limit_goal(limit);
    if (ml < goal) {
      *limited = true;
      return ml;
    }
  }
  if (tc_gc_marking() && goal != UINT64_MAX && goal < pc.triggered + MIN_RUNWAY_CYCLE)
    goal = pc.triggered + MIN_RUNWAY_CYCLE;
  return goal;
}

uint64_t tc_pacer_heap_goal(void) {
  bool limited;
  return heap_goal(&limited);
}

/* Go's trigger(): the goal minus the runway, clamped. */
static uint64_t trigger_for(uint64_t goal) {
  uint64_t m = pc.heap_marked;
  if (goal == UINT64_MAX) return UINT64_MAX;
  if (tc_gc.mode == TC_MODE_STW || m >= goal) return goal;
  uint64_t span = goal - m;
  uint64_t min_t = m + span / TRIGGER_RATIO_DEN * MIN_TRIGGER_NUM;
  uint64_t max_t = m + span / TRIGGER_RATIO_DEN * MAX_TRIGGER_NUM;
  if (goal > MAX_TRIGGER_SLACK && goal - MAX_TRIGGER_SLACK > max_t) max_t = goal - MAX_TRIGGER_SLACK;
  if (max_t < min_t) max_t = min_t;
  uint64_t t = goal > pc.runway ? goal - pc.runway : 0;
  if (t < min_t) t = min_t;
  if (t > max_t) t = max_t;
  return t;
}

/* Go's commit: the goal from GCPERCENT, the runway from cons/mark, then the
 * published goal and trigger and the scavenger's goals. World stopped, or
 * the pacer lock held inside a no-stop region. */
static void commit(void) {
  int p = tc_pacer_percent();
  uint64_t m = pc.heap_marked;
  if (p < 0) {
    pc.percent_goal = UINT64_MAX;
  } else {
    uint64_t base = m + pc.last_stack_scan + pc.globals_scan;
    uint64_t goal = m + base / 100 * (uint64_t)p + base % 100 * (uint64_t)p / 100;
    uint64_t minimum = TC_HEAP_MINIMUM * (uint64_t)p / 100;
    pc.percent_goal = goal > minimum ? goal : minimum;
  }
  double runway = pc.cons_mark * (1 - BG_UTIL) / BG_UTIL *
                  (double)(pc.last_heap_scan + pc.last_stack_scan + pc.globals_scan);
  pc.runway = runway >= 1.8e19 ? UINT64_MAX : (uint64_t)runway;
  bool limited;
  uint64_t goal = heap_goal(&limited);
  tc_atomic_store_relaxed(&tc_gc.goal, goal);
  tc_atomic_store_relaxed(&tc_gc.trigger, trigger_for(goal));
  tc_atomic_store_relaxed(&tc_gc.memory_limited, tc_pacer_memory_limit() != INT64_MAX);
  tc_scavenge_set_goals(goal, pc.last_heap_goal, pc.last_heap_inuse, tc_pacer_memory_limit());
}

bool tc_pacer_trigger_slow(uint64_t live) {
  bool limited;
  uint64_t goal = heap_goal(&limited);
  return live >= trigger_for(goal);
}

void tc_pacer_init(void) {
  /* Called again when the mode changes (the trigger depends on it): the
   * environment is read once, later gc_set_* calls stand. */
  static bool once;
  if (!once) {
    pc.percent = tc_options.percent;
    pc.memory_limit = tc_options.memory_limit;
    once = true;
  }
  tc_atomic_store_relaxed(&pc.work_per_byte, tc_f64_bits(0));
  tc_atomic_store_relaxed(&pc.bytes_per_work, tc_f64_bits(0));
  commit();
}

void tc_pacer_revise(void) {
  int p = tc_pacer_percent();
  double expected = (double)(pc.last_heap_scan + pc.last_stack_scan + pc.globals_scan);
  double max_work = (double)((uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_scan) +
                             pc.last_stack_scan + pc.globals_scan);
  double done = (double)tc_mark_work_done();
  double goal = (double)tc_pacer_heap_goal();
  double live = (double)(uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  double triggered = (double)pc.triggered;
  if (done > expected) {
    /* More scan work than the last cycle left: assume everything scannable
     * is live and stretch the goal in proportion, up to a hard cap. */
    double cap = (1 + (p < 0 ? 100000 : p) / 100.0) * goal;
    if (expected > 0) goal = triggered + (goal - triggered) / expected * max_work;
    if (goal > cap) goal = cap;
    expected = max_work;
  }
  if (live > goal) {
    goal *= 1.1;
    expected = max_work;
  }
  double remaining_work = expected - done;
  if (remaining_work < 1000) remaining_work = 1000;
  double remaining_heap = goal - live;
  if (remaining_heap < 1) remaining_heap = 1;
  tc_atomic_store_relaxed(&pc.work_per_byte, tc_f64_bits(remaining_work / remaining_heap));
  tc_atomic_store_relaxed(&pc.bytes_per_work, tc_f64_bits(remaining_heap / remaining_work));
}

void tc_pacer_start_cycle(uint64_t now_ns) {
  pc.triggered = (uint64_t)tc_atomic_load_relaxed(&tc_gc.heap_live);
  pc.mark_start_ns = now_ns;
  tc_assist_start_cycle();
  tc_pacer_revise();
}

void tc_pacer_end_cycle(tc_cycle_record_t *rec, uint64_t now_ns) {
  /* cons/mark of this cycle (Go's endCycle). */
  uint64_t dur = now_ns > pc.mark_start_ns ? now_ns - pc.mark_start_ns : 1;
  double procs = (double)tc_options.procs;
  double u = BG_UTIL + (double)rec->assist_ns / ((double)dur * procs);
  double u_idle = (double)rec->idle_ns / ((double)dur * procs);
  if (u > 0.95) u = 0.95;
  double work = (double)rec->heap_scan_bytes - (double)tc_mark_rescan_bytes();
  if (work < 1) work = 1;
  if (rec->heap_live_end > pc.triggered && work > 0 && tc_gc.mode != TC_MODE_STW) {
    double cur = (double)(rec->heap_live_end - pc.triggered) * (u + u_idle) / (work * (1 - u));
    double cm = cur;
    for (int i = 0; i < CONS_MARK_HISTORY; i++)
      if (pc.cons_mark_hist[i] > cm) cm = pc.cons_mark_hist[i];
    memmove(pc.cons_mark_hist + 1, pc.cons_mark_hist,
            (CONS_MARK_HISTORY - 1) * sizeof pc.cons_mark_hist[0]);
    pc.cons_mark_hist[0] = cur;
    pc.cons_mark = cm;
  }
  pc.last_heap_goal = rec->goal;
  /* The new inputs. The scan work counts roots too; S and G apart. */
  pc.heap_marked = rec->heap_marked;
  pc.last_stack_scan = rec->stack_bytes;
  pc.globals_scan = rec->global_bytes;
  uint64_t roots = rec->stack_bytes + rec->global_bytes + tc_mark_rescan_bytes();
  pc.last_heap_scan = rec->heap_scan_bytes > roots ? rec->heap_scan_bytes - roots : 0;
  tc_atomic_store_relaxed(&tc_gc.heap_scan, (int64_t)pc.last_heap_scan);
  pc.last_heap_inuse = tc_atomic_load_relaxed(&tc_mheap.pages_inuse) << TC_PAGE_SHIFT;
  rec->cons_mark = pc.cons_mark;
  commit();
  rec->next_goal = tc_atomic_load_relaxed(&tc_gc.goal);
  rec->next_trigger = tc_atomic_load_relaxed(&tc_gc.trigger);
}

/* ---- public API ---------------------------------------------------------- */

/* A commit from a mutator: inside a no-stop region (no cycle's pause can
 * overlap it), under the pacer lock (against other such commits). */
static void commit_from_mutator(void) {
  tc_thread_t *t = tc_mutex_lock_nostop(&pc.lock);
  commit();
  tc_mutex_unlock_nostop(&pc.lock, t);
}

__attribute__((visibility("default"))) int gc_set_percent(int percent) {
  int old = tc_atomic_exchange_acq_rel(&pc.percent, percent < 0 ? -1 : percent);
  commit_from_mutator();
  if (tc_gc_should_trigger()) tc_gc_run(false);
  return old;
}

__attribute__((visibility("default"))) int64_t gc_set_memory_limit(int64_t limit) {
  if (limit < 0) return tc_pacer_memory_limit();
  int64_t old = tc_atomic_exchange_acq_rel(&pc.memory_limit, limit);
  commit_from_mutator();
  if (tc_gc_should_trigger()) tc_gc_run(false);
  return old;
}
