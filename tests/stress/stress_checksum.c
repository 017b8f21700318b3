/*
 * stress_checksum.c - one thread, hundreds of collection cycles, checksummed
 * live structures that change every round, and plenty of garbage.
 *
 * Live structures (all reachable from one gc_alloc'd `world` whose only
 * reference is a local of the test function, except where noted):
 *   - a persistent binary search tree (path copying: every update makes the
 *     old path garbage while subtrees stay shared), each node holding a noscan
 *     value blob of 1..200 bytes (tiny objects included); node checksums cover
 *     key, value bytes and both children's checksums;
 *   - doubly linked lists of variable-size nodes (8 B .. 40 KB, large ones
 *     included), node checksums cover id, data and neighbour ids;
 *   - a chained hash map: bucket array (gc_alloc, grows to large-object size),
 *     entries (gc_alloc), string keys (gc_strdup / gc_alloc_noscan);
 *   - a ring of medium-lived patterned blobs of every size up to 2 MiB,
 *     scanned and noscan, checked when replaced;
 *   - a noscan u64 array and a scanned pointer array (~30000 entries, several
 *     scan chunks) grown and shrunk with gc_realloc;
 *   - blobs reachable only through interior pointers (p + 17 from globals and
 *     from the world; p + size/2 of a large blob from a global);
 *   - a tree and a blob reachable only from global variables.
 * Expected contents are kept in `shadow` (integers only, in libc memory or
 * pointer-free globals). Removed list nodes and map entries are sometimes
 * released with gc_free (after being unlinked from everything).
 *
 * Each round mutates everything, allocates a few MiB of garbage (sizes up to
 * 1 MiB), sometimes calls gc_collect, and verifies every structure. The
 * collection percent is 25 so that allocation volume alone starts many
 * automatic cycles. The test runs until >= 250 cycles and >= 400 rounds have
 * passed (or a time limit), and requires >= 200 cycles.
 */
#include <stdarg.h>

#include "check.h"
#include "stress_util.h"

#define NLISTS 4
#define RING 64
#define NINTERIOR 8
#define TIME_LIMIT 30.0

/* ---- Types ------------------------------------------------------------- */

struct tnode {
  struct tnode *l, *r;
  unsigned char *val; /* noscan, val_len(key) bytes */
  uint64_t key, vlen, sum;
};

struct lnode {
  struct lnode *prev, *next;
  uint64_t id, len, sum;
  unsigned char data[];
};

struct list {
  struct lnode *first, *last;
  uint64_t count, idxor;
};

struct hentry {
  struct hentry *next;
  char *key;
  uint64_t keylen, id, value, sum;
};

struct hmap {
  struct hentry **buckets;
  uint64_t nb, count, idxor;
};

struct cell {
  uint64_t id, sum;
};

struct world {
  struct tnode *tree;
  struct list *lists[NLISTS];
  struct hmap *map;
  void *ring[RING];
  uint64_t *u64arr;    /* noscan, gc_realloc-grown */
  struct cell **cells; /* scanned, gc_realloc-grown */
  char *interior[NINTERIOR]; /* p + 17 of blobs */
};

/* Expected state: integers only (and libc pointers, which are not heap). */
static struct shadow {
  uint64_t next_id;
  uint64_t *tkeys;
  size_t ntkeys, captkeys;
  uint64_t tree_sum;
  st_census_t lists[NLISTS];
  uint64_t *hids;
  size_t nhids, caphids;
  uint64_t hxor;
  uint64_t ring_seed[RING], ring_size[RING];
  size_t u64len;
  uint64_t u64seed;
  uint64_t *cell_ids;
  size_t ncells, capcells;
  uint64_t wint_seed[NINTERIOR], wint_size[NINTERIOR];
  uint64_t gint_seed[NINTERIOR], gint_size[NINTERIOR];
  uint64_t glarge_seed, glarge_size;
  uint64_t gblob_seed, gblob_size;
  uint64_t gtree_sum, gtree_count;
  long frees;
} S;

/* Reachable only from these globals. */
static char *g_interior[NINTERIOR];  /* blob + 17 */
static char *g_interior_large;       /* large blob + size/2 */
static void *g_global_blob;
static struct tnode *g_global_tree;

static long g_bad;

