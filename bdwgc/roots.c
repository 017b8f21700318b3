/*
 * roots.c - bdwgc's root calls: GC_add_roots / GC_remove_roots map to
 * gc_add_roots / gc_remove_roots ([lo, hi) scanned on every cycle, and
 * re-scanned in full at mark termination). bdwgc's GC_INIT() adds the
 * main program's data itself on some platforms; tricolor scans every
 * loaded object's writable segments anyway, so a range added twice is only
 * scanned twice.
 */
#include <tricolor.h>

#include "shim.h"

BDW_API void GC_add_roots(void *lo, void *hi) {
  bdw_init();
  gc_add_roots(lo, hi);
}

BDW_API void GC_remove_roots(void *lo, void *hi) {
  bdw_init();
  gc_remove_roots(lo, hi);
}
