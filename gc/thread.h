/*
 * thread.h - the registry of mutator threads.
 *
 * Owns: one tc_thread_t per registered thread (from a fixalloc, never libc
 * malloc), its stack bounds, thread pointer (for static TLS), mcache and
 * stop-the-world state; registration on first use, gc_register_thread,
 * gc_unregister_thread, gc_pthread_create and the key destructor that
 * unregisters exiting threads.
 *
 * No-stop regions: code that holds an allocator lock or is midway through
 * changing allocation state runs between tc_thread_nostop_enter/exit. A stop
 * signal arriving there is deferred; the thread parks itself at exit. So with
 * the world stopped, no mutator holds an allocator lock or a half-updated
 * span. A no-stop region must never wait for the collector (cycle lock,
 * registry lock).
 *
 * Locking: tc_threads.lock protects the list; the collector holds it for the
 * whole stop-the-world window, so registration waits for a cycle to end.
 * Go: runtime/proc.go (allm/allp), Boehm pthread_support.c.
 */
#ifndef TC_THREAD_H
#define TC_THREAD_H

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>

#include "atomic.h"
#include "base.h"
#include "lock.h"
#include "mcache.h"

/* Entries of a thread's write-barrier buffer (Go's wbBuf has 512). */
#define TC_WB_ENTRIES 256

/* RUNNING -> PENDING (signalled; a thread in a no-stop region or the
 * allocation fast path stays PENDING until it leaves) -> PARKED; RUNNING <->
 * BLOCKED (waiting inside the collector, tc_stw_blocking) -> BLOCKED_PARKED
 * (a stop took it as it is, without a signal) -> BLOCKED at the restart. */
enum {
  TC_STOP_RUNNING = 0,
  TC_STOP_PENDING,
  TC_STOP_PARKED,
  TC_STOP_BLOCKED,
  TC_STOP_BLOCKED_PARKED
};

typedef struct tc_thread {
  pthread_t pthread;
  pid_t tid;
  uintptr_t stack_hi;          /* cold end of the stack (highest address) */
  uintptr_t stack_lo;          /* lowest address of the stack mapping */
  uintptr_t tp;                /* thread pointer: static TLS sits below it */
  tc_mcache_t *mcache;         /* owner only, or world stopped */
  /* Stop-the-world handshake (stw.c). */
  volatile uintptr_t stop_sp;  /* lowest live stack address while parked or blocked */
  uintptr_t alt_lo, alt_hi;    /* sigaltstack in use while parked or blocked, or 0, 0 */
  int stop_state;              /* TC_STOP_*; atomic */
  volatile int nostop;         /* no-stop nesting depth; own thread + its handler */
  volatile int stop_deferred;  /* a stop arrived inside a no-stop region */
  /* Stops signal first the threads that used most of a CPU since the
   * previous stop, and last those that mostly slept (stw.c): the thread's
   * CPU clock, its reading and the time of that reading at the previous
   * stop (0: none yet). Stoppers only, under tc_threads.lock. */
  clockid_t cpu_clock;
  bool has_cpu_clock;
  bool signal_late;
  uint64_t stop_cpu_ns, stop_wall_ns;
  /* A stop that waits too long for this thread moves it onto the
   * stopper's CPU (stw.c, rescue) and puts back this affinity mask once it
   * has parked. Stoppers only. */
  bool rescued;
  cpu_set_t rescue_mask;
  /* The cpu_id word of the thread's rseq area (glibc registers one per
   * thread; the kernel rewrites it whenever the thread returns to user
   * space on another CPU), or NULL without rseq: the CPU the thread last
   * ran on. A stopper reads it to decide whether its own CPU is wanted by
   * a thread it waits for (stw.c, ack_wait_n). */
  const volatile uint32_t *rseq_cpu;
  /* Write throttle (throttle.c, coordinator only, under tc_threads.lock):
   * page faults counted when last sampled, and whether the thread is one
   * of the writers parked by the current throttle stop. */
  uint64_t faults_seen;
  bool throttled;
  struct tc_thread *next, *prev; /* protected by tc_threads.lock */
  /* A slot this thread allocated and is still zeroing, or 0: the
   * allocation slow paths and the fast path's memset run where a stop may
   * land, and a slot allocated black may hold old pointers until then. Only
   * GCCHECKMARK reads it (a real mark never scans a black slot's contents
   * unless its page was written). */
  volatile uintptr_t zeroing;
  /* Mark assist balance in bytes, negative = debt (assist.h); owner only,
   * reset with the world stopped when a mark begins. */
  int64_t assist_bytes;
  /* Write-barrier buffer (barrier.c): old and new values stored through
   * gc_store during a barrier-mode mark, shaded when full (owner, in a
   * no-stop region) or by mark termination (world stopped). */
  uint32_t wb_n;
  uintptr_t wb[TC_WB_ENTRIES];
} tc_thread_t;