static void bad(const char *fmt, ...) {
  g_bad++;
  if (g_bad > 30) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stress_checksum: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static void *xalloc_noscan(size_t n) {
  void *p = gc_alloc_noscan(n);
  if (!p) {
    fprintf(stderr, "gc_alloc_noscan(%zu) failed\n", n);
    abort();
  }
  return p;
}

static void u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *a = realloc(*a, *cap * sizeof **a);
    if (!*a) abort();
  }
  (*a)[(*n)++] = v;
}

/* ---- Blobs: word 0 = size, word 1 = seed, then the pattern --------------- */

static ST_NOINLINE void *blob_new(size_t size, uint64_t seed, int noscan) {
  uint64_t *w = noscan ? xalloc_noscan(size) : (st_below(&(st_rng){seed}, 2) ? gc_calloc(size / 8, 8) : st_xalloc(size));
  if (!w) abort();
  w[0] = size;
  w[1] = seed;
  st_fill_words(w, 2, size / 8, seed);
  return w;
}

static int blob_ok(const void *p, size_t size, uint64_t seed, const char *what) {
  const uint64_t *w = p;
  if (w[0] != size || w[1] != seed) {
    bad("%s %p: header (%#llx, %#llx), want (%#llx, %#llx)", what, p, (unsigned long long)w[0],
        (unsigned long long)w[1], (unsigned long long)size, (unsigned long long)seed);
    return 0;
  }
  size_t i = st_check_words(w, 2, size / 8, seed);
  if (i != (size_t)-1) {
    bad("%s %p (size %zu): word %zu is %#llx", what, p, size, i, (unsigned long long)w[i]);
    return 0;
  }
  return 1;
}

/* ---- Persistent binary search tree ----------------------------------------- */

static uint64_t val_len(uint64_t key) { return 1 + st_mix(key ^ 0x77) % 200; }

static unsigned char *val_new(uint64_t key) {
  uint64_t n = val_len(key);
  unsigned char *v = xalloc_noscan(n);
  st_fill_bytes(v, n, key ^ 0xabcdef);
  return v;
}

static uint64_t tnode_sum(const struct tnode *n) {
  uint64_t h = st_combine(n->key, n->vlen);
  h = st_combine(h, st_hash_bytes(n->val, n->vlen, 11));
  h = st_combine(h, n->l ? n->l->sum : 1);
  return st_combine(h, n->r ? n->r->sum : 2);
}

static struct tnode *tnode_make(uint64_t key, unsigned char *val, struct tnode *l, struct tnode *r) {
  struct tnode *n = st_xalloc(sizeof *n);
  n->key = key;
  n->val = val;
  n->vlen = val_len(key);
  n->l = l;
  n->r = r;
  n->sum = tnode_sum(n);
  return n;
}

static struct tnode *t_insert(struct tnode *n, uint64_t key) {
  if (!n) return tnode_make(key, val_new(key), NULL, NULL);
  if (key < n->key) return tnode_make(n->key, n->val, t_insert(n->l, key), n->r);
  if (key > n->key) return tnode_make(n->key, n->val, n->l, t_insert(n->r, key));
  return tnode_make(key, val_new(key), n->l, n->r);
}

static struct tnode *t_delete(struct tnode *n, uint64_t key) {
  if (!n) return NULL;
  if (key < n->key) return tnode_make(n->key, n->val, t_delete(n->l, key), n->r);
  if (key > n->key) return tnode_make(n->key, n->val, n->l, t_delete(n->r, key));
  if (!n->l) return n->r;
  if (!n->r) return n->l;
  struct tnode *m = n->r;
  while (m->l) m = m->l;
  return tnode_make(m->key, m->val, n->l, t_delete(n->r, m->key));
}

static void t_keys(const struct tnode *n, uint64_t **a, size_t *len, size_t *cap) {
  if (!n) return;
  t_keys(n->l, a, len, cap);
  u64_push(a, len, cap, n->key);
  t_keys(n->r, a, len, cap);
}

static struct tnode *t_balanced(const uint64_t *keys, size_t n) {
  if (n == 0) return NULL;
  size_t mid = n / 2;
  struct tnode *l = t_balanced(keys, mid);
  struct tnode *r = t_balanced(keys + mid + 1, n - mid - 1);
  return tnode_make(keys[mid], val_new(keys[mid]), l, r);
}

/* Rebuild (with all-new nodes and values) the subtree found by walking
 * `depth` random steps down, copying the path above it. */
