#!/usr/bin/env bash
# test_debian.sh SOURCE_DIR BUILD_DIR - unmodified Debian binaries linked
# against libgc.so.1 run on tricolor through the shim (LD_LIBRARY_PATH with
# BUILD_DIR/lib/tricolor-bdwgc first) and must produce exactly what they
# produce on the real /usr/lib/x86_64-linux-gnu/libgc.so.1:
#   mmv        renames a directory of 10,000 files by pattern (output and
#              the resulting directory listing compared)
#   chase      resolves 2,000 symlink chains 25 links long (-f, names on stdin)
#   debfoster  read-only queries with no keeper file (-n): orphans,
#              dependencies and dependents of a few packages
# Cycles are forced with GCPERCENT=5 and must show up as gctrace lines
# (GCTRACE=1); one run per binary writes GCHEAPPROFILE, which
# `go tool pprof -top` must read. The GCMODE of the environment applies.
set -u
build=${2:?usage: test_debian.sh SOURCE_DIR BUILD_DIR}
shim=$build/lib/tricolor-bdwgc
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
for b in mmv chase debfoster; do
  command -v $b >/dev/null || { bad "$b not installed (apt-get install mmv chase debfoster)"; exit 1; }
done
[ -f "$shim/libgc.so.1" ] || { bad "$shim/libgc.so.1 not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bdw_debian.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=${HOME:-$tmp} PPROF_TMPDIR=$tmp/pprof PPROF_BINARY_PATH=$tmp/none
unset GCHEAPPROFILE GCTRACE GC_PRINT_STATS GCPERCENT

# on_shim NAME CMD...: runs CMD on the shim with cycles forced, stdout to
# $tmp/NAME.shim.out, stderr (gctrace lines removed) to NAME.shim.err, the
# gctrace lines to NAME.trace.
on_shim() {
  local name=$1
  shift
  LD_LIBRARY_PATH=$shim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} GCPERCENT=5 GCTRACE=1 \
    GCPROFILERATE=4096 GCHEAPPROFILE=$tmp/$name.pb.gz "$@" >"$tmp/$name.shim.out" 2>"$tmp/$name.raw"
  echo $? >"$tmp/$name.shim.rc"
  grep -E '^gc [0-9]+ @[0-9.]+s [0-9]+%: ' "$tmp/$name.raw" >"$tmp/$name.trace"
  grep -vE '^gc [0-9]+ @[0-9.]+s [0-9]+%: |^tricolor: bdwgc shim: GCMODE=barrier' \
    "$tmp/$name.raw" >"$tmp/$name.shim.err"
}
on_real() {
  local name=$1
  shift
  "$@" >"$tmp/$name.real.out" 2>"$tmp/$name.real.err"
  echo $? >"$tmp/$name.real.rc"
}
# compare NAME MIN_CYCLES WHAT
compare() {
  local name=$1 min=$2 what=$3 n
  if cmp -s "$tmp/$name.real.out" "$tmp/$name.shim.out" &&
     cmp -s "$tmp/$name.real.err" "$tmp/$name.shim.err" &&
     cmp -s "$tmp/$name.real.rc" "$tmp/$name.shim.rc"; then
    ok "$name: same output as on the real libgc ($what; $(wc -l <"$tmp/$name.real.out") lines, exit $(cat "$tmp/$name.real.rc"))"
  else
    bad "$name: output differs from the real libgc"
    diff "$tmp/$name.real.out" "$tmp/$name.shim.out" | head -5
    diff "$tmp/$name.real.err" "$tmp/$name.shim.err" | head -5
  fi
  n=$(wc -l <"$tmp/$name.trace")
  [ "$n" -ge "$min" ] && ok "$name: $n tricolor cycles in the gctrace" \
    || bad "$name: $n gctrace lines, expected at least $min"
  if go tool pprof -top -sample_index=alloc_space "$tmp/$name.pb.gz" >"$tmp/$name.top" 2>&1 &&
     grep -q '^ *[0-9.]*[kMG]*B ' "$tmp/$name.top"; then
    ok "$name: GCHEAPPROFILE read by go tool pprof -top"
  else
    bad "$name: pprof -top: $(head -3 "$tmp/$name.top")"
  fi
}

# ---- mmv: 10,000 files renamed by pattern --------------------------------
for side in real shim; do
  mkdir -p "$tmp/mmv.$side"
  (cd "$tmp/mmv.$side" && perl -e 'for (1..10000) { open(F, ">", sprintf("file%05d.txt", $_)) or die } for (1..50) { open(F, ">", sprintf("keep%05d.dat", $_)) or die }')
done
(cd "$tmp/mmv.real" && on_real mmv mmv -v '*.txt' 'renamed-#1.text')
(cd "$tmp/mmv.shim" && on_shim mmv mmv -v '*.txt' 'renamed-#1.text')
ls "$tmp/mmv.real" >"$tmp/mmv.real.ls"
ls "$tmp/mmv.shim" >"$tmp/mmv.shim.ls"
if cmp -s "$tmp/mmv.real.ls" "$tmp/mmv.shim.ls" && [ "$(grep -c '^renamed-file' "$tmp/mmv.shim.ls")" = 10000 ]; then
  ok "mmv: same 10050 names after renaming on both"
else
  bad "mmv: directories differ after renaming"
fi
compare mmv 2 "10,000 renames"

# ---- chase: long symlink chains ------------------------------------------
mkdir -p "$tmp/links"
(
  cd "$tmp/links"
  perl -e 'my $d = shift; for my $c (1..2000) {
      open(F, ">", "t$c") or die; print F "$c\n"; close F;
      my $prev = "t$c";
      for my $l (1..25) { symlink($prev, "c$c.$l") or die; $prev = "c$c.$l" }
      print "$d/$prev\n" }' "$tmp/links" >"$tmp/chase.names"
  ln -s loop1 loop2 && ln -s loop2 loop1 && echo "$tmp/links/loop1" >>"$tmp/chase.names"
)
on_real chase chase -f "$tmp/chase.names"
on_shim chase chase -f "$tmp/chase.names"
compare chase 2 "2,000 chains of 25 links and a loop"

# ---- debfoster: read-only queries ----------------------------------------
debq() {
  debfoster -n -k "$tmp/keepers" -s
  for p in libc6 coreutils dpkg apt perl-base; do
    debfoster -n -k "$tmp/keepers" -d "$p"
    debfoster -n -k "$tmp/keepers" -e "$p"
  done
}
export -f debq
export tmp
on_real debfoster bash -c debq
on_shim debfoster bash -c debq
compare debfoster 1 "orphans, depends and dependents of 5 packages"
[ ! -e "$tmp/keepers" ] && ok "debfoster: no keeper file written" || bad "debfoster wrote $tmp/keepers"
exit $fail
