/*
 * roots.c - global and TLS roots (roots.h).
 */
#include "roots.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "error.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "thread.h"

typedef struct range {
  uintptr_t lo, hi;
} range_t;

/* A growable array in OS memory (never libc malloc). */
typedef struct ranges {
  range_t *v;
  size_t n, cap;
} ranges_t;

static bool ranges_push(ranges_t *r, uintptr_t lo, uintptr_t hi) {
  if (lo >= hi) return true;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 256;
    range_t *v = tc_os_alloc(cap * sizeof(range_t));
    if (v == NULL) return false;
    if (r->v) {
      memcpy(v, r->v, r->n * sizeof(range_t));
      tc_os_free(r->v, r->cap * sizeof(range_t));
    }
    r->v = v;
    r->cap = cap;
  }
  r->v[r->n++] = (range_t){lo, hi};
  return true;
}

static struct {
  tc_mutex_t lock;
  ranges_t user;              /* gc_add_roots; protected by lock */
  tc_root_handle_t *internal; /* protected by lock */
  ranges_t segments;          /* collector only (cycle lock) */
  uint64_t segment_bytes;
  intptr_t tls_lo, tls_hi;    /* static TLS offsets from the thread pointer */
} roots = {.lock = TC_MUTEX_INIT};

/* ---- segments ----------------------------------------------------------- */

struct refresh_ctx {
  bool first;       /* the first object reported is the main program */
  ranges_t *out;
  uintptr_t tp;
  intptr_t tls_lo, tls_hi;
};

static bool object_contains(struct dl_phdr_info *info, uintptr_t addr) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (addr >= lo && addr < lo + ph->p_memsz) return true;
  }
  return false;
}

static int refresh_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  struct refresh_ctx *ctx = arg;
  bool main_program = ctx->first;
  ctx->first = false;
  /* libtricolor's own data: metadata pointers only. When linked statically
   * it is part of the main program, whose data must be scanned. */
  if (!main_program && object_contains(info, (uintptr_t)&roots)) return 0;
  uintptr_t relro_lo = 0, relro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_GNU_RELRO) {
      relro_lo = info->dlpi_addr + ph->p_vaddr;
      relro_hi = relro_lo + ph->p_memsz;
    }
    if (ph->p_type == PT_TLS && info->dlpi_tls_data != NULL) {
      intptr_t off = (intptr_t)((uintptr_t)info->dlpi_tls_data - ctx->tp);
      intptr_t end = off + (intptr_t)ph->p_memsz;
      if (off < ctx->tls_lo) ctx->tls_lo = off;
      if (end > ctx->tls_hi) ctx->tls_hi = end;
    }
  }
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
    uintptr_t lo = tc_align_up(info->dlpi_addr + ph->p_vaddr, sizeof(void *));
    uintptr_t hi = tc_align_down(info->dlpi_addr + ph->p_vaddr + ph->p_memsz,
                                 sizeof(void *));
    if (relro_hi > relro_lo && relro_lo < hi && relro_hi > lo) {
      /* Drop the part that becomes read-only after relocation. */
      ranges_push(ctx->out, lo, relro_lo > lo ? relro_lo : lo);
      ranges_push(ctx->out, relro_hi < hi ? relro_hi : hi, hi);
    } else {
      ranges_push(ctx->out, lo, hi);
    }
  }
  return 0;
}

void tc_roots_refresh(void) {
  struct refresh_ctx ctx = {.first = true,
                            .out = &roots.segments,
                            .tp = (uintptr_t)__builtin_thread_pointer(),
                            .tls_lo = 0,
                            .tls_hi = 0};
  roots.segments.n = 0;
  dl_iterate_phdr(refresh_cb, &ctx);
  uint64_t bytes = 0;
  for (size_t i = 0; i < roots.segments.n; i++)
    bytes += roots.segments.v[i].hi - roots.segments.v[i].lo;
  roots.segment_bytes = bytes;
  /* Static TLS lies below the thread pointer (x86-64 TLS variant II). */
  if (ctx.tls_hi > 0) ctx.tls_hi = 0;
  roots.tls_lo = ctx.tls_lo;
  roots.tls_hi = ctx.tls_hi;
}

