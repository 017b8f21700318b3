/*
 * pool.h - gc_pool_t, Go's sync.Pool with its victim cache.
 *
 * A pool is an off-heap record (persistent memory, never freed, like Go's
 * allPools) holding two heap arrays: primary (what gc_pool_put stored) and
 * victim (the previous cycle's primary). Both array pointers are internal
 * roots, so pooled objects stay alive. At every cycle's first pause
 * (tc_pool_cleanup, world stopped) the victim array is dropped and the
 * primary becomes the victim: a pooled object survives one cycle unless it
 * is taken. gc_pool_get takes from the primary, then the victim, then calls
 * make. Operations hold the pool's lock inside a no-stop region, so the
 * collector may rotate the arrays without it.
 * Stores into the arrays use the write barrier (barrier mode).
 * Go: sync/pool.go (poolCleanup).
 */
#ifndef TC_POOL_H
#define TC_POOL_H

/* World stopped. */
void tc_pool_cleanup(void);

#endif
