/*
 * pprof.c - heap profiles in pprof's format: gzipped profile.proto, as Go's
 * runtime/pprof writes the "heap" and "allocs" profiles
 * (gc_write_heap_profile, gc_write_allocs_profile), and the profiler's
 * initialization (GCPROFILERATE, GCHEAPPROFILE).
 *
 * Owns the profile.proto assembly. The snapshot, mappings and symbols come
 * from bucket.c and maps.c; encoding from protobuf.c; compression from
 * gzip.c. docs/profiling.md shows how to read the result.
 *
 * Layout of the profile (perftools.profiles.Profile, field numbers in
 * parentheses), exactly Go's for the values:
 *   sample_type(1)  alloc_objects/count, alloc_space/bytes,
 *                   inuse_objects/count, inuse_space/bytes
 *   period_type(11) space/bytes; period(12) the sampling rate now
 *   default_sample_type(14) "alloc_space" for allocs; unset for heap, so
 *                   pprof shows the last type, inuse_space
 *   sample(2)       one per bucket with data: location ids leaf first; the
 *                   four values scaled by tc_pprof_scale (Go's
 *                   scaleHeapSample); label "bytes" = the slot size
 *   location(4)     one per distinct return address: address = pc - 1 (the
 *                   call instruction), its mapping, one line: the function
 *                   from the symbol tables (or "file+0xvaddr" when no
 *                   symbol covers it) and the source line from DWARF when
 *                   the file has it, so `go tool pprof -top` names every
 *                   frame and `-lines` shows lines without the binaries
 *   function(5)     name = system_name, filename (source file, if known);
 *                   one per (name, file)
 *   mapping(3)      every executable file mapping, the main program first,
 *                   with its GNU build ID; has_functions / has_filenames /
 *                   has_line_numbers say what the profile resolved in it, so
 *                   pprof does not re-symbolize those (its own DWARF reader
 *                   drops the names of compiler clones such as foo.isra.0).
 *                   No inline frames: one line per location, the innermost
 *                   line with the enclosing function's name, as pprof's own
 *                   DWARF symbolizer reports it
 *   time_nanos(9), then the string table(6) (index 0 = "").
 * Repeated scalars are packed above two values; zero scalars are omitted.
 */
#include "pprof.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "atomic.h"
#include "error.h"
#include "fmath.h"
#include "gzip.h"
#include "options.h"
#include "os.h"
#include "protobuf.h"
#include "sample.h"
#include "stack.h"
#include "thread.h"

#define API __attribute__((visibility("default")))

/* profile.proto field numbers. */
enum {
  PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
  PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
  PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
  VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
  SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
  LABEL_KEY = 1, LABEL_NUM = 3,
  MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
  MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
  MAPPING_HAS_FILENAMES = 8, MAPPING_HAS_LINE_NUMBERS = 9,
  LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
  LINE_FUNCTION_ID = 1, LINE_LINE = 2,
  FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4,
};

/* ---- shared with pprof_text.c ---------------------------------------------- */

int tc_pprof_collect(tc_profile_data_t *d) {
  memset(d, 0, sizeof *d);
  tc_thread_current(); /* every call registers its thread (tricolor.h) */
  d->n = tc_bucket_snapshot(&d->a, &d->recs);
  if (d->n < 0) {
    tc_scratch_free_all(&d->a);
    return -1;
  }
  d->rate = (int64_t)tc_atomic_load_relaxed(&tc_sample_rate);
  /* Unreadable maps: a profile without mappings, still named by address. */
  if (tc_maps_read(&d->maps, &d->a) != 0) d->maps.n = 0;
  return 0;
}

void tc_pprof_release(tc_profile_data_t *d) {
  tc_maps_close(&d->maps);
  tc_scratch_free_all(&d->a);
}

bool tc_pprof_symbol(tc_profile_data_t *d, uintptr_t addr, const char **name,
                     uintptr_t *entry, tc_mapping_t **mapping) {
  tc_mapping_t *m = tc_maps_find(&d->maps, addr);
  *mapping = m;
  return m != NULL && tc_maps_symbolize(&d->maps, m, addr, name, entry);
}

void tc_pprof_scale(int64_t count, int64_t size, int64_t rate, int64_t *out_count,
                    int64_t *out_size) {
  if (count == 0 || size == 0) {
    *out_count = *out_size = 0;
    return;
  }
  if (rate <= 1) {
    *out_count = count;
    *out_size = size;
    return;
  }
  /* Each object of average size s was sampled with probability
   * 1 - e^(-s/rate); divide by it. Truncation as Go's int64(). */
  double avg = (double)size / (double)count;
  double scale = 1 / (1 - tc_exp(-avg / (double)rate));
  *out_count = (int64_t)((double)count * scale);
  *out_size = (int64_t)((double)size * scale);
}

