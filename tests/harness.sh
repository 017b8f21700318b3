# harness.sh - sourced by the shell tests: ok/bad count checks, finish
# prints "N passed, M failed" and exits non-zero on any failure; scratch NAME
# makes a temporary directory $tmp, removed when the script exits.
pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}
scratch() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
  trap 'rm -rf "$tmp"' EXIT
}
