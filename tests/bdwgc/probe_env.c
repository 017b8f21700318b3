/*
 * probe_env.c - driven by test_env.sh: allocates 64 MiB of garbage in
 * 64 KiB pieces through GC_malloc and prints "gc_no N heap H"; with the
 * argument "keep", builds a live 16 MiB list instead and prints "oom" if an
 * allocation fails. Its main also checks that the program runs when it
 * never calls GC_INIT (as Debian's binaries do not).
 */
#include <gc/gc.h>
#include <stdio.h>
#include <string.h>

static __attribute__((noinline)) void make_garbage(void) {
  for (int i = 0; i < 1024; i++) {
    char *p = GC_MALLOC_ATOMIC(64 << 10);
    p[0] = (char)i;
  }
}

static void **volatile keep;

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "keep") == 0) {
    for (int i = 0; i < 256; i++) {
      void **b = GC_MALLOC(64 << 10);
      if (b == NULL) {
        puts("oom");
        return 0;
      }
      b[0] = keep;
      keep = b;
    }
    puts("kept");
    return 0;
  }
  make_garbage();
  printf("gc_no %lu heap %zu\n", (unsigned long)GC_get_gc_no(), GC_get_heap_size());
  return 0;
}
