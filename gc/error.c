/*
 * error.c - fatal errors and misuse reports. Everything here formats into a
 * stack buffer and writes with write(2): no stdio, no malloc, so it is safe
 * anywhere, including with the world stopped.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void tc_write_line(const char *buf, int n, size_t cap) {
  if (n <= 0 || cap == 0) return;
  size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
  while (len > 0) {
    ssize_t w = write(2, buf, len);
    if (w <= 0) return;
    buf += w;
    len -= (size_t)w;
  }
}

static int vformat(char *buf, size_t cap, const char *prefix, const char *fmt,
                   va_list ap) {
  int n = snprintf(buf, cap, "%s", prefix);
  n += vsnprintf(buf + n, cap - (size_t)n - 1, fmt, ap);
  if ((size_t)n > cap - 2) n = (int)cap - 2;
  buf[n++] = '\n';
  buf[n] = 0;
  return n;
}

void tc_throw(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vformat(buf, sizeof buf, "tricolor: fatal error: ", fmt, ap);
  va_end(ap);
  tc_write_line(buf, n, sizeof buf);
  abort();
}

void tc_warn(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vformat(buf, sizeof buf, "tricolor: ", fmt, ap);
  va_end(ap);
  tc_write_line(buf, n, sizeof buf);
}

void tc_misuse(const char *call, const void *ptr, const char *what) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "tricolor: %s(0x%lx): %s\n", call,
                   (unsigned long)(uintptr_t)ptr, what);
  tc_write_line(buf, n, sizeof buf);
  abort();
}
