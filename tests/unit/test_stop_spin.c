/*
 * test_stop_spin.c - when a stopper yields its CPU while it waits for
 * threads to park (gc/stw.c: ack_wait_n, cpu_wanted; gc/thread.c: the rseq
 * cpu_id word).
 *
 * Linked with -Wl,--wrap=sched_yield: __wrap_sched_yield counts the calls
 * the main thread makes while it stops the world (gc_read_memstats).
 *
 *  - A registered thread's rseq_cpu names the CPU it runs on: the main
 *    thread pins itself to each of its CPUs in turn and reads it.
 *  - Other CPU: the main thread (the stopper) is pinned to one CPU and an
 *    allocating thread to another. Nothing the stop waits for is queued on
 *    the stopper's CPU, so it spins: most stops make no yield at all. A
 *    yield there would hand the CPU to whatever else is queued, which kept
 *    it for a whole time slice in a trace (kdamond, 3 ms).
 *  - Same CPU: both are pinned to one CPU. The allocating thread can park
 *    only on that CPU, its rseq cpu_id says so, and the stopper yields to
 *    it at once: most stops yield, and the median stopping time is below the
 *    spin bound (SPIN_MAX_NS, 50 us) that a stopper spinning blindly
 *    would wait out first.
 *
 * Every phase's objects keep their checksums. Without rseq (glibc older
 * than 2.35, or GLIBC_TUNABLES=glibc.pthread.rseq=0) the stopper yields
 * at every poll, as before; the test then checks only that stops finish.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <tricolor.h>

#include "check.h"
#include "thread.h"

/* ---- counting the stopper's yields ---------------------------------------- */

int __real_sched_yield(void);

static pid_t main_tid;
static atomic_bool counting;
static atomic_long yields;

int __wrap_sched_yield(void) {
  if (atomic_load_explicit(&counting, memory_order_relaxed) && (pid_t)syscall(SYS_gettid) == main_tid)
    atomic_fetch_add_explicit(&yields, 1, memory_order_relaxed);
  return __real_sched_yield();
}

/* ---- the allocating thread ------------------------------------------------ */

#define RING 2048

static atomic_bool done;
static atomic_bool started;
static atomic_long lost;
static void **ring[RING];
static uint64_t ring_serial[RING];

static uintptr_t object_check(void **p, uint64_t serial) {
  return ((uintptr_t)p * 0x9e3779b97f4a7c15u) ^ (uintptr_t)serial;
}

static void ring_check(unsigned slot) {
  void **p = ring[slot];
  if (p != NULL && ((uint64_t)(uintptr_t)p[0] != ring_serial[slot] ||
                    (uintptr_t)p[1] != object_check(p, ring_serial[slot])))
    atomic_fetch_add(&lost, 1);
}

static void *allocator(void *arg) {
  (void)arg;
  uint64_t serial = 1;
  atomic_store(&started, true);
  for (unsigned long i = 0; !atomic_load_explicit(&done, memory_order_relaxed); i++) {
    unsigned slot = i % RING;
    ring_check(slot);
    void **p = gc_alloc(48);
    p[0] = (void *)(uintptr_t)++serial;
    p[1] = (void *)object_check(p, serial);
    ring[slot] = p;
    ring_serial[slot] = serial;
  }
  for (unsigned k = 0; k < RING; k++) ring_check(k);
  return NULL;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The stopping part of gc_read_memstats' stops (from the stop request until
 * every thread has parked), as the library's histogram counts it. */
#define STOPPING "/sched/pauses/stopping/other:seconds"
#define MAX_BUCKETS 512

static size_t read_stopping(uint64_t *counts, const double **buckets) {
  gc_metric_sample m = {.name = STOPPING};
  gc_read_metrics(&m, 1);
  if (m.kind != GC_METRIC_KIND_FLOAT64_HISTOGRAM) return 0;
  const gc_float64_histogram *h = &m.value.float64_histogram;
  size_t n = h->ncounts < MAX_BUCKETS ? h->ncounts : MAX_BUCKETS;
  for (size_t i = 0; i < n; i++) counts[i] = h->counts[i];
  *buckets = h->buckets;
  return n;
}

/* Lower bound of the bucket holding the median of the stops counted since
 * before (seconds), or -1 if none were. */
static double median_since(const uint64_t *before) {
  uint64_t now[MAX_BUCKETS], total = 0, seen = 0;
  const double *buckets = NULL;
  size_t n = read_stopping(now, &buckets);
  for (size_t i = 0; i < n; i++) total += now[i] - before[i];
  for (size_t i = 0; i < n; i++) {
    seen += now[i] - before[i];
    if (total > 0 && seen >= (total + 1) / 2) return buckets[i] > 0 ? buckets[i] : 0;
  }
  return -1;
}

