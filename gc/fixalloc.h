/*
 * fixalloc.h - off-heap metadata memory. Collector metadata never comes from
 * libc malloc (it could deadlock with the world stopped, and the collector
 * would scan it as a root if malloc's memory were ever scanned).
 *
 *   tc_persistent_alloc(n)  bump allocation from 256 KiB chunks that are
 *                           never returned; zeroed.
 *   tc_fixalloc_t           free list of fixed-size objects carved from
 *                           persistent chunks (spans, threads, mcaches,
 *                           bitmaps, work buffers); alloc returns zeroed
 *                           memory.
 * Both take their own lock; callers may hold any other collector lock.
 */
#ifndef TC_FIXALLOC_H
#define TC_FIXALLOC_H

#include "base.h"
#include "lock.h"

typedef struct tc_fixalloc {
  tc_mutex_t lock;
  size_t size;        /* object size, a multiple of 16 */
  void *free;         /* free list, linked through the first word */
  uint64_t inuse;     /* bytes handed out; protected by lock */
  uint64_t sys;       /* bytes taken from persistent chunks; protected by lock */
  const char *name;
} tc_fixalloc_t;

#define TC_FIXALLOC_INIT(sz, nm) {TC_MUTEX_INIT, (((sz) + 15) & ~(size_t)15), NULL, 0, 0, nm}
/* Objects whose size is a multiple of 64 are 64-byte aligned. */

void *tc_fixalloc_alloc(tc_fixalloc_t *f); /* NULL only when the OS refuses memory */
void tc_fixalloc_free(tc_fixalloc_t *f, void *p);

void *tc_persistent_alloc(size_t n, size_t align); /* zeroed; NULL on OOM */
uint64_t tc_persistent_sys(void);                   /* bytes mapped for persistent chunks */

#endif
