/*
 * stw.c - stop/start the world (stw.h).
 */
#include "stw.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>

#include "atomic.h"
#include "error.h"
#include "mcache.h"
#include "options.h"
#include "os.h"
#include "thread.h"

static struct {
  sem_t ack;             /* one post per suspend signal handled */
  uint32_t epoch;        /* atomic; bumped to restart the world */
  uint32_t aside;        /* atomic; collector threads waiting in step_aside */
  sigset_t park_mask;    /* mask while parked: all but those that end a program */
  sigset_t wait_mask;    /* blocked during a blocked wait: all but faults */
  bool stopped;          /* world stopped; collector only */
  bool holding_aside;    /* a stop keeps collector threads aside until its restart */
  uint64_t signal_wall;  /* when the current stop read the threads' CPU clocks */
} stw;

uint32_t tc_stw_stopping;
uint64_t tc_stw_rescues;

/* Stopped while running a handler on an alternate signal stack: the
 * collector must scan that stack too (sigaltstack is a plain system call,
 * safe in a handler). */
static void note_altstack(tc_thread_t *t) {
  stack_t ss;
  if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
    t->alt_lo = (uintptr_t)ss.ss_sp;
    t->alt_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
  } else {
    t->alt_lo = t->alt_hi = 0;
  }
}

/* A parked thread waits until a restart changes its own state, sleeping on
 * the epoch word; a restart stores the states, then bumps the epoch and
 * wakes every sleeper with one futex call. A thread the restart did not
 * select (the throttle restarts only its writers) finds its state still
 * PARKED and sleeps again. Woken one by one (a restart signal each), the
 * first thread woken preempted the restarter, whose CPU share was spent on
 * the pause's work, and the others stayed parked for its whole time slice
 * (up to 4 ms; docs/performance.md, "What holds a stop"). The program's
 * signals stay blocked while parked (park_mask), as sigsuspend's mask used
 * to keep them: a handler run meanwhile could touch the heap. */
static void park(tc_thread_t *t) {
  /* Spill callee-saved registers into this frame so the scan from stop_sp
   * sees them (the handler path also has them in the signal frame). */
  __builtin_unwind_init();
  volatile uintptr_t marker = 0;
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, &stw.park_mask, &old);
  t->stop_sp = (uintptr_t)&marker;
  note_altstack(t);
  tc_atomic_store_release(&t->stop_state, TC_STOP_PARKED);
  sem_post(&stw.ack);
  for (;;) {
    /* The epoch before the state (the restart's order reversed), so the
     * wait returns at once if the restart came in between. */
    uint32_t e = tc_atomic_load_seq_cst(&stw.epoch);
    if (tc_atomic_load_seq_cst(&t->stop_state) != TC_STOP_PARKED) break;
    tc_os_futex_wait(&stw.epoch, e, 0);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  (void)marker;
}

void tc_stw_park(tc_thread_t *t) {
  int saved = errno;
  park(t);
  errno = saved;
}

/* Records a stack pointer below the caller's frame: the whole frame, with
 * the registers it spilled, lies above it. */
static TC_NOINLINE void note_sp_below_caller(tc_thread_t *t) {
  volatile uintptr_t marker = 0;
  t->stop_sp = (uintptr_t)&marker;
  (void)marker;
}

/* Leaves the blocked state; a stop that took the thread meanwhile is over
 * only when the restart turns BLOCKED_PARKED back into BLOCKED. While a
 * stop is still signalling threads, the thread stays blocked and waits
 * with the collector threads (tc_stw_step_aside): woken meanwhile (by
 * assist credit, a lock), it used to preempt the stopper between two
 * signals and run for most of a millisecond before the stopper could
 * signal the rest (docs/performance.md, "What holds a stop"). */
