/*
 * test_protect.c - which pages GCMODE=concurrent leaves write-protected
 * after a mark (gc/protect.c), observed through the write faults the
 * program takes, and that nothing written to those pages is lost.
 *
 * After a mark the collector lifts the protection of the spans the program
 * will allocate into or was seen writing during the mark, and keeps it on
 * full spans nobody wrote. The program's first write to a kept page costs
 * one fault (counted with getrusage(RUSAGE_THREAD)); a lifted page costs
 * none. Each test fills its own whole spans of 64-byte objects, reachable
 * from a global array only:
 *   - full spans nobody writes: every page faults on the first write after
 *     a cycle, again after the next cycle (written between marks is not
 *     written during one), and the cycles count them as kept;
 *   - spans left with free slots: no fault;
 *   - full spans a thread wrote during the mark: no fault; the writer must
 *     have written every page while the mark ran;
 *   - a thread keeps storing the only pointers to new objects into the
 *     objects of kept spans, before and during marks, over many cycles:
 *     every object keeps its checksum (the test runs with GCCHECKMARK=1,
 *     so a mark that missed one aborts).
 * Without dirty-page tracking the mode is stw and the test says so and
 * passes.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <tricolor.h>

#include "arena.h"
#include "check.h"
#include "cycle.h"
#include "dirty.h"
#include "protect.h"
#include "span.h"

#define OBJ 64
#define NSPANS 64
#define KPAGE 4096

typedef struct obj {
  uint64_t id, check;
  struct obj *ref;
  uint64_t pad[4];
  uint64_t scratch; /* written to take a page's fault; not checked */
} obj_t;
_Static_assert(sizeof(obj_t) == OBJ, "one size class");

#define PER_SPAN ((int)(TC_PAGE_SIZE / OBJ))
/* Room for the slots left free by earlier tests, which fill first. */
#define MAXOBJ (4 * NSPANS * PER_SPAN)

typedef struct group {
  obj_t *o[MAXOBJ];
  uint64_t id[MAXOBJ]; /* o[i]'s id: a slot freed and reused has another */
  int n;
  uintptr_t span[NSPANS]; /* bases of the spans holding only this group */
  int nspans;
} group_t;

static uint64_t next_id = 1;

static uint64_t sum(uint64_t id) { return id * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5a5a5a5a5aull; }

static obj_t *new_obj(void) {
  obj_t *o = gc_alloc(OBJ);
  o->id = next_id++;
  o->check = sum(o->id);
  return o;
}

static int intact(const obj_t *o) { return o->check == sum(o->id); }

/* Allocates until NSPANS spans hold nothing but g's objects (a fresh span
 * hands its slots out in address order). The objects are reachable only
 * from g, a global. */
static void fill(group_t *g) {
  memset(g, 0, sizeof *g);
  uintptr_t cur = 0;
  uint32_t in_cur = 0;
  while (g->nspans < NSPANS && g->n < MAXOBJ) {
    obj_t *o = new_obj();
    g->id[g->n] = o->id;
    g->o[g->n++] = o;
    tc_span_t *s = tc_span_lookup((uintptr_t)o);
    if (s->base != cur) {
      cur = s->base;
      in_cur = (uintptr_t)o == s->base; /* we have its first slot */
    } else if (in_cur) {
      in_cur++;
    }
    if (in_cur == s->nelems) g->span[g->nspans++] = s->base;
  }
  CHECK_EQ(g->nspans, NSPANS);
}

/* Writes the first object of every 4 KiB page of g's spans; returns the
 * faults this thread took doing so. */
static long write_pages(group_t *g) {
  struct rusage a, b;
  getrusage(RUSAGE_THREAD, &a);
  for (int i = 0; i < g->nspans; i++)
    for (uintptr_t p = g->span[i]; p < g->span[i] + TC_PAGE_SIZE; p += KPAGE)
      ((volatile obj_t *)p)->scratch++;
  getrusage(RUSAGE_THREAD, &b);
  return b.ru_minflt - a.ru_minflt;
}

static int pages(const group_t *g) { return g->nspans * (TC_PAGE_SIZE / KPAGE); }

static int all_intact(group_t *g) {
  for (int i = 0; i < g->n; i++)
    if (g->o[i] != NULL && (g->o[i]->id != g->id[i] || !intact(g->o[i]))) return 0;
  return 1;
}

