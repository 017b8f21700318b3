/*
 * init.h - library initialization: options, heap, signals, fork handlers.
 * Runs once (pthread_once) from a constructor or the first call in.
 */
#ifndef TC_INIT_H
#define TC_INIT_H

void tc_gc_ensure_init(void);

#endif