static cpu_set_t all_cpus;
static int cpu_a = -1, cpu_b = -1;

static cpu_set_t one_cpu(int c) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(c, &s);
  return s;
}

#define STOPS 300

typedef struct phase {
  int stops_yielding; /* stops in which the main thread yielded at least once */
  double median_s;    /* stopping part, median (its histogram bucket's floor) */
} phase_t;

/* Pins the main thread to cpu_a and an allocating thread to alloc_cpu, then
 * stops the world STOPS times. */
static phase_t run_phase(int alloc_cpu) {
  phase_t r = {0, -1};
  cpu_set_t mine = one_cpu(cpu_a), theirs = one_cpu(alloc_cpu);
  CHECK(sched_setaffinity(0, sizeof mine, &mine) == 0);
  atomic_store(&done, false);
  atomic_store(&started, false);
  for (unsigned k = 0; k < RING; k++) ring[k] = NULL;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setaffinity_np(&attr, sizeof theirs, &theirs);
  pthread_t th;
  int err = gc_pthread_create(&th, &attr, allocator, NULL);
  pthread_attr_destroy(&attr);
  CHECK_EQ(err, 0);
  if (err != 0) return r;
  while (!atomic_load(&started)) sleep_us(100);
  sleep_us(2000);
  gc_memstats ms;
  uint64_t before_stops[MAX_BUCKETS];
  const double *buckets;
  CHECK(read_stopping(before_stops, &buckets) > 0);
  for (int s = 0; s < STOPS; s++) {
    long before = atomic_load(&yields);
    atomic_store(&counting, true);
    gc_read_memstats(&ms);
    atomic_store(&counting, false);
    r.stops_yielding += atomic_load(&yields) > before;
    sleep_us(1000);
  }
  atomic_store(&done, true);
  CHECK(pthread_join(th, NULL) == 0);
  r.median_s = median_since(before_stops);
  CHECK(sched_setaffinity(0, sizeof all_cpus, &all_cpus) == 0);
  return r;
}

/* ---- the tests ------------------------------------------------------------ */

static const volatile uint32_t *main_rseq_cpu(void) {
  void *p = gc_alloc(16); /* registers the main thread */
  (void)p;
  tc_thread_t *t = tc_thread_current();
  return t ? t->rseq_cpu : NULL;
}

TEST(rseq_cpu_follows_the_thread) {
  const volatile uint32_t *w = main_rseq_cpu();
  if (w == NULL) {
    printf("  no rseq area: stoppers yield at every poll\n");
    return;
  }
  int checked = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &all_cpus)) continue;
    cpu_set_t s = one_cpu(c);
    CHECK_OR_RETURN(sched_setaffinity(0, sizeof s, &s) == 0);
    __real_sched_yield(); /* back in user space on c: the kernel has set cpu_id */
    CHECK_EQ(*w, c);
    checked++;
  }
  CHECK(sched_setaffinity(0, sizeof all_cpus, &all_cpus) == 0);
  CHECK(checked >= 2);
}

TEST(stopper_spins_unless_its_cpu_is_wanted) {
  main_tid = (pid_t)syscall(SYS_gettid);
  bool have_rseq = main_rseq_cpu() != NULL;
  gc_set_percent(400);
  phase_t other = run_phase(cpu_b);
  phase_t same = run_phase(cpu_a);
  printf("  %d stops each: stopper on CPU %d, allocator on CPU %d: %d stops yielded, median "
         "stopping %.0f us; allocator on CPU %d too: %d yielded, median stopping %.0f us\n",
         STOPS, cpu_a, cpu_b, other.stops_yielding, other.median_s * 1e6, cpu_a,
         same.stops_yielding, same.median_s * 1e6);
  CHECK_EQ(atomic_load(&lost), 0);
  if (!have_rseq) return;
  CHECK(other.stops_yielding < STOPS / 2);
  CHECK(same.stops_yielding > STOPS / 2);
  CHECK(same.median_s >= 0 && same.median_s < 50e-6);
}

int main(int argc, char **argv) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || sched_getaffinity(0, sizeof all_cpus, &all_cpus) != 0 ||
      CPU_COUNT(&all_cpus) < 2) {
    printf("test_stop_spin: fewer than 2 CPUs available, nothing to test\n");
    return 0;
  }
  for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++)
    if (CPU_ISSET(c, &all_cpus)) *(cpu_a < 0 ? &cpu_a : &cpu_b) = c;
  return check_run_all(argc, argv);
}
