/*
 * stop_latency.c - how long tricolor takes to stop the world with threads
 * asleep: the stopping part of a pause (docs/performance.md, "Waking
 * sleepers").
 *
 * usage: stop_latency SLEEPERS BUSY [ROUNDS]
 *
 * SLEEPERS registered threads sleep in system calls (half in nanosleep of
 * 50 ms, half blocked in read(2) on a pipe no one writes); BUSY threads
 * allocate in a loop. Every 2 ms the main thread stops the world with
 * gc_read_memstats. At the end it reads /sched/pauses/stopping/other:seconds
 * and /sched/pauses/total/other:seconds and prints, per histogram, the
 * number of stops, the median and maximum (floors of Go's time buckets, at
 * most 25% below the value) and how many stops took over 0.5 and 1 ms:
 *
 *   stop_latency sleepers=S busy=B stops=N stopping_median_us= stopping_max_us=
 *   stopping_over_500us= stopping_over_1ms= total_median_us= total_max_us=
 *
 * A stop signals every thread not blocked in the collector; a sleeping
 * thread's signal wakes it, and where that wake-up lands decides the tail
 * on a virtual machine whose idle vCPUs halt.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#define MAX_THREADS 64

static atomic_int done;
static int pipe_fd[2];

static void *sleeper(void *arg) {
  if ((intptr_t)arg % 2 == 0) {
    char c;
    /* Blocked until the end, when main closes the write end. */
    while (read(pipe_fd[0], &c, 1) < 0) {
    }
    return NULL;
  }
  struct timespec ts = {0, 50 * 1000 * 1000};
  while (!atomic_load_explicit(&done, memory_order_relaxed)) nanosleep(&ts, NULL);
  return NULL;
}

static void *busy(void *arg) {
  (void)arg;
  enum { RING = 4096 };
  void **ring = gc_alloc(RING * sizeof(void *));
  for (unsigned long i = 0; !atomic_load_explicit(&done, memory_order_relaxed); i++) {
    void **p = gc_alloc(48);
    p[0] = ring[(i + 1) % RING];
    ring[i % RING] = p;
  }
  return NULL;
}

static void die(const char *what) {
  fprintf(stderr, "stop_latency: %s\n", what);
  exit(2);
}

/* Median and maximum of the stops counted since `before` (floors, us), and
 * how many stops lie at or above 0.5 and 1 ms. */
static void summarize(const gc_metric_sample *s, const uint64_t *before, uint64_t *n,
                      double *median, double *max, uint64_t *over500, uint64_t *over1ms) {
  const gc_float64_histogram *h = &s->value.float64_histogram;
  *n = *over500 = *over1ms = 0;
  *median = *max = -1;
  for (size_t i = 0; i < h->ncounts; i++) *n += h->counts[i] - before[i];
  uint64_t seen = 0;
  for (size_t i = 0; i < h->ncounts; i++) {
    uint64_t c = h->counts[i] - before[i];
    if (c == 0) continue;
    double lo = h->buckets[i] > 0 ? h->buckets[i] * 1e6 : 0;
    if (seen < (*n + 1) / 2 && seen + c >= (*n + 1) / 2) *median = lo;
    seen += c;
    *max = lo;
    if (lo >= 500) *over500 += c;
    if (lo >= 1000) *over1ms += c;
  }
}

int main(int argc, char **argv) {
  int sleepers = argc > 1 ? atoi(argv[1]) : -1;
  int nbusy = argc > 2 ? atoi(argv[2]) : -1;
  long rounds = argc > 3 ? atol(argv[3]) : 2000;
  if (sleepers < 0 || nbusy < 0 || sleepers + nbusy > MAX_THREADS || rounds < 1) {
    fprintf(stderr, "usage: %s SLEEPERS BUSY [ROUNDS] (at most %d threads)\n", argv[0],
            MAX_THREADS);
    return 2;
  }
  if (pipe(pipe_fd) != 0) die("pipe failed");
  pthread_t th[MAX_THREADS];
  for (int i = 0; i < sleepers; i++)
    if (gc_pthread_create(&th[i], NULL, sleeper, (void *)(intptr_t)i) != 0)
      die("pthread_create failed");
  for (int i = 0; i < nbusy; i++)
    if (gc_pthread_create(&th[sleepers + i], NULL, busy, NULL) != 0) die("pthread_create failed");
  usleep(100 * 1000); /* all threads registered and asleep or busy */

  gc_metric_sample s[2];
  memset(s, 0, sizeof s);
  s[0].name = "/sched/pauses/stopping/other:seconds";
  s[1].name = "/sched/pauses/total/other:seconds";
  gc_read_metrics(s, 2);
  if (s[0].kind != GC_METRIC_KIND_FLOAT64_HISTOGRAM || s[1].kind != GC_METRIC_KIND_FLOAT64_HISTOGRAM)
    die("pause histograms missing");
  size_t nb = s[0].value.float64_histogram.ncounts;
  uint64_t *before[2];
  for (int k = 0; k < 2; k++) {
    before[k] = malloc(nb * sizeof(uint64_t));
    if (before[k] == NULL) die("out of memory");
    memcpy(before[k], s[k].value.float64_histogram.counts, nb * sizeof(uint64_t));
  }

  static gc_memstats ms;
  struct timespec gap = {0, 2 * 1000 * 1000};
  for (long r = 0; r < rounds; r++) {
    gc_read_memstats(&ms);
    nanosleep(&gap, NULL);
  }
  gc_read_metrics(s, 2);
  /* The last snapshot's own stop is not in it; the counts cover the rounds. */
  uint64_t n[2], o5[2], o1[2];
  double med[2], mx[2];
  for (int k = 0; k < 2; k++) summarize(&s[k], before[k], &n[k], &med[k], &mx[k], &o5[k], &o1[k]);

  atomic_store(&done, 1);
  close(pipe_fd[1]);
  for (int i = 0; i < sleepers + nbusy; i++) pthread_join(th[i], NULL);
  printf("stop_latency sleepers=%d busy=%d stops=%llu stopping_median_us=%.0f "
         "stopping_max_us=%.0f stopping_over_500us=%llu stopping_over_1ms=%llu "
         "total_median_us=%.0f total_max_us=%.0f\n",
         sleepers, nbusy, (unsigned long long)n[0], med[0], mx[0], (unsigned long long)o5[0],
         (unsigned long long)o1[0], med[1], mx[1]);
  return 0;
}