/* ---- profile builder -------------------------------------------------------- */

typedef struct str_entry {
  const char *s;
  size_t len;
} str_entry_t;

typedef struct loc_entry {
  uintptr_t addr;       /* return address - 1 */
  uint64_t mapping_id;
  uint64_t function_id;
  uint32_t line;        /* 0 if unknown */
} loc_entry_t;

typedef struct func_entry {
  uint64_t name, file;  /* string indices (file 0 = unknown) */
} func_entry_t;

/* What a profile resolved in each mapping (indexed by mapping id - 1). */
enum { MAP_FUNCTIONS = 1, MAP_FILENAMES = 2, MAP_LINES = 4 };

typedef struct builder {
  tc_profile_data_t *d;
  tc_bytes_t out;
  str_entry_t *strs;
  size_t nstrs;
  uint32_t *str_slots; /* open addressing: strs index + 1, 0 = empty */
  size_t str_mask;
  loc_entry_t *locs;   /* location id = index + 1 */
  size_t nlocs;
  uint32_t *loc_slots;
  size_t loc_mask;
  func_entry_t *funcs; /* function id = index + 1 */
  size_t nfuncs;
  uint32_t *func_slots;
  size_t func_mask;
  uint8_t *map_flags;
} builder_t;

static uint64_t str_hash(const char *s, size_t n) {
  uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * UINT64_C(0x100000001b3);
  return h;
}

static size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n) p *= 2;
  return p;
}

/* The string's index in the table. s must outlive the builder. */
static uint64_t intern(builder_t *b, const char *s, size_t n) {
  size_t i = (size_t)str_hash(s, n) & b->str_mask;
  for (; b->str_slots[i]; i = (i + 1) & b->str_mask) {
    str_entry_t *e = &b->strs[b->str_slots[i] - 1];
    if (e->len == n && memcmp(e->s, s, n) == 0) return b->str_slots[i] - 1;
  }
  b->strs[b->nstrs].s = s;
  b->strs[b->nstrs].len = n;
  b->str_slots[i] = (uint32_t)++b->nstrs;
  return b->nstrs - 1;
}

static uint64_t intern_c(builder_t *b, const char *s) { return intern(b, s, strlen(s)); }

static uint64_t function_for(builder_t *b, uint64_t name, uint64_t file) {
  uint64_t key = name * UINT64_C(0x9E3779B97F4A7C15) ^ file * UINT64_C(0xC2B2AE3D27D4EB4F);
  size_t i = (size_t)(key >> 32) & b->func_mask;
  for (; b->func_slots[i]; i = (i + 1) & b->func_mask) {
    const func_entry_t *f = &b->funcs[b->func_slots[i] - 1];
    if (f->name == name && f->file == file) return b->func_slots[i];
  }
  b->funcs[b->nfuncs].name = name;
  b->funcs[b->nfuncs].file = file;
  b->func_slots[i] = (uint32_t)++b->nfuncs;
  return b->nfuncs;
}

/* The location id of return address pc; NULL-free: unresolved addresses
 * are named after their file and address. */
