/*
 * test_metrics.c - gc_read_metrics / gc_metrics_all (Go's runtime/metrics):
 *
 * - gc_metrics_all lists unique names in Go's form (/path:unit), with a
 *   description and a good kind, and includes Go's GC and heap names;
 *   every listed name reads with its listed kind; unknown names read as
 *   GC_METRIC_KIND_BAD;
 * - values agree with MemStats read right before and after (bracketed
 *   where they can move; exact after a gc_collect with nothing running):
 *   cycles total = num_gc, forced = num_forced_gc, automatic = the rest,
 *   /gc/heap/goal = next_gc, /memory/classes/total = sys, heap released =
 *   heap_released, heap objects bytes = heap_alloc, allocs:bytes =
 *   total_alloc, allocs - frees objects = heap_objects, the memory classes
 *   sum to the total;
 * - /gc/pauses:seconds: boundaries increasing, -Inf or 0 first, +Inf last,
 *   counts summing to at least one pause per cycle; it grows with cycles;
 * - cumulative metrics never decrease across reads while threads allocate.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define MiB ((uint64_t)1 << 20)

static const gc_metric_description *all;
static size_t nall;

static gc_metric_sample read1(const char *name) {
  gc_metric_sample s;
  memset(&s, 0, sizeof s);
  s.name = name;
  gc_read_metrics(&s, 1);
  return s;
}

static uint64_t u64(const char *name) {
  gc_metric_sample s = read1(name);
  if (s.kind != GC_METRIC_KIND_UINT64) {
    fprintf(stderr, "  %s: kind %d, not uint64\n", name, (int)s.kind);
    check_failed_now = 1;
  }
  return s.value.uint64;
}

static const char *const go_names[] = {
    "/gc/cycles/automatic:gc-cycles",      "/gc/cycles/forced:gc-cycles",
    "/gc/cycles/total:gc-cycles",          "/gc/heap/allocs:bytes",
    "/gc/heap/allocs:objects",             "/gc/heap/frees:bytes",
    "/gc/heap/frees:objects",              "/gc/heap/allocs-by-size:bytes",
    "/gc/heap/frees-by-size:bytes",        "/gc/heap/goal:bytes",
    "/gc/heap/objects:objects",            "/gc/heap/tiny/allocs:objects",
    "/gc/pauses:seconds",                  "/memory/classes/heap/objects:bytes",
    "/memory/classes/heap/unused:bytes",   "/memory/classes/heap/free:bytes",
    "/memory/classes/heap/released:bytes", "/memory/classes/total:bytes",
    "/gc/gogc:percent",                    "/gc/gomemlimit:bytes",
    "/gc/heap/live:bytes",                 "/gc/limiter/last-enabled:gc-cycle",
};

TEST(all_names_read_with_their_kind) {
  all = gc_metrics_all(&nall);
  CHECK_OR_RETURN(all != NULL && nall >= sizeof go_names / sizeof go_names[0]);
  gc_metric_sample *s = gc_calloc(nall, sizeof *s); /* scanned: holds histogram counts */
  CHECK_OR_RETURN(s != NULL);
  for (size_t i = 0; i < nall; i++) {
    CHECK(all[i].name && all[i].name[0] == '/' && strchr(all[i].name, ':'));
    CHECK(all[i].description && all[i].description[0]);
    CHECK(all[i].kind >= GC_METRIC_KIND_UINT64 && all[i].kind <= GC_METRIC_KIND_FLOAT64_HISTOGRAM);
    CHECK(all[i].cumulative == 0 || all[i].cumulative == 1);
    for (size_t j = 0; j < i; j++) CHECK(strcmp(all[i].name, all[j].name) != 0);
    s[i].name = all[i].name;
  }
  for (size_t k = 0; k < sizeof go_names / sizeof go_names[0]; k++) {
    int found = 0;
    for (size_t i = 0; i < nall; i++) found |= strcmp(all[i].name, go_names[k]) == 0;
    if (!found) fprintf(stderr, "  %s is not listed\n", go_names[k]);
    CHECK(found);
  }
  gc_read_metrics(s, nall);
  for (size_t i = 0; i < nall; i++) {
    if (s[i].kind != all[i].kind)
      fprintf(stderr, "  %s read as kind %d, listed %d\n", all[i].name, (int)s[i].kind,
              (int)all[i].kind);
    CHECK(s[i].kind == all[i].kind);
    if (s[i].kind == GC_METRIC_KIND_UINT64 && all[i].cumulative) CHECK(s[i].value.uint64 < (1ull << 62));
    if (s[i].kind == GC_METRIC_KIND_FLOAT64) CHECK(!isnan(s[i].value.float64) && s[i].value.float64 >= 0);
    if (s[i].kind == GC_METRIC_KIND_FLOAT64_HISTOGRAM) {
      gc_float64_histogram *h = &s[i].value.float64_histogram;
      CHECK(h->ncounts > 0 && h->counts && h->buckets);
    }
  }
}

