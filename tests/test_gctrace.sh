#!/usr/bin/env bash
# test_gctrace.sh SOURCE_DIR BUILD_DIR - GCTRACE=1 gctrace lines and
# GCTRACE=2 scavtrace lines, checked line by line against Go's format and
# cross-checked with the program's own MemStats.
#
# BUILD_DIR/tests/trace/trace_workload (tests/trace/trace_workload.c) runs
# in each GCMODE (stw, concurrent, barrier: it stores heap pointers with
# GC_STORE). For every run:
#   - every stderr line is a gctrace line matching Go's exact shape
#     (fmtNSAsMS numbers: whole ms from 10 ms, else two significant digits
#     and at most 3 decimals; sizes in whole MB), or with GCTRACE=2 a
#     scavtrace line "scav B KiB work (bg), E KiB work (eager), R KiB now,
#     U% util" with an optional " (forced)";
#   - cycle numbers run 1, 2, 3, ... and the last one is MemStats num_gc;
#     the @ times never decrease; U% <= 100; H2 <= H1; D = A x P and
#     H = C x P within the rounding of the printed figures; no mark phase
#     (B, E, F, G = 0) in stw;
#   - " (forced)" lines = num_forced_gc = the program's gc_collect and
#     gc_free_os_memory calls, and the last line is forced;
#   - after the final forced cycle, next_gc is the pacer's goal from the
#     last line's marked heap: H2 x (1 + P/100) (+ stacks and globals);
#   - GCTRACE=2: gc_free_os_memory prints the last scav line, " (forced)",
#     whose R KiB now is the heap_released the program reads right after.
# Assists: allocation much faster than background marking (a 48 MiB
# pointer-rich live set at GCPERCENT=10) shows non-zero assist CPU (E) in
# many lines and a real share of the mark CPU; a slow allocator (sleeps
# between 16 KiB) keeps E near zero (under 2 ms a line: assist time is wall time, and a loaded machine stretches it; their sum under
# 1% of the run's time) in the concurrent modes.
set -u
src=${1:?usage: test_gctrace.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_gctrace.sh SOURCE_DIR BUILD_DIR}
prog=$build/tests/trace/trace_workload
. "$(dirname "$0")/harness.sh"
[ -x "$prog" ] || { bad "$prog not built"; finish; }

scratch test_gctrace
unset GCPERCENT GCMEMLIMIT GCPROCS GCHEAPPROFILE GCPROFILERATE GCCHECKMARK GCMARKTRACE

# fmtNSAsMS: 0 | whole ms >= 10 | two significant digits, at most 3 decimals.
MS='(0|[1-9][0-9]+|[1-9]\.[0-9]|0\.[1-9][0-9]?|0\.0[1-9][0-9]?|0\.00[1-9])'
GCLINE="^gc [1-9][0-9]* @[0-9]+\.[0-9][0-9][0-9]s [0-9]+%: $MS\+$MS\+$MS ms clock, $MS\+$MS/$MS/$MS\+$MS ms cpu, [0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, [0-9]+ MB stacks, [0-9]+ MB globals, [1-9][0-9]* P( \(forced\))?$"
SCAVLINE='^scav [0-9]+ KiB work \(bg\), [0-9]+ KiB work \(eager\), [0-9]+ KiB now, [0-9]+% util( \(forced\))?$'

