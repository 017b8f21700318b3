/*
 * test_cgroup.c - the cgroup CPU limit behind GCPROCS's default
 * (gc/cgroup.h), on text: cpu.max and cfs quota/period parsing (rounding
 * up, "max" and -1 as no limit, malformed text as no limit), and finding
 * the cpu controller's directory from /proc/self/cgroup and
 * /proc/self/mountinfo contents: cgroup v2 alone, a hybrid host (v1 cpu
 * hierarchy, v2 without controllers; taken from this project's build VM),
 * v1 with "cpu,cpuacct" co-mounted, a cgroup namespace (mount root taken
 * off the path), a path outside the mount's root, escaped spaces, no cpu
 * controller, too small a buffer. Also that the live call does not fail.
 */
#include <stdio.h>
#include <string.h>

#include <tricolor.h>

#include "check.h"
#include "cgroup.h"

TEST(cpu_max) {
  CHECK_EQ(tc_cgroup_parse_cpu_max("max 100000\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cpu_max("100000 100000\n"), 1);
  CHECK_EQ(tc_cgroup_parse_cpu_max("150000 100000\n"), 2);
  CHECK_EQ(tc_cgroup_parse_cpu_max("300000 100000"), 3);
  CHECK_EQ(tc_cgroup_parse_cpu_max("50000 100000\n"), 1);
  CHECK_EQ(tc_cgroup_parse_cpu_max("1 1000000\n"), 1);
  CHECK_EQ(tc_cgroup_parse_cpu_max(""), 0);
  CHECK_EQ(tc_cgroup_parse_cpu_max("abc 100000\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cpu_max("100000\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cpu_max("100000 0\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cpu_max("100000 100000x\n"), 0);
}

TEST(cfs_quota_and_period) {
  CHECK_EQ(tc_cgroup_parse_cfs("-1\n", "100000\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cfs("200000\n", "100000\n"), 2);
  CHECK_EQ(tc_cgroup_parse_cfs("250000\n", "100000\n"), 3);
  CHECK_EQ(tc_cgroup_parse_cfs("x\n", "100000\n"), 0);
  CHECK_EQ(tc_cgroup_parse_cfs("200000\n", "\n"), 0);
}

/* The directory found for (cgroup, mountinfo) is want, of version; want
 * NULL: none is found. */
static bool finds(const char *cg, const char *mi, const char *want, int version) {
  char dir[256];
  int v = 0;
  bool found = tc_cgroup_cpu_dir(cg, mi, dir, sizeof dir, &v);
  if (!want) return !found;
  if (!found) fprintf(stderr, "  nothing found, want %s\n", want);
  else if (strcmp(dir, want) != 0 || v != version)
    fprintf(stderr, "  found %s (v%d), want %s (v%d)\n", dir, v, want, version);
  return found && strcmp(dir, want) == 0 && v == version;
}

static const char *MI_V2 =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(v2_only) {
  CHECK(finds("0::/user.slice/app.scope\n", MI_V2, "/sys/fs/cgroup/user.slice/app.scope", 2));
  CHECK(finds("0::/\n", MI_V2, "/sys/fs/cgroup/", 2));
  /* Too small a buffer. */
  char small[10];
  int v = 0;
  CHECK(!tc_cgroup_cpu_dir("0::/user.slice/app.scope\n", MI_V2, small, sizeof small, &v));
}

TEST(hybrid_prefers_the_v1_cpu_hierarchy) {
  const char *cg = "9:name=systemd:/\n4:memory:/process_api/a8\n3:cpuset:/\n2:cpuacct:/\n"
                   "1:cpu:/batch\n0::/\n";
  const char *mi =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  CHECK(finds(cg, mi, "/sys/fs/cgroup/cpu/batch", 1));
}

TEST(v1_comounted_and_namespaced) {
  /* Inside the container's cgroup namespace the mount's root is its cgroup. */
  const char *mi =
      "40 31 0:33 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:17 - cgroup cgroup "
      "rw,cpu,cpuacct\n";
  CHECK(finds("5:cpu,cpuacct:/docker/abc\n0::/\n", mi, "/sys/fs/cgroup/cpu,cpuacct", 1));
  /* A cgroup below the mount's root. */
  CHECK(finds("5:cpu,cpuacct:/docker/abc/sub\n", mi, "/sys/fs/cgroup/cpu,cpuacct/sub", 1));
  /* Outside it (or a sibling sharing its prefix): not visible there. */
  CHECK(finds("5:cpu,cpuacct:/docker/other\n", mi, NULL, 0));
  CHECK(finds("5:cpu,cpuacct:/docker/abcd\n", mi, NULL, 0));
  /* "cpuacct" alone or "cpuset" is not the cpu controller. */
  const char *mi2 = "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n";
  CHECK(finds("3:cpuset:/\n2:cpuacct:/\n", mi2, NULL, 0));
}

TEST(escaped_mount_point) {
  CHECK(finds("0::/a\n", "30 23 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n", "/mnt/cg two/a", 2));
}

TEST(nothing_to_find) {
  CHECK(finds("", MI_V2, NULL, 0));
  CHECK(finds("0::/x\n", "22 1 0:21 / /proc rw - proc proc rw\n", NULL, 0));
  CHECK(finds("garbage\n", "garbage\n", NULL, 0));
}

TEST(live_limit_is_sane) {
  int limit = tc_cgroup_cpu_limit();
  CHECK(limit >= 0);
}

CHECK_MAIN()