static void unblock(tc_thread_t *t) {
  tc_stw_step_aside();
  for (;;) {
    /* The epoch before the state: a restart stores the state, then bumps
     * the epoch and wakes its waiters (start_selected). */
    uint32_t e = tc_atomic_load_seq_cst(&stw.epoch);
    int s = TC_STOP_BLOCKED;
    if (tc_atomic_cas_acq_rel(&t->stop_state, &s, TC_STOP_RUNNING)) return;
    if (s != TC_STOP_BLOCKED_PARKED)
      tc_throw("thread %d left a blocked wait in stop state %d", (int)t->tid, s);
    tc_os_futex_wait(&stw.epoch, e, 1000000);
  }
}

/* Bytes of dead stack below a blocking wait's frame cleared before it
 * sleeps (Boehm's GC_clear_stack): frames built there later keep whatever
 * they do not overwrite, and a stop scans them. A signal used to overwrite
 * this area with its frame (a few KiB with the vector state) at every
 * stop of a sleeping thread; without it, stale pointers lingered and held
 * dead objects (test_pool's pooled buffers, one run in ten). */
#define CLEAR_BELOW_WAIT 8192

static TC_NOINLINE void clear_dead_stack(void) {
  volatile char buf[CLEAR_BELOW_WAIT];
  memset((char *)buf, 0, sizeof buf);
  __asm__ __volatile__("" : : "r"(buf) : "memory");
}

void tc_stw_blocking(tc_thread_t *t, void (*fn)(void *), void *arg) {
  if (t == NULL || t->nostop > 0) {
    fn(arg);
    return;
  }
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (here >= t->stack_lo + CLEAR_BELOW_WAIT + 16384 && here <= t->stack_hi) clear_dead_stack();
  /* Every callee-saved register, and with it any heap pointer the program
   * keeps in one, goes into this frame, which stays put until fn returns:
   * scanning from below it sees what a signal frame would have shown. */
  __builtin_unwind_init();
  /* The program's signal handlers wait until the wait is over: one running
   * meanwhile would touch the heap while a stop counts the thread as
   * parked (and would move its stack pointer). Faults stay deliverable. */
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &stw.wait_mask, &old);
  bool blocked = false;
  if (tc_atomic_load_acquire(&t->stop_state) == TC_STOP_RUNNING) {
    note_sp_below_caller(t);
    note_altstack(t);
    /* Fails if a stop signalled this thread meanwhile: the signal, pending
     * until the mask is restored, then parks it as anywhere else. */
    int want = TC_STOP_RUNNING;
    blocked = tc_atomic_cas_acq_rel(&t->stop_state, &want, TC_STOP_BLOCKED);
  }
  if (!blocked) pthread_sigmask(SIG_SETMASK, &old, NULL);
  fn(arg);
  if (blocked) {
    unblock(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  __asm__ __volatile__("" ::: "memory");
}

static void no_wait(void *arg) { (void)arg; }

void tc_stw_yield_slow(tc_thread_t *t) {
  /* A blocked wait of nothing: the stop takes the thread as it is, and
   * unblock waits until the stop has signalled the rest (inside a no-stop
   * region it does nothing: tc_stw_blocking then just calls no_wait). */
  tc_stw_blocking(t, no_wait, NULL);
}

void tc_stw_step_aside_slow(void) {
  tc_atomic_add_seq_cst(&stw.aside, 1);
  uint32_t s;
  while ((s = tc_atomic_load_seq_cst(&tc_stw_stopping)) != 0)
    tc_os_futex_wait(&tc_stw_stopping, s, 1000000);
  tc_atomic_sub_seq_cst(&stw.aside, 1);
}

static void suspend_handler(int sig, siginfo_t *info, void *uctx) {
  int saved = errno;
  tc_thread_t *t = tc_thread_tls;
  if (t == NULL) goto out;
  if (t->nostop > 0) {
    t->stop_deferred = 1;
    goto out;
  }
  /* In the fast path (also when a handler of the program interrupted it and
   * this signal landed in that handler): its exit parks the thread (stw.h).
   * The shared empty cache is never the fast path's (it allocates nothing
   * there); the thread parks here. */
  tc_mcache_t *c = tc_mcache_tls;
  if (c != &tc_empty_mcache && c->in_fastpath) {
    c->stop_waiting = 1;
    goto out;
  }
  park(t);
out:
  errno = saved;
}

void *tc_stw_fastpath_park(tc_mcache_t *c, void *p) {
  c->stop_waiting = 0;
  tc_thread_t *t = tc_thread_tls;
  if (t != NULL) tc_stw_park(t);
  /* p lives in this frame (or a register park spills) until here. */
  __asm__ __volatile__("" : : "r"(p) : "memory");
  return p;
}

/* The restart signal (GCSIGRESTART) is not sent any more: a restart is one
 * futex broadcast (park). It stays reserved, as Boehm's is
 * (GC_get_thr_restart_signal), with a handler that ignores it. */
static void restart_handler(int sig) {}

void tc_stw_init(void) {
  if (sem_init(&stw.ack, 0, 0) != 0) tc_throw("sem_init failed");
  struct sigaction sa = {0};
  sa.sa_sigaction = suspend_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, tc_options.sig_restart);
  if (sigaction(tc_options.sig_suspend, &sa, NULL) != 0)
    tc_throw("sigaction(%d) failed", tc_options.sig_suspend);
  struct sigaction ra = {0};
  ra.sa_handler = restart_handler;
  ra.sa_flags = SA_RESTART;
  /* A suspend landing in this handler would see only the handler's PC: it
   * waits until the handler has returned. */
  sigemptyset(&ra.sa_mask);
  sigaddset(&ra.sa_mask, tc_options.sig_suspend);
  if (sigaction(tc_options.sig_restart, &ra, NULL) != 0)
    tc_throw("sigaction(%d) failed", tc_options.sig_restart);
  sigfillset(&stw.wait_mask);
  sigdelset(&stw.wait_mask, SIGSEGV);
  sigdelset(&stw.wait_mask, SIGBUS);
  sigdelset(&stw.wait_mask, SIGILL);
  sigdelset(&stw.wait_mask, SIGFPE);
  sigdelset(&stw.wait_mask, SIGTRAP);
  sigdelset(&stw.wait_mask, SIGSYS);
  sigfillset(&stw.park_mask);
  /* A stuck program can still be interrupted or killed. */
  sigdelset(&stw.park_mask, SIGINT);
  sigdelset(&stw.park_mask, SIGQUIT);
  sigdelset(&stw.park_mask, SIGTERM);
  sigdelset(&stw.park_mask, SIGABRT);
}

