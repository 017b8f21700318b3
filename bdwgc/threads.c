/*
 * threads.c - bdwgc's thread calls on tricolor's thread registry.
 *
 * Owns the mapping:
 *   GC_pthread_create             gc_pthread_create (registered before start
 *                                 runs; arg kept alive until then)
 *   GC_pthread_join/detach/exit/cancel   the pthread calls; a thread leaves
 *                                 the registry when it exits (key destructor)
 *   GC_pthread_sigmask            pthread_sigmask that never blocks the
 *                                 collector's suspend signal (as bdwgc's)
 *   GC_dlopen                     dlopen: tricolor re-reads loaded objects
 *                                 before every cycle, with the world running
 *   GC_allow_register_threads     nothing to allow: registration always works
 *   GC_register_my_thread(sb)     gc_register_thread; GC_SUCCESS or
 *                                 GC_DUPLICATE. sb is not needed: tricolor
 *                                 scans from the stopped stack pointer to the
 *                                 top of the thread's stack mapping, a
 *                                 superset of [sp, sb->mem_base)
 *   GC_unregister_my_thread       gc_unregister_thread
 *   GC_get_stack_base             the top of the stack mapping
 *   GC_call_with_stack_base       fn(&sb, arg) with sb in this frame
 *   GC_do_blocking / GC_call_with_gc_active   fn(arg): the thread stays
 *                                 registered and stoppable, its whole stack
 *                                 scanned (safe, only less precise)
 * Threads that never register but allocate are registered on their first
 * allocation by tricolor (bdwgc would abort); a thread holding heap
 * pointers before its first GC_* call must be created with
 * GC_pthread_create or call GC_register_my_thread, as with bdwgc.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include <tricolor.h>

#include "options.h"
#include "thread.h"
#include "shim.h"

BDW_API int GC_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                              void *(*start)(void *), void *arg) {
  bdw_init();
  return gc_pthread_create(th, attr, start, arg);
}

BDW_API int GC_pthread_join(pthread_t th, void **ret) { return pthread_join(th, ret); }
BDW_API int GC_pthread_detach(pthread_t th) { return pthread_detach(th); }
BDW_API int GC_pthread_cancel(pthread_t th) { return pthread_cancel(th); }
BDW_API __attribute__((noreturn)) void GC_pthread_exit(void *ret) { pthread_exit(ret); }

BDW_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
  bdw_init();
  if (set == NULL || how == SIG_UNBLOCK) return pthread_sigmask(how, set, old);
  sigset_t s = *set;
  sigdelset(&s, tc_options.sig_suspend);
  sigdelset(&s, tc_options.sig_restart);
  return pthread_sigmask(how, &s, old);
}

BDW_API void *GC_dlopen(const char *path, int mode) {
  bdw_init();
  return dlopen(path, mode);
}

BDW_API void GC_allow_register_threads(void) { bdw_init(); }

BDW_API int GC_register_my_thread(const struct GC_stack_base *sb) {
  (void)sb;
  bdw_init();
  int r = gc_register_thread();
  return r == 1 ? BDW_DUPLICATE : r == 0 ? BDW_SUCCESS : BDW_NO_MEMORY;
}

BDW_API int GC_unregister_my_thread(void) {
  bdw_init();
  gc_unregister_thread();
  return BDW_SUCCESS;
}

BDW_API int GC_thread_is_registered(void) {
  bdw_init();
  return tc_thread_tls != NULL;
}

BDW_API int GC_get_stack_base(struct GC_stack_base *sb) {
  pthread_attr_t attr;
  void *addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return BDW_UNIMPLEMENTED;
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (addr == NULL) return BDW_UNIMPLEMENTED;
  sb->mem_base = (char *)addr + size;
  return BDW_SUCCESS;
}

BDW_API void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg) {
  struct GC_stack_base sb;
  sb.mem_base = __builtin_frame_address(0);
  void *r = fn(&sb, arg);
  __asm__ __volatile__("" : : "r"(&sb) : "memory"); /* no tail call: sb stays valid */
  return r;
}

BDW_API void *GC_do_blocking(GC_fn_type fn, void *arg) { return fn(arg); }
BDW_API void *GC_call_with_gc_active(GC_fn_type fn, void *arg) { return fn(arg); }

BDW_API int GC_get_suspend_signal(void) {
  bdw_init();
  return tc_options.sig_suspend;
}
BDW_API int GC_get_thr_restart_signal(void) {
  bdw_init();
  return tc_options.sig_restart;
}
/* bdwgc ignores these after GC_init; the shim is initialized when it is
 * loaded, so they never apply: use GCSIGSUSPEND / GCSIGRESTART. */
BDW_API void GC_set_suspend_signal(int sig) { (void)sig; }
BDW_API void GC_set_thr_restart_signal(int sig) { (void)sig; }

/* Marking helpers are started by the collector when a cycle needs them. */
BDW_API void GC_start_mark_threads(void) { bdw_init(); }
