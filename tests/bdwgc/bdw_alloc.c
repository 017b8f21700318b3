/*
 * bdw_alloc.c - bdwgc's allocation, roots, heap figures and knobs through
 * libgc.so.1 from tricolor, compiled against bdwgc's own <gc/gc.h>.
 */
#define GC_THREADS
#include "bdw_util.h"

#include <stdint.h>

#define N 2000

/* Pointers hidden from the collector (bdwgc's GC_HIDE_POINTER). */
static GC_hidden_pointer hidden[N];

static __attribute__((noinline)) void make_hidden(int kind) {
  for (int i = 0; i < N; i++) {
    long *p = kind ? GC_MALLOC_UNCOLLECTABLE(64) : GC_MALLOC(64);
    p[0] = i;
    p[7] = i * 3;
    hidden[i] = GC_HIDE_POINTER(p);
  }
}

TEST(malloc_zeroed_and_sized) {
  for (size_t n = 0; n < 70000; n = n * 2 + 1) {
    unsigned char *p = GC_MALLOC(n);
    CHECK(p != NULL);
    for (size_t i = 0; i < n; i++)
      if (p[i] != 0) {
        CHECK(!"GC_malloc memory not zeroed");
        break;
      }
    CHECK(GC_size(p) >= n + 1); /* bdwgc's extra byte */
    CHECK(GC_base(p) == p);
    if (n > 1) CHECK(GC_base(p + n / 2) == p);
    CHECK(GC_base(p + n) == p); /* one past the end still inside */
    CHECK(GC_is_heap_ptr(p));
  }
  CHECK(GC_base(&hidden[0]) == NULL);
  CHECK(!GC_is_heap_ptr(&hidden[0]));
}

TEST(atomic_and_ignore_off_page) {
  char *a = GC_MALLOC_ATOMIC(100);
  CHECK(a != NULL && GC_size(a) >= 101);
  memset(a, 'x', 100);
  void **big = GC_MALLOC_IGNORE_OFF_PAGE(1 << 20);
  CHECK(big != NULL && big[1000] == NULL);
  char *ba = GC_malloc_atomic_ignore_off_page(1 << 20);
  CHECK(ba != NULL);
  big[5] = a;
  bdw_collect(2);
  CHECK(a[99] == 'x');
}

TEST(uncollectable_is_a_root_and_never_freed) {
  make_hidden(1);
  /* The only pointers to these objects are hidden; their contents point
   * at collectable objects that must stay alive too. */
  for (int i = 0; i < N; i++) {
    long *p = GC_REVEAL_POINTER(hidden[i]);
    char *s = GC_MALLOC_ATOMIC(16);
    memcpy(s, "uncollectable", 14);
    p[3] = (long)s;
  }
  bdw_collect(3);
  for (int i = 0; i < N; i++) {
    long *p = GC_REVEAL_POINTER(hidden[i]);
    CHECK_EQ(p[0], (long)i);
    CHECK_EQ(p[7], (long)i * 3);
    CHECK(strcmp((char *)p[3], "uncollectable") == 0);
  }
  /* realloc keeps the kind. */
  long *p = GC_REVEAL_POINTER(hidden[0]);
  long *q = GC_REALLOC(p, 4096);
  CHECK(q != NULL && q[7] == 0 && q[3] != 0);
  hidden[0] = GC_HIDE_POINTER(q);
  p = q = NULL;
  bdw_collect(2);
  q = GC_REVEAL_POINTER(hidden[0]);
  CHECK(strcmp((char *)q[3], "uncollectable") == 0);
  for (int i = 0; i < N; i++) GC_FREE(GC_REVEAL_POINTER(hidden[i]));
}

static __attribute__((noinline)) void link_many(void **store, int n) {
  for (int i = 0; i < n; i++) {
    void *o = GC_MALLOC(32);
    store[i] = (void *)GC_HIDE_POINTER(o);
    CHECK_EQ(GC_general_register_disappearing_link(&store[i], o), GC_SUCCESS);
  }
}

static int count_cleared(void **store, int n) {
  int c = 0;
  for (int i = 0; i < n; i++) c += store[i] == NULL;
  return c;
}

TEST(collectable_objects_die) {
  void **store = GC_MALLOC_ATOMIC(N * sizeof(void *));
  link_many(store, N);
  bdw_collect(2);
  CHECK(count_cleared(store, N) >= N * 9 / 10);
}

TEST(add_and_remove_roots) {
  /* malloc memory is not scanned unless added. */
  void **area = malloc(N * sizeof(void *));
  void **links = GC_MALLOC_ATOMIC(N * sizeof(void *));
  for (int i = 0; i < N; i++) {
    area[i] = GC_MALLOC(48);
    links[i] = (void *)GC_HIDE_POINTER(area[i]);
    GC_general_register_disappearing_link(&links[i], area[i]);
  }
  GC_add_roots(area, area + N);
  bdw_collect(2);
  CHECK_EQ(count_cleared(links, N), 0);
  GC_remove_roots(area, area + N);
  bdw_collect(2);
  CHECK(count_cleared(links, N) >= N * 9 / 10);
  free(area);
}

