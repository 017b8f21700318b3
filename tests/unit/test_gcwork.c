/*
 * test_gcwork.c - gray work queues and mark termination (gc/gcwork.h),
 * driven directly, without the collector (this program never allocates from
 * the heap, so no cycle runs and the global queue is the test's alone).
 *
 * Checks: one marker gets back exactly the multiset it pushed, across many
 * buffer overflows, then termination (get returns false); flush moves work
 * to the global list where get (of the same or another tc_gcwork_t) finds
 * it; and four threads processing a forest of implicit binary trees, sharing
 * work through the global list and tc_gcwork_balance, each terminate and
 * together process every node exactly once; balancing whenever the global
 * list is empty hands work to a taker that never waits (a mark assist);
 * a marker that joins a running
 * phase holds it open until it runs dry, and one that comes after the end
 * is turned away.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "check.h"
#include "gcwork.h"

/* ---- one marker ------------------------------------------------------- */

TEST(single_marker_roundtrip) {
  enum { N = 10000 }; /* about 40 buffers */
  static unsigned char seen[N];
  memset(seen, 0, sizeof seen);
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  CHECK_OR_RETURN(w.buf1 != NULL && w.buf2 != NULL);
  for (uintptr_t i = 0; i < N; i++) tc_gcwork_put(&w, 0x1000 + i * 16, i * 3 + 1);
  tc_workentry_t e;
  long got = 0, bad = 0, dup = 0;
  while (tc_gcwork_get(&w, &e)) {
    got++;
    if (e.addr < 0x1000 || (e.addr - 0x1000) % 16 != 0 || (e.addr - 0x1000) / 16 >= N) {
      bad++;
      continue;
    }
    uintptr_t i = (e.addr - 0x1000) / 16;
    if (e.len != i * 3 + 1) bad++;
    if (seen[i]++) dup++;
    if (got > 2 * N) break;
  }
  CHECK_EQ(got, N);
  CHECK_EQ(bad, 0);
  CHECK_EQ(dup, 0);
  long missing = 0;
  for (int i = 0; i < N; i++) missing += seen[i] == 0;
  CHECK_EQ(missing, 0);
  /* Termination is sticky for the phase. */
  CHECK(!tc_gcwork_get(&w, &e));
  CHECK(!tc_gcwork_get(&w, &e));
  CHECK_EQ(w.buf1->n, 0);
  CHECK_EQ(w.buf2->n, 0);
  tc_gcwork_dispose(&w);
}

TEST(empty_phase_terminates_at_once) {
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  tc_workentry_t e;
  CHECK(!tc_gcwork_get(&w, &e));
  tc_gcwork_dispose(&w);
}

TEST(interleaved_put_get_is_lifo_locally) {
  /* Within one buffer, get returns the most recent put. */
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  tc_workentry_t e;
  tc_gcwork_put(&w, 1, 10);
  tc_gcwork_put(&w, 2, 20);
  CHECK(tc_gcwork_get(&w, &e));
  CHECK_EQ(e.addr, 2);
  CHECK_EQ(e.len, 20);
  tc_gcwork_put(&w, 3, 30);
  CHECK(tc_gcwork_get(&w, &e));
  CHECK_EQ(e.addr, 3);
  CHECK(tc_gcwork_get(&w, &e));
  CHECK_EQ(e.addr, 1);
  CHECK_EQ(e.len, 10);
  CHECK(!tc_gcwork_get(&w, &e));
  tc_gcwork_dispose(&w);
}