static int tracking(void) {
  gc_free(gc_alloc(16)); /* the collector is initialized by now */
  if (tc_gc.mode == TC_MODE_CONCURRENT && tc_dirty_enabled()) return 1;
  /* Concurrent mode never runs without tracking (it falls back to stw),
   * and no other mode protects or lifts anything. */
  CHECK(tc_gc.mode != TC_MODE_CONCURRENT);
  gc_collect();
  tc_protect_counts_t c;
  tc_protect_read_counts(&c);
  CHECK(c.lifted_pages == 0 && c.kept_pages == 0);
  fprintf(stderr, "  not in concurrent mode: nothing protected, nothing more to check\n");
  return 0;
}

static group_t g_kept, g_partial, g_written, g_moved;

TEST(full_spans_nobody_writes_stay_protected) {
  if (!tracking()) return;
  gc_set_percent(-1);
  fill(&g_kept);
  tc_span_t *s = tc_span_lookup(g_kept.span[0]);
  CHECK(s->npages == 1 && s->nelems == PER_SPAN); /* the layout this test assumes */
  tc_protect_counts_t c0, c1;
  tc_protect_read_counts(&c0);
  gc_collect();
  tc_protect_read_counts(&c1);
  CHECK(c1.kept_pages - c0.kept_pages >= NSPANS);
  CHECK_EQ(write_pages(&g_kept), pages(&g_kept));
  /* Written since, but not while a mark ran: kept again. */
  gc_collect();
  CHECK_EQ(write_pages(&g_kept), pages(&g_kept));
  /* Nothing to fault on until the next cycle. */
  CHECK_EQ(write_pages(&g_kept), 0);
  CHECK(all_intact(&g_kept));
}

TEST(spans_with_free_slots_are_lifted) {
  if (!tracking()) return;
  gc_set_percent(-1);
  fill(&g_partial);
  for (int i = 0; i < g_partial.n; i += 2) g_partial.o[i] = NULL;
  gc_collect();
  CHECK_EQ(write_pages(&g_partial), 0);
  CHECK(all_intact(&g_partial));
}

/* The writer of the next test: once the mark is on, it writes every page
 * of g_written again and again until the mark is over. */
static volatile int writer_go;
static int writer_passes;

static void *writer(void *arg) {
  (void)arg;
  while (writer_go && !tc_gc_marking()) sched_yield();
  int passes = 0;
  while (tc_gc_marking()) {
    for (int i = 0; i < g_written.nspans && tc_gc_marking(); i++) {
      for (uintptr_t p = g_written.span[i]; p < g_written.span[i] + TC_PAGE_SIZE; p += KPAGE)
        ((volatile obj_t *)p)->scratch++;
      if (i == g_written.nspans - 1) passes++;
    }
  }
  writer_passes = passes;
  return NULL;
}

/* Ballast that makes a mark last long enough for the writer. */
static obj_t *ballast;

TEST(spans_written_during_the_mark_are_lifted) {
  if (!tracking()) return;
  gc_set_percent(-1);
  fill(&g_written);
  for (int i = 0; i < 200000; i++) {
    obj_t *o = new_obj();
    o->ref = ballast;
    ballast = o;
  }
  gc_collect(); /* g_written is now kept: full and unwritten */
  CHECK_EQ(write_pages(&g_written), pages(&g_written));
  gc_collect();
  int tries = 0;
  long faults = -1;
  do {
    pthread_t t;
    writer_go = 1;
    writer_passes = 0;
    CHECK(gc_pthread_create(&t, NULL, writer, NULL) == 0);
    gc_collect();
    writer_go = 0;
    pthread_join(t, NULL);
    /* The writer may have written one page after the mark ended (it checks
     * before each write), which only lifts that page. */
    faults = write_pages(&g_written);
  } while (writer_passes == 0 && ++tries < 10);
  CHECK(writer_passes > 0);
  CHECK_EQ(faults, 0);
  CHECK(all_intact(&g_written));
  ballast = NULL;
}

/* The mover of the last test: every object of g_moved holds in ref the
 * only pointer to an object of its own (or NULL), and the mover keeps
 * replacing and moving those with plain stores into the kept pages. */
static volatile int mover_run;
static uint64_t moved_count, moved_xor; /* of the objects held in refs */
static long mover_ops;

