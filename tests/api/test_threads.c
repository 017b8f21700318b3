/*
 * test_threads.c - threads and the collector.
 *
 * - Eight gc_pthread_create threads build checksummed linked lists (roots in
 *   their stacks and in heap objects reachable from their gc_alloc'd
 *   argument) while half of them call gc_collect; every list is re-verified
 *   after every round, after garbage of the same sizes was allocated.
 * - A plain pthread registers itself, allocates, verifies across collections
 *   made by the main thread, and unregisters.
 * - 200 short-lived threads (gc_pthread_create and plain pthread_create,
 *   joinable and detached) allocate and exit without unregistering while two
 *   threads keep collecting; the thread key destructor must unregister them.
 *
 * A watchdog alarm turns a deadlock (say, the collector waiting for a thread
 * that exited) into a failure instead of a ctest timeout.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#include "api_util.h"
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- checksummed lists ------------------------------------------------------ */

struct node {
  struct node *next;
  uint64_t value;
  uint32_t len;
  uint32_t pad;
  uint64_t check;
  unsigned char payload[];
};

static size_t payload_len(uint64_t value) {
  uint64_t h = mix(value);
  if (h % 997 == 0) return 20000 + h % 30000; /* now and then a big one */
  return h % 200;
}

static struct node *new_node(uint64_t value, struct node *next) {
  size_t len = payload_len(value);
  struct node *n = gc_alloc(sizeof *n + len);
  if (!n) return NULL;
  n->next = next;
  n->value = value;
  n->len = (uint32_t)len;
  uint64_t h = mix(value);
  for (size_t i = 0; i < len; i++) n->payload[i] = (unsigned char)(h >> (i % 8 * 8)) ^ (unsigned char)i;
  n->check = mix(value ^ len ^ (uint64_t)(uintptr_t)next);
  return n;
}

static int node_ok(const struct node *n, uint64_t value) {
  if (n->value != value) return 0;
  size_t len = payload_len(value);
  if (n->len != len) return 0;
  if (n->check != mix(value ^ len ^ (uint64_t)(uintptr_t)n->next)) return 0;
  uint64_t h = mix(value);
  for (size_t i = 0; i < len; i++)
    if (n->payload[i] != ((unsigned char)(h >> (i % 8 * 8)) ^ (unsigned char)i)) return 0;
  return 1;
}

/* A list of len nodes with values base+len-1 .. base, head first. */
static struct node *build_list(uint64_t base, int len) {
  struct node *head = NULL;
  for (int i = 0; i < len; i++) {
    head = new_node(base + (uint64_t)i, head);
    if (!head) return NULL;
  }
  return head;
}

static int list_ok(const struct node *head, uint64_t base, int len) {
  int i = len;
  for (const struct node *n = head; n; n = n->next) {
    if (--i < 0) return 0;
    if (!node_ok(n, base + (uint64_t)i)) return 0;
  }
  return i == 0;
}

/* ---- eight threads ----------------------------------------------------------- */

#define NWORKERS 8
#define ROUNDS 30
#define LISTLEN 1500

struct holder {
  struct node *list;
  uint64_t base;
};

struct warg {
  int id;
  struct holder *holder; /* heap object reachable only through this arg */
  atomic_int *failures;
  atomic_int *rounds_done;
};

static void *worker(void *p) {
  struct warg *a = p;
  struct node *lists[4] = {0};
  uint64_t bases[4] = {0};
  int fails = 0;
  if (gc_register_thread() != 1) fails++; /* registered before start */
  for (int r = 0; r < ROUNDS; r++) {
    int slot = r % 4;
    bases[slot] = ((uint64_t)a->id << 40) | ((uint64_t)r << 20);
    lists[slot] = build_list(bases[slot], LISTLEN);
    if (!lists[slot]) {
      fails++;
      break;
    }
    if (r % 5 == 0) {
      uint64_t hb = bases[slot] | 0x80000;
      a->holder->list = build_list(hb, LISTLEN / 2);
      a->holder->base = hb;
    }
    if (a->id % 2 == 0) gc_collect();
    churn(256 * KiB, 250, (unsigned)(a->id * 1000 + r));
    for (int s = 0; s < 4 && s <= r; s++)
      if (!list_ok(lists[s], bases[s], LISTLEN)) fails++;
    if (!list_ok(a->holder->list, a->holder->base, LISTLEN / 2)) fails++;
    atomic_fetch_add(a->rounds_done, 1);
  }
  if (fails) fprintf(stderr, "  worker %d: %d failed verifications\n", a->id, fails);
  atomic_fetch_add(a->failures, fails);
  return NULL;
}

__attribute__((noinline)) static struct warg *make_warg(int id, atomic_int *failures,
                                                       atomic_int *rounds) {
  struct warg *a = gc_alloc(sizeof *a);
  if (!a) return NULL;
  a->id = id;
  a->holder = gc_alloc(sizeof *a->holder);
  if (!a->holder) return NULL;
  a->holder->base = 0;
  a->holder->list = build_list(0, LISTLEN / 2);
  a->failures = failures;
  a->rounds_done = rounds;
  return a;
}

