/*
 * mode.h - choosing how marking meets the program (GCMODE, gc_set_mode).
 *
 * The mode is fixed before the heap is first used: GCMODE at start, or
 * gc_set_mode before the first allocation. GCMODE=concurrent needs the
 * kernel's dirty-page tracking (dirty.h), probed when the mode is chosen;
 * without it the collector runs in stw mode and says so once on stderr
 * when GCTRACE is set.
 */
#ifndef TC_MODE_H
#define TC_MODE_H

/* Applies GCMODE. Called once by init, after options. */
void tc_mode_init(void);

#endif