# check_lines: every line of a run's stderr, and the cross-checks with its
# stdout. Printed figures are truncated: below 10 ms, a figure x stands for
# a value in [x, x + one unit of its last digit), under x * 1.11 + 0.0011.
check_lines() { # MODE LEVEL ERRFILE OUTFILE LABEL
  local mode=$1 level=$2 err=$3 out=$4 label=$5 r
  # The patterns go through the environment: awk -v would eat backslashes.
  r=$(GCLINE=$GCLINE SCAVLINE=$SCAVLINE awk -v mode="$mode" -v level="$level" \
      -v num_gc="$(sed -n 's/^num_gc //p' "$out")" \
      -v num_forced="$(sed -n 's/^num_forced_gc //p' "$out")" \
      -v calls="$(sed -n 's/^collect_calls //p' "$out")" \
      -v next_gc="$(sed -n 's/^next_gc //p' "$out")" \
      -v released="$(sed -n 's/^heap_released //p' "$out")" \
      -v percent="$(sed -n 's/^percent //p' "$out")" '
    BEGIN { gcre = ENVIRON["GCLINE"]; scre = ENVIRON["SCAVLINE"] }
    function up(x) { return x < 10 ? x * 1.11 + 0.0011 : x + 1 }  # upper bound of a printed figure
    function err(m) { if (nerr < 8) msgs = msgs "\n    " m; nerr++ }
    /^gc / {
      if ($0 !~ gcre) { err("bad gctrace line: " $0); next }
      n++
      num = $2 + 0
      if (num != n) err("cycle " num " where " n " was expected")
      t = substr($3, 2) + 0
      if (t < lastt) err("@" t "s after @" lastt "s")
      lastt = t
      u = $4 + 0; if (u > 100) err("U% > 100: " $0)
      split($5, clk, "+"); A = clk[1]; B = clk[2]; C = clk[3]
      split($8, cpu, "[+/]"); D = cpu[1]; E = cpu[2]; F = cpu[3]; G = cpu[4]; H = cpu[5]
      split($11, hp, "->"); H0 = hp[1]; H1 = hp[2]; H2 = hp[3]
      P = $(NF - ($NF == "(forced)" ? 2 : 1)) + 0
      goal = $13 + 0; stacks = $16 + 0; globals = $19 + 0
      if (H2 + 0 > H1 + 0) err("H2 > H1: " $0)
      if (D + 0 > up(A) * P + 0.002 || up(D) + 0.002 < A * P) err("D != A x P: " $0)
      if (H + 0 > up(C) * P + 0.002 || up(H) + 0.002 < C * P) err("H != C x P: " $0)
      if (mode == "stw" && (B + 0 != 0 || E + 0 != 0 || F + 0 != 0 || G + 0 != 0))
        err("stw line with a concurrent mark: " $0)
      forced = ($NF == "(forced)"); nforced += forced; lastforced = forced
      lastH2 = H2; lastS = stacks; lastG = globals
      sumE += E; if (E + 0 > maxE) maxE = E + 0; if (E + 0 > 0) nE++
      if (E + 0 >= 0.1) nE01++
      sumMark += E + F + G
      lastscav = 0
      next
    }
    /^scav / {
      if (level < 2) { err("scav line at GCTRACE=1: " $0); next }
      if ($0 !~ scre) { err("bad scavtrace line: " $0); next }
      ns++; u = $13 + 0; if (u > 100) err("util > 100: " $0)
      lastscav = 1; scavforced = ($NF == "(forced)"); scavnow = $10 + 0
      if (scavforced) nsf++
      next
    }
    { err("unexpected stderr line: " $0) }
    END {
      if (n == 0) err("no gctrace lines")
      if (n != num_gc) err("last cycle " n ", MemStats num_gc " num_gc)
      if (nforced != num_forced) err(nforced " forced lines, num_forced_gc " num_forced)
      if (nforced != calls) err(nforced " forced lines, " calls " gc_collect/gc_free_os_memory calls")
      if (!lastforced) err("the last line is not forced")
      # next_gc after the final forced cycle: the goal from its marked heap.
      if (percent >= 0) {
        lo = lastH2 * (1 + percent / 100); hi = (lastH2 + 1) * (1 + percent / 100) + (lastS + lastG + 1) * percent / 100 + 1
        minimum = 4 * percent / 100
        if (lo < minimum) lo = minimum * 0.99
        if (hi < minimum + 1) hi = minimum + 1
        g = next_gc / 1048576
        if (g < lo || g > hi) err(sprintf("next_gc %.2f MB after the last cycle (H2 %d MB, GCPERCENT %d): want %.2f..%.2f", g, lastH2, percent, lo, hi))
      }
      if (level >= 2) {
        if (ns == 0) err("no scav lines at GCTRACE=2")
        if (ns > n + 1) err(ns " scav lines for " n " cycles")
      }
      printf "%d %d %d %d %.3f %.3f %d %d %.3f %d %d %d %.0f %d\n", nerr, n, nforced, ns, sumE, maxE, nE, nE01, sumMark, lastscav, scavforced, nsf, scavnow, lastt * 1000
      if (nerr) printf "%s\n", substr(msgs, 2)
    }' "$err")
  local summary rest
  summary=$(head -1 <<<"$r")
  rest=$(tail -n +2 <<<"$r")
  read -r nerr n nforced ns sumE maxE nE nE01 sumMark lastscav scavforced nsf scavnow lastt <<<"$summary"
  if [ "$nerr" = 0 ]; then
    ok "$label: $n gctrace lines ($nforced forced), $ns scav lines: format and cross-checks"
  else
    bad "$label: $nerr problems:"
    echo "$rest"
  fi
}

for mode in stw concurrent barrier; do
  # ---- churn: format, numbering, forced count, next_gc --------------------
  for level in 1 2; do
    d=$tmp/$mode.churn.$level
    if GCMODE=$mode GCTRACE=$level "$prog" churn >"$d.out" 2>"$d.err"; then
      check_lines "$mode" "$level" "$d.err" "$d.out" "$mode churn GCTRACE=$level"
      if [ "$level" = 2 ]; then
        # The forced scav line of gc_free_os_memory ends the output and
        # reports the released memory the program reads right after.
        rel=$(( $(sed -n 's/^heap_released //p' "$d.out") >> 10 ))
        if [ "$lastscav" = 1 ] && [ "$scavforced" = 1 ] && [ "$nsf" = 1 ] && [ "$scavnow" = "$rel" ]; then
          ok "$mode: gc_free_os_memory prints one forced scav line, $scavnow KiB now = heap_released"
        else
          bad "$mode: last line scav=$lastscav forced=$scavforced ($nsf forced scav lines), $scavnow KiB now, heap_released $rel KiB"
          tail -3 "$d.err"
        fi
      fi
    else
      bad "$mode churn GCTRACE=$level failed: $(tail -3 "$d.err")"
    fi
  done

  # ---- assists -------------------------------------------------------------
  d=$tmp/$mode.fast
  if GCMODE=$mode GCTRACE=1 "$prog" fast >"$d.out" 2>"$d.err"; then
    check_lines "$mode" 1 "$d.err" "$d.out" "$mode fast"
    if [ "$mode" = stw ]; then
      :
    elif awk -v s="$sumE" -v m="$sumMark" -v n="$n" -v k="$nE01" 'BEGIN { exit !(s > 0 && s >= 0.1 * m && k >= n / 4) }'; then
      ok "$mode fast allocator: assists in $nE01 of $n lines (>= 0.1 ms), $sumE of $sumMark ms mark CPU"
    else
      bad "$mode fast allocator: assist CPU $sumE ms of $sumMark ms mark CPU, $nE01 of $n lines >= 0.1 ms"
    fi
  else
    bad "$mode fast failed: $(tail -3 "$d.err")"
  fi
  d=$tmp/$mode.slow
  if GCMODE=$mode GCTRACE=1 "$prog" slow >"$d.out" 2>"$d.err"; then
    check_lines "$mode" 1 "$d.err" "$d.out" "$mode slow"
    if awk -v s="$sumE" -v m="$maxE" -v t="$lastt" 'BEGIN { exit !(m < 2 && s <= 0.01 * t) }'; then
      ok "$mode slow allocator: assist CPU near zero ($sumE ms in all, at most $maxE ms a line, over $lastt ms)"
    else
      bad "$mode slow allocator: assist CPU $sumE ms in all, at most $maxE ms a line, over $lastt ms"
    fi
  else
    bad "$mode slow failed: $(tail -3 "$d.err")"
  fi
done
finish
