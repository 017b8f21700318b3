/*
 * roots.h - global roots: the writable segments of every loaded object,
 * static TLS, gc_add_roots ranges and the collector's own internal roots.
 *
 * Segments come from dl_iterate_phdr: every writable PT_LOAD minus its
 * PT_GNU_RELRO part, minus the segments of libtricolor itself when it is a
 * shared library (its metadata holds no heap pointers). dl_iterate_phdr
 * takes the loader lock, which a stopped thread could hold, so segments are
 * read before the world stops (tc_roots_refresh) and used inside it.
 *
 * Static TLS: for every module with a PT_TLS segment, its block lies at a
 * fixed offset from each thread's thread pointer; the offsets are learned
 * from the calling thread's dlpi_tls_data. TLS of dlopen'ed modules using
 * the dynamic model lives in libc malloc memory and is not a root.
 *
 * Locking: tc_roots.lock protects user and internal ranges; mutators hold it
 * only in no-stop regions. Segments are written by the collector with the
 * cycle lock held.
 */
#ifndef TC_ROOTS_H
#define TC_ROOTS_H

#include "base.h"

struct tc_thread;

typedef struct tc_root_handle {
  uintptr_t lo, hi;
  struct tc_root_handle *next, *prev;
} tc_root_handle_t;

typedef void (*tc_root_fn)(uintptr_t lo, uintptr_t hi, void *ctx);

void tc_roots_init(void);
/* Re-read loaded objects' segments and TLS layout. Collector, world running. */
void tc_roots_refresh(void);
/* Calls fn on every global range (segments, user roots, internal roots).
 * Collector, world stopped. */
void tc_roots_for_each_global(tc_root_fn fn, void *ctx);
/* The two halves of the above: loaded objects' segments (their memory stays
 * mapped while the objects are loaded, so they may be scanned with the world
 * running), and gc_add_roots plus internal ranges (world stopped: a range
 * may be removed and its memory freed at any time). */
void tc_roots_for_each_segment(tc_root_fn fn, void *ctx);
void tc_roots_for_each_user(tc_root_fn fn, void *ctx);
/* Calls fn on the static TLS blocks of thread t. */
void tc_roots_for_each_tls(const struct tc_thread *t, tc_root_fn fn, void *ctx);
/* Bytes of global roots found by the last refresh. */
uint64_t tc_roots_global_bytes(void);

void tc_roots_add_internal(tc_root_handle_t *h, void *lo, void *hi);
void tc_roots_remove_internal(tc_root_handle_t *h);

#endif
