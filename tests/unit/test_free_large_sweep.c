/*
 * test_free_large_sweep.c - gc_free of a live large object while a sweeper
 * sweeps its span (gc/alloc.c free_large, gc/sweep.c, gc/mcentral.c).
 *
 * free_large takes the span away from the sweep under its class's lock: a
 * span that reads unswept (sg-2) or swept (sg) there must be on one of the
 * class's lists, or gc_free calls the object freed already. A sweeper that
 * changed the span's sweepgen and its list membership under different
 * holdings of the lock broke that, and a program freeing a large object
 * just as the background sweeper reached it was told "double free"
 * (stw/stress/stress_checksum_profiled, rarely, in CI).
 *
 * The test plays the cycles itself with automatic collection off: the
 * large object is marked, the sweep generation advances, and a sweeper
 * thread sweeps the generation (tc_sweep_one, as the background sweeper
 * does) while this thread frees the object the moment its span reads swept.
 * A checker thread takes the class's lock over and over; each time it holds
 * it, the current object's span, if it reads unswept or swept, must be on a
 * list. The checker's lock holdings are what stretch the windows: the
 * sweeper waits for the lock right after changing the span's state.
 */
#include <pthread.h>
#include <sched.h>
#include <tricolor.h>

#include "arena.h"
#include "check.h"
#include "mcentral.h"
#include "mheap.h"
#include "os.h"
#include "sweep.h"

#define LARGE_SIZE (40 * 1024)
#define MAX_ROUNDS 40000
#define TIME_LIMIT_NS 3000000000ULL

static tc_span_t *volatile cur;      /* the published object's span, or NULL */
static unsigned long go_gen, done_gen; /* sweeper hand-off; atomic */
static int stop;                     /* atomic */
static unsigned long checks, seen[3]; /* checker: sg-2, sg-1, sg */
static unsigned long violations;
static uint32_t bad_gen, bad_sg;

/* Waits (up to 10 ms) until the checker has looked at the span in state k
 * once more: some rounds make sure it sees each state, however the threads
 * are scheduled. */
static void await_seen(int k) {
  unsigned long before = __atomic_load_n(&seen[k], __ATOMIC_RELAXED);
  uint64_t t0 = tc_nanotime();
  while (__atomic_load_n(&seen[k], __ATOMIC_RELAXED) == before && tc_nanotime() - t0 < 10000000) {}
}

static void *sweeper(void *arg) {
  (void)arg;
  unsigned long seen_gen = 0;
  while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
    unsigned long g = __atomic_load_n(&go_gen, __ATOMIC_ACQUIRE);
    if (g == seen_gen) continue;
    seen_gen = g;
    while (tc_sweep_one() != 0) {}
    __atomic_store_n(&done_gen, g, __ATOMIC_RELEASE);
  }
  return NULL;
}

static void *checker(void *arg) {
  tc_mcentral_t *c = arg;
  while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
    tc_mutex_lock(&c->lock);
    tc_span_t *s = __atomic_load_n(&cur, __ATOMIC_SEQ_CST);
    if (s != NULL && tc_atomic_load_relaxed(&s->state) == TC_SPAN_INUSE) {
      uint32_t sg = tc_mheap_sweepgen();
      uint32_t gen = tc_atomic_load_acquire(&s->sweepgen);
      checks++;
      if (gen == sg - 2 || gen == sg - 1 || gen == sg)
        __atomic_add_fetch(&seen[gen - (sg - 2)], 1, __ATOMIC_RELAXED);
      if ((gen == sg || gen == sg - 2) && s->list == NULL) {
        violations++;
        bad_gen = gen;
        bad_sg = sg;
      }
    }
    /* Hold the lock a little, so the sweeper often waits for it. */
    for (volatile int i = 0; i < 200; i++) {}
    tc_mutex_unlock(&c->lock);
    for (volatile int i = 0; i < 50; i++) {}
  }
  return NULL;
}

TEST(free_large_while_swept) {
  gc_set_percent(-1);
  void *first = gc_alloc(LARGE_SIZE);
  CHECK_OR_RETURN(first != NULL);
  tc_span_t *s0 = tc_span_lookup((uintptr_t)first);
  CHECK_OR_RETURN(s0 != NULL && s0->large);
  tc_mcentral_t *c = &tc_mcentral[s0->spanclass];
  gc_free(first);

  pthread_t sw, ck;
  CHECK_OR_RETURN(pthread_create(&sw, NULL, sweeper, NULL) == 0);
  CHECK_OR_RETURN(pthread_create(&ck, NULL, checker, c) == 0);

  uint64_t t0 = tc_nanotime();
  int rounds = 0;
  unsigned long freed_swept = 0;
  for (; rounds < MAX_ROUNDS && tc_nanotime() - t0 < TIME_LIMIT_NS; rounds++) {
    unsigned char *p = gc_alloc(LARGE_SIZE);
    CHECK_OR_RETURN(p != NULL);
    tc_span_t *s = tc_span_lookup((uintptr_t)p);
    CHECK_OR_RETURN(s != NULL && s->large && s->spanclass == c->spanclass);
    p[0] = (unsigned char)rounds;
    p[LARGE_SIZE - 1] = (unsigned char)~rounds;
    __atomic_store_n(&cur, s, __ATOMIC_SEQ_CST);

    /* Mark termination, played: the object survives the cycle. */
    __atomic_fetch_or(&s->mark_bits[0], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&tc_mheap.sweepgen, 2, __ATOMIC_ACQ_REL);
    tc_sweep_start_cycle();
    uint32_t sg = tc_mheap_sweepgen();
    CHECK_OR_RETURN(s->sweepgen == sg - 2);

    /* Sweep the generation on the other thread; free the object as soon
     * as its span reads swept (every other round: at once, racing the
     * sweeper's acquisition). */
    if (rounds % 64 == 1) await_seen(0);
    __atomic_store_n(&go_gen, (unsigned long)rounds + 1, __ATOMIC_RELEASE);
    if (rounds % 2 == 0) {
      while (tc_atomic_load_acquire(&s->sweepgen) != sg) {}
      if (rounds % 64 == 0) await_seen(2);
      freed_swept++;
    }
    CHECK_OR_RETURN(p[0] == (unsigned char)rounds && p[LARGE_SIZE - 1] == (unsigned char)~rounds);
    __atomic_store_n(&cur, NULL, __ATOMIC_SEQ_CST);
    gc_free(p);
    while (__atomic_load_n(&done_gen, __ATOMIC_ACQUIRE) != (unsigned long)rounds + 1) {}
    CHECK_OR_RETURN(gc_base(p) == NULL);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  pthread_join(sw, NULL);
  pthread_join(ck, NULL);

  fprintf(stderr,
          "%d rounds (%lu freed once swept), checker: %lu checks, %lu unswept, %lu sweeping, "
          "%lu swept, %lu violations\n",
          rounds, freed_swept, checks, seen[0], seen[1], seen[2], violations);
  if (violations)
    fprintf(stderr, "last violation: a span off every list with sweepgen %u (heap %u)\n",
            bad_gen, bad_sg);
  CHECK_EQ(violations, 0);
  CHECK(rounds >= 1000);
  /* The checker looked at the span both unswept and swept (mid-sweep too,
   * mostly, but too rarely to require it). */
  CHECK(seen[0] > 0 && seen[2] > 0);
}

CHECK_MAIN()
