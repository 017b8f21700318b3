/*
 * cgroup.c - the CPU bandwidth limit of the process's cgroup (cgroup.h).
 */
#include "cgroup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

/* Large enough for the mountinfo of a busy container host. */
#define MOUNTINFO_MAX ((size_t)1 << 20)

/* The next line of *p (without its newline) in *line, *len; false at the end. */
static bool next_line(const char **p, const char **line, size_t *len) {
  if (**p == 0) return false;
  const char *nl = strchr(*p, '\n');
  *line = *p;
  *len = nl ? (size_t)(nl - *p) : strlen(*p);
  *p = nl ? nl + 1 : *p + *len;
  return true;
}

/* Whether the comma-separated list [s, s+len) holds item. */
static bool has_item(const char *s, size_t len, const char *item) {
  size_t n = strlen(item);
  const char *end = s + len;
  while (s < end) {
    const char *c = memchr(s, ',', (size_t)(end - s));
    size_t k = c ? (size_t)(c - s) : (size_t)(end - s);
    if (k == n && memcmp(s, item, n) == 0) return true;
    s += k + 1;
  }
  return false;
}

/* Field i (0-based, space-separated) of [s, s+len): start and length. */
static bool field(const char *s, size_t len, int i, const char **f, size_t *flen) {
  const char *end = s + len;
  for (;;) {
    while (s < end && *s == ' ') s++;
    if (s >= end) return false;
    const char *e = s;
    while (e < end && *e != ' ') e++;
    if (i-- == 0) {
      *f = s;
      *flen = (size_t)(e - s);
      return true;
    }
    s = e;
  }
}

/* Copies [s, s+len) into out at *at, decoding mountinfo's \ooo escapes. */
static bool append(char *out, size_t n, size_t *at, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    }
    if (*at + 1 >= n) return false;
    out[(*at)++] = c;
  }
  out[*at] = 0;
  return true;
}

bool tc_cgroup_cpu_dir(const char *cgroup, const char *mountinfo, char *out, size_t n,
                       int *version) {
  /* The cgroup: a v1 hierarchy with the cpu controller wins over v2's line
   * (hybrid setups mount v2 without the cpu controller). */
  const char *path = NULL, *line;
  size_t plen = 0, len;
  int ver = 0;
  for (const char *p = cgroup; next_line(&p, &line, &len);) {
    const char *c1 = memchr(line, ':', len);
    if (!c1) continue;
    const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
    if (!c2) continue;
    const char *ctl = c1 + 1;
    size_t ctl_len = (size_t)(c2 - ctl);
    const char *pa = c2 + 1;
    size_t pa_len = len - (size_t)(pa - line);
    if (ctl_len > 0 && has_item(ctl, ctl_len, "cpu")) {
      path = pa, plen = pa_len, ver = 1;
      break;
    }
    if (ctl_len == 0 && c1 - line == 1 && line[0] == '0') path = pa, plen = pa_len, ver = 2;
  }
  if (!path) return false;
  /* Its mount: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - TYPE SOURCE SUPER". */
  for (const char *p = mountinfo; next_line(&p, &line, &len);) {
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
      if (memcmp(line + i, " - ", 3) == 0) {
        sep = line + i + 3;
        break;
      }
    if (!sep) continue;
    size_t rest = len - (size_t)(sep - line);
    const char *type, *super, *root, *mnt;
    size_t tlen, slen, rlen, mlen;
    if (!field(sep, rest, 0, &type, &tlen)) continue;
    if (ver == 2 && !(tlen == 7 && memcmp(type, "cgroup2", 7) == 0)) continue;
    if (ver == 1) {
      if (!(tlen == 6 && memcmp(type, "cgroup", 6) == 0)) continue;
      if (!field(sep, rest, 2, &super, &slen) || !has_item(super, slen, "cpu")) continue;
    }
    if (!field(line, len, 3, &root, &rlen) || !field(line, len, 4, &mnt, &mlen)) continue;
    /* The cgroup's path below the mount's root. */
    const char *rel = path;
    size_t rel_len = plen;
    if (!(rlen == 1 && root[0] == '/')) {
      if (plen < rlen || memcmp(path, root, rlen) != 0 || (plen > rlen && path[rlen] != '/'))
        continue; /* not visible under this mount */
      rel += rlen;
      rel_len -= rlen;
    }
    size_t at = 0;
    if (!append(out, n, &at, mnt, mlen) || !append(out, n, &at, rel, rel_len)) return false;
    *version = ver;
    return true;
  }
  return false;
}

static int ceil_div(int64_t q, int64_t p) {
  if (q <= 0 || p <= 0) return 0;
  int64_t r = (q + p - 1) / p;
  return r > 1 << 20 ? 1 << 20 : (int)r;
}

int tc_cgroup_parse_cpu_max(const char *text) {
  if (strncmp(text, "max", 3) == 0) return 0;
  char *end;
  long long q = strtoll(text, &end, 10);
  if (end == text || *end != ' ') return 0;
  const char *ps = end + 1;
  long long p = strtoll(ps, &end, 10);
  if (end == ps || (*end != '\n' && *end != 0)) return 0;
  return ceil_div(q, p);
}

int tc_cgroup_parse_cfs(const char *quota, const char *period) {
  char *end;
  long long q = strtoll(quota, &end, 10);
  if (end == quota || (*end != '\n' && *end != 0)) return 0;
  long long p = strtoll(period, &end, 10);
  if (end == period || (*end != '\n' && *end != 0)) return 0;
  return ceil_div(q, p);
}

/* The whole of path in buf (n bytes), NUL-terminated; false if unreadable
 * or possibly cut short. */
static bool read_text(const char *path, char *buf, size_t n) {
  ssize_t r = tc_os_read_file(path, buf, n);
  return r >= 0 && (size_t)r < n - 1;
}

int tc_cgroup_cpu_limit(void) {
  char *mountinfo = tc_os_alloc(MOUNTINFO_MAX);
  if (!mountinfo) return 0;
  char cgroup[4096], dir[1024], file[1100], a[64], b[64];
  int limit = 0, version = 0;
  if (read_text("/proc/self/cgroup", cgroup, sizeof cgroup) &&
      read_text("/proc/self/mountinfo", mountinfo, MOUNTINFO_MAX) &&
      tc_cgroup_cpu_dir(cgroup, mountinfo, dir, sizeof dir, &version)) {
    if (version == 2) {
      strcpy(file, dir);
      strcat(file, "/cpu.max");
      if (read_text(file, a, sizeof a)) limit = tc_cgroup_parse_cpu_max(a);
    } else {
      strcpy(file, dir);
      strcat(file, "/cpu.cfs_quota_us");
      bool ok = read_text(file, a, sizeof a);
      strcpy(file, dir);
      strcat(file, "/cpu.cfs_period_us");
      if (ok && read_text(file, b, sizeof b)) limit = tc_cgroup_parse_cfs(a, b);
    }
  }
  tc_os_free(mountinfo, MOUNTINFO_MAX);
  return limit;
}
