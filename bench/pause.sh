#!/usr/bin/env bash
# pause.sh BUILD_DIR [LIVE_MIB...] - stop-the-world pauses over a large live
# heap under steady churn (bench/pause.c), for tricolor in each marking mode
# and for Boehm GC, default and incremental. Prints one row per run.
#
#   sizes                 live data in MiB, default: 64 256 1024
#   PAUSE_CONFIGS=LIST    subset of: concurrent barrier stw boehm boehm-inc
#                         (default all five; the first three are tricolor with
#                         GCMODE=<name>)
#   PAUSE_RUNS=N          runs per (size, config), default 1
#   PAUSE_MIN_S=S         steady phase lasts at least S seconds (default 10)
#   PAUSE_MIN_CYCLES=N    ... and at least N collection cycles (default 10)
#   PAUSE_MAX_S=S         ... but at most S seconds (default 60)
#   PAUSE_TIMEOUT=S       a run is killed after S seconds (default 300)
#
# Pauses are per collection cycle (tricolor: MemStats pause_ns, both pauses of
# a cycle summed; Boehm: GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD,
# summed per collection), in microseconds; p99 is nearest-rank, so it is the
# maximum when a run has fewer than 100 cycles. op_max is the longest single
# churn operation of the allocating thread (what it felt: pauses, assists,
# incremental work, preemption), ">1ms ops" how many took longer than 1 ms;
# "mut ops/s" counts the pointer-rewriting thread's swaps and moves. The machine is shared: read the load line.
# Exits 0 whatever the numbers (benchmarks are not tests); 2 on bad usage.
set -u

BUILD=${1:-}
if [ -z "$BUILD" ] || [ ! -d "$BUILD/bench" ]; then
  echo "usage: $0 BUILD_DIR [LIVE_MIB...]   (BUILD_DIR/bench holds pause_tricolor, pause_boehm)" >&2
  exit 2
fi
shift
BIN=$BUILD/bench
SIZES=${*:-64 256 1024}
for s in $SIZES; do
  case $s in
    '' | *[!0-9]*) echo "$0: sizes are MiB (integers), got '$s'" >&2; exit 2 ;;
  esac
done
CONFIGS=${PAUSE_CONFIGS:-concurrent barrier stw boehm boehm-inc}
RUNS=${PAUSE_RUNS:-1}
TIMEOUT=${PAUSE_TIMEOUT:-300}
ARGS="--min-seconds ${PAUSE_MIN_S:-10} --min-cycles ${PAUSE_MIN_CYCLES:-10} --max-seconds ${PAUSE_MAX_S:-60}"

for v in GCPERCENT GCPROCS GCTRACE GCCHECKMARK GC_MARKERS GC_NPROCS GC_FREE_SPACE_DIVISOR \
         GC_INITIAL_HEAP_SIZE GC_ENABLE_INCREMENTAL GC_DISABLE_INCREMENTAL GC_PAUSE_TIME_TARGET; do
  if [ -n "${!v:-}" ]; then
    echo "note: $v=${!v} is set; the numbers below are not the defaults" >&2
  fi
done