TEST(flush_then_get) {
  enum { N = 600 }; /* fills buf1 and buf2 and part of a third */
  static unsigned char seen[N];
  tc_workentry_t e;

  /* Flush, then the same marker gets everything back from the global list. */
  memset(seen, 0, sizeof seen);
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  for (uintptr_t i = 0; i < N; i++) tc_gcwork_put(&w, i, ~i);
  tc_gcwork_flush(&w);
  CHECK_EQ(w.buf1->n, 0);
  CHECK_EQ(w.buf2->n, 0);
  long got = 0, bad = 0;
  while (tc_gcwork_get(&w, &e) && got <= N) {
    got++;
    if (e.addr >= N || e.len != ~e.addr || seen[e.addr]++) bad++;
  }
  CHECK_EQ(got, N);
  CHECK_EQ(bad, 0);

  /* A partial buffer flushed by one tc_gcwork_t is found by another. */
  memset(seen, 0, sizeof seen);
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w2;
  tc_gcwork_init(&w2);
  for (uintptr_t i = 0; i < 5; i++) tc_gcwork_put(&w, i, ~i);
  tc_gcwork_flush(&w);
  got = bad = 0;
  while (tc_gcwork_get(&w2, &e) && got <= 5) {
    got++;
    if (e.addr >= 5 || e.len != ~e.addr || seen[e.addr]++) bad++;
  }
  CHECK_EQ(got, 5);
  CHECK_EQ(bad, 0);
  CHECK(!tc_gcwork_get(&w, &e));

  /* Flushing empty buffers puts nothing on the list. */
  tc_gcwork_begin_phase(1);
  tc_gcwork_flush(&w);
  CHECK(!tc_gcwork_get(&w2, &e));
  tc_gcwork_dispose(&w);
  tc_gcwork_dispose(&w2);
}

TEST(balance_shares_with_the_global_list) {
  /* balance hands work to the global list; the marker still gets all of it
   * back (from the list) before terminating. */
  tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  for (uintptr_t i = 0; i < 100; i++) tc_gcwork_put(&w, i, i);
  uint32_t before = w.buf1->n + w.buf2->n;
  tc_gcwork_balance(&w);
  uint32_t after = w.buf1->n + w.buf2->n;
  CHECK_EQ(before, 100);
  CHECK(after < before);
  CHECK(after > 0);
  static unsigned char seen[100];
  memset(seen, 0, sizeof seen);
  tc_workentry_t e;
  long got = 0, bad = 0;
  while (tc_gcwork_get(&w, &e) && got <= 100) {
    got++;
    if (e.addr >= 100 || e.len != e.addr || seen[e.addr]++) bad++;
  }
  CHECK_EQ(got, 100);
  CHECK_EQ(bad, 0);
  tc_gcwork_dispose(&w);
}

TEST(balance_on_empty_list_feeds_a_taker_that_never_waits) {
  /* Mark assists take work only with tc_gcwork_try_get_global and never
   * wait on the list (they park, in debt, when it is empty), so they are
   * not counted as waiting markers. Markers therefore share whenever the
   * global list is empty (Go's gcDrain), not only when markers wait. */
  tc_gcwork_begin_phase(1);
  tc_gcwork_t marker, assist;
  tc_gcwork_init(&marker);
  tc_gcwork_init(&assist);
  for (uintptr_t i = 0; i < 100; i++) tc_gcwork_put(&marker, i, i);
  CHECK(tc_gcwork_global_empty());
  CHECK(!tc_gcwork_try_get_global(&assist)); /* nothing shared yet */
  if (tc_gcwork_global_empty()) tc_gcwork_balance(&marker);
  CHECK(!tc_gcwork_global_empty());
  CHECK(tc_gcwork_try_get_global(&assist));
  static unsigned char seen[100];
  memset(seen, 0, sizeof seen);
  tc_workentry_t e;
  long from_assist = 0, from_marker = 0, bad = 0;
  while (tc_gcwork_try_get_local(&assist, &e)) {
    from_assist++;
    if (e.addr >= 100 || e.len != e.addr || seen[e.addr]++) bad++;
  }
  tc_gcwork_assist_done(&assist, 1);
  while (tc_gcwork_get(&marker, &e) && from_marker <= 100) {
    from_marker++;
    if (e.addr >= 100 || e.len != e.addr || seen[e.addr]++) bad++;
  }
  CHECK(from_assist > 0);
  CHECK_EQ(from_assist + from_marker, 100);
  CHECK_EQ(bad, 0);
  tc_gcwork_dispose(&assist);
  tc_gcwork_dispose(&marker);
}

/* ---- four markers ------------------------------------------------------ */

/* A forest: tree t (0 <= t < NTREES) has tree_size(t) nodes numbered
 * 0 .. size-1 as a binary heap (node k has children 2k+1 and 2k+2 when they
 * are < size). An entry is (addr = t, len = k). */
