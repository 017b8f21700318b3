/*
 * base.h - compiler attributes, assertion levels and small helpers shared by
 * every collector file. Internal: refuses inclusion outside the library build.
 */
#ifndef TC_BASE_H
#define TC_BASE_H

#ifndef TC_BUILDING_LIBRARY
#error "gc/ headers are internal to libtricolor; include <tricolor.h> instead"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC_LIKELY(x) __builtin_expect(!!(x), 1)
#define TC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TC_INLINE static inline __attribute__((always_inline))
#define TC_NOINLINE __attribute__((noinline))
#define TC_COLD __attribute__((cold))
#define TC_NORETURN __attribute__((noreturn))
#define TC_HIDDEN __attribute__((visibility("hidden")))
#define TC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TC_CACHELINE 64
#define TC_ALIGNED(n) __attribute__((aligned(n)))

/* TC_DEBUG: 0 = no checks, 1 = cheap invariant checks (default), 2 = also
 * expensive heap verification. Written as `if (TC_DEBUG >= n)` so every check
 * is always compiled and type-checked. */
#ifndef TC_DEBUG
#define TC_DEBUG 1
#endif

TC_NORETURN TC_COLD TC_PRINTF(1, 2) void tc_throw(const char *fmt, ...);

#define TC_ASSERT(cond)                                                       \
  do {                                                                        \
    if (TC_DEBUG >= 1 && TC_UNLIKELY(!(cond)))                                \
      tc_throw("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__);    \
  } while (0)

#define TC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

TC_INLINE uintptr_t tc_align_up(uintptr_t x, uintptr_t a) {
  return (x + a - 1) & ~(a - 1);
}
TC_INLINE uintptr_t tc_align_down(uintptr_t x, uintptr_t a) {
  return x & ~(a - 1);
}
TC_INLINE size_t tc_min_size(size_t a, size_t b) { return a < b ? a : b; }
TC_INLINE size_t tc_max_size(size_t a, size_t b) { return a > b ? a : b; }

#endif /* TC_BASE_H */