static uint64_t location_for(builder_t *b, uintptr_t pc) {
  uintptr_t addr = pc - 1;
  size_t i = (size_t)(((uint64_t)addr * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & b->loc_mask;
  for (; b->loc_slots[i]; i = (i + 1) & b->loc_mask)
    if (b->locs[b->loc_slots[i] - 1].addr == addr) return b->loc_slots[i];
  const char *name;
  uintptr_t entry;
  tc_mapping_t *m;
  uint64_t name_idx, file_idx = 0;
  const char *file;
  uint32_t line = 0;
  if (tc_pprof_symbol(b->d, addr, &name, &entry, &m)) {
    name_idx = intern_c(b, name);
    b->map_flags[m->id - 1] |= MAP_FUNCTIONS;
    if (tc_maps_line(&b->d->maps, m, addr, &file, &line)) {
      file_idx = intern_c(b, file);
      b->map_flags[m->id - 1] |= MAP_FILENAMES | MAP_LINES;
    }
  } else {
    char buf[320];
    if (m != NULL)
      snprintf(buf, sizeof buf, "%s+0x%lx", tc_maps_basename(m),
               (unsigned long)(m->have_bias ? addr - m->bias : addr - m->start + m->offset));
    else
      snprintf(buf, sizeof buf, "0x%lx", (unsigned long)addr);
    char *copy = tc_scratch_strndup(&b->d->a, buf, strlen(buf));
    name_idx = copy ? intern_c(b, copy) : intern_c(b, "?");
  }
  loc_entry_t *l = &b->locs[b->nlocs];
  l->addr = addr;
  l->mapping_id = m ? m->id : 0;
  l->function_id = function_for(b, name_idx, file_idx);
  l->line = line;
  b->loc_slots[i] = (uint32_t)++b->nlocs;
  return b->nlocs;
}

static void value_type(builder_t *b, unsigned field, const char *type, const char *unit) {
  size_t mark = tc_pb_begin(&b->out, field);
  tc_pb_uint64(&b->out, VALUETYPE_TYPE, intern_c(b, type));
  tc_pb_uint64(&b->out, VALUETYPE_UNIT, intern_c(b, unit));
  tc_pb_end(&b->out, mark);
}

static bool builder_init(builder_t *b, tc_profile_data_t *d) {
  memset(b, 0, sizeof *b);
  b->d = d;
  size_t frames = 0;
  for (long i = 0; i < d->n; i++) frames += d->recs[i].b->nstk;
  size_t max_strs = 16 + 2 * frames + 2 * d->maps.n;
  size_t str_cap = pow2_at_least(2 * max_strs), loc_cap = pow2_at_least(2 * frames);
  b->strs = tc_scratch_alloc(&d->a, max_strs * sizeof *b->strs);
  b->str_slots = tc_scratch_alloc(&d->a, str_cap * sizeof *b->str_slots);
  b->locs = tc_scratch_alloc(&d->a, (frames + 1) * sizeof *b->locs);
  b->loc_slots = tc_scratch_alloc(&d->a, loc_cap * sizeof *b->loc_slots);
  b->funcs = tc_scratch_alloc(&d->a, (frames + 1) * sizeof *b->funcs);
  b->func_slots = tc_scratch_alloc(&d->a, loc_cap * sizeof *b->func_slots);
  b->map_flags = tc_scratch_alloc(&d->a, d->maps.n + 1);
  b->str_mask = str_cap - 1;
  b->loc_mask = b->func_mask = loc_cap - 1;
  if (!b->strs || !b->str_slots || !b->locs || !b->loc_slots || !b->funcs || !b->func_slots ||
      !b->map_flags)
    return false;
  intern(b, "", 0); /* string_table[0] must be "" */
  return true;
}

static void encode_profile(builder_t *b, const char *default_type) {
  tc_profile_data_t *d = b->d;
  tc_bytes_t *o = &b->out;
  uint64_t now = tc_unixnanos();

  value_type(b, PROFILE_PERIOD_TYPE, "space", "bytes");
  tc_pb_int64_opt(o, PROFILE_PERIOD, d->rate);
  value_type(b, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
  value_type(b, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
  value_type(b, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
  value_type(b, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
  if (default_type) tc_pb_int64_opt(o, PROFILE_DEFAULT_SAMPLE_TYPE, (int64_t)intern_c(b, default_type));

  uint64_t bytes_key = intern_c(b, "bytes");
  uint64_t ids[TC_STACK_MAX];
  for (long r = 0; r < d->n && !o->oom; r++) {
    const tc_pbucket_t *bk = d->recs[r].b;
    const tc_memrecord_cycle_t *a = &d->recs[r].active;
    int64_t values[4];
    tc_pprof_scale((int64_t)a->allocs, (int64_t)a->alloc_bytes, d->rate, &values[0], &values[1]);
    tc_pprof_scale((int64_t)(a->allocs - a->frees), (int64_t)(a->alloc_bytes - a->free_bytes),
                   d->rate, &values[2], &values[3]);
    if (values[0] == 0 && values[1] == 0 && values[2] == 0 && values[3] == 0) continue;
    for (uint32_t i = 0; i < bk->nstk; i++) ids[i] = location_for(b, bk->stk[i]);
    size_t mark = tc_pb_begin(o, PROFILE_SAMPLE);
    tc_pb_uint64s(o, SAMPLE_LOCATION_ID, ids, bk->nstk);
    tc_pb_int64s(o, SAMPLE_VALUE, values, 4);
    int64_t block = a->allocs ? (int64_t)(a->alloc_bytes / a->allocs) : 0;
    if (block != 0) {
      size_t lm = tc_pb_begin(o, SAMPLE_LABEL);
      tc_pb_uint64(o, LABEL_KEY, bytes_key);
      tc_pb_int64_opt(o, LABEL_NUM, block);
      tc_pb_end(o, lm);
    }
    tc_pb_end(o, mark);
  }

  for (size_t i = 0; i < b->nlocs; i++) {
    const loc_entry_t *l = &b->locs[i];
    size_t mark = tc_pb_begin(o, PROFILE_LOCATION);
    tc_pb_uint64(o, LOCATION_ID, i + 1);
    tc_pb_uint64_opt(o, LOCATION_MAPPING_ID, l->mapping_id);
    tc_pb_uint64_opt(o, LOCATION_ADDRESS, l->addr);
    size_t lm = tc_pb_begin(o, LOCATION_LINE);
    tc_pb_uint64(o, LINE_FUNCTION_ID, l->function_id);
    tc_pb_int64_opt(o, LINE_LINE, l->line);
    tc_pb_end(o, lm);
    tc_pb_end(o, mark);
  }
  for (size_t i = 0; i < b->nfuncs; i++) {
    size_t mark = tc_pb_begin(o, PROFILE_FUNCTION);
    tc_pb_uint64(o, FUNCTION_ID, i + 1);
    tc_pb_uint64(o, FUNCTION_NAME, b->funcs[i].name);
    tc_pb_uint64(o, FUNCTION_SYSTEM_NAME, b->funcs[i].name);
    tc_pb_uint64_opt(o, FUNCTION_FILENAME, b->funcs[i].file);
    tc_pb_end(o, mark);
  }
  tc_pb_int64_opt(o, PROFILE_TIME_NANOS, (int64_t)now);
  for (size_t i = 0; i < d->maps.n; i++) {
    tc_mapping_t *m = &d->maps.m[i];
    size_t mark = tc_pb_begin(o, PROFILE_MAPPING);
    tc_pb_uint64(o, MAPPING_ID, m->id);
    tc_pb_uint64_opt(o, MAPPING_START, m->start);
    tc_pb_uint64_opt(o, MAPPING_LIMIT, m->limit);
    tc_pb_uint64_opt(o, MAPPING_OFFSET, m->offset);
    tc_pb_uint64_opt(o, MAPPING_FILENAME, intern_c(b, m->path));
    /* Build IDs of mappings no sample refers to are not worth opening
     * their files for. */
    tc_pb_uint64_opt(o, MAPPING_BUILD_ID, m->build_id[0] ? intern_c(b, m->build_id) : 0);
    tc_pb_bool_opt(o, MAPPING_HAS_FUNCTIONS, b->map_flags[i] & MAP_FUNCTIONS);
    tc_pb_bool_opt(o, MAPPING_HAS_FILENAMES, b->map_flags[i] & MAP_FILENAMES);
    tc_pb_bool_opt(o, MAPPING_HAS_LINE_NUMBERS, b->map_flags[i] & MAP_LINES);
    tc_pb_end(o, mark);
  }
  for (size_t i = 0; i < b->nstrs; i++)
    tc_pb_string(o, PROFILE_STRING_TABLE, b->strs[i].s, b->strs[i].len);
}

static int write_proto(const char *path, const char *default_type) {
  if (path == NULL || path[0] == 0) {
    errno = path == NULL ? EINVAL : ENOENT;
    return -1;
  }
  tc_profile_data_t d;
  if (tc_pprof_collect(&d) != 0) return -1;
  builder_t b;
  int rc = -1, err = ENOMEM;
  if (builder_init(&b, &d)) {
    encode_profile(&b, default_type);
    if (!b.out.oom) {
      rc = tc_gzip_write_file(path, b.out.data, b.out.len, &d.a);
      err = errno;
    }
  }
  tc_bytes_free(&b.out);
  tc_pprof_release(&d);
  errno = err;
  return rc;
}

API int gc_write_heap_profile(const char *path) {
  int saved = errno;
  int rc = write_proto(path, NULL);
  if (rc == 0) errno = saved;
  return rc;
}

API int gc_write_allocs_profile(const char *path) {
  int saved = errno;
  int rc = write_proto(path, "alloc_space");
  if (rc == 0) errno = saved;
  return rc;
}

/* ---- initialization and GCHEAPPROFILE --------------------------------------- */

static void write_at_exit(void) {
  /* Like `go test -memprofile`: collect first, so in-use is as of exit. */
  gc_collect();
  const char *path = tc_options.heap_profile;
  if (gc_write_heap_profile(path) != 0)
    tc_warn("GCHEAPPROFILE=%s: cannot write the heap profile: %s", path, strerror(errno));
}

void tc_pprof_init(void) {
  tc_sample_init((size_t)tc_options.profile_rate);
  tc_stack_init();
  /* Registered before the collector's own handlers, so the profile lock is
   * taken after the collector's locks and released before them. */
  pthread_atfork(tc_bucket_fork_prepare, tc_bucket_fork_parent, tc_bucket_fork_child);
  if (tc_options.heap_profile[0] != 0) atexit(write_at_exit);
}
