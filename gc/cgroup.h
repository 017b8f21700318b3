/*
 * cgroup.h - the CPU bandwidth limit of the cgroup that holds the process,
 * for GCPROCS's default (Go 1.25's container-aware GOMAXPROCS default).
 *
 * Go's rule: the limit is ceil(quota / period) of the leaf cgroup (parents
 * are not read: container runtimes hide them), at least 2; GOMAXPROCS
 * defaults to the smaller of that and the CPUs of the affinity mask. Both
 * cgroup versions: v2 "cpu.max" ("max 100000" or "150000 100000") and v1
 * "cpu.cfs_quota_us" (-1 = none) with "cpu.cfs_period_us". The cgroup is
 * found from /proc/self/cgroup (v1: the hierarchy whose controllers include
 * "cpu"; else v2's "0::" line) and the mount from /proc/self/mountinfo (its
 * root is taken off the cgroup's path, as inside a cgroup namespace).
 * Read once, at option parsing; plain system calls, no libc allocation.
 */
#ifndef TC_CGROUP_H
#define TC_CGROUP_H

#include <stddef.h>

#include "base.h"

/* ceil(quota / period) of the process's cgroup, 0 if none or unknown. */
int tc_cgroup_cpu_limit(void);

/* The parts, on text (for tests). */

/* v2 cpu.max contents: the limit, or 0 for "max" or malformed text. */
int tc_cgroup_parse_cpu_max(const char *text);
/* v1 quota and period (file contents): the limit, or 0 for -1 or malformed. */
int tc_cgroup_parse_cfs(const char *quota, const char *period);
/* The directory of the cpu controller's cgroup in out (NUL-terminated),
 * from /proc/self/cgroup's and /proc/self/mountinfo's contents; its version
 * (1 or 2) in *version. false if not found or out is too small. */
bool tc_cgroup_cpu_dir(const char *cgroup, const char *mountinfo, char *out, size_t n,
                       int *version);

#endif
