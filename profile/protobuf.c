/*
 * protobuf.c - protocol-buffer encoding (protobuf.h).
 */
#include "protobuf.h"

#include <string.h>

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

void tc_pb_varint(tc_bytes_t *b, uint64_t v) {
  if (!tc_bytes_reserve(b, 10)) return;
  b->len += put_varint(b->data + b->len, v);
}

void tc_pb_tag(tc_bytes_t *b, unsigned field, unsigned wiretype) {
  tc_pb_varint(b, (uint64_t)field << 3 | wiretype);
}

void tc_pb_uint64(tc_bytes_t *b, unsigned field, uint64_t v) {
  tc_pb_tag(b, field, TC_PB_VARINT);
  tc_pb_varint(b, v);
}

void tc_pb_uint64_opt(tc_bytes_t *b, unsigned field, uint64_t v) {
  if (v != 0) tc_pb_uint64(b, field, v);
}

void tc_pb_int64_opt(tc_bytes_t *b, unsigned field, int64_t v) {
  if (v != 0) tc_pb_uint64(b, field, (uint64_t)v);
}

void tc_pb_bool_opt(tc_bytes_t *b, unsigned field, bool v) {
  if (v) tc_pb_uint64(b, field, 1);
}

void tc_pb_string(tc_bytes_t *b, unsigned field, const char *s, size_t n) {
  tc_pb_tag(b, field, TC_PB_LEN);
  tc_pb_varint(b, n);
  tc_bytes_append(b, s, n);
}

void tc_pb_uint64s(tc_bytes_t *b, unsigned field, const uint64_t *v, size_t n) {
  if (n <= 2) {
    for (size_t i = 0; i < n; i++) tc_pb_uint64(b, field, v[i]);
    return;
  }
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += varint_len(v[i]);
  tc_pb_tag(b, field, TC_PB_LEN);
  tc_pb_varint(b, len);
  if (!tc_bytes_reserve(b, len)) return;
  for (size_t i = 0; i < n; i++) b->len += put_varint(b->data + b->len, v[i]);
}

void tc_pb_int64s(tc_bytes_t *b, unsigned field, const int64_t *v, size_t n) {
  /* int64 is encoded as the two's-complement uint64 (signed and unsigned
   * variants of a type may alias). */
  tc_pb_uint64s(b, field, (const uint64_t *)v, n);
}

size_t tc_pb_begin(tc_bytes_t *b, unsigned field) {
  tc_pb_tag(b, field, TC_PB_LEN);
  return b->len;
}

void tc_pb_end(tc_bytes_t *b, size_t mark) {
  if (b->oom) return;
  size_t body = b->len - mark;
  size_t n = varint_len(body);
  if (!tc_bytes_reserve(b, n)) return;
  memmove(b->data + mark + n, b->data + mark, body);
  put_varint(b->data + mark, body);
  b->len += n;
}