static void ack_wait(void) {
  while (sem_wait(&stw.ack) != 0) {
    if (errno != EINTR) tc_throw("sem_wait failed");
  }
}

/* How long a stopper polls for acknowledgements before it sleeps. */
#define ACK_POLL_NS 1000000

uint64_t tc_stw_rescue_after_ns = 250000;
/* CPU time a signalled thread may have used and still count as not run. */
#define RESCUE_RAN_NS 20000

/* Moves the threads this stop still waits for (signalled, not parked) onto
 * the stopper's own CPU, where it yields to them. A thread that took long
 * to park was, in the traces, runnable but queued behind something else on
 * the other CPU: a kernel thread (kdamond, rcu) holding it for 1-3 ms, a
 * profiler, or a virtual CPU the hypervisor had descheduled for 20 ms
 * (steal), while the stopper's CPU went idle (docs/performance.md, "What
 * holds a stop"). The scheduler does not pull a waiting thread to an idle
 * CPU that fast; sched_setaffinity moves a queued thread at once. Only
 * threads whose own mask allows this CPU: the program's pinning is kept.
 * System calls only (no allocation, no lock a stopped thread holds). */
static unsigned rescue(const tc_thread_t *self) {
  int cpu = sched_getcpu();
  unsigned n = 0;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    if (t == self || t->rescued || tc_atomic_load_acquire(&t->stop_state) != TC_STOP_PENDING)
      continue;
    /* Only a thread that has not run since it was signalled: moving a
     * running one waits until the kernel's migration thread gets its CPU,
     * and the running thread reaches its park by itself. */
    uint64_t ran;
    if (!t->has_cpu_clock || stw.signal_wall == 0 || t->stop_wall_ns != stw.signal_wall ||
        !tc_os_clock_ns(t->cpu_clock, &ran) || ran - t->stop_cpu_ns > RESCUE_RAN_NS)
      continue;
    if (tc_os_pin_thread(t->tid, cpu, &t->rescue_mask)) {
      t->rescued = true;
      n++;
    }
  }
  return n;
}

