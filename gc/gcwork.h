/*
 * gcwork.h - gray queues for parallel marking.
 *
 * A work entry is a range (addr, len) to scan conservatively: a gray object,
 * a piece of one (objects larger than TC_SCAN_CHUNK are split), or a root
 * range. Each marker owns a tc_gcwork_t with two work buffers (Go's
 * gcWork: wbuf1/wbuf2 absorb push/pop oscillation); full buffers go to a
 * global list shared by all markers.
 *
 * Termination: a marker that runs dry waits on the global list; when all
 * nproc markers are waiting and the list is empty, marking is done. The
 * count and the list are under one mutex, so the test is exact. A marker
 * may join a running phase (it raises nproc under the same mutex), and one
 * that comes after the end finds it over: a helper that wakes late never
 * holds up a phase that the others have finished.
 * Go: runtime/mgcwork.go.
 */
#ifndef TC_GCWORK_H
#define TC_GCWORK_H

#include "base.h"
#include "config.h"

typedef struct tc_workentry {
  uintptr_t addr, len;
} tc_workentry_t;

typedef struct tc_workbuf {
  struct tc_workbuf *next;
  uint32_t n;
  uint32_t pad;
  tc_workentry_t e[TC_WORKBUF_ENTRIES];
} tc_workbuf_t;

/* Slots of a marker's shading pipeline (mark.c). */
#define TC_SHADE_PIPE 32

typedef struct tc_gcwork {
  tc_workbuf_t *buf1, *buf2;
  uint64_t bytes_marked;   /* bytes of objects this marker shaded */
  uint64_t scan_bytes;     /* bytes this marker scanned */
  /* Pointer candidates found by scanning, on their way to being shaded
   * (mark.c's prefetch pipeline): npipe counts entries since the pipeline
   * was last empty. It is empty whenever the buffers are flushed or given
   * back (checked there): a candidate left in it would never be shaded. */
  uint64_t npipe;
  uintptr_t pipe[TC_SHADE_PIPE];
} tc_gcwork_t;

/* Resets the termination state for a phase with nproc markers; returns the
 * phase's number. More may join it (tc_gcwork_join) until it is over. */
uint64_t tc_gcwork_begin_phase(int nproc);
/* Joins phase `phase` as one more marker, which must then run until
 * tc_gcwork_get fails. False if that phase is over or another has begun
 * since (checkmark.c runs phases of its own): the caller must leave the
 * queue alone. */
bool tc_gcwork_join(uint64_t phase);
/* The markers of the current (or last) phase: nproc plus those that joined.
 * Final once the phase is over. */
int tc_gcwork_markers(void);
void tc_gcwork_init(tc_gcwork_t *w);
/* Flushes w's buffers to the global list (both, even if partial). */
void tc_gcwork_flush(tc_gcwork_t *w);
/* Gives w's (empty) buffers back. */
void tc_gcwork_dispose(tc_gcwork_t *w);

void tc_gcwork_put_slow(tc_gcwork_t *w, uintptr_t addr, uintptr_t len);
bool tc_gcwork_get_slow(tc_gcwork_t *w, tc_workentry_t *out);
/* Moves a buffer's worth of w's work (or half of its only buffer) to the
 * global list. Markers call it whenever the list is empty (Go's gcDrain):
 * markers waiting for work and mark assists, which take work only from the
 * list and park in debt when it is empty, then find some. */
void tc_gcwork_balance(tc_gcwork_t *w);
bool tc_gcwork_global_empty(void);
/* True if the global list holds work (e.g. flushed by mutators' write
 * barriers between phases). */
bool tc_gcwork_pending(void);
/* Moves one full buffer from the global list into w's (empty) buf1 without
 * waiting (mark assists). Until the taker calls tc_gcwork_assist_done with
 * the number of buffers it took, markers do not conclude that the phase is
 * over: the taken work may still produce more. */
bool tc_gcwork_try_get_global(tc_gcwork_t *w);
/* Flushes w and releases the taker's hold. */
void tc_gcwork_assist_done(tc_gcwork_t *w, int taken);
uint64_t tc_gcwork_sys(void);

TC_INLINE void tc_gcwork_put(tc_gcwork_t *w, uintptr_t addr, uintptr_t len) {
  tc_workbuf_t *b = w->buf1;
  if (TC_LIKELY(b->n < TC_WORKBUF_ENTRIES)) {
    b->e[b->n++] = (tc_workentry_t){addr, len};
    return;
  }
  tc_gcwork_put_slow(w, addr, len);
}

/* Next entry from this marker's own buffers, never waiting. */
TC_INLINE bool tc_gcwork_try_get_local(tc_gcwork_t *w, tc_workentry_t *out) {
  if (TC_LIKELY(w->buf1->n > 0)) {
    *out = w->buf1->e[--w->buf1->n];
    return true;
  }
  if (w->buf2->n > 0) {
    tc_workbuf_t *t = w->buf1;
    w->buf1 = w->buf2;
    w->buf2 = t;
    *out = w->buf1->e[--w->buf1->n];
    return true;
  }
  return false;
}

/* Next entry, waiting for other markers' work; false when marking is done. */
TC_INLINE bool tc_gcwork_get(tc_gcwork_t *w, tc_workentry_t *out) {
  tc_workbuf_t *b = w->buf1;
  if (TC_LIKELY(b->n > 0)) {
    *out = b->e[--b->n];
    return true;
  }
  return tc_gcwork_get_slow(w, out);
}

#endif
