/*
 * harness.h - what every benchmark in bench/ shares: a monotonic clock, the
 * peak resident set of the process, and one allocator interface chosen at
 * compile time, so the same workload source is built once per allocator.
 *
 * Select the allocator with -DBENCH_ALLOC=<name>, name being one of
 *
 *   tricolor  gc_alloc / gc_alloc_noscan; free is a no-op (the collector
 *             reclaims); threads through gc_pthread_create.
 *   boehm     Boehm-Demers-Weiser GC (Debian's libgc, pkg-config bdw-gc)
 *             in its default configuration: GC_THREADS, GC_INIT(),
 *             GC_MALLOC / GC_MALLOC_ATOMIC; free is a no-op; threads
 *             through GC_pthread_create so they are registered.
 *   malloc    glibc: malloc + memset for scanned (zeroed) objects (not
 *             calloc, which in glibc 2.36 skips glibc's tcache), malloc for noscan
 *             ones, free is free().
 *   mimalloc  mi_zalloc / mi_malloc / mi_free (libmimalloc, not
 *             interposed: only the benchmark's own allocations use it).
 *
 * The four share the semantics the collectors define: bench_alloc returns
 * zeroed memory that a collector scans for pointers; bench_alloc_noscan
 * returns memory that is neither zeroed nor scanned. So every allocator does
 * the same work per call, and the explicit allocators additionally pay for
 * bench_free, which the workloads call wherever a C program would free.
 *
 * Every measurement runs in its own process (compare.sh starts one process
 * per run), so ru_maxrss is the peak of that one measurement.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- Allocator selection ---------------------------------------------- */

#define BENCH_ID_tricolor 1
#define BENCH_ID_boehm 2
#define BENCH_ID_malloc 3
#define BENCH_ID_mimalloc 4

#define BENCH_CAT_(a, b) a##b
#define BENCH_CAT(a, b) BENCH_CAT_(a, b)
#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)

#ifndef BENCH_ALLOC
#error "compile with -DBENCH_ALLOC=tricolor|boehm|malloc|mimalloc"
#endif

/* BENCH_ALLOC expands to a name; BENCH_ID_<name> turns it into a number the
 * preprocessor can compare. */
#define BENCH_ALLOC_ID BENCH_CAT(BENCH_ID_, BENCH_ALLOC)
#define BENCH_ALLOC_NAME BENCH_STR(BENCH_ALLOC)

#if BENCH_ALLOC_ID == BENCH_ID_tricolor
#define BENCH_IS_GC 1
#include <tricolor.h>
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
#define BENCH_IS_GC 1
#define GC_THREADS 1
#include <gc.h>
#elif BENCH_ALLOC_ID == BENCH_ID_malloc
#define BENCH_IS_GC 0
#elif BENCH_ALLOC_ID == BENCH_ID_mimalloc
#define BENCH_IS_GC 0
#include <mimalloc.h>
#else
#error "BENCH_ALLOC must be one of tricolor, boehm, malloc, mimalloc"
#endif

#define BENCH_INLINE static inline __attribute__((always_inline))

static void bench_die(const char *what) {
  fprintf(stderr, "bench (%s): %s\n", BENCH_ALLOC_NAME, what);
  exit(2);
}

/* Once, on the main thread, before any other call. */
static inline void bench_init(void) {
#if BENCH_ALLOC_ID == BENCH_ID_boehm
  GC_INIT();
#elif BENCH_ALLOC_ID == BENCH_ID_mimalloc
  mi_free(mi_malloc(16)); /* initialise the main thread's heap */
#endif
}

/* A zeroed object of n bytes, scanned for pointers by the collectors. */
BENCH_INLINE void *bench_alloc(size_t n) {
  void *p;
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  p = gc_alloc(n);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  p = GC_MALLOC(n);
#elif BENCH_ALLOC_ID == BENCH_ID_malloc
  /* Not calloc: glibc 2.36's calloc bypasses the tcache and is about twice
   * as slow as malloc + memset for small sizes; use glibc's fast path. The
   * empty asm keeps GCC from folding malloc + memset back into calloc. */
  p = malloc(n);
  __asm__("" : "+r"(p));
  if (__builtin_expect(p != NULL, 1))
    memset(p, 0, n);
#else
  p = mi_zalloc(n);
#endif
  if (__builtin_expect(p == NULL, 0))
    bench_die("out of memory");
  return p;
}

