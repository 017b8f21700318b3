/*
 * bdw_util.h - helpers for the bdwgc shim tests (programs written against
 * bdwgc's own <gc/gc.h>, linked with libgc.so.1 from tricolor).
 *
 * A conservative collector may keep any one object alive through a stale
 * stack word, so tests that expect objects to die use many of them, wipe
 * the stack between building and collecting, and require most (not all)
 * to go. Tests that expect objects to live require all of them.
 */
#ifndef BDW_UTIL_H
#define BDW_UTIL_H

#include <gc/gc.h>
#include <string.h>

#include "check.h"

/* Zeroes 64 KiB of stack below the caller so stale pointers go. */
static __attribute__((noinline)) void bdw_wipe_stack(void) {
  volatile char buf[64 * 1024];
  memset((char *)buf, 0, sizeof buf);
  __asm__ __volatile__("" : : "r"(buf) : "memory");
}

/* n full collections with a wiped stack before each; runs finalizers. */
static __attribute__((noinline, unused)) void bdw_collect(int n) {
  for (int i = 0; i < n; i++) {
    bdw_wipe_stack();
    GC_gcollect();
  }
  GC_invoke_finalizers();
}

#define BDW_MAIN()                                     \
  int main(int argc, char **argv) {                    \
    GC_INIT();                                         \
    return check_run_all(argc, argv);                  \
  }

#endif