static void *mover(void *arg) {
  (void)arg;
  uint64_t r = 88172645463325252ull;
  while (mover_run) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    obj_t *a = g_moved.o[r % (uint64_t)g_moved.n];
    obj_t *b = g_moved.o[(r >> 32) % (uint64_t)g_moved.n];
    if (a->ref != NULL && b->ref == NULL) {
      obj_t *p = a->ref;
      a->ref = NULL;
      for (int k = 0; k < 8; k++) new_obj(); /* the pointer lives in p only */
      if (!intact(p)) {
        fprintf(stderr, "object %" PRIu64 " lost its checksum\n", p->id);
        abort();
      }
      b->ref = p;
    } else {
      obj_t *n = new_obj();
      if (b->ref != NULL) {
        moved_count--;
        moved_xor ^= b->ref->id;
      }
      b->ref = n;
      moved_count++;
      moved_xor ^= n->id;
    }
    mover_ops++;
  }
  return NULL;
}

TEST(kept_pages_lose_no_writes) {
  if (!tracking()) return;
  gc_set_percent(-1);
  fill(&g_moved);
  g_moved.n = g_moved.nspans * PER_SPAN; /* only objects of whole spans */
  for (int i = 0; i < g_moved.nspans; i++)
    for (int k = 0; k < PER_SPAN; k++) {
      obj_t *o = (obj_t *)(g_moved.span[i] + (uintptr_t)k * OBJ);
      g_moved.o[i * PER_SPAN + k] = o;
      g_moved.id[i * PER_SPAN + k] = o->id;
    }
  gc_collect();
  gc_collect(); /* full and unwritten: kept, so the mover's first stores fault */
  pthread_t t;
  mover_run = 1;
  CHECK(gc_pthread_create(&t, NULL, mover, NULL) == 0);
  for (int i = 0; i < 40; i++) {
    gc_collect();
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
  }
  mover_run = 0;
  pthread_join(t, NULL);
  CHECK(mover_ops > 1000);
  gc_collect();
  for (int i = 0; i < 100000; i++) new_obj(); /* reuse whatever was freed */
  gc_collect();
  uint64_t count = 0, x = 0;
  int bad = 0;
  for (int i = 0; i < g_moved.n; i++) {
    obj_t *p = g_moved.o[i]->ref;
    if (p == NULL) continue;
    count++;
    x ^= p->id;
    bad += !intact(p);
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(count, moved_count);
  CHECK(x == moved_xor);
  CHECK(all_intact(&g_moved));
}

/* The allocator of the last test: keeps a ring of checksummed objects
 * (reachable from ring[] only) turning over, so it needs fresh spans right
 * after every mark, while the lifting pass is under way. */
#define RING 4096
static obj_t *ring[RING];
static volatile int alloc_run;
static long alloc_bad;

/* ring[i] holds an object made for slot i at its own address: a slot freed
 * early and reused for another ring entry carries another id. */
static uint64_t ring_id(unsigned i, const obj_t *o) {
  return (uint64_t)i << 32 | ((uint64_t)(uintptr_t)o >> 4 & 0xffffffffu);
}

static int ring_ok(unsigned i) {
  return ring[i] == NULL || (ring[i]->id == ring_id(i, ring[i]) && intact(ring[i]));
}

static void *allocator(void *arg) {
  (void)arg;
  for (unsigned i = 0; alloc_run; i = (i + 1) % RING) {
    if (!ring_ok(i)) alloc_bad++;
    obj_t *o = gc_alloc(OBJ);
    o->id = ring_id(i, o);
    o->check = sum(o->id);
    ring[i] = o;
  }
  return NULL;
}

TEST(allocating_threads_help_the_lifting) {
  if (!tracking()) return;
  gc_set_percent(-1);
  tc_protect_counts_t c0, c1;
  tc_protect_read_counts(&c0);
  pthread_t t;
  alloc_run = 1;
  CHECK(gc_pthread_create(&t, NULL, allocator, NULL) == 0);
  /* After pause 2 the allocator finds no swept span of its class until the
   * pass has swept one: it takes parts of the pass itself. Whether it gets
   * there before the coordinator depends on the scheduler; over 200 cycles
   * it does, many times over (GCBench: hundreds of parts a run). */
  for (int i = 0; i < 200; i++) {
    gc_collect();
    tc_protect_read_counts(&c1);
    if (i >= 20 && c1.helped_parts > c0.helped_parts) break;
  }
  alloc_run = 0;
  pthread_join(t, NULL);
  tc_protect_read_counts(&c1);
  fprintf(stderr, "  parts taken by the allocating thread: %" PRIu64 "\n",
          c1.helped_parts - c0.helped_parts);
  CHECK(c1.helped_parts > c0.helped_parts);
  CHECK_EQ(alloc_bad, 0);
  for (unsigned i = 0; i < RING; i++) CHECK(ring_ok(i));
}

CHECK_MAIN()
