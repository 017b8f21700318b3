#!/usr/bin/env bash
# test_sizeclasses_generated.sh SOURCE_DIR BUILD_DIR
# The checked-in gc/sizeclasses.h must be exactly what the generator prints;
# after changing gc/mksizeclasses.c, regenerate with
# `cmake --build BUILD_DIR --target sizeclasses`.
set -u
src=${1:?usage: $0 SOURCE_DIR BUILD_DIR}
build=${2:?usage: $0 SOURCE_DIR BUILD_DIR}

gen="$build/mksizeclasses"
if [ ! -x "$gen" ]; then
  echo "missing generator $gen (build the mksizeclasses target)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$gen" >"$out"; then
  echo "$gen failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if ! diff -u "$src/gc/sizeclasses.h" "$out" >&2; then
  echo "gc/sizeclasses.h differs from the output of mksizeclasses; regenerate it" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
