/*
 * env.c - bdwgc's environment variables, read once at start (init.c).
 *
 * Owns the mapping (docs/bdwgc.md):
 *   GC_PRINT_STATS          turns on GCTRACE=1 (one gctrace line per cycle)
 *   GC_DONT_GC              collection starts disabled (GC_dont_gc = 1)
 *   GC_FREE_SPACE_DIVISOR=d GCPERCENT = 100/d, unless GCPERCENT is set
 *   GC_MAXIMUM_HEAP_SIZE=n  hard cap of the shim's allocations (k/M/G)
 *   GC_INITIAL_HEAP_SIZE=n  accepted (syntax checked); tricolor grows its
 *                           heap on demand and has no pre-sizing
 *   GC_MARKERS=n            marking threads (GCPROCS), unless GCPROCS is set
 * tricolor's own variables (GCPERCENT, GCMODE, GCTRACE, GCHEAPPROFILE ...)
 * are read by the collector itself and win where both apply. A malformed
 * value prints one line on stderr naming it and is ignored, as tricolor
 * does with its own.
 * Invariant: runs before any cycle, so GC_MARKERS is in place before the
 * marking helpers are started.
 */
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "error.h"
#include "options.h"
#include "shim.h"

extern int GC_dont_gc;

bool bdw_parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *s == '-') return false;
  unsigned shift = 0;
  switch (*end) {
    case 0: break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return false;
  }
  if (*end != 0 || (shift && v > (~0ull >> shift))) return false;
  *out = (size_t)(v << shift);
  return true;
}

static bool env_long(const char *name, long min, long *out) {
  const char *s = getenv(name);
  if (s == NULL) return false;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != 0 || v < min) {
    tc_warn("%s=\"%s\" is not an integer >= %ld; ignored", name, s, min);
    return false;
  }
  *out = v;
  return true;
}

static bool env_size(const char *name, size_t *out) {
  const char *s = getenv(name);
  if (s == NULL) return false;
  if (!bdw_parse_size(s, out)) {
    tc_warn("%s=\"%s\" is not a byte count (digits, optional k/M/G); ignored", name, s);
    return false;
  }
  return true;
}

void bdw_env_apply(void) {
  if (getenv("GC_PRINT_STATS") && tc_options.trace == 0) tc_options.trace = 1;
  if (getenv("GC_DONT_GC")) __atomic_store_n(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  long v;
  if (env_long("GC_FREE_SPACE_DIVISOR", 1, &v) && getenv("GCPERCENT") == NULL)
    bdw_set_free_space_divisor((GC_word)v);
  size_t n;
  if (env_size("GC_MAXIMUM_HEAP_SIZE", &n)) bdw_max_heap = n;
  (void)env_size("GC_INITIAL_HEAP_SIZE", &n);
  if (env_long("GC_MARKERS", 1, &v) && getenv("GCPROCS") == NULL)
    tc_options.procs = v > TC_MAX_PROCS ? TC_MAX_PROCS : (int)v;
}
