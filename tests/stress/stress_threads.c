/*
 * stress_threads.c - four threads (gc_pthread_create) allocate checksummed
 * parcels and hand them to each other through queues while collections run.
 *
 * A parcel is a gc_alloc'd header with a chain of 1..20 variable-size nodes
 * (8 B .. 30 KB) and sometimes a large noscan payload (33 KB .. 300 KB);
 * node checksums cover their data and the next node's checksum, the parcel's
 * checksum covers its header and the chain's. Thread i's inbox is g_queue[i]
 * (a global), a gc_alloc'd ring buffer whose slot array grows with
 * gc_realloc and holds only interior pointers to the parcels (even i), or a
 * linked list threaded through the parcels (odd i),
 * each protected by a pthread mutex. Every thread in a loop:
 *   - produces parcels and pushes them to the other threads' inboxes;
 *   - pops its inbox and verifies each parcel, then keeps it for a while in
 *     a gc_alloc'd array referenced only from its stack, forwards it to
 *     another inbox, or retires it (verifies it one last time and drops it);
 *   - re-verifies some kept parcels, allocates garbage of all sizes;
 *   - threads 0 and 2 call gc_collect now and then; automatic cycles run at
 *     gc_set_percent(25).
 * The main thread stops the workers after >= 250 cycles (num_gc from
 * gc_read_memstats) and >= 12 s, or after 30 s, then drains the inboxes.
 * Checks: no parcel ever failed verification, every parcel produced was
 * retired exactly once, >= 200 cycles ran.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "check.h"
#include "stress_util.h"

#define NTHREADS 4
#define KEEP 96
#define QUEUE_MAX 4096
#define PARCEL_MAGIC 0x9a5ce1u
#define MIN_SECONDS 12.0
#define MAX_SECONDS 30.0
#define WANT_CYCLES 250

struct pnode {
  struct pnode *next;
  uint64_t v, len, sum;
  unsigned char data[];
};

struct parcel {
  struct parcel *qnext; /* link in a list inbox: not checksummed */
  uint64_t hops;        /* times forwarded: not checksummed */
  uint64_t magic, id, producer, nnodes;
  struct pnode *first;
  uint64_t *big; /* noscan payload or NULL */
  uint64_t bigwords, bigseed;
  uint64_t sum;
};

struct ring {
  struct parcel **slots;
  uint64_t cap, head, count;
};

struct listq {
  struct parcel *head, *tail;
  uint64_t count;
};

/* Inboxes: gc_alloc'd, reachable only from here. */
static void *g_queue[NTHREADS];
static pthread_mutex_t g_qlock[NTHREADS] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                            PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};

static atomic_int g_stop;
static atomic_long g_bad, g_produced, g_retired, g_verified, g_forwarded, g_kept, g_collects;
static atomic_long g_next_id;

