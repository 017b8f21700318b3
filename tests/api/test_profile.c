/*
 * test_profile.c - the heap profiler through <tricolor.h> only.
 *
 * Each allocating function below is a distinct call site (noinline,
 * noclone, its results stored so the call is not a tail call); the text
 * profile (gc_write_heap_profile_text, raw unscaled sample sums) is parsed
 * and summed by leaf function, so the checks are exact at rate 1:
 *   - the rate API; rate 1 samples every allocation with its slot size,
 *     large objects as whole pages; rate 0 samples nothing;
 *   - Go's publication: an allocation is not in the profile until a
 *     collection completes after it, shows after gc_collect, and needs two
 *     heap-triggered cycles otherwise;
 *   - frees found by the sweeper and by gc_free leave alloc_* and clear
 *     inuse_*; gc_strdup / gc_realloc are attributed to their caller;
 *   - at rate 4096 the number of samples matches 1 - e^(-s/rate) per object
 *     within four standard deviations;
 *   - threads sampling while another collects; a forked child profiles;
 *   - the gzipped proto, inflated with zlib and decoded by a decoder here:
 *     string table, sample types, period, default type, ids, function
 *     names with files and lines, values and the "bytes" label, mappings;
 *   - the text form's layout; errors set errno.
 * Tests run in file order and share the profile: each uses its own
 * functions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <tricolor.h>

#include "check.h"

#define NOINL __attribute__((noinline, noclone))

/* ---- the text profile, summed by leaf function ------------------------------ */

typedef struct totals {
  long inuse_objs, inuse_bytes, alloc_objs, alloc_bytes;
  int records;
} totals_t;

static char *profile_text(void) {
  FILE *f = tmpfile();
  if (f == NULL || gc_write_heap_profile_text(f) != 0) {
    fprintf(stderr, "gc_write_heap_profile_text failed: %s\n", strerror(errno));
    abort();
  }
  long n = ftell(f);
  char *buf = malloc((size_t)n + 1);
  rewind(f);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

/* Records whose first frame is function fn (exact name). */
static totals_t totals_of(const char *fn) {
  totals_t t = {0, 0, 0, 0, 0};
  char *text = profile_text();
  long v[4];
  int in_record = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "heap profile:", 13) == 0) continue;
    if (sscanf(line, "%ld: %ld [%ld: %ld] @", &v[0], &v[1], &v[2], &v[3]) == 4) {
      in_record = 1;
      continue;
    }
    if (in_record && strncmp(line, "#\t0x", 4) == 0) {
      in_record = 0;
      const char *name = strchr(line + 2, '\t');
      if (name == NULL) continue;
      name++;
      size_t len = strcspn(name, "+\t");
      if (len == strlen(fn) && strncmp(name, fn, len) == 0) {
        t.inuse_objs += v[0];
        t.inuse_bytes += v[1];
        t.alloc_objs += v[2];
        t.alloc_bytes += v[3];
        t.records++;
      }
    }
  }
  free(text);
  return t;
}

static uint32_t num_gc(void) {
  static gc_memstats m;
  gc_read_memstats(&m);
  return m.num_gc;
}

/* ---- allocation sites ------------------------------------------------------- */

static void *kept[4][20000];
static void *volatile sink;

NOINL void alloc_exact48(int n) {
  for (int i = 0; i < n; i++) kept[0][i] = gc_alloc(48);
}
NOINL void alloc_at_rate0(int n) {
  for (int i = 0; i < n; i++) kept[1][i] = gc_alloc(48);
}
NOINL void alloc_published(int n) {
  for (int i = 0; i < n; i++) kept[1][i] = gc_alloc(96);
}
NOINL void alloc_auto(int n) {
  for (int i = 0; i < n; i++) kept[2][i] = gc_alloc(112);
}
NOINL void churn_large(void) { sink = gc_alloc_noscan(64 << 10); }
NOINL void alloc_dropped(int n) {
  for (int i = 0; i < n; i++) sink = gc_alloc(32);
}
NOINL void alloc_freed(int n) {
  for (int i = 0; i < n; i++) kept[3][i] = gc_alloc(160);
}
NOINL void alloc_freed_large(int n) {
  for (int i = 0; i < n; i++) kept[3][1000 + i] = gc_alloc(200000);
}
NOINL void alloc_large5(void) {
  for (int i = 0; i < 5; i++) kept[3][2000 + i] = gc_alloc_noscan(100000);
}
NOINL void use_strdup(int n) {
  for (int i = 0; i < n; i++) kept[3][3000 + i] = gc_strdup("a string of thirty-one bytes..");
}
NOINL void use_realloc(void) {
  void *p = gc_realloc(NULL, 100);
  kept[3][4000] = gc_realloc(p, 5000);
}
NOINL void alloc_sampled64(int n) {
  for (int i = 0; i < n; i++) sink = gc_alloc_noscan(64);
}

