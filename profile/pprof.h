/*
 * pprof.h - the heap profile writers' shared internals (pprof.c,
 * pprof_text.c) and the profiler's initialization.
 *
 * A writer call: register the thread, take a snapshot of the published
 * records (tc_bucket_snapshot: runtime.MemProfile's semantics), read the
 * executable mappings, symbolize every distinct return address, and encode
 * (profile.proto gzipped, or Go's debug=1 text). All memory comes from one
 * scratch arena released at the end; everything runs with the world
 * running on the caller's thread; no collector lock is held while symbols
 * are read or files written.
 */
#ifndef TC_PPROF_H
#define TC_PPROF_H

#include "base.h"
#include "bucket.h"
#include "maps.h"
#include "scratch.h"

/* Reads GCPROFILERATE into the sampler, learns libtricolor's text range,
 * registers the fork handlers of the profile lock and, with GCHEAPPROFILE
 * set, the exit handler that writes the profile. Called from init_once. */
void tc_pprof_init(void);

typedef struct tc_profile_data {
  tc_scratch_t a;
  tc_bucket_snap_t *recs;
  long n;
  int64_t rate; /* GCPROFILERATE at the time of the snapshot */
  tc_maps_t maps;
} tc_profile_data_t;

/* Snapshot and mappings. 0, or -1 with errno (nothing to release then). */
int tc_pprof_collect(tc_profile_data_t *d);
void tc_pprof_release(tc_profile_data_t *d);

/* Symbolizes the code address addr (a return address minus 1): the
 * function's name and entry, and the mapping holding addr (NULL if none).
 * Returns false when no symbol covers it. */
bool tc_pprof_symbol(tc_profile_data_t *d, uintptr_t addr, const char **name,
                     uintptr_t *entry, tc_mapping_t **mapping);

/* Go's scaleHeapSample: the estimated count and bytes behind count sampled
 * objects totalling size bytes at the given rate. */
void tc_pprof_scale(int64_t count, int64_t size, int64_t rate, int64_t *out_count,
                    int64_t *out_size);

#endif