TEST(unknown_names_are_bad) {
  static const char *const bad[] = {"", "/gc/heap/goal", "/gc/heap/goal:byte", "gc/heap/goal:bytes",
                                    "/no/such/metric:bytes", "/gc/heap/goal:bytes "};
  gc_metric_sample s[7];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 6; i++) s[i].name = bad[i];
  s[6].name = "/gc/cycles/total:gc-cycles";
  gc_read_metrics(s, 7);
  for (int i = 0; i < 6; i++) {
    if (s[i].kind != GC_METRIC_KIND_BAD) fprintf(stderr, "  \"%s\" read as kind %d\n", bad[i], (int)s[i].kind);
    CHECK(s[i].kind == GC_METRIC_KIND_BAD);
  }
  CHECK(s[6].kind == GC_METRIC_KIND_UINT64); /* a good name beside bad ones */
}

static gc_memstats ma, mb;

TEST(values_agree_with_memstats) {
  churn(8 * MiB, 2000, 3);
  gc_collect();
  /* No cycle runs now: every figure is exact, but for what the background
   * scavenger releases meanwhile. */
  gc_read_memstats(&ma);
  const char *names[] = {"/gc/cycles/total:gc-cycles",          "/gc/cycles/forced:gc-cycles",
                         "/gc/cycles/automatic:gc-cycles",      "/gc/heap/goal:bytes",
                         "/memory/classes/total:bytes",         "/memory/classes/heap/released:bytes",
                         "/memory/classes/heap/objects:bytes",  "/gc/heap/allocs:bytes",
                         "/gc/heap/frees:bytes",                "/gc/heap/allocs:objects",
                         "/gc/heap/frees:objects",              "/gc/heap/objects:objects",
                         "/memory/classes/heap/unused:bytes",   "/memory/classes/heap/free:bytes",
                         "/gc/gogc:percent",                    "/gc/gomemlimit:bytes",
                         "/gc/heap/tiny/allocs:objects"};
  enum { N = sizeof names / sizeof names[0] };
  gc_metric_sample s[N];
  memset(s, 0, sizeof s);
  for (int i = 0; i < N; i++) s[i].name = names[i];
  gc_read_metrics(s, N);
  gc_read_memstats(&mb);
  for (int i = 0; i < N; i++) CHECK(s[i].kind == GC_METRIC_KIND_UINT64);
  CHECK_EQ(ma.num_gc, mb.num_gc);
  CHECK_EQ(s[0].value.uint64, mb.num_gc);
  CHECK_EQ(s[1].value.uint64, mb.num_forced_gc);
  CHECK_EQ(s[2].value.uint64, mb.num_gc - mb.num_forced_gc);
  CHECK_EQ(s[3].value.uint64, mb.next_gc);
  CHECK_EQ(s[4].value.uint64, mb.sys);
  /* The background scavenger may be releasing meanwhile: bracketed. */
  CHECK(s[5].value.uint64 >= ma.heap_released && s[5].value.uint64 <= mb.heap_released);
  CHECK_EQ(s[6].value.uint64, mb.heap_alloc);
  CHECK_EQ(s[7].value.uint64, mb.total_alloc);
  CHECK_EQ(s[7].value.uint64 - s[8].value.uint64, mb.heap_alloc);
  CHECK_EQ(s[9].value.uint64 + s[16].value.uint64, mb.mallocs);
  CHECK_EQ(s[9].value.uint64 - s[10].value.uint64, s[11].value.uint64);
  CHECK_EQ(s[11].value.uint64, mb.heap_objects);
  CHECK_EQ(s[12].value.uint64, mb.heap_inuse - mb.heap_alloc);
  CHECK_EQ(s[13].value.uint64 + s[5].value.uint64, mb.heap_idle);
  CHECK_EQ(s[14].value.uint64, 100);
  CHECK(s[15].value.uint64 == (uint64_t)INT64_MAX);
  /* The /memory/classes add up to the total, as in Go. */
  static const char *const classes[] = {
      "/memory/classes/heap/objects:bytes",          "/memory/classes/heap/unused:bytes",
      "/memory/classes/heap/free:bytes",             "/memory/classes/heap/released:bytes",
      "/memory/classes/heap/stacks:bytes",           "/memory/classes/os-stacks:bytes",
      "/memory/classes/metadata/mspan/inuse:bytes",  "/memory/classes/metadata/mspan/free:bytes",
      "/memory/classes/metadata/mcache/inuse:bytes", "/memory/classes/metadata/mcache/free:bytes",
      "/memory/classes/metadata/other:bytes",        "/memory/classes/profiling/buckets:bytes",
      "/memory/classes/other:bytes",                 "/memory/classes/total:bytes"};
  gc_metric_sample c[14];
  memset(c, 0, sizeof c);
  for (int i = 0; i < 14; i++) c[i].name = classes[i];
  gc_read_metrics(c, 14);
  uint64_t sum = 0;
  for (int i = 0; i < 13; i++) {
    CHECK(c[i].kind == GC_METRIC_KIND_UINT64);
    sum += c[i].value.uint64;
  }
  CHECK_EQ(sum, c[13].value.uint64);
  /* gc_set_percent and gc_set_memory_limit show. */
  int old = gc_set_percent(150);
  int64_t oldlim = gc_set_memory_limit(1 << 30);
  CHECK_EQ(u64("/gc/gogc:percent"), 150);
  CHECK_EQ(u64("/gc/gomemlimit:bytes"), 1 << 30);
  gc_set_percent(old);
  gc_set_memory_limit(oldlim);
}