TEST(realloc_free_strdup) {
  char *p = GC_MALLOC(10);
  strcpy(p, "abcdefghi");
  p = GC_REALLOC(p, 100000);
  CHECK(p && strcmp(p, "abcdefghi") == 0 && GC_size(p) >= 100001);
  p = GC_REALLOC(p, 5);
  CHECK(p && memcmp(p, "abcde", 5) == 0);
  CHECK(GC_REALLOC(p, 0) == NULL);
  char *r = GC_REALLOC(NULL, 33);
  CHECK(r != NULL && r[32] == 0);
  GC_FREE(r);
  GC_FREE(NULL);
  char *s = GC_STRDUP("hello, world");
  CHECK(s && strcmp(s, "hello, world") == 0);
  char *t = GC_STRNDUP("hello, world", 5);
  CHECK(t && strcmp(t, "hello") == 0);
  CHECK(GC_STRDUP(NULL) == NULL);
  GC_FREE(s);
  GC_FREE(t);
}

TEST(heap_figures) {
  /* Something stays live: with nothing live, every free page may be
   * unmapped and the heap size (which excludes unmapped bytes) be 0. */
  static void *volatile keep;
  keep = GC_MALLOC(1 << 20);
  CHECK(keep != NULL);
  GC_word before_no = GC_get_gc_no();
  size_t total0 = GC_get_total_bytes();
  for (int i = 0; i < 1000; i++) (void)GC_MALLOC(1000);
  CHECK(GC_get_total_bytes() >= total0 + 1000 * 1000);
  GC_gcollect();
  CHECK(GC_get_gc_no() > before_no);
  GC_gcollect_and_unmap();
  size_t heap = GC_get_heap_size();
  CHECK(heap > 0);
  CHECK(GC_get_free_bytes() <= heap);
  GC_word hs, fb, ub, bs, tb;
  GC_get_heap_usage_safe(&hs, &fb, &ub, &bs, &tb);
  CHECK(hs > 0 && fb <= hs && tb >= total0);
  CHECK(GC_get_unmapped_bytes() > 0); /* the free pages went back to the OS */
  keep = NULL;
}

TEST(disable_enable) {
  GC_disable();
  CHECK(GC_is_disabled());
  GC_word no = GC_get_gc_no();
  GC_gcollect();
  for (int i = 0; i < 20000; i++) (void)GC_MALLOC(1000); /* 20 MB: no cycle */
  CHECK_EQ(GC_get_gc_no(), no);
  GC_enable();
  CHECK(!GC_is_disabled());
  GC_gcollect();
  CHECK(GC_get_gc_no() > no);
  /* The exported counter works the same way. */
  GC_dont_gc = 1;
  no = GC_get_gc_no();
  GC_gcollect();
  CHECK_EQ(GC_get_gc_no(), no);
  GC_dont_gc = 0;
}

static char *last_warning;
static void my_warn(char *msg, GC_word arg) {
  (void)arg;
  last_warning = msg;
}

/* GC_malloc is declared with the malloc attribute, so the compiler may
 * assume its result equals no existing object: compare laundered values. */
static uintptr_t launder(const void *p) {
  uintptr_t v = (uintptr_t)p;
  __asm__("" : "+r"(v));
  return v;
}

static int oom_calls;
static char oom_buf[64];
static void *my_oom(size_t n) {
  (void)n;
  oom_calls++;
  return oom_buf;
}

TEST(knobs) {
  GC_warn_proc old = GC_get_warn_proc();
  GC_set_warn_proc(my_warn);
  CHECK(GC_get_warn_proc() == my_warn);
  GC_set_warn_proc(old);
  CHECK(last_warning == NULL);
  GC_set_free_space_divisor(4);
  CHECK_EQ(GC_get_free_space_divisor(), (GC_word)4);
  GC_set_free_space_divisor(1);
  GC_enable_incremental();
  GC_set_all_interior_pointers(1);
  CHECK_EQ(GC_get_all_interior_pointers(), 1);
  GC_start_mark_threads();
  CHECK(GC_expand_hp(1 << 20));
  void **o = GC_MALLOC(2 * sizeof(void *));
  GC_end_stubborn_change(o);
  void *v = GC_MALLOC(8);
  GC_ptr_store_and_dirty(&o[1], v);
  CHECK(o[1] == v);
  CHECK(GC_all_interior_pointers == 1);
  (void)GC_no_dls;
  (void)GC_java_finalization;
}

static void *default_oom(size_t n) {
  (void)n;
  return NULL;
}

static void **volatile keep; /* a global: scanned */

static __attribute__((noinline)) int fill_list(void) {
  int got = 0;
  for (int i = 0; i < 1024 && oom_calls == 0; i++) {
    void **b = GC_MALLOC(1 << 20);
    if (launder(b) == launder(oom_buf)) break;
    CHECK(b != NULL);
    b[0] = keep;
    keep = b;
    got++;
  }
  return got;
}

/* Last: it fills the heap up to a cap. */
TEST(zz_max_heap_size_calls_oom_fn) {
  GC_set_oom_fn(my_oom);
  CHECK(GC_get_oom_fn() == my_oom);
  GC_set_max_heap_size((GC_word)256 << 20);
  /* Keep everything: a list of 1 MiB blocks, until the cap refuses. */
  int got = fill_list();
  CHECK_EQ(oom_calls, 1);
  CHECK(got >= 150 && got <= 256);
  CHECK(launder(GC_MALLOC_ATOMIC(64 << 20)) == launder(oom_buf));
  keep = NULL;
  bdw_collect(1);
  CHECK(launder(GC_MALLOC(1 << 20)) != launder(oom_buf)); /* room again */
  GC_set_max_heap_size(0);
  GC_set_oom_fn(GC_get_oom_fn() == my_oom ? default_oom : my_oom);
}

BDW_MAIN()
