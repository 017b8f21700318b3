/*
 * test_sweep_range.c - the address-ordered sweep that follows the lifting of
 * the page protection after a concurrent-mode mark (gc/sweep.h,
 * tc_sweep_range) and the per-class empty lists it fills (gc/mcentral.h).
 *
 * Spans come from the public gc_alloc with automatic collection off; the
 * test then plays mark termination itself: it sets the mark bits of the
 * objects that "survive" and advances the sweep generation, so every span
 * on the central lists becomes unswept, exactly as after a real mark.
 * Checks: a range sweeps the listed spans that lie in it and nothing past
 * it; survivors end on the swept partial list with their objects kept;
 * spans left without objects wait on the empty list, up to its cap of
 * TC_EMPTY_KEEP_BYTES, and the rest go back to the page heap; a span that
 * runs past the range is left for the next one, whose start is returned; a
 * span an mcache holds is not touched; an allocation takes a swept span
 * before sweeping one itself; tc_mcentral_free_empty frees what is left on
 * the empty lists.
 */
#include <tricolor.h>

#include "arena.h"
#include "check.h"
#include "mcentral.h"
#include "mheap.h"
#include "sweep.h"

#define OBJ_SIZE 48
#define NSPANS 200 /* more empty spans than an empty list keeps */
#define LARGE_SIZE (5 * TC_PAGE_SIZE)

typedef struct {
  tc_span_t *s;
  uintptr_t base;
  bool survivor; /* keeps SURVIVORS marked objects */
} rec_t;

#define SURVIVORS 5

static rec_t spans[NSPANS + 8];
static void *volatile sink;
static int nspans;

static int by_base(const void *a, const void *b) {
  uintptr_t x = ((const rec_t *)a)->base, y = ((const rec_t *)b)->base;
  return x < y ? -1 : x > y;
}

static void mark(tc_span_t *s, uint32_t idx) { s->mark_bits[idx / 64] |= (uint64_t)1 << (idx % 64); }

static bool on_list(tc_span_t *s, tc_spanlist_t *l) {
  for (tc_span_t *x = l->first; x != NULL; x = x->next)
    if (x == s) return true;
  return false;
}

