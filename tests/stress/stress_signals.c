/*
 * stress_signals.c - the program's own signal handlers interrupting the
 * allocation fast path while the world is stopped again and again.
 *
 * A thread is only stopped outside the inline allocation fast path (stw.h):
 * a span's cursor is updated there in several stores, and the collector
 * flushes every thread's cached spans while the world is stopped. When a
 * handler of the program interrupts a fast path and the suspend signal lands
 * in that handler, the interrupted PC is the handler's; the collector must
 * look through the handler's signal frame to the fast path beneath it.
 *
 * NTHREADS workers allocate small objects as fast as they can. Each object
 * is stamped with its owner, its batch and its index and goes into a heap
 * batch array (GC_STORE); the last KEEP batches stay alive, so each mark has
 * work. Before a batch is dropped every object in it is checked: an object
 * handed out twice carries the stamp of its second owner and fails.
 * A signaller thread sends SIGUSR1 (handled on the thread's stack) and
 * SIGUSR2 (handled on an alternate signal stack) to the workers every few
 * microseconds; each handler spins for a few microseconds, so suspend
 * signals often land inside it. gc_set_percent(10) keeps cycles frequent.
 * Checks: no stamp is wrong, >= MIN_CYCLES cycles ran.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "stress_util.h"

#define NTHREADS 2
#define BATCH 2048
#define KEEP 8
#define MIN_CYCLES 150
#define TARGET_CYCLES 400
#define MIN_SECONDS 3.0
#define TIME_LIMIT 40.0
#define HANDLER_SPIN_NS 4000
#define SIGNAL_GAP_NS 20000
#define OBJ_MAGIC 0x7369676eu /* "sign" */

struct sobj {
  uint32_t magic;
  uint32_t owner;
  uint64_t batch;
  uint64_t index;
  uint64_t check; /* st_mix of the three above */
};

struct batch {
  uint64_t n;
  struct sobj *p[BATCH];
};

static atomic_int g_stop;
static atomic_long g_bad;
static atomic_long g_signals;
static pthread_t g_workers[NTHREADS];
static struct batch *g_ring[NTHREADS][KEEP]; /* roots: the live batches */

static uint64_t stamp(uint32_t owner, uint64_t batch, uint64_t index) {
  return st_mix(((uint64_t)owner << 56) ^ batch * 0x9e3779b97f4a7c15ull ^ index);
}

static void spin_handler(int sig) {
  (void)sig;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do {
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < HANDLER_SPIN_NS);
}

static ST_NOINLINE long check_batch(uint32_t owner, const struct batch *b, uint64_t num) {
  long bad = 0;
  for (uint64_t i = 0; i < b->n; i++) {
    const struct sobj *o = b->p[i];
    if (o->magic != OBJ_MAGIC || o->owner != owner || o->batch != num || o->index != i ||
        o->check != stamp(owner, num, i)) {
      if (bad++ < 3)
        fprintf(stderr,
                "stress_signals: thread %u batch %llu [%llu]: object %p carries owner %u batch "
                "%llu index %llu: handed out twice or freed (num_gc %u)\n",
                owner, (unsigned long long)num, (unsigned long long)i, (const void *)o, o->owner,
                (unsigned long long)o->batch, (unsigned long long)o->index, st_num_gc());
    }
  }
  return bad;
}

static void *worker(void *arg) {
  uint32_t owner = (uint32_t)(uintptr_t)arg;
  /* SIGUSR2 runs on this alternate stack. */
  stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
  if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0) {
    perror("sigaltstack");
    exit(2);
  }
  st_rng rng = {.s = st_seed() * 31 + owner};
  uint64_t num = 0;
  while (!atomic_load(&g_stop)) {
    unsigned slot = (unsigned)(num % KEEP);
    if (g_ring[owner][slot]) {
      long bad = check_batch(owner, g_ring[owner][slot], num - KEEP);
      if (bad) atomic_fetch_add(&g_bad, bad);
    }
    struct batch *b = st_xalloc(sizeof *b);
    for (uint64_t i = 0; i < BATCH; i++) {
      size_t size = sizeof(struct sobj) + 16 * st_below(&rng, 14);
      struct sobj *o = st_xalloc(size);
      o->magic = OBJ_MAGIC;
      o->owner = owner;
      o->batch = num;
      o->index = i;
      o->check = stamp(owner, num, i);
      GC_STORE(b->p[i], o);
      b->n = i + 1;
    }
    GC_STORE(g_ring[owner][slot], b);
    num++;
  }
  for (uint64_t k = 1; k <= KEEP && k <= num; k++) {
    uint64_t n = num - k;
    long bad = check_batch(owner, g_ring[owner][n % KEEP], n);
    if (bad) atomic_fetch_add(&g_bad, bad);
  }
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, NULL);
  return NULL;
}

static void *signaller(void *arg) {
  (void)arg;
  struct timespec gap = {0, SIGNAL_GAP_NS};
  unsigned k = 0;
  while (!atomic_load(&g_stop)) {
    for (int i = 0; i < NTHREADS; i++) pthread_kill(g_workers[i], (k + i) % 2 ? SIGUSR2 : SIGUSR1);
    atomic_fetch_add(&g_signals, NTHREADS);
    k++;
    nanosleep(&gap, NULL);
  }
  return NULL;
}

TEST(handlers_of_the_program_interrupting_the_fast_path) {
  struct sigaction sa = {0};
  sa.sa_handler = spin_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  gc_set_percent(10);
  uint32_t gc0 = st_num_gc();
  double t0 = st_now();
  for (int i = 0; i < NTHREADS; i++)
    CHECK(gc_pthread_create(&g_workers[i], NULL, worker, (void *)(uintptr_t)i) == 0);
  pthread_t sig;
  CHECK(pthread_create(&sig, NULL, signaller, NULL) == 0);
  for (;;) {
    struct timespec ms = {0, 20000000};
    nanosleep(&ms, NULL);
    double el = st_now() - t0;
    uint32_t cycles = st_num_gc() - gc0;
    if ((cycles >= TARGET_CYCLES && el >= MIN_SECONDS) || el >= TIME_LIMIT * st_scale()) break;
  }
  atomic_store(&g_stop, 1);
  pthread_join(sig, NULL);
  for (int i = 0; i < NTHREADS; i++) pthread_join(g_workers[i], NULL);
  uint32_t cycles = st_num_gc() - gc0;
  fprintf(stderr, "stress_signals: %u cycles in %.1f s, %ld signals handled by workers\n", cycles,
          st_now() - t0, atomic_load(&g_signals));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK(cycles >= MIN_CYCLES);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_signals", 150); }

CHECK_MAIN()
