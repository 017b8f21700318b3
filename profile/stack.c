/*
 * stack.c - stack capture for sampled allocations (stack.h).
 */
#include "stack.h"

#include <link.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Frames before the first libtricolor frame (the unwinder's own) and
 * libtricolor frames, at most: a window, not a guess at an exact count. */
#define OWN_FRAMES_MAX 16

/* Section bounds, defined by the linker (weak: a section may be empty). */
extern char __start_tc_fastpath[] __attribute__((weak, visibility("hidden")));
extern char __stop_tc_fastpath[] __attribute__((weak, visibility("hidden")));
extern char __start_tc_sampling[] __attribute__((weak, visibility("hidden")));
extern char __stop_tc_sampling[] __attribute__((weak, visibility("hidden")));

/* libtricolor's executable segment when it is a shared library; 0, 0 when
 * it is linked into the program. Written once at init. */
static uintptr_t own_lo, own_hi;

static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg) {
  uintptr_t here = (uintptr_t)&tc_stack_init;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (here < lo || here >= hi) continue;
    /* The main program has an empty name: then the library is part of it
     * and its text cannot be told from the user's. */
    if (info->dlpi_name != NULL && info->dlpi_name[0] != 0) {
      own_lo = lo;
      own_hi = hi;
    }
    return 1;
  }
  return 0;
}

void tc_stack_init(void) { dl_iterate_phdr(find_own_text, NULL); }

/* pc is a return address (or the unwinder's current address): pc - 1 lies
 * in the calling instruction, inside the function even when the call is its
 * last instruction. */
static bool in_sections(uintptr_t pc) {
  uintptr_t a = pc - 1;
  return (a >= (uintptr_t)__start_tc_fastpath && a < (uintptr_t)__stop_tc_fastpath) ||
         (a >= (uintptr_t)__start_tc_sampling && a < (uintptr_t)__stop_tc_sampling);
}

int tc_stack_capture(uintptr_t *pcs, int max) {
  void *buf[TC_STACK_MAX + OWN_FRAMES_MAX];
  int cap = max + OWN_FRAMES_MAX;
  if (cap > (int)TC_ARRAY_LEN(buf)) cap = (int)TC_ARRAY_LEN(buf);
  int n = unw_backtrace(buf, cap);
  if (n <= 0) return 0;
  int start = 0;
  while (start < n && start < OWN_FRAMES_MAX && !in_sections((uintptr_t)buf[start])) start++;
  if (start < n && start < OWN_FRAMES_MAX) {
    while (start < n && in_sections((uintptr_t)buf[start])) start++;
  } else {
    start = 0;
    if (own_hi != 0)
      while (start < n && (uintptr_t)buf[start] - 1 >= own_lo && (uintptr_t)buf[start] - 1 < own_hi)
        start++;
  }
  int k = n - start < max ? n - start : max;
  for (int i = 0; i < k; i++) pcs[i] = (uintptr_t)buf[start + i];
  return k;
}
