/*
 * options.h - the environment variables tricolor reads, one table.
 *
 * Each row of TC_OPTIONS: (ENV NAME, field, kind, default, min, max, doc).
 * Kinds: percent (integer, "off" or any negative = -1), int, signal (a
 * number a program may catch: not SIGKILL, SIGSTOP, a synchronous fault
 * signal, one that must stay deliverable to a stopped thread, or one glibc
 * reserves), path (a file name, copied at start; empty = unset; min and max
 * unused; PATH_MAX bytes or longer is malformed), mode (concurrent, barrier
 * or stw, stored as gc_mode_t), bytes (an int64_t: a non-negative integer
 * with an optional suffix B, KiB, MiB, GiB or TiB, powers of two as in
 * GOMEMLIMIT; "off" = INT64_MAX). Values are read once
 * by tc_options_init() at start; a malformed or out-of-range value prints one
 * line naming the variable and the value, and the default is used.
 * Default 0 for GCPROCS means Go 1.25's GOMAXPROCS default: the CPUs of the
 * affinity mask, or the cgroup's CPU limit rounded up if lower, at least 2.
 */
#ifndef TC_OPTIONS_H
#define TC_OPTIONS_H

#include <limits.h>
#include <signal.h>

#include "base.h"
#include "config.h"

#define TC_OPTIONS(X)                                                         \
  X(GCPERCENT, percent, percent, 100, -1000000, 1000000,                      \
    "heap growth percent that triggers a cycle, like GOGC; off or negative disables") \
  X(GCMEMLIMIT, memory_limit, bytes, INT64_MAX, 0, INT64_MAX,                \
    "soft memory limit in bytes (suffixes B, KiB, MiB, GiB, TiB), like GOMEMLIMIT; off = none") \
  X(GCPROCS, procs, int, 0, 1, TC_MAX_PROCS,                                  \
    "threads used for marking (default: CPUs of the affinity mask, or the cgroup's CPU limit " \
    "if lower, at least 2)")                                                  \
  X(GCSIGSUSPEND, sig_suspend, signal, SIGPWR, 1, 64,                         \
    "signal that stops a thread for a collection")                            \
  X(GCSIGRESTART, sig_restart, signal, SIGXCPU, 1, 64,                        \
    "signal that restarts a stopped thread")                                  \
  X(GCPROFILERATE, profile_rate, int, 524288, 0, INT_MAX,                     \
    "average bytes allocated per heap profile sample, like MemProfileRate; "  \
    "0 off, 1 every allocation")                                              \
  X(GCHEAPPROFILE, heap_profile, path, "", 0, 0,                              \
    "write a gzipped pprof heap profile to this file at exit")                \
  X(GCMODE, mode, mode, 0, 0, 2,                                              \
    "how marking meets the program: concurrent (default), barrier or stw")    \
  X(GCTRACE, trace, int, 0, 0, 2,                                             \
    "1: one line per cycle on stderr, like GODEBUG=gctrace=1")                \
  X(GCCHECKMARK, checkmark, int, 0, 0, 1,                                     \
    "1: re-mark with the world stopped after each mark and abort on a miss")  \
  X(GCMARKTRACE, marktrace, int, 0, 0, 1,                                     \
    "1: one line per concurrent or barrier mark on stderr: rounds, written "  \
    "pages, the write throttle, the lifting, what pause 2 did")

#define TC_OPTION_TYPE_percent int
#define TC_OPTION_TYPE_int int
#define TC_OPTION_TYPE_signal int
#define TC_OPTION_TYPE_path const char *
#define TC_OPTION_TYPE_mode int
#define TC_OPTION_TYPE_bytes int64_t

typedef struct tc_options {
#define TC_OPTION_FIELD(env, field, kind, def, min, max, doc) \
  TC_OPTION_TYPE_##kind field;
  TC_OPTIONS(TC_OPTION_FIELD)
#undef TC_OPTION_FIELD
} tc_options_t;

extern tc_options_t tc_options; /* written once by tc_options_init */

void tc_options_init(void);

#endif
