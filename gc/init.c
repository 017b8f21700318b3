/*
 * init.c - one-time initialization (init.h). Order matters: options first
 * (signals and GCPROCS come from them), then the heap profiler (the sampling
 * rate must be known before the first mcache draws its countdown), the heap,
 * central lists, threads, stop-the-world signals, roots, statistics and the
 * marking mode with the pacer state.
 */
#include "init.h"

#include <pthread.h>

#include "cycle.h"
#include "error.h"
#include "mcentral.h"
#include "mheap.h"
#include "mode.h"
#include "options.h"
#include "pprof.h"
#include "roots.h"
#include "stats.h"
#include "stw.h"
#include "thread.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void) {
  tc_options_init();
  tc_pprof_init(); /* GCPROFILERATE, GCHEAPPROFILE (written at exit) */
  if (!tc_mheap_init()) tc_throw("cannot reserve address space for the heap");
  tc_mcentral_init();
  tc_thread_init();
  tc_stw_init();
  tc_roots_init();
  tc_stats_init();
  tc_mode_init(); /* GCMODE; sets the pacer's goal and trigger */
  pthread_atfork(tc_gc_fork_prepare, tc_gc_fork_parent, tc_gc_fork_child);
}

void tc_gc_ensure_init(void) { pthread_once(&once, init_once); }

__attribute__((constructor)) static void tricolor_constructor(void) {
  tc_gc_ensure_init();
}