/* An object of n bytes holding no pointers: not zeroed, not scanned. */
BENCH_INLINE void *bench_alloc_noscan(size_t n) {
  void *p;
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  p = gc_alloc_noscan(n);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  p = GC_MALLOC_ATOMIC(n);
#elif BENCH_ALLOC_ID == BENCH_ID_malloc
  p = malloc(n);
#else
  p = mi_malloc(n);
#endif
  if (__builtin_expect(p == NULL, 0))
    bench_die("out of memory");
  return p;
}

/* Where a C program would free: real for malloc and mimalloc, nothing for
 * the collectors (their reclamation is the thing being measured). */
BENCH_INLINE void bench_free(void *p) {
#if BENCH_ALLOC_ID == BENCH_ID_malloc
  free(p);
#elif BENCH_ALLOC_ID == BENCH_ID_mimalloc
  mi_free(p);
#else
  (void)p;
#endif
}

/* A store of a heap pointer into memory: BENCH_STORE(lvalue, value).
 * tricolor: GC_STORE, its write barrier (GCMODE=barrier requires every
 * store of a pointer into the heap to go through it; a plain store plus one
 * predictable branch otherwise). The others: a plain store. */
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
#define BENCH_STORE(lvalue, value) GC_STORE(lvalue, value)
#else
#define BENCH_STORE(lvalue, value) ((void)((lvalue) = (value)))
#endif

/* pthread_create whose thread the collector knows before it runs. */
static inline int bench_thread_create(pthread_t *t, void *(*fn)(void *), void *arg) {
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  return gc_pthread_create(t, NULL, fn, arg);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  return GC_pthread_create(t, NULL, fn, arg);
#else
  return pthread_create(t, NULL, fn, arg);
#endif
}

static inline int bench_thread_join(pthread_t t, void **ret) {
#if BENCH_ALLOC_ID == BENCH_ID_boehm
  return GC_pthread_join(t, ret);
#else
  return pthread_join(t, ret);
#endif
}

/* ---- Clock and memory ------------------------------------------------- */

static inline double bench_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Peak resident set of this process in KiB (Linux reports ru_maxrss in KiB). */
static inline long bench_peak_rss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss;
}

/* CPU time (user + system, all threads) this process has used, in ms. On a
 * shared machine wall time also counts time spent waiting for a core;
 * comparing the two shows how much of a run was lost to other load. */
static inline double bench_cpu_ms(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* With --verbose: what the collector did, on stderr (nothing for malloc). */
static inline void bench_report_gc(void) {
#if BENCH_ALLOC_ID == BENCH_ID_tricolor
  static gc_memstats m; /* ~4 KiB: not on a worker's stack */
  gc_read_memstats(&m);
  fprintf(stderr,
          "  tricolor: %u cycles, pauses %.1f ms total, heap_sys %.1f MB, heap_alloc %.1f MB, "
          "next_gc %.1f MB, sys %.1f MB, gc_cpu_fraction %.3f\n",
          m.num_gc, m.pause_total_ns / 1e6, m.heap_sys / 1048576.0, m.heap_alloc / 1048576.0,
          m.next_gc / 1048576.0, m.sys / 1048576.0, m.gc_cpu_fraction);
#elif BENCH_ALLOC_ID == BENCH_ID_boehm
  fprintf(stderr, "  boehm: %lu collections, heap %.1f MB, free %.1f MB\n",
          (unsigned long)GC_get_gc_no(), GC_get_heap_size() / 1048576.0,
          GC_get_free_bytes() / 1048576.0);
#endif
}

/* ---- Command line ----------------------------------------------------- */

/* The value of "--name V" or "--name=V" in argv, or NULL. */
static inline const char *bench_opt(int argc, char **argv, const char *name) {
  size_t len = strlen(name);
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], name, len) != 0)
      continue;
    if (argv[i][len] == '=')
      return argv[i] + len + 1;
    if (argv[i][len] == '\0' && i + 1 < argc)
      return argv[i + 1];
  }
  return NULL;
}

static inline long bench_opt_long(int argc, char **argv, const char *name, long dflt,
                                  long lo, long hi) {
  const char *s = bench_opt(argc, argv, name);
  if (s == NULL)
    return dflt;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "bench: %s wants an integer in [%ld, %ld], got '%s'\n", name, lo, hi, s);
    exit(2);
  }
  return v;
}

/* ---- Deterministic randomness ----------------------------------------- */

/* splitmix64: one state word, good enough for sizes, identical everywhere. */
static inline uint64_t bench_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

#endif /* BENCH_HARNESS_H */
