/*
 * test_free_small_sweep.c - gc_free of small objects while a sweeper sweeps
 * their spans (gc/alloc.c gc_free, gc/sweep.c).
 *
 * gc_free of a small object sets the slot's freed bit with an atomic or, at
 * any time; the sweep turns (mark & ~freed & allocated) into the new alloc
 * bits and clears the freed bits. A bit set between the sweep's read of its
 * word and the clearing was lost: the object stayed allocated until a later
 * cycle found it unreachable, and meanwhile gc_base still returned it and a
 * second gc_free of it went unreported. The sweep now takes each word of
 * freed bits in one exchange; a bit set after it stays for the next sweep.
 *
 * The test plays the cycles itself with automatic collection off: it fills
 * spans with objects, marks them all, advances the sweep generation and has
 * a sweeper thread sweep the generation (tc_sweep_one) while this thread
 * frees every object, a slot of every span in turn, so frees keep landing
 * in spans being swept. Then every freed object must read as freed, and
 * none may be reported freed twice.
 */
#include <pthread.h>
#include <tricolor.h>

#include "arena.h"
#include "check.h"
#include "mcache.h"
#include "mheap.h"
#include "os.h"
#include "sweep.h"

#define OBJ_SIZE 32
#define NOBJ 65536
#define TIME_LIMIT_NS 2000000000ULL
#define MAX_ROUNDS 400

static void *objs[NOBJ]; /* the objects of one round (no real cycle runs) */
static int go;          /* atomic: the sweeper's start signal */

static void *sweeper(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {}
  while (tc_sweep_one() != 0) {}
  return NULL;
}

TEST(free_small_while_swept) {
  gc_set_percent(-1);
  uint64_t t0 = tc_nanotime();
  int rounds = 0;
  long lost = 0, freed = 0;
  uint32_t per_span = 0;
  for (; rounds < MAX_ROUNDS && tc_nanotime() - t0 < TIME_LIMIT_NS; rounds++) {
    for (int i = 0; i < NOBJ; i++) {
      objs[i] = gc_alloc(OBJ_SIZE);
      CHECK_OR_RETURN(objs[i] != NULL);
    }
    /* Mark termination, played: every object survives the cycle. */
    for (int i = 0; i < NOBJ; i++) {
      tc_span_t *s = tc_span_lookup((uintptr_t)objs[i]);
      uint32_t idx = tc_span_object_index(s, (uintptr_t)objs[i]);
      __atomic_fetch_or(&s->mark_bits[idx / 64], (uint64_t)1 << (idx % 64), __ATOMIC_RELAXED);
      per_span = s->nelems;
    }
    __atomic_add_fetch(&tc_mheap.sweepgen, 2, __ATOMIC_ACQ_REL);
    tc_sweep_start_cycle();
    tc_mcache_release_all(tc_mcache_tls); /* as mark termination does */

    __atomic_store_n(&go, 0, __ATOMIC_RELAXED);
    pthread_t sw;
    CHECK_OR_RETURN(pthread_create(&sw, NULL, sweeper, NULL) == 0);
    /* Objects were allocated span by span: objs[k * per_span + j] is slot
     * j of span k (about). Free slot j of every span, then slot j + 1. */
    int nspans = (NOBJ + (int)per_span - 1) / (int)per_span;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (uint32_t j = 0; j < per_span; j++)
      for (int k = 0; k < nspans; k++) {
        long i = (long)k * per_span + j;
        if (i < NOBJ) gc_free(objs[i]);
      }
    pthread_join(sw, NULL);
    for (int i = 0; i < NOBJ; i++) {
      freed++;
      if (gc_base(objs[i]) != NULL) lost++;
    }
  }
  fprintf(stderr, "%d rounds, %ld objects freed, %ld still read as live\n", rounds, freed, lost);
  CHECK_EQ(lost, 0);
  CHECK(rounds >= 10);
}

CHECK_MAIN()
