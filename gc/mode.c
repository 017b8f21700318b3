/*
 * mode.c - GCMODE and gc_set_mode (mode.h).
 */
#include "mode.h"

#include <errno.h>

#include <tricolor.h>

#include "arena.h"
#include "cycle.h"
#include "dirty.h"
#include "error.h"
#include "options.h"

static const char *why_stw; /* set when concurrent mode fell back */

static int choose(int mode) {
  if (mode == TC_MODE_CONCURRENT && !tc_dirty_enabled()) {
    const char *why = "unknown";
    if (!tc_dirty_init(&why)) {
      why_stw = why;
      if (tc_options.trace)
        tc_warn("GCMODE=concurrent needs userfaultfd write-protect with PAGEMAP_SCAN "
                "(Linux 6.7+): %s; marking with the world stopped (GCMODE=stw)", why);
      mode = TC_MODE_STW;
    }
  }
  tc_gc.mode = mode;
  tc_gc_init(); /* the trigger depends on the mode */
  return mode;
}

void tc_mode_init(void) { choose(tc_options.mode); }

__attribute__((visibility("default"))) int gc_set_mode(gc_mode_t mode) {
  if ((int)mode < TC_MODE_CONCURRENT || (int)mode > TC_MODE_STW) {
    errno = EINVAL;
    return -1;
  }
  if (tc_atomic_load_acquire(&tc_arenas.committed) != 0) {
    errno = EBUSY;
    return -1;
  }
  choose((int)mode);
  return 0;
}

__attribute__((visibility("default"))) gc_mode_t gc_get_mode(void) {
  return (gc_mode_t)tc_gc.mode;
}
