/*
 * test_alloc.c - every allocation entry point of <tricolor.h> against its
 * documented semantics: zeroing, alignment, usable size, gc_base, noscan,
 * calloc overflow, impossible sizes, realloc, strdup, free, collect, the GC
 * percent, roots, thread registration and the memstats invariants.
 *
 * Live objects are filled with patterns derived from their address and size
 * and re-verified after collections and after allocating garbage of the same
 * sizes, so a collector that frees a live object early (and hands its slot
 * out again, zeroed) fails here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Go's small size classes (class 0 = large objects), the contract of
 * gc/mksizeclasses.c and of gc_memstats.by_size. */
static const uint32_t go_class_sizes[68] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,
    160,   176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,
    448,   480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408,
    1536,  1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,
    6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};

/* The slot size a small request of n bytes gets (n <= 32 KiB). */
static size_t class_size_for(size_t n) {
  for (int c = 1; c < 68; c++)
    if (go_class_sizes[c] >= n) return go_class_sizes[c];
  return 0;
}

static int class_index_of(uint32_t size) {
  for (int c = 1; c < 68; c++)
    if (go_class_sizes[c] == size) return c;
  return -1;
}

/* Fill/verify with a pattern that does not depend on the address (for
 * contents that move with realloc). */
static void fill_rel(void *p, size_t n, unsigned seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(i * 13u + seed * 101u + 5u);
}
static int verify_rel(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(i * 13u + seed * 101u + 5u)) return 0;
  return 1;
}
/* Hide a size from the compiler so impossible requests do not warn. */
static size_t opaque(size_t x) {
  volatile size_t v = x;
  return v;
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  size_t i = 0;
  for (; i < n && ((uintptr_t)(c + i) & 7); i++)
    if (c[i]) return 0;
  for (; i + 8 <= n; i += 8)
    if (*(const uint64_t *)(c + i)) return 0;
  for (; i < n; i++)
    if (c[i]) return 0;
  return 1;
}

/* Sizes around every class boundary, plus large ones. */
static size_t test_sizes[400];
static int ntest_sizes;
static void build_sizes(void) {
  if (ntest_sizes) return;
  size_t extra[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) test_sizes[ntest_sizes++] = extra[i];
  for (int c = 2; c < 68; c++) {
    size_t s = go_class_sizes[c];
    test_sizes[ntest_sizes++] = s - 1;
    test_sizes[ntest_sizes++] = s;
    test_sizes[ntest_sizes++] = s + 1;
  }
  size_t big[] = {40000, 65536, 65537, 100000, 1 * MiB - 1, 1 * MiB, 1 * MiB + 1, 3 * MiB + 5};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) test_sizes[ntest_sizes++] = big[i];
}

static int aligned_ok(const void *p, size_t n) {
  uintptr_t a = (uintptr_t)p;
  if (n < 16) return a % 8 == 0;
  /* Go's 24-byte class packs objects at 24-byte steps: 8-aligned. */
  if (n <= 24) return a % 8 == 0;
  return a % 16 == 0;
}

/* ---- gc_alloc ------------------------------------------------------------ */

TEST(alloc_zeroed_aligned_usable) {
  build_sizes();
  for (int i = 0; i < ntest_sizes; i++) {
    size_t n = test_sizes[i];
    unsigned char *p = gc_alloc(n);
    CHECK_OR_RETURN(p != NULL);
    size_t u = gc_usable_size(p);
    if (u < n || !aligned_ok(p, n) || !all_zero(p, u))
      fprintf(stderr, "  size %zu: p=%p usable=%zu\n", n, (void *)p, u);
    CHECK(u >= n);
    CHECK(u >= 1);
    CHECK(aligned_ok(p, n));
    CHECK(all_zero(p, u));
    if (n <= 32768) {
      CHECK_EQ(u, class_size_for(n ? n : 1));
    } else {
      /* A large object's slot is its span: rounded up to 8 KiB pages. */
      CHECK(u - n < 8192);
    }
    /* Writable to the end of the slot. */
    memset(p, 0xff, u);
    CHECK(gc_base(p) == p);
    CHECK(gc_base(p + u - 1) == p);
  }
}

