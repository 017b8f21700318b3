/*
 * gzip.c - gzip files with zlib (gzip.h).
 */
#include "gzip.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

static voidpf zalloc(voidpf opaque, uInt items, uInt size) {
  return tc_scratch_alloc(opaque, (size_t)items * size); /* freed with the arena */
}
static void zfree(voidpf opaque, voidpf p) {}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int tc_gzip_write_file(const char *path, const void *data, size_t len, tc_scratch_t *a) {
  z_stream zs = {0};
  zs.zalloc = zalloc;
  zs.zfree = zfree;
  zs.opaque = a;
  /* windowBits 15 + 16: a gzip header and trailer around the deflate data. */
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    errno = ENOMEM;
    return -1;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    int e = errno;
    deflateEnd(&zs);
    errno = e;
    return -1;
  }
  uint8_t out[64 << 10];
  const uint8_t *in = data;
  size_t left = len;
  int rc = 0, zr;
  do {
    uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
    zs.next_in = (Bytef *)in;
    zs.avail_in = chunk;
    int flush = left == chunk ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = out;
      zs.avail_out = sizeof out;
      zr = deflate(&zs, flush);
      if (zr == Z_STREAM_ERROR) {
        errno = EIO;
        rc = -1;
        break;
      }
      if (write_all(fd, out, sizeof out - zs.avail_out) != 0) {
        rc = -1;
        break;
      }
    } while (zs.avail_out == 0);
    in += chunk;
    left -= chunk;
  } while (rc == 0 && left > 0);
  int e = errno;
  deflateEnd(&zs);
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    e = errno;
  }
  if (rc == 0 && zr != Z_STREAM_END) {
    rc = -1;
    e = EIO;
  }
  errno = e;
  return rc;
}
