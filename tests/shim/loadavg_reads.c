/*
 * loadavg_reads.c - an LD_PRELOAD shim for test_idle_workers.sh: counts the
 * pread() calls on /proc/loadavg, the fractional mark worker's look at the
 * machine's run queues (gc/os.c, tc_os_runnable), and writes the count to
 * the file named by $LOADAVG_READS_OUT when the program exits.
 *
 * The descriptor is recognized through /proc/self/fd once and remembered:
 * the collector opens /proc/loadavg once and keeps it open.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static atomic_long reads;
static atomic_int loadavg_fd = -1;

static int is_loadavg(int fd) {
  if (fd == atomic_load(&loadavg_fd)) return 1;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  if (strcmp(path, "/proc/loadavg") != 0) return 0;
  atomic_store(&loadavg_fd, fd);
  return 1;
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static ssize_t counted(const char *name, int fd, void *buf, size_t count, off_t off) {
  static _Atomic(pread_fn) real[2];
  int which = name[5] == '6'; /* "pread64" */
  pread_fn f = atomic_load(&real[which]);
  if (f == NULL) {
    f = (pread_fn)dlsym(RTLD_NEXT, name);
    atomic_store(&real[which], f);
  }
  if (is_loadavg(fd)) atomic_fetch_add(&reads, 1);
  return f(fd, buf, count, off);
}

ssize_t pread(int fd, void *buf, size_t count, off_t off) {
  return counted("pread", fd, buf, count, off);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t off) {
  return counted("pread64", fd, buf, count, off);
}

__attribute__((destructor)) static void report(void) {
  const char *out = getenv("LOADAVG_READS_OUT");
  if (out == NULL) return;
  FILE *f = fopen(out, "w");
  if (f == NULL) return;
  fprintf(f, "%ld\n", atomic_load(&reads));
  fclose(f);
}