/* ---- tests -------------------------------------------------------------------- */

TEST(rate_api) {
  const char *env = getenv("GCPROFILERATE");
  size_t want = env ? (size_t)strtoul(env, NULL, 10) : 524288;
  CHECK_EQ(gc_set_profile_rate(1), want);
  CHECK_EQ(gc_set_profile_rate(1), 1);
}

TEST(every_allocation_at_rate_1) {
  gc_set_profile_rate(1);
  alloc_exact48(1000);
  gc_collect();
  totals_t t = totals_of("alloc_exact48");
  CHECK_EQ(t.records, 1);
  CHECK_EQ(t.alloc_objs, 1000);
  CHECK_EQ(t.alloc_bytes, 48000);
  CHECK_EQ(t.inuse_objs, 1000);
  CHECK_EQ(t.inuse_bytes, 48000);
}

TEST(rate_0_samples_nothing) {
  gc_set_profile_rate(0);
  alloc_at_rate0(1000);
  gc_collect();
  CHECK_EQ(totals_of("alloc_at_rate0").alloc_objs, 0);
  /* Turning it back on takes effect at once: countdowns are redrawn. */
  gc_set_profile_rate(1);
  alloc_at_rate0(10);
  gc_collect();
  CHECK_EQ(totals_of("alloc_at_rate0").alloc_objs, 10);
}

TEST(publication_waits_for_a_completed_cycle) {
  gc_set_profile_rate(1);
  gc_collect();
  alloc_published(500);
  CHECK_EQ(totals_of("alloc_published").alloc_objs, 0);
  gc_collect(); /* returns with the heap swept: the profile is as of it */
  totals_t t = totals_of("alloc_published");
  CHECK_EQ(t.alloc_objs, 500);
  CHECK_EQ(t.inuse_objs, 500);

  /* Heap-triggered cycles publish an allocation two cycles later: the
   * first one marks it, but its sweep has not run when it ends. */
  int percent = gc_set_percent(100); /* automatic cycles on, whatever GCPERCENT says */
  alloc_auto(200);
  CHECK_EQ(totals_of("alloc_auto").alloc_objs, 0);
  uint32_t n0 = num_gc();
  while (num_gc() == n0) churn_large();
  CHECK_EQ(totals_of("alloc_auto").alloc_objs, 0);
  while (num_gc() == n0 + 1) churn_large();
  t = totals_of("alloc_auto");
  CHECK_EQ(t.alloc_objs, 200);
  CHECK_EQ(t.inuse_objs, 200);
  CHECK_EQ(t.inuse_bytes, 200 * 112);
  gc_set_percent(percent);
}

TEST(swept_frees_clear_inuse) {
  gc_set_profile_rate(1);
  alloc_dropped(2000);
  gc_collect();
  totals_t t = totals_of("alloc_dropped");
  CHECK_EQ(t.alloc_objs, 2000);
  CHECK_EQ(t.alloc_bytes, 2000 * 32);
  /* Conservative: a stale word may keep one or two alive. */
  CHECK(t.inuse_objs <= 20);
  CHECK_EQ(t.inuse_bytes, t.inuse_objs * 32);
}

TEST(gc_free_records_the_free) {
  gc_set_profile_rate(1);
  alloc_freed(300);
  alloc_freed_large(3);
  gc_collect();
  CHECK_EQ(totals_of("alloc_freed").inuse_objs, 300);
  CHECK_EQ(totals_of("alloc_freed_large").inuse_objs, 3);
  for (int i = 0; i < 300; i++) gc_free(kept[3][i]);
  for (int i = 0; i < 3; i++) gc_free(kept[3][1000 + i]);
  gc_collect();
  totals_t t = totals_of("alloc_freed");
  CHECK_EQ(t.alloc_objs, 300);
  CHECK_EQ(t.inuse_objs, 0);
  CHECK_EQ(t.inuse_bytes, 0);
  t = totals_of("alloc_freed_large");
  CHECK_EQ(t.alloc_objs, 3);
  CHECK_EQ(t.alloc_bytes, 3 * 204800); /* 200000 B: 25 pages of 8 KiB */
  CHECK_EQ(t.inuse_objs, 0);
}

