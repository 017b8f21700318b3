/*
 * shim.h - internal interface of the bdwgc shim: libgc.so.1 exporting Boehm
 * GC 8.2's ABI on top of tricolor (docs/bdwgc.md).
 *
 * Owns: the C types of bdwgc's ABI that the shim needs (declared here, not
 * taken from bdwgc's gc.h, whose macros clash with tricolor.h), the shim's
 * one-time initialization flag, and the functions the shim's files share.
 * Every exported GC_* function calls bdw_init() first (or goes through a
 * function that does), so a program that never calls GC_INIT() works, as
 * Debian's binaries do not call it.
 *
 * Invariants: the shim's own globals live in libgc.so.1's data, which the
 * collector does not scan (it skips its own library); so the shim never
 * keeps a heap pointer in a global: uncollectable objects live in a table
 * registered as a root (uncollectable.c), finalizer data lives in the
 * collector's special table (a root), links in the link table (not a root,
 * on purpose).
 */
#ifndef BDW_SHIM_H
#define BDW_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exported (the version script keeps only GC_*). */
#define BDW_API __attribute__((visibility("default")))
/* Allocation wrappers: not part of heap profile stacks (profile/stack.h). */
#define BDW_ALLOC_FRAME __attribute__((section("tc_sampling"), noinline))

typedef uintptr_t GC_word;
typedef void (*GC_finalization_proc)(void *obj, void *client_data);
typedef void (*GC_warn_proc)(char *msg, GC_word arg);
typedef void *(*GC_oom_func)(size_t bytes_requested);
typedef void (*GC_finalizer_notifier_proc)(void);
struct GC_stack_base {
  void *mem_base;
};
typedef void *(*GC_stack_base_func)(struct GC_stack_base *sb, void *arg);
typedef void *(*GC_fn_type)(void *client_data);

/* bdwgc's result codes. */
enum { BDW_SUCCESS = 0, BDW_DUPLICATE = 1, BDW_NO_MEMORY = 2, BDW_UNIMPLEMENTED = 3,
       BDW_NOT_FOUND = 4 };

/* init.c */
extern int bdw_ready; /* atomic; 1 once bdw_init_slow finished */
void bdw_init_slow(void);
static inline void bdw_init(void) {
  if (__builtin_expect(!__atomic_load_n(&bdw_ready, __ATOMIC_ACQUIRE), 0)) bdw_init_slow();
}

/* env.c: bdwgc's environment variables, applied once by init. */
void bdw_env_apply(void);
/* "123", "64k", "3M", "1G" -> bytes; false if malformed. */
bool bdw_parse_size(const char *s, size_t *out);

/* alloc.c */
enum { BDW_KIND_NORMAL = 0, BDW_KIND_ATOMIC = 1, BDW_KIND_UNCOLLECTABLE = 2 };
void *bdw_alloc(size_t n, int kind);

/* uncollectable.c: objects that are roots and never collected. */
bool bdw_uncollectable_add(void *p);
/* Removes p; true if it was there. */
bool bdw_uncollectable_remove(void *p);
bool bdw_uncollectable_contains(const void *p);

/* collect.c: GC_disable / GC_enable / GC_dont_gc and the pacing percent. */
void bdw_collect_poll(void);
/* Sets the GCPERCENT the shim restores when collection is (re-)enabled. */
void bdw_set_percent(int percent);
/* Bytes allowed in the heap (GC_set_max_heap_size), 0 = no limit. */
extern size_t bdw_max_heap;
/* Room for n more bytes under bdw_max_heap (collects once if needed). */
bool bdw_heap_room(size_t n);

/* finalize.c: runs queued finalizers on the allocating thread (bdwgc's
 * GC_INVOKE_FINALIZERS), or calls the notifier in on-demand mode. */
void bdw_finalizers_poll(void);

/* knobs.c */
void bdw_warn(const char *msg, GC_word arg);
void *bdw_oom(size_t n);
/* GC_set_free_space_divisor without bdw_init (env.c runs inside it). */
void bdw_set_free_space_divisor(GC_word d);

/* Everything an allocation checks first. */
static inline void bdw_alloc_poll(void) {
  bdw_init();
  bdw_collect_poll();
  bdw_finalizers_poll();
}

#endif
