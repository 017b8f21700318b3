/*
 * stack.h - call stacks of sampled allocations.
 *
 * tc_stack_capture unwinds the calling thread with libunwind's local-only
 * fast path (unw_backtrace: cached frame-step descriptions per return
 * address, falling back to DWARF CFI; no allocation from the heap being
 * profiled) and keeps only the user's frames. Stacks are return addresses,
 * leaf first, at most TC_STACK_MAX frames (deeper stacks are cut at the root
 * end).
 *
 * Leaving libtricolor's frames out: every library function that can be on
 * the stack between the user's call and the unwinder lives in one of two
 * linker sections, tc_fastpath (gc_alloc, gc_alloc_noscan, gc_calloc, which
 * hold the inline fast path; see stw.h) and tc_sampling (TC_SAMPLING_FRAME:
 * the allocation slow paths, gc_realloc, gc_strdup, the sampler and this
 * capture). The capture skips the unwinder's own frames up to the first
 * frame in those sections, then every frame in them; what follows is the
 * user's. This holds whatever the compiler inlines or turns into tail
 * calls, and for static and shared builds alike (the linker defines the
 * sections' bounds). If no frame of the sections shows up among the first
 * frames (an unwinder that lost them), frames inside libtricolor's text
 * are skipped when it is a shared library; linked statically, the stack is
 * kept whole rather than guessed at.
 *
 * Runs on the allocating thread, outside no-stop regions: unwinding may take
 * the dynamic loader's lock, which the collector never needs while the world
 * is stopped.
 */
#ifndef TC_STACK_H
#define TC_STACK_H

#include "base.h"

#define TC_STACK_MAX 64

/* A function whose frames are not part of recorded stacks (see above). */
#define TC_SAMPLING_FRAME __attribute__((section("tc_sampling")))

/* Learns libtricolor's own text range (world running, at init). */
void tc_stack_init(void);

/* Fills pcs with up to max return addresses of the caller's caller chain,
 * starting at the first frame outside libtricolor; returns the count (0 if
 * the stack could not be unwound). */
TC_NOINLINE TC_SAMPLING_FRAME int tc_stack_capture(uintptr_t *pcs, int max);

#endif
