/*
 * test_protobuf.c - the protobuf writer (profile/protobuf.c), read back
 * with an independent decoder written here from the encoding spec: varints
 * at every length boundary, negative int64, omitted zero scalars, packed and
 * unpacked repeated fields, strings, and nested messages whose lengths need
 * one, two and three bytes.
 */
#include "check.h"
#include "../../profile/protobuf.h"

typedef struct dec {
  const uint8_t *p, *end;
  int bad;
} dec_t;

static uint64_t dec_varint(dec_t *d) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (d->p >= d->end) {
      d->bad = 1;
      return 0;
    }
    uint8_t b = *d->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  d->bad = 1;
  return 0;
}

/* Next field: returns its number, sets wire type; 0 at the end. */
static unsigned dec_field(dec_t *d, unsigned *wt) {
  if (d->p >= d->end) return 0;
  uint64_t key = dec_varint(d);
  *wt = key & 7;
  return (unsigned)(key >> 3);
}

static dec_t dec_sub(dec_t *d) {
  uint64_t n = dec_varint(d);
  dec_t s = {d->p, d->p, 0};
  if (n > (uint64_t)(d->end - d->p)) {
    d->bad = 1;
    return s;
  }
  s.end = d->p + n;
  d->p += n;
  return s;
}

static size_t varint_bytes(uint64_t v) {
  tc_bytes_t b = TC_BYTES_INIT;
  tc_pb_varint(&b, v);
  size_t n = b.len;
  dec_t d = {b.data, b.data + b.len, 0};
  uint64_t back = dec_varint(&d);
  tc_bytes_free(&b);
  return back == v && !d.bad && d.p == d.end ? n : 0;
}

TEST(varint_boundaries) {
  CHECK_EQ(varint_bytes(0), 1);
  CHECK_EQ(varint_bytes(127), 1);
  CHECK_EQ(varint_bytes(128), 2);
  CHECK_EQ(varint_bytes(16383), 2);
  CHECK_EQ(varint_bytes(16384), 3);
  CHECK_EQ(varint_bytes((uint64_t)1 << 35), 6);
  CHECK_EQ(varint_bytes(UINT64_MAX >> 1), 9);
  CHECK_EQ(varint_bytes(UINT64_MAX), 10);
  CHECK_EQ(varint_bytes((uint64_t)(int64_t)-1), 10); /* int64 -1: ten bytes */
}

TEST(scalars_strings_and_omission) {
  tc_bytes_t b = TC_BYTES_INIT;
  tc_pb_uint64_opt(&b, 1, 0);  /* omitted */
  tc_pb_int64_opt(&b, 2, 0);   /* omitted */
  tc_pb_bool_opt(&b, 3, false); /* omitted */
  CHECK_EQ(b.len, 0);
  tc_pb_uint64_opt(&b, 1, 300);
  tc_pb_int64_opt(&b, 2, -5);
  tc_pb_bool_opt(&b, 3, true);
  tc_pb_string(&b, 6, "", 0);
  tc_pb_string(&b, 6, "inuse_space", 11);
  tc_pb_uint64(&b, 100, 0); /* a repeated element is written even if 0 */
  dec_t d = {b.data, b.data + b.len, 0};
  unsigned wt = 0;
  CHECK_EQ(dec_field(&d, &wt), 1);
  CHECK_EQ(wt, 0);
  CHECK_EQ(dec_varint(&d), 300);
  CHECK_EQ(dec_field(&d, &wt), 2);
  CHECK_EQ((int64_t)dec_varint(&d), -5);
  CHECK_EQ(dec_field(&d, &wt), 3);
  CHECK_EQ(dec_varint(&d), 1);
  CHECK_EQ(dec_field(&d, &wt), 6);
  CHECK_EQ(wt, 2);
  dec_t s = dec_sub(&d);
  CHECK_EQ(s.end - s.p, 0);
  CHECK_EQ(dec_field(&d, &wt), 6);
  s = dec_sub(&d);
  CHECK(s.end - s.p == 11 && memcmp(s.p, "inuse_space", 11) == 0);
  CHECK_EQ(dec_field(&d, &wt), 100);
  CHECK_EQ(wt, 0);
  CHECK_EQ(dec_varint(&d), 0);
  CHECK_EQ(dec_field(&d, &wt), 0);
  CHECK(!d.bad);
  tc_bytes_free(&b);
}

