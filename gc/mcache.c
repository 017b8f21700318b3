/*
 * mcache.c - per-thread span caches (mcache.h).
 */
#include "mcache.h"

#include "fixalloc.h"
#include "mcentral.h"
#include "sample.h"

#define E &tc_empty_span
#define E8 E, E, E, E, E, E, E, E
#define E64 E8, E8, E8, E8, E8, E8, E8, E8
tc_mcache_t tc_empty_mcache = {INT64_MAX, {E64, E64, E8}, 0, 0};
#undef E64
#undef E8
#undef E
_Static_assert(TC_NUM_SPAN_CLASSES == 136, "tc_empty_mcache initializer size");

__thread tc_mcache_t *tc_mcache_tls = &tc_empty_mcache;

static tc_fixalloc_t mcache_alloc = TC_FIXALLOC_INIT(sizeof(tc_mcache_t), "mcache");

uint64_t tc_mcache_sys(void) { return mcache_alloc.sys; }
uint64_t tc_mcache_inuse(void) { return mcache_alloc.inuse; }

tc_mcache_t *tc_mcache_new(void) {
  tc_mcache_t *c = tc_fixalloc_alloc(&mcache_alloc);
  if (c == NULL) return NULL;
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) c->alloc[i] = &tc_empty_span;
  c->next_sample = tc_sample_next();
  return c;
}

void tc_mcache_delete(tc_mcache_t *c) { tc_fixalloc_free(&mcache_alloc, c); }

bool tc_mcache_refill(tc_mcache_t *c, tc_spanclass_t sc) {
  tc_span_t *old = c->alloc[sc];
  if (old != &tc_empty_span) {
    c->alloc[sc] = &tc_empty_span;
    tc_mcentral_uncache_span(&tc_mcentral[sc], old);
  }
  tc_span_t *s = tc_mcentral_cache_span(&tc_mcentral[sc]);
  if (s == NULL) return false;
  c->alloc[sc] = s;
  return true;
}

void tc_mcache_release_all(tc_mcache_t *c) {
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) {
    tc_span_t *s = c->alloc[i];
    if (s == &tc_empty_span) continue;
    c->alloc[i] = &tc_empty_span;
    tc_mcentral_uncache_span(&tc_mcentral[i], s);
  }
}

void tc_mcache_pending_allocs(const tc_mcache_t *c, uint64_t *per_class) {
  for (unsigned i = 0; i < TC_NUM_SPAN_CLASSES; i++) {
    const tc_span_t *s = c->alloc[i];
    if (s == &tc_empty_span) continue;
    per_class[tc_spanclass_sizeclass((tc_spanclass_t)i)] +=
        s->alloc_count - s->alloc_count_cached;
  }
}
