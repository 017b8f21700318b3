# machine.sh - sourced by the bench scripts: describe_machine BUILD_DIR prints
# what the machine is and what concurrent mode's page tracking costs on it,
# so that ratios from different machines are not read as one series.
#
#   machine: 2 CPUs, AMD EPYC, kernel 6.18.44-fc-v769, hypervisor PVM
#   page tracking (bench/protect_cost 8): write fault 13.3 us, ...
#
# The write fault is what the program pays for the first write to a page
# protected for a mark: 0.7-1 us on one machine of this kind, ~13 us on a
# PVM guest, where GCBench in concurrent mode ran 1.6x stw mode against
# ~1.1x (docs/performance.md, "A machine where page faults are dear").
describe_machine() {
  local build=$1 hv
  hv=$(dmesg 2>/dev/null | sed -n 's/.*Hypervisor detected: //p' | head -1)
  [ -z "$hv" ] && grep -qw hypervisor /proc/cpuinfo && hv="yes (kind unknown)"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r), hypervisor ${hv:-none}"
  if [ -x "$build/bench/protect_cost" ]; then
    # Columns of the first table: MiB round wp_on wp_again scan_clean fault
    # scan_written wp_off (ns per page); round 2 of 8 MiB.
    "$build/bench/protect_cost" 8 2>/dev/null | awk '
      $1 == 8 && $2 == 2 { printf "page tracking (bench/protect_cost 8): write fault %.1f us, protect %d ns, lift %d ns, re-protect %d ns per written page\n", $6 / 1000, $3, $8, $7; found = 1 }
      END { if (!found) print "page tracking: not measured (no asynchronous userfaultfd write-protect here)" }'
  fi
}