typedef struct tc_threads {
  tc_mutex_t lock;
  tc_thread_t *list;  /* protected by lock */
  int count;          /* protected by lock */
} tc_threads_t;

extern tc_threads_t tc_threads;
extern __thread tc_thread_t *tc_thread_tls __attribute__((tls_model("initial-exec")));

void tc_thread_init(void);

/* The calling thread's record, registering it first if needed. NULL only if
 * metadata memory is exhausted. */
tc_thread_t *tc_thread_current(void);

/* Set while fork() waits for every registered thread to leave its no-stop
 * regions; threads entering one then wait for the fork to finish. */
extern int tc_fork_pending; /* atomic */
void tc_thread_fork_wait(tc_thread_t *t);
void tc_thread_park_deferred(tc_thread_t *t);

TC_INLINE void tc_thread_nostop_enter(tc_thread_t *t) {
  /* Outermost entry: a sequentially consistent increment, so the forking
   * thread (which sets tc_fork_pending, then reads every nostop) and this
   * thread (which bumps nostop, then reads tc_fork_pending) cannot both
   * miss each other. Nested entries are plain. */
  if (t->nostop == 0) {
    __atomic_add_fetch(&t->nostop, 1, __ATOMIC_SEQ_CST);
    if (TC_UNLIKELY(__atomic_load_n(&tc_fork_pending, __ATOMIC_SEQ_CST))) tc_thread_fork_wait(t);
  } else {
    t->nostop++;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

TC_INLINE void tc_thread_nostop_exit(tc_thread_t *t) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_sub_fetch(&t->nostop, 1, __ATOMIC_RELEASE);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (TC_UNLIKELY(t->nostop == 0 && t->stop_deferred)) tc_thread_park_deferred(t);
}

/* A collector lock taken by a mutator outside the allocation slow path:
 * held only inside a no-stop region when the caller is registered. */
TC_INLINE tc_thread_t *tc_mutex_lock_nostop(tc_mutex_t *l) {
  tc_thread_t *t = tc_thread_tls;
  if (t) tc_thread_nostop_enter(t);
  tc_mutex_lock(l);
  return t;
}
TC_INLINE void tc_mutex_unlock_nostop(tc_mutex_t *l, tc_thread_t *t) {
  tc_mutex_unlock(l);
  if (t) tc_thread_nostop_exit(t);
}

/* fork() support. Before: with the registry locked, set tc_fork_pending and
 * wait until no other registered thread is in a no-stop region (all
 * allocator work happens in one), so the child inherits no half-done span
 * operation and no allocator lock held by a vanished thread. The world is
 * not stopped: glibc's fork takes malloc and stdio locks after the prepare
 * handlers, and a thread stopped holding one would deadlock it. */
void tc_thread_fork_quiesce(void);
void tc_thread_fork_release(void);
/* fork() support: the child keeps only the calling thread. */
void tc_thread_after_fork_child(void);

#endif
