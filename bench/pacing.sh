#!/usr/bin/env bash
# pacing.sh BUILD_DIR [OUT_DIR] - the GOGC trade-off curve (docs/pacing.md):
# runs BUILD_DIR/bench/pacing (bench/pacing.c, tricolor in its default
# GCMODE) and, when `go` is on PATH, bench/go/pacing (the same workload in Go,
# built here with `go build`) at every GCPERCENT, several times, interleaved;
# writes OUT_DIR/pacing.csv (medians per implementation and GCPERCENT),
# OUT_DIR/pacing.raw (every run's key=value line) and OUT_DIR/pacing.svg
# (drawn by BUILD_DIR/bench/svgplot). OUT_DIR defaults to BUILD_DIR/pacing.
#
#   PACING_PERCENTS="25 50 100 200 400 800"  GCPERCENT values (integers >= 1)
#   PACING_RUNS=3          runs per (implementation, GCPERCENT); medians
#   PACING_IMPLS="tricolor go"   which implementations (go is skipped when
#                          `go` is not on PATH)
#   PACING_LIVE_MIB=64     live set, MiB       (--live-mib)
#   PACING_OPS=1500000     churn operations    (--ops)
#   PACING_SAMPLE_MS=10    MemStats sampling period (--sample-ms)
#   PACING_TIMEOUT=120     a run is killed after this many seconds (a run
#                          takes 3-20 s on 2 idle CPUs)
#   PACING_RETRIES=1       a failed or timed-out run is retried this often
#   PACING_REPLOT=1        run nothing: recompute pacing.csv and pacing.svg
#                          from an existing OUT_DIR/pacing.raw
#   PACING_COMMIT=REV      the tricolor commit to print in the plot (default:
#                          git rev-parse of the source tree BUILD_DIR was
#                          configured from, "+dirty" if gc/ or include/ differ
#                          from it)
#
# Runs are sequential (one at a time); each round runs every GCPERCENT for
# every implementation, with the implementation order alternating from round
# to round. A failed run is reported (in pacing.raw too, as a # FAILED line),
# retried, and left out of the medians. Exits 0
# whatever the numbers (benchmarks are not tests); 2 on bad usage or when
# nothing could run.
set -u

BUILD=${1:-}
if [ -z "$BUILD" ] || [ ! -d "$BUILD/bench" ]; then
  echo "usage: $0 BUILD_DIR [OUT_DIR]   (BUILD_DIR/bench holds pacing and svgplot)" >&2
  exit 2
fi
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-$BUILD/pacing}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

PERCENTS=${PACING_PERCENTS:-25 50 100 200 400 800}
RUNS=${PACING_RUNS:-3}
IMPLS=${PACING_IMPLS:-tricolor go}
LIVE=${PACING_LIVE_MIB:-64}
OPS=${PACING_OPS:-1500000}
SAMPLE=${PACING_SAMPLE_MS:-10}
TIMEOUT=${PACING_TIMEOUT:-120}
RETRIES=${PACING_RETRIES:-1}
case $RETRIES in '' | *[!0-9]*) echo "$0: PACING_RETRIES wants an integer" >&2; exit 2 ;; esac
for v in $PERCENTS $RUNS $LIVE $OPS $SAMPLE $TIMEOUT; do
  case $v in
    '' | *[!0-9]* | 0) echo "$0: expected positive integers, got '$v'" >&2; exit 2 ;;
  esac
done
ARGS="--live-mib $LIVE --ops $OPS --sample-ms $SAMPLE"

