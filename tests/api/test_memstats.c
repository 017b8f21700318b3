/*
 * test_memstats.c - gc_read_memstats against Go's runtime.MemStats meanings
 * and invariants:
 *
 * - by_size[c].size are Go's size classes 0..60 (0, 8, 16, 24, 32, 48, ...,
 *   18432), and allocating n objects of one class adds at least n to that
 *   class's mallocs (and about n*size to total_alloc and mallocs), dropping
 *   them and collecting adds to its frees;
 * - the pause ring: each gc_collect adds one to num_gc and num_forced_gc,
 *   pause_ns[(num_gc + 255) % 256] is the last cycle's pause (non-zero),
 *   pause_end of it equals last_gc, is a Unix time within seconds of now and
 *   grows cycle after cycle, pause_total_ns is the sum of the ring while
 *   num_gc < 256; gc_cpu_fraction in [0, 1]; next_gc > 0; lookups 0,
 *   enable_gc 1, debug_gc 0;
 * - on 300 snapshots taken while 3 threads allocate: sys = the sum of the
 *   seven *_sys fields, heap_sys = heap_idle + heap_inuse, heap_idle >=
 *   heap_released, alloc = heap_alloc, heap_objects = mallocs - frees,
 *   total_alloc >= alloc, heap_inuse >= heap_alloc, *_inuse <= *_sys, and
 *   every cumulative field (total_alloc, mallocs, frees, num_gc,
 *   num_forced_gc, pause_total_ns, last_gc, by_size counts) never decreases.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define MiB ((uint64_t)1 << 20)

/* Go's size classes 0..60 (runtime/sizeclasses.go). */
static const uint32_t go_class_size[61] = {
    0,    8,    16,   24,   32,   48,   64,   80,   96,   112,  128,  144,  160,
    176,  192,  208,  224,  240,  256,  288,  320,  352,  384,  416,  448,  480,
    512,  576,  640,  704,  768,  896,  1024, 1152, 1280, 1408, 1536, 1792, 2048,
    2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192,
    9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432};

static gc_memstats ms_a, ms_b;

