/*
 * os.h - the OS seam: every mmap/mprotect/madvise, clock and CPU-affinity change the
 * collector uses.
 * Contracts:
 *   tc_os_reserve(n, align)  address space, PROT_NONE, no memory charged; NULL on failure.
 *   tc_os_commit(p, n)       make [p, p+n) readable and writable (zero-filled on first touch).
 *   tc_os_decommit(p, n)     return the pages' memory to the OS; contents become zero.
 *   tc_os_alloc(n)           fresh zeroed RW anonymous memory for metadata; NULL on failure.
 *   tc_os_free(p, n)         unmap memory from tc_os_alloc.
 *   tc_os_thread_start(fn, out)  a detached thread running fn(NULL) (the
 *                            collector's own: coordinator, markers, sweeper,
 *                            scavenger, finalizer thread); 0 or the error,
 *                            its id in *out when out is not NULL.
 *   tc_os_ncpu()             CPUs this process may run on (its affinity mask);
 *                            tc_os_online_cpus() the machine's online CPUs.
 *   tc_os_runnable()         threads the machine has running or ready to run
 *                            right now, the caller included (the kernel's
 *                            nr_running, from /proc/loadavg); -1 if unknown.
 *   tc_os_thread_slice(ns)   ask the scheduler for time slices of ns for the
 *                            calling thread (Linux >= 6.12 EEVDF custom
 *                            slice: same CPU share, earlier deadlines, so it
 *                            is picked sooner and not preempted by wake-ups);
 *                            returns the slice it replaced, to be restored
 *                            with another call, or 0 if nothing changed
 *                            (unsupported, another policy, already ns).
 *   tc_os_futex_wait(w, v, ns)  sleep while *w == v, at most ns (0: no
 *                            limit); returns at once if *w != v, and may
 *                            return early (signal, spurious wake-up).
 *   tc_os_futex_wake(w)      wake every thread sleeping on w.
 *   tc_os_read_file(path, buf, n)  up to n - 1 bytes of a file into buf,
 *                            NUL-terminated (plain system calls, no stdio, no
 *                            allocation); the length read, or -1.
 *   tc_os_cpu_ticks(&idle, &total)  the machine's idle and total CPU time
 *                            since boot, in clock ticks; false if unknown.
 */
#ifndef TC_OS_H
#define TC_OS_H

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <time.h>

#include "base.h"

void *tc_os_reserve(size_t n, size_t align);
bool tc_os_commit(void *p, size_t n);
void tc_os_decommit(void *p, size_t n);
void *tc_os_alloc(size_t n);
void tc_os_free(void *p, size_t n);
int tc_os_thread_start(void *(*fn)(void *), pthread_t *out);
int tc_os_ncpu(void);
int tc_os_online_cpus(void);
int tc_os_runnable(void);
uint64_t tc_os_thread_slice(uint64_t ns);
void tc_os_futex_wait(uint32_t *w, uint32_t v, uint64_t ns);
void tc_os_futex_wake(uint32_t *w);
bool tc_os_cpu_ticks(uint64_t *idle, uint64_t *total);
ssize_t tc_os_read_file(const char *path, char *buf, size_t n);
uint64_t tc_nanotime(void);   /* monotonic ns */
uint64_t tc_unixnanos(void);  /* wall clock, Unix ns */
uint64_t tc_thread_cputime(void); /* calling thread's CPU ns */
bool tc_os_clock_ns(clockid_t id, uint64_t *ns); /* any clock (a thread's CPU clock) */
/* Pins thread tid to cpu, saving its mask in *old, if that mask allows cpu
 * and more than one CPU (the program's own pinning is kept); false if not
 * pinned. tc_os_unpin_thread puts *old back. */
bool tc_os_pin_thread(pid_t tid, int cpu, cpu_set_t *old);
void tc_os_unpin_thread(pid_t tid, const cpu_set_t *old);

#endif