static struct tnode *t_rebuild_at(struct tnode *n, st_rng *r, int depth) {
  if (!n) return NULL;
  if (depth == 0) {
    uint64_t *keys = NULL;
    size_t len = 0, cap = 0;
    t_keys(n, &keys, &len, &cap);
    struct tnode *t = t_balanced(keys, len);
    free(keys);
    return t;
  }
  if (st_below(r, 2)) return tnode_make(n->key, n->val, t_rebuild_at(n->l, r, depth - 1), n->r);
  return tnode_make(n->key, n->val, n->l, t_rebuild_at(n->r, r, depth - 1));
}

/* Recomputes every checksum; returns the subtree's sum. */
static uint64_t t_verify(const struct tnode *n, uint64_t lo, uint64_t hi, size_t *count, const char *what) {
  if (!n) return 0;
  if (g_bad > 30) return 0;
  (*count)++;
  if (n->key < lo || n->key > hi) bad("%s node %p: key %#llx out of order", what, (void *)n, (unsigned long long)n->key);
  if (n->vlen != val_len(n->key)) {
    bad("%s node %p: vlen %llu for key %#llx", what, (void *)n, (unsigned long long)n->vlen, (unsigned long long)n->key);
    return 0;
  }
  if (!n->val || !st_check_bytes(n->val, n->vlen, n->key ^ 0xabcdef))
    bad("%s node %p: value blob %p of key %#llx corrupted", what, (void *)n, (void *)n->val,
        (unsigned long long)n->key);
  if (n->l) t_verify(n->l, lo, n->key - 1, count, what);
  if (n->r) t_verify(n->r, n->key + 1, hi, count, what);
  if (tnode_sum(n) != n->sum) bad("%s node %p: checksum mismatch (key %#llx)", what, (void *)n, (unsigned long long)n->key);
  return n->sum;
}

static ST_NOINLINE void tree_mutate(struct world *w, st_rng *r, int round) {
  for (int i = 0; i < 40; i++) {
    uint64_t k = st_next(r) | 1;
    w->tree = t_insert(w->tree, k);
    u64_push(&S.tkeys, &S.ntkeys, &S.captkeys, k);
  }
  size_t ndel = S.ntkeys > 3000 ? 60 : 25;
  for (size_t i = 0; i < ndel && S.ntkeys > 0; i++) {
    size_t j = st_below(r, S.ntkeys);
    w->tree = t_delete(w->tree, S.tkeys[j]);
    S.tkeys[j] = S.tkeys[--S.ntkeys];
  }
  if (round % 5 == 0) w->tree = t_rebuild_at(w->tree, r, (int)st_range(r, 0, 4));
  S.tree_sum = w->tree ? w->tree->sum : 0;
}

static ST_NOINLINE void tree_verify(struct world *w) {
  size_t count = 0;
  uint64_t s = t_verify(w->tree, 0, UINT64_MAX, &count, "tree");
  if (s != S.tree_sum) bad("tree: root sum %#llx, expected %#llx", (unsigned long long)s, (unsigned long long)S.tree_sum);
  if (count != S.ntkeys) bad("tree: %zu nodes, expected %zu", count, S.ntkeys);
}

/* ---- Doubly linked lists --------------------------------------------------- */

static uint64_t lnode_sum(const struct lnode *n) {
  uint64_t h = st_combine(n->id, n->len);
  h = st_combine(h, st_hash_bytes(n->data, n->len, 22));
  h = st_combine(h, n->prev ? n->prev->id : 3);
  return st_combine(h, n->next ? n->next->id : 4);
}

static struct lnode *lnode_new(uint64_t id, st_rng *r) {
  size_t len = st_below(r, 50) == 0 ? st_logsize(r, 4096, 40000) : st_logsize(r, 1, 1024);
  struct lnode *n = st_xalloc(sizeof *n + len);
  n->id = id;
  n->len = len;
  st_fill_bytes(n->data, len, id * 7 + 1);
  return n;
}

static void l_resum(struct lnode *n) {
  if (n) n->sum = lnode_sum(n);
}

/* Link n at position pos (0..count). */
static void l_link(struct list *L, struct lnode *n, size_t pos) {
  struct lnode *after = NULL; /* n goes after this one */
  if (pos > 0) {
    after = L->first;
    for (size_t i = 1; i < pos; i++) after = after->next;
  }
  n->prev = after;
  n->next = after ? after->next : L->first;
  if (n->prev) n->prev->next = n;
  else L->first = n;
  if (n->next) n->next->prev = n;
  else L->last = n;
  L->count++;
  L->idxor ^= n->id;
  l_resum(n->prev);
  l_resum(n);
  l_resum(n->next);
}