static uint64_t unix_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Go's invariants on one snapshot; returns how many failed. */
static int invariants(const gc_memstats *m) {
  int bad = 0;
#define INV(c)                                                           \
  do {                                                                   \
    if (!(c)) {                                                          \
      if (bad < 5) fprintf(stderr, "  snapshot invariant failed: %s\n", #c); \
      bad++;                                                             \
    }                                                                    \
  } while (0)
  INV(m->sys == m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys + m->buck_hash_sys +
                    m->gc_sys + m->other_sys);
  INV(m->heap_sys == m->heap_idle + m->heap_inuse);
  INV(m->heap_idle >= m->heap_released);
  INV(m->alloc == m->heap_alloc);
  INV(m->heap_objects == m->mallocs - m->frees);
  INV(m->mallocs >= m->frees);
  INV(m->total_alloc >= m->alloc);
  INV(m->heap_inuse >= m->heap_alloc);
  INV(m->mspan_inuse <= m->mspan_sys);
  INV(m->mcache_inuse <= m->mcache_sys);
  INV(m->stack_inuse <= m->stack_sys);
  INV(m->lookups == 0);
  INV(m->enable_gc == 1);
  INV(m->debug_gc == 0);
  INV(m->gc_cpu_fraction >= 0 && m->gc_cpu_fraction <= 1);
  INV(m->next_gc > 0);
  INV(m->num_forced_gc <= m->num_gc);
  INV(m->num_gc == 0 || m->last_gc == m->pause_end[(m->num_gc + 255) % 256]);
  uint64_t class_mallocs = 0, class_frees = 0;
  for (int c = 0; c < 61; c++) {
    INV(m->by_size[c].size == go_class_size[c]);
    INV(m->by_size[c].mallocs >= m->by_size[c].frees);
    class_mallocs += m->by_size[c].mallocs;
    class_frees += m->by_size[c].frees;
  }
  INV(class_mallocs <= m->mallocs);
  INV(class_frees <= m->frees);
  INV(m->by_size[0].mallocs == 0 && m->by_size[0].frees == 0);
#undef INV
  return bad;
}

/* Cumulative fields of b are >= those of a. */
static int monotonic(const gc_memstats *a, const gc_memstats *b) {
  int bad = 0;
#define MONO(f)                                                                   \
  do {                                                                            \
    if (b->f < a->f) {                                                            \
      if (bad < 5)                                                                \
        fprintf(stderr, "  %s went back: %" PRIu64 " -> %" PRIu64 "\n", #f,      \
                (uint64_t)a->f, (uint64_t)b->f);                                  \
      bad++;                                                                      \
    }                                                                             \
  } while (0)
  MONO(total_alloc);
  MONO(mallocs);
  MONO(frees);
  MONO(num_gc);
  MONO(num_forced_gc);
  MONO(pause_total_ns);
  MONO(last_gc);
  for (int c = 0; c < 61; c++) {
    MONO(by_size[c].mallocs);
    MONO(by_size[c].frees);
  }
#undef MONO
  return bad;
}

TEST(size_classes_are_gos) {
  gc_read_memstats(&ms_a);
  for (int c = 0; c < 61; c++) {
    if (ms_a.by_size[c].size != go_class_size[c])
      fprintf(stderr, "  by_size[%d].size = %u, Go's is %u\n", c, ms_a.by_size[c].size,
              go_class_size[c]);
    CHECK_EQ(ms_a.by_size[c].size, go_class_size[c]);
  }
  CHECK_EQ(invariants(&ms_a), 0);
}

/* ---- per-class counts ----------------------------------------------------- */

#define NPER 2000
static void *per_keep[NPER];

__attribute__((noinline)) static void alloc_n(size_t size) {
  for (int i = 0; i < NPER; i++) {
    per_keep[i] = gc_alloc(size);
    if (!per_keep[i]) abort();
  }
}

TEST(per_class_mallocs_and_frees) {
  /* A few classes: exact sizes and sizes rounded up to them. */
  static const size_t sizes[] = {8, 100, 1024, 3000, 18432};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t size = sizes[k];
    int c = 1;
    while (go_class_size[c] < size) c++;
    gc_read_memstats(&ms_a);
    alloc_n(size);
    gc_read_memstats(&ms_b);
    uint64_t dm = ms_b.by_size[c].mallocs - ms_a.by_size[c].mallocs;
    uint64_t dt = ms_b.total_alloc - ms_a.total_alloc;
    fprintf(stderr, "  %zu-byte objects: class %d (%u B): +%" PRIu64 " mallocs, +%" PRIu64
            " total_alloc\n", size, c, go_class_size[c], dm, dt);
    CHECK(dm >= NPER && dm <= NPER + 16);
    CHECK(ms_b.mallocs - ms_a.mallocs >= NPER);
    CHECK(dt >= (uint64_t)NPER * go_class_size[c]);
    CHECK(dt <= (uint64_t)NPER * go_class_size[c] + 65536);
    CHECK(ms_b.heap_objects >= ms_a.heap_objects + NPER - 16);
    /* Other classes did not move (this thread alone allocates now). */
    int moved = 0;
    for (int o = 1; o < 61; o++)
      if (o != c && ms_b.by_size[o].mallocs - ms_a.by_size[o].mallocs > 16) moved++;
    CHECK_EQ(moved, 0);
    /* Dropped and collected: that class's frees grow by about n. */
    memset(per_keep, 0, sizeof per_keep);
    clear_stack();
    gc_collect();
    gc_read_memstats(&ms_b);
    uint64_t df = ms_b.by_size[c].frees - ms_a.by_size[c].frees;
    fprintf(stderr, "    after dropping them: +%" PRIu64 " frees\n", df);
    CHECK(df >= NPER * 9 / 10);
    CHECK_EQ(invariants(&ms_b), 0);
  }
}

/* ---- the pause ring --------------------------------------------------------- */

