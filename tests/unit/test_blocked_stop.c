/*
 * test_blocked_stop.c - threads waiting inside the collector are stopped
 * without a signal, and collector threads step aside while a stop waits
 * (gc/stw.h: tc_stw_blocking, tc_stw_step_aside).
 *
 * Linked with -Wl,--wrap=pthread_kill, so every signal the collector sends
 * goes through __wrap_pthread_kill below and is counted per target thread.
 *
 *  - A thread that spends its life in gc_collect() (waiting for cycles) gets
 *    next to no suspend signals, while the main thread, sleeping in the
 *    program's own nanosleep, gets one per stop (so the count is real).
 *  - Lists whose only references are locals of a thread blocked in
 *    gc_collect(), most in callee-saved registers, survive 60 cycles while
 *    another thread allocates same-size objects that would reuse any freed
 *    slot; every node carries a checksum of its address and position.
 *  - A blocked thread whose wait ends while the world is stopped does not
 *    run on until the restart.
 *  - tc_stw_step_aside waits while a stop is under way, and only then.
 *
 * Run in every GCMODE (tests/CMakeLists.txt registers the other two).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <tricolor.h>

#include "check.h"
#include "cycle.h"
#include "options.h"
#include "stw.h"
#include "thread.h"

/* ---- counting the collector's signals ------------------------------------ */

#define MAX_TRACKED 8

static struct {
  pthread_t who;
  atomic_long suspends;
} tracked[MAX_TRACKED];
static atomic_int ntracked;

int __real_pthread_kill(pthread_t th, int sig);

int __wrap_pthread_kill(pthread_t th, int sig) {
  if (sig == tc_options.sig_suspend) {
    int n = atomic_load(&ntracked);
    for (int i = 0; i < n; i++)
      if (pthread_equal(tracked[i].who, th)) atomic_fetch_add(&tracked[i].suspends, 1);
  }
  return __real_pthread_kill(th, sig);
}

static int track(pthread_t th) {
  int i = atomic_load(&ntracked);
  tracked[i].who = th;
  atomic_store(&tracked[i].suspends, 0);
  atomic_store(&ntracked, i + 1);
  return i;
}

static long suspends_of(int i) { return atomic_load(&tracked[i].suspends); }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint32_t num_gc(void) {
  gc_memstats ms;
  gc_read_memstats(&ms);
  return ms.num_gc;
}

/* ---- a thread living in gc_collect ---------------------------------------- */

#define COLLECTS 60

static void *collector_caller(void *arg) {
  (void)arg;
  for (int i = 0; i < COLLECTS; i++) gc_collect();
  return NULL;
}

TEST(a_thread_waiting_for_cycles_gets_no_signals) {
  int me = track(pthread_self());
  uint32_t gc0 = num_gc();
  long main0 = suspends_of(me);
  pthread_t b;
  CHECK(gc_pthread_create(&b, NULL, collector_caller, NULL) == 0);
  int ib = track(b);
  /* The main thread waits in the program's own sleep: every stop signals it. */
  CHECK(pthread_join(b, NULL) == 0);
  uint32_t cycles = num_gc() - gc0;
  long to_b = suspends_of(ib), to_main = suspends_of(me) - main0;
  printf("  %u cycles: %ld suspend signals to the thread in gc_collect, %ld to the main thread\n",
         cycles, to_b, to_main);
  CHECK(cycles >= COLLECTS);
  /* The main thread, not blocked in the collector, is signalled by every
   * pause of every cycle (one or two per cycle). */
  CHECK(to_main >= (long)cycles);
  /* The waiting thread only in the instant between asking for a cycle and
   * entering its wait (or while it sweeps after one): before blocked waits
   * it took every pause's signal, like the main thread. */
  CHECK(to_b * 10 <= (long)cycles);
}

/* ---- registers of a blocked thread ----------------------------------------- */

typedef struct node {
  struct node *next;
  uintptr_t check;
  uintptr_t pad[4];
} node_t;

static uintptr_t node_check(const node_t *n, unsigned i) {
  return ((uintptr_t)n * 0x9e3779b97f4a7c15u) ^ i;
}

static node_t *make_list(unsigned len) {
  node_t *head = NULL;
  for (unsigned i = 0; i < len; i++) {
    node_t *n = gc_alloc(sizeof *n);
    n->next = head;
    head = n;
  }
  unsigned i = 0;
  for (node_t *n = head; n; n = n->next) n->check = node_check(n, i++);
  return head;
}

static bool list_ok(const node_t *head, unsigned len) {
  unsigned i = 0;
  for (const node_t *n = head; n; n = n->next, i++) {
    if (i >= len || n->check != node_check(n, i) || gc_base((void *)n) != n) return false;
  }
  return i == len;
}

static atomic_int churn_stop;

static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
    /* Same size as a node: a node freed too early is handed out here and
     * overwritten. */
    for (int k = 0; k < 256; k++) {
      uintptr_t *p = gc_alloc(sizeof(node_t));
      for (size_t w = 0; w < sizeof(node_t) / sizeof(uintptr_t); w++) p[w] = ~(uintptr_t)0;
    }
  }
  return NULL;
}

