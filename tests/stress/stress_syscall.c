/*
 * stress_syscall.c - heap pointers written into collected objects by the
 * kernel (read(2), readv(2), pread(2), recv(2)) while collection cycles run.
 *
 * Each of NTHREADS threads repeats a round:
 *   1. allocates n checksummed objects (16 B .. 1 KiB) into a scanned heap
 *      `stage` array (GC_STORE), and a few "leaf" objects into a second one;
 *   2. writes the stage's pointer values to the kernel: a pipe, a temporary
 *      file (pwrite at a per-thread offset) or a socketpair, in rotation;
 *   3. reads them back with read(2) / readv(2) (pipe), pread(2) (file) or
 *      recv(2) (socket) into a buffer object: either a recycled buffer of the
 *      thread's ring (verified, then overwritten by the kernel; likely already
 *      scanned in the current mark) or a new one (possibly born black), small
 *      or large (> 32 KiB); and reads each leaf pointer with pread(2) into the
 *      `kid` field of one of the objects (one 8-byte pread each);
 *   4. drops the stage's references (plain stores; see barrier mode below),
 *      so the buffer and the objects' `kid` fields, written only by the
 *      kernel, are the only places the pointers live;
 *   5. allocates garbage and verifies some ring buffers.
 * A ring buffer survives RING rounds (many cycles) and is verified whenever
 * it is visited and before it is recycled: every object's magic, id (against
 * a libc-memory shadow of the ids read into that buffer), size and payload
 * pattern, and its leaf's. An object whose only references were written by
 * the kernel and which the collector missed is freed, reused by garbage or
 * another object, and fails the check (its address is printed).
 * A helper thread allocates garbage all the time so that cycles keep running
 * (gc_set_percent(25): a cycle every megabyte or two); a shared ballast tree
 * (st_tree_build, ~2.4 MiB) makes each mark last a little while.
 *
 * GCMODE=concurrent: the kernel's writes to the heap fault on the
 * write-protected pages like the program's own, so the collector sees them.
 * GCMODE=stw: marking never overlaps the program.
 * GCMODE=barrier: a system call writing pointers into the heap breaks the
 * program's promise that every heap pointer store goes through gc_store(). A
 * correct barrier-mode program keeps the objects referenced until after the
 * read and then re-publishes every slot the kernel wrote with
 * GC_STORE(slot, slot's own value), which shades the pointer; only then does
 * it drop the other references (with GC_STORE too, as they are heap stores).
 * This test does exactly that in barrier mode.
 *
 * The main thread stops the threads after TARGET_CYCLES cycles and
 * MIN_SECONDS, or after TIME_LIMIT seconds.
 * Checks: no verification failed (and every read returned exactly what was
 * written), >= MIN_CYCLES cycles ran.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "check.h"
#include "stress_util.h"

#define NTHREADS 2
#define RING 16
#define MAXSMALL 512   /* pointers in a small buffer (4 KiB) */
#define MINLARGE 4200  /* pointers in a large buffer: > 32 KiB */
#define MAXLARGE 7000  /* < 64 KiB: fits in a pipe */
#define MAXLEAVES 16
#define TARGET_CYCLES 260
#define MIN_CYCLES 200
#define MIN_SECONDS 3.0 /* even when the cycles come faster (stw) */
#define TIME_LIMIT 50.0
#define BALLAST_NODES 12000

#define OBJ_MAGIC 0x73797363u /* "sysc" */
#define LEAF_MAGIC 0x6c656166u
#define BUF_MAGIC 0x62756666u

struct sobj {
  uint64_t magic; /* OBJ_MAGIC or LEAF_MAGIC */
  uint64_t id;
  uint64_t words;
  uint64_t sum;
  struct sobj *kid; /* a leaf, written by pread(2); not checksummed */
  uint64_t pay[];   /* st_pat(id, i) */
};

/* Read-into buffer. */
struct rbuf {
  uint64_t magic, cap;
  struct sobj *p[];
};

/* Expected contents of one ring buffer: integers only, libc memory. */
struct expect {
  uint64_t n;
  uint64_t *ids;     /* n ids */
  uint64_t *kid_ids; /* n ids of leaves, 0 for none */
};

static atomic_int g_stop;
static atomic_long g_bad, g_rounds, g_ptrs_read, g_recycled, g_large;
static gc_mode_t g_mode;
static char g_tmpl[64];

