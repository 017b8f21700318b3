/*
 * binary_trees.c - GCBench (John Ellis and Pete Kovac, adapted to C by Hans
 * Boehm), the classic tree-allocation benchmark for garbage collectors.
 *
 * One run of the benchmark, per thread:
 *   1. stretch: build a bottom-up tree of depth 18 (2^19 - 1 nodes) and drop it;
 *   2. long-lived data: a top-down tree of depth 16 and an array of 500000
 *      doubles (noscan), the first half filled with 1/i; both stay live;
 *   3. for depth d = 4, 6, ..., 16: NumIters(d) = 2 * TreeSize(18) / TreeSize(d)
 *      times build a top-down tree of depth d (Populate) and drop it, then
 *      NumIters(d) times build a bottom-up tree of depth d (MakeTree) and drop
 *      it. Each depth allocates the same number of nodes, ~2 * 2^19 * 2;
 *   4. check that the long-lived tree and array are intact.
 *
 * Node = { left, right, int i, int j }: 24 bytes, allocated scanned and
 * zeroed (bench_alloc). With malloc and mimalloc every dropped tree is freed
 * explicitly, node by node; the collectors just drop the root. Otherwise the
 * work is the same for every allocator, including field writes: every node
 * records its depth in i and a tag in j, so the final check can tell a
 * long-lived node from a short-lived one that was allocated on top of it.
 * One tree per depth and shape is also checked before it is dropped.
 *
 * Threads (--threads N): whippet's mt-gcbench style. Every thread runs the
 * whole benchmark above on its own data (its own stretch tree, long-lived
 * tree and array, and the full per-depth work), so N threads do N times the
 * work of one and share one heap. The main thread is worker 0; the others
 * are created with bench_thread_create. wall_ms covers all of it, from before
 * the first worker starts to after the last has joined and checked.
 *
 * Output, one line on stdout:
 *   binary_trees alloc=<name> threads=<n> wall_ms=<x> peak_rss_kb=<y> cpu_ms=<z>
 * (cpu_ms: user + system time of the whole process, for judging noise).
 * Exit status 1 (and a line on stderr) if a check fails. --verbose prints
 * per-phase times and what the collector did (cycles, pauses, heap) to stderr.
 */
#include "harness.h"

enum {
  kStretchTreeDepth = 18,
  kLongLivedTreeDepth = 16,
  kArraySize = 500000,
  kMinTreeDepth = 4,
  kMaxTreeDepth = 16,
};

/* Tags in Node.j: which kind of tree a node was built for. */
enum { TAG_LONG = 0x4c4f4e47, TAG_TOPDOWN = 0x544f5044, TAG_BOTTOMUP = 0x424f5455 };

typedef struct Node {
  struct Node *left;
  struct Node *right;
  int i, j;
} Node;

static int verbose;

static long TreeSize(int i) { return (1L << (i + 1)) - 1; }

static long NumIters(int i) { return 2 * TreeSize(kStretchTreeDepth) / TreeSize(i); }

static Node *NewNode(int depth, int tag) {
  Node *n = bench_alloc(sizeof(Node));
  n->i = depth;
  n->j = tag;
  return n;
}

/* Build a tree top down: the children are allocated before the subtrees
 * below them, and stored into an older object. */
static void Populate(int depth, Node *node, int tag) {
  if (depth <= 0)
    return;
  depth--;
  node->left = NewNode(depth, tag);
  node->right = NewNode(depth, tag);
  Populate(depth, node->left, tag);
  Populate(depth, node->right, tag);
}

/* Build a tree bottom up: the subtrees first, held only by the stack. */
static Node *MakeTree(int depth) {
  if (depth <= 0)
    return NewNode(0, TAG_BOTTOMUP);
  Node *left = MakeTree(depth - 1);
  Node *right = MakeTree(depth - 1);
  Node *result = NewNode(depth, TAG_BOTTOMUP);
  result->left = left;
  result->right = right;
  return result;
}

/* Drop a tree: explicit allocators free every node, collectors do nothing. */
static void FreeTree(Node *n) {
#if !BENCH_IS_GC
  if (n == NULL)
    return;
  FreeTree(n->left);
  FreeTree(n->right);
  bench_free(n);
#else
  (void)n;
#endif
}

