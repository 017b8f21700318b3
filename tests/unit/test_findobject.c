/*
 * test_findobject.c - pointer resolution (gc/findobject.h) on the live heap.
 *
 * Objects come from the public gc_alloc/gc_alloc_noscan; automatic
 * collection is turned off first so no cycle moves span state under the test.
 * Checks: the first, an interior and the last byte of a slot resolve to the
 * slot's object (tc_object_base and index), for small classes of one and
 * several pages and for large objects; tail waste, never-allocated slots of a
 * fresh span, free pages of the committed heap, addresses below the heap and
 * above the committed heap, stack, global, malloc and code addresses resolve
 * to nothing; tc_span_lookup is NULL outside the heap; gc_base agrees.
 */
#include <tricolor.h>

#include "arena.h"
#include "check.h"
#include "findobject.h"
#include "mheap.h"

static int global_int = 42;
static char global_array[4096];
static char bss_array[4096];

/* Keeps objects where the collector would see them anyway. */
static void *volatile keep[64];
static int nkeep;

static void setup(void) {
  static bool done;
  if (done) return;
  done = true;
  gc_set_percent(-1);
}

static bool resolves_to(uintptr_t addr, uintptr_t base, tc_span_t *span, uint32_t index) {
  tc_object_t o;
  if (!tc_findobject(addr, &o)) return false;
  return o.span == span && o.index == index && tc_object_base(&o) == base;
}

static bool resolves_nowhere(uintptr_t addr) {
  tc_object_t o;
  return !tc_findobject(addr, &o) && gc_base((void *)addr) == NULL;
}

/* Allocates size bytes and checks the three probes of its slot. */
static void check_object(size_t size, bool noscan) {
  char *p = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
  CHECK_OR_RETURN(p != NULL);
  if (nkeep < 64) keep[nkeep++] = p;
  uintptr_t a = (uintptr_t)p;
  tc_object_t o;
  bool found = tc_findobject(a, &o);
  CHECK_OR_RETURN(found);
  tc_span_t *s = o.span;
  CHECK(tc_span_lookup(a) == s);
  CHECK_EQ(s->state, TC_SPAN_INUSE);
  CHECK_EQ(tc_object_base(&o), a);
  CHECK(s->elemsize >= size);
  CHECK_EQ(tc_spanclass_noscan(s->spanclass), noscan);
  CHECK_EQ(s->large, size > TC_MAX_SMALL_SIZE);
  if (size > TC_MAX_SMALL_SIZE) {
    CHECK_EQ(s->base, a);
    CHECK_EQ(s->elemsize, tc_align_up(size, TC_PAGE_SIZE));
    CHECK_EQ(s->npages * TC_PAGE_SIZE, s->elemsize);
  } else {
    CHECK_EQ(s->elemsize, tc_class_to_size[tc_size_to_class(size)]);
  }
  uint32_t index = (uint32_t)((a - s->base) / s->elemsize);
  CHECK_EQ((a - s->base) % s->elemsize, 0);
  CHECK_EQ(o.index, index);
  CHECK(index < s->nelems);
  uintptr_t last = a + s->elemsize - 1;
  CHECK(resolves_to(a, a, s, index));
  CHECK(resolves_to(a + 1, a, s, index));
  CHECK(resolves_to(a + s->elemsize / 2, a, s, index));
  CHECK(resolves_to(a + size - 1, a, s, index));
  CHECK(resolves_to(last, a, s, index));
  /* Every span page maps to the span. */
  for (uintptr_t pg = s->base; pg < s->base + s->npages * TC_PAGE_SIZE; pg += TC_PAGE_SIZE)
    CHECK(tc_span_lookup(pg) == s);
  CHECK(gc_base(p) == p);
  CHECK(gc_base(p + s->elemsize / 2) == p);
  CHECK(gc_base((void *)last) == p);
  CHECK_EQ(gc_usable_size(p), s->elemsize);
  /* The byte after the slot is not this object. */
  tc_object_t o2;
  if (tc_findobject(last + 1, &o2)) CHECK(tc_object_base(&o2) == last + 1);
}

