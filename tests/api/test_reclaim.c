/*
 * test_reclaim.c - dropped memory comes back, reachable memory stays.
 *
 * The reclaim half measures heap_alloc / heap_sys through gc_read_memstats
 * around objects that were allocated and dropped in separate noinline
 * functions, with the dead stack overwritten before measuring: a conservative
 * collector keeps whatever a stale stack slot or register still points at,
 * and the tests must not depend on the compiler's luck.
 *
 * The retention half fills live objects (reachable from globals, static TLS,
 * gc_add_roots ranges, interior pointers, deep lists and large scanned
 * objects) with checksummed patterns and verifies them after cycles and
 * after allocating enough garbage of the same sizes that freed slots would
 * have been reused and overwritten.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)


static gc_memstats stats(void) {
  gc_memstats m;
  gc_read_memstats(&m);
  return m;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &v) == 1) break;
  fclose(f);
  return v;
}

/* ---- a checksummed live set that the churn keeps mutating ---------------- */

struct node {
  struct node *next;
  uint64_t value;
  uint64_t check;
  unsigned char payload[40];
};

static uint64_t node_check(const struct node *n) {
  uint64_t h = n->value * 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < sizeof n->payload; i++) h = (h ^ n->payload[i]) * 0x100000001B3ull;
  return h;
}
static struct node *new_node(uint64_t value, struct node *next) {
  struct node *n = gc_alloc(sizeof *n);
  if (!n) return NULL;
  n->next = next;
  n->value = value;
  for (size_t i = 0; i < sizeof n->payload; i++) n->payload[i] = (unsigned char)(value * 3 + i);
  n->check = node_check(n);
  return n;
}
static int node_ok(const struct node *n, uint64_t value) {
  if (!n || n->value != value || n->check != node_check(n)) return 0;
  for (size_t i = 0; i < sizeof n->payload; i++)
    if (n->payload[i] != (unsigned char)(value * 3 + i)) return 0;
  return 1;
}

#define NLIVE 1000
static struct node **live; /* a gc_alloc'd array, reachable from this global */

/* ---- 2000 MiB of garbage in a bounded heap --------------------------------- */

__attribute__((noinline)) static int churn_round(unsigned *x, size_t *bytes, int iter) {
  size_t n = MiB;
  unsigned char *big = (iter & 1) ? gc_alloc_noscan(n) : gc_alloc(n);
  if (!big) return 0;
  for (size_t off = 0; off < n; off += 4096) big[off] = (unsigned char)off;
  *bytes += n;
  for (int k = 0; k < 200; k++) {
    *x = *x * 1103515245u + 12345u;
    size_t s = 16 + (*x >> 8) % 4080;
    unsigned char *p = (k & 3) ? gc_alloc(s) : gc_alloc_noscan(s);
    if (!p) return 0;
    p[0] = 1;
    p[s - 1] = 2;
    *bytes += s;
  }
  /* Mutate the live set while cycles may be marking concurrently. */
  for (int k = 0; k < 4; k++) {
    *x = *x * 1103515245u + 12345u;
    unsigned i = (*x >> 8) % NLIVE;
    uint64_t v = ((uint64_t)iter << 16) | i;
    struct node *nn = new_node(v, NULL);
    if (!nn) return 0;
    nn->next = new_node(v + 1, NULL);
    if (!nn->next) return 0;
    live[i] = nn;
  }
  return 1;
}

static int live_ok(void) {
  int bad = 0;
  for (unsigned i = 0; i < NLIVE; i++) {
    struct node *n = live[i];
    if (!n || (n->value & 0xffff) != i || !node_ok(n, n->value) || !node_ok(n->next, n->value + 1))
      bad++;
  }
  return bad;
}

