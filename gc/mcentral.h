/*
 * mcentral.h - the central free lists, one per span class.
 *
 * Each mcentral holds the in-use spans of its class that no mcache holds, in
 * four lists: partial/full x swept/unswept. Which index means "swept" flips
 * every cycle: partial[sg/2 % 2] is swept, partial[1 - sg/2 % 2] unswept, so
 * advancing sweepgen by 2 makes every swept span unswept at once (Go).
 * Large-object spans live in the full lists of classes 0 and 1 (scan,
 * noscan) so the sweeper finds them. A fifth list, empty, holds swept spans
 * without objects only while the coordinator lifts the page protection
 * after a concurrent-mode mark (sweep.h, tc_sweep_range): allocating threads
 * take them before they sweep anything themselves, and what nobody took is
 * freed to the page heap when the lifting ends (tc_mcentral_free_empty).
 * Outside that pass the empty lists are empty.
 *
 * Locking: one mutex per mcentral (no global lock on refills); list fields of
 * spans are protected by it. Mutators call in only from no-stop regions.
 * Sweepers change a span's list membership and its sweepgen together,
 * under one holding of the lock: it leaves an unswept list as it reads
 * being swept (sg-1), and joins a list as it reads swept (sg). A span that
 * reads swept on no list is owned by one thread: a new span until its
 * allocation lists it, or a small span an allocating thread took for its
 * cache. gc_free of a large object relies on this (alloc.c free_large):
 * the object was returned, so under the lock its span, if it reads unswept
 * or swept, is on a list, and a span on none was freed already.
 * Go: runtime/mcentral.go.
 */
#ifndef TC_MCENTRAL_H
#define TC_MCENTRAL_H

#include "base.h"
#include "lock.h"
#include "sizeclass.h"
#include "span.h"

typedef struct tc_spanlist {
  tc_span_t *first;
  uint64_t n;
} tc_spanlist_t;

typedef struct tc_mcentral {
  tc_mutex_t lock;
  tc_spanclass_t spanclass;
  tc_spanlist_t partial[2]; /* spans with free slots */
  tc_spanlist_t full[2];    /* spans without free slots (and large spans) */
  tc_spanlist_t empty;      /* swept spans without objects (see header) */
} TC_ALIGNED(TC_CACHELINE) tc_mcentral_t;

extern tc_mcentral_t tc_mcentral[TC_NUM_SPAN_CLASSES];

void tc_mcentral_init(void);

TC_INLINE unsigned tc_swept_index(uint32_t sg) { return (sg >> 1) & 1; }
TC_INLINE unsigned tc_unswept_index(uint32_t sg) { return ((sg >> 1) & 1) ^ 1; }

void tc_spanlist_push_locked(tc_spanlist_t *l, tc_span_t *s);
void tc_spanlist_remove_locked(tc_span_t *s);
tc_span_t *tc_spanlist_pop_locked(tc_spanlist_t *l);

/* A span of this class with at least one free slot, owned by the caller and
 * marked cached (sweepgen sg+3), its alloc cache set at free_index. Sweeps
 * unswept spans of the class first, then grows the heap. NULL on OOM. */
tc_span_t *tc_mcentral_cache_span(tc_mcentral_t *c);

/* Takes back a span an mcache held. A stale span (cached before the current
 * sweep began) goes to the unswept lists; a fresh one to the swept lists. */
void tc_mcentral_uncache_span(tc_mcentral_t *c, tc_span_t *s);

/* Puts a swept span the caller owns on the swept partial or full list and
 * marks it swept (sweepgen sg). */
void tc_mcentral_put_swept(tc_mcentral_t *c, tc_span_t *s);

/* Takes an unswept span off its list and acquires it for sweeping
 * (sweepgen sg-2 -> sg-1). The class's lock is held. */
void tc_mcentral_take_unswept_locked(tc_span_t *s, uint32_t sg);

/* The first span of unswept list l, taken and acquired, or NULL. The
 * class's lock is held. */
tc_span_t *tc_mcentral_pop_unswept_locked(tc_spanlist_t *l, uint32_t sg);

/* What a class's empty list may hold: more than its allocating threads use
 * while one step of the lifting is done (GCBench: ~40 spans of 8 KiB per
 * 2 MiB step), little against what other classes and the scavenger might
 * want meanwhile. */
#define TC_EMPTY_KEEP_BYTES ((uintptr_t)1 << 20)

/* Puts a swept span without objects that the caller owns on the empty list
 * and marks it swept, unless the list already holds TC_EMPTY_KEEP_BYTES of
 * spans: then returns false and the caller frees it. */
bool tc_mcentral_put_empty(tc_mcentral_t *c, tc_span_t *s);

/* Frees every span left on the empty lists to the page heap. */
void tc_mcentral_free_empty(void);

#endif
