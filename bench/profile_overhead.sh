#!/usr/bin/env bash
# profile_overhead.sh BUILD_DIR - allocation throughput with heap profiling
# off (GCPROFILERATE=0), at the default rate (524288) and at rate 1, and the
# cost of each relative to off. Rounds are interleaved (each round runs the
# three settings, in an order rotated per round) and medians reported, so a
# noisy moment of the machine hits all settings alike. Every run is its own
# process, so no profile state carries over.
#   PROFILE_RUNS=N     rounds (default 7)
#   PROFILE_STEPS=N    allocations per run when sampling is off or at the
#                      default rate (default 5000000); rate 1 runs a tenth
#   PROFILE_THREADS=N  threads (default 1)
# Exits 0 (benchmarks are not tests); 2 on bad usage.
set -u
BUILD=${1:-}
exe=$BUILD/bench/profile_overhead
if [ -z "$BUILD" ] || [ ! -x "$exe" ]; then
  echo "usage: $0 BUILD_DIR (with bench/profile_overhead built)" >&2
  exit 2
fi
RUNS=${PROFILE_RUNS:-7}
STEPS=${PROFILE_STEPS:-5000000}
THREADS=${PROFILE_THREADS:-1}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/profile_overhead.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
rates=(0 524288 1)
for ((r = 0; r < RUNS; r++)); do
  for ((k = 0; k < 3; k++)); do
    rate=${rates[$(((r + k) % 3))]}
    steps=$STEPS
    [ "$rate" = 1 ] && steps=$((STEPS / 10))
    GCPROFILERATE=$rate "$exe" --steps "$steps" --threads "$THREADS" |
      sed -n 's/.* mops=\([0-9.]*\).*/\1/p' >>"$OUT/$rate"
  done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -n "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
off=$(median "$OUT/0")
printf '%-22s %10s %14s %10s\n' setting "alloc/us" "min-max" "cost"
for rate in 0 524288 1; do
  m=$(median "$OUT/$rate")
  case $rate in 0) name="off" ;; 524288) name="default (512 KiB)" ;; 1) name="every allocation" ;; esac
  awk -v n="$name" -v m="$m" -v off="$off" -v rg="$(range "$OUT/$rate")" 'BEGIN {
    printf "%-22s %10.2f %14s %9.1f%%\n", n, m, rg, (off / m - 1) * 100 }'
done
echo "($RUNS rounds, $THREADS thread(s), $STEPS allocations per run; rate 1 runs $((STEPS / 10)); median throughput)"