TEST(garbage_is_reclaimed_heap_bounded) {
  live = gc_alloc(NLIVE * sizeof *live);
  CHECK_OR_RETURN(live != NULL);
  for (unsigned i = 0; i < NLIVE; i++) {
    live[i] = new_node(i, new_node(i + 1, NULL));
    CHECK_OR_RETURN(live[i] && live[i]->next);
  }
  gc_memstats m0 = stats();
  uint64_t max_sys = 0, max_inuse = 0, max_retained = 0;
  size_t bytes = 0;
  unsigned x = 99;
  int iter = 0;
  /* At least 2000 MiB and at least 1000 automatic cycles of churn. */
  unsigned auto_cycles = 0;
  while (bytes < 2000 * MiB || auto_cycles < 1000) {
    int ok = churn_round(&x, &bytes, iter);
    CHECK_OR_RETURN(ok);
    if (iter % 8 == 0) {
      gc_memstats m = stats();
      if (m.heap_sys > max_sys) max_sys = m.heap_sys;
      if (m.heap_inuse > max_inuse) max_inuse = m.heap_inuse;
      if (m.heap_sys - m.heap_released > max_retained) max_retained = m.heap_sys - m.heap_released;
    }
    if (iter % 64 == 0) {
      CHECK_EQ(live_ok(), 0);
      gc_memstats m = stats();
      auto_cycles = (m.num_gc - m.num_forced_gc) - (m0.num_gc - m0.num_forced_gc);
    }
    iter++;
  }
  gc_memstats m1 = stats();
  fprintf(stderr, "  %d rounds, %u cycles, max heap_sys %.1f MiB, heap_inuse %.1f MiB, "
          "retained %.1f MiB, rss %ld KiB\n",
          iter, m1.num_gc - m0.num_gc, max_sys / 1048576.0, max_inuse / 1048576.0,
          max_retained / 1048576.0, rss_kib());
  CHECK(m1.num_gc - m0.num_gc >= 10);
  CHECK(m1.num_gc - m1.num_forced_gc >= m0.num_gc - m0.num_forced_gc + 1000);
  CHECK(max_inuse < 64 * MiB);
  CHECK(max_retained < 64 * MiB);
  CHECK(max_sys < 128 * MiB);
  CHECK(m1.total_alloc - m0.total_alloc >= 2000 * MiB);
  CHECK(m1.frees - m0.frees > 100000);
  long rss = rss_kib();
  CHECK(rss > 0 && rss < 256 * 1024);
  gc_collect();
  CHECK_EQ(live_ok(), 0);
  live = NULL;
}

/* ---- one 64 MiB object --------------------------------------------------- */

static gc_memstats mid;

__attribute__((noinline)) static void alloc_and_drop_big(size_t n, int noscan) {
  unsigned char *p = noscan ? gc_alloc_noscan(n) : gc_alloc(n);
  if (!p) return;
  for (size_t off = 0; off < n; off += 4096) p[off] = 1;
  gc_read_memstats(&mid);
  __asm__ volatile("" ::"r"(p) : "memory");
}

TEST(big_object_reclaimed) {
  for (int noscan = 0; noscan < 2; noscan++) {
    gc_collect();
    gc_memstats m0 = stats();
    alloc_and_drop_big(64 * MiB, noscan);
    clear_stack();
    gc_collect();
    gc_memstats m1 = stats();
    fprintf(stderr, "  heap_alloc before %.1f, with %.1f, after %.1f MiB\n",
            m0.heap_alloc / 1048576.0, mid.heap_alloc / 1048576.0, m1.heap_alloc / 1048576.0);
    CHECK(mid.heap_alloc >= m0.heap_alloc + 64 * MiB);
    CHECK(mid.heap_inuse >= 64 * MiB);
    CHECK(m1.heap_alloc + 60 * MiB <= mid.heap_alloc);
    CHECK(m1.heap_inuse + 60 * MiB <= mid.heap_inuse);
    CHECK(m1.frees > mid.frees);
  }
}

/* ---- many small objects whose only pointers are in unscanned memory ------ */

__attribute__((noinline)) static void alloc_hidden_small(void **hide, int count) {
  for (int i = 0; i < count; i++) {
    hide[i] = gc_alloc(64);
    if (hide[i]) memset(hide[i], 0x11, 64);
  }
}

