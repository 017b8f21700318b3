/*
 * test_os.c - the OS seam's views of the machine's CPUs (gc/os.h), which the
 * mark workers read: tc_os_ncpu (the CPUs of the affinity mask, at most the
 * online ones, exactly one after pinning to CPU 0); tc_os_runnable (the
 * kernel's count of threads running
 * or ready to run, from /proc/loadavg) must count the caller and threads
 * that spin; tc_os_cpu_ticks (/proc/stat) must give idle <= total, both
 * monotonic, the total growing while a thread spins. Lower bounds only:
 * other processes may run on the machine at any time.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <tricolor.h>

#include "check.h"
#include "os.h"

enum { NSPIN = 3 };
static volatile int stop;
static volatile int started;

static void *spin(void *arg) {
  (void)arg;
  __atomic_add_fetch(&started, 1, __ATOMIC_RELAXED);
  while (!stop) {
  }
  return NULL;
}

static void spin_for_ms(long ms) {
  uint64_t end = tc_nanotime() + (uint64_t)ms * 1000000u;
  while (tc_nanotime() < end) {
  }
}

TEST(ncpu_follows_the_affinity_mask) {
  int all = tc_os_online_cpus();
  CHECK(all >= 1);
  CHECK(tc_os_ncpu() >= 1);
  CHECK(tc_os_ncpu() <= all);
  cpu_set_t old, one;
  CHECK_OR_RETURN(sched_getaffinity(0, sizeof old, &old) == 0);
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (!CPU_ISSET(0, &old)) return; /* CPU 0 not ours to pin to */
  CHECK_OR_RETURN(sched_setaffinity(0, sizeof one, &one) == 0);
  CHECK_EQ(tc_os_ncpu(), 1);
  CHECK_EQ(tc_os_online_cpus(), all);
  CHECK_EQ(sched_setaffinity(0, sizeof old, &old), 0);
  CHECK_EQ(tc_os_ncpu(), CPU_COUNT(&old));
}

TEST(runnable_counts_the_caller) {
  int r = tc_os_runnable();
  CHECK(r >= 1);
}

TEST(runnable_counts_spinning_threads) {
  stop = 0;
  started = 0;
  pthread_t th[NSPIN];
  for (int i = 0; i < NSPIN; i++) CHECK_EQ(pthread_create(&th[i], NULL, spin, NULL), 0);
  while (__atomic_load_n(&started, __ATOMIC_RELAXED) < NSPIN) {
  }
  /* Spinning threads never sleep: every sample sees them and the caller. */
  int least = 1 << 30;
  for (int i = 0; i < 50; i++) {
    int r = tc_os_runnable();
    if (r < least) least = r;
  }
  stop = 1;
  for (int i = 0; i < NSPIN; i++) pthread_join(th[i], NULL);
  CHECK(least >= NSPIN + 1);
}

TEST(cpu_ticks_are_consistent) {
  uint64_t idle0, total0, idle1, total1;
  CHECK_OR_RETURN(tc_os_cpu_ticks(&idle0, &total0));
  CHECK(idle0 <= total0);
  spin_for_ms(60); /* at least 6 ticks of 10 ms on this CPU */
  CHECK_OR_RETURN(tc_os_cpu_ticks(&idle1, &total1));
  CHECK(idle1 <= total1);
  CHECK(idle1 >= idle0);
  CHECK(total1 - total0 >= 3);
}

CHECK_MAIN()
