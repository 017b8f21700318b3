#!/usr/bin/env bash
# fastpath.sh BUILD_DIR - instructions per allocation on a warm cache, counted
# by callgrind (deterministic, unlike wall time on a shared machine).
#
# For every built fastpath_<allocator> and each of: zeroed/scanned objects,
# noscan objects, and (for the explicit allocators) alloc+free pairs, runs
#   valgrind --tool=callgrind --toggle-collect=fastpath_loop fastpath_<a> ...
# and prints callgrind's collected Ir divided by the number of allocations
# ("Ir/alloc", what docs/performance.md reports), the part of it spent in
# fastpath.c's own loop ("loop": the call, the store to a volatile sink, the
# counter), and the difference ("net": the allocator's share, including the
# harness's inlined NULL check and, for malloc, the memset call).
#   FASTPATH_COUNT=N  allocations counted (default 10000000)
#   FASTPATH_SIZE=N   object size in bytes (default 32)
set -u
BUILD=${1:-}
if [ -z "$BUILD" ] || [ ! -d "$BUILD/bench" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)" >&2; exit 2; }
COUNT=${FASTPATH_COUNT:-10000000}
SIZE=${FASTPATH_SIZE:-32}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/fastpath.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

printf '%-9s %-12s %14s %9s %6s %6s\n' allocator mode "Ir total" "Ir/alloc" loop net
for a in tricolor boehm malloc mimalloc; do
  exe=$BUILD/bench/fastpath_$a
  [ -x "$exe" ] || { printf '%-9s (not built)\n' "$a"; continue; }
  modes="scan noscan"
  case $a in malloc | mimalloc) modes="$modes scan+free noscan+free" ;; esac
  for m in $modes; do
    args="--count $COUNT --size $SIZE --kind ${m%+free}"
    [ "$m" != "${m%+free}" ] && args="$args --pairs"
    # shellcheck disable=SC2086
    if ! valgrind --tool=callgrind --toggle-collect=fastpath_loop \
        --callgrind-out-file="$OUT/cg.out" "$exe" $args >"$OUT/stdout" 2>"$OUT/stderr"; then
      printf '%-9s %-12s %14s\n' "$a" "$m" "FAILED ($(tail -c 200 "$OUT/stderr" | tr '\n' ' '))"
      continue
    fi
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/stderr" | tail -1)
    loop=$(callgrind_annotate "$OUT/cg.out" 2>/dev/null |
      awk '/fastpath\.c:fastpath_loop/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
    awk -v a="$a" -v m="$m" -v ir="$ir" -v loop="$loop" -v n="$COUNT" \
      'BEGIN { printf "%-9s %-12s %14d %9.1f %6.1f %6.1f\n", a, m, ir, ir / n, loop / n, (ir - loop) / n }'
  done
done
