/*
 * limiter.h - the GC CPU limiter (Go 1.19's gcCPULimiter).
 *
 * Owns: a leaky bucket of GC CPU time. Capacity: GCPROCS x 1 s. Every update
 * (at most every 10 ms, and at each phase change) looks at the window since
 * the last one: total = wall x GCPROCS; GC time = mark assists + scavenge
 * assists + (while marking) 25% of total + (while stopped) all of it; the
 * bucket fills by GC time - (total - GC time), clamped to [0, capacity].
 * It limits while full: then mark assists and eager scavenging are skipped,
 * so the collector takes about half of the CPU at most over a window of
 * roughly 2 x GCPROCS seconds, and the heap (and the memory limit) may be
 * overrun instead. Updates are serialized by a try-lock; readers read one
 * atomic flag.
 * Go: runtime/mgclimit.go.
 */
#ifndef TC_LIMITER_H
#define TC_LIMITER_H

#include "atomic.h"
#include "base.h"

extern int tc_limiter_on; /* atomic */

TC_INLINE bool tc_limiter_limiting(void) { return tc_atomic_load_relaxed(&tc_limiter_on) != 0; }

/* GC time spent outside the background workers' 25%: mark assists, eager
 * scavenging, stopped-world wall time (already multiplied by procs). */
void tc_limiter_add_gc_ns(uint64_t ns);
/* Phase changes (marking on/off) and periodic updates; cycle is the number
 * of the cycle running or next. Cheap when called within 10 ms of the last. */
void tc_limiter_update(bool marking, uint32_t cycle, bool force);
/* Cycle number in which the limiter last turned on (0: never). */
uint32_t tc_limiter_last_enabled(void);
/* fork(): an update in progress in a vanished thread is abandoned. */
void tc_limiter_after_fork_child(void);
/* Cumulative ns of CPU the limiter saw as GC work. */
uint64_t tc_limiter_gc_total_ns(void);

#endif
