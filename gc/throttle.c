/*
 * throttle.c - the write throttle of GCMODE=concurrent (throttle.h).
 */
#include "throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "cycle.h"
#include "os.h"
#include "stw.h"
#include "thread.h"

static struct {
  bool on;
  bool hold;            /* final stretch: parked until mark termination */
  bool handed;          /* parked writers handed over to mark termination */
  bool baseline;        /* faults_seen holds a sample from this mark */
  uint32_t nparked;     /* writers parked now (the stoppers' locks held) */
  uint64_t since;       /* start of the current window */
  uint64_t sample_ns;   /* what the last sample cost (one read per thread) */
  uint64_t charged_ns;  /* this mark's marker time while writers were parked */
  uint64_t total_stops; /* atomic */
  uint64_t total_held;  /* atomic */
  uint64_t total_gave_up; /* atomic */
  uint64_t total_held_final_pages; /* atomic */
} th;

void tc_throttle_reset(void) {
  th.on = false;
  th.hold = false;
  th.baseline = false;
  th.charged_ns = 0;
}

bool tc_throttle_on(void) { return th.on; }

uint32_t tc_throttle_parked(void) { return th.nparked; }

bool tc_throttle_engage(void) {
  if (th.on) {
    tc_atomic_add_relaxed(&th.total_gave_up, 1);
    return false;
  }
  th.on = true;
  th.baseline = false;
  th.since = tc_nanotime();
  return true;
}

/* The thread's minor page faults so far, from /proc/self/task/TID/stat
 * (field 10), or UINT64_MAX if it cannot be read. World running. */
static uint64_t thread_faults(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  if (tc_os_read_file(path, buf, sizeof buf) <= 0) return UINT64_MAX;
  /* The command name may hold spaces and parentheses: fields start after
   * the last ')'. Then: state ppid pgrp session tty_nr tpgid flags minflt. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return UINT64_MAX;
  p++;
  for (int field = 0; field < 8; field++) {
    while (*p == ' ') p++;
    if (*p == 0) return UINT64_MAX;
    if (field == 7) return strtoull(p, NULL, 10);
    while (*p && *p != ' ') p++;
  }
  return UINT64_MAX;
}

/* How a sample sets the writer flags. */
enum {
  FLAGS_KEEP,    /* after a stop window (or the last mark's): the same writers */
  FLAGS_JUDGE,   /* writers = faulted TC_THROTTLE_MIN_FAULTS times since */
  FLAGS_ADD,     /* final stretch: those too, the parked ones stay (with no
                    sample yet in this mark, since the last mark's) */
};

/* Samples every registered thread's fault count and sets its writer flag
 * as `how` says. tc_threads.lock held. Returns how many are flagged. */
static uint32_t sample(int how) {
  uint32_t n = 0;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    uint64_t f = thread_faults(t->tid);
    bool wrote = f != UINT64_MAX && t->faults_seen != UINT64_MAX &&
                 f >= t->faults_seen + TC_THROTTLE_MIN_FAULTS;
    if (how == FLAGS_JUDGE) t->throttled = wrote;
    else if (how == FLAGS_ADD) t->throttled = t->throttled || wrote;
    t->faults_seen = f;
    n += t->throttled;
  }
  return n;
}

/* Takes the stoppers' locks and parks the flagged writers; false (locks
 * released) if none is flagged. */
static bool park_writers(int how) {
  tc_gc_lock_stoppers();
  uint64_t t0 = tc_nanotime();
  uint32_t n = sample(how);
  th.sample_ns = tc_nanotime() - t0;
  th.baseline = true;
  if (n == 0) {
    tc_gc_unlock_stoppers();
    th.since = tc_nanotime();
    return false;
  }
  tc_stw_stop_throttled();
  th.nparked = n;
  tc_atomic_add_relaxed(&th.total_stops, 1);
  th.since = tc_nanotime();
  return true;
}

void tc_throttle_release(void) {
  if (th.nparked == 0 || th.hold) return;
  tc_stw_start_throttled();
  th.nparked = 0;
  tc_gc_unlock_stoppers();
  /* The faults counted from here on are the next run window's. */
  th.baseline = false;
  th.since = tc_nanotime();
}

bool tc_throttle_tick(void) {
  if (!th.on) return false;
  if (th.nparked > 0) {
    if (!th.hold && tc_nanotime() - th.since >= TC_THROTTLE_STOP_NS) tc_throttle_release();
    return th.nparked > 0;
  }
  /* With many threads a sample is not free: the run window is at least
   * four samples long, so sampling stays a fifth of the coordinator. */
  uint64_t run = TC_THROTTLE_RUN_NS > 4 * th.sample_ns ? TC_THROTTLE_RUN_NS : 4 * th.sample_ns;
  if (th.baseline && tc_nanotime() - th.since < run) return false;
  /* A mutator waiting to stop the world goes first. */
  if (tc_gc_stopper_waiting()) return false;
  /* Right after a stop window the same writers are parked again; at a
   * mark's first window (no writer flagged yet) this only takes the
   * baseline. */
  return park_writers(th.baseline ? FLAGS_JUDGE : FLAGS_KEEP);
}

bool tc_throttle_hold(void) {
  if (!th.on) return false;
  if (th.nparked == 0 && !park_writers(FLAGS_ADD)) return false;
  th.hold = true;
  tc_atomic_add_relaxed(&th.total_held, 1);
  return true;
}

void tc_throttle_hold_more(void) {
  if (!th.hold) return;
  uint32_t n = sample(FLAGS_ADD);
  if (n > th.nparked) {
    tc_stw_stop_throttled(); /* the newly flagged ones */
    th.nparked = n;
  }
}

bool tc_throttle_handover(void) {
  if (th.nparked == 0) return false;
  th.handed = true;
  return true;
}

void tc_throttle_clear(void) {
  if (!th.handed) return;
  th.nparked = 0;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) t->throttled = false;
  th.handed = false;
  th.hold = false;
  th.on = false;
}

void tc_throttle_charge(uint64_t ns) { th.charged_ns += ns; }

uint64_t tc_throttle_charged_ns(void) { return th.charged_ns; }

uint64_t tc_throttle_total_stops(void) { return tc_atomic_load_relaxed(&th.total_stops); }

uint64_t tc_throttle_total_held(void) { return tc_atomic_load_relaxed(&th.total_held); }

uint64_t tc_throttle_total_gave_up(void) { return tc_atomic_load_relaxed(&th.total_gave_up); }

void tc_throttle_count_final_pages(uint64_t pages) {
  if (th.hold) tc_atomic_add_relaxed(&th.total_held_final_pages, pages);
}

uint64_t tc_throttle_total_held_final_pages(void) {
  return tc_atomic_load_relaxed(&th.total_held_final_pages);
}