TEST(repeated_packed_above_two) {
  uint64_t two[2] = {7, 8}, many[5] = {1, 200, 3, 1u << 20, 5};
  int64_t vals[4] = {-1, 0, 1000000, INT64_MAX};
  tc_bytes_t b = TC_BYTES_INIT;
  tc_pb_uint64s(&b, 1, two, 2);
  tc_pb_uint64s(&b, 1, many, 5);
  tc_pb_int64s(&b, 2, vals, 4);
  dec_t d = {b.data, b.data + b.len, 0};
  unsigned wt = 0;
  /* Two values: two unpacked fields. */
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(dec_field(&d, &wt), 1);
    CHECK_EQ(wt, 0);
    CHECK_EQ(dec_varint(&d), two[i]);
  }
  /* Five: one packed field. */
  CHECK_EQ(dec_field(&d, &wt), 1);
  CHECK_EQ(wt, 2);
  dec_t s = dec_sub(&d);
  for (int i = 0; i < 5; i++) CHECK_EQ(dec_varint(&s), many[i]);
  CHECK(s.p == s.end && !s.bad);
  CHECK_EQ(dec_field(&d, &wt), 2);
  s = dec_sub(&d);
  for (int i = 0; i < 4; i++) CHECK_EQ((int64_t)dec_varint(&s), vals[i]);
  CHECK(s.p == s.end && !s.bad);
  CHECK(d.p == d.end);
  tc_bytes_free(&b);
}

TEST(nested_messages_of_every_length_size) {
  static const size_t sizes[] = {0, 1, 126, 127, 128, 129, 16383, 16384, 70000};
  tc_bytes_t b = TC_BYTES_INIT;
  static char body[70000];
  for (size_t i = 0; i < sizeof body; i++) body[i] = (char)('a' + i % 26);
  for (size_t k = 0; k < TC_ARRAY_LEN(sizes); k++) {
    size_t outer = tc_pb_begin(&b, 4);
    tc_pb_uint64(&b, 1, k + 1);
    size_t inner = tc_pb_begin(&b, 4);
    tc_pb_uint64(&b, 1, 99);
    tc_pb_end(&b, inner);
    if (sizes[k]) tc_pb_string(&b, 6, body, sizes[k]);
    tc_pb_end(&b, outer);
  }
  CHECK(!b.oom);
  dec_t d = {b.data, b.data + b.len, 0};
  unsigned wt = 0;
  for (size_t k = 0; k < TC_ARRAY_LEN(sizes); k++) {
    CHECK_EQ(dec_field(&d, &wt), 4);
    CHECK_EQ(wt, 2);
    dec_t m = dec_sub(&d);
    CHECK_EQ(dec_field(&m, &wt), 1);
    CHECK_EQ(dec_varint(&m), k + 1);
    CHECK_EQ(dec_field(&m, &wt), 4);
    dec_t in = dec_sub(&m);
    CHECK_EQ(dec_field(&in, &wt), 1);
    CHECK_EQ(dec_varint(&in), 99);
    CHECK(in.p == in.end);
    if (sizes[k]) {
      CHECK_EQ(dec_field(&m, &wt), 6);
      dec_t s = dec_sub(&m);
      CHECK((size_t)(s.end - s.p) == sizes[k] && memcmp(s.p, body, sizes[k]) == 0);
    }
    CHECK(m.p == m.end && !m.bad);
  }
  CHECK(d.p == d.end && !d.bad);
  tc_bytes_free(&b);
}

CHECK_MAIN()
