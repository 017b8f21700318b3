#!/usr/bin/env bash
# test_pprof.sh SOURCE_DIR BUILD_DIR - heap profiles written by tricolor,
# read by the real `go tool pprof` (Debian's golang-go; no network needed).
#
# Programs from tests/pprof/ (built with -g into BUILD_DIR/tests/pprof)
# allocate known volumes from functions with known names and print what
# they allocated. This script checks that pprof:
#   - names those functions and finds their bytes and objects under
#     -sample_index=inuse_space|alloc_space|alloc_objects: within 3% at
#     GCPROFILERATE=1 (in fact exact), within 4.5 standard deviations of the
#     sampling error at the default 512 KiB;
#   - opens the heap profile on inuse_space and the allocs one on alloc_space;
#   - shows file:line with -lines, with the binary and after it was deleted,
#     and names every frame without it;
#   - reads the debug=1 text form (`go tool pprof BINARY heap.txt`) with the
#     same numbers as the proto;
#   - shows a leaking function's growth with -diff_base;
#   - reads the profile GCHEAPPROFILE writes at exit; and that a bad
#     GCPROFILERATE gives one line on stderr and the default.
# Missing `go` is a failure, not a skip (install golang-go: make deps).
set -u
src=${1:?usage: test_pprof.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_pprof.sh SOURCE_DIR BUILD_DIR}
bin=$build/tests/pprof
. "$(dirname "$0")/harness.sh"

if ! command -v go >/dev/null 2>&1; then
  bad "go not found: install Debian's golang-go (make deps does)"
  finish
fi
for p in pprof_sizes pprof_leak; do
  [ -x "$bin/$p" ] || { bad "$bin/$p not built"; finish; }
done

scratch test_pprof
export HOME=${HOME:-$tmp}
export PPROF_TMPDIR=$tmp/pprof-tmp PPROF_BINARY_PATH=$tmp/no-binaries
unset GCPROFILERATE GCHEAPPROFILE GCPERCENT

pp() { go tool pprof "$@" 2>>"$tmp/pprof.stderr"; }

# flat FUNCTION PPROF_ARGS...: the flat value of FUNCTION in -top (bytes
# with -unit=B, or a count), "missing" if it is not listed.
flat() {
  local fn=$1
  shift
  pp -top -nodefraction=0 -nodecount=1000 -unit=B "$@" | awk -v f="$fn" '
    $NF == f { v = $1; sub(/B$/, "", v); print v; found = 1; exit }
    END { if (!found) print "missing" }'
}

# close EXPECTED OBSERVED N SIZE RATE: is OBSERVED within the sampling error
# of a pprof estimate of N objects of SIZE bytes at RATE (3% floor)?
close() {
  awk -v e="$1" -v o="$2" -v n="$3" -v s="$4" -v r="$5" 'BEGIN {
    if (o == "missing") { printf "missing"; exit 1 }
    tol = 0.03
    if (r > 1) { p = 1 - exp(-s / r); t = 4.5 * sqrt((1 - p) / (n * p)); if (t > tol) tol = t }
    d = (o - e) / e; if (d < 0) d = -d
    printf "%.1f%% off, allowed %.1f%%", d * 100, tol * 100
    exit (d <= tol) ? 0 : 1 }'
}

# sizes DIR RATE: the checks on a pprof_sizes run whose output is DIR/out.
sizes() {
  local dir=$1 rate=$2 fn kind n size idx got why
  while read -r _ fn kind n size; do
    case $kind in inuse) idx=inuse_space ;; alloc) idx=alloc_space ;; esac
    got=$(flat "$fn" -sample_index=$idx "$dir/heap.pb.gz")
    if why=$(close $((n * size)) "$got" "$n" "$size" "$rate"); then
      ok "rate $rate: $fn $idx $got B, allocated $((n * size)) ($why)"
    else
      bad "rate $rate: $fn $idx $got B, allocated $((n * size)) ($why)"
    fi
    if [ "$kind" = alloc ]; then
      got=$(flat "$fn" -sample_index=alloc_objects "$dir/heap.pb.gz")
      if why=$(close "$n" "$got" "$n" "$size" "$rate"); then
        ok "rate $rate: $fn alloc_objects $got, allocated $n ($why)"
      else
        bad "rate $rate: $fn alloc_objects $got, allocated $n ($why)"
      fi
    fi
  done < <(grep '^expect ' "$dir/out")
  # A conservative collector may keep one or two of the last garbage objects
  # (a stale word in a frame that gc_collect's calls did not overwrite), and
  # at a sampling rate of 512 KiB one kept object that was sampled weighs
  # 512 KiB: allow two samples, against the ~400 MB dropped.
  got=$(flat garbage_mid -sample_index=inuse_space "$dir/heap.pb.gz")
  local allow=$((50000 * 512 / 100))
  [ $((2 * (rate + 512))) -gt "$allow" ] && allow=$((2 * (rate + 512)))
  if [ "$got" = missing ] || [ "$got" -lt "$allow" ]; then
    ok "rate $rate: garbage_mid is not in use after gc_collect ($got)"
  else
    bad "rate $rate: garbage_mid in use: $got B"
  fi
}