# ---- programs ----------------------------------------------------------------
RUNNABLE=""
for impl in $IMPLS; do
  case $impl in
    tricolor)
      if [ -x "$BUILD/bench/pacing" ]; then
        RUNNABLE="$RUNNABLE tricolor"
      else
        echo "note: skipping tricolor: $BUILD/bench/pacing not built (cmake --build $BUILD --target pacing)" >&2
      fi
      ;;
    go)
      if ! command -v go >/dev/null 2>&1; then
        echo "note: skipping go: no 'go' on PATH" >&2
        continue
      fi
      # Build caches under the build directory (HOME may not be writable);
      # no dependencies, so no network.
      mkdir -p "$BUILD/bench/go"
      if (cd "$HERE/go/pacing" &&
          env GOCACHE="$BUILD/bench/go/cache" GOPATH="$BUILD/bench/go/path" GOFLAGS= \
            GO111MODULE=on go build -o "$BUILD/bench/pacing_go" .) >"$OUT/go-build.log" 2>&1; then
        RUNNABLE="$RUNNABLE go"
      else
        echo "note: skipping go: go build failed: $(tail -c 400 "$OUT/go-build.log")" >&2
      fi
      ;;
    *) echo "$0: unknown implementation '$impl' (tricolor go)" >&2; exit 2 ;;
  esac
done
if [ -z "$RUNNABLE" ]; then
  echo "nothing to run" >&2
  exit 2
fi

cmd_for() {
  case $1 in
    tricolor) echo "env -u GCMODE -u GCPERCENT -u GCPROCS -u GCTRACE -u GCCHECKMARK $BUILD/bench/pacing" ;;
    go) echo "env -u GOGC -u GOMEMLIMIT -u GOMAXPROCS -u GODEBUG $BUILD/bench/pacing_go" ;;
  esac
}

if [ -n "${PACING_COMMIT:-}" ]; then
  COMMIT=$PACING_COMMIT
else
  SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
  COMMIT=$(git -C "${SRC:-$HERE}" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ "$COMMIT" != unknown ] && ! git -C "${SRC:-$HERE}" diff --quiet HEAD -- gc include 2>/dev/null; then
    COMMIT="$COMMIT+dirty"
  fi
fi
GOVERSION=""
case " $RUNNABLE " in *" go "*) GOVERSION=$(go env GOVERSION 2>/dev/null) ;; esac

busy() {
  local psi=""
  [ -r /proc/pressure/cpu ] && psi=", cpu pressure $(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu)%"
  echo "load $(cut -d' ' -f1 /proc/loadavg)$psi"
}

if [ -n "${PACING_REPLOT:-}" ]; then
  [ -f "$OUT/pacing.raw" ] || { echo "$0: no $OUT/pacing.raw to replot" >&2; exit 2; }
  RUNS=$(sed -n 's/^# percents: .*runs: \([0-9]*\);.*/\1/p' "$OUT/pacing.raw" | head -1)
  COMMIT=$(sed -n 's/^# pacing: [^;]*; tricolor \([^;]*\).*/\1/p' "$OUT/pacing.raw" | head -1)
  LIVE=$(sed -n 's/^# percents: .*--live-mib \([0-9]*\).*/\1/p' "$OUT/pacing.raw" | head -1)
  OPS=$(sed -n 's/^# percents: .*--ops \([0-9]*\).*/\1/p' "$OUT/pacing.raw" | head -1)
  GOVERSION=$(sed -n 's/^# pacing: .*; \(go[0-9.]*\)$/\1/p' "$OUT/pacing.raw" | head -1)
  failed=0
else
{
  echo "# pacing: $(date -u '+%Y-%m-%d %H:%M UTC'); tricolor $COMMIT${GOVERSION:+; $GOVERSION}"
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
  echo "# percents: $PERCENTS; runs: $RUNS; args: $ARGS"
} | tee "$OUT/pacing.raw"
echo "at start: $(busy)"

