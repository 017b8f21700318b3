/*
 * pprof_text.c - Go's legacy text heap profile, the `debug=1` form of
 * /debug/pprof/heap (gc_write_heap_profile_text). `go tool pprof BINARY
 * FILE` reads it and scales it exactly as the proto form.
 *
 * Format (runtime/pprof writeHeapInternal, Go 1.19):
 *   heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heap/<2*rate>
 *   then one record per bucket, by in-use bytes, largest first:
 *   <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ 0x<pc> 0x<pc> ...
 *   #	0x<pc-1>	<function>+0x<offset>
 *   (a blank line after each record's frames)
 *   then the MemStats block (read before the snapshot, as Go does) and
 *   "# MaxRSS = <bytes>".
 * Numbers are raw sample sums, unscaled; the header totals them. heap/<2*rate>
 * is the historical convention pprof divides by two. Like current Go, the
 * header's alloc bytes are raised by one when they equal the in-use bytes,
 * or pprof would read a profile without frees as having no alloc columns.
 * Frame comments give the function, offset and, when the binary has DWARF
 * line tables, file:line; pprof ignores comments.
 *
 * One addition to Go's form: a trailing "MAPPED_LIBRARIES:" section with
 * the executable mappings in /proc/self/maps form (gperftools' convention,
 * which pprof's legacy parser reads). Go's binaries are not position
 * independent; C programs usually are, and without the mappings pprof could
 * not relate the addresses to the binary.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <tricolor.h>

#include "pprof.h"

static int64_t inuse_bytes(const tc_bucket_snap_t *r) {
  return (int64_t)(r->active.alloc_bytes - r->active.free_bytes);
}

/* Heapsort of record indices by in-use bytes, largest first. */
static bool before(const tc_bucket_snap_t *recs, long a, long b) {
  return inuse_bytes(&recs[a]) > inuse_bytes(&recs[b]);
}
static void sift(const tc_bucket_snap_t *recs, long *ix, long i, long n) {
  for (;;) {
    long c = 2 * i + 1;
    if (c >= n) return;
    /* a max-heap on "comes later" puts the earliest at the front when done */
    if (c + 1 < n && before(recs, ix[c], ix[c + 1])) c++;
    if (!before(recs, ix[i], ix[c])) return;
    long t = ix[i];
    ix[i] = ix[c];
    ix[c] = t;
    i = c;
  }
}
static void sort_by_inuse(const tc_bucket_snap_t *recs, long *ix, long n) {
  for (long i = n / 2; i-- > 0;) sift(recs, ix, i, n);
  for (long i = n; i-- > 1;) {
    long t = ix[0];
    ix[0] = ix[i];
    ix[i] = t;
    sift(recs, ix, 0, i);
  }
}

/* Go's %v of a float64 (strconv 'g' with the shortest precision): the
 * fewest digits that read back as the same value, in %e form when the
 * decimal exponent is < -4 or >= 6. */
static void format_go_float(char *buf, size_t cap, double v) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*e", prec - 1, v);
    if (strtod(buf, NULL) == v) {
      int exp = atoi(strchr(buf, 'e') + 1);
      if (exp < -4 || exp >= 6) return;
      snprintf(buf, cap, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
      return;
    }
  }
}

static void print_array(FILE *f, const char *name, const uint64_t *v, int n) {
  fprintf(f, "# %s = [", name);
  for (int i = 0; i < n; i++) fprintf(f, i ? " %llu" : "%llu", (unsigned long long)v[i]);
  fprintf(f, "]\n");
}

static void print_memstats(FILE *f, const gc_memstats *s) {
  fprintf(f, "\n# runtime.MemStats\n");
  fprintf(f, "# Alloc = %llu\n", (unsigned long long)s->alloc);
  fprintf(f, "# TotalAlloc = %llu\n", (unsigned long long)s->total_alloc);
  fprintf(f, "# Sys = %llu\n", (unsigned long long)s->sys);
  fprintf(f, "# Lookups = %llu\n", (unsigned long long)s->lookups);
  fprintf(f, "# Mallocs = %llu\n", (unsigned long long)s->mallocs);
  fprintf(f, "# Frees = %llu\n", (unsigned long long)s->frees);
  fprintf(f, "# HeapAlloc = %llu\n", (unsigned long long)s->heap_alloc);
  fprintf(f, "# HeapSys = %llu\n", (unsigned long long)s->heap_sys);
  fprintf(f, "# HeapIdle = %llu\n", (unsigned long long)s->heap_idle);
  fprintf(f, "# HeapInuse = %llu\n", (unsigned long long)s->heap_inuse);
  fprintf(f, "# HeapReleased = %llu\n", (unsigned long long)s->heap_released);
  fprintf(f, "# HeapObjects = %llu\n", (unsigned long long)s->heap_objects);
  fprintf(f, "# Stack = %llu / %llu\n", (unsigned long long)s->stack_inuse,
          (unsigned long long)s->stack_sys);
  fprintf(f, "# MSpan = %llu / %llu\n", (unsigned long long)s->mspan_inuse,
          (unsigned long long)s->mspan_sys);
  fprintf(f, "# MCache = %llu / %llu\n", (unsigned long long)s->mcache_inuse,
          (unsigned long long)s->mcache_sys);
  fprintf(f, "# BuckHashSys = %llu\n", (unsigned long long)s->buck_hash_sys);
  fprintf(f, "# GCSys = %llu\n", (unsigned long long)s->gc_sys);
  fprintf(f, "# OtherSys = %llu\n", (unsigned long long)s->other_sys);
  fprintf(f, "# NextGC = %llu\n", (unsigned long long)s->next_gc);
  fprintf(f, "# LastGC = %llu\n", (unsigned long long)s->last_gc);
  print_array(f, "PauseNs", s->pause_ns, 256);
  print_array(f, "PauseEnd", s->pause_end, 256);
  fprintf(f, "# NumGC = %u\n", s->num_gc);
  fprintf(f, "# NumForcedGC = %u\n", s->num_forced_gc);
  char frac[64];
  format_go_float(frac, sizeof frac, s->gc_cpu_fraction);
  fprintf(f, "# GCCPUFraction = %s\n", frac);
  fprintf(f, "# DebugGC = %s\n", s->debug_gc ? "true" : "false");
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    fprintf(f, "# MaxRSS = %llu\n", (unsigned long long)ru.ru_maxrss * 1024);
}