TEST(large_objects_are_whole_pages) {
  gc_set_profile_rate(1);
  alloc_large5();
  gc_collect();
  totals_t t = totals_of("alloc_large5");
  CHECK_EQ(t.alloc_objs, 5);
  CHECK_EQ(t.alloc_bytes, 5 * 106496); /* 100000 B: 13 pages */
  CHECK_EQ(t.inuse_bytes, 5 * 106496);
}

TEST(strdup_and_realloc_are_attributed_to_their_caller) {
  gc_set_profile_rate(1);
  use_strdup(100);
  use_realloc();
  gc_collect();
  totals_t t = totals_of("use_strdup");
  CHECK_EQ(t.alloc_objs, 100);
  CHECK_EQ(t.alloc_bytes, 100 * 32);
  t = totals_of("use_realloc");
  CHECK_EQ(t.alloc_objs, 2);
  CHECK_EQ(t.alloc_bytes, 112 + 5376);
  /* No recorded stack starts inside the library. */
  static const char *const internal[] = {"gc_alloc", "gc_alloc_noscan", "gc_strdup",
                                         "gc_realloc", "tc_sample_alloc", "alloc_small_slow",
                                         "alloc_sampled", "tc_stack_capture"};
  for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
    CHECK_EQ(totals_of(internal[i]).records, 0);
}

TEST(sample_count_matches_the_rate) {
  /* At rate R an object of s bytes is sampled with p = 1 - e^(-s/R):
   * 100000 x 64 B at R = 4096 gives 1550 expected samples, sd 39. */
  gc_set_profile_rate(4096);
  alloc_sampled64(100000);
  gc_collect();
  gc_set_profile_rate(1);
  totals_t t = totals_of("alloc_sampled64");
  double expect = 100000 * 0.0155018, sd = 39.1;
  fprintf(stderr, "  %ld samples, expected %.0f +- %.0f\n", t.alloc_objs, expect, sd);
  CHECK(t.alloc_objs > expect - 4 * sd && t.alloc_objs < expect + 4 * sd);
  CHECK_EQ(t.alloc_bytes, t.alloc_objs * 64);
}

static atomic_int threads_done;

NOINL void *thread_alloc_fn(void *arg) {
  void **slots = arg;
  for (int i = 0; i < 5000; i++) slots[i] = gc_alloc(32);
  atomic_fetch_add(&threads_done, 1);
  return NULL;
}

TEST(threads_sample_while_collections_run) {
  gc_set_profile_rate(1);
  static void *slots[4][5000];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) gc_pthread_create(&th[i], NULL, thread_alloc_fn, slots[i]);
  while (atomic_load(&threads_done) < 4) gc_collect();
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  gc_collect();
  totals_t t = totals_of("thread_alloc_fn");
  CHECK_EQ(t.alloc_objs, 20000);
  CHECK_EQ(t.inuse_objs, 20000);
}

TEST(text_form_layout) {
  gc_set_profile_rate(1);
  char *text = profile_text();
  long v[4], period = 0;
  CHECK(sscanf(text, "heap profile: %ld: %ld [%ld: %ld] @ heap/%ld", &v[0], &v[1], &v[2], &v[3],
               &period) == 5);
  CHECK_EQ(period, 2); /* 2 * rate, the historical convention */
  CHECK(v[2] >= v[0] && v[3] > v[1]);
  CHECK(strstr(text, "\n# runtime.MemStats\n# Alloc = ") != NULL);
  CHECK(strstr(text, "\n# HeapObjects = ") != NULL);
  CHECK(strstr(text, "\n# Stack = 0 / 0\n") != NULL);
  CHECK(strstr(text, "\n# GCCPUFraction = ") != NULL);
  CHECK(strstr(text, "\n# DebugGC = false\n") != NULL);
  CHECK(strstr(text, "\n# MaxRSS = ") != NULL);
  char *pause = strstr(text, "\n# PauseNs = [");
  CHECK_OR_RETURN(pause != NULL);
  int numbers = 0;
  for (char *p = pause + 14; *p && *p != ']'; p++) numbers += (*p != ' ' && (p[1] == ' ' || p[1] == ']'));
  CHECK_EQ(numbers, 256);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK_OR_RETURN(n > 0);
  exe[n] = 0;
  char *maps = strstr(text, "\nMAPPED_LIBRARIES:\n");
  CHECK(maps != NULL && strstr(maps, exe) != NULL);
  /* Frames carry file:line from DWARF (this test is built with -g). */
  CHECK(strstr(text, "\talloc_exact48+0x") != NULL);
  CHECK(strstr(text, "test_profile.c:") != NULL);
  free(text);
}

