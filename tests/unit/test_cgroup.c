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
#include <tricolor.h>

#include "check.h"
#include "cgroup.h"

/* Link workaround shared with the other unit tests: see test_gcwork.c. */
void *(*volatile tc_test_force_link_alloc)(size_t) = gc_alloc;

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

static const char *MI_V2 =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(v2_only) {
  char dir[256];
  int v = 0;
  CHECK(tc_cgroup_cpu_dir("0::/user.slice/app.scope\n", MI_V2, dir, sizeof dir, &v));
  CHECK_EQ(v, 2);
  CHECK(strcmp(dir, "/sys/fs/cgroup/user.slice/app.scope") == 0);
  CHECK(tc_cgroup_cpu_dir("0::/\n", MI_V2, dir, sizeof dir, &v));
  CHECK(strcmp(dir, "/sys/fs/cgroup/") == 0);
  /* Too small a buffer. */
  char small[10];
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
  char dir[256];
  int v = 0;
  CHECK(tc_cgroup_cpu_dir(cg, mi, dir, sizeof dir, &v));
  CHECK_EQ(v, 1);
  CHECK(strcmp(dir, "/sys/fs/cgroup/cpu/batch") == 0);
}

TEST(v1_comounted_and_namespaced) {
  const char *cg = "5:cpu,cpuacct:/docker/abc\n0::/\n";
  /* Inside the container's cgroup namespace the mount's root is its cgroup. */
  const char *mi =
      "40 31 0:33 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:17 - cgroup cgroup "
      "rw,cpu,cpuacct\n";
  char dir[256];
  int v = 0;
  CHECK(tc_cgroup_cpu_dir(cg, mi, dir, sizeof dir, &v));
  CHECK_EQ(v, 1);
  CHECK(strcmp(dir, "/sys/fs/cgroup/cpu,cpuacct") == 0);
  /* A cgroup below the mount's root. */
  CHECK(tc_cgroup_cpu_dir("5:cpu,cpuacct:/docker/abc/sub\n", mi, dir, sizeof dir, &v));
  CHECK(strcmp(dir, "/sys/fs/cgroup/cpu,cpuacct/sub") == 0);
  /* Outside it (or a sibling sharing its prefix): not visible there. */
  CHECK(!tc_cgroup_cpu_dir("5:cpu,cpuacct:/docker/other\n", mi, dir, sizeof dir, &v));
  CHECK(!tc_cgroup_cpu_dir("5:cpu,cpuacct:/docker/abcd\n", mi, dir, sizeof dir, &v));
  /* "cpuacct" alone or "cpuset" is not the cpu controller. */
  const char *mi2 = "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n";
  CHECK(!tc_cgroup_cpu_dir("3:cpuset:/\n2:cpuacct:/\n", mi2, dir, sizeof dir, &v));
}

TEST(escaped_mount_point) {
  const char *mi = "30 23 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n";
  char dir[256];
  int v = 0;
  CHECK(tc_cgroup_cpu_dir("0::/a\n", mi, dir, sizeof dir, &v));
  CHECK(strcmp(dir, "/mnt/cg two/a") == 0);
}

TEST(nothing_to_find) {
  char dir[256];
  int v = 0;
  CHECK(!tc_cgroup_cpu_dir("", MI_V2, dir, sizeof dir, &v));
  CHECK(!tc_cgroup_cpu_dir("0::/x\n", "22 1 0:21 / /proc rw - proc proc rw\n", dir, sizeof dir, &v));
  CHECK(!tc_cgroup_cpu_dir("garbage\n", "garbage\n", dir, sizeof dir, &v));
}

TEST(live_limit_is_sane) {
  int limit = tc_cgroup_cpu_limit();
  CHECK(limit >= 0);
}

CHECK_MAIN()