ST_DEFINE_BAD("stress_syscall", g_bad, g_stop)

static uint64_t words_of(uint64_t id) {
  uint64_t h = st_mix(id ^ 0x5ca11);
  return h % 100 < 90 ? h % 16 : h % 124;
}

static uint64_t obj_sum(const struct sobj *o) { return st_mix(o->magic ^ st_mix(o->id ^ o->words)); }

static struct sobj *sobj_new(uint64_t magic, uint64_t id) {
  uint64_t w = words_of(id);
  struct sobj *o = st_xalloc(sizeof *o + w * 8);
  o->magic = magic;
  o->id = id;
  o->words = w;
  o->sum = obj_sum(o);
  st_fill_words(o->pay, 0, w, id);
  return o;
}

static int sobj_ok(const struct sobj *o, uint64_t magic, uint64_t id, const char *what, int tid, int slot, uint64_t i) {
  if (gc_base(o) != (const void *)o) {
    bad("thread %d ring %d [%llu]: %s %p (id %#llx) is not the start of a live object (gc_base %p)", tid, slot,
        (unsigned long long)i, what, (const void *)o, (unsigned long long)id, gc_base(o));
    return 0;
  }
  if (o->magic != magic || o->id != id || o->words != words_of(id) || o->sum != obj_sum(o)) {
    bad("thread %d ring %d [%llu]: %s %p: header (magic %#llx id %#llx words %llu), expected id %#llx: freed and "
        "reused?",
        tid, slot, (unsigned long long)i, what, (const void *)o, (unsigned long long)o->magic,
        (unsigned long long)o->id, (unsigned long long)o->words, (unsigned long long)id);
    return 0;
  }
  size_t k = st_check_words(o->pay, 0, o->words, id);
  if (k != (size_t)-1) {
    bad("thread %d ring %d [%llu]: %s %p (id %#llx): payload word %zu is %#llx: freed and reused?", tid, slot,
        (unsigned long long)i, what, (const void *)o, (unsigned long long)id, k, (unsigned long long)o->pay[k]);
    return 0;
  }
  return 1;
}

/* ---- Ballast (barrier-clean) ------------------------------------------------ */

static struct st_node *g_ballast;
static uint64_t g_ballast_sum;

static ST_NOINLINE void ballast_verify(void) {
  if (st_tree_check(g_ballast, g_ballast_sum, BALLAST_NODES, "ballast"))
    bad("ballast tree damaged (details above)");
}

/* ---- Garbage ------------------------------------------------------------------ */

static volatile uint64_t g_sink;


static void *garbage_thread(void *arg) {
  st_rng r = {st_seed() ^ 0x6a7b};
  while (!atomic_load(&g_stop)) g_sink += st_garbage(&r, 256 << 10, 64 << 10);
  return NULL;
}

/* ---- I/O helpers ------------------------------------------------------------------ */

static void die(const char *what) {
  fprintf(stderr, "stress_syscall: %s: %s\n", what, strerror(errno));
  abort();
}

static void write_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    b += w;
    n -= (size_t)w;
  }
}

static void pwrite_all(int fd, const void *p, size_t n, off_t off) {
  const char *b = p;
  while (n) {
    ssize_t w = pwrite(fd, b, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("pwrite");
    b += w;
    n -= (size_t)w;
    off += w;
  }
}

/* The kernel writes into the heap from here on. */
static void read_all(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("read");
    b += r;
    n -= (size_t)r;
  }
}

static void readv_all(int fd, void *p, size_t n, size_t split) {
  char *b = p;
  struct iovec iov[2] = {{b, split}, {b + split, n - split}};
  ssize_t r;
  do r = readv(fd, iov, 2);
  while (r < 0 && errno == EINTR);
  if (r < 0) die("readv");
  if ((size_t)r < n) read_all(fd, b + r, n - (size_t)r);
}

