/*
 * os.c - the OS seam (see os.h for each verb's contract). Only this file,
 * stw.c, thread.c, roots.c and dirty.c make system calls.
 */
#include "os.h"

#include <pthread.h>

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void *tc_os_reserve(size_t n, size_t align) {
  /* Over-reserve by align and trim both ends so the result is aligned. */
  size_t len = n + align;
  char *p = mmap(NULL, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  uintptr_t start = tc_align_up((uintptr_t)p, align);
  size_t head = start - (uintptr_t)p;
  size_t tail = len - head - n;
  if (head) munmap(p, head);
  if (tail) munmap((char *)start + n, tail);
  return (void *)start;
}

bool tc_os_commit(void *p, size_t n) {
  /* A fixed anonymous mapping over the reservation: the pages are backed on
   * first touch and not charged to the commit limit (MAP_NORESERVE). */
  void *r = mmap(p, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return r == p;
}

void tc_os_decommit(void *p, size_t n) {
  int saved = errno;
  madvise(p, n, MADV_DONTNEED);
  errno = saved;
}

void *tc_os_alloc(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void tc_os_free(void *p, size_t n) { munmap(p, n); }

int tc_os_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tc_nanotime(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t tc_unixnanos(void) { return clock_ns(CLOCK_REALTIME); }
uint64_t tc_thread_cputime(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

int tc_os_thread_start(void *(*fn)(void *), pthread_t *out) {
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&th, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  if (err == 0 && out) *out = th;
  return err;
}
