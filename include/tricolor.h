/*
 * tricolor.h - the public interface of libtricolor, a conservative, Go-shaped
 * garbage collector for C.
 *
 * Link with -ltricolor (pkg-config tricolor, or CMake tricolor::tricolor) and
 * allocate with gc_alloc() instead of malloc(). Memory is reclaimed when no
 * pointer to it remains in the places the collector scans: the stacks and
 * registers of registered threads, the writable data of every loaded object,
 * static thread-local storage, ranges given to gc_add_roots(), and objects
 * allocated with gc_alloc() that are themselves reachable.
 *
 * The one rule of conservative collection: a pointer kept only where the
 * collector does not look (memory from libc malloc, memory of a thread the
 * collector does not know, a pointer disguised by arithmetic or xor) does not
 * keep an object alive.
 *
 * Every call is thread-safe. A thread registers itself on its first call into
 * the library; threads that hold heap pointers before ever calling in should
 * be started with gc_pthread_create() or call gc_register_thread().
 *
 * Environment, read once at start (bad values: one line on stderr, then the
 * default): GCPERCENT=N|off, GCPROCS=N, GCSIGSUSPEND=N, GCSIGRESTART=N,
 * GCPROFILERATE=N (heap profile sampling rate in bytes, default 524288, 0
 * off), GCHEAPPROFILE=path (write a heap profile there at exit),
 * GCMODE=concurrent|barrier|stw (how marking meets the program, below),
 * GCTRACE=1 (one line per cycle on stderr), GCCHECKMARK=1 (debug: verify
 * every concurrent mark with a stop-the-world re-mark; aborts on a miss).
 */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_VERSION_MAJOR 0
#define GC_VERSION_MINOR 1
#define GC_VERSION_PATCH 0

#if defined(__GNUC__)
#define GC_API __attribute__((visibility("default")))
#define GC_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define GC_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define GC_API
#define GC_MALLOC_ATTR
#define GC_ALLOC_SIZE(...)
#endif

/* ---- Allocation ------------------------------------------------------- */

/* A zeroed object of at least n bytes whose contents are scanned for
 * pointers. NULL with errno = ENOMEM when n is impossible or memory is out.
 * Alignment follows Go's size classes: 16 bytes, except 8 for requests of
 * at most 8 bytes and of 17 to 24 bytes (the 8- and 24-byte classes), which
 * cannot hold a type that needs 16. */
GC_API void *gc_alloc(size_t n) GC_MALLOC_ATTR GC_ALLOC_SIZE(1);

/* An object of at least n bytes that is never scanned (strings, numbers,
 * pixels). Not zeroed, like malloc. */
GC_API void *gc_alloc_noscan(size_t n) GC_MALLOC_ATTR GC_ALLOC_SIZE(1);

/* A zeroed, scanned array of count elements of size bytes; NULL with
 * errno = ENOMEM if count * size overflows. */
GC_API void *gc_calloc(size_t count, size_t size) GC_MALLOC_ATTR GC_ALLOC_SIZE(1, 2);

/* realloc semantics; the new object keeps the kind (scanned or noscan) of
 * the old one. gc_realloc(NULL, n) is gc_alloc(n); gc_realloc(p, 0) frees p
 * and returns NULL. p must be the start of a live object. */
GC_API void *gc_realloc(void *p, size_t n) GC_ALLOC_SIZE(2);

/* Optional early free of an object that is certainly unreachable. p must be
 * NULL or the start of a live object; anything else (interior, foreign,
 * already freed) prints one line naming the call and the pointer and aborts.
 * Large objects are returned at once (at the next sweep while a mark is
 * running), small ones at the next sweep. gc_free drops the object's
 * finalizer and clears its weak handle. */
GC_API void gc_free(void *p);

/* Bytes usable at p (the slot size), p being the start of a live object;
 * 0 for NULL. */
GC_API size_t gc_usable_size(const void *p);

/* Start of the live object containing address p, or NULL if p does not
 * point into one. */
GC_API void *gc_base(const void *p);

/* A noscan copy of a C string. */
GC_API char *gc_strdup(const char *s) GC_MALLOC_ATTR;

/* ---- Collection ------------------------------------------------------- */

/* A full blocking cycle, like runtime.GC: marks, then sweeps the whole heap
 * before returning. */
GC_API void gc_collect(void);

/* Like debug.SetGCPercent: the heap goal is the heap marked live by the
 * previous cycle plus percent% of it and of the stacks and globals scanned
 * (at least 4 MiB * percent/100); Go's pacer starts each cycle early
 * enough to finish near the goal. A negative value turns automatic
 * collection off (a memory limit still applies). Returns the old value. */
GC_API int gc_set_percent(int percent);