static int check_pauses(const gc_metric_sample *s, uint64_t min_count) {
  int bad = 0;
  const gc_float64_histogram *h = &s->value.float64_histogram;
  if (s->kind != GC_METRIC_KIND_FLOAT64_HISTOGRAM || h->ncounts == 0) return 1;
  if (!(h->buckets[0] == -INFINITY || h->buckets[0] == 0)) bad++;
  if (h->buckets[h->ncounts] != INFINITY) bad++;
  for (size_t i = 0; i < h->ncounts; i++)
    if (!(h->buckets[i] < h->buckets[i + 1])) bad++;
  uint64_t total = 0;
  for (size_t i = 0; i < h->ncounts; i++) total += h->counts[i];
  if (total < min_count) {
    fprintf(stderr, "  %s: %" PRIu64 " pauses for %" PRIu64 " cycles\n", s->name, total, min_count);
    bad++;
  }
  /* A pause is not negative: nothing below 0. */
  for (size_t i = 0; i < h->ncounts; i++)
    if (h->buckets[i + 1] <= 0 && h->counts[i]) bad++;
  return bad;
}

static uint64_t hist_total(const gc_metric_sample *s) {
  uint64_t t = 0;
  for (size_t i = 0; i < s->value.float64_histogram.ncounts; i++)
    t += s->value.float64_histogram.counts[i];
  return t;
}

TEST(pause_histogram) {
  gc_metric_sample s[2];
  memset(s, 0, sizeof s);
  s[0].name = "/gc/pauses:seconds";
  s[1].name = "/sched/pauses/total/gc:seconds";
  gc_read_memstats(&ma);
  gc_read_metrics(s, 2);
  CHECK_EQ(check_pauses(&s[0], ma.num_gc), 0);
  CHECK_EQ(check_pauses(&s[1], ma.num_gc), 0);
  CHECK_EQ(hist_total(&s[0]), hist_total(&s[1]));
  uint64_t t0 = hist_total(&s[0]);
  for (int i = 0; i < 5; i++) gc_collect();
  gc_read_metrics(s, 2);
  gc_read_memstats(&mb);
  CHECK_EQ(check_pauses(&s[0], mb.num_gc), 0);
  CHECK(hist_total(&s[0]) >= t0 + 5);
  /* At most two pauses a cycle. */
  CHECK(hist_total(&s[0]) <= 2 * (uint64_t)mb.num_gc);
}

/* Pairwise stop_i <= total_i: at every boundary at least as many stops as
 * pauses lie below it (the stopping CDF dominates the total one). */
static int check_dominates(const gc_metric_sample *stop, const gc_metric_sample *total) {
  const gc_float64_histogram *a = &stop->value.float64_histogram;
  const gc_float64_histogram *b = &total->value.float64_histogram;
  if (a->ncounts != b->ncounts) return 1;
  uint64_t ca = 0, cb = 0;
  for (size_t i = 0; i < a->ncounts; i++) {
    ca += a->counts[i];
    cb += b->counts[i];
    if (ca < cb) {
      fprintf(stderr, "  %s: %" PRIu64 " below %g s, %s: %" PRIu64 "\n", stop->name, ca,
              a->buckets[i + 1], total->name, cb);
      return 1;
    }
  }
  return ca == cb ? 0 : 1;
}