/* A fresh span: its first object is slot 0, nothing after it is allocated. */
static void check_fresh_span(size_t size) {
  char *p = gc_alloc(size);
  CHECK_OR_RETURN(p != NULL);
  if (nkeep < 64) keep[nkeep++] = p;
  tc_object_t o;
  bool found = tc_findobject((uintptr_t)p, &o);
  CHECK_OR_RETURN(found);
  tc_span_t *s = o.span;
  /* The test relies on this being the class's first allocation in the
   * process, so the span is new. */
  CHECK_OR_RETURN(o.index == 0);
  CHECK_OR_RETURN(s->free_index == 1);
  uintptr_t es = s->elemsize;
  uint32_t bad = 0;
  for (uint32_t i = 1; i < s->nelems; i++) {
    uintptr_t slot = s->base + i * es;
    if (!resolves_nowhere(slot)) bad++;
    if (!resolves_nowhere(slot + es / 2)) bad++;
    if (!resolves_nowhere(slot + es - 1)) bad++;
    if (tc_span_lookup(slot) != s) bad++;
  }
  if (bad) fprintf(stderr, "size %zu: %u free-slot probes resolved\n", size, bad);
  CHECK_EQ(bad, 0);
  /* Tail waste after the last slot. */
  uintptr_t end = s->base + s->npages * TC_PAGE_SIZE;
  uintptr_t tail = s->base + (uintptr_t)s->nelems * es;
  uint32_t bad_tail = 0;
  for (uintptr_t a = tail; a < end; a++)
    if (!resolves_nowhere(a)) bad_tail++;
  CHECK_EQ(bad_tail, 0);
  /* The next allocation takes slot 1, which then resolves; slot 2 not. */
  if (s->nelems >= 3) {
    char *q = gc_alloc(size);
    CHECK_OR_RETURN(q != NULL);
    if (nkeep < 64) keep[nkeep++] = q;
    CHECK_EQ((uintptr_t)q, s->base + es);
    CHECK(resolves_to(s->base + es, s->base + es, s, 1));
    CHECK(resolves_to(s->base + 2 * es - 1, s->base + es, s, 1));
    CHECK(resolves_nowhere(s->base + 2 * es));
    CHECK(resolves_nowhere(s->base + 3 * es - 1));
  }
}

TEST(free_slots_and_tail_waste) {
  setup();
  /* The first test in the file, with classes no other test uses, so each
   * allocation here is its class's first and gets a new span: 24 B (8 tail
   * bytes), 176 B (96), 1408 B (2 pages, 896), 6784 B (5 pages, 256),
   * 9472 B (7 pages, 512). */
  CHECK_EQ(tc_class_to_size[tc_size_to_class(176)], 176);
  check_fresh_span(17 + 4); /* 24-byte class */
  check_fresh_span(176);
  check_fresh_span(1300);   /* 1408 */
  check_fresh_span(6700);   /* 6784 */
  check_fresh_span(9000);   /* 9472 */
}

TEST(first_interior_last_byte) {
  setup();
  /* Small classes of one page (8 ... 1024) and of several (3072: 3 pages,
   * 20480: 5 pages, 32768: 4 pages), and large objects. */
  static const size_t sizes[] = {1,     8,     16,    100,    500,    1000,   1025,
                                 3000,  20000, 32768, 32769,  40000,  65536,  100000,
                                 1 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    check_object(sizes[i], false);
    check_object(sizes[i], true);
  }
}

TEST(many_objects_of_one_class) {
  setup();
  /* 300 objects of 48 bytes span two spans; every one resolves from each of
   * its bytes. */
  enum { N = 300, SZ = 48 };
  static char *objs[N];
  for (int i = 0; i < N; i++) {
    objs[i] = gc_alloc(SZ);
    CHECK_OR_RETURN(objs[i] != NULL);
  }
  uint32_t bad = 0;
  for (int i = 0; i < N; i++)
    for (int b = 0; b < SZ; b++)
      if (gc_base(objs[i] + b) != objs[i]) bad++;
  CHECK_EQ(bad, 0);
  /* All distinct slots. */
  for (int i = 1; i < N; i++) CHECK(objs[i] != objs[i - 1]);
  /* The first span is full now (170 slots of 48 bytes): its tail waste
   * (32 bytes) still resolves to nothing, though every slot is allocated. */
  tc_object_t o;
  bool found = tc_findobject((uintptr_t)objs[0], &o);
  CHECK_OR_RETURN(found);
  tc_span_t *s = o.span;
  CHECK_EQ(s->nelems, 170);
  CHECK_EQ(s->free_index, s->nelems);
  uintptr_t tail = s->base + (uintptr_t)s->nelems * s->elemsize;
  CHECK_EQ(s->base + TC_PAGE_SIZE - tail, 32);
  for (uintptr_t a = tail; a < s->base + TC_PAGE_SIZE; a++) CHECK(resolves_nowhere(a));
  CHECK(resolves_to(tail - 1, tail - s->elemsize, s, s->nelems - 1));
}

