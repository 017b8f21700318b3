/*
 * test_stop_rescue.c - a stop's rescue of threads that have not parked
 * (gc/stw.c: rescue, unrescue; gc/stw.h: tc_stw_rescue_after_ns).
 *
 * Linked with -Wl,--wrap=sched_setaffinity: every affinity change the
 * collector makes goes through __wrap_sched_setaffinity below, which
 * records it. With tc_stw_rescue_after_ns = 0, a stop moves every thread
 * that has not parked at its first poll onto the stopper's CPU.
 *
 * The main thread (the stopper) is pinned to one CPU; thread A may run on
 * all of them; thread B and two unregistered spinners are pinned to a
 * second CPU, so the registered threads are often queued when signalled.
 * A and B allocate checksummed objects while the main thread stops the
 * world a few hundred times and cycles run.
 *
 *  - Every move (a one-CPU mask; the main thread's holds its own CPU) is
 *    undone later by a call that restores the thread's own mask, before
 *    the next move of that thread; none is left undone. A rescue that
 *    leaked its mask into the program would pin it to one CPU for good.
 *  - A, checking its affinity between batches, always sees its own mask:
 *    masks are restored before the world restarts.
 *  - B's mask (one CPU, not the stopper's) is never touched: the program's
 *    pinning is kept.
 *  - Rescues happened (tc_stw_rescues, at most one per move), and every
 *    object kept its checksum.
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
#include "stw.h"

/* ---- recording the collector's affinity changes -------------------------- */

#define MAX_CALLS 16384

static struct {
  pid_t target, caller;
  int ret;
  cpu_set_t mask;
  atomic_int ready;
} calls[MAX_CALLS];
static atomic_int ncalls;
static atomic_int calls_dropped;

int __real_sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *mask);

int __wrap_sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *mask) {
  int ret = __real_sched_setaffinity(pid, size, mask);
  int i = atomic_fetch_add(&ncalls, 1);
  if (i >= MAX_CALLS) {
    atomic_fetch_add(&calls_dropped, 1);
    return ret;
  }
  calls[i].target = pid;
  calls[i].caller = (pid_t)syscall(SYS_gettid);
  calls[i].ret = ret;
  CPU_ZERO(&calls[i].mask);
  __builtin_memcpy(&calls[i].mask, mask, size < sizeof(cpu_set_t) ? size : sizeof(cpu_set_t));
  atomic_store_explicit(&calls[i].ready, 1, memory_order_release);
  return ret;
}

/* ---- the threads ----------------------------------------------------------- */

#define RING 4096
#define BATCH 256

static cpu_set_t all_cpus, stopper_cpu, other_cpu;
static int cpu_stop, cpu_other;
static atomic_bool done;
static atomic_long lost, changed_affinity, batches[2];
static _Atomic pid_t tid_of[2];

static void **ring[2][RING];
static uint64_t ring_serial[2][RING];

static uintptr_t object_check(void **p, uint64_t serial) {
  return ((uintptr_t)p * 0x9e3779b97f4a7c15u) ^ (uintptr_t)serial;
}

static void ring_check(int who, unsigned slot) {
  void **p = ring[who][slot];
  if (p != NULL && ((uint64_t)(uintptr_t)p[0] != ring_serial[who][slot] ||
                    (uintptr_t)p[1] != object_check(p, ring_serial[who][slot])))
    atomic_fetch_add(&lost, 1);
}

static void *allocator(void *arg) {
  int who = (int)(intptr_t)arg;
  atomic_store(&tid_of[who], (pid_t)syscall(SYS_gettid));
  cpu_set_t start;
  if (sched_getaffinity(0, sizeof start, &start) != 0) atomic_fetch_add(&changed_affinity, 1);
  uint64_t serial = (uint64_t)(who + 1) << 40;
  for (unsigned long i = 0; !atomic_load_explicit(&done, memory_order_relaxed); i++) {
    unsigned slot = i % RING;
    ring_check(who, slot);
    void **p = gc_alloc(64);
    p[0] = (void *)(uintptr_t)++serial;
    p[1] = (void *)object_check(p, serial);
    ring[who][slot] = p;
    ring_serial[who][slot] = serial;
    if (i % BATCH == BATCH - 1) {
      cpu_set_t now;
      if (sched_getaffinity(0, sizeof now, &now) != 0 || !CPU_EQUAL(&now, &start))
        atomic_fetch_add(&changed_affinity, 1);
      atomic_fetch_add(&batches[who], 1);
    }
  }
  for (unsigned k = 0; k < RING; k++) ring_check(who, k);
  return NULL;
}