TEST(pause_ring_and_forced_count) {
  gc_read_memstats(&ms_a);
  uint64_t prev_end = ms_a.last_gc;
  for (int i = 0; i < 12; i++) {
    churn(2 * MiB, 500, (unsigned)i);
    gc_read_memstats(&ms_a);
    gc_collect();
    uint64_t now = unix_now_ns();
    gc_read_memstats(&ms_b);
    uint32_t n = ms_b.num_gc;
    unsigned last = (n + 255) % 256;
    /* gc_collect: a forced cycle (and perhaps the end of a running one). */
    CHECK(n >= ms_a.num_gc + 1 && n <= ms_a.num_gc + 2);
    CHECK_EQ(ms_b.num_forced_gc, ms_a.num_forced_gc + 1);
    CHECK(ms_b.pause_ns[last] > 0);
    CHECK(ms_b.pause_ns[last] < 5000000000ull);
    CHECK(ms_b.pause_end[last] == ms_b.last_gc);
    CHECK(ms_b.last_gc <= now);
    CHECK(ms_b.last_gc + 5000000000ull >= now);
    CHECK(ms_b.last_gc > prev_end);
    /* The cycle's pause ended after the previous snapshot's last pause,
     * and the ring's entries before it are unchanged. */
    if (n == ms_a.num_gc + 1 && ms_a.num_gc > 0) {
      unsigned before = (ms_a.num_gc + 255) % 256;
      CHECK(ms_b.pause_end[before] == ms_a.pause_end[before]);
      CHECK(ms_b.pause_ns[before] == ms_a.pause_ns[before]);
      CHECK(ms_b.pause_total_ns == ms_a.pause_total_ns + ms_b.pause_ns[last]);
    }
    /* Ring entries are in time order. */
    if (n >= 2) CHECK(ms_b.pause_end[(n + 254) % 256] <= ms_b.pause_end[last]);
    if (n < 256) {
      uint64_t sum = 0;
      for (unsigned k = 0; k < n; k++) sum += ms_b.pause_ns[k];
      CHECK(sum == ms_b.pause_total_ns);
      for (unsigned k = n; k < 256; k++) CHECK(ms_b.pause_ns[k] == 0 && ms_b.pause_end[k] == 0);
    }
    CHECK(ms_b.gc_cpu_fraction >= 0 && ms_b.gc_cpu_fraction <= 1);
    CHECK(ms_b.next_gc > 0);
    CHECK_EQ(invariants(&ms_b), 0);
    prev_end = ms_b.last_gc;
  }
}

/* ---- snapshots under load --------------------------------------------------- */

static atomic_int stop_alloc;

static void *allocator(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *keep[256] = {0};
  uint64_t x = seed * 2654435761u + 7;
  while (!atomic_load(&stop_alloc)) {
    for (int i = 0; i < 256; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      size_t n = (x >> 33) % 64 == 0 ? 20000 + (x >> 40) % 100000 : 8 + (x >> 33) % 3000;
      void *p = (x >> 20) & 1 ? gc_alloc(n) : gc_alloc_noscan(n);
      if (!p) abort();
      memset(p, 1, n < 64 ? n : 64);
      keep[(x >> 50) % 256] = p;
    }
  }
  (void)keep;
  return NULL;
}

TEST(invariants_while_threads_allocate) {
  pthread_t th[3];
  atomic_store(&stop_alloc, 0);
  for (int i = 0; i < 3; i++)
    CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, allocator, (void *)(uintptr_t)(i + 1)) == 0);
  gc_read_memstats(&ms_a);
  int bad = 0, back = 0;
  uint32_t gc0 = ms_a.num_gc;
  for (int s = 0; s < 300; s++) {
    usleep(2000);
    if (s % 50 == 25) gc_collect();
    gc_read_memstats(&ms_b);
    bad += invariants(&ms_b);
    back += monotonic(&ms_a, &ms_b);
    ms_a = ms_b;
  }
  atomic_store(&stop_alloc, 1);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  fprintf(stderr, "  300 snapshots over %u cycles: %d invariant failures, %d decreases\n",
          ms_b.num_gc - gc0, bad, back);
  CHECK_EQ(bad, 0);
  CHECK_EQ(back, 0);
  CHECK(ms_b.num_gc >= gc0 + 6);
}

CHECK_MAIN()