static void print_record(FILE *f, tc_profile_data_t *d, const tc_bucket_snap_t *r) {
  const tc_memrecord_cycle_t *a = &r->active;
  fprintf(f, "%lld: %lld [%llu: %llu] @", (long long)(a->allocs - a->frees),
          (long long)(a->alloc_bytes - a->free_bytes), (unsigned long long)a->allocs,
          (unsigned long long)a->alloc_bytes);
  for (uint32_t i = 0; i < r->b->nstk; i++) fprintf(f, " %#lx", (unsigned long)r->b->stk[i]);
  fprintf(f, "\n");
  for (uint32_t i = 0; i < r->b->nstk; i++) {
    uintptr_t addr = r->b->stk[i] - 1;
    const char *name;
    uintptr_t entry;
    tc_mapping_t *m;
    const char *file;
    uint32_t line;
    if (tc_pprof_symbol(d, addr, &name, &entry, &m)) {
      fprintf(f, "#\t%#lx\t%s+%#lx", (unsigned long)addr, name, (unsigned long)(addr - entry));
      if (tc_maps_line(&d->maps, m, addr, &file, &line)) fprintf(f, "\t%s:%u", file, line);
      fprintf(f, "\n");
    } else
      fprintf(f, "#\t%#lx\n", (unsigned long)addr);
  }
  fprintf(f, "\n");
}

__attribute__((visibility("default"))) int gc_write_heap_profile_text(FILE *f) {
  if (f == NULL) {
    errno = EINVAL;
    return -1;
  }
  int saved = errno;
  gc_memstats ms; /* first, so the writer's own work is not in it */
  gc_read_memstats(&ms);
  tc_profile_data_t d;
  if (tc_pprof_collect(&d) != 0) return -1;
  long *ix = tc_scratch_alloc(&d.a, (size_t)d.n * sizeof *ix + 1);
  if (ix == NULL) {
    tc_pprof_release(&d);
    errno = ENOMEM;
    return -1;
  }
  tc_memrecord_cycle_t total = {0, 0, 0, 0};
  long n = 0;
  for (long i = 0; i < d.n; i++) {
    const tc_memrecord_cycle_t *a = &d.recs[i].active;
    if (a->allocs == 0 && a->frees == 0) continue; /* nothing published yet */
    total.allocs += a->allocs;
    total.frees += a->frees;
    total.alloc_bytes += a->alloc_bytes;
    total.free_bytes += a->free_bytes;
    ix[n++] = i;
  }
  sort_by_inuse(d.recs, ix, n);
  uint64_t header_alloc_bytes = total.alloc_bytes;
  if (header_alloc_bytes != 0 && header_alloc_bytes == total.alloc_bytes - total.free_bytes)
    header_alloc_bytes++;
  fprintf(f, "heap profile: %lld: %lld [%llu: %llu] @ heap/%lld\n",
          (long long)(total.allocs - total.frees),
          (long long)(total.alloc_bytes - total.free_bytes), (unsigned long long)total.allocs,
          (unsigned long long)header_alloc_bytes, (long long)(2 * d.rate));
  for (long i = 0; i < n; i++) print_record(f, &d, &d.recs[ix[i]]);
  print_memstats(f, &ms);
  fprintf(f, "\nMAPPED_LIBRARIES:\n");
  for (size_t i = 0; i < d.maps.n; i++) {
    const tc_mapping_t *m = &d.maps.m[i];
    fprintf(f, "%08lx-%08lx r-xp %08lx 00:00 0 %s\n", (unsigned long)m->start,
            (unsigned long)m->limit, (unsigned long)m->offset, m->path);
  }
  tc_pprof_release(&d);
  if (fflush(f) != 0 || ferror(f)) {
    if (errno == saved || errno == 0) errno = EIO;
    return -1;
  }
  errno = saved;
  return 0;
}