/* Like debug.SetMemoryLimit: a soft limit, in bytes, on the memory the
 * collector has mapped and not returned to the OS (MemStats sys -
 * heap_released). The heap goal is lowered so that the total stays under
 * it; with gc_set_percent(-1) only the limit triggers cycles. The GC CPU
 * limiter may let the limit be exceeded rather than spend more than about
 * half of the CPU on collection. Returns the previous limit; a negative
 * limit only reads it. INT64_MAX (the default unless GCMEMLIMIT is set)
 * means no limit. */
GC_API int64_t gc_set_memory_limit(int64_t limit);

/* Like debug.FreeOSMemory: a full collection (as gc_collect), then every
 * free page of the heap is returned to the OS. */
GC_API void gc_free_os_memory(void);

/* ---- Marking modes ---------------------------------------------------- */

/* How marking runs beside the program (docs/modes.md):
 *   GC_MODE_CONCURRENT  marking runs while the program runs; the kernel
 *       records which heap pages are written meanwhile (userfaultfd
 *       write-protect + PAGEMAP_SCAN), so unmodified C code is safe. Falls
 *       back to GC_MODE_STW when the kernel lacks that tracking.
 *   GC_MODE_BARRIER     marking runs while the program runs; the program
 *       promises that every store of a pointer into the heap goes through
 *       gc_store() / GC_STORE() (stores to locals and globals need not).
 *   GC_MODE_STW         the world is stopped for the whole mark (parallel
 *       on GCPROCS threads), as Boehm GC does by default.
 * The default is GC_MODE_CONCURRENT, or the GCMODE environment variable. */
typedef enum gc_mode {
  GC_MODE_CONCURRENT = 0,
  GC_MODE_BARRIER = 1,
  GC_MODE_STW = 2
} gc_mode_t;

/* Chooses the mode. Only before the first allocation: returns 0, or -1 with
 * errno = EBUSY once the heap is in use, EINVAL for an unknown mode. A
 * request for GC_MODE_CONCURRENT on a kernel without page tracking selects
 * GC_MODE_STW (see gc_get_mode). */
GC_API int gc_set_mode(gc_mode_t mode);
/* The mode in effect (after any fallback). */
GC_API gc_mode_t gc_get_mode(void);

/* The write barrier: *slot = value, and while a GC_MODE_BARRIER mark is
 * running, both the old and the new value are shaded (Go's hybrid barrier).
 * Outside marking, or in the other modes, it is a plain store costing one
 * load and a predictable branch. slot may be anywhere (heap, stack, global).
 * The inline form below is used when the compiler inlines; gc_store is also
 * an ordinary exported function. */
GC_API void gc_store(void **slot, void *value);
/* GC_STORE(lvalue, value): gc_store on any pointer-typed lvalue. */
#define GC_STORE(lvalue, value) gc_store((void **)&(lvalue), (void *)(value))

/* Internal: non-zero while a GC_MODE_BARRIER mark is running. */
extern GC_API volatile int gc_barrier_active_;
GC_API void gc_store_slow_(void **slot, void *value);

#if defined(__GNUC__) && !defined(TC_BUILDING_LIBRARY)
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void
gc_store(void **slot, void *value) {
  if (__builtin_expect(gc_barrier_active_, 0))
    gc_store_slow_(slot, value);
  else
    *slot = value;
}
#endif

/* ---- Finalizers, weak handles, pools ---------------------------------- */

/* Like runtime.SetFinalizer: when obj (the start of a live object) becomes
 * unreachable, fn(obj, data) runs once on the finalizer thread. obj and
 * everything it reaches stay alive until fn has run; if fn does not make
 * obj reachable again, it is reclaimed by a later cycle. fn NULL removes
 * obj's finalizer. data is kept alive while the finalizer is set. Objects
 * on a cycle with a finalizer (obj reaching itself, or two finalized
 * objects reaching each other) are never finalized or reclaimed, as in Go:
 * the order would be undefined. gc_free(obj) drops the finalizer unrun. */
GC_API void gc_set_finalizer(void *obj, void (*fn)(void *obj, void *data), void *data);
/* Runs the finalizers that are queued on the calling thread; returns how
 * many ran (the finalizer thread runs them anyway). */
GC_API int gc_invoke_finalizers(void);

/* A weak handle (Go's weak.Pointer): gc_weak_get returns obj while it is
 * reachable, NULL from the mark termination that finds it unreachable on
 * (all handles of an object are cleared in the same pause). gc_weak_new
 * takes the start of a live object (NULL gives NULL) and returns the same
 * handle for the same object; the handle is itself a collected object:
 * keep it like any pointer. */
typedef struct gc_weak gc_weak_t;
GC_API gc_weak_t *gc_weak_new(void *obj);
GC_API void *gc_weak_get(gc_weak_t *w);

