/*
 * pprof_sizes.c - allocation sites with known volumes, for test_pprof.sh.
 *
 *   pprof_sizes OUTDIR SCALE
 *
 * Allocates from three functions, collects, and writes OUTDIR/heap.pb.gz,
 * OUTDIR/allocs.pb.gz and OUTDIR/heap.txt (debug=1 text). Prints one line
 * per expectation, "expect FUNCTION SAMPLE_INDEX OBJECTS SLOT_SIZE", which
 * the script compares with `go tool pprof -top`:
 *   live_small    SCALE * 50000 objects of 64 B, kept (in use)
 *   live_large    SCALE * 8 objects of 1 MiB, kept (in use)
 *   garbage_mid   SCALE * 50000 objects of 512 B, dropped (allocated only)
 * The sizes are exact slot sizes, so the expected bytes are exact; the
 * script allows the sampling error of the rate in GCPROFILERATE.
 * The functions are extern, noinline and noclone, and store their results,
 * so each is a frame of its own under its own name.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tricolor.h>

#define SITE __attribute__((noinline, noclone))

static void **small_objs, **large_objs;
static void *volatile sink;

SITE void live_small(long n) {
  for (long i = 0; i < n; i++) small_objs[i] = gc_alloc(64);
}

SITE void live_large(long n) {
  for (long i = 0; i < n; i++) large_objs[i] = gc_alloc_noscan(1 << 20);
}

SITE void garbage_mid(long n) {
  for (long i = 0; i < n; i++) sink = gc_alloc_noscan(512);
  sink = NULL; /* the last one is garbage too */
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s OUTDIR SCALE\n", argv[0]);
    return 2;
  }
  long scale = atol(argv[2]);
  long nsmall = 50000 * scale, nlarge = 8 * scale, ngarbage = 50000 * scale;
  /* Kept in GC memory reachable from globals: the objects stay live. */
  small_objs = gc_alloc((size_t)nsmall * sizeof(void *));
  large_objs = gc_alloc((size_t)nlarge * sizeof(void *));
  live_small(nsmall);
  live_large(nlarge);
  garbage_mid(ngarbage);
  gc_collect();
  char path[4096];
  snprintf(path, sizeof path, "%s/heap.pb.gz", argv[1]);
  if (gc_write_heap_profile(path) != 0) return perror(path), 1;
  snprintf(path, sizeof path, "%s/allocs.pb.gz", argv[1]);
  if (gc_write_allocs_profile(path) != 0) return perror(path), 1;
  snprintf(path, sizeof path, "%s/heap.txt", argv[1]);
  FILE *f = fopen(path, "w");
  if (f == NULL || gc_write_heap_profile_text(f) != 0 || fclose(f) != 0) return perror(path), 1;
  printf("expect live_small inuse %ld 64\n", nsmall);
  printf("expect live_large inuse %ld 1048576\n", nlarge);
  printf("expect live_small alloc %ld 64\n", nsmall);
  printf("expect live_large alloc %ld 1048576\n", nlarge);
  printf("expect garbage_mid alloc %ld 512\n", ngarbage);
  return 0;
}