static void pread_all(int fd, void *p, size_t n, off_t off) {
  char *b = p;
  while (n) {
    ssize_t r = pread(fd, b, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("pread");
    b += r;
    n -= (size_t)r;
    off += r;
  }
}

static void recv_all(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t r = recv(fd, b, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("recv");
    b += r;
    n -= (size_t)r;
  }
}

/* ---- Threads -------------------------------------------------------------------------- */

struct tctx {
  int tid;
  st_rng rng;
  int pipefd[2], sock[2], file;
  off_t file_off;
  uint64_t next_id;
  struct rbuf *stage;        /* heap: MAXLARGE slots */
  struct rbuf *leaf_stage;   /* heap: MAXLEAVES slots */
  struct rbuf **ring;        /* heap: RING buffer pointers (a gc_alloc'd array) */
  struct expect exp[RING];   /* libc shadow */
};

static ST_NOINLINE long ring_verify(struct tctx *c, int slot) {
  struct rbuf *b = c->ring[slot];
  struct expect *e = &c->exp[slot];
  if (!b) return 0;
  long before = atomic_load(&g_bad);
  if (gc_base(b) != (void *)b || b->magic != BUF_MAGIC || b->cap < e->n) {
    bad("thread %d ring %d: buffer %p broken (magic %#llx cap %llu, %llu pointers expected)", c->tid, slot,
        (void *)b, (unsigned long long)b->magic, (unsigned long long)b->cap, (unsigned long long)e->n);
    return 1;
  }
  for (uint64_t i = 0; i < e->n && atomic_load(&g_bad) - before < 5; i++) {
    const struct sobj *o = b->p[i];
    if (!sobj_ok(o, OBJ_MAGIC, e->ids[i], "object", c->tid, slot, i)) {
      /* Diagnosis: the same address elsewhere in this buffer means the
       * allocator handed it out twice while the first object was live. */
      for (uint64_t j = 0; j < e->n; j++)
        if (j != i && b->p[j] == o)
          bad("thread %d ring %d: %p is at [%llu] (id %#llx) and at [%llu] (id %#llx) of the same buffer: handed out "
              "twice",
              c->tid, slot, (const void *)o, (unsigned long long)i, (unsigned long long)e->ids[i],
              (unsigned long long)j, (unsigned long long)e->ids[j]);
      continue;
    }
    if (e->kid_ids[i] == 0) {
      if (o->kid) bad("thread %d ring %d [%llu]: object %p has an unexpected kid %p", c->tid, slot, (unsigned long long)i,
                      (const void *)o, (void *)o->kid);
    } else {
      sobj_ok(o->kid, LEAF_MAGIC, e->kid_ids[i], "leaf (pointer read by pread into the object)", c->tid, slot, i);
    }
  }
  return atomic_load(&g_bad) - before;
}

/* Creates n objects in the stage and nleaves leaves in the leaf stage. The
 * pointers are left only in the heap stages (this frame is gone when the
 * caller goes on). */
static ST_NOINLINE void fill_stages(struct tctx *c, uint64_t n, uint64_t nleaves, struct expect *e) {
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
    GC_STORE(c->stage->p[i], sobj_new(OBJ_MAGIC, id));
    e->ids[i] = id;
    e->kid_ids[i] = 0;
  }
  for (uint64_t j = 0; j < nleaves; j++) {
    uint64_t id = ((uint64_t)c->tid + 1) << 48 | ++c->next_id;
    GC_STORE(c->leaf_stage->p[j], sobj_new(LEAF_MAGIC, id));
  }
}

/* Clears n slots of a stage: plain stores (nothing but the kernel's writes
 * keeps the objects now), or GC_STORE in barrier mode. */
static ST_NOINLINE void clear_stage(struct rbuf *s, uint64_t n) {
  if (g_mode == GC_MODE_BARRIER) {
    for (uint64_t i = 0; i < n; i++) GC_STORE(s->p[i], NULL);
  } else {
    memset(s->p, 0, n * sizeof s->p[0]);
  }
}