static struct lnode *l_unlink_at(struct list *L, size_t pos) {
  struct lnode *n = L->first;
  for (size_t i = 0; i < pos; i++) n = n->next;
  if (n->prev) n->prev->next = n->next;
  else L->first = n->next;
  if (n->next) n->next->prev = n->prev;
  else L->last = n->prev;
  l_resum(n->prev);
  l_resum(n->next);
  n->prev = n->next = NULL;
  L->count--;
  L->idxor ^= n->id;
  return n;
}

static struct list *l_rebuild(const struct list *old, st_rng *r) {
  struct list *L = st_xalloc(sizeof *L);
  size_t pos = 0;
  for (const struct lnode *o = old->first; o; o = o->next) l_link(L, lnode_new(o->id, r), pos++);
  return L;
}

static ST_NOINLINE void lists_mutate(struct world *w, st_rng *r, int round) {
  for (int li = 0; li < NLISTS; li++) {
    struct list *L = w->lists[li];
    int ins = L->count > 300 ? 3 : 8;
    for (int i = 0; i < ins; i++) {
      uint64_t id = ++S.next_id;
      l_link(L, lnode_new(id, r), st_below(r, L->count + 1));
      st_census_add(&S.lists[li], id);
    }
    for (int i = 0; i < 5 && L->count > 0; i++) {
      struct lnode *n = l_unlink_at(L, st_below(r, L->count));
      st_census_remove(&S.lists[li], n->id);
      if (st_below(r, 2)) {
        gc_free(n);
        S.frees++;
      }
    }
    /* Move a node to another list. */
    if (L->count > 0) {
      int lj = (li + 1 + (int)st_below(r, NLISTS - 1)) % NLISTS;
      struct lnode *n = l_unlink_at(L, st_below(r, L->count));
      st_census_remove(&S.lists[li], n->id);
      l_link(w->lists[lj], n, st_below(r, w->lists[lj]->count + 1));
      st_census_add(&S.lists[lj], n->id);
    }
  }
  if (round % 7 == 3) {
    int li = (int)st_below(r, NLISTS);
    w->lists[li] = l_rebuild(w->lists[li], r);
  }
}

static ST_NOINLINE void lists_verify(struct world *w) {
  for (int li = 0; li < NLISTS; li++) {
    const struct list *L = w->lists[li];
    if (!L) {
      bad("list %d: header gone", li);
      continue;
    }
    uint64_t count = 0; /* nodes walked; seen: those that passed */
    st_census_t seen = {0};
    const struct lnode *prev = NULL;
    for (const struct lnode *n = L->first; n; prev = n, n = n->next) {
      if (g_bad > 30) return;
      if (n->prev != prev) {
        bad("list %d node %p: prev %p, expected %p", li, (void *)n, (void *)n->prev, (void *)prev);
        break;
      }
      if (++count > S.lists[li].count + 1) {
        bad("list %d: too long", li);
        break;
      }
      if (n->len > 40000) {
        bad("list %d node %p: len %llu", li, (void *)n, (unsigned long long)n->len);
        break;
      }
      if (!st_check_bytes(n->data, n->len, n->id * 7 + 1)) bad("list %d node %p: data corrupted", li, (void *)n);
      if (lnode_sum(n) != n->sum) bad("list %d node %p: checksum mismatch", li, (void *)n);
      st_census_add(&seen, n->id);
    }
    if (L->last != prev) bad("list %d: last %p, expected %p", li, (void *)L->last, (void *)prev);
    if (count != S.lists[li].count || L->count != count)
      bad("list %d: %llu nodes, header says %llu, expected %llu", li, (unsigned long long)count,
          (unsigned long long)L->count, (unsigned long long)S.lists[li].count);
    if (!st_census_same_ids(&seen, &S.lists[li]) || L->idxor != seen.idxor) bad("list %d: id set differs", li);
  }
}

/* ---- Chained hash map -------------------------------------------------------- */