TEST(outside_the_heap) {
  setup();
  void *p = gc_alloc(64); /* the heap exists */
  CHECK_OR_RETURN(p != NULL);
  uintptr_t lo = tc_arenas.lo;
  uintptr_t committed = tc_atomic_load_acquire(&tc_arenas.committed);
  CHECK(committed > 0);
  CHECK(committed <= tc_arenas.reserved);
  CHECK((uintptr_t)p >= lo && (uintptr_t)p < lo + committed);
  int local = 7;
  char *m = malloc(100);
  CHECK_OR_RETURN(m != NULL);
  const uintptr_t outside[] = {
      0,
      1,
      4096,
      lo - 1,
      lo - 8,
      lo - TC_PAGE_SIZE,
      lo - TC_ARENA_SIZE,
      lo + committed,
      lo + committed + 1,
      lo + committed + TC_PAGE_SIZE,
      lo + committed + TC_ARENA_SIZE,
      lo + tc_arenas.reserved - 1,
      lo + tc_arenas.reserved,
      lo + tc_arenas.reserved + TC_PAGE_SIZE,
      UINTPTR_MAX,
      UINTPTR_MAX - 7,
      (uintptr_t)&local,
      (uintptr_t)&outside,
      (uintptr_t)&global_int,
      (uintptr_t)global_array,
      (uintptr_t)(global_array + sizeof global_array - 1),
      (uintptr_t)bss_array,
      (uintptr_t)&keep,
      (uintptr_t)m,
      (uintptr_t)m + 99,
      (uintptr_t)&check_object,
      (uintptr_t)&gc_alloc,
      (uintptr_t)"a string literal",
  };
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    uintptr_t a = outside[i];
    bool in_heap = a - lo < committed;
    if (in_heap) fprintf(stderr, "probe %zu (%#lx) is inside the heap?\n", i, (unsigned long)a);
    CHECK(!in_heap);
    CHECK(tc_span_lookup(a) == NULL);
    CHECK(resolves_nowhere(a));
  }
  free(m);
  (void)local;
}

TEST(free_pages_inside_committed_heap) {
  setup();
  void *p = gc_alloc(16);
  CHECK_OR_RETURN(p != NULL);
  uintptr_t lo = tc_arenas.lo;
  uintptr_t committed = tc_atomic_load_acquire(&tc_arenas.committed);
  uintptr_t npages = committed >> TC_PAGE_SHIFT;
  /* Pages the page allocator calls free have no span and resolve to
   * nothing; pages with a span agree with the span's range. */
  uint32_t nfree = 0, bad = 0;
  tc_mutex_lock(&tc_mheap.lock);
  for (uintptr_t pg = 0; pg < npages; pg++) {
    uintptr_t a = lo + (pg << TC_PAGE_SHIFT);
    tc_span_t *s = tc_span_lookup(a);
    if (tc_pagealloc_is_free(&tc_mheap.pages, pg, 1)) {
      nfree++;
      if (s != NULL) bad++;
      tc_object_t o;
      if (tc_findobject(a, &o) || tc_findobject(a + TC_PAGE_SIZE / 2, &o) ||
          tc_findobject(a + TC_PAGE_SIZE - 1, &o))
        bad++;
    } else if (s != NULL) {
      if (a < s->base || a >= s->base + s->npages * TC_PAGE_SIZE) bad++;
    }
  }
  tc_mutex_unlock(&tc_mheap.lock);
  CHECK_EQ(bad, 0);
  CHECK(nfree > 0); /* the heap grows 4 MiB at a time; we used far less */
  /* The last committed byte is on a free page. */
  CHECK(resolves_nowhere(lo + committed - 1));
  CHECK(tc_span_lookup(lo + committed - 1) == NULL);
}

TEST(freed_large_object_resolves_nowhere) {
  setup();
  char *p = gc_alloc(200000);
  CHECK_OR_RETURN(p != NULL);
  tc_object_t o;
  bool found = tc_findobject((uintptr_t)p + 100000, &o);
  CHECK_OR_RETURN(found);
  CHECK_EQ(tc_object_base(&o), (uintptr_t)p);
  uintptr_t npages = o.span->npages;
  CHECK_EQ(npages, (200000 + TC_PAGE_SIZE - 1) / TC_PAGE_SIZE);
  gc_free(p);
  for (uintptr_t off = 0; off < npages * TC_PAGE_SIZE; off += TC_PAGE_SIZE / 2) {
    CHECK(tc_span_lookup((uintptr_t)p + off) == NULL);
    CHECK(resolves_nowhere((uintptr_t)p + off));
  }
}

CHECK_MAIN()