# ---- GCPROFILERATE=1: every allocation ------------------------------------
mkdir -p "$tmp/r1"
if GCPROFILERATE=1 "$bin/pprof_sizes" "$tmp/r1" 1 >"$tmp/r1/out" 2>"$tmp/r1/err"; then
  sizes "$tmp/r1" 1
else
  bad "pprof_sizes at rate 1 failed: $(cat "$tmp/r1/err")"
fi

t=$(pp -top "$tmp/r1/heap.pb.gz" | sed -n 's/^Type: //p')
[ "$t" = inuse_space ] && ok "heap profile opens on inuse_space" || bad "heap profile opens on '$t'"
t=$(pp -top "$tmp/r1/allocs.pb.gz" | sed -n 's/^Type: //p')
[ "$t" = alloc_space ] && ok "allocs profile opens on alloc_space" || bad "allocs profile opens on '$t'"
raw=$(pp -raw "$tmp/r1/heap.pb.gz")
if grep -q '^PeriodType: space bytes' <<<"$raw" && grep -q '^Period: 1$' <<<"$raw"; then
  ok "-raw: period type space/bytes, period 1"
else
  bad "-raw: $(head -5 <<<"$raw")"
fi

# -lines with the binary present.
if pp -top -lines -nodefraction=0 "$bin/pprof_sizes" "$tmp/r1/heap.pb.gz" |
    grep -Eq ' live_small [^ ]*pprof_sizes\.c:[0-9]+$'; then
  ok "-lines with the binary: live_small pprof_sizes.c:LINE"
else
  bad "-lines with the binary: no 'live_small .../pprof_sizes.c:N'"
fi

# The text form, read by pprof with the binary, has the proto's numbers.
for idx in inuse_space alloc_space alloc_objects; do
  want=$(flat live_small -sample_index=$idx "$tmp/r1/heap.pb.gz")
  got=$(flat live_small -sample_index=$idx "$bin/pprof_sizes" "$tmp/r1/heap.txt")
  if [ "$got" = "$want" ] && [ "$got" != missing ]; then
    ok "debug=1 text: live_small $idx $got, as in the proto"
  else
    bad "debug=1 text: live_small $idx $got, proto $want"
  fi
done
if head -1 "$tmp/r1/heap.txt" | grep -Eq '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/2$'; then
  ok "debug=1 text: header"
else
  bad "debug=1 text header: $(head -1 "$tmp/r1/heap.txt")"
fi

# ---- offline: the binary is gone ------------------------------------------
mkdir -p "$tmp/off/bin" "$tmp/off/out"
cp "$bin/pprof_sizes" "$tmp/off/bin/sizes_copy"
if GCPROFILERATE=1 "$tmp/off/bin/sizes_copy" "$tmp/off/out" 1 >/dev/null 2>"$tmp/off/err"; then
  rm -f "$tmp/off/bin/sizes_copy"
  top=$(pp -top -nodefraction=0 -nodecount=1000 "$tmp/off/out/heap.pb.gz")
  names=$(awk 'f { print $NF } /flat%/ { f = 1 }' <<<"$top")
  unnamed=$(grep -E '^(0x[0-9a-f]+|\[.*\])$' <<<"$names")
  if grep -qx live_small <<<"$names" && grep -qx main <<<"$names" && [ -z "$unnamed" ]; then
    ok "without the binary: every frame named ($(wc -l <<<"$names") functions)"
  else
    bad "without the binary: unnamed frames: ${unnamed:-none}; live_small/main listed: $(grep -cxE 'live_small|main' <<<"$names")"
  fi
  if pp -top -lines -nodefraction=0 "$tmp/off/out/heap.pb.gz" |
      grep -Eq ' live_small [^ ]*pprof_sizes\.c:[0-9]+$'; then
    ok "-lines without the binary: file:line from the profile"
  else
    bad "-lines without the binary: no 'live_small .../pprof_sizes.c:N'"
  fi