TEST(small_objects_reclaimed) {
  enum { COUNT = 100000 };
  /* libc memory is not scanned: these pointers keep nothing alive. */
  void **hide = malloc(COUNT * sizeof(void *));
  CHECK_OR_RETURN(hide != NULL);
  /* No automatic cycle may reclaim them while they are being allocated. */
  int old_percent = gc_set_percent(-1);
  gc_collect();
  gc_memstats m0 = stats();
  alloc_hidden_small(hide, COUNT);
  gc_memstats m1 = stats();
  clear_stack();
  gc_collect();
  gc_memstats m2 = stats();
  gc_set_percent(old_percent);
  fprintf(stderr, "  heap_alloc %.2f -> %.2f -> %.2f MiB, frees +%" PRIu64 "\n",
          m0.heap_alloc / 1048576.0, m1.heap_alloc / 1048576.0, m2.heap_alloc / 1048576.0,
          m2.frees - m1.frees);
  CHECK(m1.heap_alloc >= m0.heap_alloc + COUNT * 64 * 9 / 10);
  CHECK(m2.heap_alloc + COUNT * 64 * 9 / 10 <= m1.heap_alloc);
  CHECK(m2.frees >= m1.frees + COUNT * 9 / 10);
  free(hide);
}

/* ---- gc_add_roots / gc_remove_roots ---------------------------------------- */

#define NROOTED 16
#define ROOTED_SIZE MiB

/* Each rooted object is 1 MiB with a child pointer at its end; one root is
 * stored as an interior pointer. Half go in range A, half in range B. */
__attribute__((noinline)) static int make_rooted(void **a, void **b) {
  for (int i = 0; i < NROOTED; i++) {
    unsigned char *o = gc_alloc(ROOTED_SIZE);
    unsigned char *child = gc_alloc(200);
    if (!o || !child) return 0;
    fill(o, ROOTED_SIZE - 64, (unsigned)i);
    fill(child, 200, 1000u + (unsigned)i);
    *(void **)(o + ROOTED_SIZE - 64) = child;
    void **slot = i < NROOTED / 2 ? &a[i] : &b[i - NROOTED / 2];
    *slot = (i == 3 || i == 12) ? (void *)(o + ROOTED_SIZE / 2 + 5) : (void *)o;
  }
  return 1;
}

static int rooted_ok(void **a, void **b, int from, int to) {
  int bad = 0;
  for (int i = from; i < to; i++) {
    void *r = i < NROOTED / 2 ? a[i] : b[i - NROOTED / 2];
    unsigned char *o = (i == 3 || i == 12) ? (unsigned char *)r - ROOTED_SIZE / 2 - 5 : r;
    if (gc_base(r) != o || !verify(o, ROOTED_SIZE - 64, (unsigned)i)) {
      bad++;
      continue;
    }
    unsigned char *child = *(void **)(o + ROOTED_SIZE - 64);
    if (gc_base(child) != child || !verify(child, 200, 1000u + (unsigned)i)) bad++;
  }
  return bad;
}

