/*
 * protobuf.h - the minimal protocol-buffer writer profile.proto needs.
 *
 * Wire types 0 (varint) and 2 (length-delimited) only: profile.proto uses
 * int64/uint64/bool scalars, strings and nested messages. Encoding rules
 * (as Go's runtime/pprof writes them, which pprof reads):
 *   - optional scalars equal to 0 are omitted (proto3 default);
 *   - repeated scalars are written packed when there are more than two,
 *     otherwise as individual fields;
 *   - negative int64 values are ten-byte two's-complement varints (int64,
 *     not sint64).
 * A nested message is opened with tc_pb_begin and closed with tc_pb_end,
 * which writes its length in front of it (moving the body by the length's
 * varint size), so messages nest without knowing their size in advance.
 * Output goes to a tc_bytes_t; if memory runs out its oom flag is set and
 * the caller fails the whole write.
 * Spec: https://protobuf.dev/programming-guides/encoding/
 */
#ifndef TC_PROTOBUF_H
#define TC_PROTOBUF_H

#include "base.h"
#include "scratch.h"

enum { TC_PB_VARINT = 0, TC_PB_LEN = 2 };

void tc_pb_varint(tc_bytes_t *b, uint64_t v);
void tc_pb_tag(tc_bytes_t *b, unsigned field, unsigned wiretype);

/* Omitted when v == 0. */
void tc_pb_uint64_opt(tc_bytes_t *b, unsigned field, uint64_t v);
void tc_pb_int64_opt(tc_bytes_t *b, unsigned field, int64_t v);
void tc_pb_bool_opt(tc_bytes_t *b, unsigned field, bool v);
/* Always written (a repeated element). */
void tc_pb_uint64(tc_bytes_t *b, unsigned field, uint64_t v);
void tc_pb_string(tc_bytes_t *b, unsigned field, const char *s, size_t n);
/* Repeated scalars: packed when n > 2. */
void tc_pb_uint64s(tc_bytes_t *b, unsigned field, const uint64_t *v, size_t n);
void tc_pb_int64s(tc_bytes_t *b, unsigned field, const int64_t *v, size_t n);

/* A nested message: mark = tc_pb_begin(b, field); ...; tc_pb_end(b, mark). */
size_t tc_pb_begin(tc_bytes_t *b, unsigned field);
void tc_pb_end(tc_bytes_t *b, size_t mark);

#endif
