/*
 * scratch.c - the profile writers' arena and byte strings (scratch.h).
 */
#include "scratch.h"

#include <errno.h>
#include <string.h>

#include "os.h"

#define CHUNK_SIZE ((size_t)1 << 20)

struct tc_scratch_chunk {
  struct tc_scratch_chunk *next;
  size_t size; /* bytes mapped, header included */
};

#define HEADER tc_align_up(sizeof(struct tc_scratch_chunk), 16)

void *tc_scratch_alloc(tc_scratch_t *a, size_t n) {
  n = tc_align_up(n ? n : 1, 16);
  if (a->cur != NULL && n <= (size_t)(a->end - a->cur)) {
    void *p = a->cur;
    a->cur += n;
    return p;
  }
  size_t size = n + HEADER > CHUNK_SIZE ? tc_align_up(n + HEADER, 4096) : CHUNK_SIZE;
  if (size < n) { /* overflow */
    errno = ENOMEM;
    return NULL;
  }
  struct tc_scratch_chunk *c = tc_os_alloc(size);
  if (c == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  c->size = size;
  c->next = a->chunks;
  a->chunks = c;
  char *p = (char *)c + HEADER;
  /* A big request gets its own chunk; the current one stays in use. */
  if (size == CHUNK_SIZE) {
    a->cur = p + n;
    a->end = (char *)c + size;
  }
  return p;
}

char *tc_scratch_strndup(tc_scratch_t *a, const char *s, size_t n) {
  char *p = tc_scratch_alloc(a, n + 1);
  if (p) memcpy(p, s, n); /* the arena is zeroed: p[n] is already 0 */
  return p;
}

void tc_scratch_free_all(tc_scratch_t *a) {
  struct tc_scratch_chunk *c = a->chunks;
  while (c) {
    struct tc_scratch_chunk *next = c->next;
    tc_os_free(c, c->size);
    c = next;
  }
  a->chunks = NULL;
  a->cur = a->end = NULL;
}

bool tc_bytes_reserve(tc_bytes_t *b, size_t n) {
  if (b->oom) return false;
  if (n <= b->cap - b->len) return true;
  size_t cap = b->cap ? b->cap : 64 << 10;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) {
      b->oom = true;
      return false;
    }
    cap *= 2;
  }
  uint8_t *d = tc_os_alloc(cap);
  if (d == NULL) {
    b->oom = true;
    return false;
  }
  if (b->data) {
    memcpy(d, b->data, b->len);
    tc_os_free(b->data, b->cap);
  }
  b->data = d;
  b->cap = cap;
  return true;
}

void tc_bytes_append(tc_bytes_t *b, const void *p, size_t n) {
  if (!tc_bytes_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void tc_bytes_free(tc_bytes_t *b) {
  if (b->data) tc_os_free(b->data, b->cap);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}