/* Number of well-formed nodes of a tree of the given depth and tag, or -1. */
static long CheckTree(const Node *n, int depth, int tag) {
  if (n == NULL || n->i != depth || n->j != tag)
    return -1;
  if (depth == 0)
    return (n->left == NULL && n->right == NULL) ? 1 : -1;
  long l = CheckTree(n->left, depth - 1, tag);
  long r = CheckTree(n->right, depth - 1, tag);
  return (l < 0 || r < 0) ? -1 : l + r + 1;
}

static void Fail(int worker, const char *what, int depth) {
  fprintf(stderr, "binary_trees alloc=%s worker=%d: FAILED: %s (depth %d)\n",
          BENCH_ALLOC_NAME, worker, what, depth);
  fflush(stderr);
  exit(1);
}

static void TimeConstruction(int worker, int depth) {
  long iters = NumIters(depth);
  double t0 = bench_now_ms();
  for (long i = 0; i < iters; i++) {
    Node *temp = NewNode(depth, TAG_TOPDOWN);
    Populate(depth, temp, TAG_TOPDOWN);
    if (i == iters - 1 && CheckTree(temp, depth, TAG_TOPDOWN) != TreeSize(depth))
      Fail(worker, "top-down tree damaged before it was dropped", depth);
    FreeTree(temp);
  }
  double t1 = bench_now_ms();
  for (long i = 0; i < iters; i++) {
    Node *temp = MakeTree(depth);
    if (i == iters - 1 && CheckTree(temp, depth, TAG_BOTTOMUP) != TreeSize(depth))
      Fail(worker, "bottom-up tree damaged before it was dropped", depth);
    FreeTree(temp);
  }
  double t2 = bench_now_ms();
  if (verbose)
    fprintf(stderr, "  [%d] depth %2d: %6ld trees, top-down %7.1f ms, bottom-up %7.1f ms\n",
            worker, depth, iters, t1 - t0, t2 - t1);
}

static void *RunGCBench(void *arg) {
  int worker = (int)(intptr_t)arg;
  double t0 = bench_now_ms();

  /* Stretch the memory space quickly. */
  Node *temp = MakeTree(kStretchTreeDepth);
  FreeTree(temp);
  temp = NULL;

  /* Long-lived data. */
  Node *longLived = NewNode(kLongLivedTreeDepth, TAG_LONG);
  Populate(kLongLivedTreeDepth, longLived, TAG_LONG);
  double *array = bench_alloc_noscan(sizeof(double) * kArraySize);
  for (int i = 0; i < kArraySize / 2; i++)
    array[i] = 1.0 / i;
  double t1 = bench_now_ms();
  if (verbose)
    fprintf(stderr, "  [%d] stretch + long-lived: %.1f ms\n", worker, t1 - t0);

  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2)
    TimeConstruction(worker, d);

  /* The long-lived data must have survived every collection untouched. */
  if (CheckTree(longLived, kLongLivedTreeDepth, TAG_LONG) != TreeSize(kLongLivedTreeDepth))
    Fail(worker, "long-lived tree damaged", kLongLivedTreeDepth);
  for (int i = 1; i < kArraySize / 2; i++)
    if (array[i] != 1.0 / i)
      Fail(worker, "long-lived array damaged", 0);

  /* Keep both visibly live up to here, whatever the optimiser thinks. */
  __asm__ volatile("" : : "r"(longLived), "r"(array) : "memory");
  return NULL;
}

int main(int argc, char **argv) {
  int threads = (int)bench_opt_long(argc, argv, "--threads", 1, 1, 64);
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--verbose") == 0)
      verbose = 1;

  bench_init();
  double t0 = bench_now_ms();
  pthread_t tid[64];
  for (int w = 1; w < threads; w++)
    if (bench_thread_create(&tid[w], RunGCBench, (void *)(intptr_t)w) != 0)
      bench_die("cannot create a thread");
  RunGCBench((void *)(intptr_t)0);
  for (int w = 1; w < threads; w++)
    bench_thread_join(tid[w], NULL);
  double t1 = bench_now_ms();

  if (verbose)
    bench_report_gc();
  printf("binary_trees alloc=%s threads=%d wall_ms=%.1f peak_rss_kb=%ld cpu_ms=%.1f\n",
         BENCH_ALLOC_NAME, threads, t1 - t0, bench_peak_rss_kb(), bench_cpu_ms());
  return 0;
}
