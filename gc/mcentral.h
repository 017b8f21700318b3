/*
 * mcentral.h - the central free lists, one per span class.
 *
 * Each mcentral holds the in-use spans of its class that no mcache holds, in
 * four lists: partial/full x swept/unswept. Which index means "swept" flips
 * every cycle: partial[sg/2 % 2] is swept, partial[1 - sg/2 % 2] unswept, so
 * advancing sweepgen by 2 makes every swept span unswept at once (Go).
 * Large-object spans live in the full lists of classes 0 and 1 (scan,
 * noscan) so the sweeper finds them.
 *
 * Locking: one mutex per mcentral (no global lock on refills); list fields of
 * spans are protected by it. Mutators call in only from no-stop regions.
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

/* Puts a swept span the caller owns on the swept partial or full list. */
void tc_mcentral_put_swept(tc_mcentral_t *c, tc_span_t *s);

#endif