/* Puts back the masks rescue changed; every thread has parked by now, so
 * none runs with the stopper's mask outside the collector. */
static void unrescue(void) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    if (!t->rescued) continue;
    t->rescued = false;
    tc_os_unpin_thread(t->tid, &t->rescue_mask);
  }
}

/* How long a stopper polls without yielding while no thread it waits for
 * wants its CPU (cpu_wanted); then it yields for a round of polls all the
 * same. */
#define SPIN_MAX_NS 50000
/* Pause instructions between two polls of a spinning stopper (~1 us). */
#define SPIN_PAUSES 32

/* Whether a thread this stop still waits for may be queued on cpu, the
 * stopper's: one whose rseq cpu_id (the CPU it last ran on) is cpu, or
 * one whose CPU is unknown. A woken sleeper may be queued on a CPU its
 * cpu_id does not name yet (it has not run there); SPIN_MAX_NS bounds what
 * that costs. */
static bool cpu_wanted(const tc_thread_t *self, int cpu) {
  if (cpu < 0) return true;
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    if (t == self || tc_atomic_load_acquire(&t->stop_state) != TC_STOP_PENDING) continue;
    if (t->rseq_cpu == NULL) return true;
    uint32_t c = *t->rseq_cpu;
    if (c == (uint32_t)cpu || c > (uint32_t)INT_MAX) return true; /* negative: unregistered */
  }
  return false;
}

/* Waits for n acknowledgements. For up to ACK_POLL_NS it polls, and only
 * then sleeps: a sleeping stopper lets its virtual CPU halt, and the last
 * acknowledgement's wake-up must then wait for the hypervisor to run that
 * vCPU again, up to 3 ms on this machine (docs/performance.md, "Sleepers
 * last"). Between polls it yields its CPU when a thread it waits for may
 * be queued there (cpu_wanted), and spins otherwise: a yield with nothing
 * of ours queued hands the CPU to whatever else is, and a kernel thread
 * given it so (kdamond) kept it for its whole 3 ms slice while both
 * awaited threads parked on the other CPU within 0.1 ms
 * (docs/performance.md, "Stopping: what the traces add"). After
 * tc_stw_rescue_after_ns the threads still awaited are moved to this CPU
 * (rescue), and it yields to them. */
static void ack_wait_n(const tc_thread_t *self, unsigned n) {
  uint64_t start = 0, yielded = 0;
  unsigned polls = 0;
  bool rescued = false, yield = true;
  while (n > 0) {
    if (sem_trywait(&stw.ack) == 0) {
      n--;
      continue;
    }
    if (polls++ % 16 == 0) {
      uint64_t now = tc_nanotime();
      if (start == 0) start = yielded = now;
      if (!rescued && now - start >= tc_stw_rescue_after_ns) {
        rescued = true;
        if (rescue(self) > 0) tc_atomic_add_relaxed(&tc_stw_rescues, 1);
      }
      if (now - start > ACK_POLL_NS) break;
      yield = rescued || now - yielded >= SPIN_MAX_NS || cpu_wanted(self, sched_getcpu());
      if (yield) yielded = now;
    }
    if (yield) {
      sched_yield();
    } else {
      for (int i = 0; i < SPIN_PAUSES; i++) tc_cpu_relax();
    }
  }
  for (; n > 0; n--) ack_wait();
  if (rescued) unrescue();
}