TEST(sweep_range_sweeps_in_order_and_keeps_empty_spans) {
  gc_set_percent(-1);
  /* Fill NSPANS full spans of one class; the span still cached by this
   * thread's mcache is the one holding the last object. */
  tc_span_t *cached = NULL;
  while (nspans < NSPANS) {
    char *p = gc_alloc(OBJ_SIZE);
    CHECK_OR_RETURN(p != NULL);
    tc_span_t *s = tc_span_lookup((uintptr_t)p);
    CHECK_OR_RETURN(s != NULL);
    if (s != cached) {
      if (cached != NULL) spans[nspans++] = (rec_t){cached, cached->base, false};
      cached = s;
    }
  }
  char *big = gc_alloc(LARGE_SIZE);
  CHECK_OR_RETURN(big != NULL);
  tc_span_t *large = tc_span_lookup((uintptr_t)big);
  CHECK_OR_RETURN(large != NULL && large->large && large->npages >= 2);
  qsort(spans, (size_t)nspans, sizeof spans[0], by_base);

  tc_mcentral_t *c = &tc_mcentral[spans[0].s->spanclass];
  uint32_t sg0 = tc_mheap_sweepgen();
  for (int i = 0; i < nspans; i++) {
    CHECK_OR_RETURN(spans[i].s->alloc_count == spans[i].s->nelems);
    CHECK_OR_RETURN(on_list(spans[i].s, &c->full[tc_swept_index(sg0)]));
  }

  /* Mark termination, played: one span in four keeps SURVIVORS objects,
   * the large object survives, and the generation advances. */
  for (int i = 0; i < nspans; i++) {
    spans[i].survivor = i % 4 == 0;
    if (spans[i].survivor)
      for (uint32_t k = 0; k < SURVIVORS; k++) mark(spans[i].s, k * 3);
  }
  mark(large, 0);
  __atomic_add_fetch(&tc_mheap.sweepgen, 2, __ATOMIC_ACQ_REL);
  tc_sweep_start_cycle();
  uint32_t sg = tc_mheap_sweepgen();
  unsigned sw = tc_swept_index(sg), un = tc_unswept_index(sg);
  CHECK_OR_RETURN(sg == sg0 + 2);
  for (int i = 0; i < nspans; i++) CHECK(spans[i].s->sweepgen == sg - 2);

  /* The first half of the spans, by address. */
  int half = nspans / 2;
  uintptr_t lo = spans[0].base, mid = spans[half].base;
  CHECK_EQ(tc_sweep_range(lo, mid), mid);
  uint64_t cap = TC_EMPTY_KEEP_BYTES / (spans[0].s->npages << TC_PAGE_SHIFT);
  int kept = 0, freed = 0;
  for (int i = 0; i < half; i++) {
    tc_span_t *s = spans[i].s;
    if (spans[i].survivor) {
      CHECK(s->sweepgen == sg);
      CHECK(on_list(s, &c->partial[sw]));
      CHECK_EQ(s->alloc_count, (uint32_t)SURVIVORS);
    } else if (tc_span_lookup(spans[i].base) == s && s->state == TC_SPAN_INUSE) {
      CHECK(s->sweepgen == sg);
      CHECK(on_list(s, &c->empty));
      CHECK_EQ(s->alloc_count, 0u);
      kept++;
    } else {
      freed++;
    }
  }
  CHECK_EQ(c->empty.n, (uint64_t)kept);
  CHECK(kept > 0 && (uint64_t)kept <= cap);
  /* Past the range: untouched. */
  for (int i = half; i < nspans; i++) {
    CHECK(spans[i].s->sweepgen == sg - 2);
    CHECK(spans[i].s->list == &c->full[un]);
  }

  /* The rest; the empty list is full by now, so empty spans are freed. */
  CHECK_EQ(tc_sweep_range(mid, spans[nspans - 1].base + TC_PAGE_SIZE * spans[nspans - 1].s->npages),
           spans[nspans - 1].base + TC_PAGE_SIZE * spans[nspans - 1].s->npages);
  kept = 0;
  freed = 0;
  for (int i = 0; i < nspans; i++) {
    if (spans[i].survivor) {
      CHECK(on_list(spans[i].s, &c->partial[sw]));
    } else if (tc_span_lookup(spans[i].base) == spans[i].s &&
               spans[i].s->state == TC_SPAN_INUSE) {
      CHECK(on_list(spans[i].s, &c->empty));
      kept++;
    } else {
      freed++;
    }
  }
  CHECK_EQ((uint64_t)kept, cap < (uint64_t)nspans * 3 / 4 ? cap : (uint64_t)kept);
  CHECK(freed == nspans - nspans / 4 - kept);
  CHECK_EQ(c->empty.n, (uint64_t)kept);

  /* The span cached by the mcache is on no list: never taken. */
  CHECK(cached->list == NULL && cached->sweepgen != sg);

  /* A range ending inside the large span stops at its base. */
  uintptr_t lb = large->base;
  CHECK_EQ(tc_sweep_range(lb, lb + TC_PAGE_SIZE), lb);
  CHECK(large->sweepgen == sg - 2);
  CHECK_EQ(tc_sweep_range(lb, lb + (large->npages << TC_PAGE_SHIFT)),
           lb + (large->npages << TC_PAGE_SHIFT));
  CHECK(large->sweepgen == sg && large->list == &tc_mcentral[large->spanclass].full[sw]);

  /* A thread whose cache runs dry takes swept spans: the survivors' free
   * slots first, then the empty spans, before it sweeps any span itself. */
  for (uint32_t n = cached->nelems - cached->alloc_count; n > 0; n--) sink = gc_alloc(OBJ_SIZE);
  int survivors = (nspans + 3) / 4;
  uint32_t free_slots = (uint32_t)survivors * (spans[0].s->nelems - SURVIVORS);
  int from_survivors = 0;
  tc_span_t *last = NULL;
  for (uint32_t n = 0; n < free_slots; n++) {
    char *q = gc_alloc(OBJ_SIZE);
    CHECK_OR_RETURN(q != NULL);
    tc_span_t *taken = tc_span_lookup((uintptr_t)q);
    /* A surviving object's slot is never handed out again. */
    uint32_t idx = tc_span_object_index(taken, (uintptr_t)q);
    if (idx % 3 == 0 && idx / 3 < SURVIVORS)
      for (int i = 0; i < nspans; i++)
        if (spans[i].survivor && spans[i].s == taken) CHECK(!"survivor slot reallocated");
    if (taken == last) continue;
    last = taken;
    for (int i = 0; i < nspans; i++)
      if (spans[i].survivor && spans[i].s == taken) from_survivors++;
  }
  CHECK_EQ(from_survivors, survivors);
  char *e = gc_alloc(OBJ_SIZE);
  CHECK_OR_RETURN(e != NULL);
  tc_span_t *es = tc_span_lookup((uintptr_t)e);
  CHECK(es->free_index == 1 && es->alloc_count == 1);
  CHECK_EQ(c->empty.n, (uint64_t)kept - 1);
  kept--;

  /* What nobody took goes back to the page heap. */
  uint64_t inuse = tc_atomic_load_relaxed(&tc_mheap.pages_inuse);
  tc_mcentral_free_empty();
  CHECK(c->empty.first == NULL && c->empty.n == 0);
  CHECK_EQ(tc_atomic_load_relaxed(&tc_mheap.pages_inuse),
           inuse - (uint64_t)kept * spans[0].s->npages);
  for (int i = 0; i < nspans; i++)
    if (!spans[i].survivor && spans[i].base != es->base)
      CHECK(tc_span_lookup(spans[i].base) != spans[i].s ||
            spans[i].s->state != TC_SPAN_INUSE);
}

CHECK_MAIN()
