/*
 * dirty.h - kernel dirty-page tracking of the heap (GCMODE=concurrent).
 *
 * Owns: the userfaultfd (asynchronous write-protect) that covers the
 * committed heap and the /proc/self/pagemap descriptor used with
 * PAGEMAP_SCAN. No fault handler exists: with UFFD_FEATURE_WP_ASYNC the
 * kernel resolves a write to a protected page itself, clears the page's
 * protection and thereby records it as written. Writes by system calls
 * (read(2) into the heap) are recorded the same way, since the kernel's
 * copy_to_user takes the same fault.
 *
 * Protocol:
 *   - tc_dirty_init probes support once at start (opens the descriptors,
 *     checks that writes to scratch pages, protected or never touched, are
 *     reported once each).
 *   - Every heap range is registered before it is published (tc_dirty_track,
 *     called by arena growth under the heap lock), so pages are tracked from
 *     their first byte. It is not protected: an unpopulated page holds only
 *     zeros and counts as unwritten to the scans, and its first write maps
 *     an unprotected page, which counts as written (dirty.c, scan_once).
 *     The scans never protect unpopulated pages, which would cost their
 *     first write two faults; the scavenger's dropped pages need nothing.
 *   - tc_dirty_reset, before a mark: write-protects a range, so its pages
 *     count as unwritten (the cycle passes the pages of spans in chunks of
 *     scanned spans, pagealloc.h; other pages, free ones included, keep
 *     whatever state they have, which is safe:
 *     a protected page becomes written at its next write, an unprotected
 *     one counts as written already).
 *   - tc_dirty_release, after a mark: lifts the protection of a range, so
 *     the program takes no write faults between marks (a page costs one
 *     fault per mark in which it is written; ~0.75 us measured here).
 *   - tc_dirty_collect, during a mark: reports every run of pages written
 *     since the previous scan and re-protects them in the same call, so a
 *     write is either in this report or the next one.
 *   - tc_dirty_collect_final, at mark termination (world stopped): reports
 *     the same without re-protecting. No write can follow within this mark,
 *     and the pages only stay written until the reset before the next mark
 *     (no mark needs their old writes). Re-protecting them in the pause
 *     changed page tables and flushed TLBs there: on this machine's
 *     hypervisor ~35-45 us per written page of pause 2 (docs/modes.md).
 * Invariant: after a write, the page counts as written until a
 * tc_dirty_collect reports it (or tc_dirty_reset, which the collector calls
 * only before a mark), or until the page is dropped (madvise on free pages:
 * it is then unpopulated and holds nothing); so between
 * tc_dirty_reset and the final collection of a mark, every write to a
 * page that the collections cover is in exactly one report or pending
 * (the final one reports what is pending, and its pages stay written).
 * Uses only system calls and static buffers: tc_dirty_collect_final is
 * called with the world stopped. tc_dirty_collect is not reentrant (one
 * caller at a time: the cycle's coordinator); tc_dirty_collect_final, on
 * disjoint ranges with a buffer on the caller's stack, may run on several
 * threads at once (mark termination splits the heap among its markers).
 */
#ifndef TC_DIRTY_H
#define TC_DIRTY_H

#include "base.h"

/* Probes and enables tracking. On failure returns false and leaves a short
 * reason in *why (a static string). */
bool tc_dirty_init(const char **why);
bool tc_dirty_enabled(void);

/* Registers [lo, lo + len) (page aligned) for tracking. Throws if the
 * kernel refuses: without it marking would be unsound. */
void tc_dirty_track(uintptr_t lo, uintptr_t len);

/* Protects every page of [lo, hi) (before a mark) / unprotects (after). */
void tc_dirty_reset(uintptr_t lo, uintptr_t hi);
void tc_dirty_release(uintptr_t lo, uintptr_t hi);

/* Calls fn(start, end, ctx) for every run of pages in [lo, hi) written since
 * the last scan, re-protecting them; returns the number of 4 KiB pages. */
uint64_t tc_dirty_collect(uintptr_t lo, uintptr_t hi,
                          void (*fn)(uintptr_t start, uintptr_t end, void *ctx), void *ctx);
/* The same at mark termination, leaving the pages written. */
uint64_t tc_dirty_collect_final(uintptr_t lo, uintptr_t hi,
                                void (*fn)(uintptr_t start, uintptr_t end, void *ctx),
                                void *ctx);

/* fork(): the child's mappings lost the registration; redo it for
 * [lo, lo + len). */
void tc_dirty_after_fork_child(uintptr_t lo, uintptr_t len);

#endif