static bool signal_thread(tc_thread_t *t, int sig) {
  int err = pthread_kill(t->pthread, sig);
  if (err == 0) return true;
  tc_throw("cannot signal thread %d (error %d): a registered thread exited "
           "without unregistering", (int)t->tid, err);
}

/* Which threads a stop or restart is for: all (but the caller), those the
 * write throttle flagged, those of them still running, the unflagged ones. */
enum { SEL_ALL, SEL_THROTTLED, SEL_THROTTLED_RUNNING, SEL_REST };

static bool selected(const tc_thread_t *t, const tc_thread_t *self, int sel) {
  if (t == self) return false;
  if (sel == SEL_ALL) return true;
  if (sel == SEL_REST) return !t->throttled;
  if (sel == SEL_THROTTLED) return t->throttled;
  /* Throttled ones not parked yet (the final stretch adds writers). A
   * blocked one counts as not parked: it may have blocked since claim's
   * take_blocked looked (tc_stw_yield blocks as soon as a stop begins), and
   * claim then takes it on its next turn. */
  if (!t->throttled) return false;
  int s = tc_atomic_load_acquire(&t->stop_state);
  return s == TC_STOP_RUNNING || s == TC_STOP_BLOCKED;
}

/* Takes a thread blocked in the collector as it is (true): for a stop that
 * leaves the world stopped any such thread, throttled or not; for the
 * throttle's stops the flagged ones, which would otherwise write again as
 * soon as their wait ends. */
static bool take_blocked(tc_thread_t *t, const tc_thread_t *self, int sel) {
  if (t == self || (sel == SEL_THROTTLED_RUNNING && !t->throttled)) return false;
  int s = TC_STOP_BLOCKED;
  return tc_atomic_cas_acq_rel(&t->stop_state, &s, TC_STOP_BLOCKED_PARKED);
}

/* Whether thread t is to be signalled for this stop (its state is then
 * PENDING); a blocked one is taken as it is, or left alone. */
static bool claim(tc_thread_t *t, const tc_thread_t *self, int sel) {
  for (;;) {
    if (take_blocked(t, self, sel) || !selected(t, self, sel)) return false;
    int want = TC_STOP_RUNNING;
    if (tc_atomic_cas_acq_rel(&t->stop_state, &want, TC_STOP_PENDING)) return true;
    /* It blocked since take_blocked looked, and may have left again. */
    if (want != TC_STOP_BLOCKED)
      tc_throw("stop: thread %d in stop state %d (selection %d)", (int)t->tid, want, sel);
  }
}

/* Stops classify at most this many threads (one system call each). */
#define ORDER_MAX_THREADS 32

/* Sets signal_late on the threads that used less than half a CPU since the
 * previous stop: most likely asleep in a system call now. A sleeping
 * thread's signal wakes it, often onto the stopper's CPU, where it preempts
 * the stopper (the coordinator marks, so the scheduler owes it nothing).
 * When it parks, that CPU goes to a program thread queued there, for a
 * whole time slice, unless that thread's signal is already pending; a
 * signal to a thread that is running or queued preempts nobody. So the
 * busy threads are signalled first (docs/performance.md, "Sleepers
 * last"). */
static void order_signals(const tc_thread_t *self) {
  bool classify = tc_threads.count <= ORDER_MAX_THREADS;
  uint64_t wall = classify ? tc_nanotime() : 0;
  stw.signal_wall = wall; /* 0: no reading (rescue then leaves them) */
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    t->signal_late = false;
    uint64_t cpu;
    if (!classify || t == self || !t->has_cpu_clock || !tc_os_clock_ns(t->cpu_clock, &cpu))
      continue;
    if (t->stop_wall_ns != 0 && wall > t->stop_wall_ns)
      t->signal_late = (cpu - t->stop_cpu_ns) * 2 < wall - t->stop_wall_ns;
    t->stop_cpu_ns = cpu;
    t->stop_wall_ns = wall;
  }
}