TEST(alloc_huge_sizes_zeroed) {
  size_t sizes[] = {32768, 32769, 1 * MiB, 100 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    unsigned char *p = gc_alloc(n);
    CHECK_OR_RETURN(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(gc_usable_size(p) >= n);
    CHECK(all_zero(p, n));
    p[0] = 1;
    p[n / 2] = 2;
    p[n - 1] = 3;
    CHECK(gc_base(p + n - 1) == p);
    CHECK(gc_base(p + n / 2) == p);
    gc_free(p);
  }
}

/* Slots reused after gc_free and after collection come back zeroed. */
__attribute__((noinline)) static void fill_and_drop(size_t n, int count) {
  for (int i = 0; i < count; i++) {
    unsigned char *p = gc_alloc(n);
    if (p) memset(p, 0xA5, gc_usable_size(p));
  }
}

TEST(alloc_reused_slots_are_zeroed) {
  static const size_t sizes[] = {8, 16, 24, 48, 100, 512, 1024, 3000, 8192, 20000, 32768, 50000};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    /* Explicitly freed objects. */
    void *ps[64];
    for (int i = 0; i < 64; i++) {
      ps[i] = gc_alloc(n);
      CHECK_OR_RETURN(ps[i] != NULL);
      memset(ps[i], 0xA5, gc_usable_size(ps[i]));
    }
    for (int i = 0; i < 64; i++) gc_free(ps[i]);
    /* Dropped objects. */
    fill_and_drop(n, 256);
    clear_stack();
    gc_collect();
    int bad = 0;
    for (int i = 0; i < 512; i++) {
      unsigned char *p = gc_alloc(n);
      CHECK_OR_RETURN(p != NULL);
      if (!all_zero(p, gc_usable_size(p))) bad++;
      memset(p, 0xA5, gc_usable_size(p));
    }
    if (bad) fprintf(stderr, "  size %zu: %d non-zeroed objects\n", n, bad);
    CHECK_EQ(bad, 0);
  }
}

TEST(alloc_zero_size_distinct) {
  void *a = gc_alloc(0), *b = gc_alloc(0), *c = gc_alloc_noscan(0);
  CHECK(a != NULL && b != NULL && c != NULL);
  CHECK(a != b && a != c && b != c);
  CHECK(gc_usable_size(a) >= 1);
  CHECK(gc_base(a) == a);
}

static int cmp_ptr(const void *x, const void *y) {
  uintptr_t a = (uintptr_t) * (void *const *)x, b = (uintptr_t) * (void *const *)y;
  return a < b ? -1 : a > b;
}

#define NDISTINCT 3000
static void *distinct[NDISTINCT];
static size_t distinct_n[NDISTINCT];

TEST(alloc_distinct_non_overlapping) {
  unsigned x = 12345;
  for (int i = 0; i < NDISTINCT; i++) {
    x = x * 1103515245u + 12345u;
    size_t n = (i % 100 == 99) ? 33000 + (x >> 8) % 200000 : (x >> 8) % 2100;
    distinct_n[i] = n;
    distinct[i] = (i & 1) ? gc_alloc(n) : gc_alloc_noscan(n);
    CHECK_OR_RETURN(distinct[i] != NULL);
    fill(distinct[i], n, (unsigned)i);
  }
  gc_collect();
  churn(8 * MiB, 2100, 1);
  gc_collect();
  int bad = 0;
  for (int i = 0; i < NDISTINCT; i++)
    if (!verify(distinct[i], distinct_n[i], (unsigned)i)) bad++;
  CHECK_EQ(bad, 0);
  /* Sorted by address, every object (its requested bytes) ends before the
   * next begins. */
  void *sorted[NDISTINCT];
  memcpy(sorted, distinct, sizeof sorted);
  qsort(sorted, NDISTINCT, sizeof sorted[0], cmp_ptr);
  int overlaps = 0;
  for (int i = 0; i + 1 < NDISTINCT; i++) {
    CHECK(sorted[i] != sorted[i + 1]);
    int j = -1;
    for (int k = 0; k < NDISTINCT; k++)
      if (distinct[k] == sorted[i]) j = k;
    size_t n = distinct_n[j] ? distinct_n[j] : 1;
    if ((uintptr_t)sorted[i] + n > (uintptr_t)sorted[i + 1]) overlaps++;
  }
  CHECK_EQ(overlaps, 0);
  memset(distinct, 0, sizeof distinct);
}

/* ---- gc_usable_size and gc_base ------------------------------------------ */

static int global_int = 42;
static char global_buf[256];

