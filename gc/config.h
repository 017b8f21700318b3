/*
 * config.h - compile-time constants of the heap layout, each with its reason.
 */
#ifndef TC_CONFIG_H
#define TC_CONFIG_H

#include "base.h"

/* 8 KiB pages, as Go: small enough that 1-page spans serve classes up to
 * 1 KiB with little tail waste, large enough that the page map stays small. */
#define TC_PAGE_SHIFT 13
#define TC_PAGE_SIZE ((uintptr_t)1 << TC_PAGE_SHIFT)

/* 64 MiB arenas, as Go on 64-bit Linux: the unit in which the heap is mapped
 * and accounted. */
#define TC_ARENA_SHIFT 26
#define TC_ARENA_SIZE ((uintptr_t)1 << TC_ARENA_SHIFT)
#define TC_PAGES_PER_ARENA (TC_ARENA_SIZE / TC_PAGE_SIZE)

/* Objects larger than this get a span of their own. */
#define TC_MAX_SMALL_SIZE 32768

/* Address space reserved for the heap at start, largest first; the heap is
 * one contiguous range so a pointer candidate is rejected with one unsigned
 * compare. 1 TiB of PROT_NONE reservation costs no memory. */
#define TC_HEAP_RESERVE_MAX ((uintptr_t)1 << 40)
#define TC_HEAP_RESERVE_MIN ((uintptr_t)1 << 32)

/* Work buffers hold this many (address, length) entries: 254 * 16 B + header
 * fills 4 KiB, one page of metadata per buffer. */
#define TC_WORKBUF_ENTRIES 254

/* Scanning work is split into pieces of at most this many bytes, so a large
 * object or a huge global segment is shared between mark workers (Go's
 * 128 KiB oblets). */
#define TC_SCAN_CHUNK (128 * 1024)

/* Heap minimum before the first cycle and the floor of every goal (Go's
 * heapMinimum at GOGC=100). */
#define TC_HEAP_MINIMUM ((uint64_t)4 << 20)

/* Most threads the collector marks with (GCPROCS is clamped to this). */
#define TC_MAX_PROCS 64

#endif /* TC_CONFIG_H */