void tc_roots_init(void) { tc_roots_refresh(); }

uint64_t tc_roots_global_bytes(void) { return roots.segment_bytes; }

void tc_roots_for_each_global(tc_root_fn fn, void *ctx) {
  tc_roots_for_each_segment(fn, ctx);
  tc_roots_for_each_user(fn, ctx);
}

void tc_roots_for_each_segment(tc_root_fn fn, void *ctx) {
  for (size_t i = 0; i < roots.segments.n; i++)
    fn(roots.segments.v[i].lo, roots.segments.v[i].hi, ctx);
}

void tc_roots_for_each_user(tc_root_fn fn, void *ctx) {
  /* With the world stopped no mutator holds the lock (no-stop rule). */
  tc_mutex_lock(&roots.lock);
  for (size_t i = 0; i < roots.user.n; i++) fn(roots.user.v[i].lo, roots.user.v[i].hi, ctx);
  for (tc_root_handle_t *h = roots.internal; h; h = h->next) fn(h->lo, h->hi, ctx);
  tc_mutex_unlock(&roots.lock);
}

void tc_roots_for_each_tls(const tc_thread_t *t, tc_root_fn fn, void *ctx) {
  if (roots.tls_hi <= roots.tls_lo) return;
  uintptr_t lo = t->tp + (uintptr_t)roots.tls_lo;
  uintptr_t hi = t->tp + (uintptr_t)roots.tls_hi;
  /* Other threads' TLS sits inside their stack mapping, scanned already
   * when the stack range covers it. */
  if (lo >= t->stack_lo && hi <= t->stack_hi) return;
  fn(tc_align_up(lo, sizeof(void *)), tc_align_down(hi, sizeof(void *)), ctx);
}

/* ---- internal and user roots ------------------------------------------- */

void tc_roots_add_internal(tc_root_handle_t *h, void *lo, void *hi) {
  h->lo = (uintptr_t)lo;
  h->hi = (uintptr_t)hi;
  tc_thread_t *t = tc_mutex_lock_nostop(&roots.lock);
  h->prev = NULL;
  h->next = roots.internal;
  if (roots.internal) roots.internal->prev = h;
  roots.internal = h;
  tc_mutex_unlock_nostop(&roots.lock, t);
}

void tc_roots_remove_internal(tc_root_handle_t *h) {
  tc_thread_t *t = tc_mutex_lock_nostop(&roots.lock);
  if (h->prev) h->prev->next = h->next;
  else roots.internal = h->next;
  if (h->next) h->next->prev = h->prev;
  tc_mutex_unlock_nostop(&roots.lock, t);
}

__attribute__((visibility("default"))) void gc_add_roots(void *lo, void *hi) {
  uintptr_t l = tc_align_up((uintptr_t)lo, sizeof(void *));
  uintptr_t h = tc_align_down((uintptr_t)hi, sizeof(void *));
  if (l >= h) return;
  tc_thread_t *t = tc_mutex_lock_nostop(&roots.lock);
  bool ok = ranges_push(&roots.user, l, h);
  tc_mutex_unlock_nostop(&roots.lock, t);
  if (!ok) tc_misuse("gc_add_roots", lo, "out of memory for the root table");
}

__attribute__((visibility("default"))) void gc_remove_roots(void *lo, void *hi) {
  uintptr_t l = (uintptr_t)lo, h = (uintptr_t)hi;
  tc_thread_t *t = tc_mutex_lock_nostop(&roots.lock);
  size_t j = 0;
  for (size_t i = 0; i < roots.user.n; i++) {
    range_t r = roots.user.v[i];
    if (r.lo >= l && r.hi <= h) continue;
    roots.user.v[j++] = r;
  }
  roots.user.n = j;
  tc_mutex_unlock_nostop(&roots.lock, t);
}