TEST(eight_threads_lists_across_collections) {
  static atomic_int failures, rounds;
  atomic_store(&failures, 0);
  atomic_store(&rounds, 0);
  pthread_t t[NWORKERS];
  gc_memstats m0, m1;
  gc_read_memstats(&m0);
  for (int i = 0; i < NWORKERS; i++) {
    /* Only the new thread keeps its argument: gc_pthread_create must keep
     * it alive until the thread is registered. */
    struct warg *a = make_warg(i, &failures, &rounds);
    CHECK_OR_RETURN(a != NULL);
    int rc = gc_pthread_create(&t[i], NULL, worker, a);
    CHECK_OR_RETURN(rc == 0);
  }
  for (int i = 0; i < NWORKERS; i++) CHECK(pthread_join(t[i], NULL) == 0);
  gc_read_memstats(&m1);
  CHECK_EQ(atomic_load(&failures), 0);
  CHECK_EQ(atomic_load(&rounds), NWORKERS * ROUNDS);
  /* Concurrent gc_collect calls may share a cycle (as runtime.GC does). */
  CHECK(m1.num_forced_gc > m0.num_forced_gc);
  gc_collect();
}

/* ---- a plain pthread that registers itself ---------------------------------- */

static atomic_int plain_done;
static int plain_results[6];

static void *plain_thread(void *unused) {
  plain_results[0] = gc_register_thread(); /* first call: 0 */
  plain_results[1] = gc_register_thread(); /* 1 */
  struct node *list = build_list(777000, 3000);
  int ok = list != NULL;
  for (int r = 0; r < 20 && ok; r++) {
    churn(256 * KiB, 300, 500u + (unsigned)r);
    if (r % 4 == 0) gc_collect();
    ok = list_ok(list, 777000, 3000);
  }
  plain_results[2] = ok;
  plain_results[3] = gc_unregister_thread(); /* 0 */
  plain_results[4] = gc_unregister_thread(); /* -1 */
  atomic_store(&plain_done, 1);
  return NULL;
}

TEST(plain_pthread_registers_and_unregisters) {
  atomic_store(&plain_done, 0);
  pthread_t t;
  int rc = pthread_create(&t, NULL, plain_thread, NULL);
  CHECK_OR_RETURN(rc == 0);
  int cycles = 0;
  struct node *mine = build_list(5000, 500);
  while (!atomic_load(&plain_done)) {
    gc_collect();
    churn(128 * KiB, 300, (unsigned)cycles);
    cycles++;
  }
  pthread_join(t, NULL);
  CHECK_EQ(plain_results[0], 0);
  CHECK_EQ(plain_results[1], 1);
  CHECK_EQ(plain_results[2], 1);
  CHECK_EQ(plain_results[3], 0);
  CHECK_EQ(plain_results[4], -1);
  CHECK(cycles > 0);
  gc_collect();
  CHECK(list_ok(mine, 5000, 500));
}

/* ---- 200 short-lived threads, never unregistered ----------------------------- */

#define NSHORT 200
#define BATCH 10

static atomic_int short_done, short_failures, stop_collectors;
static atomic_int collections;

static void *short_thread(void *arg) {
  int id = (int)(intptr_t)arg;
  /* Plain threads register here, on their first call. */
  uint64_t base = (uint64_t)(id + 1) << 32;
  struct node *list = build_list(base, 200);
  churn(64 * KiB, 200, (unsigned)id);
  if (!list || !list_ok(list, base, 200)) {
    fprintf(stderr, "  short thread %d (%s, %s): list corrupted\n", id,
            id % 2 ? "pthread_create" : "gc_pthread_create", id % 4 == 3 ? "detached" : "joinable");
    atomic_fetch_add(&short_failures, 1);
  }
  if (id % 7 == 0) gc_collect();
  atomic_fetch_add(&short_done, 1);
  return NULL; /* no gc_unregister_thread: the key destructor does it */
}

static void *collector_thread(void *unused) {
  struct node *list = build_list(99 << 20, 300);
  int n = 0;
  while (!atomic_load(&stop_collectors)) {
    gc_collect();
    churn(32 * KiB, 100, (unsigned)n++);
    if (!list_ok(list, 99 << 20, 300)) {
      fprintf(stderr, "  collector thread: list corrupted after %d cycles\n", n);
      atomic_fetch_add(&short_failures, 1);
    }
    atomic_fetch_add(&collections, 1);
  }
  return NULL;
}

