/*
 * bdw_threads.c - bdwgc's thread calls through libgc.so.1 from tricolor:
 * threads created with GC_pthread_create (gc.h's redirect of
 * pthread_create), threads created with the raw pthread_create and
 * registered by hand (GC_allow_register_threads, GC_get_stack_base,
 * GC_register_my_thread, GC_unregister_my_thread), GC_call_with_stack_base,
 * GC_pthread_sigmask and GC_pthread_detach, while other threads collect.
 * Every thread keeps its lists only on its stack and checks them.
 */
#include <pthread.h>

/* The raw pthread_create, defined before gc.h redirects the name. */
static int raw_pthread_create(pthread_t *th, void *(*start)(void *), void *arg) {
  return pthread_create(th, NULL, start, arg);
}

#define GC_THREADS
#include "bdw_util.h"

#include <signal.h>

#define THREADS 4
#define ROUNDS 30
#define LEN 20000

struct cell {
  struct cell *next;
  long v;
};

static __attribute__((noinline)) struct cell *build(long seed) {
  struct cell *h = NULL;
  for (long i = 0; i < LEN; i++) {
    struct cell *c = GC_MALLOC(sizeof *c);
    c->v = seed * LEN + i;
    c->next = h; /* plain stores, as bdwgc programs do */
    h = c;
    if (i % 64 == 0) (void)GC_MALLOC_ATOMIC(200); /* garbage */
  }
  return h;
}

static int check(struct cell *h, long seed) {
  long i = LEN - 1, bad = 0;
  for (; h; h = h->next, i--) bad += h->v != seed * LEN + i;
  return bad == 0 && i == -1;
}

static void *work(void *arg) {
  long id = (long)arg;
  int ok = 1;
  for (int r = 0; r < ROUNDS; r++) {
    struct cell *a = build(id * 1000 + r);
    if (r % 10 == 0) GC_gcollect();
    struct cell *b = build(id * 1000 + r + 500);
    ok &= check(a, id * 1000 + r) && check(b, id * 1000 + r + 500);
  }
  return (void *)(long)ok;
}

TEST(gc_pthread_create_threads) {
  pthread_t th[THREADS];
  for (long i = 0; i < THREADS; i++) CHECK_EQ(pthread_create(&th[i], NULL, work, (void *)i), 0);
  CHECK((long)work((void *)99));
  for (int i = 0; i < THREADS; i++) {
    void *ret = NULL;
    CHECK_EQ(pthread_join(th[i], &ret), 0);
    CHECK((long)ret);
  }
}

static void *registered_by_hand(void *arg) {
  struct GC_stack_base sb;
  CHECK_EQ(GC_get_stack_base(&sb), GC_SUCCESS);
  CHECK((char *)sb.mem_base > (char *)&sb);
  CHECK_EQ(GC_register_my_thread(&sb), GC_SUCCESS);
  CHECK_EQ(GC_register_my_thread(&sb), GC_DUPLICATE);
  CHECK(GC_thread_is_registered());
  void *ok = work(arg);
  CHECK_EQ(GC_unregister_my_thread(), GC_SUCCESS);
  return ok;
}

TEST(threads_registered_by_hand) {
  GC_allow_register_threads();
  pthread_t th[THREADS];
  for (long i = 0; i < THREADS; i++)
    CHECK_EQ(raw_pthread_create(&th[i], registered_by_hand, (void *)(i + 10)), 0);
  CHECK((long)work((void *)98));
  for (int i = 0; i < THREADS; i++) {
    void *ret = NULL;
    CHECK_EQ(GC_pthread_join(th[i], &ret), 0);
    CHECK((long)ret);
  }
}

static void *with_base(struct GC_stack_base *sb, void *arg) {
  CHECK(sb->mem_base != NULL);
  return work(arg);
}

static void *all_signals_blocked(void *arg) {
  sigset_t all;
  sigfillset(&all);
  CHECK_EQ(pthread_sigmask(SIG_BLOCK, &all, NULL), 0); /* GC_pthread_sigmask */
  return GC_call_with_stack_base(with_base, arg);
}

TEST(sigmask_and_stack_base) {
  pthread_t th;
  CHECK_EQ(GC_pthread_create(&th, NULL, all_signals_blocked, (void *)20), 0);
  CHECK((long)work((void *)97)); /* collects while the other thread runs */
  void *ret = NULL;
  CHECK_EQ(pthread_join(th, &ret), 0);
  CHECK((long)ret);
}

static int detached_done;
static void *detached(void *arg) {
  if (work(arg)) __atomic_store_n(&detached_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

TEST(detached_thread) {
  pthread_t th;
  CHECK_EQ(GC_pthread_create(&th, NULL, detached, (void *)30), 0);
  CHECK_EQ(pthread_detach(th), 0); /* GC_pthread_detach */
  while (!__atomic_load_n(&detached_done, __ATOMIC_ACQUIRE)) GC_gcollect();
}

BDW_MAIN()
