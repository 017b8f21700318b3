#!/usr/bin/env bash
# test_marktrace.sh SOURCE_DIR BUILD_DIR - GCMARKTRACE=1 lines (gc/marktrace.h)
# on the trace workload, beside GCTRACE=1, in each mode:
#   - concurrent and barrier: one mark line per gctrace line, numbered alike,
#     of the mode's exact shape; its pause 1 and pause 2 are the gctrace
#     line's A and C to the digit (same record, same rounding), and neither
#     pause's stopping part exceeds the pause; at most TC_MAX_MARK_ROUNDS
#     (16) rounds;
#   - stw: no mark line; without GCMARKTRACE: no mark line either.
set -u
src=${1:?usage: test_marktrace.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_marktrace.sh SOURCE_DIR BUILD_DIR}
prog=$build/tests/trace/trace_workload
. "$(dirname "$0")/harness.sh"
[ -x "$prog" ] || { bad "$prog not built"; finish; }

scratch test_marktrace
unset GCPERCENT GCMEMLIMIT GCPROCS GCHEAPPROFILE GCPROFILERATE GCCHECKMARK GCTRACE GCMARKTRACE

MS='(0|[1-9][0-9]+|[1-9]\.[0-9]|0\.[1-9][0-9]?|0\.0[1-9][0-9]?|0\.00[1-9])'
PAUSES="pause 1 $MS ms \(stopping $MS\), pause 2 $MS ms \(stopping $MS\), [0-9]+ KiB scanned in pause 2"
CONC="^mark [1-9][0-9]* concurrent: [0-9]+ rounds, [0-9]+ pages re-scanned, [0-9]+ left to pause 2; throttle [0-9]+ stops(, held)?(, gave up)?; lifted [0-9]+ KiB, kept [0-9]+ KiB; $PAUSES$"
BARR="^mark [1-9][0-9]* barrier: [0-9]+ rounds; $PAUSES$"

for mode in concurrent barrier; do
  d=$tmp/$mode
  if ! GCMODE=$mode GCTRACE=1 GCMARKTRACE=1 "$prog" churn >"$d.out" 2>"$d.err"; then
    bad "$mode: trace_workload failed: $(tail -3 "$d.err")"
    continue
  fi
  if [ "$mode" = concurrent ] && grep -q 'marking with the world stopped' "$d.err"; then
    ok "concurrent: no kernel support here, the mode fell back to stw (nothing to check)"
    continue
  fi
  re=$CONC
  [ "$mode" = barrier ] && re=$BARR
  r=$(RE=$re awk -v num_gc="$(sed -n 's/^num_gc //p' "$d.out")" '
    BEGIN { re = ENVIRON["RE"] }
    function err(m) { if (nerr < 8) msgs = msgs "\n    " m; nerr++ }
    # A, C of the gctrace line: pause 1 and pause 2.
    /^gc / { split($5, clk, "+"); A = clk[1]; C = clk[3]; gcnum = $2 + 0; ngc++; next }
    /^mark / {
      if ($0 !~ re) { err("bad mark line: " $0); next }
      nmark++
      if ($2 + 0 != gcnum) err("mark " $2 " after gc " gcnum)
      if ($4 + 0 > 16) err("more than 16 rounds: " $0)
      p1 = $0; sub(/.*pause 1 /, "", p1); split(p1, x, " "); P1 = x[1]
      s1 = $0; sub(/.*pause 1 [^(]*\(stopping /, "", s1); sub(/\).*/, "", s1)
      p2 = $0; sub(/.*pause 2 /, "", p2); split(p2, y, " "); P2 = y[1]
      s2 = $0; sub(/.*pause 2 [^(]*\(stopping /, "", s2); sub(/\).*/, "", s2)
      if (P1 != A) err("pause 1 " P1 " where gctrace has " A ": " $0)
      if (P2 != C) err("pause 2 " P2 " where gctrace has " C ": " $0)
      if (s1 + 0 > P1 + 0 || s2 + 0 > P2 + 0) err("stopping longer than its pause: " $0)
      next
    }
    { err("unexpected line: " $0) }
    END {
      if (nmark != ngc) err(nmark " mark lines for " ngc " gctrace lines")
      if (ngc != num_gc) err(ngc " gctrace lines, num_gc " num_gc)
      if (nmark == 0) err("no mark line")
      printf "%d %d%s", nmark, nerr, msgs
    }' "$d.err")
  n=${r%% *}
  rest=${r#* }
  nerr=${rest%%$'\n'*}
  if [ "$nerr" = 0 ]; then
    ok "$mode: $n mark lines, one per cycle, of the mode's shape, pauses as in gctrace"
  else
    bad "$mode: $nerr problems:${rest#*$'\n'}"
  fi
done

d=$tmp/stw
if GCMODE=stw GCMARKTRACE=1 "$prog" churn >"$d.out" 2>"$d.err" && ! grep -q '^mark ' "$d.err"; then
  ok "stw: no mark line"
else
  bad "stw: $(grep -m2 '^mark \|trace_workload' "$d.err")"
fi
d=$tmp/off
if "$prog" churn >"$d.out" 2>"$d.err" && ! grep -q '^mark ' "$d.err"; then
  ok "without GCMARKTRACE: no mark line"
else
  bad "without GCMARKTRACE: $(grep -m2 '^mark \|trace_workload' "$d.err")"
fi
finish