/* A pool of reusable objects (Go's sync.Pool): gc_pool_get returns an
 * object put earlier or, if none, make() (NULL if make is NULL). Each cycle
 * moves the pool's objects to a victim cache and drops the previous victim
 * cache, so an object stays pooled through one cycle at most unless it is
 * taken and put again. Pools live as long as the program. */
typedef struct gc_pool gc_pool_t;
GC_API gc_pool_t *gc_pool_new(void *(*make)(void));
GC_API void *gc_pool_get(gc_pool_t *p);
GC_API void gc_pool_put(gc_pool_t *p, void *obj);

/* ---- Roots and threads ------------------------------------------------ */

/* Scan [lo, hi) as a root on every cycle, until removed. */
GC_API void gc_add_roots(void *lo, void *hi);
/* Stop scanning the previously added ranges that lie inside [lo, hi). */
GC_API void gc_remove_roots(void *lo, void *hi);

/* Register the calling thread (its stack, registers and static TLS become
 * roots). Returns 0, or 1 if it was already registered. */
GC_API int gc_register_thread(void);
/* Unregister the calling thread. Returns 0, or -1 if it was not registered.
 * Threads are also unregistered when they exit. */
GC_API int gc_unregister_thread(void);
/* pthread_create whose new thread is registered before start runs; arg is
 * kept alive until then. */
GC_API int gc_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg);

/* ---- Statistics (Go's runtime.MemStats, snake_case) ------------------- */

typedef struct gc_memstats {
  /* General. */
  uint64_t alloc;        /* bytes of allocated heap objects (= heap_alloc) */
  uint64_t total_alloc;  /* cumulative bytes allocated (slot sizes) */
  uint64_t sys;          /* all memory obtained from the OS (sum of *_sys) */
  uint64_t lookups;      /* always 0, as in Go */
  uint64_t mallocs;      /* cumulative objects allocated */
  uint64_t frees;        /* cumulative objects freed */
  /* Heap. */
  uint64_t heap_alloc;    /* = alloc */
  uint64_t heap_sys;      /* heap_idle + heap_inuse */
  uint64_t heap_idle;     /* bytes in spans holding no objects */
  uint64_t heap_inuse;    /* bytes in spans holding objects */
  uint64_t heap_released; /* idle bytes returned to the OS */
  uint64_t heap_objects;  /* mallocs - frees */
  /* Off-heap. */
  uint64_t stack_inuse;   /* 0: C stacks are not carved from the heap */
  uint64_t stack_sys;     /* 0: thread stacks belong to libc */
  uint64_t mspan_inuse;   /* span descriptors in use */
  uint64_t mspan_sys;     /* span descriptor memory from the OS */
  uint64_t mcache_inuse;  /* per-thread caches in use */
  uint64_t mcache_sys;    /* per-thread cache memory from the OS */
  uint64_t buck_hash_sys; /* profiling buckets */
  uint64_t gc_sys;        /* collector metadata (bitmaps, work buffers, page map) */
  uint64_t other_sys;     /* other off-heap metadata */
  /* Collector. */
  uint64_t next_gc;        /* heap size at which the next cycle starts */
  uint64_t last_gc;        /* end of the last cycle, Unix ns */
  uint64_t pause_total_ns; /* cumulative stop-the-world ns */
  uint64_t pause_ns[256];  /* ring: most recent at (num_gc + 255) % 256 */
  uint64_t pause_end[256]; /* ring of pause end times, Unix ns */
  uint32_t num_gc;         /* completed cycles */
  uint32_t num_forced_gc;  /* cycles forced by gc_collect */
  double gc_cpu_fraction;  /* share of available CPU used by the collector */
  int enable_gc;           /* always 1, as in Go */
  int debug_gc;            /* always 0, as in Go */
  struct {
    uint32_t size;
    uint64_t mallocs;
    uint64_t frees;
  } by_size[61];           /* per size class 0..60, as Go reports them */
} gc_memstats;

/* Fill *m with a consistent snapshot of the collector's statistics. */
GC_API void gc_read_memstats(gc_memstats *m);

/* ---- Metrics (Go's runtime/metrics) -------------------------------------- */

typedef enum gc_metric_kind {
  GC_METRIC_KIND_BAD = 0, /* not a metric tricolor has */
  GC_METRIC_KIND_UINT64 = 1,
  GC_METRIC_KIND_FLOAT64 = 2,
  GC_METRIC_KIND_FLOAT64_HISTOGRAM = 3
} gc_metric_kind_t;

/* A histogram: counts[i] values fell in [buckets[i], buckets[i + 1]); the
 * first boundary may be -Inf and the last +Inf, as in Go. counts is a
 * gc_alloc_noscan'd array, freed by the collector once dropped: like any
 * heap pointer it stays alive only where the collector looks (stack,
 * globals, gc memory), not in libc malloc'd memory. buckets is static. */
