/*
 * atomic.h - every atomic operation the collector uses, with the memory order
 * in the name. Nothing else in gc/ spells __atomic_* or AO_* directly.
 *
 * GCC's __atomic builtins on plain integer and pointer fields cover every
 * need so far (word-sized loads, stores, fetch-add/or/and, CAS). libatomic_ops
 * (a build dependency) is the place to go for what C11 lacks on this target,
 * e.g. a lock-free double-width CAS; it must then be wrapped here.
 */
#ifndef TC_ATOMIC_H
#define TC_ATOMIC_H

#include "base.h"

#define tc_atomic_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define tc_atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define tc_atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define tc_atomic_add_relaxed(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_add_acq_rel(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#define tc_atomic_sub_relaxed(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_sub_acq_rel(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_ACQ_REL)
#define tc_atomic_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_fetch_or_relaxed(p, v) __atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_fetch_and_relaxed(p, v) __atomic_fetch_and((p), (v), __ATOMIC_RELAXED)
#define tc_atomic_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define tc_atomic_cas_acq_rel(p, expected_ptr, desired)                       \
  __atomic_compare_exchange_n((p), (expected_ptr), (desired), false,          \
                              __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
/* Sequentially consistent: the two sides of a Dekker-style handshake (a
 * waiter's count and the flag it waits on, stw.c). */
#define tc_atomic_load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define tc_atomic_add_seq_cst(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define tc_atomic_sub_seq_cst(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_SEQ_CST)
#define tc_atomic_fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define tc_compiler_barrier() __asm__ __volatile__("" ::: "memory")
#define tc_cpu_relax() __builtin_ia32_pause()

#endif