static void *spinner(void *arg) {
  volatile unsigned long x = 0;
  while (!atomic_load_explicit(&done, memory_order_relaxed)) x++;
  return NULL;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int start_on(pthread_t *th, const cpu_set_t *cpus, bool registered, void *(*fn)(void *),
                    void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setaffinity_np(&attr, sizeof *cpus, cpus);
  int err = registered ? gc_pthread_create(th, &attr, fn, arg) : pthread_create(th, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  return err;
}

/* ---- the test ------------------------------------------------------------- */

#define STOPS 400
#define MAX_TIDS 16

TEST(rescued_threads_get_their_masks_back) {
  /* At the default 100, A spends most stops blocked in the collector, taken
   * without a signal, and is rescued in about one stop in ten. */
  gc_set_percent(400);
  gc_collect(); /* the collector's threads start with every CPU */
  pid_t main_tid = (pid_t)syscall(SYS_gettid);
  CHECK_OR_RETURN(__real_sched_setaffinity(0, sizeof stopper_cpu, &stopper_cpu) == 0);
  pthread_t spin[2], th[2];
  for (int k = 0; k < 2; k++) CHECK_OR_RETURN(start_on(&spin[k], &other_cpu, false, spinner, NULL) == 0);
  CHECK_OR_RETURN(start_on(&th[0], &all_cpus, true, allocator, (void *)0) == 0);
  CHECK_OR_RETURN(start_on(&th[1], &other_cpu, true, allocator, (void *)1) == 0);
  while (atomic_load(&tid_of[0]) == 0 || atomic_load(&tid_of[1]) == 0) sleep_us(100);
  pid_t tid_a = atomic_load(&tid_of[0]), tid_b = atomic_load(&tid_of[1]);

  gc_memstats ms;
  gc_read_memstats(&ms);
  uint32_t gc0 = ms.num_gc;
  for (int s = 0; s < STOPS; s++) {
    gc_read_memstats(&ms);
    sleep_us(2000);
  }
  atomic_store(&done, true);
  for (int k = 0; k < 2; k++) CHECK(pthread_join(th[k], NULL) == 0);
  for (int k = 0; k < 2; k++) CHECK(pthread_join(spin[k], NULL) == 0);
  gc_read_memstats(&ms);
  uint64_t rescues = __atomic_load_n(&tc_stw_rescues, __ATOMIC_RELAXED);

  int n = atomic_load(&ncalls);
  if (n > MAX_CALLS) n = MAX_CALLS;
  pid_t tids[MAX_TIDS];
  bool pinned[MAX_TIDS] = {false};
  int ntids = 0, pins = 0, pins_a = 0, restores = 0, bad_pin = 0, bad_restore = 0;
  int unpaired = 0, failed = 0, to_b = 0, to_main = 0;
  for (int i = 0; i < n; i++) {
    while (!atomic_load_explicit(&calls[i].ready, memory_order_acquire)) sleep_us(100);
    const cpu_set_t *m = &calls[i].mask;
    to_b += calls[i].target == tid_b;
    to_main += calls[i].target == main_tid;
    failed += calls[i].ret != 0;
    int t = 0;
    while (t < ntids && tids[t] != calls[i].target) t++;
    if (t == ntids) {
      CHECK_OR_RETURN(ntids < MAX_TIDS);
      tids[ntids++] = calls[i].target;
    }
    if (CPU_COUNT(m) == 1) {
      pins++;
      pins_a += calls[i].target == tid_a;
      if (calls[i].caller == main_tid && !CPU_EQUAL(m, &stopper_cpu)) bad_pin++;
      if (pinned[t]) unpaired++;
      pinned[t] = true;
    } else {
      restores++;
      if (!CPU_EQUAL(m, &all_cpus)) bad_restore++;
      if (!pinned[t]) unpaired++;
      pinned[t] = false;
    }
  }
  for (int t = 0; t < ntids; t++) unpaired += pinned[t];

  printf("  stops=%d cycles=%u pins=%d (thread A %d) restores=%d tc_stw_rescues=%" PRIu64
         " batches A=%ld B=%ld\n",
         STOPS, ms.num_gc - gc0, pins, pins_a, restores, rescues, atomic_load(&batches[0]),
         atomic_load(&batches[1]));
  CHECK_EQ(atomic_load(&calls_dropped), 0);
  CHECK_EQ(failed, 0);
  CHECK_EQ(unpaired, 0);
  CHECK_EQ(bad_pin, 0);
  CHECK_EQ(bad_restore, 0);
  CHECK_EQ(pins, restores);
  CHECK(pins_a > 0);
  CHECK_EQ(atomic_load(&changed_affinity), 0);
  CHECK_EQ(to_b, 0);
  CHECK_EQ(to_main, 0);
  CHECK_EQ(atomic_load(&lost), 0);
  CHECK(rescues > 0);
  CHECK(rescues <= (uint64_t)pins);
  CHECK(atomic_load(&batches[0]) > 0 && atomic_load(&batches[1]) > 0);
}

int main(int argc, char **argv) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || sched_getaffinity(0, sizeof all_cpus, &all_cpus) != 0 ||
      CPU_COUNT(&all_cpus) < 2) {
    printf("test_stop_rescue: fewer than 2 CPUs available, nothing to test\n");
    return 0;
  }
  cpu_stop = cpu_other = -1;
  for (int c = 0; c < CPU_SETSIZE && cpu_other < 0; c++)
    if (CPU_ISSET(c, &all_cpus)) *(cpu_stop < 0 ? &cpu_stop : &cpu_other) = c;
  CPU_ZERO(&stopper_cpu);
  CPU_SET(cpu_stop, &stopper_cpu);
  CPU_ZERO(&other_cpu);
  CPU_SET(cpu_other, &other_cpu);
  tc_stw_rescue_after_ns = 0;
  setenv("GCCHECKMARK", "1", 0);
  return check_run_all(argc, argv);
}
