/*
 * signal_latency.c - how long this machine takes to interrupt N busy threads
 * with a signal and hear back from all of them: the floor under any
 * stop-the-world pause that stops threads by signal (tricolor's gc/stw.c,
 * Boehm GC's), with no collector involved.
 *
 * usage: signal_latency THREADS [ROUNDS]
 *
 * THREADS threads spin in user code; every 2 ms the main thread sends each a
 * signal and waits until every handler has posted a semaphore. Prints the
 * mean and maximum round trip and how many rounds took over 0.5 and 1 ms,
 * and the same for delivery alone: the time until the last handler of a
 * round started. The two differ: with as many spinning threads as CPUs the
 * handlers mostly run within 20 us, and the round trip's long tail is the
 * main thread waiting for a CPU back after its semaphore was posted. A
 * collector's stopped threads sleep instead of spinning, so that part is not
 * a stop's; the handler's tail is (docs/performance.md, "What a stop waits
 * for").
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

static sem_t ack;
static volatile sig_atomic_t stop;
static __thread int self_index;
static uint64_t handler_ns[MAX_THREADS]; /* when each handler last started */

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t now_ns(void);

static void on_signal(int sig) {
  (void)sig;
  handler_ns[self_index] = now_ns(); /* clock_gettime: async-signal-safe */
  sem_post(&ack);
}

static void *spin(void *arg) {
  self_index = (int)(intptr_t)arg;
  volatile unsigned long x = 0;
  while (!stop) x++;
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  long rounds = argc > 2 ? atol(argv[2]) : 2000;
  if (n < 1 || n > MAX_THREADS || rounds < 1) {
    fprintf(stderr, "usage: %s THREADS(1-%d) [ROUNDS]\n", argv[0], MAX_THREADS);
    return 2;
  }
  pthread_t th[MAX_THREADS];
  sem_init(&ack, 0, 0);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, spin, (void *)(intptr_t)i);
  usleep(100000);
  uint64_t max = 0, sum = 0;
  long over_half = 0, over_one = 0, h_over_one = 0;
  uint64_t hmax = 0;
  for (long r = 0; r < rounds; r++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) pthread_kill(th[i], SIGUSR1);
    for (int i = 0; i < n; i++)
      while (sem_wait(&ack) != 0) {}
    uint64_t d = now_ns() - t0;
    sum += d;
    if (d > max) max = d;
    over_half += d > 500000;
    over_one += d > 1000000;
    uint64_t h = 0;
    for (int i = 0; i < n; i++)
      if (handler_ns[i] - t0 > h) h = handler_ns[i] - t0;
    if (h > hmax) hmax = h;
    h_over_one += h > 1000000;
    usleep(2000);
  }
  stop = 1;
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  printf("signal_latency threads=%d cpus=%ld rounds=%ld mean_us=%.1f max_us=%.1f over_0.5ms=%ld "
         "over_1ms=%ld handler_max_us=%.1f handler_over_1ms=%ld\n",
         n, sysconf(_SC_NPROCESSORS_ONLN), rounds, (double)sum / (double)rounds / 1e3,
         (double)max / 1e3, over_half, over_one, (double)hmax / 1e3, h_over_one);
  return 0;
}