static ST_NOINLINE void round_once(struct tctx *c, long round) {
  st_rng *r = &c->rng;
  int slot = (int)st_below(r, RING);
  struct expect *e = &c->exp[slot];
  int large = st_below(r, 20) == 0;
  uint64_t n = large ? st_range(r, MINLARGE, MAXLARGE) : st_range(r, 1, MAXSMALL);
  uint64_t nleaves = st_range(r, 0, n < MAXLEAVES ? n : MAXLEAVES);

  /* The destination: the old buffer of this slot (verified, then recycled)
   * if it is big enough, else a new one. Keep it in the ring meanwhile. */
  ring_verify(c, slot);
  struct rbuf *b = c->ring[slot];
  if (!b || b->cap < n || st_below(r, 4) == 0) {
    size_t cap = large ? MAXLARGE : MAXSMALL;
    b = st_xalloc(sizeof *b + cap * sizeof b->p[0]);
    b->magic = BUF_MAGIC;
    b->cap = cap;
    GC_STORE(c->ring[slot], b);
  } else {
    /* Recycled: drop what lies past the new contents (keeping it would only
     * keep garbage alive). */
    for (uint64_t i = n; i < b->cap; i++)
      if (b->p[i]) GC_STORE(b->p[i], NULL);
    atomic_fetch_add(&g_recycled, 1);
  }
  /* From here on the old contents are not expected any more. */
  e->n = 0;
  e->ids = realloc(e->ids, n * sizeof *e->ids);
  e->kid_ids = realloc(e->kid_ids, n * sizeof *e->kid_ids);
  if (!e->ids || !e->kid_ids) abort();
  if (large) atomic_fetch_add(&g_large, 1);

  fill_stages(c, n, nleaves, e);
  size_t bytes = n * sizeof b->p[0];
  int how = (int)(round % 4);
  switch (how) {
  case 0: /* pipe, read(2) */
    write_all(c->pipefd[1], c->stage->p, bytes);
    if (st_below(r, 2)) g_sink += st_garbage(r, 16 << 10, 64 << 10); /* the pointers wait in the pipe */
    read_all(c->pipefd[0], b->p, bytes);
    break;
  case 1: /* pipe, readv(2) into two halves */
    write_all(c->pipefd[1], c->stage->p, bytes);
    readv_all(c->pipefd[0], b->p, bytes, (n / 2) * sizeof b->p[0]);
    break;
  case 2: /* temporary file, pread(2) */
    pwrite_all(c->file, c->stage->p, bytes, c->file_off);
    pread_all(c->file, b->p, bytes, c->file_off);
    break;
  default: /* socketpair, recv(2) */
    write_all(c->sock[0], c->stage->p, bytes);
    recv_all(c->sock[1], b->p, bytes);
    break;
  }
  /* Leaves: one pread(2) of 8 bytes into an object's kid field each. */
  if (nleaves) {
    off_t loff = c->file_off + (off_t)(MAXLARGE * 8);
    pwrite_all(c->file, c->leaf_stage->p, nleaves * 8, loff);
    for (uint64_t j = 0; j < nleaves; j++) {
      uint64_t i = st_below(r, n);
      while (e->kid_ids[i]) i = (i + 1) % n;
      struct sobj *o = b->p[i];
      pread_all(c->file, &o->kid, 8, loff + (off_t)(j * 8));
      if (g_mode == GC_MODE_BARRIER) GC_STORE(o->kid, o->kid); /* re-publish */
      e->kid_ids[i] = ((uint64_t)c->tid + 1) << 48 | (c->next_id - nleaves + j + 1);
    }
  }
  /* The kernel's copy must be exact (a test or I/O problem otherwise, not
   * the collector's). */
  for (uint64_t i = 0; i < n; i++)
    if (b->p[i] != c->stage->p[i]) {
      bad("thread %d ring %d [%llu]: read back %p, wrote %p", c->tid, slot, (unsigned long long)i, (void *)b->p[i],
          (void *)c->stage->p[i]);
      break;
    }
  if (g_mode == GC_MODE_BARRIER) {
    /* Re-publish what the kernel wrote: the stage still holds the objects,
     * GC_STORE shades them; only then are the stage's references dropped. */
    for (uint64_t i = 0; i < n; i++) GC_STORE(b->p[i], b->p[i]);
  }
  e->n = n;
  clear_stage(c->stage, n);
  clear_stage(c->leaf_stage, nleaves);
  atomic_fetch_add(&g_ptrs_read, (long)(n + nleaves));

  /* Let marking go on with the pointers only where the kernel put them. */
  g_sink += st_garbage(r, st_range(r, 4 << 10, 64 << 10), 64 << 10);
  ring_verify(c, slot);
  for (int k = 0; k < 2; k++) ring_verify(c, (int)st_below(r, RING));
}

static void *worker(void *arg) {
  struct tctx *c = arg;
  long round = 0;
  while (!atomic_load(&g_stop)) {
    round_once(c, round++);
    atomic_fetch_add(&g_rounds, 1);
    if (round % 64 == 0) st_scrub_stack();
  }
  for (int s = 0; s < RING; s++) ring_verify(c, s);
  return NULL;
}

