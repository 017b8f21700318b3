/*
 * trace_workload.c - workloads whose GCTRACE output test_gctrace.sh checks.
 *
 *   trace_workload churn   a linked live set (8 MiB) and 256 MiB of garbage,
 *                          with gc_collect every 64 MiB (4 calls), then
 *                          gc_free_os_memory;
 *   trace_workload fast    a large pointer-rich live set (48 MiB of 64-byte
 *                          nodes) at GCPERCENT=10 and allocation as fast as
 *                          it goes: allocation outruns background marking;
 *   trace_workload slow    a small live set and 16 KiB allocations with a
 *                          sleep between them: marking keeps up easily.
 *
 * Every heap pointer stored into the heap goes through GC_STORE, so the
 * program is valid in GCMODE=barrier. At exit it prints on stdout what
 * the script cross-checks with the trace:
 *   collect_calls K     gc_collect + gc_free_os_memory calls
 *   num_gc N, num_forced_gc F, next_gc B, heap_released B, percent P
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#define MiB ((size_t)1 << 20)

struct node {
  struct node *next;
  struct node *other;
  uint64_t v[6];
};

struct node *live_head; /* not static: stores to it must stay */
static void *ring[32];
static unsigned ring_i;
static int collect_calls;

static struct node *make_list(size_t n) {
  struct node *head = NULL;
  for (size_t i = 0; i < n; i++) {
    struct node *x = gc_alloc(sizeof *x);
    if (!x) abort();
    GC_STORE(x->next, head);
    GC_STORE(x->other, head ? head->next : NULL);
    x->v[0] = i;
    head = x;
  }
  return head;
}

static void garbage(size_t bytes, size_t maxsz) {
  static uint64_t x = 88172645463325252ull;
  size_t done = 0;
  while (done < bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t n = 16 + (size_t)(x % maxsz);
    void **p = gc_alloc(n);
    if (!p) abort();
    p[1] = (void *)(uintptr_t)done;
    ring[ring_i++ % 32] = p; /* a global: a plain store is fine */
    done += n;
  }
}

/* The live list is intact: n nodes numbered n-1..0. */
static void verify(size_t n) {
  size_t i = 0;
  for (struct node *x = live_head; x; x = x->next, i++)
    if (x->v[0] != n - 1 - i || x->other != (x->next ? x->next->next : NULL)) {
      fprintf(stderr, "trace_workload: live node %zu corrupt\n", i);
      exit(1);
    }
  if (i != n) {
    fprintf(stderr, "trace_workload: live list has %zu nodes, not %zu\n", i, n);
    exit(1);
  }
}

static void report(void) {
  gc_memstats m;
  gc_read_memstats(&m);
  int p = gc_set_percent(100);
  gc_set_percent(p);
  printf("collect_calls %d\nnum_gc %u\nnum_forced_gc %u\nnext_gc %llu\nheap_released %llu\n"
         "percent %d\n",
         collect_calls, m.num_gc, m.num_forced_gc, (unsigned long long)m.next_gc,
         (unsigned long long)m.heap_released, p);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "churn";
  if (strcmp(mode, "churn") == 0) {
    live_head = make_list(8 * MiB / 64);
    for (int i = 0; i < 4; i++) {
      garbage(64 * MiB, 2000);
      gc_collect();
      collect_calls++;
    }
    verify(8 * MiB / 64);
    live_head = NULL;
    gc_free_os_memory();
    collect_calls++;
    report();
    /* Figures right after the final forced cycle, before anything else. */
    return 0;
  }
  if (strcmp(mode, "fast") == 0) {
    gc_set_percent(10);
    live_head = make_list(48 * MiB / 64);
    garbage(512 * MiB, 200);
    verify(48 * MiB / 64);
    gc_collect();
    collect_calls++;
    report();
    return 0;
  }
  if (strcmp(mode, "slow") == 0) {
    live_head = make_list(MiB / 64);
    struct timespec ts = {0, 300000};
    for (int i = 0; i < 5000; i++) {
      garbage(16384, 2000);
      nanosleep(&ts, NULL);
    }
    verify(MiB / 64);
    gc_collect();
    collect_calls++;
    report();
    return 0;
  }
  fprintf(stderr, "usage: trace_workload churn|fast|slow\n");
  return 2;
}