typedef struct gc_float64_histogram {
  size_t ncounts;
  uint64_t *counts;
  const double *buckets; /* ncounts + 1 boundaries */
} gc_float64_histogram;

typedef struct gc_metric_sample {
  const char *name;      /* in: a metric name, e.g. "/gc/heap/goal:bytes" */
  gc_metric_kind_t kind; /* out: GC_METRIC_KIND_BAD for an unknown name */
  union {
    uint64_t uint64;
    double float64;
    gc_float64_histogram float64_histogram;
  } value;
} gc_metric_sample;

typedef struct gc_metric_description {
  const char *name;
  const char *description;
  gc_metric_kind_t kind;
  int cumulative; /* 1: only ever grows (a counter) */
} gc_metric_description;

/* Every metric tricolor supports (Go's metrics.All); *n gets the count. */
GC_API const gc_metric_description *gc_metrics_all(size_t *n);

/* Like metrics.Read: fills each sample's kind and value from one
 * consistent snapshot (the world stops briefly, as for gc_read_memstats).
 * Names are Go's: /gc/cycles/total:gc-cycles, /gc/heap/goal:bytes,
 * /gc/pauses:seconds, /memory/classes/total:bytes, ... (gc_metrics_all). */
GC_API void gc_read_metrics(gc_metric_sample *samples, size_t n);

/* ---- Heap profiling (Go's runtime.MemProfileRate and runtime/pprof) --- */

/* Like runtime.MemProfileRate: on average one allocation is sampled per
 * `rate` bytes allocated. Sampling is a Poisson process over allocated
 * bytes, so an object of slot size s is sampled with probability
 * 1 - e^(-s/rate), and profiles scale samples back up by that probability.
 * 0 turns sampling off, 1 samples every allocation. The default comes from
 * GCPROFILERATE (524288, as Go). Setting it redraws every thread's countdown
 * (the world stops briefly). Returns the old rate. Samples already taken
 * stay; a profile is scaled by the rate at the time it is written, so set
 * the rate once, early, as in Go. */
GC_API size_t gc_set_profile_rate(size_t rate);

/* Writes a gzipped pprof profile (profile.proto) of the sampled heap to
 * path, like Go's /debug/pprof/heap: sample types alloc_objects,
 * alloc_space, inuse_objects and inuse_space (the default). In-use data is
 * the heap as of the last completed collection, or of gc_collect() when it
 * was called just before; alloc_* are cumulative since the start. Frames
 * are named from the binaries' symbol tables, so `go tool pprof -top FILE`
 * needs no binary; with the binary (built with -g) `-lines` shows lines.
 * Returns 0, or -1 with errno set. */
GC_API int gc_write_heap_profile(const char *path);

/* The same data with alloc_space as the default sample type (Go's
 * /debug/pprof/allocs). Returns 0, or -1 with errno set. */
GC_API int gc_write_allocs_profile(const char *path);

/* Go's legacy text heap profile (/debug/pprof/heap?debug=1) on f: raw
 * sample counts and bytes per stack, then the MemStats block, then the
 * executable mappings (so `go tool pprof BINARY FILE` can read it for a
 * position-independent binary). Returns 0, or -1 with errno set. */
GC_API int gc_write_heap_profile_text(FILE *f);

/* ---- Benchmarks with allocation counts (go test -bench -benchmem) ------ */

typedef struct gc_benchmem {
  uint64_t n;             /* iterations of the measured run (Go's b.N) */
  uint64_t ns;            /* its wall time, ns */
  uint64_t bytes;         /* bytes allocated by it (slot sizes: TotalAlloc delta) */
  uint64_t allocs;        /* objects allocated by it (Mallocs delta) */
  double ns_per_op;       /* ns / n */
  uint64_t bytes_per_op;  /* bytes / n, truncated (Go's B/op) */
  uint64_t allocs_per_op; /* allocs / n, truncated (Go's allocs/op) */
} gc_benchmem_t;

/* Measures fn(arg), one operation per call, as Go's testing package does
 * with -benchmem: runs it 1 time, then predicts from the last run how many
 * iterations fill benchtime_ns (grown by 1.2x, at most 100x per step, at
 * least +1, at most 1e9) and runs again until one run lasts benchtime_ns.
 * Every run is preceded by gc_collect(); allocation counts are MemStats
 * deltas across the run. *out describes the last run. benchtime_ns 0 means
 * 1 s (go test's default -benchtime). Returns 0, or -1 with errno EINVAL
 * when fn or out is NULL. */
GC_API int gc_benchmem(void (*fn)(void *arg), void *arg, uint64_t benchtime_ns,
                       gc_benchmem_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TRICOLOR_H */