static void bad(const char *fmt, ...) {
  long n = atomic_fetch_add(&g_bad, 1);
  if (n >= 30) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stress_threads: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

/* ---- Parcels --------------------------------------------------------------- */

static uint64_t pnode_sum(const struct pnode *n) {
  uint64_t h = st_combine(n->v, n->len);
  h = st_combine(h, st_hash_bytes(n->data, n->len, 44));
  return st_combine(h, n->next ? n->next->sum : 7);
}

static uint64_t parcel_sum(const struct parcel *p) {
  uint64_t h = st_combine(p->magic, p->id);
  h = st_combine(h, p->producer);
  h = st_combine(h, p->nnodes);
  h = st_combine(h, p->first ? p->first->sum : 8);
  h = st_combine(h, p->bigwords);
  return st_combine(h, p->bigseed);
}

static ST_NOINLINE struct parcel *parcel_new(st_rng *r, int producer) {
  uint64_t nn = st_range(r, 1, 20);
  struct pnode *head = NULL;
  for (uint64_t i = 0; i < nn; i++) {
    size_t len = st_below(r, 50) == 0 ? st_logsize(r, 2048, 30000) : st_logsize(r, 1, 2048);
    struct pnode *n = st_xalloc(sizeof *n + len);
    n->v = st_next(r);
    n->len = len;
    st_fill_bytes(n->data, len, n->v);
    n->next = head;
    n->sum = pnode_sum(n);
    head = n;
  }
  struct parcel *p = st_xalloc(sizeof *p);
  p->magic = PARCEL_MAGIC;
  p->id = (uint64_t)atomic_fetch_add(&g_next_id, 1);
  p->producer = (uint64_t)producer;
  p->nnodes = nn;
  p->first = head;
  if (st_below(r, 64) == 0) {
    p->bigwords = st_logsize(r, 33 << 10, 300 << 10) / 8;
    p->bigseed = st_next(r);
    p->big = gc_alloc_noscan(p->bigwords * 8);
    if (!p->big) abort();
    st_fill_words(p->big, 0, p->bigwords, p->bigseed);
  }
  p->sum = parcel_sum(p);
  atomic_fetch_add_explicit(&g_produced, 1, memory_order_relaxed);
  return p;
}

static ST_NOINLINE int parcel_ok(const struct parcel *p, const char *where) {
  if (!p) {
    bad("%s: NULL parcel", where);
    return 0;
  }
  if (p->magic != PARCEL_MAGIC || p->producer >= NTHREADS || p->nnodes < 1 || p->nnodes > 20) {
    bad("%s: parcel %p: header corrupted (magic %#llx producer %llu nnodes %llu)", where, (const void *)p,
        (unsigned long long)p->magic, (unsigned long long)p->producer, (unsigned long long)p->nnodes);
    return 0;
  }
  uint64_t count = 0;
  for (const struct pnode *n = p->first; n; n = n->next) {
    if (++count > p->nnodes) {
      bad("%s: parcel %p (id %llu): chain too long", where, (const void *)p, (unsigned long long)p->id);
      return 0;
    }
    if (n->len > 30000 || !st_check_bytes(n->data, n->len, n->v) || pnode_sum(n) != n->sum) {
      bad("%s: parcel %p (id %llu from thread %llu, %llu hops): node %llu at %p corrupted", where, (const void *)p,
          (unsigned long long)p->id, (unsigned long long)p->producer, (unsigned long long)p->hops,
          (unsigned long long)count, (const void *)n);
      return 0;
    }
  }
  if (count != p->nnodes) {
    bad("%s: parcel %p (id %llu): %llu nodes, expected %llu", where, (const void *)p, (unsigned long long)p->id,
        (unsigned long long)count, (unsigned long long)p->nnodes);
    return 0;
  }
  if (p->bigwords) {
    size_t i = p->big ? st_check_words(p->big, 0, p->bigwords, p->bigseed) : 0;
    if (i != (size_t)-1) {
      bad("%s: parcel %p (id %llu): large payload %p word %zu corrupted", where, (const void *)p,
          (unsigned long long)p->id, (void *)p->big, i);
      return 0;
    }
  }
  if (parcel_sum(p) != p->sum) {
    bad("%s: parcel %p (id %llu): checksum mismatch", where, (const void *)p, (unsigned long long)p->id);
    return 0;
  }
  atomic_fetch_add_explicit(&g_verified, 1, memory_order_relaxed);
  return 1;
}

/* The end of a parcel's life: verified one last time, then garbage. */
static void retire(struct parcel *p, const char *where) {
  parcel_ok(p, where);
  atomic_fetch_add_explicit(&g_retired, 1, memory_order_relaxed);
}

/* ---- Inboxes ------------------------------------------------------------------- */

static ST_NOINLINE void queues_init(void) {
  for (int i = 0; i < NTHREADS; i++) {
    if (i % 2 == 0) {
      struct ring *q = st_xalloc(sizeof *q);
      q->cap = 16;
      q->slots = st_xalloc(q->cap * sizeof *q->slots);
      g_queue[i] = q;
    } else {
      g_queue[i] = st_xalloc(sizeof(struct listq));
    }
  }
}

static ST_NOINLINE int push(int to, struct parcel *p) {
  int ok = 1;
  pthread_mutex_lock(&g_qlock[to]);
  if (to % 2 == 0) {
    struct ring *q = g_queue[to];
    if (q->count == q->cap) {
      if (q->cap >= QUEUE_MAX) {
        ok = 0;
      } else {
        /* Grow with gc_realloc, then unwrap: slots [0, head) move up. */
        uint64_t old = q->cap;
        struct parcel **s = gc_realloc(q->slots, 2 * old * sizeof *s);
        if (!s) abort();
        for (uint64_t i = 0; i < q->head; i++) {
          s[old + i] = s[i];
          s[i] = NULL;
        }
        q->slots = s;
        q->cap = 2 * old;
      }
    }
    if (ok) {
      /* Slots hold interior pointers (to the magic field). */
      q->slots[(q->head + q->count) % q->cap] = (struct parcel *)&p->magic;
      q->count++;
    }
  } else {
    struct listq *q = g_queue[to];
    if (q->count >= QUEUE_MAX) {
      ok = 0;
    } else {
      p->qnext = NULL;
      if (q->tail) q->tail->qnext = p;
      else q->head = p;
      q->tail = p;
      q->count++;
    }
  }
  pthread_mutex_unlock(&g_qlock[to]);
  return ok;
}

static ST_NOINLINE struct parcel *pop(int me) {
  struct parcel *p = NULL;
  pthread_mutex_lock(&g_qlock[me]);
  if (me % 2 == 0) {
    struct ring *q = g_queue[me];
    if (q->count) {
      char *in = (char *)q->slots[q->head];
      p = in ? (struct parcel *)(in - offsetof(struct parcel, magic)) : NULL;
      q->slots[q->head] = NULL;
      q->head = (q->head + 1) % q->cap;
      q->count--;
    }
  } else {
    struct listq *q = g_queue[me];
    p = q->head;
    if (p) {
      q->head = p->qnext;
      if (!q->head) q->tail = NULL;
      p->qnext = NULL;
      q->count--;
    }
  }
  pthread_mutex_unlock(&g_qlock[me]);
  return p;
}

static int other(st_rng *r, int me) { return (me + 1 + (int)st_below(r, NTHREADS - 1)) % NTHREADS; }

static void forward_or_retire(st_rng *r, int me, struct parcel *p) {
  if (p->hops < 30 && st_below(r, 2)) {
    p->hops++;
    if (push(other(r, me), p)) {
      atomic_fetch_add_explicit(&g_forwarded, 1, memory_order_relaxed);
      return;
    }
  }
  retire(p, "retired");
}

/* ---- Workers ---------------------------------------------------------------------- */

struct targ {
  uint64_t idx, seed, check;
};

static ST_NOINLINE void worker_loop(int me, st_rng *r) {
  struct parcel **keep = st_xalloc(KEEP * sizeof *keep); /* only on this stack */
  for (uint64_t it = 1; !atomic_load_explicit(&g_stop, memory_order_relaxed); it++) {
    int np = (int)st_range(r, 1, 3);
    for (int k = 0; k < np; k++) {
      struct parcel *p = parcel_new(r, me);
      if (!push(other(r, me), p)) retire(p, "undeliverable");
    }
    for (int k = 0; k < 6; k++) {
      struct parcel *p = pop(me);
      if (!p) break;
      if (!parcel_ok(p, "received")) {
        atomic_fetch_add_explicit(&g_retired, 1, memory_order_relaxed);
        continue;
      }
      uint64_t a = st_below(r, 10);
      if (a < 4) {
        int j = (int)st_below(r, KEEP);
        struct parcel *old = keep[j];
        keep[j] = p;
        atomic_fetch_add_explicit(&g_kept, 1, memory_order_relaxed);
        if (old && parcel_ok(old, "evicted from keep")) forward_or_retire(r, me, old);
        else if (old) atomic_fetch_add_explicit(&g_retired, 1, memory_order_relaxed);
      } else if (a < 7) {
        forward_or_retire(r, me, p);
      } else {
        retire(p, "retired");
      }
    }
    for (int k = 0; k < 2; k++) {
      const struct parcel *p = keep[st_below(r, KEEP)];
      if (p) parcel_ok(p, "kept");
    }
    st_garbage(r, st_range(r, 16 << 10, 128 << 10), st_below(r, 8) ? 32768 : 512 << 10);
    if ((me == 0 && it % 40 == 0) || (me == 2 && it % 57 == 0)) {
      gc_collect();
      atomic_fetch_add_explicit(&g_collects, 1, memory_order_relaxed);
    }
  }
  for (int j = 0; j < KEEP; j++) {
    if (keep[j]) retire(keep[j], "kept at exit");
    keep[j] = NULL;
  }
}

static void *worker(void *arg) {
  struct targ *a = arg;
  if (a->check != st_mix(a->idx ^ a->seed)) {
    bad("thread argument corrupted");
    return NULL;
  }
  int me = (int)a->idx;
  st_rng r = {a->seed};
  a = NULL;
  worker_loop(me, &r);
  return NULL;
}

/* The argument lives only in the collector's hands until the thread runs. */
static ST_NOINLINE int spawn(pthread_t *t, int idx, uint64_t seed) {
  struct targ *a = st_xalloc(sizeof *a);
  a->idx = (uint64_t)idx;
  a->seed = seed;
  a->check = st_mix(a->idx ^ seed);
  st_garbage(&(st_rng){seed}, 1 << 20, 32768);
  return gc_pthread_create(t, NULL, worker, a);
}

static ST_NOINLINE void drain(void) {
  for (int i = 0; i < NTHREADS; i++) {
    struct parcel *p;
    while ((p = pop(i)) != NULL) retire(p, "drained");
  }
}

TEST(parcels_survive_handoffs_between_threads) {
  int old = gc_set_percent(25);
  queues_init();
  uint32_t gc0 = st_num_gc();
  double t0 = st_now();
  double min_s = MIN_SECONDS * st_scale(), max_s = MAX_SECONDS * st_scale();
  pthread_t t[NTHREADS];
  int started = 0;
  for (int i = 0; i < NTHREADS; i++) {
    int rc = spawn(&t[i], i, st_seed() + 1000003u * (uint64_t)i);
    CHECK_EQ(rc, 0);
    if (rc == 0) started++;
  }
  CHECK_OR_RETURN(started == NTHREADS);
  uint32_t cycles = 0;
  for (;;) {
    usleep(20000);
    cycles = st_num_gc() - gc0;
    double el = st_now() - t0;
    if ((cycles >= WANT_CYCLES && el >= min_s) || el >= max_s || atomic_load(&g_bad) > 0) break;
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
  drain();
  st_scrub_stack();
  gc_collect();
  cycles = st_num_gc() - gc0;
  fprintf(stderr,
          "stress_threads: %.1f s, %u cycles (%ld by gc_collect in workers), %ld parcels produced, %ld retired, "
          "%ld verifications, %ld forwards, %ld kept\n",
          st_now() - t0, cycles, atomic_load(&g_collects), atomic_load(&g_produced), atomic_load(&g_retired),
          atomic_load(&g_verified), atomic_load(&g_forwarded), atomic_load(&g_kept));
  CHECK_EQ(atomic_load(&g_bad), 0);
  CHECK_EQ(atomic_load(&g_produced), atomic_load(&g_retired));
  CHECK(atomic_load(&g_produced) > 1000);
  CHECK(cycles >= 200);
  gc_set_percent(old);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_threads", 150); }

CHECK_MAIN()
