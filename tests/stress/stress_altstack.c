/*
 * stress_altstack.c - a thread stopped while it runs a signal handler on an
 * alternate signal stack (sigaltstack + SA_ONSTACK).
 *
 * The collector finds the thread's stack pointer inside the alternate stack,
 * not inside its normal stack. Both must be scanned: a checksummed tree is
 * held only by a local of the handler (on the alternate stack), another only
 * by a local of the interrupted code (on the normal stack), and the main
 * thread collects many times while the handler spins. Run for a worker
 * thread and for the main thread itself being interrupted.
 */
#include <signal.h>

#include "check.h"
#include "stress_util.h"

#define NODES 3000
#define CYCLES 25

static atomic_int in_handler, release_handler, handler_bad;
/* The tree is handed to the handler through this visible global, cleared
 * once the handler's local holds it (until then it must stay reachable:
 * automatic cycles run at any time). */
static struct st_node *volatile handoff;
static uint64_t tree_sum_alt;

static ST_NOINLINE long check_tree(struct st_node *t, uint64_t sum, const char *what) {
  return st_tree_check(t, sum, NODES, what);
}

/* Runs on the alternate stack. The tree's only reference is `tree`, a local
 * of this frame (volatile: it lives in memory on the alternate stack). */
static void handler(int sig) {
  struct st_node *volatile tree = handoff;
  atomic_store(&in_handler, 1);
  while (!atomic_load(&release_handler)) usleep(200);
  if (check_tree(tree, tree_sum_alt, "alt-stack tree")) atomic_store(&handler_bad, 1);
  atomic_store(&in_handler, 0);
}


static ST_NOINLINE void build_handoff_tree(uint64_t seed) {
  struct st_node *t = st_tree_build(seed, NODES);
  tree_sum_alt = t->sum;
  handoff = t;
}

/* Everything a thread does: set up its own alternate stack, build a tree
 * held by this frame only, wait to be interrupted, verify. */
struct job {
  atomic_int ready;
  long bad;
};

static ST_NOINLINE long interrupted_body(struct job *j, uint64_t seed) {
  struct st_node *volatile mine = st_tree_build(seed, NODES);
  uint64_t sum = mine->sum;
  atomic_store(&j->ready, 1);
  /* The handler runs somewhere in this loop. */
  while (!atomic_load(&release_handler)) usleep(200);
  while (atomic_load(&in_handler)) usleep(200);
  return check_tree(mine, sum, "normal-stack tree");
}

static void *worker(void *arg) {
  struct job *j = arg;
  stack_t ss = {.ss_sp = malloc(256 * 1024), .ss_size = 256 * 1024, .ss_flags = 0};
  if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) {
    j->bad = 1;
    return NULL;
  }
  j->bad = interrupted_body(j, 77);
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  free(ss.ss_sp);
  return NULL;
}

static ST_NOINLINE void collect_with_garbage(void) {
  st_rng r = {12345};
  for (int i = 0; i < CYCLES; i++) {
    st_garbage(&r, 2 << 20, 4096);
    gc_collect();
  }
}

static void reset(void) {
  atomic_store(&in_handler, 0);
  atomic_store(&release_handler, 0);
  atomic_store(&handler_bad, 0);
  struct sigaction sa = {0};
  sa.sa_handler = handler;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
}

TEST(worker_stopped_on_alternate_stack) {
  reset();
  build_handoff_tree(1);
  struct job j = {0};
  pthread_t t;
  CHECK_OR_RETURN(gc_pthread_create(&t, NULL, worker, &j) == 0);
  while (!atomic_load(&j.ready)) usleep(100);
  pthread_kill(t, SIGUSR2);
  while (!atomic_load(&in_handler)) usleep(100);
  handoff = NULL; /* from now on only the handler's frame holds the tree */
  st_scrub_stack();
  collect_with_garbage();
  /* The handler's tree must still be intact; then let everything finish. */
  atomic_store(&release_handler, 1);
  pthread_join(t, NULL);
  CHECK_EQ(atomic_load(&handler_bad), 0);
  CHECK_EQ(j.bad, 0);
}

/* The main thread is interrupted by a signal sent from another thread,
 * which then collects while the main thread's handler runs. */
static void *main_collector(void *arg) {
  pthread_t main_thread = *(pthread_t *)arg;
  pthread_kill(main_thread, SIGUSR2);
  while (!atomic_load(&in_handler)) usleep(100);
  handoff = NULL;
  collect_with_garbage();
  atomic_store(&release_handler, 1);
  return NULL;
}

static ST_NOINLINE long main_body(uint64_t seed) {
  struct st_node *volatile mine = st_tree_build(seed, NODES);
  uint64_t sum = mine->sum;
  pthread_t self = pthread_self(), c;
  if (gc_pthread_create(&c, NULL, main_collector, &self) != 0) return 1;
  /* Handler runs here, on the alternate stack, until the collector is done. */
  while (!atomic_load(&release_handler)) usleep(200);
  pthread_join(c, NULL);
  return check_tree(mine, sum, "main normal-stack tree");
}

TEST(main_thread_stopped_on_alternate_stack) {
  reset();
  build_handoff_tree(2);
  stack_t ss = {.ss_sp = malloc(256 * 1024), .ss_size = 256 * 1024, .ss_flags = 0};
  CHECK_OR_RETURN(ss.ss_sp != NULL);
  CHECK_OR_RETURN(sigaltstack(&ss, NULL) == 0);
  long bad = main_body(99);
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  free(ss.ss_sp);
  CHECK_EQ(bad, 0);
  CHECK_EQ(atomic_load(&handler_bad), 0);
}

CHECK_MAIN()