/* ---- the proto form, decoded here -------------------------------------------- */

typedef struct pb {
  const uint8_t *p, *end;
} pb_t;

static int pb_more(pb_t *d) { return d->p < d->end; }
static uint64_t pb_varint(pb_t *d) {
  uint64_t v = 0;
  for (int s = 0; d->p < d->end && s < 70; s += 7) {
    uint8_t b = *d->p++;
    if (s < 64) v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80)) break;
  }
  return v;
}
static pb_t pb_sub(pb_t *d) {
  uint64_t n = pb_varint(d);
  if (n > (uint64_t)(d->end - d->p)) n = (uint64_t)(d->end - d->p);
  pb_t s = {d->p, d->p + n};
  d->p += n;
  return s;
}
/* Reads a repeated scalar occurrence (packed or not) into v. */
static int pb_scalars(pb_t *d, unsigned wt, uint64_t *v, int max) {
  if (wt == 0) {
    v[0] = pb_varint(d);
    return 1;
  }
  pb_t s = pb_sub(d);
  int n = 0;
  while (pb_more(&s) && n < max) v[n++] = pb_varint(&s);
  return n;
}

#define MAXN 4096
typedef struct profile {
  char *strings[MAXN];
  int nstrings;
  uint64_t sample_types[8][2];
  int ntypes;
  uint64_t period_type[2], period, default_type, time_nanos;
  struct { uint64_t locs[64]; int nlocs; int64_t values[8]; int nvalues; uint64_t label_key, label_num; } samples[MAXN];
  int nsamples;
  struct { uint64_t id, mapping, address, function, line; } locs[MAXN];
  int nlocs;
  struct { uint64_t id, name, system_name, filename; } funcs[MAXN];
  int nfuncs;
  struct { uint64_t id, start, limit, filename, build_id, has_functions; } maps[256];
  int nmaps;
} profile_t;

static void decode_profile(const uint8_t *data, size_t len, profile_t *pr) {
  memset(pr, 0, sizeof *pr);
  pb_t d = {data, data + len};
  while (pb_more(&d)) {
    uint64_t key = pb_varint(&d);
    unsigned f = (unsigned)(key >> 3), wt = key & 7;
    if (wt == 0) {
      uint64_t v = pb_varint(&d);
      if (f == 12) pr->period = v;
      else if (f == 14) pr->default_type = v;
      else if (f == 9) pr->time_nanos = v;
      continue;
    }
    pb_t m = pb_sub(&d);
    if (f == 6 && pr->nstrings < MAXN) {
      size_t n = (size_t)(m.end - m.p);
      char *s = malloc(n + 1);
      memcpy(s, m.p, n);
      s[n] = 0;
      pr->strings[pr->nstrings++] = s;
    } else if (f == 1 || f == 11) {
      uint64_t vt[2] = {0, 0};
      while (pb_more(&m)) {
        uint64_t k = pb_varint(&m);
        uint64_t v = pb_varint(&m);
        if ((k >> 3) >= 1 && (k >> 3) <= 2) vt[(k >> 3) - 1] = v;
      }
      if (f == 1 && pr->ntypes < 8) memcpy(pr->sample_types[pr->ntypes++], vt, sizeof vt);
      if (f == 11) memcpy(pr->period_type, vt, sizeof vt);
    } else if (f == 2 && pr->nsamples < MAXN) {
      __typeof__(pr->samples[0]) *s = &pr->samples[pr->nsamples++];
      while (pb_more(&m)) {
        uint64_t k = pb_varint(&m);
        unsigned sf = (unsigned)(k >> 3), swt = k & 7;
        if (sf == 1) s->nlocs += pb_scalars(&m, swt, s->locs + s->nlocs, 64 - s->nlocs);
        else if (sf == 2) s->nvalues += pb_scalars(&m, swt, (uint64_t *)s->values + s->nvalues, 8 - s->nvalues);
        else if (sf == 3) {
          pb_t l = pb_sub(&m);
          while (pb_more(&l)) {
            uint64_t lk = pb_varint(&l);
            uint64_t v = pb_varint(&l);
            if ((lk >> 3) == 1) s->label_key = v;
            if ((lk >> 3) == 3) s->label_num = v;
          }
        }
      }
    } else if (f == 4 && pr->nlocs < MAXN) {
      __typeof__(pr->locs[0]) *l = &pr->locs[pr->nlocs++];
      while (pb_more(&m)) {
        uint64_t k = pb_varint(&m);
        if ((k >> 3) == 4) {
          pb_t ln = pb_sub(&m);
          while (pb_more(&ln)) {
            uint64_t lk = pb_varint(&ln);
            uint64_t v = pb_varint(&ln);
            if ((lk >> 3) == 1) l->function = v;
            if ((lk >> 3) == 2) l->line = v;
          }
          continue;
        }
        uint64_t v = pb_varint(&m);
        if ((k >> 3) == 1) l->id = v;
        if ((k >> 3) == 2) l->mapping = v;
        if ((k >> 3) == 3) l->address = v;
      }
    } else if (f == 5 && pr->nfuncs < MAXN) {
      __typeof__(pr->funcs[0]) *fn = &pr->funcs[pr->nfuncs++];
      while (pb_more(&m)) {
        uint64_t k = pb_varint(&m);
        uint64_t v = pb_varint(&m);
        if ((k >> 3) == 1) fn->id = v;
        if ((k >> 3) == 2) fn->name = v;
        if ((k >> 3) == 3) fn->system_name = v;
        if ((k >> 3) == 4) fn->filename = v;
      }
    } else if (f == 3 && pr->nmaps < 256) {
      __typeof__(pr->maps[0]) *mp = &pr->maps[pr->nmaps++];
      while (pb_more(&m)) {
        uint64_t k = pb_varint(&m);
        uint64_t v = pb_varint(&m);
        switch (k >> 3) {
          case 1: mp->id = v; break;
          case 2: mp->start = v; break;
          case 3: mp->limit = v; break;
          case 5: mp->filename = v; break;
          case 6: mp->build_id = v; break;
          case 7: mp->has_functions = v; break;
        }
      }
    }
  }
}

