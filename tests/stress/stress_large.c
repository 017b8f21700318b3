/*
 * stress_large.c - large objects (33 KiB .. 8 MiB) across hundreds of cycles.
 *
 * The live set is one 1 MiB scanned pointer array (a large object itself,
 * scanned in several chunks), reachable only from the test's stack. It holds
 *   - NSLOTS large objects at scattered indices, scanned or noscan, some by
 *     their start and some only by an interior pointer (p + size/2 or
 *     p + 17); word 0 is the size, word 1 the seed, every further word is
 *     st_pat(seed, i), so a reused page shows;
 *   - ~20000 small cells at random indices (some by interior pointer), so
 *     marking must find pointers in every chunk of the array.
 * Each round replaces large objects (the old one dropped, or gc_free'd after
 * being removed from the array), grows and shrinks others with gc_realloc
 * (across the small/large boundary too), occasionally reallocs the pointer
 * array itself, churns the cells and allocates garbage including multi-MiB
 * objects. Pointers to gc_free'd objects are left in globals (stale
 * pointers must not confuse the collector). Every round verifies every
 * object; after every gc_collect, heap_alloc must be close to the live set
 * and heap_sys must stay within a multiple of the largest live set seen.
 * Runs until >= 250 cycles and >= 300 rounds (or a time limit); requires
 * >= 200 cycles.
 */
#include <stdarg.h>

#include "check.h"
#include "stress_util.h"

#define ARRAY_BYTES (1u << 20)
#define ARRAY_WORDS (ARRAY_BYTES / 8)
#define NSLOTS 24
#define LIVE_BUDGET ((uint64_t)40 << 20)
#define LARGE_MIN (33u << 10)
#define LARGE_MAX (8u << 20)
#define NCELLS_TARGET 20000
#define NDANGLING 8
#define TIME_LIMIT 30.0

struct cell {
  uint64_t id, check, pad[2];
};

/* Expected state, in libc memory and pointer-free globals. */
static struct {
  uint64_t size, seed, off, hidden; /* hidden: st_hide(base); size 0 = empty */
  int noscan;
} S[NSLOTS];
static size_t g_slot_index[NSLOTS];
static unsigned char *g_is_slot; /* ARRAY_WORDS flags */
static uint64_t *g_cell_id;      /* ARRAY_WORDS ids, 0 = empty; low bit: interior */
static size_t g_ncells;
static uint64_t g_next_id = 2;
static uint64_t g_live_bytes, g_max_live;
static long g_frees, g_reallocs, g_array_reallocs;

/* Stale pointers to objects released with gc_free. */
static void *g_dangling[NDANGLING];

static long g_bad;

