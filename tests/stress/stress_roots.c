/*
 * stress_roots.c - one test per kind of root. Each keeps a checksummed tree
 * (st_tree_build: scanned nodes with noscan blobs, checksums chained up to
 * the root) alive from exactly one place, runs >= 20 collections with
 * garbage in between, then verifies every checksum:
 *   (a) a register of another registered thread, spinning in asm;
 *   (b) a volatile local of another thread blocked on a condition variable;
 *   (c) the stack of a plain pthread that called gc_register_thread and never
 *       allocates;
 *   (d) a global variable;
 *   (e) interior pointers only (p + 17, p + size/2 of a large object, the last
 *       byte of an object), from globals and from a heap object;
 *   (f) a gc_add_roots range in libc malloc memory;
 *   (g) static __thread variables of the main thread and of another thread.
 * Negative tests show the tests can tell live from dead: a 32 MiB object and
 * a 20 MiB list of small nodes are reclaimed once their only reference is
 * dropped, and so is an object referenced only from a range removed with
 * gc_remove_roots.
 *
 * The structures are built in noinline functions that publish them only
 * hidden (xor-masked, see stress_util.h); the root is then written by another
 * noinline function, so the test's own frame holds no copy.
 */
#include <pthread.h>
#include <sched.h>

#include "check.h"
#include "stress_util.h"

#define CYCLES 25
#define TREE_NODES 3000

/* Expected shape of a hidden tree: integers only. */
struct handle {
  uintptr_t hidden;
  uint64_t sum;
  size_t count;
};

static st_rng g_rng = {0x5eed0001};

/* Until a structure sits in the root under test it is kept here, a visible
 * root, because an automatic cycle may start at any allocation (of this
 * thread or, through gc_pthread_create, of a new one). drop_keep() clears it
 * once the root under test holds the structure. */
static void *g_keep[4];

static ST_NOINLINE void drop_keep(void) { memset(g_keep, 0, sizeof g_keep); }

static ST_NOINLINE void make_hidden(struct handle *h, uint64_t seed, int slot) {
  struct st_node *t = st_tree_build(seed, TREE_NODES);
  g_keep[slot] = t;
  h->hidden = st_hide(t);
  h->sum = t->sum;
  h->count = TREE_NODES;
}

static long check_tree(const void *root, const struct handle *h, const char *what) {
  return st_tree_check(root, h->sum, h->count, what);
}

/* >= `cycles` collections with garbage of every size in between. */
static ST_NOINLINE void churn(int cycles) {
  for (int i = 0; i < cycles; i++) {
    st_garbage(&g_rng, 3 << 20, 512 << 10);
    gc_collect();
  }
}

static ST_NOINLINE uint32_t collections_since(uint32_t gc0) { return st_num_gc() - gc0; }

/* ---- Handshake with a holder thread ------------------------------------- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ready, g_release;
static uintptr_t g_chan;      /* hidden pointer handed to a holder thread */
static struct handle g_expect; /* what the holder should find */
static long g_holder_bad;

static void handshake_reset(void) {
  pthread_mutex_lock(&g_mu);
  g_ready = g_release = 0;
  g_holder_bad = -1;
  pthread_mutex_unlock(&g_mu);
}