TEST(stopping_histograms) {
  gc_metric_sample s[4];
  memset(s, 0, sizeof s);
  s[0].name = "/sched/pauses/total/gc:seconds";
  s[1].name = "/sched/pauses/stopping/gc:seconds";
  s[2].name = "/sched/pauses/total/other:seconds";
  s[3].name = "/sched/pauses/stopping/other:seconds";
  for (int i = 0; i < 3; i++) gc_collect();
  gc_read_metrics(s, 4);
  for (int i = 0; i < 4; i++) CHECK_EQ(check_pauses(&s[i], 0), 0);
  CHECK(hist_total(&s[0]) >= 3);
  CHECK_EQ(check_dominates(&s[1], &s[0]), 0);
  CHECK_EQ(check_dominates(&s[3], &s[2]), 0);
  uint64_t other0 = hist_total(&s[2]);
  /* Each gc_read_memstats stops the world once, as does each metrics
   * snapshot (counted from the next one on); none of them is a cycle's. */
  gc_memstats m;
  for (int i = 0; i < 7; i++) gc_read_memstats(&m);
  gc_read_metrics(s, 4);
  CHECK(hist_total(&s[2]) >= other0 + 8);
  CHECK_EQ(hist_total(&s[3]), hist_total(&s[2]));
  CHECK_EQ(hist_total(&s[1]), hist_total(&s[0]));
}

/* ---- cumulative metrics under load ------------------------------------------- */

static atomic_int stop_alloc;

static void *allocator(void *arg) {
  while (!atomic_load(&stop_alloc)) churn(MiB, 3000, (unsigned)(uintptr_t)arg);
  return NULL;
}

static double scalar(const gc_metric_sample *s) {
  if (s->kind == GC_METRIC_KIND_UINT64) return (double)s->value.uint64;
  if (s->kind == GC_METRIC_KIND_FLOAT64) return s->value.float64;
  return (double)hist_total(s);
}

TEST(cumulative_metrics_never_decrease) {
  all = gc_metrics_all(&nall);
  /* Collected memory: the histograms' counts arrays are collected objects,
   * kept alive only by pointers the collector sees. */
  gc_metric_sample *a = gc_calloc(nall, sizeof *a), *b = gc_calloc(nall, sizeof *b);
  CHECK_OR_RETURN(a && b);
  for (size_t i = 0; i < nall; i++) a[i].name = b[i].name = all[i].name;
  pthread_t th[2];
  atomic_store(&stop_alloc, 0);
  for (int i = 0; i < 2; i++)
    CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, allocator, (void *)(uintptr_t)(i + 5)) == 0);
  gc_read_metrics(a, nall);
  gc_read_memstats(&ma);
  int back = 0;
  for (int r = 0; r < 100; r++) {
    usleep(3000);
    gc_read_metrics(b, nall);
    for (size_t i = 0; i < nall; i++) {
      if (!all[i].cumulative) continue;
      int went_back = scalar(&b[i]) < scalar(&a[i]);
      if (b[i].kind == GC_METRIC_KIND_FLOAT64_HISTOGRAM &&
          b[i].value.float64_histogram.ncounts == a[i].value.float64_histogram.ncounts)
        for (size_t k = 0; k < b[i].value.float64_histogram.ncounts; k++)
          went_back |= b[i].value.float64_histogram.counts[k] < a[i].value.float64_histogram.counts[k];
      if (went_back) {
        if (back < 5) fprintf(stderr, "  %s went back: %g -> %g\n", all[i].name, scalar(&a[i]), scalar(&b[i]));
        back++;
      }
    }
    gc_metric_sample *t = a;
    a = b;
    b = t;
  }
  gc_read_memstats(&mb);
  atomic_store(&stop_alloc, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK_EQ(back, 0);
  CHECK(mb.num_gc > ma.num_gc);
  /* Bracketed by MemStats: totals between the reads before and after. */
  uint64_t cyc = u64("/gc/cycles/total:gc-cycles");
  uint64_t allocs = u64("/gc/heap/allocs:bytes");
  gc_read_memstats(&mb);
  CHECK(cyc >= ma.num_gc && cyc <= mb.num_gc);
  CHECK(allocs >= ma.total_alloc && allocs <= mb.total_alloc);
}

CHECK_MAIN()
