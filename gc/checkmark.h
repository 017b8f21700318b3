/*
 * checkmark.h - GCCHECKMARK=1: verify a mark with a stop-the-world re-mark.
 *
 * Like Go's GODEBUG=gccheckmark=1. At the end of every mark, with the world
 * still stopped, everything reachable from the roots is marked again, from
 * scratch and on one thread, in a side bitmap (one bit per 8 heap bytes,
 * reserved once, its pages dropped after each check). Every object the
 * re-mark reaches must carry the real mark bit; the first that does not is
 * reported (address, size, span) and the program aborts: the concurrent
 * mark missed a reachable object, which the sweep would have freed.
 * Roots are the same as the real mark's: stacks and registers, TLS, global
 * and user roots, finalizer records.
 */
#ifndef TC_CHECKMARK_H
#define TC_CHECKMARK_H

/* World stopped, after the mark drained. */
void tc_checkmark_run(void);

#endif
