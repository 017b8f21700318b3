/*
 * pprof_leak.c - a program whose heap grows through one function, for the
 * -diff_base check of test_pprof.sh.
 *
 *   pprof_leak OUTDIR MIB
 *
 * Phase 1 builds a steady working set and churns; OUTDIR/before.pb.gz is
 * written after a collection. Phase 2 churns the same way while
 * leak_entry() adds MIB MiB of 4 KiB entries to a list that is never
 * trimmed; OUTDIR/after.pb.gz follows another collection. Prints
 * "expect leak_entry growth OBJECTS 4096".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#define SITE __attribute__((noinline, noclone))

typedef struct entry {
  struct entry *next;
  char payload[4096 - sizeof(struct entry *)];
} entry_t;

static entry_t *leaked;
static void *working[4096];
static void *volatile sink;

SITE void leak_entry(void) {
  entry_t *e = gc_alloc(sizeof *e);
  e->next = leaked;
  leaked = e;
}

SITE void working_set(int i) { working[i % 4096] = gc_alloc(256); }

SITE void churn(void) { sink = gc_alloc_noscan(1024); }

static int write(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  gc_collect();
  if (gc_write_heap_profile(path) != 0) {
    perror(path);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s OUTDIR MIB\n", argv[0]);
    return 2;
  }
  long entries = atol(argv[2]) * 256; /* 4 KiB each */
  for (int i = 0; i < 4096 * 8; i++) {
    working_set(i);
    churn();
  }
  if (write(argv[1], "before.pb.gz")) return 1;
  for (long i = 0; i < entries; i++) {
    working_set((int)i);
    churn();
    leak_entry();
  }
  if (write(argv[1], "after.pb.gz")) return 1;
  printf("expect leak_entry growth %ld 4096\n", entries);
  return 0;
}