TEST(add_roots_keep_alive_remove_roots_release) {
  /* Two ranges inside one libc block, with unscanned slack around them. */
  void **block = malloc(64 * sizeof(void *));
  CHECK_OR_RETURN(block != NULL);
  memset(block, 0, 64 * sizeof(void *));
  void **a = block + 4, **b = block + 40;
  gc_add_roots(a, a + NROOTED / 2);
  gc_add_roots(b, b + NROOTED / 2);
  int made = make_rooted(a, b);
  CHECK_OR_RETURN(made);
  clear_stack();
  for (int round = 0; round < 4; round++) {
    gc_collect();
    churn(8 * MiB, 300, 70u + (unsigned)round);
    /* Large garbage would reuse the big objects' pages if they were freed. */
    for (int k = 0; k < 20; k++) {
      unsigned char *g = gc_alloc(ROOTED_SIZE);
      CHECK_OR_RETURN(g != NULL);
      memset(g, 0x77, ROOTED_SIZE);
    }
  }
  gc_collect();
  CHECK_EQ(rooted_ok(a, b, 0, NROOTED), 0);

  /* Stop scanning range A: its objects become reclaimable; B's stay. */
  clear_stack();
  gc_collect();
  gc_memstats m0 = stats();
  gc_remove_roots(a, a + NROOTED / 2);
  clear_stack();
  gc_collect();
  gc_memstats m1 = stats();
  fprintf(stderr, "  heap_alloc %.1f -> %.1f MiB after removing range A\n",
          m0.heap_alloc / 1048576.0, m1.heap_alloc / 1048576.0);
  CHECK(m1.heap_alloc + (NROOTED / 2 - 2) * ROOTED_SIZE <= m0.heap_alloc);
  churn(4 * MiB, 300, 80);
  gc_collect();
  CHECK_EQ(rooted_ok(a, b, NROOTED / 2, NROOTED), 0);

  /* And B with a covering range. */
  gc_remove_roots(block, block + 64);
  clear_stack();
  gc_collect();
  gc_memstats m2 = stats();
  CHECK(m2.heap_alloc + (NROOTED / 2 - 2) * ROOTED_SIZE <= m1.heap_alloc);
  free(block);
}

/* ---- globals, static TLS, interior pointers, deep lists, big objects ------ */

static struct node *global_list;
static void *global_interior;
static __thread void *tls_ptr;
static void **global_big; /* a large scanned object holding pointers */
#define DEEP 200000
#define BIG_SLOTS (4 * MiB / sizeof(void *))

__attribute__((noinline)) static int build_roots(void) {
  struct node *head = NULL;
  for (uint64_t i = 0; i < DEEP; i++) {
    head = new_node(i, head);
    if (!head) return 0;
  }
  global_list = head;
  unsigned char *o = gc_alloc(5000);
  if (!o) return 0;
  fill(o, 5000, 5);
  global_interior = o + 4999; /* the last byte */
  unsigned char *t = gc_alloc(100);
  if (!t) return 0;
  fill(t, 100, 6);
  tls_ptr = t;
  global_big = gc_alloc(4 * MiB);
  if (!global_big) return 0;
  /* Children referenced only from far into the big object. */
  for (size_t i = 0; i < BIG_SLOTS; i += 4099) {
    unsigned char *c = gc_alloc(72);
    if (!c) return 0;
    fill(c, 72, (unsigned)i);
    global_big[i] = c;
  }
  return 1;
}

static int roots_bad(void) {
  int bad = 0;
  uint64_t i = DEEP;
  for (struct node *n = global_list; n; n = n->next) {
    i--;
    if (!node_ok(n, i)) {
      bad++;
      break;
    }
  }
  if (i != 0) bad++;
  unsigned char *o = (unsigned char *)global_interior - 4999;
  if (gc_base(global_interior) != o || !verify(o, 5000, 5)) bad++;
  if (!verify(tls_ptr, 100, 6)) bad++;
  for (size_t k = 0; k < BIG_SLOTS; k += 4099)
    if (!verify(global_big[k], 72, (unsigned)k)) bad++;
  return bad;
}

TEST(globals_tls_interior_deep_are_roots) {
  int built = build_roots();
  CHECK_OR_RETURN(built);
  clear_stack();
  for (int round = 0; round < 3; round++) {
    gc_collect();
    churn(16 * MiB, sizeof(struct node) + 40, 90u + (unsigned)round);
    churn(2 * MiB, 5000, 95u + (unsigned)round);
  }
  gc_collect();
  CHECK_EQ(roots_bad(), 0);
  /* Dropping the roots frees the deep list (DEEP * 64 bytes). */
  gc_memstats m0 = stats();
  global_list = NULL;
  global_big = NULL;
  clear_stack();
  gc_collect();
  gc_memstats m1 = stats();
  CHECK(m1.heap_alloc + (uint64_t)DEEP * 64 * 9 / 10 + 4 * MiB <= m0.heap_alloc);
  CHECK(verify((unsigned char *)global_interior - 4999, 5000, 5));
  CHECK(verify(tls_ptr, 100, 6));
}

CHECK_MAIN()