enum { NTHREADS = 4, NTREES = 50000 };
static uint32_t tree_size(uint32_t t) { return 1 + (t * 7u) % 61u; }
static uint32_t tree_first[NTREES + 1]; /* prefix sums: global node numbers */
static uint8_t *visits;                 /* per node, atomic */
static long total_nodes;

struct marker {
  int id;
  long processed;
  long balances;
  bool finished;
  bool leftover; /* buffers not empty after termination */
  long seen_at_end; /* nodes processed by all markers when get returned false */
};

static long processed_all; /* atomic */

static void *marker_main(void *arg) {
  struct marker *m = arg;
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  if (m->id == 0)
    for (uint32_t t = 0; t < NTREES; t++) tc_gcwork_put(&w, t, 0);
  tc_workentry_t e;
  while (tc_gcwork_get(&w, &e)) {
    uint32_t t = (uint32_t)e.addr, k = (uint32_t)e.len, size = tree_size(t);
    if (t < NTREES && k < size)
      __atomic_fetch_add(&visits[tree_first[t] + k], 1, __ATOMIC_RELAXED);
    else
      __atomic_fetch_add(&visits[total_nodes], 1, __ATOMIC_RELAXED); /* garbage */
    m->processed++;
    __atomic_fetch_add(&processed_all, 1, __ATOMIC_RELAXED);
    if (2 * k + 1 < size) tc_gcwork_put(&w, t, 2 * k + 1);
    if (2 * k + 2 < size) tc_gcwork_put(&w, t, 2 * k + 2);
    /* A little work per node so the markers overlap. */
    if ((m->processed & 1023) == 0) sched_yield();
    if (tc_gcwork_global_empty()) {
      tc_gcwork_balance(&w);
      m->balances++;
    }
  }
  /* false means marking is over for everyone: no node is still to come. */
  m->seen_at_end = __atomic_load_n(&processed_all, __ATOMIC_RELAXED);
  m->finished = true;
  m->leftover = w.buf1->n != 0 || w.buf2->n != 0;
  if (!m->leftover) tc_gcwork_dispose(&w);
  return NULL;
}

static long rounds_shared; /* rounds in which more than one marker worked */

static void run_markers(int round) {
  memset(visits, 0, (size_t)total_nodes + 1);
  processed_all = 0;
  tc_gcwork_begin_phase(NTHREADS);
  pthread_t th[NTHREADS];
  struct marker m[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    m[i] = (struct marker){.id = i};
    int err = pthread_create(&th[i], NULL, marker_main, &m[i]);
    if (err != 0) {
      fprintf(stderr, "pthread_create: error %d\n", err);
      abort(); /* markers already started would wait forever */
    }
  }
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  long processed = 0, balances = 0, workers = 0;
  for (int i = 0; i < NTHREADS; i++) {
    CHECK(m[i].finished);
    CHECK(!m[i].leftover);
    CHECK_EQ(m[i].seen_at_end, total_nodes);
    processed += m[i].processed;
    balances += m[i].balances;
    workers += m[i].processed > 0;
  }
  long lost = 0, duplicated = 0;
  for (long j = 0; j < total_nodes; j++) {
    if (visits[j] == 0) lost++;
    if (visits[j] > 1) duplicated++;
  }
  if (round == 0)
    fprintf(stderr, "  %ld nodes; per marker %ld %ld %ld %ld; %ld balance calls\n", total_nodes,
            m[0].processed, m[1].processed, m[2].processed, m[3].processed, balances);
  CHECK_EQ(processed, total_nodes);
  CHECK_EQ(lost, 0);
  CHECK_EQ(duplicated, 0);
  CHECK_EQ(visits[total_nodes], 0);
  rounds_shared += workers >= 2;
}

TEST(four_markers_process_a_forest_exactly_once) {
  alarm(60); /* a termination bug would hang; die instead of waiting for ctest */
  total_nodes = 0;
  for (uint32_t t = 0; t < NTREES; t++) {
    tree_first[t] = (uint32_t)total_nodes;
    total_nodes += tree_size(t);
  }
  tree_first[NTREES] = (uint32_t)total_nodes;
  visits = calloc((size_t)total_nodes + 1, 1);
  CHECK_OR_RETURN(visits != NULL);
  rounds_shared = 0;
  for (int round = 0; round < 10; round++) run_markers(round);
  /* Work left the seeding thread (its full buffers go to the global list). */
  CHECK(rounds_shared > 0);
  free(visits);
  alarm(0);
}