/* Holder side: say ready, block until released. */
static ST_NOINLINE void holder_ready_and_wait(void) {
  pthread_mutex_lock(&g_mu);
  g_ready = 1;
  pthread_cond_broadcast(&g_cv);
  while (!g_release) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

static void wait_ready(void) {
  pthread_mutex_lock(&g_mu);
  while (!g_ready) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

static void release_holder(void) {
  pthread_mutex_lock(&g_mu);
  g_release = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

/* ---- (a) a register of another thread ------------------------------------ */

#if defined(__x86_64__)
static volatile uintptr_t g_mask = ST_MASK;
static volatile int g_spin_ready, g_spin_release;

static void *spin_thread(void *arg) {
  (void)arg;
  struct st_node *p;
  uintptr_t hidden = g_chan, mask = g_mask;
  /* The pointer exists only in a register from here on. */
  __asm__ volatile("xor %2, %0" : "=r"(p) : "0"(hidden), "r"(mask));
  __asm__ volatile("movl $1, (%2)\n\t"
                   "1: pause\n\t"
                   "cmpl $0, (%1)\n\t"
                   "je 1b"
                   : "+r"(p)
                   : "r"(&g_spin_release), "r"(&g_spin_ready)
                   : "memory", "cc");
  g_holder_bad = check_tree(p, &g_expect, "register root");
  return NULL;
}

TEST(root_register_of_other_thread) {
  uint32_t gc0 = st_num_gc();
  make_hidden(&g_expect, 101, 0);
  g_chan = g_expect.hidden;
  g_spin_ready = g_spin_release = 0;
  g_holder_bad = -1;
  pthread_t t;
  int rc = gc_pthread_create(&t, NULL, spin_thread, NULL);
  CHECK_OR_RETURN(rc == 0);
  while (!__atomic_load_n(&g_spin_ready, __ATOMIC_ACQUIRE)) sched_yield();
  g_chan = 0;
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  __atomic_store_n(&g_spin_release, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  CHECK_EQ(g_holder_bad, 0);
  CHECK(collections_since(gc0) >= CYCLES);
}
#endif

/* ---- (b) a volatile local of another (registered) thread ------------------ */

static ST_NOINLINE long hold_on_stack(void) {
  struct st_node *volatile local = st_unhide(g_chan);
  g_chan = 0;
  holder_ready_and_wait();
  return check_tree(local, &g_expect, "stack root (gc_pthread_create thread)");
}

static void *stack_thread(void *arg) {
  (void)arg;
  g_holder_bad = hold_on_stack();
  return NULL;
}

TEST(root_stack_of_other_thread) {
  uint32_t gc0 = st_num_gc();
  handshake_reset();
  make_hidden(&g_expect, 202, 0);
  g_chan = g_expect.hidden;
  pthread_t t;
  int rc = gc_pthread_create(&t, NULL, stack_thread, NULL);
  CHECK_OR_RETURN(rc == 0);
  wait_ready();
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  release_holder();
  pthread_join(t, NULL);
  CHECK_EQ(g_holder_bad, 0);
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- (c) a plain pthread registered with gc_register_thread --------------- */

static int g_reg_rc, g_unreg_rc;

static void *registered_thread(void *arg) {
  (void)arg;
  g_reg_rc = gc_register_thread();
  g_holder_bad = hold_on_stack(); /* never allocates */
  g_unreg_rc = gc_unregister_thread();
  return NULL;
}

TEST(root_stack_of_gc_register_thread) {
  uint32_t gc0 = st_num_gc();
  handshake_reset();
  make_hidden(&g_expect, 303, 0);
  g_chan = g_expect.hidden;
  g_reg_rc = g_unreg_rc = 99;
  pthread_t t;
  int rc = pthread_create(&t, NULL, registered_thread, NULL);
  CHECK_OR_RETURN(rc == 0);
  wait_ready();
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  release_holder();
  pthread_join(t, NULL);
  CHECK_EQ(g_reg_rc, 0);
  CHECK_EQ(g_unreg_rc, 0);
  CHECK_EQ(g_holder_bad, 0);
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- (d) a global ------------------------------------------------------- */

static struct st_node *g_global_root;

static ST_NOINLINE void global_set(uintptr_t hidden) { g_global_root = st_unhide(hidden); }
static ST_NOINLINE long global_check(const struct handle *h) { return check_tree(g_global_root, h, "global root"); }

TEST(root_global) {
  uint32_t gc0 = st_num_gc();
  struct handle h;
  make_hidden(&h, 404, 0);
  global_set(h.hidden);
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  CHECK_EQ(global_check(&h), 0);
  global_set(st_hide(NULL));
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- (e) interior pointers only ------------------------------------------ */

#define BIG_BLOB (1u << 20)
#define MID_BLOB 5000

static char *g_int_tree;  /* tree root + 17 */
static char *g_int_big;   /* 1 MiB blob + size/2 */
static char *g_int_last;  /* last byte of a 5000-byte blob */
static char *g_int_holder; /* gc_alloc'd holder + 8, holding tree2 root + 40 */

static ST_NOINLINE void blob_make(uintptr_t *hidden, size_t size, uint64_t seed, int slot) {
  uint64_t *w = gc_alloc(size);
  if (!w) abort();
  st_fill_words(w, 0, size / 8, seed);
  g_keep[slot] = w;
  *hidden = st_hide(w);
}

static ST_NOINLINE void interior_set(uintptr_t tree, uintptr_t big, uintptr_t mid, uintptr_t tree2) {
  g_int_tree = (char *)st_unhide(tree) + 17;
  g_int_big = (char *)st_unhide(big) + BIG_BLOB / 2;
  g_int_last = (char *)st_unhide(mid) + MID_BLOB - 1;
  char **holder = gc_alloc(4 * sizeof(char *));
  if (!holder) abort();
  holder[2] = (char *)st_unhide(tree2) + 40;
  g_int_holder = (char *)holder + 8;
}

static ST_NOINLINE long interior_check(const struct handle *h1, const struct handle *h2) {
  long bad = 0;
  struct st_node *t = (struct st_node *)(g_int_tree - 17);
  bad += check_tree(t, h1, "interior root (node + 17)");
  if (gc_base(g_int_tree) != (void *)t) {
    fprintf(stderr, "gc_base(node + 17) = %p, expected %p\n", gc_base(g_int_tree), (void *)t);
    bad++;
  }
  const uint64_t *big = (const uint64_t *)(g_int_big - BIG_BLOB / 2);
  size_t i = st_check_words(big, 0, BIG_BLOB / 8, 0xb16);
  if (i != (size_t)-1) {
    fprintf(stderr, "interior root (large + size/2): word %zu corrupted\n", i);
    bad++;
  }
  if (gc_base(g_int_big) != (void *)big) {
    fprintf(stderr, "gc_base(large + size/2) = %p, expected %p\n", gc_base(g_int_big), (const void *)big);
    bad++;
  }
  const uint64_t *mid = (const uint64_t *)(g_int_last - (MID_BLOB - 1));
  i = st_check_words(mid, 0, MID_BLOB / 8, 0x5000);
  if (i != (size_t)-1) {
    fprintf(stderr, "interior root (last byte): word %zu corrupted\n", i);
    bad++;
  }
  char **holder = (char **)(g_int_holder - 8);
  bad += check_tree(holder[2] - 40, h2, "interior heap pointer (node + 40) in an interior-held object");
  return bad;
}

TEST(root_interior_pointers) {
  uint32_t gc0 = st_num_gc();
  struct handle h1, h2;
  uintptr_t big, mid;
  make_hidden(&h1, 505, 0);
  make_hidden(&h2, 506, 1);
  blob_make(&big, BIG_BLOB, 0xb16, 2);
  blob_make(&mid, MID_BLOB, 0x5000, 3);
  interior_set(h1.hidden, big, mid, h2.hidden);
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  CHECK_EQ(interior_check(&h1, &h2), 0);
  g_int_tree = g_int_big = g_int_last = g_int_holder = NULL;
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- (f) a gc_add_roots range in libc malloc memory ------------------------ */

#define ROOT_WORDS 512
static uintptr_t g_malloc_range; /* hidden, though libc pointers are not heap */

static ST_NOINLINE void malloc_root_set(uintptr_t hidden, size_t slot) {
  void **r = st_unhide(g_malloc_range);
  r[slot] = st_unhide(hidden);
}

static ST_NOINLINE long malloc_root_check(const struct handle *h, size_t slot) {
  void **r = st_unhide(g_malloc_range);
  return check_tree(r[slot], h, "gc_add_roots range in malloc memory");
}

TEST(root_add_roots_range) {
  uint32_t gc0 = st_num_gc();
  void **r = calloc(ROOT_WORDS, sizeof(void *));
  CHECK_OR_RETURN(r != NULL);
  g_malloc_range = st_hide(r);
  gc_add_roots(r, r + ROOT_WORDS);
  struct handle h;
  make_hidden(&h, 606, 0);
  malloc_root_set(h.hidden, 300);
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  CHECK_EQ(malloc_root_check(&h, 300), 0);
  gc_remove_roots(r, r + ROOT_WORDS);
  free(r);
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- (g) static TLS of the main thread and of another thread --------------- */

static __thread struct st_node *tls_root;
static struct handle g_tls_main;

static ST_NOINLINE void tls_take(uintptr_t hidden) { tls_root = st_unhide(hidden); }
static ST_NOINLINE long tls_check(const struct handle *h, const char *what) { return check_tree(tls_root, h, what); }

static void *tls_thread(void *arg) {
  (void)arg;
  tls_take(g_chan);
  g_chan = 0;
  holder_ready_and_wait();
  g_holder_bad = tls_check(&g_expect, "static TLS root of another thread");
  tls_take(st_hide(NULL));
  return NULL;
}

TEST(root_static_tls) {
  uint32_t gc0 = st_num_gc();
  handshake_reset();
  make_hidden(&g_tls_main, 707, 0);
  tls_take(g_tls_main.hidden);
  make_hidden(&g_expect, 708, 1);
  g_chan = g_expect.hidden;
  pthread_t t;
  int rc = gc_pthread_create(&t, NULL, tls_thread, NULL);
  CHECK_OR_RETURN(rc == 0);
  wait_ready();
  drop_keep();
  st_scrub_stack();
  churn(CYCLES);
  CHECK_EQ(tls_check(&g_tls_main, "static TLS root of the main thread"), 0);
  release_holder();
  pthread_join(t, NULL);
  CHECK_EQ(g_holder_bad, 0);
  tls_take(st_hide(NULL));
  CHECK(collections_since(gc0) >= CYCLES);
}

/* ---- Negative tests: dropped objects are reclaimed ---------------------------- */

#define HUGE_SIZE ((size_t)32 << 20)
static void *g_huge;

static ST_NOINLINE void huge_make(void) {
  uint64_t *p = gc_alloc(HUGE_SIZE); /* scanned: the pattern is no pointer */
  if (!p) abort();
  for (size_t i = 0; i < HUGE_SIZE / 8; i += 512) p[i] = st_pat(0x1234, i);
  g_huge = p;
}

static ST_NOINLINE int huge_ok(void) {
  const uint64_t *p = g_huge;
  if (!p) return 0;
  for (size_t i = 0; i < HUGE_SIZE / 8; i += 512)
    if (p[i] != st_pat(0x1234, i)) return 0;
  return 1;
}

static ST_NOINLINE void huge_drop(void) { g_huge = NULL; }

TEST(dead_large_object_is_reclaimed) {
  uint64_t before, live, dead;
  st_scrub_stack();
  gc_collect();
  st_stats(&before, NULL, NULL);
  huge_make();
  st_scrub_stack();
  gc_collect();
  st_garbage(&g_rng, 4 << 20, 64 << 10);
  gc_collect();
  st_stats(&live, NULL, NULL);
  CHECK(huge_ok());
  CHECK(live >= before + HUGE_SIZE);
  huge_drop();
  st_scrub_stack();
  gc_collect();
  st_stats(&dead, NULL, NULL);
  fprintf(stderr, "heap_alloc: %llu before, %llu with the 32 MiB object, %llu after dropping it\n",
          (unsigned long long)before, (unsigned long long)live, (unsigned long long)dead);
  CHECK(dead + HUGE_SIZE <= live);
}

/* 200k small nodes (~20 MiB) on a singly linked list from a global. */
struct small {
  struct small *next;
  uint64_t v[10];
};
#define SMALL_COUNT 200000
static struct small *g_small;

static ST_NOINLINE void small_make(void) {
  struct small *head = NULL;
  for (uint64_t i = 0; i < SMALL_COUNT; i++) {
    struct small *s = gc_alloc(sizeof *s);
    if (!s) abort();
    s->next = head;
    s->v[0] = st_mix(i);
    head = s;
  }
  g_small = head;
}

static ST_NOINLINE int small_ok(void) {
  uint64_t i = SMALL_COUNT;
  for (const struct small *s = g_small; s; s = s->next)
    if (i == 0 || s->v[0] != st_mix(--i)) return 0;
  return i == 0;
}

static ST_NOINLINE void small_drop(void) { g_small = NULL; }

TEST(dead_small_objects_are_reclaimed) {
  uint64_t before, live, dead;
  st_scrub_stack();
  gc_collect();
  st_stats(&before, NULL, NULL);
  small_make();
  st_scrub_stack();
  gc_collect();
  st_stats(&live, NULL, NULL);
  CHECK(small_ok());
  const uint64_t bytes = (uint64_t)SMALL_COUNT * sizeof(struct small);
  CHECK(live >= before + bytes);
  small_drop();
  st_scrub_stack();
  gc_collect();
  st_stats(&dead, NULL, NULL);
  fprintf(stderr, "heap_alloc: %llu before, %llu with %d small nodes, %llu after dropping them\n",
          (unsigned long long)before, (unsigned long long)live, SMALL_COUNT, (unsigned long long)dead);
  CHECK(dead + bytes * 9 / 10 <= live);
}

/* An object referenced only from a range that gc_remove_roots took back. */
#define REMOVED_SIZE ((size_t)16 << 20)

static ST_NOINLINE void removed_make(void **r) {
  uint64_t *p = gc_alloc_noscan(REMOVED_SIZE);
  if (!p) abort();
  memset(p, 0x77, REMOVED_SIZE);
  r[10] = p;
}

static ST_NOINLINE int removed_ok(void **r) {
  const unsigned char *p = r[10];
  return p && p[0] == 0x77 && p[REMOVED_SIZE - 1] == 0x77;
}

TEST(removed_root_range_no_longer_keeps_objects) {
  uint64_t live, dead;
  void **r = calloc(64, sizeof(void *));
  CHECK_OR_RETURN(r != NULL);
  gc_add_roots(r, r + 64);
  removed_make(r);
  st_scrub_stack();
  gc_collect();
  st_garbage(&g_rng, 4 << 20, 64 << 10);
  gc_collect();
  CHECK(removed_ok(r));
  st_stats(&live, NULL, NULL);
  gc_remove_roots(r, r + 64);
  st_scrub_stack();
  gc_collect();
  st_stats(&dead, NULL, NULL);
  fprintf(stderr, "heap_alloc: %llu with the range as a root, %llu after gc_remove_roots\n",
          (unsigned long long)live, (unsigned long long)dead);
  CHECK(dead + REMOVED_SIZE <= live);
  free(r);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_roots", 150); }

CHECK_MAIN()
