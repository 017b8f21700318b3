#!/usr/bin/env bash
# test_env.sh SOURCE_DIR BUILD_DIR - environment variables through the bdwgc
# shim, on probe_env (BUILD_DIR/tests/bdwgc), which allocates 64 MiB of
# garbage and prints "gc_no N heap H".
#   GCTRACE=1 and bdwgc's GC_PRINT_STATS print gctrace lines
#   GC_DONT_GC: no cycle at all
#   GC_MARKERS=1: the trace shows 1 P; GCPROCS wins over it
#   GC_FREE_SPACE_DIVISOR=10: more cycles than the default (GCPERCENT=10)
#   GC_MAXIMUM_HEAP_SIZE=8M: a live 16 MiB list fails (OOM)
#   a malformed value: one line naming it, run goes on
#   GCMODE=barrier: the notice that the shim marks concurrently instead
#   GCHEAPPROFILE: a profile `go tool pprof -top` reads
set -u
build=${2:?usage: test_env.sh SOURCE_DIR BUILD_DIR}
probe=$build/tests/bdwgc/probe_env
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bdw_env.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset GCTRACE GC_PRINT_STATS GCPERCENT GCPROCS GC_MARKERS GC_DONT_GC GCHEAPPROFILE
gcno() { sed -n 's/^gc_no \([0-9]*\).*/\1/p' "$1"; }

env GCTRACE=1 "$probe" >"$tmp/o" 2>"$tmp/e"
n=$(grep -cE '^gc [0-9]+ @[0-9.]+s [0-9]+%: ' "$tmp/e")
[ "$n" -ge 3 ] && ok "GCTRACE=1: $n gctrace lines" || bad "GCTRACE=1: $n gctrace lines"
base=$(gcno "$tmp/o")

env GC_PRINT_STATS=1 "$probe" >"$tmp/o" 2>"$tmp/e"
n=$(grep -cE '^gc [0-9]+ @' "$tmp/e")
[ "$n" -ge 3 ] && ok "GC_PRINT_STATS: $n gctrace lines" || bad "GC_PRINT_STATS: $n lines"

env GC_DONT_GC=1 "$probe" >"$tmp/o" 2>"$tmp/e"
[ "$(gcno "$tmp/o")" = 0 ] && ok "GC_DONT_GC: no cycle" || bad "GC_DONT_GC: $(cat "$tmp/o")"

env GCTRACE=1 GC_MARKERS=1 "$probe" >"$tmp/o" 2>"$tmp/e"
grep -qE '^gc .* 1 P' "$tmp/e" && ! grep -qE '^gc .* [02-9] P' "$tmp/e" \
  && ok "GC_MARKERS=1: 1 P" || bad "GC_MARKERS=1: $(grep -m1 '^gc ' "$tmp/e")"
env GCTRACE=1 GC_MARKERS=1 GCPROCS=2 "$probe" >"$tmp/o" 2>"$tmp/e"
grep -qE '^gc .* 2 P' "$tmp/e" && ok "GCPROCS wins over GC_MARKERS" || bad "GCPROCS vs GC_MARKERS"

env GC_FREE_SPACE_DIVISOR=10 "$probe" >"$tmp/o" 2>"$tmp/e"
d=$(gcno "$tmp/o")
[ "$d" -gt "$base" ] && ok "GC_FREE_SPACE_DIVISOR=10: $d cycles > $base" \
  || bad "GC_FREE_SPACE_DIVISOR=10: $d cycles, default $base"
env GC_FREE_SPACE_DIVISOR=10 GCPERCENT=100 "$probe" >"$tmp/o" 2>"$tmp/e"
d=$(gcno "$tmp/o")
[ "$d" -lt $((base * 2 + 2)) ] && ok "GCPERCENT wins over GC_FREE_SPACE_DIVISOR ($d)" \
  || bad "GCPERCENT vs GC_FREE_SPACE_DIVISOR: $d cycles"

env GC_MAXIMUM_HEAP_SIZE=8M "$probe" keep >"$tmp/o" 2>"$tmp/e"
grep -q '^oom' "$tmp/o" && grep -q 'GC Warning: Out of Memory' "$tmp/e" \
  && ok "GC_MAXIMUM_HEAP_SIZE=8M: allocation failed, warning printed" \
  || bad "GC_MAXIMUM_HEAP_SIZE: $(cat "$tmp/o" "$tmp/e")"
env "$probe" keep >"$tmp/o" 2>"$tmp/e"
grep -q '^oom' "$tmp/o" && bad "without a cap the list fails" || ok "no cap: the list fits"

env GC_FREE_SPACE_DIVISOR=x "$probe" >"$tmp/o" 2>"$tmp/e"
[ "$(grep -c GC_FREE_SPACE_DIVISOR "$tmp/e")" = 1 ] && grep -q '^gc_no' "$tmp/o" \
  && ok "malformed value: one line" || bad "malformed value: $(cat "$tmp/e")"

env GCMODE=barrier GCTRACE=1 "$probe" >"$tmp/o" 2>"$tmp/e"
[ "$(grep -c 'GCMODE=barrier needs every heap pointer store' "$tmp/e")" = 1 ] \
  && ok "GCMODE=barrier: notice, once" || bad "GCMODE=barrier: $(head -3 "$tmp/e")"
env GCMODE=barrier "$probe" >"$tmp/o" 2>"$tmp/e"
[ ! -s "$tmp/e" ] && ok "GCMODE=barrier without GCTRACE: silent" || bad "barrier: $(cat "$tmp/e")"

env GCHEAPPROFILE="$tmp/heap.pb.gz" GCPROFILERATE=4096 "$probe" >"$tmp/o" 2>"$tmp/e"
if command -v go >/dev/null; then
  HOME=${HOME:-$tmp} PPROF_TMPDIR=$tmp go tool pprof -top -sample_index=alloc_space "$tmp/heap.pb.gz" >"$tmp/top" 2>&1 \
    && grep -q " make_garbage$" "$tmp/top" && ok "GCHEAPPROFILE: pprof -top reads it" \
    || bad "GCHEAPPROFILE: $(head -5 "$tmp/top")"
else
  bad "go not found (install golang-go)"
fi
exit $fail
