/*
 * special.h - per-object records the collector consults at mark
 * termination: finalizers (finalizer.c) and weak handles (weak.c).
 *
 * Owns: an open-addressing hash table from object start address to its
 * record, in mmap'd memory the collector never scans, so a record does not
 * keep its object alive. Mutators change it under tc_special_lock (a
 * no-stop lock); the collector reads it with the world stopped.
 *
 * Marking: tc_special_roots gives every record's finalizer data word and
 * every queued finalizer (off-heap words) and the contents of every object
 * with a finalizer (heap ranges) as roots: what a finalizer object reaches
 * stays alive, but not the object itself (Go's rule; so a finalizer object
 * on a cycle through itself is never finalized). That is the default
 * (TC_FIN_ORDERED, also Boehm's topological order). Two more kinds serve
 * the bdwgc shim (bdwgc/finalize.c): TC_FIN_IGNORE_SELF gives the contents
 * minus the words that point into the object itself (a self-reference does
 * not prevent finalization); TC_FIN_NO_ORDER gives no contents at all (a
 * cycle of such objects is finalized, in no defined order), and mark
 * termination then marks everything such an object reaches, so the
 * finalizer finds it intact.
 * Mark termination (tc_special_mark_done, world stopped, after the drain):
 * a weak record whose handle is unmarked is dropped (the handle is
 * garbage); one whose object is unmarked has its handle cleared; short
 * disappearing links (weak.h) to unmarked objects are cleared. Then a
 * finalizer record whose object is unmarked is moved to the finalizer queue
 * and the object marked (its contents were scanned as a root, so what it
 * reaches is marked already; for TC_FIN_NO_ORDER the closure is marked
 * here, single-threaded): it survives this cycle. Last, disappearing links
 * whose link lies in an unmarked object are dropped and long links to
 * unmarked objects are cleared. Objects marked in this step are not
 * counted in the cycle's marked bytes.
 * gc_free of an object drops its record and clears its weak handle.
 * Go: runtime/mheap.go (specials), mfinal.go.
 */
#ifndef TC_SPECIAL_H
#define TC_SPECIAL_H

#include "base.h"
#include "roots.h"

struct tc_thread;
struct gc_weak;

/* How a finalizer object's contents count as roots (see above). */
enum { TC_FIN_ORDERED = 0, TC_FIN_IGNORE_SELF = 1, TC_FIN_NO_ORDER = 2 };

typedef struct tc_special {
  uintptr_t obj;                 /* 0 free, 1 deleted, else the object */
  void (*fn)(void *obj, void *data);
  void *data;
  struct gc_weak *weak;
  int fin_kind;                  /* TC_FIN_*, meaningful while fn != NULL */
} tc_special_t;

struct tc_thread *tc_special_lock(void);
void tc_special_unlock(struct tc_thread *t);
/* Lock held. The record of obj, or NULL; insert returns NULL when out of
 * memory. */
tc_special_t *tc_special_find_locked(uintptr_t obj);
tc_special_t *tc_special_insert_locked(uintptr_t obj);
/* Drops r if it has neither a finalizer nor a weak handle. */
void tc_special_trim_locked(tc_special_t *r);

/* gc_free: the object dies now. Caller is in a no-stop region. */
void tc_special_on_free(uintptr_t obj);

/* World stopped. */
void tc_special_roots(tc_root_fn offheap, tc_root_fn heap, void *ctx);
void tc_special_mark_done(void);

#endif
