/*
 * error.h - fatal invariant breaches (tc_throw, declared in base.h) and
 * reports of API misuse that name the call and the pointer.
 */
#ifndef TC_ERROR_H
#define TC_ERROR_H

#include "base.h"

/* "tricolor: <call>(0x...): <what>" on stderr, then abort(). Async-signal
 * safe: formats into a stack buffer and write(2)s it. */
TC_NORETURN TC_COLD void tc_misuse(const char *call, const void *ptr,
                                   const char *what);

/* One line on stderr, never aborts (bad environment values, notices). */
TC_COLD TC_PRINTF(1, 2) void tc_warn(const char *fmt, ...);

/* Writes the line snprintf formatted into buf[cap] (n: what snprintf
 * returned; a truncated line loses its tail) to stderr with write(2),
 * retrying short writes: no stdio lock a stopped or signalled thread could
 * hold. For the trace lines (gctrace, scavtrace, marktrace). */
void tc_write_line(const char *buf, int n, size_t cap);

#endif
