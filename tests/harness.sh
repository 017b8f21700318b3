# harness.sh - sourced by the shell tests: ok/bad count checks, finish
# prints "N passed, M failed" and exits non-zero on any failure.
pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}
