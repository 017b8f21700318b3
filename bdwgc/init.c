/*
 * init.c - the shim's one-time initialization and GC_init.
 *
 * Owns: bdw_ready and the order of start-up: tricolor itself first (its
 * options: GCPERCENT, GCMODE, GCTRACE, GCHEAPPROFILE ...), then bdwgc's
 * environment variables (env.c), then the two decisions that make
 * unmodified bdwgc programs safe on tricolor:
 *   - GCMODE=barrier trusts every heap-to-heap pointer store to go through
 *     gc_store, which bdwgc programs never do: the shim marks with
 *     GCMODE=concurrent (kernel dirty-page tracking, or stw where the
 *     kernel lacks it) instead, and says so once on stderr when GCTRACE is
 *     set. This happens before the heap is first used (gc_set_mode).
 *   - finalizers run on the allocating thread, inside GC_malloc & co. and
 *     GC_gcollect (as bdwgc runs them), not on tricolor's finalizer thread,
 *     so a single-threaded program never sees its finalizers run
 *     concurrently with itself.
 * Invariant: bdw_ready is 1 only after all of that; every entry point
 * calls bdw_init() first. A constructor runs it at load time as well, so
 * the environment applies from the start.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <tricolor.h>

#include "error.h"
#include "finalizer.h"
#include "init.h"
#include "options.h"
#include "shim.h"

int bdw_ready;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void) {
  tc_gc_ensure_init();
  if (gc_get_mode() == GC_MODE_BARRIER) {
    if (gc_set_mode(GC_MODE_CONCURRENT) != 0)
      tc_throw("bdwgc shim: cannot leave GCMODE=barrier (%s); unmodified bdwgc programs "
               "do not store heap pointers through gc_store", strerror(errno));
    if (tc_options.trace)
      tc_warn("bdwgc shim: GCMODE=barrier needs every heap pointer store to go through "
              "gc_store, which bdwgc programs do not do; marking with GCMODE=%s instead",
              gc_get_mode() == GC_MODE_CONCURRENT ? "concurrent" : "stw");
  }
  tc_finalizer_set_thread(false);
  bdw_env_apply();
  __atomic_store_n(&bdw_ready, 1, __ATOMIC_RELEASE);
}

void bdw_init_slow(void) { pthread_once(&once, init_once); }

__attribute__((constructor)) static void bdw_constructor(void) { bdw_init(); }

BDW_API void GC_init(void) { bdw_init(); }

BDW_API int GC_is_init_called(void) { return __atomic_load_n(&bdw_ready, __ATOMIC_ACQUIRE); }
