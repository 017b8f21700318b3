#!/usr/bin/env bash
# test_idle_workers.sh SOURCE_DIR BUILD_DIR - idle mark workers (Go's
# gcMarkWorkerIdleMode) in GCMODE=concurrent, seen through GCTRACE=1's G
# field (idle-worker CPU time).
#
# With GCPROCS=2 on a machine of 2 or more CPUs, the 25% of 2 is a
# fractional worker at half a CPU; a program with one busy thread leaves
# the second CPU to it, and over its budget it goes on marking as an idle
# worker while nothing else is ready to run. BUILD_DIR/tests/trace/
# trace_workload fast (one thread, allocation outrunning marking) must
# then show idle time in most lines and a real share of the mark CPU.
# With GCPROCS=1 the program may use one CPU only: the worker marks idle
# only while the program's thread is blocked, so idle time stays a small
# part of the mark CPU. The same holds, with GCPROCS unset, under
# `taskset -c 0` on a machine of several CPUs: GCPROCS defaults to the CPUs
# of the affinity mask (every line says "1 P"), and a CPU outside the mask
# is never taken for idle.
#
# The fractional worker must also not spend that time looking at the run
# queues: it reads them at most once per 0.2 ms of marking.
#
# The test runs alone (RUN_SERIAL): another test on the second CPU would
# leave no CPU idle, and no idle worker may run then.
set -u
src=${1:?usage: test_idle_workers.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_idle_workers.sh SOURCE_DIR BUILD_DIR}
prog=$build/tests/trace/trace_workload
. "$(dirname "$0")/harness.sh"
[ -x "$prog" ] || { bad "$prog not built"; finish; }

scratch test_idle_workers
unset GCPERCENT GCMEMLIMIT GCHEAPPROFILE GCPROFILERATE GCCHECKMARK GCMARKTRACE

# sums PROCS [COMMAND...]: runs the fast workload with GCPROCS=PROCS (unset
# if "-"), under COMMAND if given; prints "lines idle_lines E F G P" (ms; P:
# the distinct "N P" values of the lines, comma-separated).
sums() {
  local procs=$1 err=$tmp/fast.$1.err
  shift
  if [ "$procs" = - ]; then
    if ! env -u GCPROCS GCMODE=concurrent GCTRACE=1 "$@" "$prog" fast >/dev/null 2>"$err"; then
      echo "failed"
      return
    fi
  elif ! env GCMODE=concurrent GCPROCS="$procs" GCTRACE=1 "$@" "$prog" fast >/dev/null 2>"$err"; then
    echo "failed"
    return
  fi
  awk '/^gc / {
      split($8, cpu, "[+/]")
      n++; e += cpu[2]; f += cpu[3]; g += cpu[4]; if (cpu[4] + 0 > 0) k++
      p = $(NF - ($NF == "(forced)" ? 2 : 1)); if (!(p in seen)) { seen[p] = 1; ps = ps (ps == "" ? "" : ",") p }
    }
    END { printf "%d %d %.3f %.3f %.3f %s\n", n, k, e, f, g, ps }' "$err"
}

ncpu=$(getconf _NPROCESSORS_ONLN)
if [ "$ncpu" -ge 2 ]; then
  read -r n k e f g _ <<<"$(sums 2)"
  if [ "$n" = failed ]; then
    bad "GCPROCS=2: trace_workload fast failed: $(tail -3 "$tmp/fast.2.err")"
  elif awk -v n="$n" -v k="$k" -v e="$e" -v f="$f" -v g="$g" \
      'BEGIN { exit !(n >= 10 && k >= n / 2 && g >= 0.1 * (e + f + g)) }'; then
    ok "GCPROCS=2, one busy thread: idle marking in $k of $n cycles, $g of $(awk -v e="$e" -v f="$f" -v g="$g" 'BEGIN { print e + f + g }') ms mark CPU"
  else
    bad "GCPROCS=2, one busy thread: idle marking in $k of $n cycles, idle $g ms, assists $e ms, background $f ms"
  fi
else
  ok "GCPROCS=2 check skipped: $ncpu CPU"
fi

# The fractional worker looks at the run queues (one pread of /proc/loadavg)
# at most once per IDLE_CHECK_NS of marking (0.2 ms, gc/mark.c), plus once
# per mark. BUILD_DIR/tests/shim/loadavg_reads.so counts the reads. (A
# worker that looked again at every crossing of its budget read it ~120
# times per ms of marking, and lost a third of its time to it.)
shim=$build/tests/shim/loadavg_reads.so
if [ "$ncpu" -lt 2 ]; then
  ok "run-queue reads check skipped: $ncpu CPU"
elif [ ! -f "$shim" ]; then
  bad "$shim not built"
elif env GCMODE=concurrent GCPROCS=2 GCTRACE=1 LOADAVG_READS_OUT="$tmp/reads" \
    LD_PRELOAD="$shim" "$prog" fast >/dev/null 2>"$tmp/reads.err" && [ -s "$tmp/reads" ]; then
  read -r n mark <<<"$(awk '/^gc / { split($5, c, "+"); m += c[2]; n++ }
                          END { printf "%d %.1f\n", n, m }' "$tmp/reads.err")"
  reads=$(cat "$tmp/reads")
  limit=$(awk -v m="$mark" -v n="$n" 'BEGIN { printf "%d", m / 0.2 * 1.25 + 2 * n }')
  if [ "$reads" -gt 0 ] && [ "$reads" -le "$limit" ]; then
    ok "run queues read $reads times in $mark ms of marking over $n cycles (limit $limit)"
  else
    bad "run queues read $reads times in $mark ms of marking over $n cycles (limit $limit, and at least once)"
  fi
else
  bad "trace_workload fast under $shim failed: $(tail -3 "$tmp/reads.err")"
fi

# one_cpu LABEL PROCS [COMMAND...]: the checks of a run limited to one CPU.
one_cpu() {
  local label=$1 n k e f g p
  shift
  read -r n k e f g p <<<"$(sums "$@")"
  if [ "$n" = failed ]; then
    bad "$label: trace_workload fast failed: $(tail -3 "$tmp/fast.$1.err")"
  elif [ "$p" != 1 ]; then
    bad "$label: lines say $p P, not 1 P"
  elif awk -v n="$n" -v e="$e" -v f="$f" -v g="$g" \
      'BEGIN { exit !(n >= 10 && g <= 0.1 * (e + f + g)) }'; then
    ok "$label: 1 P, idle marking $g ms of $(awk -v e="$e" -v f="$f" -v g="$g" 'BEGIN { print e + f + g }') ms mark CPU ($k of $n cycles)"
  else
    bad "$label: idle marking $g ms, assists $e ms, background $f ms over $n cycles"
  fi
}

one_cpu "GCPROCS=1" 1
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  one_cpu "taskset -c 0, GCPROCS unset" - taskset -c 0
else
  ok "taskset check skipped: $ncpu CPU or no taskset"
fi
finish
