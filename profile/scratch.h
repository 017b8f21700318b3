/*
 * scratch.h - short-lived memory for the profile writers: a bump arena over
 * chunks mapped from the OS, freed all at once when the writer is done.
 *
 * The writers run on the caller's thread with the world running, so libc
 * malloc would be legal there, but the collector keeps its own memory out of
 * malloc everywhere: a program that replaces malloc with gc_alloc must not
 * find the profiler allocating from the heap it is describing.
 *
 *   tc_scratch_t a = TC_SCRATCH_INIT;
 *   p = tc_scratch_alloc(&a, n);   zeroed, 16-byte aligned; NULL + ENOMEM
 *   tc_scratch_free_all(&a);
 *
 * tc_bytes_t is a growable byte string in the same spirit (the protobuf
 * encoder's output): it doubles by mapping a new block and copying.
 * Not thread-safe: one arena per writer call.
 */
#ifndef TC_SCRATCH_H
#define TC_SCRATCH_H

#include "base.h"

typedef struct tc_scratch {
  struct tc_scratch_chunk *chunks;
  char *cur, *end;
} tc_scratch_t;

#define TC_SCRATCH_INIT {NULL, NULL, NULL}

void *tc_scratch_alloc(tc_scratch_t *a, size_t n);
void tc_scratch_free_all(tc_scratch_t *a);
/* A NUL-terminated copy of s[0..n). */
char *tc_scratch_strndup(tc_scratch_t *a, const char *s, size_t n);

typedef struct tc_bytes {
  uint8_t *data;
  size_t len, cap;
  bool oom; /* an append failed; the contents are incomplete */
} tc_bytes_t;

#define TC_BYTES_INIT {NULL, 0, 0, false}

/* Makes room for n more bytes; false (and oom set) when memory is out. */
bool tc_bytes_reserve(tc_bytes_t *b, size_t n);
void tc_bytes_append(tc_bytes_t *b, const void *p, size_t n);
void tc_bytes_free(tc_bytes_t *b);

#endif
