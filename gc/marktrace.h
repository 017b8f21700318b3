/*
 * marktrace.h - GCMARKTRACE=1: one line per concurrent or barrier mark on
 * stderr, with what the gctrace line leaves out: how the mark met the
 * program's writes and what pause 2 had left to do. tricolor's own format
 * (Go's GODEBUG=gcpacertrace=1 is the nearest thing in Go):
 *
 *   mark N concurrent: R rounds, W pages re-scanned, F left to pause 2;
 *     throttle S stops[, held][, gave up]; lifted L KiB, kept K KiB;
 *     pause 1 A ms (stopping a), pause 2 C ms (stopping c), T KiB scanned
 *     in pause 2
 *   mark N barrier: R rounds; pause 1 A ms (stopping a), pause 2 C ms
 *     (stopping c), T KiB scanned in pause 2
 *
 * (one line each). Pages are 4 KiB: W the written pages collected and
 * re-scanned during the mark's rounds, F those mark termination collected.
 * Throttle: stop windows that parked writers (throttle.h), whether the
 * mark held them through termination and whether it gave up on its
 * rounds. Lifted/kept: what the lifting after this mark unprotected and
 * left protected (protect.h). Durations with gctrace's rounding. Printed by
 * the coordinator after the lifting, with write(2), like gctrace lines.
 * Nothing for a stw cycle.
 */
#ifndef TC_MARKTRACE_H
#define TC_MARKTRACE_H

#include "stats.h"

void tc_marktrace_print(const tc_cycle_record_t *r);

#endif