TEST(usable_size_and_base) {
  CHECK_EQ(gc_usable_size(NULL), 0);
  build_sizes();
  for (int i = 0; i < ntest_sizes; i++) {
    size_t n = test_sizes[i];
    unsigned char *p = gc_alloc(n);
    CHECK_OR_RETURN(p != NULL);
    size_t u = gc_usable_size(p);
    CHECK(u >= n);
    /* First byte, middle, last byte of the slot resolve to the start. */
    CHECK(gc_base(p) == p);
    CHECK(gc_base(p + u / 2) == p);
    CHECK(gc_base(p + u - 1) == p);
    CHECK(gc_usable_size(gc_base(p + u - 1)) == u);
    CHECK(gc_usable_size(gc_base(p + u / 3)) == u);
    /* One past the slot is some other object or nothing. */
    CHECK(gc_base(p + u) != p);
  }
  int local = 7;
  CHECK(gc_base(&local) == NULL);
  CHECK(gc_base(&global_int) == NULL);
  CHECK(gc_base(global_buf + 100) == NULL);
  CHECK(gc_base(NULL) == NULL);
  CHECK(gc_base((void *)(uintptr_t)1) == NULL);
  CHECK(gc_base((void *)(uintptr_t)-1) == NULL);
  CHECK(gc_base((void *)&gc_alloc) == NULL);
  void *m = malloc(100);
  CHECK(gc_base(m) == NULL);
  CHECK(gc_base((char *)m + 50) == NULL);
  free(m);
  void *big = malloc(4 * MiB);
  CHECK(gc_base((char *)big + MiB) == NULL);
  free(big);
  (void)local;
}

TEST(base_of_freed_large_object_is_null) {
  unsigned char *p = gc_alloc(5 * MiB);
  CHECK_OR_RETURN(p != NULL);
  CHECK(gc_base(p + MiB) == p);
  gc_free(p);
  /* "Large objects are returned at once." */
  CHECK(gc_base(p) == NULL);
  CHECK(gc_base(p + MiB) == NULL);
}

/* ---- gc_alloc_noscan ----------------------------------------------------- */

#define NNOSCAN 4000
static unsigned char *noscan_objs[NNOSCAN];
static size_t noscan_n[NNOSCAN];

TEST(alloc_noscan_usable_writable_survives) {
  build_sizes();
  for (int i = 0; i < ntest_sizes; i++) {
    size_t n = test_sizes[i];
    unsigned char *p = gc_alloc_noscan(n);
    CHECK_OR_RETURN(p != NULL);
    if (n >= 16) {
      CHECK(gc_usable_size(p) >= n);
      CHECK(((uintptr_t)p & 7) == 0);
      CHECK(gc_base(p + n - 1) == p);
    }
    if (n) {
      memset(p, 0xEE, n);
      CHECK(p[n - 1] == 0xEE);
    }
  }
  /* Many small noscan objects (including sub-16-byte ones, which may share
   * blocks) are distinct and keep their contents across collections. */
  for (int i = 0; i < NNOSCAN; i++) {
    size_t n = 1 + (size_t)i % 40;
    if (i % 500 == 0) n = 40000 + (size_t)i;
    noscan_n[i] = n;
    noscan_objs[i] = gc_alloc_noscan(n);
    CHECK_OR_RETURN(noscan_objs[i] != NULL);
    fill(noscan_objs[i], n, (unsigned)i + 7);
  }
  gc_collect();
  churn(8 * MiB, 64, 2);
  for (int i = 0; i < 2000; i++) {
    unsigned char *g = gc_alloc_noscan(1 + (size_t)i % 40);
    CHECK_OR_RETURN(g != NULL);
    memset(g, 0, 1 + (size_t)i % 40);
  }
  gc_collect();
  int bad = 0;
  for (int i = 0; i < NNOSCAN; i++)
    if (!verify(noscan_objs[i], noscan_n[i], (unsigned)i + 7)) bad++;
  CHECK_EQ(bad, 0);
  memset(noscan_objs, 0, sizeof noscan_objs);
}

/* ---- gc_calloc ----------------------------------------------------------- */