static size_t key_text(uint64_t id, char *buf) {
  int n = sprintf(buf, "key:%016llx:", (unsigned long long)id);
  size_t extra = id % 41;
  for (size_t i = 0; i < extra; i++) buf[n + i] = (char)('a' + (id + i) % 26);
  buf[n + extra] = 0;
  return (size_t)n + extra;
}

static uint64_t key_hash(const char *k, size_t len) { return st_hash_bytes(k, len, 0x4a5); }
static uint64_t value_of(uint64_t id) { return st_mix(id ^ 0xfeed); }

static uint64_t hentry_sum(const struct hentry *e) {
  uint64_t h = st_combine(key_hash(e->key, e->keylen), e->keylen);
  h = st_combine(h, e->id);
  return st_combine(h, e->value);
}

static struct hentry *hentry_new(uint64_t id) {
  char buf[128];
  size_t len = key_text(id, buf);
  struct hentry *e = st_xalloc(sizeof *e);
  if (id & 1) {
    e->key = xalloc_noscan(len + 1);
    memcpy(e->key, buf, len + 1);
  } else {
    e->key = gc_strdup(buf);
    if (!e->key) abort();
  }
  e->keylen = len;
  e->id = id;
  e->value = value_of(id);
  e->sum = hentry_sum(e);
  return e;
}

static struct hmap *hmap_new(uint64_t nb) {
  struct hmap *m = st_xalloc(sizeof *m);
  m->nb = nb;
  m->buckets = st_xalloc(nb * sizeof *m->buckets);
  return m;
}

static void hmap_put(struct hmap *m, struct hentry *e) {
  uint64_t b = key_hash(e->key, e->keylen) % m->nb;
  e->next = m->buckets[b];
  m->buckets[b] = e;
  m->count++;
  m->idxor ^= e->id;
}

static struct hentry *hmap_find(struct hmap *m, uint64_t id, struct hentry ***link) {
  char buf[128];
  size_t len = key_text(id, buf);
  uint64_t b = key_hash(buf, len) % m->nb;
  struct hentry **pp = &m->buckets[b];
  for (int guard = 0; *pp && guard < 100000; pp = &(*pp)->next, guard++) {
    struct hentry *e = *pp;
    if (e->keylen == len && memcmp(e->key, buf, len) == 0) {
      if (link) *link = pp;
      return e;
    }
  }
  return NULL;
}

static void hmap_resize(struct hmap *m, uint64_t nb, int free_old) {
  struct hentry **old = m->buckets;
  uint64_t oldnb = m->nb;
  m->buckets = st_xalloc(nb * sizeof *m->buckets);
  m->nb = nb;
  m->count = 0;
  m->idxor = 0;
  for (uint64_t b = 0; b < oldnb; b++) {
    struct hentry *e = old[b];
    while (e) {
      struct hentry *next = e->next;
      hmap_put(m, e);
      e = next;
    }
    old[b] = NULL;
  }
  if (free_old) {
    gc_free(old);
    S.frees++;
  }
}

static struct hmap *hmap_rebuild(struct hmap *m) {
  struct hmap *n = hmap_new(m->nb);
  for (uint64_t b = 0; b < m->nb; b++)
    for (struct hentry *e = m->buckets[b]; e; e = e->next) hmap_put(n, hentry_new(e->id));
  return n;
}

static ST_NOINLINE void map_mutate(struct world *w, st_rng *r, int round) {
  struct hmap *m = w->map;
  int ins = S.nhids > 6000 ? 40 : 120;
  for (int i = 0; i < ins; i++) {
    uint64_t id = ++S.next_id;
    hmap_put(m, hentry_new(id));
    u64_push(&S.hids, &S.nhids, &S.caphids, id);
    S.hxor ^= id;
  }
  for (int i = 0; i < 70 && S.nhids > 0; i++) {
    size_t j = st_below(r, S.nhids);
    uint64_t id = S.hids[j];
    struct hentry **link = NULL;
    struct hentry *e = hmap_find(m, id, &link);
    if (!e) {
      bad("map: id %llu missing on delete", (unsigned long long)id);
      return;
    }
    *link = e->next;
    e->next = NULL;
    m->count--;
    m->idxor ^= id;
    S.hids[j] = S.hids[--S.nhids];
    S.hxor ^= id;
    if (st_below(r, 3) == 0) {
      char *k = e->key;
      gc_free(e);
      gc_free(k);
      S.frees += 2;
    }
  }
  if (m->count > 2 * m->nb) hmap_resize(m, m->nb * 2, (int)st_below(r, 2));
  else if (m->count < m->nb / 4 && m->nb > 16) hmap_resize(m, m->nb / 2, (int)st_below(r, 2));
  if (round % 11 == 5) w->map = hmap_rebuild(m);
}

