/*
 * gzip.h - writing a buffer to a file as one gzip member (RFC 1952), with
 * zlib's deflate at its fastest level, as Go compresses profiles
 * (gzip.BestSpeed). zlib's working memory comes from a scratch arena, not
 * from libc malloc.
 */
#ifndef TC_GZIP_H
#define TC_GZIP_H

#include "base.h"
#include "scratch.h"

/* Creates or truncates path (mode 0666 & ~umask) and writes the gzip of
 * data[0..len). Returns 0, or -1 with errno set (the file may then be left
 * incomplete). */
int tc_gzip_write_file(const char *path, const void *data, size_t len, tc_scratch_t *a);

#endif