/* Ends a stop's claim on collector threads (tc_stw_step_aside). */
static void release_aside(void) {
  tc_atomic_sub_seq_cst(&tc_stw_stopping, 1);
  if (tc_atomic_load_seq_cst(&stw.aside) > 0) tc_os_futex_wake(&tc_stw_stopping);
  tc_atomic_fence_seq_cst();
}

/* Signals every selected thread and waits until each has parked (a thread
 * in a no-stop region or the fast path parks when it leaves); the busy ones
 * first (order_signals). Threads blocked in the collector are taken
 * without a signal. Collector threads step aside meanwhile
 * (tc_stw_step_aside): a CPU they hold is one a thread that must reach its
 * handler may be queued behind, for a whole time slice. hold_aside keeps
 * them aside until tc_stw_start. */
static void stop_selected(tc_thread_t *self, int sel, bool hold_aside) {
  unsigned sent = 0;
  tc_atomic_add_seq_cst(&tc_stw_stopping, 1);
  order_signals(self);
  for (int late = 0; late <= 1; late++)
    for (tc_thread_t *t = tc_threads.list; t; t = t->next)
      if (t->signal_late == late && claim(t, self, sel) && signal_thread(t, tc_options.sig_suspend))
        sent++;
  ack_wait_n(self, sent);
  if (TC_DEBUG >= 1) {
    for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
      if (t == self || !(sel == SEL_ALL || sel == SEL_REST || t->throttled)) continue;
      int s = tc_atomic_load_acquire(&t->stop_state);
      if (s != TC_STOP_PARKED && s != TC_STOP_BLOCKED_PARKED)
        tc_throw("thread %d did not stop (stop state %d, selection %d, throttled %d)", (int)t->tid,
                 s, sel, (int)t->throttled);
    }
  }
  if (hold_aside)
    stw.holding_aside = true; /* released by tc_stw_start */
  else
    release_aside();
}

/* Releases the selected threads, then wakes every waiter at once (park,
 * unblock); one not selected sees its state unchanged and waits again.
 * Returns when the release was complete: the wake-up call's return can be
 * late, for the threads it woke may take the caller's CPU first. */
static uint64_t start_selected(tc_thread_t *self, int sel) {
  for (tc_thread_t *t = tc_threads.list; t; t = t->next) {
    if (t == self) continue;
    int s = tc_atomic_load_acquire(&t->stop_state);
    /* Only the restart changes BLOCKED_PARKED (the thread waits for it). */
    if (s == TC_STOP_BLOCKED_PARKED && (sel != SEL_THROTTLED || t->throttled))
      tc_atomic_store_release(&t->stop_state, TC_STOP_BLOCKED);
    else if (selected(t, self, sel) && s == TC_STOP_PARKED)
      tc_atomic_store_release(&t->stop_state, TC_STOP_RUNNING);
  }
  tc_atomic_add_seq_cst(&stw.epoch, 1);
  uint64_t released = tc_nanotime();
  tc_os_futex_wake(&stw.epoch);
  return released;
}

void tc_stw_stop(tc_thread_t *self, bool hold_collector) {
  stop_selected(self, SEL_ALL, hold_collector);
  stw.stopped = true;
}

uint64_t tc_stw_start(tc_thread_t *self) {
  stw.stopped = false;
  tc_atomic_fence_seq_cst();
  uint64_t released = start_selected(self, SEL_ALL);
  if (stw.holding_aside) {
    stw.holding_aside = false;
    release_aside();
  }
  return released;
}

void tc_stw_stop_throttled(void) { stop_selected(NULL, SEL_THROTTLED_RUNNING, false); }

void tc_stw_start_throttled(void) { (void)start_selected(NULL, SEL_THROTTLED); }

void tc_stw_stop_rest(void) {
  stop_selected(NULL, SEL_REST, false);
  stw.stopped = true;
}

bool tc_stw_world_stopped(void) { return stw.stopped; }