static ST_NOINLINE void map_verify(struct world *w, st_rng *r) {
  struct hmap *m = w->map;
  if (!m || !m->buckets || m->nb == 0) {
    bad("map: header corrupted");
    return;
  }
  uint64_t count = 0, x = 0;
  for (uint64_t b = 0; b < m->nb; b++) {
    for (const struct hentry *e = m->buckets[b]; e; e = e->next) {
      if (g_bad > 30) return;
      if (++count > S.nhids + 1) {
        bad("map: too many entries");
        return;
      }
      if (!e->key || e->keylen > 100) {
        bad("map entry %p: key %p len %llu", (void *)e, (void *)e->key, (unsigned long long)e->keylen);
        continue;
      }
      char buf[128];
      size_t len = key_text(e->id, buf);
      if (len != e->keylen || memcmp(buf, e->key, len) != 0 || e->key[len] != 0)
        bad("map entry %p (id %llu): key text corrupted", (void *)e, (unsigned long long)e->id);
      else if (key_hash(e->key, e->keylen) % m->nb != b)
        bad("map entry %p: in bucket %llu, hashes elsewhere", (void *)e, (unsigned long long)b);
      if (e->value != value_of(e->id)) bad("map entry %p: value corrupted", (void *)e);
      if (hentry_sum(e) != e->sum) bad("map entry %p: checksum mismatch", (void *)e);
      x ^= e->id;
    }
  }
  if (count != S.nhids || m->count != count)
    bad("map: %llu entries, header %llu, expected %zu", (unsigned long long)count, (unsigned long long)m->count, S.nhids);
  if (x != S.hxor || m->idxor != x) bad("map: id set differs");
  for (int i = 0; i < 50 && S.nhids > 0; i++) {
    uint64_t id = S.hids[st_below(r, S.nhids)];
    struct hentry *e = hmap_find(m, id, NULL);
    if (!e || e->id != id || e->value != value_of(id)) bad("map: lookup of id %llu failed", (unsigned long long)id);
  }
}

/* ---- Ring of medium-lived blobs --------------------------------------------- */

static size_t ring_size(st_rng *r) {
  uint64_t k = st_below(r, 100);
  if (k < 60) return st_logsize(r, 16, 1024);
  if (k < 90) return st_logsize(r, 1025, 32768);
  if (k < 98) return st_logsize(r, 32769, 262144);
  return st_logsize(r, 262145, 2 << 20);
}

static ST_NOINLINE void ring_mutate(struct world *w, st_rng *r) {
  for (int i = 0; i < 10; i++) {
    int j = (int)st_below(r, RING);
    if (w->ring[j]) blob_ok(w->ring[j], S.ring_size[j], S.ring_seed[j], "ring blob (evicted)");
    size_t size = ring_size(r);
    uint64_t seed = st_next(r);
    w->ring[j] = blob_new(size, seed, (int)st_below(r, 2));
    S.ring_size[j] = size;
    S.ring_seed[j] = seed;
  }
}

static ST_NOINLINE void ring_verify(struct world *w) {
  for (int j = 0; j < RING; j++) {
    if (!w->ring[j]) {
      if (S.ring_size[j]) bad("ring slot %d emptied", j);
      continue;
    }
    blob_ok(w->ring[j], S.ring_size[j], S.ring_seed[j], "ring blob");
  }
}

/* ---- gc_realloc-grown arrays ------------------------------------------------- */

