/*
 * leak_profile.c - finding a leak with heap profiles and `go tool pprof`.
 *
 * A toy request handler keeps every request's session in a "recent
 * sessions" list that nothing ever trims: the heap grows although each
 * request's own garbage is collected. The program writes a heap profile
 * after warming up and another after more requests, then tells you how to
 * compare them:
 *
 *   cc -g leak_profile.c $(pkg-config --cflags --libs tricolor) -o leak_profile
 *   ./leak_profile            # writes leak-before.pb.gz and leak-after.pb.gz
 *   go tool pprof -top -diff_base=leak-before.pb.gz leak-after.pb.gz
 *
 * pprof then lists remember_session first, with the bytes it added between
 * the two profiles; `-lines` shows the line, `-list remember_session` the
 * source (with the binary). See docs/profiling.md.
 */
#include <stdio.h>
#include <string.h>

#include <tricolor.h>

struct session {
  struct session *next;
  char user[32];
  char state[2000];
};

static struct session *recent; /* the leak: grows forever */

/* noinline: each function stays a frame of its own in the profile. */
__attribute__((noinline)) static struct session *remember_session(const char *user) {
  struct session *s = gc_alloc(sizeof *s);
  strncpy(s->user, user, sizeof s->user - 1);
  s->next = recent;
  recent = s;
  return s;
}

__attribute__((noinline)) static size_t render_page(const struct session *s) {
  char *page = gc_alloc_noscan(8192); /* garbage after the request */
  int n = snprintf(page, 8192, "<html>hello %s</html>", s->user);
  return (size_t)n;
}

static size_t handle_request(int i) {
  char user[32];
  snprintf(user, sizeof user, "user%d", i % 1000);
  struct session *s = remember_session(user);
  return render_page(s);
}

static int profile(const char *path) {
  gc_collect(); /* so in-use data is as of now */
  if (gc_write_heap_profile(path) != 0) {
    perror(path);
    return 1;
  }
  gc_memstats m;
  gc_read_memstats(&m);
  printf("%-18s heap in use %6.1f MiB\n", path, m.heap_alloc / 1048576.0);
  return 0;
}

int main(void) {
  /* Sample more often than the default 512 KiB so a short run gives a
   * precise picture; any rate works, pprof scales the samples. */
  gc_set_profile_rate(64 * 1024);
  size_t bytes = 0;
  for (int i = 0; i < 5000; i++) bytes += handle_request(i);
  if (profile("leak-before.pb.gz")) return 1;
  for (int i = 5000; i < 25000; i++) bytes += handle_request(i);
  if (profile("leak-after.pb.gz")) return 1;
  printf("served %zu bytes of pages\n\n", bytes);
  printf("Which function's memory grew?\n"
         "  go tool pprof -top -diff_base=leak-before.pb.gz leak-after.pb.gz\n"
         "Where was it allocated?\n"
         "  go tool pprof -top -lines -sample_index=inuse_space leak-after.pb.gz\n");
  return 0;
}