TEST(four_markers_nothing_to_do) {
  /* Every marker finds nothing: all four must still terminate. */
  alarm(60);
  total_nodes = 0;
  tc_gcwork_begin_phase(NTHREADS);
  pthread_t th[NTHREADS];
  struct marker m[NTHREADS];
  visits = calloc(1, 1);
  for (int i = 0; i < NTHREADS; i++) {
    m[i] = (struct marker){.id = i + 1}; /* nobody seeds */
    int err = pthread_create(&th[i], NULL, marker_main, &m[i]);
    if (err != 0) {
      fprintf(stderr, "pthread_create: error %d\n", err);
      abort(); /* markers already started would wait forever */
    }
  }
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK(m[i].finished);
    CHECK(!m[i].leftover);
    CHECK_EQ(m[i].processed, 0);
  }
  free(visits);
  alarm(0);
}

/* ---- markers joining a running phase --------------------------------- */

static long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

struct joiner {
  uint64_t phase;
  bool joined;
  volatile int state; /* 1: joined, 2: its work flushed */
  long flushed_at, got, finished_at;
};

/* Joins, holds back work for a while, flushes it, then drains. */
static void *joiner_main(void *arg) {
  struct joiner *j = arg;
  j->joined = tc_gcwork_join(j->phase);
  if (!j->joined) return NULL;
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  __atomic_store_n(&j->state, 1, __ATOMIC_RELEASE);
  usleep(50000);
  for (uintptr_t i = 0; i < 1000; i++) tc_gcwork_put(&w, 0x1000 + i * 16, 16);
  j->flushed_at = now_us();
  tc_gcwork_flush(&w);
  __atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
  tc_workentry_t e;
  while (tc_gcwork_get(&w, &e)) j->got++;
  j->finished_at = now_us();
  tc_gcwork_dispose(&w);
  return NULL;
}

TEST(join_holds_phase_open_until_joiner_is_dry) {
  uint64_t phase = tc_gcwork_begin_phase(1);
  CHECK_EQ(tc_gcwork_markers(), 1);
  struct joiner j = {.phase = phase};
  pthread_t th;
  CHECK_OR_RETURN(pthread_create(&th, NULL, joiner_main, &j) == 0);
  while (__atomic_load_n(&j.state, __ATOMIC_ACQUIRE) == 0) sched_yield();
  CHECK_EQ(tc_gcwork_markers(), 2);
  /* The joiner holds work it has not published: this marker, dry, must
   * wait for it rather than end the phase. */
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  tc_workentry_t e;
  long got = 0;
  while (tc_gcwork_get(&w, &e)) got++;
  long ended_at = now_us();
  tc_gcwork_dispose(&w);
  pthread_join(th, NULL);
  CHECK(j.joined);
  CHECK(ended_at >= j.flushed_at);
  CHECK_EQ(got + j.got, 1000);
  CHECK_EQ(tc_gcwork_markers(), 2);
}

TEST(join_after_the_end_fails) {
  uint64_t phase = tc_gcwork_begin_phase(1);
  tc_gcwork_t w;
  tc_gcwork_init(&w);
  tc_gcwork_put(&w, 0x1000, 16);
  tc_workentry_t e;
  long got = 0;
  while (tc_gcwork_get(&w, &e)) got++;
  CHECK_EQ(got, 1);
  tc_gcwork_dispose(&w);
  /* Over: a late marker is turned away and the count stays final. */
  CHECK(!tc_gcwork_join(phase));
  CHECK_EQ(tc_gcwork_markers(), 1);
  /* A new phase takes its own joiners, not the last one's: a helper woken
   * for a phase that has ended must not join the next (checkmark.c runs
   * one of its own right after mark termination). */
  uint64_t next = tc_gcwork_begin_phase(1);
  CHECK(next != phase);
  CHECK(!tc_gcwork_join(phase));
  CHECK_EQ(tc_gcwork_markers(), 1);
  CHECK(tc_gcwork_join(next));
  CHECK_EQ(tc_gcwork_markers(), 2);
}

CHECK_MAIN()