static ST_NOINLINE void arrays_mutate(struct world *w, st_rng *r) {
  /* noscan u64 array: grow every round, sometimes shrink, sometimes drop. */
  if (!w->u64arr) {
    S.u64seed = st_next(r);
    S.u64len = 0;
    w->u64arr = xalloc_noscan(st_range(r, 1, 64));
  }
  size_t add = st_logsize(r, 1, 40000);
  uint64_t *a = gc_realloc(w->u64arr, (S.u64len + add) * sizeof *a);
  if (!a) abort();
  w->u64arr = a;
  st_fill_words(a, S.u64len, S.u64len + add, S.u64seed);
  S.u64len += add;
  if (st_below(r, 8) == 0) {
    S.u64len /= 3;
    w->u64arr = gc_realloc(w->u64arr, S.u64len * sizeof *a + 8);
    if (!w->u64arr) abort();
  }
  if (S.u64len > (1u << 19)) {
    void *p = w->u64arr;
    w->u64arr = NULL;
    if (gc_realloc(p, 0) != NULL) bad("gc_realloc(p, 0) did not return NULL");
    S.u64len = 0;
  }

  /* Scanned array of cell pointers. */
  size_t ncells = S.ncells;
  /* ~30000 cells: the array (240 KB) spans several of the collector's scan
   * chunks, so pointers past the first chunk must be found too. */
  size_t addc = S.ncells < 30000 ? st_range(r, 500, 1500) : st_range(r, 10, 400);
  struct cell **c = gc_realloc(w->cells, (ncells + addc) * sizeof *c);
  if (!c) abort();
  w->cells = c;
  for (size_t i = 0; i < addc; i++) {
    uint64_t id = ++S.next_id;
    struct cell *x = st_xalloc(sizeof *x + st_below(r, 3) * 24);
    x->id = id;
    x->sum = st_mix(id ^ 0xce11);
    c[ncells + i] = x;
    u64_push(&S.cell_ids, &S.ncells, &S.capcells, id);
  }
  size_t del = st_range(r, 0, S.ncells > 30000 ? 800 : 300);
  for (size_t i = 0; i < del && S.ncells > 0; i++) {
    size_t j = st_below(r, S.ncells);
    S.ncells--;
    w->cells[j] = w->cells[S.ncells];
    w->cells[S.ncells] = NULL;
    S.cell_ids[j] = S.cell_ids[S.ncells];
  }
  if (st_below(r, 4) == 0) {
    w->cells = gc_realloc(w->cells, (S.ncells + 1) * sizeof *c);
    if (!w->cells) abort();
  }
}

static ST_NOINLINE void arrays_verify(struct world *w) {
  if (S.u64len) {
    if (!w->u64arr) bad("u64 array gone");
    else {
      if (gc_usable_size(w->u64arr) < S.u64len * 8) bad("u64 array: usable size %zu < %zu", gc_usable_size(w->u64arr), S.u64len * 8);
      size_t i = st_check_words(w->u64arr, 0, S.u64len, S.u64seed);
      if (i != (size_t)-1) bad("u64 array (len %zu): element %zu corrupted", S.u64len, i);
    }
  }
  if (S.ncells && !w->cells) {
    bad("cell array gone");
    return;
  }
  for (size_t i = 0; i < S.ncells; i++) {
    const struct cell *x = w->cells[i];
    if (!x || x->id != S.cell_ids[i] || x->sum != st_mix(x->id ^ 0xce11)) {
      bad("cell %zu (%p) corrupted", i, (void *)x);
      if (g_bad > 30) return;
    }
  }
}

/* ---- Interior pointers and global-only objects -------------------------------- */

static ST_NOINLINE void interior_mutate(struct world *w, st_rng *r, int round) {
  int i = (int)st_below(r, NINTERIOR);
  size_t size = st_below(r, 10) == 0 ? st_logsize(r, 32769, 200000) : st_logsize(r, 32, 4096);
  uint64_t seed = st_next(r);
  w->interior[i] = (char *)blob_new(size, seed, (int)st_below(r, 2)) + 17;
  S.wint_seed[i] = seed;
  S.wint_size[i] = size;

  i = (int)st_below(r, NINTERIOR);
  size = st_logsize(r, 32, 8192);
  seed = st_next(r);
  g_interior[i] = (char *)blob_new(size, seed, (int)st_below(r, 2)) + 17;
  S.gint_seed[i] = seed;
  S.gint_size[i] = size;

  if (round % 10 == 0) {
    size = st_logsize(r, 40000, 1 << 20);
    seed = st_next(r);
    g_interior_large = (char *)blob_new(size, seed, (int)st_below(r, 2)) + size / 2;
    S.glarge_seed = seed;
    S.glarge_size = size;
  }
  if (round % 6 == 0) {
    size = st_logsize(r, 24, 100000);
    seed = st_next(r);
    g_global_blob = blob_new(size, seed, 0);
    S.gblob_seed = seed;
    S.gblob_size = size;
  }
  if (round % 9 == 0) {
    uint64_t keys[300];
    size_t n = st_range(r, 1, 300);
    uint64_t k = st_next(r) >> 2;
    for (size_t j = 0; j < n; j++) keys[j] = k += st_range(r, 1, 1000);
    g_global_tree = t_balanced(keys, n);
    S.gtree_sum = g_global_tree->sum;
    S.gtree_count = n;
  }
}