# config -> program and environment
cmd_for() {
  case $1 in
    concurrent | barrier | stw) echo "env -u BENCH_BOEHM_INCREMENTAL GCMODE=$1 $BIN/pause_tricolor" ;;
    boehm) echo "env -u GCMODE -u BENCH_BOEHM_INCREMENTAL $BIN/pause_boehm" ;;
    boehm-inc) echo "env -u GCMODE BENCH_BOEHM_INCREMENTAL=1 $BIN/pause_boehm" ;;
    *) return 1 ;;
  esac
}
RUNNABLE=""
for c in $CONFIGS; do
  if ! cmd=$(cmd_for "$c"); then
    echo "$0: unknown config '$c' (concurrent barrier stw boehm boehm-inc)" >&2
    exit 2
  fi
  exe=${cmd##* }
  if [ -x "$exe" ]; then
    RUNNABLE="$RUNNABLE $c"
  else
    echo "note: skipping '$c': $exe not built" >&2
  fi
done
if [ -z "$RUNNABLE" ]; then
  echo "nothing to run: build pause_tricolor / pause_boehm in $BUILD first" >&2
  exit 2
fi

busy() {
  local psi=""
  [ -r /proc/pressure/cpu ] && psi=", cpu pressure $(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu)%"
  echo "load $(cut -d' ' -f1 /proc/loadavg)$psi"
}

OUT=$(mktemp -d "${TMPDIR:-/tmp}/pause.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
echo "== pause: $(date -u '+%Y-%m-%d %H:%M UTC')"
. "$(dirname "$0")/machine.sh"
describe_machine "$BUILD"
echo "sizes (MiB): $SIZES; configs:$RUNNABLE; $RUNS run(s) each; steady phase: $ARGS"
echo "at start: $(busy)"
echo

: >"$OUT/rows"
for s in $SIZES; do
  for _ in $(seq 1 "$RUNS"); do
    for c in $RUNNABLE; do
      cmd=$(cmd_for "$c")
      # shellcheck disable=SC2086  # words on purpose
      timeout "$TIMEOUT" $cmd "$s" $ARGS >"$OUT/out" 2>"$OUT/err"
      status=$?
      line=$(grep '^pause ' "$OUT/out" | head -1)
      if [ $status -eq 0 ] && [ -n "$line" ]; then
        echo "$line  [$c, $(busy)]"
        echo "$c $line" >>"$OUT/rows"
      else
        why="exit $status"
        [ $status -eq 124 ] && why="timeout after ${TIMEOUT}s"
        [ $status -gt 128 ] && [ $status -ne 124 ] && why="killed by signal $((status - 128))"
        if grep -q 'mprotect vdb failed' "$OUT/err"; then
          why="$why; Boehm's mprotect dirty bits ran out of mappings, vm.max_map_count=$(cat /proc/sys/vm/max_map_count 2>/dev/null)"
        fi
        echo "FAILED: $c live=${s}MiB ($why): $(tail -c 400 "$OUT/err" | tr '\n' ' ')"
        echo "$c FAILED live=${s}MiB ($why)" >>"$OUT/rows"
      fi
    done
  done
done
echo

# ---- table -------------------------------------------------------------------
field() { # field NAME LINE
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}
printf '%-8s %-10s %-11s %6s %10s %10s %10s %7s %10s %8s %10s %8s %10s\n' \
  live config mode cycles "max us" "p99 us" "median us" "wall s" "ops/s" "RSS MiB" "op_max us" \
  ">1ms ops" "mut ops/s"
while read -r c rest; do
  if [ "${rest%% *}" = FAILED ]; then
    printf '%-8s %-10s FAILED %s\n' "$(field live "$rest")" "$c" "${rest#* live=* }"
    continue
  fi
  mode=$(field mode "$rest")
  [ -n "$(field requested "$rest")" ] && mode="$mode(!)"
  printf '%-8s %-10s %-11s %6s %10s %10s %10s %7s %10s %8s %10s %8s %10s\n' \
    "$(field live "$rest")" "$c" "$mode" "$(field cycles "$rest")" "$(field max_us "$rest")" \
    "$(field p99_us "$rest")" "$(field median_us "$rest")" "$(field wall_s "$rest")" \
    "$(field ops_per_s "$rest")" "$(field rss_mib "$rest")" "$(field op_max_us "$rest")" \
    "$(field stalls_1ms "$rest")" "$(field mut_ops_per_s "$rest")"
done <"$OUT/rows"
if grep -q 'requested=' "$OUT/rows"; then
  echo "(!): the collector ran another mode than GCMODE asked for (fallback, e.g. no kernel page tracking)"
fi
echo "at end: $(busy)"
exit 0