static void bad(const char *fmt, ...) {
  g_bad++;
  if (g_bad > 30) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stress_large: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static uint64_t cell_check(uint64_t id) { return st_mix(id ^ 0xce11ce11u); }

/* ---- Large objects ---------------------------------------------------------- */

static ST_NOINLINE void *large_new(size_t size, uint64_t seed, int noscan) {
  uint64_t *w = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
  if (!w) {
    fprintf(stderr, "allocation of %zu bytes failed\n", size);
    abort();
  }
  w[0] = size;
  w[1] = seed;
  st_fill_words(w, 2, size / 8, seed);
  return w;
}

static size_t large_size(st_rng *r) {
  if (st_below(r, 12) == 0) return st_logsize(r, 1u << 20, LARGE_MAX);
  return st_logsize(r, LARGE_MIN, 1u << 20);
}

static void slot_store(void **arr, int j, uint64_t *base, uint64_t size, uint64_t seed, uint64_t off, int noscan) {
  S[j].size = size;
  S[j].seed = seed;
  S[j].off = off;
  S[j].noscan = noscan;
  S[j].hidden = st_hide(base);
  arr[g_slot_index[j]] = (char *)base + off;
  g_live_bytes += size;
}

/* Remove slot j from the live set; returns the object's start. */
static uint64_t *slot_take(void **arr, int j) {
  uint64_t *base = st_unhide(S[j].hidden);
  arr[g_slot_index[j]] = NULL;
  g_live_bytes -= S[j].size;
  S[j].size = 0;
  S[j].hidden = 0;
  return base;
}

static int slot_ok(void **arr, int j, const char *when) {
  char *p = arr[g_slot_index[j]];
  if (S[j].size == 0) {
    if (p) bad("slot %d: should be empty, holds %p", j, (void *)p);
    return p == NULL;
  }
  uint64_t *base = st_unhide(S[j].hidden);
  if (p != (char *)base + S[j].off) {
    bad("slot %d (%s): array holds %p, expected %p", j, when, (void *)p, (void *)((char *)base + S[j].off));
    return 0;
  }
  if (gc_base(p) != base) bad("slot %d (%s): gc_base(%p) = %p, expected %p", j, when, (void *)p, gc_base(p), (void *)base);
  if (gc_usable_size(base) < S[j].size)
    bad("slot %d (%s): usable size %zu < %llu", j, when, gc_usable_size(base), (unsigned long long)S[j].size);
  if (base[0] != S[j].size || base[1] != S[j].seed) {
    bad("slot %d (%s): object %p (size %llu): header (%#llx, %#llx) corrupted", j, when, (void *)base,
        (unsigned long long)S[j].size, (unsigned long long)base[0], (unsigned long long)base[1]);
    return 0;
  }
  size_t i = st_check_words(base, 2, S[j].size / 8, S[j].seed);
  if (i != (size_t)-1) {
    bad("slot %d (%s): object %p (size %llu, %s): word %zu (offset %zu) is %#llx", j, when, (void *)base,
        (unsigned long long)S[j].size, S[j].noscan ? "noscan" : "scanned", i, i * 8, (unsigned long long)base[i]);
    return 0;
  }
  return 1;
}

static void remember_dangling(st_rng *r, void *p, uint64_t size) {
  if (size <= (1u << 20)) g_dangling[st_below(r, NDANGLING)] = p;
}

static ST_NOINLINE void slot_replace(void **arr, st_rng *r, int j) {
  if (S[j].size) {
    slot_ok(arr, j, "before replace");
    uint64_t size = S[j].size;
    uint64_t *old = slot_take(arr, j);
    if (st_below(r, 3) == 0) {
      gc_free(old);
      g_frees++;
      remember_dangling(r, old, size);
    }
  }
  if (g_live_bytes > LIVE_BUDGET) return; /* leave it empty for now */
  size_t size = large_size(r);
  uint64_t seed = st_next(r);
  int noscan = (int)st_below(r, 2);
  uint64_t *w = large_new(size, seed, noscan);
  uint64_t k = st_below(r, 4), off = k == 0 ? size / 2 : k == 1 ? 17 : 0;
  slot_store(arr, j, w, size, seed, off, noscan);
}

static ST_NOINLINE void slot_realloc(void **arr, st_rng *r, int j) {
  if (!S[j].size) return;
  if (!slot_ok(arr, j, "before realloc")) return;
  uint64_t oldsize = S[j].size, seed = S[j].seed, off = S[j].off;
  int noscan = S[j].noscan;
  size_t size;
  uint64_t k = st_below(r, 10);
  if (k < 5) size = oldsize + st_logsize(r, 8, oldsize < LARGE_MAX / 2 ? oldsize : 8);
  else if (k < 9) size = oldsize / 2 + st_below(r, oldsize / 2);
  else size = st_logsize(r, 1024, LARGE_MIN); /* down to (or near) a small size class */
  if (size > LARGE_MAX) size = LARGE_MAX;
  if (size < 64) size = 64;
  uint64_t *old = slot_take(arr, j);
  uint64_t *w = gc_realloc(old, size);
  if (!w) {
    fprintf(stderr, "gc_realloc(%p, %zu) failed\n", (void *)old, size);
    abort();
  }
  g_reallocs++;
  size_t keep = (oldsize < size ? oldsize : size) / 8;
  size_t i = st_check_words(w, 2, keep, seed);
  if (w[1] != seed || i != (size_t)-1)
    bad("slot %d: gc_realloc %llu -> %zu bytes lost contents (word %zu)", j, (unsigned long long)oldsize, size, i);
  w[0] = size;
  st_fill_words(w, keep, size / 8, seed);
  if (off > size / 2) off = size / 2;
  if (off != 0 && off != 17) off = size / 2;
  slot_store(arr, j, w, size, seed, off, noscan);
}

/* ---- Small cells ---------------------------------------------------------------- */

static ST_NOINLINE void cells_churn(void **arr, st_rng *r, int n) {
  for (int k = 0; k < n; k++) {
    size_t i = st_below(r, ARRAY_WORDS);
    if (g_is_slot[i]) continue;
    if (g_cell_id[i]) { /* remove */
      arr[i] = NULL;
      g_cell_id[i] = 0;
      g_ncells--;
      if (g_ncells >= NCELLS_TARGET / 2) continue;
    }
    if (g_ncells >= NCELLS_TARGET) continue;
    uint64_t id = (g_next_id += 2) | (uint64_t)st_below(r, 2); /* low bit: kept by interior pointer */
    struct cell *c = gc_alloc(sizeof *c);
    if (!c) abort();
    c->id = id;
    c->check = cell_check(id);
    arr[i] = (char *)c + ((id & 1) ? 8 : 0);
    g_cell_id[i] = id;
    g_ncells++;
  }
}

static ST_NOINLINE void cells_verify(void **arr) {
  size_t n = 0;
  for (size_t i = 0; i < ARRAY_WORDS; i++) {
    if (g_is_slot[i]) continue;
    uint64_t id = g_cell_id[i];
    if (!id) {
      if (arr[i]) bad("array word %zu: should be NULL, holds %p", i, arr[i]);
      continue;
    }
    n++;
    const struct cell *c = (const struct cell *)((char *)arr[i] - ((id & 1) ? 8 : 0));
    if (!arr[i] || c->id != id || c->check != cell_check(id)) {
      bad("array word %zu: cell %p (id %llu) corrupted", i, (const void *)c, (unsigned long long)id);
      if (g_bad > 30) return;
    }
  }
  if (n != g_ncells) bad("%zu cells, expected %zu", n, g_ncells);
}

/* ---- The test ---------------------------------------------------------------------- */

static ST_NOINLINE void **array_new(void) {
  void **arr = gc_alloc(ARRAY_BYTES);
  if (!arr) abort();
  g_is_slot = calloc(ARRAY_WORDS, 1);
  g_cell_id = calloc(ARRAY_WORDS, sizeof *g_cell_id);
  if (!g_is_slot || !g_cell_id) abort();
  for (int j = 0; j < NSLOTS; j++) {
    /* scattered over the array, so over every scan chunk of it */
    g_slot_index[j] = (size_t)(997 + (uint64_t)j * (ARRAY_WORDS - 2000) / (NSLOTS - 1));
    if (g_slot_index[j] >= ARRAY_WORDS) g_slot_index[j] = ARRAY_WORDS - 1 - (size_t)j;
    g_is_slot[g_slot_index[j]] = 1;
  }
  return arr;
}

/* Move the pointer array itself with gc_realloc (growing by a page, then
 * back), checking that every word came along. */
static ST_NOINLINE void **array_realloc(void **arr, size_t extra) {
  void **n = gc_realloc(arr, ARRAY_BYTES + extra);
  if (!n) abort();
  g_array_reallocs++;
  return n;
}

static ST_NOINLINE void verify_all(void **arr, const char *when) {
  for (int j = 0; j < NSLOTS; j++) slot_ok(arr, j, when);
  cells_verify(arr);
}

static ST_NOINLINE void large_garbage(st_rng *r) {
  int n = (int)st_range(r, 1, 3);
  for (int i = 0; i < n; i++) {
    size_t size = st_below(r, 20) == 0 ? st_logsize(r, 4u << 20, LARGE_MAX) : st_logsize(r, LARGE_MIN, 2u << 20);
    unsigned char *p = st_below(r, 2) ? gc_alloc_noscan(size) : gc_alloc(size);
    if (!p) abort();
    memset(p, 0xd0 | (int)(size & 15), size);
  }
}

static ST_NOINLINE void heap_check(int round) {
  uint64_t alloc, sys, inuse;
  st_stats(&alloc, &sys, &inuse);
  static uint64_t max_sys;
  if (sys > max_sys) max_sys = sys;
  /* Right after gc_collect: the live set, the cells, plus a little stale
   * retention (dangling pointers keep at most NDANGLING MiB). */
  uint64_t alloc_limit = g_live_bytes + g_live_bytes / 4 + (32u << 20);
  uint64_t base_live = g_max_live > (24u << 20) ? g_max_live : (24u << 20); /* early rounds: arena granularity */
  uint64_t sys_limit = 4 * base_live + (64u << 20);
  if (alloc > alloc_limit)
    bad("round %d: heap_alloc %llu MiB after gc_collect with %llu MiB live (limit %llu MiB)", round,
        (unsigned long long)(alloc >> 20), (unsigned long long)(g_live_bytes >> 20), (unsigned long long)(alloc_limit >> 20));
  if (sys > sys_limit)
    bad("round %d: heap_sys %llu MiB, largest live set %llu MiB (limit %llu MiB)", round, (unsigned long long)(sys >> 20),
        (unsigned long long)(g_max_live >> 20), (unsigned long long)(sys_limit >> 20));
  if (inuse > sys) bad("round %d: heap_inuse %llu > heap_sys %llu", round, (unsigned long long)inuse, (unsigned long long)sys);
  if (round < 0)
    fprintf(stderr, "stress_large: heap_alloc %llu MiB, heap_inuse %llu MiB, heap_sys %llu MiB (max %llu MiB), live %llu MiB (max %llu MiB)\n",
            (unsigned long long)(alloc >> 20), (unsigned long long)(inuse >> 20), (unsigned long long)(sys >> 20),
            (unsigned long long)(max_sys >> 20), (unsigned long long)(g_live_bytes >> 20), (unsigned long long)(g_max_live >> 20));
}

TEST(large_objects_survive_many_cycles) {
  st_rng rng = {st_seed() ^ 0x1a76e};
  int old = gc_set_percent(50);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  uint32_t gc0 = st_num_gc();
  void **arr = array_new();
  int round = 0, min_rounds = (int)(300 * st_scale());
  uint32_t want = (uint32_t)(250 * st_scale()), cycles = 0;
  for (;; round++) {
    for (int k = 0; k < 3; k++) slot_replace(arr, &rng, (int)st_below(&rng, NSLOTS));
    for (int k = 0; k < 2; k++) slot_realloc(arr, &rng, (int)st_below(&rng, NSLOTS));
    while (g_live_bytes > LIVE_BUDGET) {
      int j = (int)st_below(&rng, NSLOTS);
      if (!S[j].size) continue;
      uint64_t size = S[j].size;
      uint64_t *p = slot_take(arr, j);
      gc_free(p);
      g_frees++;
      remember_dangling(&rng, p, size);
    }
    if (g_live_bytes > g_max_live) g_max_live = g_live_bytes;
    cells_churn(arr, &rng, round == 0 ? 4 * NCELLS_TARGET : 1500);
    if (round % 25 == 12) arr = array_realloc(arr, (round / 25) % 2 ? 0 : 8192);
    large_garbage(&rng);
    st_garbage(&rng, 1 << 20, 64 << 10);
    if (round % 2 == 0) {
      gc_collect();
      heap_check(round);
    }
    verify_all(arr, "after round");
    CHECK_EQ(g_bad, 0);
    if (g_bad) {
      fprintf(stderr, "stress_large: failed in round %d after %u cycles\n", round, st_num_gc() - gc0);
      break;
    }
    cycles = st_num_gc() - gc0;
    if (round >= min_rounds && cycles >= want) break;
    if (st_now() - t0 > limit) break;
  }
  st_scrub_stack();
  gc_collect();
  verify_all(arr, "at the end");
  heap_check(-1);
  CHECK_EQ(g_bad, 0);
  cycles = st_num_gc() - gc0;
  fprintf(stderr, "stress_large: %d rounds, %u cycles, %ld gc_free, %ld gc_realloc of large objects, %ld of the array, %.1f s\n",
          round + 1, cycles, g_frees, g_reallocs, g_array_reallocs, st_now() - t0);
  CHECK(cycles >= 200);
  gc_set_percent(old);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_large", 150); }

CHECK_MAIN()