# ---- runs --------------------------------------------------------------------
failed=0
round=0
for _ in $(seq 1 "$RUNS"); do
  round=$((round + 1))
  order=$RUNNABLE
  if [ $((round % 2)) -eq 0 ]; then # alternate which implementation goes first
    order=$(echo "$RUNNABLE" | tr ' ' '\n' | sed '/^$/d' | tac | tr '\n' ' ')
  fi
  for p in $PERCENTS; do
    for impl in $order; do
      cmd=$(cmd_for "$impl")
      for attempt in $(seq 0 "$RETRIES"); do
        # shellcheck disable=SC2086  # words on purpose
        timeout "$TIMEOUT" $cmd --percent "$p" $ARGS >"$OUT/out" 2>"$OUT/err"
        status=$?
        line=$(grep '^pacing ' "$OUT/out" | head -1)
        if [ $status -eq 0 ] && [ -n "$line" ]; then
          echo "$line" >>"$OUT/pacing.raw"
          echo "round $round: $impl percent=$p: $(echo "$line" | tr ' ' '\n' |
            grep -E '^(cycles|gc_cpu_fraction|peak_heap_mib|max_pause_us|wall_s)=' | tr '\n' ' ')[$(busy)]"
          break
        fi
        failed=$((failed + 1))
        why="exit $status"
        [ $status -eq 124 ] && why="timed out after ${TIMEOUT}s"
        echo "FAILED: $impl percent=$p ($why, attempt $((attempt + 1))): $(tail -c 400 "$OUT/err" | tr '\n' ' ')"
        echo "# FAILED $impl percent=$p round=$round $why" >>"$OUT/pacing.raw"
      done
    done
  done
done
rm -f "$OUT/out" "$OUT/err"
echo "at end: $(busy)"
fi

# ---- medians -> CSV ------------------------------------------------------------
COLS="cycles gc_cpu_fraction peak_heap_mib peak_rss_mib max_pause_us p99_pause_us median_pause_us wall_s ops_per_s cpu_s"
awk -v cols="$COLS" '
  BEGIN { ncol = split(cols, col, " ") }
  /^pacing / {
    delete kv
    for (i = 2; i <= NF; i++) { eq = index($i, "="); kv[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    key = kv["impl"] SUBSEP kv["percent"]
    if (!(key in n)) { keys[++nkeys] = key; impl[key] = kv["impl"]; pct[key] = kv["percent"] + 0 }
    n[key]++
    for (c = 1; c <= ncol; c++) val[key, col[c], n[key]] = kv[col[c]] + 0
  }
  function median(key, name,    m, i, j, t, a) {
    m = n[key]
    for (i = 1; i <= m; i++) a[i] = val[key, name, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    # tricolor first, then the others by name; percents ascending
    for (i = 1; i <= nkeys; i++) for (j = i + 1; j <= nkeys; j++) {
      a = keys[i]; b = keys[j]
      ra = (impl[a] == "tricolor" ? "0" : "1") impl[a]; rb = (impl[b] == "tricolor" ? "0" : "1") impl[b]
      if (ra > rb || (ra == rb && pct[a] > pct[b])) { keys[i] = b; keys[j] = a }
    }
    printf "impl,percent"
    for (c = 1; c <= ncol; c++) printf ",%s", col[c]
    printf ",runs\n"
    for (i = 1; i <= nkeys; i++) {
      k = keys[i]
      printf "%s,%d", impl[k], pct[k]
      for (c = 1; c <= ncol; c++) {
        v = median(k, col[c]); name = col[c]
        if (name == "gc_cpu_fraction") printf ",%.4f", v
        else if (name == "wall_s" || name == "cpu_s") printf ",%.3f", v
        else if (name ~ /_mib$/) printf ",%.1f", v
        else printf ",%.0f", v
      }
      printf ",%d\n", n[k]
    }
  }' "$OUT/pacing.raw" >"$OUT/pacing.csv"

echo
echo "medians ($OUT/pacing.csv):"
column -t -s, "$OUT/pacing.csv" 2>/dev/null || cat "$OUT/pacing.csv"

# ---- plot ----------------------------------------------------------------------
if [ -x "$BUILD/bench/svgplot" ]; then
  sub="live set $LIVE MiB, $OPS operations; median of $RUNS runs; tricolor $COMMIT"
  [ -n "$GOVERSION" ] && sub="$sub, $GOVERSION"
  sub="$sub; $(nproc) CPUs; $(date -u '+%Y-%m-%d')"
  "$BUILD/bench/svgplot" "$OUT/pacing.csv" "$OUT/pacing.svg" \
    --title "GCPERCENT sweep: GC CPU, heap, cycles and pauses" --subtitle "$sub" &&
    echo "plot: $OUT/pacing.svg"
else
  echo "note: $BUILD/bench/svgplot not built; no plot" >&2
fi
[ $failed -gt 0 ] && echo "$failed run(s) failed; see $OUT/pacing.raw"
exit 0