static void interior_check(const char *p, size_t off, uint64_t size, uint64_t seed, const char *what) {
  if (!p) {
    if (size) bad("%s: gone", what);
    return;
  }
  const char *base = p - off;
  if (gc_base(p) != base) bad("%s: gc_base(%p) = %p, expected %p", what, (void *)p, gc_base(p), (void *)base);
  blob_ok(base, size, seed, what);
}

static ST_NOINLINE void interior_verify(struct world *w) {
  for (int i = 0; i < NINTERIOR; i++) {
    interior_check(w->interior[i], 17, S.wint_size[i], S.wint_seed[i], "heap interior (p+17)");
    interior_check(g_interior[i], 17, S.gint_size[i], S.gint_seed[i], "global interior (p+17)");
  }
  interior_check(g_interior_large, S.glarge_size / 2, S.glarge_size, S.glarge_seed, "global interior (large p+size/2)");
  if (g_global_blob) blob_ok(g_global_blob, S.gblob_size, S.gblob_seed, "global blob");
  if (g_global_tree) {
    size_t count = 0;
    uint64_t s = t_verify(g_global_tree, 0, UINT64_MAX, &count, "global tree");
    if (s != S.gtree_sum || count != S.gtree_count) bad("global tree: sum or count differs");
  }
}

/* ---- The test ------------------------------------------------------------------ */

static ST_NOINLINE struct world *world_new(void) {
  struct world *w = st_xalloc(sizeof *w);
  for (int i = 0; i < NLISTS; i++) w->lists[i] = st_xalloc(sizeof(struct list));
  w->map = hmap_new(16);
  return w;
}

static ST_NOINLINE void verify_all(struct world *w, st_rng *r) {
  tree_verify(w);
  lists_verify(w);
  map_verify(w, r);
  ring_verify(w);
  arrays_verify(w);
  interior_verify(w);
}

static ST_NOINLINE void mutate_all(struct world *w, st_rng *r, int round) {
  tree_mutate(w, r, round);
  lists_mutate(w, r, round);
  map_mutate(w, r, round);
  ring_mutate(w, r);
  arrays_mutate(w, r);
  interior_mutate(w, r, round);
}

TEST(checksummed_structures_survive_many_cycles) {
  st_rng rng = {st_seed()};
  int old = gc_set_percent(25);
  double t0 = st_now(), limit = TIME_LIMIT * st_scale();
  uint32_t gc0 = st_num_gc();
  struct world *w = world_new();
  int round = 0, min_rounds = (int)(400 * st_scale());
  uint32_t want_cycles = (uint32_t)(250 * st_scale());
  uint32_t cycles = 0;
  for (;; round++) {
    mutate_all(w, &rng, round);
    st_garbage(&rng, st_range(&rng, 1 << 20, 3 << 20), 1 << 20);
    if (round % 3 == 0) gc_collect();
    verify_all(w, &rng);
    CHECK_EQ(g_bad, 0);
    if (g_bad) {
      fprintf(stderr, "stress_checksum: failed in round %d after %u cycles (seed %#llx)\n", round, st_num_gc() - gc0,
              (unsigned long long)st_seed());
      break;
    }
    cycles = st_num_gc() - gc0;
    if (round >= min_rounds && cycles >= want_cycles) break;
    if (st_now() - t0 > limit) break;
  }
  /* A last full check after a forced cycle with nothing of ours in flight. */
  st_scrub_stack();
  gc_collect();
  verify_all(w, &rng);
  CHECK_EQ(g_bad, 0);
  cycles = st_num_gc() - gc0;
  fprintf(stderr, "stress_checksum: %d rounds, %u cycles, %ld gc_free calls, %.1f s\n", round + 1, cycles, S.frees,
          st_now() - t0);
  CHECK(cycles >= 200);
  gc_set_percent(old);
}

/* Fail fast (abort with a message) instead of hanging until ctest's timeout. */
__attribute__((constructor)) static void start_watchdog(void) { st_watchdog_start("stress_checksum", 150); }

CHECK_MAIN()