static uint8_t *gunzip_file(const char *path, size_t *len) {
  gzFile g = gzopen(path, "rb");
  if (g == NULL) return NULL;
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  int r;
  while ((r = gzread(g, buf + n, (unsigned)(cap - n))) > 0) {
    n += (size_t)r;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  gzclose(g);
  *len = n;
  return buf;
}

static const char *str(const profile_t *p, uint64_t i) {
  return i < (uint64_t)p->nstrings ? p->strings[i] : "<out of range>";
}

static int find_function(const profile_t *p, const char *name) {
  for (int i = 0; i < p->nfuncs; i++)
    if (strcmp(str(p, p->funcs[i].name), name) == 0) return i;
  return -1;
}

static int find_location(const profile_t *p, uint64_t id) {
  for (int i = 0; i < p->nlocs; i++)
    if (p->locs[i].id == id) return i;
  return -1;
}

static profile_t prof;

static void check_profile_file(const char *path, const char *default_type) {
  size_t len;
  uint8_t *data = gunzip_file(path, &len);
  CHECK_OR_RETURN(data != NULL && len > 0);
  decode_profile(data, len, &prof);
  free(data);
  profile_t *p = &prof;
  CHECK_OR_RETURN(p->nstrings > 0);
  CHECK(strcmp(p->strings[0], "") == 0);
  static const char *const types[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                                          {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
  CHECK_EQ(p->ntypes, 4);
  for (int i = 0; i < 4 && i < p->ntypes; i++) {
    CHECK(strcmp(str(p, p->sample_types[i][0]), types[i][0]) == 0);
    CHECK(strcmp(str(p, p->sample_types[i][1]), types[i][1]) == 0);
  }
  CHECK(strcmp(str(p, p->period_type[0]), "space") == 0);
  CHECK(strcmp(str(p, p->period_type[1]), "bytes") == 0);
  CHECK_EQ(p->period, 1);
  if (default_type) CHECK(strcmp(str(p, p->default_type), default_type) == 0);
  else CHECK_EQ(p->default_type, 0);
  CHECK(p->time_nanos > 1600000000ull * 1000000000ull);
  /* Ids: nonzero, unique, and every reference resolves. */
  for (int i = 0; i < p->nlocs; i++) {
    CHECK(p->locs[i].id != 0 && find_location(p, p->locs[i].id) == i);
    int found = 0;
    for (int j = 0; j < p->nfuncs; j++) found += p->funcs[j].id == p->locs[i].function;
    CHECK_EQ(found, 1);
    if (p->locs[i].mapping) {
      int mfound = 0;
      for (int j = 0; j < p->nmaps; j++) mfound += p->maps[j].id == p->locs[i].mapping;
      CHECK_EQ(mfound, 1);
    }
  }
  for (int j = 0; j < p->nfuncs; j++) CHECK(p->funcs[j].name == p->funcs[j].system_name);
  CHECK(p->nsamples > 0);
  for (int i = 0; i < p->nsamples; i++) {
    CHECK_EQ(p->samples[i].nvalues, 4);
    CHECK(p->samples[i].nlocs > 0);
    for (int k = 0; k < p->samples[i].nlocs; k++) CHECK(find_location(p, p->samples[i].locs[k]) >= 0);
    CHECK(p->samples[i].values[0] >= p->samples[i].values[2]);
  }
  /* alloc_exact48: one sample, rate 1 so unscaled, label bytes = 48; its
   * function has this file and its location a line. */
  int fn = find_function(p, "alloc_exact48");
  CHECK_OR_RETURN(fn >= 0);
  CHECK(strstr(str(p, p->funcs[fn].filename), "test_profile.c") != NULL);
  int samples = 0;
  for (int i = 0; i < p->nsamples; i++) {
    int l = find_location(p, p->samples[i].locs[0]);
    if (l < 0 || p->locs[l].function != p->funcs[fn].id) continue;
    samples++;
    CHECK(p->locs[l].line > 0);
    CHECK_EQ(p->samples[i].values[0], 1000);
    CHECK_EQ(p->samples[i].values[1], 48000);
    CHECK_EQ(p->samples[i].values[2], 1000);
    CHECK_EQ(p->samples[i].values[3], 48000);
    CHECK(strcmp(str(p, p->samples[i].label_key), "bytes") == 0);
    CHECK_EQ(p->samples[i].label_num, 48);
  }
  CHECK_EQ(samples, 1);
  /* Mapping 1 is this program, with its build ID, symbolized. */
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK_OR_RETURN(n > 0 && p->nmaps > 0);
  exe[n] = 0;
  CHECK_EQ(p->maps[0].id, 1);
  CHECK(strcmp(str(p, p->maps[0].filename), exe) == 0);
  CHECK(strlen(str(p, p->maps[0].build_id)) >= 16);
  CHECK_EQ(p->maps[0].has_functions, 1);
  CHECK(p->maps[0].start < p->maps[0].limit);
  for (int i = 0; i < p->nstrings; i++) free(p->strings[i]);
}

TEST(proto_structure_heap_and_allocs) {
  gc_set_profile_rate(1);
  char path[] = "/tmp/test_profile_XXXXXX";
  int fd = mkstemp(path);
  CHECK_OR_RETURN(fd >= 0);
  close(fd);
  CHECK_EQ(gc_write_heap_profile(path), 0);
  check_profile_file(path, NULL);
  CHECK_EQ(gc_write_allocs_profile(path), 0);
  check_profile_file(path, "alloc_space");
  unlink(path);
}

TEST(errors_set_errno) {
  errno = 0;
  CHECK_EQ(gc_write_heap_profile(NULL), -1);
  CHECK_EQ(errno, EINVAL);
  errno = 0;
  CHECK_EQ(gc_write_allocs_profile("/nonexistent-dir-tricolor/heap.pb.gz"), -1);
  CHECK_EQ(errno, ENOENT);
  errno = 0;
  CHECK_EQ(gc_write_heap_profile_text(NULL), -1);
  CHECK_EQ(errno, EINVAL);
  FILE *ro = fopen("/dev/null", "r");
  CHECK_OR_RETURN(ro != NULL);
  errno = 0;
  CHECK_EQ(gc_write_heap_profile_text(ro), -1);
  CHECK(errno != 0);
  fclose(ro);
}

TEST(forked_child_profiles) {
  gc_set_profile_rate(1);
  pid_t pid = fork();
  CHECK_OR_RETURN(pid >= 0);
  if (pid == 0) {
    alloc_exact48(10);
    gc_collect();
    FILE *f = tmpfile();
    int rc = f ? gc_write_heap_profile_text(f) : -1;
    _exit(rc == 0 && gc_write_heap_profile("/dev/null") == 0 ? 0 : 1);
  }
  int status;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

CHECK_MAIN()