static ST_NOINLINE void tctx_init(struct tctx *c, int tid) {
  memset(c, 0, sizeof *c);
  c->tid = tid;
  c->rng.s = st_seed() * 77 + (uint64_t)tid;
  if (pipe(c->pipefd) != 0) die("pipe");
  if (fcntl(c->pipefd[0], F_SETPIPE_SZ, 1 << 20) < 0) { /* default 64 KiB is enough */
  }
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->sock) != 0) die("socketpair");
  int sz = 1 << 20;
  setsockopt(c->sock[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  setsockopt(c->sock[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  char path[80];
  snprintf(path, sizeof path, "%s", g_tmpl);
  c->file = mkstemp(path);
  if (c->file < 0) die("mkstemp");
  unlink(path);
  c->file_off = 0;
  GC_STORE(c->stage, st_xalloc(sizeof(struct rbuf) + MAXLARGE * sizeof(void *)));
  c->stage->magic = BUF_MAGIC;
  c->stage->cap = MAXLARGE;
  GC_STORE(c->leaf_stage, st_xalloc(sizeof(struct rbuf) + MAXLEAVES * sizeof(void *)));
  c->leaf_stage->magic = BUF_MAGIC;
  c->leaf_stage->cap = MAXLEAVES;
  GC_STORE(c->ring, st_xalloc(RING * sizeof(struct rbuf *)));
}

static void tctx_fini(struct tctx *c) {
  close(c->pipefd[0]);
  close(c->pipefd[1]);
  close(c->sock[0]);
  close(c->sock[1]);
  close(c->file);
  for (int s = 0; s < RING; s++) {
    free(c->exp[s].ids);
    free(c->exp[s].kid_ids);
  }
}

/* Thread contexts: globals (roots), so their heap pointers are kept. */
static struct tctx g_ctx[NTHREADS];

TEST(pointers_written_into_the_heap_by_system_calls) {
  g_mode = gc_get_mode();
  fprintf(stderr, "stress_syscall: mode %s\n",
          st_mode_name(g_mode));
  const char *tmp = getenv("TMPDIR");
  snprintf(g_tmpl, sizeof g_tmpl, "%.40s/stress_syscall.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  /* A small heap runway: a cycle every ~1-2 MiB of allocation, and the
   * mutators spend much of their time beside a running mark. */
  int old_percent = gc_set_percent(25);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  g_ballast = st_tree_build(0xba11a57, BALLAST_NODES);
  g_ballast_sum = g_ballast->sum;
  uint32_t gc0 = st_num_gc(), want = (uint32_t)(TARGET_CYCLES * st_scale());
  pthread_t th[NTHREADS], gt;
  for (int i = 0; i < NTHREADS; i++) tctx_init(&g_ctx[i], i);
  for (int i = 0; i < NTHREADS; i++) CHECK_OR_RETURN(gc_pthread_create(&th[i], NULL, worker, &g_ctx[i]) == 0);
  CHECK_OR_RETURN(gc_pthread_create(&gt, NULL, garbage_thread, NULL) == 0);
  uint32_t cycles = 0;
  int ticks = 0;
  while (!atomic_load(&g_stop)) {
    usleep(50000); /* gc_read_memstats stops the world: not too often */
    cycles = st_num_gc() - gc0;
    double el = st_now() - t0;
    if ((cycles >= want && el >= MIN_SECONDS * st_scale()) || el > limit) break;
    if (++ticks % 20 == 0) ballast_verify();
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_join(gt, NULL);
  cycles = st_num_gc() - gc0;
  double secs = st_now() - t0;
  gc_collect();
  gc_collect();
  for (int i = 0; i < NTHREADS; i++)
    for (int s = 0; s < RING; s++) ring_verify(&g_ctx[i], s);
  ballast_verify();
  for (int i = 0; i < NTHREADS; i++) tctx_fini(&g_ctx[i]);
  fprintf(stderr,
          "stress_syscall: %u cycles in %.1f s, %ld rounds, %ld pointers read by the kernel into the heap, %ld "
          "recycled buffers, %ld large, %ld bad\n",
          cycles, secs, atomic_load(&g_rounds), atomic_load(&g_ptrs_read), atomic_load(&g_recycled),
          atomic_load(&g_large), atomic_load(&g_bad));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK(cycles >= (uint32_t)MIN_CYCLES);
  if (cycles < (uint32_t)MIN_CYCLES) fprintf(stderr, "stress_syscall: only %u cycles, want >= %d\n", cycles, MIN_CYCLES);
  gc_set_percent(old_percent);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_syscall", 150); }

CHECK_MAIN()