TEST(short_lived_threads_exit_without_unregistering) {
  atomic_store(&short_done, 0);
  atomic_store(&short_failures, 0);
  atomic_store(&stop_collectors, 0);
  atomic_store(&collections, 0);
  pthread_t coll[2];
  for (int i = 0; i < 2; i++) {
    int rc = gc_pthread_create(&coll[i], NULL, collector_thread, NULL);
    CHECK_OR_RETURN(rc == 0);
  }

  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  int started = 0;
  for (int b = 0; b < NSHORT / BATCH; b++) {
    pthread_t t[BATCH];
    int joinable[BATCH];
    for (int k = 0; k < BATCH; k++) {
      int id = b * BATCH + k;
      int det = id % 4 == 3;
      joinable[k] = !det;
      int rc = (id % 2) ? pthread_create(&t[k], det ? &detached : NULL, short_thread, (void *)(intptr_t)id)
                        : gc_pthread_create(&t[k], det ? &detached : NULL, short_thread, (void *)(intptr_t)id);
      CHECK_OR_RETURN(rc == 0);
      started++;
    }
    for (int k = 0; k < BATCH; k++)
      if (joinable[k]) CHECK(pthread_join(t[k], NULL) == 0);
  }
  pthread_attr_destroy(&detached);
  /* Wait for the detached ones (up to 30 s). */
  for (int i = 0; i < 3000 && atomic_load(&short_done) < started; i++) usleep(10000);
  CHECK_EQ(atomic_load(&short_done), NSHORT);
  int before = atomic_load(&collections);
  /* Let the collectors run a few more cycles with all those threads gone. */
  for (int i = 0; i < 2000 && atomic_load(&collections) < before + 5; i++) usleep(10000);
  CHECK(atomic_load(&collections) >= before + 5);
  atomic_store(&stop_collectors, 1);
  for (int i = 0; i < 2; i++) CHECK(pthread_join(coll[i], NULL) == 0);
  CHECK_EQ(atomic_load(&short_failures), 0);
  CHECK(atomic_load(&collections) > 0);

  /* The program keeps working. */
  gc_memstats a, b2;
  gc_read_memstats(&a);
  struct node *l = build_list(1234567, 2000);
  gc_collect();
  churn(4 * MiB, 300, 4242);
  gc_collect();
  gc_read_memstats(&b2);
  CHECK(list_ok(l, 1234567, 2000));
  CHECK(b2.num_gc >= a.num_gc + 2);
}

/* A thread that exits while the main thread collects continuously. */
static void *exit_quickly(void *arg) {
  struct node *l = build_list((uint64_t)(intptr_t)arg << 24, 50);
  if (!l || !list_ok(l, (uint64_t)(intptr_t)arg << 24, 50)) atomic_fetch_add(&short_failures, 1);
  return NULL;
}

TEST(threads_exit_during_collections) {
  atomic_store(&short_failures, 0);
  struct node *mine = build_list(31337, 1000);
  for (int i = 0; i < 100; i++) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, exit_quickly, (void *)(intptr_t)i);
    CHECK_OR_RETURN(rc == 0);
    gc_collect(); /* races with the thread's exit */
    CHECK(pthread_join(t, NULL) == 0);
  }
  CHECK_EQ(atomic_load(&short_failures), 0);
  gc_collect();
  CHECK(list_ok(mine, 31337, 1000));
}

/* ---- large objects allocated while another thread collects ----------------- */

static atomic_int stop_big_collector;

static void *big_collector(void *unused) {
  while (!atomic_load(&stop_big_collector)) gc_collect();
  return NULL;
}

struct bignode {
  struct bignode *next;
  uint64_t value;
};

/* Lists of large objects (own spans) built while cycles start and end
 * around every allocation; the value is stored at both ends of each object
 * so a slot reused by a later allocation shows. */
TEST(large_objects_while_another_thread_collects) {
  atomic_store(&stop_big_collector, 0);
  pthread_t c;
  int rc = gc_pthread_create(&c, NULL, big_collector, NULL);
  CHECK_OR_RETURN(rc == 0);
  static const size_t sizes[] = {100000, 100000, 40000, 100000};
  int bad = 0;
  for (int r = 0; r < 300 && !bad; r++) {
    size_t size = sizes[r % 4];
    struct bignode *h = NULL;
    for (int i = 0; i < 200; i++) {
      struct bignode *x = gc_alloc(size);
      if (!x) {
        bad++;
        break;
      }
      x->next = h;
      x->value = (uint64_t)r * 1000 + (uint64_t)i;
      *(uint64_t *)((char *)x + size - 8) = ~x->value;
      h = x;
    }
    int i = 199;
    for (struct bignode *n = h; n && !bad; n = n->next, i--)
      if (n->value != (uint64_t)r * 1000 + (uint64_t)i ||
          *(uint64_t *)((char *)n + size - 8) != ~n->value) {
        fprintf(stderr, "  round %d (%zu-byte objects): node %d holds %" PRIu64 "\n", r, size, i,
                n->value);
        bad++;
      }
    if (!bad && i != -1) bad++;
  }
  atomic_store(&stop_big_collector, 1);
  CHECK(pthread_join(c, NULL) == 0);
  CHECK_EQ(bad, 0);
}

int main(int argc, char **argv) {
  alarm(240); /* a deadlock fails loudly instead of hanging to the ctest timeout */
  return check_run_all(argc, argv);
}
