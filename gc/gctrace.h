/*
 * gctrace.h - GCTRACE=1: one line per cycle on stderr in the format of Go's
 * GODEBUG=gctrace=1 (runtime/mgc.go gcMarkTermination):
 *   gc N @T.TTTs U%: A+B+C ms clock, D+E/F/G+H ms cpu, H0->H1->H2 MB,
 *   GOAL MB goal, STK MB stacks, GLB MB globals, NP P[ (forced)]
 * A, B, C: pause 1, concurrent mark, pause 2 (in GCMODE=stw, A and B are 0
 * and C is the one pause); D = A x procs, E assists, F background workers,
 * G idle workers, H = C x procs; sizes in MiB truncated; durations with
 * Go's fmtNSAsMS rounding. Printed by the coordinator after the world
 * restarted, with write(2) (no stdio lock a mutator could hold).
 */
#ifndef TC_GCTRACE_H
#define TC_GCTRACE_H

#include "stats.h"

void tc_gctrace_print(const tc_cycle_record_t *r);
/* Go's fmtNSAsMS into buf (at least 24 bytes); returns the length. */
int tc_gctrace_fmt_ms(char *buf, uint64_t ns);

#endif