#define LEN 200

/* The heads live only in this frame's locals across gc_collect(): the
 * compiler keeps values live across a call in callee-saved registers, which
 * the blocked wait must spill where the stop's scan finds them. */
static __attribute__((noinline)) int hold_across_collects(int rounds) {
  int bad = 0;
  for (int r = 0; r < rounds; r++) {
    node_t *a = make_list(LEN), *b = make_list(LEN), *c = make_list(LEN);
    node_t *d = make_list(LEN), *e = make_list(LEN), *f = make_list(LEN);
    gc_collect();
    gc_collect();
    bad += !list_ok(a, LEN) + !list_ok(b, LEN) + !list_ok(c, LEN);
    bad += !list_ok(d, LEN) + !list_ok(e, LEN) + !list_ok(f, LEN);
  }
  return bad;
}

static void *holder(void *arg) {
  *(int *)arg = hold_across_collects(30);
  return NULL;
}

TEST(pointers_held_by_a_blocked_thread_survive) {
  atomic_store(&churn_stop, 0);
  uint32_t gc0 = num_gc();
  pthread_t c, h;
  int bad = -1;
  CHECK(gc_pthread_create(&c, NULL, churn, NULL) == 0);
  CHECK(gc_pthread_create(&h, NULL, holder, &bad) == 0);
  CHECK(pthread_join(h, NULL) == 0);
  atomic_store(&churn_stop, 1);
  CHECK(pthread_join(c, NULL) == 0);
  printf("  %u cycles, %d damaged lists\n", num_gc() - gc0, bad);
  CHECK_EQ(bad, 0);
  CHECK(num_gc() - gc0 >= 60);
}

/* ---- a wait that ends while the world is stopped --------------------------- */

static atomic_int wait_over, returned;

static void wait_for_flag(void *arg) {
  (void)arg;
  while (!atomic_load(&wait_over)) sleep_ms(1);
}

static void *blocked_waiter(void *arg) {
  tc_thread_t *t = tc_thread_current();
  *(tc_thread_t **)arg = t;
  tc_stw_blocking(t, wait_for_flag, NULL);
  atomic_store(&returned, 1);
  return NULL;
}

static int state_in_stop = -1;
static int returned_in_stop = -1;

static void during_stop(void *arg) {
  tc_thread_t *t = arg;
  /* No libc locks here (world stopped): only atomics and nanosleep. */
  state_in_stop = tc_atomic_load_acquire(&t->stop_state);
  atomic_store(&wait_over, 1);
  struct timespec ts = {0, 50 * 1000000L};
  nanosleep(&ts, NULL);
  returned_in_stop = atomic_load(&returned);
}

TEST(a_wait_ending_in_a_stop_holds_until_the_restart) {
  atomic_store(&wait_over, 0);
  atomic_store(&returned, 0);
  tc_thread_t *volatile t = NULL;
  pthread_t w;
  CHECK(gc_pthread_create(&w, NULL, blocked_waiter, (void *)&t) == 0);
  int iw = track(w);
  for (int i = 0; i < 5000 && (t == NULL || tc_atomic_load_acquire(&t->stop_state) != TC_STOP_BLOCKED); i++)
    sleep_ms(1);
  CHECK(t != NULL && tc_atomic_load_acquire(&t->stop_state) == TC_STOP_BLOCKED);
  long before = suspends_of(iw);
  tc_gc_with_world_stopped(during_stop, t);
  CHECK_EQ(state_in_stop, TC_STOP_BLOCKED_PARKED);
  CHECK_EQ(returned_in_stop, 0);
  CHECK_EQ(suspends_of(iw) - before, 0);
  CHECK(pthread_join(w, NULL) == 0);
  CHECK_EQ(atomic_load(&returned), 1);
}

/* ---- collector threads step aside ------------------------------------------ */

static atomic_int aside_done;

static void *stepper(void *arg) {
  (void)arg;
  tc_stw_step_aside();
  atomic_store(&aside_done, 1);
  return NULL;
}

TEST(step_aside_waits_for_the_stop_in_progress) {
  /* Nothing under way: returns at once. */
  tc_stw_step_aside();
  atomic_store(&aside_done, 0);
  /* A stop between its signals and its last park, as stop_selected marks
   * it (no thread is really being stopped here). */
  tc_atomic_add_seq_cst(&tc_stw_stopping, 1);
  pthread_t s;
  CHECK(pthread_create(&s, NULL, stepper, NULL) == 0);
  sleep_ms(30);
  CHECK_EQ(atomic_load(&aside_done), 0);
  tc_atomic_sub_seq_cst(&tc_stw_stopping, 1);
  CHECK(pthread_join(s, NULL) == 0);
  CHECK_EQ(atomic_load(&aside_done), 1);
}

int main(int argc, char **argv) {
  setenv("GCCHECKMARK", "1", 0);
  return check_run_all(argc, argv);
}
