#!/usr/bin/env bash
# test_exports.sh SOURCE_DIR BUILD_DIR - libgc.so.1 (the bdwgc shim) exports
# only GC_* names (no gc_*, tc_* or other symbol of tricolor), has SONAME
# libgc.so.1, and defines every GC_* symbol that the shim's test programs and
# the Debian binaries of test_debian.sh import.
set -u
build=${2:?usage: test_exports.sh SOURCE_DIR BUILD_DIR}
lib=$build/lib/tricolor-bdwgc/libgc.so.1
fail=0
bad() { echo "FAIL $*"; fail=1; }
[ -f "$lib" ] || { echo "FAIL $lib not built"; exit 1; }
defined=$(nm -D --defined-only "$lib" | awk '{print $3}')
others=$(echo "$defined" | grep -v '^GC_' || true)
[ -z "$others" ] && echo "ok   only GC_* exported ($(echo "$defined" | wc -l) symbols)" \
  || bad "exports other than GC_*: $others"
readelf -d "$lib" | grep -q 'SONAME.*\[libgc.so.1\]' && echo "ok   SONAME libgc.so.1" \
  || bad "SONAME is not libgc.so.1"
for bin in "$build"/tests/bdwgc/bdw_* "$build"/tests/bdwgc/probe_env $(command -v mmv chase debfoster); do
  [ -x "$bin" ] || continue
  for s in $(nm -D --undefined-only "$bin" | awk '$2 ~ /^GC_/ {print $2}'); do
    echo "$defined" | grep -qx "$s" || bad "$(basename "$bin") imports $s, not exported"
  done
  echo "ok   $(basename "$bin"): every GC_* import is defined"
done
exit $fail