else
  bad "copied pprof_sizes failed: $(cat "$tmp/off/err")"
fi

# ---- the default rate, 512 KiB: within sampling error ----------------------
mkdir -p "$tmp/r512"
if "$bin/pprof_sizes" "$tmp/r512" 16 >"$tmp/r512/out" 2>"$tmp/r512/err"; then
  sizes "$tmp/r512" 524288
else
  bad "pprof_sizes at the default rate failed: $(cat "$tmp/r512/err")"
fi

# ---- -diff_base: a leak's growth -------------------------------------------
mkdir -p "$tmp/leak"
leak_rate=32768
if GCPROFILERATE=$leak_rate "$bin/pprof_leak" "$tmp/leak" 32 >"$tmp/leak/out" 2>"$tmp/leak/err"; then
  read -r _ fn _ n size < <(grep '^expect ' "$tmp/leak/out")
  got=$(flat "$fn" -sample_index=inuse_space -diff_base="$tmp/leak/before.pb.gz" "$tmp/leak/after.pb.gz")
  if why=$(close $((n * size)) "$got" "$n" "$size" $leak_rate); then
    ok "-diff_base: $fn grew by $got B, leaked $((n * size)) ($why)"
  else
    bad "-diff_base: $fn grew by $got B, leaked $((n * size)) ($why)"
  fi
  top=$(pp -top -sample_index=inuse_space -diff_base="$tmp/leak/before.pb.gz" "$tmp/leak/after.pb.gz")
  first=$(awk 'f { print $NF; exit } /flat%/ { f = 1 }' <<<"$top")
  [ "$first" = leak_entry ] && ok "-diff_base: leak_entry tops the growth" || bad "-diff_base: top is '$first'"
else
  bad "pprof_leak failed: $(cat "$tmp/leak/err")"
fi

# ---- GCHEAPPROFILE: a profile at exit --------------------------------------
mkdir -p "$tmp/exit"
if GCHEAPPROFILE=$tmp/exit/at-exit.pb.gz GCPROFILERATE=1 "$bin/pprof_sizes" "$tmp/exit" 1 \
    >/dev/null 2>"$tmp/exit/err" && [ -s "$tmp/exit/at-exit.pb.gz" ]; then
  got=$(flat live_small -sample_index=inuse_space "$tmp/exit/at-exit.pb.gz")
  [ "$got" = $((50000 * 64)) ] && ok "GCHEAPPROFILE: written at exit, live_small $got B" ||
    bad "GCHEAPPROFILE: live_small $got B"
else
  bad "GCHEAPPROFILE: no profile written ($(cat "$tmp/exit/err"))"
fi
GCHEAPPROFILE=/nonexistent-dir-tricolor/x.pb.gz "$bin/pprof_sizes" "$tmp/exit" 1 >/dev/null 2>"$tmp/exit/err2"
if [ "$(grep -c 'GCHEAPPROFILE' "$tmp/exit/err2")" = 1 ]; then
  ok "GCHEAPPROFILE: an unwritable path is one line on stderr"
else
  bad "GCHEAPPROFILE unwritable: stderr was: $(cat "$tmp/exit/err2")"
fi

# ---- a bad GCPROFILERATE: one line, then the default -----------------------
mkdir -p "$tmp/badrate"
GCPROFILERATE=lots "$bin/pprof_sizes" "$tmp/badrate" 1 >/dev/null 2>"$tmp/badrate/err"
lines=$(wc -l <"$tmp/badrate/err")
period=$(pp -raw "$tmp/badrate/heap.pb.gz" | sed -n 's/^Period: //p')
if [ "$lines" = 1 ] && grep -q 'GCPROFILERATE' "$tmp/badrate/err" && [ "$period" = 524288 ]; then
  ok "GCPROFILERATE=lots: one warning, period 524288"
else
  bad "GCPROFILERATE=lots: $lines stderr lines ($(cat "$tmp/badrate/err")), period $period"
fi

finish