TEST(calloc_zeroed_and_overflow) {
  /* Dirty some slots first so a non-zeroing calloc would show. */
  fill_and_drop(1000, 200);
  fill_and_drop(64, 500);
  clear_stack();
  gc_collect();
  for (int i = 0; i < 200; i++) {
    unsigned char *p = gc_calloc(10, 100);
    CHECK_OR_RETURN(p != NULL);
    CHECK(gc_usable_size(p) >= 1000);
    CHECK(all_zero(p, gc_usable_size(p)));
    memset(p, 0xA5, 1000);
    unsigned char *q = gc_calloc(8, 8);
    CHECK_OR_RETURN(q != NULL);
    CHECK(all_zero(q, 64));
    memset(q, 0xA5, 64);
  }
  unsigned char *big = gc_calloc(1000, 1000);
  CHECK_OR_RETURN(big != NULL);
  CHECK(all_zero(big, 1000000));

  errno = 0;
  CHECK(gc_calloc(opaque(SIZE_MAX / 2 + 1), 3) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(gc_calloc(3, opaque(SIZE_MAX / 2 + 1)) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(gc_calloc(opaque(SIZE_MAX), opaque(SIZE_MAX)) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(gc_calloc(opaque((size_t)1 << 32), opaque((size_t)1 << 32)) == NULL);
  CHECK_EQ(errno, ENOMEM);
  /* Still works. */
  unsigned char *p = gc_calloc(4, 4);
  CHECK(p != NULL && all_zero(p, 16));
}

/* ---- impossible sizes ---------------------------------------------------- */

TEST(alloc_impossible_sizes) {
  size_t sizes[] = {SIZE_MAX, SIZE_MAX - 100, SIZE_MAX - 8192, SIZE_MAX / 2, (size_t)1 << 50};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    errno = 0;
    void *p = gc_alloc(opaque(sizes[i]));
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    p = gc_alloc_noscan(opaque(sizes[i]));
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
  }
  /* realloc failure leaves the old object intact. */
  unsigned char *keep = gc_alloc(300);
  CHECK_OR_RETURN(keep != NULL);
  fill(keep, 300, 3);
  errno = 0;
  CHECK(gc_realloc(keep, opaque(SIZE_MAX - 100)) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK(gc_base(keep) == keep);
  CHECK(verify(keep, 300, 3));
  /* The heap still works. */
  for (int i = 0; i < 100; i++) {
    unsigned char *p = gc_alloc(100 + (size_t)i * 37);
    CHECK_OR_RETURN(p != NULL);
    CHECK(all_zero(p, 100 + (size_t)i * 37));
  }
  unsigned char *l = gc_alloc(2 * MiB);
  CHECK(l != NULL && all_zero(l, 2 * MiB));
  gc_collect();
  CHECK(verify(keep, 300, 3));
}

/* ---- gc_realloc ---------------------------------------------------------- */

TEST(realloc_semantics) {
  /* NULL -> alloc. */
  unsigned char *p = gc_realloc(NULL, 100);
  CHECK_OR_RETURN(p != NULL);
  CHECK(gc_usable_size(p) >= 100);
  CHECK(all_zero(p, 100));
  CHECK(gc_base(p) == p);

  struct { size_t from, to; } steps[] = {
      {100, 500},        /* small -> small, grow */
      {500, 20},         /* small -> small, shrink */
      {20, 24},          /* within the slot */
      {24, 100000},      /* small -> large */
      {100000, 3 * MiB}, /* large -> large */
      {3 * MiB, 50},     /* large -> small */
      {50, 32768},       /* small -> largest small */
      {32768, 32769},    /* -> large */
      {32769, 1},
  };
  for (int kind = 0; kind < 2; kind++) {
    unsigned char *q = kind ? gc_alloc_noscan(steps[0].from) : gc_alloc(steps[0].from);
    CHECK_OR_RETURN(q != NULL);
    fill_rel(q, steps[0].from, 9);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
      size_t keep = steps[i].from < steps[i].to ? steps[i].from : steps[i].to;
      unsigned char *r = gc_realloc(q, steps[i].to);
      CHECK_OR_RETURN(r != NULL);
      CHECK(gc_base(r) == r);
      CHECK(gc_usable_size(r) >= steps[i].to);
      CHECK(((uintptr_t)r & 7) == 0);
      if (!verify_rel(r, keep, 9))
        fprintf(stderr, "  kind %d: realloc %zu -> %zu lost contents\n", kind, steps[i].from,
                steps[i].to);
      CHECK(verify_rel(r, keep, 9));
      fill_rel(r, steps[i].to, 9);
      q = r;
      gc_collect();
      CHECK(verify_rel(q, steps[i].to, 9));
    }
  }
  /* realloc(p, 0) frees and returns NULL. */
  unsigned char *z = gc_alloc(64);
  CHECK_OR_RETURN(z != NULL);
  CHECK(gc_realloc(z, 0) == NULL);
  unsigned char *zl = gc_alloc(MiB);
  CHECK_OR_RETURN(zl != NULL);
  CHECK(gc_realloc(zl, 0) == NULL);
  /* Large realloc'd away: the old large span is gone or reused; the heap
   * works. */
  unsigned char *w = gc_alloc(1000);
  CHECK(w != NULL && all_zero(w, 1000));
}

/* A scanned object stays scanned through realloc: the only pointer to a
 * fresh object is stored in the reallocated block and must keep it alive. */
struct holder { void *slot[8]; };

__attribute__((noinline)) static struct holder *make_scanned_holder(void) {
  void *h = gc_alloc(64);
  fill_rel(h, 64, 1);
  struct holder *r = gc_realloc(h, 6000); /* different class: a new object */
  if (!r) return NULL;
  memset(r, 0, sizeof *r);
  for (int i = 0; i < 8; i++) {
    unsigned char *child = gc_alloc(48);
    if (!child) return NULL;
    fill(child, 48, 77u + (unsigned)i);
    r->slot[i] = child;
  }
  return r;
}

TEST(realloc_keeps_scanned_kind) {
  struct holder *h = make_scanned_holder();
  CHECK_OR_RETURN(h != NULL);
  clear_stack();
  for (int round = 0; round < 3; round++) {
    gc_collect();
    churn(4 * MiB, 48, 10u + (unsigned)round);
  }
  gc_collect();
  int bad = 0;
  for (int i = 0; i < 8; i++)
    if (gc_base(h->slot[i]) != h->slot[i] || !verify(h->slot[i], 48, 77u + (unsigned)i)) bad++;
  CHECK_EQ(bad, 0);
  /* Grow again (large) and keep verifying. */
  h = gc_realloc(h, 100000);
  CHECK_OR_RETURN(h != NULL);
  clear_stack();
  gc_collect();
  churn(4 * MiB, 48, 20);
  gc_collect();
  bad = 0;
  for (int i = 0; i < 8; i++)
    if (!verify(h->slot[i], 48, 77u + (unsigned)i)) bad++;
  CHECK_EQ(bad, 0);
}

TEST(realloc_noscan_contents_and_size) {
  unsigned char *p = gc_alloc_noscan(40);
  CHECK_OR_RETURN(p != NULL);
  fill_rel(p, 40, 4);
  size_t sizes[] = {100, 2000, 40000, 2 * MiB, 33, 16};
  size_t cur = 40;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *r = gc_realloc(p, sizes[i]);
    CHECK_OR_RETURN(r != NULL);
    size_t keep = cur < sizes[i] ? cur : sizes[i];
    CHECK(verify_rel(r, keep, 4));
    CHECK(gc_usable_size(r) >= sizes[i]);
    CHECK(gc_base(r + sizes[i] - 1) == r);
    fill_rel(r, sizes[i], 4);
    p = r;
    cur = sizes[i];
  }
  gc_collect();
  churn(2 * MiB, 200, 5);
  CHECK(verify_rel(p, cur, 4));
}

/* ---- gc_strdup ----------------------------------------------------------- */

TEST(strdup_copies) {
  const char *s = "hello, tricolor";
  char *d = gc_strdup(s);
  CHECK_OR_RETURN(d != NULL);
  CHECK(d != s);
  CHECK(strcmp(d, s) == 0);
  CHECK(gc_base(d) == d);
  CHECK(gc_usable_size(d) >= strlen(s) + 1);
  char *e = gc_strdup("");
  CHECK_OR_RETURN(e != NULL);
  CHECK(e[0] == 0);
  size_t n = 100000;
  char *big = malloc(n + 1);
  CHECK_OR_RETURN(big != NULL);
  for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
  big[n] = 0;
  char *bd = gc_strdup(big);
  CHECK_OR_RETURN(bd != NULL);
  free(big);
  gc_collect();
  churn(2 * MiB, 100, 6);
  CHECK(strlen(bd) == n);
  int bad = 0;
  for (size_t i = 0; i < n; i++)
    if (bd[i] != (char)('a' + i % 26)) bad++;
  CHECK_EQ(bad, 0);
  CHECK(strcmp(d, s) == 0);
}

/* ---- gc_free ------------------------------------------------------------- */

TEST(free_null_small_large) {
  gc_free(NULL);
  unsigned char *keep = gc_alloc(200);
  CHECK_OR_RETURN(keep != NULL);
  fill(keep, 200, 11);

  for (int i = 0; i < 1000; i++) {
    void *p = gc_alloc(16 + (size_t)(i % 64) * 8);
    CHECK_OR_RETURN(p != NULL);
    gc_free(p);
  }
  gc_memstats m0, m1;
  gc_collect();
  /* No cycle may start here: while a mark runs, a freed large object waits
   * for the sweep (tricolor.h, gc_free). */
  int old_percent = gc_set_percent(-1);
  gc_read_memstats(&m0);
  unsigned char *big = gc_alloc(10 * MiB);
  CHECK_OR_RETURN(big != NULL);
  memset(big, 1, 10 * MiB);
  gc_free(big);
  gc_read_memstats(&m1);
  gc_set_percent(old_percent);
  /* Large objects are returned at once. */
  CHECK(m1.heap_alloc <= m0.heap_alloc + MiB);
  CHECK(m1.frees >= m0.frees + 1);

  /* The heap keeps working, slots come back zeroed. */
  for (int i = 0; i < 1000; i++) {
    unsigned char *p = gc_alloc(16 + (size_t)(i % 64) * 8);
    CHECK_OR_RETURN(p != NULL);
    CHECK(all_zero(p, 16 + (size_t)(i % 64) * 8));
  }
  unsigned char *b2 = gc_alloc(10 * MiB);
  CHECK_OR_RETURN(b2 != NULL);
  CHECK(all_zero(b2, 10 * MiB));
  gc_collect();
  CHECK(verify(keep, 200, 11));
}

/* Scanned and noscan spans never share a 2 MiB chunk (gc/pagealloc.h). In
 * a fresh process with collection off the heap only grows: alternating
 * kinds, small and large, every allocation must succeed (a free tail of the
 * heap lying in a chunk of the other kind once made growth fail), and the
 * kinds' separation may cost partial chunks, not a growing share of the
 * heap. */
static int child_grow(void) {
  gc_memstats m0, m1;
  gc_set_percent(-1);
  gc_read_memstats(&m0);
  size_t bytes = 0;
  for (int i = 0; i < 200000; i++) {
    size_t ns = 56 + (size_t)(i * 37 % 192);
    void *a = gc_alloc(56), *b = gc_alloc_noscan(ns);
    if (a == NULL || b == NULL) {
      printf("failed_at %d\n", i);
      return 1;
    }
    bytes += 64 + class_size_for(ns);
    if (i % 512 == 0) {
      void *la = gc_alloc(40 * KiB + (size_t)i % 8192), *lb = gc_alloc_noscan(40 * KiB);
      if (la == NULL || lb == NULL) {
        printf("failed_at %d\n", i);
        return 1;
      }
      bytes += 2 * 48 * KiB;
    }
  }
  gc_read_memstats(&m1);
  printf("bytes %zu\ngrown %llu\n", bytes, (unsigned long long)(m1.heap_sys - m0.heap_sys));
  return 0;
}

TEST(heap_grows_for_both_kinds) {
  CHECK_EQ(run_child("grow", "-", 60000), 0);
  double bytes = val("bytes"), grown = val("grown");
  CHECK(bytes > 0 && grown > 0);
  CHECK(grown <= bytes * 1.25 + 16.0 * MiB);
}

/* ---- gc_collect and gc_set_percent ---------------------------------------- */

TEST(collect_counts_cycles) {
  gc_memstats a, b;
  gc_collect(); /* finish anything in flight */
  for (int i = 0; i < 3; i++) {
    gc_read_memstats(&a);
    gc_collect();
    gc_read_memstats(&b);
    CHECK_EQ(b.num_gc, a.num_gc + 1);
    CHECK_EQ(b.num_forced_gc, a.num_forced_gc + 1);
    CHECK(b.num_gc >= b.num_forced_gc);
  }
}

TEST(set_percent) {
  int old = gc_set_percent(100);
  if (getenv("GCPERCENT") == NULL) CHECK_EQ(old, 100);
  int first = gc_set_percent(-1);
  CHECK_EQ(first, 100);
  CHECK(gc_set_percent(-5) < 0);
  CHECK(gc_set_percent(50) < 0);

  /* Off: allocating lots of garbage starts no cycle. */
  CHECK(gc_set_percent(-1) == 50);
  gc_collect();
  gc_memstats a, b;
  gc_read_memstats(&a);
  churn(64 * MiB, 4000, 30);
  gc_read_memstats(&b);
  CHECK_EQ(b.num_gc, a.num_gc);
  gc_collect();
  gc_read_memstats(&b);
  CHECK_EQ(b.num_gc, a.num_gc + 1);

  /* Back on: automatic cycles happen. */
  CHECK(gc_set_percent(100) < 0);
  gc_read_memstats(&a);
  churn(200 * MiB, 4000, 31);
  gc_read_memstats(&b);
  CHECK(b.num_gc > a.num_gc);
  CHECK(b.num_gc - b.num_forced_gc > a.num_gc - a.num_forced_gc);
  CHECK_EQ(gc_set_percent(100), 100);
}

/* ---- roots --------------------------------------------------------------- */

TEST(add_remove_roots_ranges) {
  void **area = malloc(3 * 64 * sizeof(void *));
  CHECK_OR_RETURN(area != NULL);
  memset(area, 0, 3 * 64 * sizeof(void *));
  gc_add_roots(area, area + 64);
  gc_add_roots(area + 64, area + 128);
  gc_add_roots(area + 128, area + 192);
  gc_add_roots(global_buf, global_buf + sizeof global_buf); /* already a root */
  for (int i = 0; i < 192; i++) {
    area[i] = gc_alloc(96);
    CHECK_OR_RETURN(area[i] != NULL);
    fill(area[i], 96, (unsigned)i);
  }
  gc_collect();
  churn(4 * MiB, 96, 40);
  gc_collect();
  int bad = 0;
  for (int i = 0; i < 192; i++)
    if (!verify(area[i], 96, (unsigned)i)) bad++;
  CHECK_EQ(bad, 0);
  /* Remove the middle one, then the rest with one covering range. */
  gc_remove_roots(area + 64, area + 128);
  gc_collect();
  bad = 0;
  for (int i = 0; i < 64; i++)
    if (!verify(area[i], 96, (unsigned)i)) bad++;
  for (int i = 128; i < 192; i++)
    if (!verify(area[i], 96, (unsigned)i)) bad++;
  CHECK_EQ(bad, 0);
  gc_remove_roots(area, area + 192);
  gc_remove_roots(global_buf, global_buf + sizeof global_buf);
  gc_remove_roots(area, area + 192); /* nothing left: a no-op */
  gc_collect();
  free(area);
  /* The global itself is still scanned as a data segment. */
  void **g = (void **)global_buf;
  g[0] = gc_alloc(64);
  CHECK_OR_RETURN(g[0] != NULL);
  fill(g[0], 64, 99);
  clear_stack();
  gc_collect();
  churn(2 * MiB, 64, 41);
  gc_collect();
  CHECK(verify(g[0], 64, 99));
  g[0] = NULL;
}

/* ---- threads ------------------------------------------------------------- */

static void *register_roundtrip(void *arg) {
  int *res = arg;
  void *p = gc_alloc(10); /* first call registers this thread */
  res[0] = p != NULL;
  res[1] = gc_register_thread();   /* 1: already */
  res[2] = gc_unregister_thread(); /* 0 */
  res[3] = gc_unregister_thread(); /* -1: not registered */
  res[4] = gc_register_thread();   /* 0 */
  res[5] = gc_register_thread();   /* 1 */
  unsigned char *q = gc_alloc(500);
  if (q) fill(q, 500, 5);
  gc_collect();
  churn(MiB, 500, 50);
  res[6] = q && verify(q, 500, 5);
  return NULL;
}

TEST(register_thread) {
  void *p = gc_alloc(8);
  CHECK(p != NULL);
  CHECK_EQ(gc_register_thread(), 1);
  int res[7] = {0};
  pthread_t t;
  int rc = pthread_create(&t, NULL, register_roundtrip, res);
  CHECK_OR_RETURN(rc == 0);
  pthread_join(t, NULL);
  CHECK_EQ(res[0], 1);
  CHECK_EQ(res[1], 1);
  CHECK_EQ(res[2], 0);
  CHECK_EQ(res[3], -1);
  CHECK_EQ(res[4], 0);
  CHECK_EQ(res[5], 1);
  CHECK_EQ(res[6], 1);
  CHECK_EQ(gc_register_thread(), 1);
}

struct targ {
  unsigned magic;
  unsigned char payload[200];
  int seen_registered;
  int ok;
};

static void *thread_main(void *arg) {
  struct targ *a = arg;
  a->seen_registered = gc_register_thread(); /* 1: registered before start */
  a->ok = a->magic == 0xC0FFEEu && verify(a->payload, sizeof a->payload, 8);
  unsigned char *r = gc_alloc(300);
  if (r) fill(r, 300, 12);
  gc_collect();
  return r;
}

__attribute__((noinline)) static struct targ *make_targ(void) {
  struct targ *a = gc_alloc(sizeof *a);
  if (!a) return NULL;
  a->magic = 0xC0FFEEu;
  fill(a->payload, sizeof a->payload, 8);
  return a;
}

TEST(pthread_create_runs_with_arg) {
  for (int i = 0; i < 4; i++) {
    pthread_t t;
    struct targ *a = make_targ();
    CHECK_OR_RETURN(a != NULL);
    int rc = gc_pthread_create(&t, NULL, thread_main, a);
    CHECK_OR_RETURN(rc == 0);
    void *ret = NULL;
    CHECK(pthread_join(t, &ret) == 0);
    CHECK_EQ(a->seen_registered, 1);
    CHECK_EQ(a->ok, 1);
    CHECK(ret != NULL && gc_base(ret) == ret && verify(ret, 300, 12));
  }
}

/* ---- gc_read_memstats ---------------------------------------------------- */

static uint64_t now_unix_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void check_invariants(const gc_memstats *m) {
  CHECK_EQ(m->sys, m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys +
                       m->buck_hash_sys + m->gc_sys + m->other_sys);
  CHECK_EQ(m->heap_sys, m->heap_idle + m->heap_inuse);
  CHECK(m->heap_idle >= m->heap_released);
  CHECK_EQ(m->heap_objects, m->mallocs - m->frees);
  CHECK_EQ(m->alloc, m->heap_alloc);
  CHECK(m->heap_inuse >= m->heap_alloc);
  CHECK(m->total_alloc >= m->heap_alloc);
  CHECK(m->mallocs >= m->frees);
  CHECK_EQ(m->lookups, 0);
  CHECK_EQ(m->stack_inuse, 0);
  CHECK_EQ(m->stack_sys, 0);
  CHECK(m->mspan_inuse <= m->mspan_sys);
  CHECK(m->mcache_inuse <= m->mcache_sys);
  CHECK_EQ(m->enable_gc, 1);
  CHECK_EQ(m->debug_gc, 0);
  CHECK(m->num_gc >= m->num_forced_gc);
  CHECK(m->gc_cpu_fraction >= 0.0 && m->gc_cpu_fraction <= 1.0);
  CHECK(m->heap_alloc > 0);
  CHECK(m->sys > 0);
}

TEST(memstats_invariants) {
  uint64_t t0 = now_unix_ns();
  gc_memstats m;
  gc_read_memstats(&m);
  check_invariants(&m);

  int size_mismatches = 0;
  for (int c = 0; c < 61; c++) {
    if (m.by_size[c].size != go_class_sizes[c] && size_mismatches++ == 0)
      fprintf(stderr, "  by_size[%d].size = %u, expected %u\n", c, m.by_size[c].size,
              go_class_sizes[c]);
  }
  CHECK_EQ(size_mismatches, 0);

  /* Some allocation of assorted kinds, kept and dropped, then collections. */
  void **keep = gc_alloc(1000 * sizeof(void *));
  CHECK_OR_RETURN(keep != NULL);
  for (int i = 0; i < 1000; i++) keep[i] = gc_alloc((size_t)(i * 7) % 3000);
  churn(16 * MiB, 5000, 60);
  void *big = gc_alloc(3 * MiB);
  CHECK(big != NULL);
  gc_collect();
  gc_collect();

  gc_read_memstats(&m);
  uint64_t t1 = now_unix_ns();
  check_invariants(&m);
  CHECK(m.num_gc >= 2);
  CHECK(m.num_forced_gc >= 2);
  uint64_t last = m.pause_ns[(m.num_gc + 255) % 256];
  CHECK(last > 0);
  CHECK(last < 10ull * 1000000000u);
  CHECK(m.pause_total_ns >= last);
  CHECK(m.pause_total_ns >= m.pause_ns[(m.num_gc + 254) % 256] + last);
  CHECK(m.last_gc > t0 - 1000000000ull && m.last_gc <= t1 + 1000000000ull);
  uint64_t pe = m.pause_end[(m.num_gc + 255) % 256];
  CHECK(pe > t0 - 1000000000ull && pe <= t1 + 1000000000ull);
  CHECK(m.next_gc >= ((uint64_t)4 << 20));
  CHECK(m.heap_alloc >= 3 * MiB + 1000 * sizeof(void *));
  CHECK(m.mallocs >= 2000);
  /* Slot sizes of live objects are counted: the big one at least. */
  CHECK(m.heap_inuse >= 3 * MiB);
  CHECK(m.total_alloc >= 16 * MiB);

  /* Per-class counts: 1000 objects of 48 bytes. */
  int c48 = class_index_of(48);
  CHECK_OR_RETURN(c48 == 5);
  gc_memstats a, b;
  gc_collect();
  gc_read_memstats(&a);
  void **objs = gc_alloc(1000 * sizeof(void *));
  CHECK_OR_RETURN(objs != NULL);
  for (int i = 0; i < 1000; i++) {
    objs[i] = gc_alloc(48);
    CHECK_OR_RETURN(objs[i] != NULL);
  }
  gc_collect();
  gc_read_memstats(&b);
  check_invariants(&b);
  CHECK(b.by_size[c48].mallocs >= a.by_size[c48].mallocs + 1000);
  CHECK(b.mallocs >= a.mallocs + 1001);
  CHECK(b.total_alloc >= a.total_alloc + 1000 * 48);
  CHECK(b.heap_objects >= 1000);
  CHECK(b.heap_alloc >= 1000 * 48);
  /* Sum over the reported classes never exceeds the totals. */
  uint64_t sm = 0, sf = 0;
  for (int c = 0; c < 61; c++) {
    sm += b.by_size[c].mallocs;
    sf += b.by_size[c].frees;
    CHECK(b.by_size[c].frees <= b.by_size[c].mallocs);
  }
  CHECK(sm <= b.mallocs);
  CHECK(sf <= b.frees);

  /* Drop them: frees of the class grow once they are swept. */
  for (int i = 0; i < 1000; i++) objs[i] = NULL;
  objs = NULL;
  clear_stack();
  gc_collect();
  gc_collect();
  gc_read_memstats(&a);
  check_invariants(&a);
  CHECK(a.by_size[c48].frees >= b.by_size[c48].frees + 900);
  CHECK(a.frees >= b.frees + 900);
  /* Keep the earlier objects live up to here. */
  CHECK(gc_base(big) == big);
  CHECK(gc_base(keep) == keep);
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    int rc = strcmp(argv[2], "grow") == 0 ? child_grow() : 2;
    fflush(stdout);
    return rc;
  }
  return check_run_all(argc, argv);
}
