#!/usr/bin/env bash
# test_exports.sh SOURCE_DIR BUILD_DIR - libtricolor.so exports the public API
# and nothing else.
#
# Every symbol in the dynamic symbol table that the library defines must start
# with gc_ (the library is built with -fvisibility=hidden; only GC_API
# functions are default visibility), and every function include/tricolor.h
# declares must be among them (or programs using it would not link).
#
# Linker-defined symbols (_init, _fini, _edata, _end, __bss_start, and the
# __start_/__stop_ bounds of named sections) are not whitelisted. ld >= 2.35
# keeps _init/_fini local and _edata/_end/__bss_start out of .dynsym, unless
# something in the link refers to them. In that case they are really exported
# and count as offenders, listed with the objects and libraries involved.
# The exception is a symbol that sits in .dynsym with STV_HIDDEN or
# STV_INTERNAL visibility. GNU ld (bfd, since 2.30) leaves __start_SEC and
# __stop_SEC there even when every reference is hidden; gold, lld and a
# version script drop them. The dynamic linker never binds such a symbol
# (dlsym returns NULL), so it is not exported. It is reported as a note, not
# counted as a failure.
set -u
src=${1:?usage: test_exports.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_exports.sh SOURCE_DIR BUILD_DIR}
lib=$build/libtricolor.so

fail() {
  echo "FAIL exports: $*"
  echo "0 passed, 1 failed"
  exit 1
}

[ -e "$lib" ] || fail "$lib not found (build the library first)"
command -v nm >/dev/null || fail "nm not found (binutils)"

# "ADDRESS TYPE NAME[@VERSION]" -> "NAME TYPE"
exported=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3, $2 }' | sort -u)
[ -n "$exported" ] || fail "nm -D found no defined symbols in $lib"

problems=0
others=$(printf '%s\n' "$exported" | awk '$1 !~ /^gc_/')
# Visibility of each defined .dynsym entry: "NAME VIS".
vis=$(readelf -W --dyn-syms "$lib" | awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" { n = $8; sub(/@.*/, "", n); print n, $6 }')
offenders=""
hidden=""
while read -r name type; do
  [ -n "$name" ] || continue
  v=$(printf '%s\n' "$vis" | awk -v s="$name" '$1 == s { print $2; exit }')
  case $v in
    HIDDEN|INTERNAL) hidden="$hidden $name" ;;
    *) offenders="$offenders$name $type"$'\n' ;;
  esac
done <<<"$others"
offenders=${offenders%$'\n'}
if [ -n "$hidden" ]; then
  echo "note: in .dynsym but STV_HIDDEN, so not exported (the dynamic linker never binds them):$hidden"
fi
if [ -n "$offenders" ]; then
  echo "symbols exported from $lib that do not start with gc_:"
  objs=$(find "$build/CMakeFiles" -path '*tricolor_objects.dir*' -name '*.o' 2>/dev/null)
  deps=$(ldd "$lib" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  while read -r name type; do
    where=""
    for o in $objs; do
      t=$(nm "$o" 2>/dev/null | awk -v s="$name" '$NF == s { print ($1 == "U" ? "uses" : "defines"); exit }')
      [ -n "$t" ] && where="$where ${o##*/} $t it;"
    done
    for d in $deps; do
      t=$(nm -D "$d" 2>/dev/null | awk -v s="$name" '{ n = $NF; sub(/@.*/, "", n) } n == s { print ($1 == "U" ? "uses" : "exports"); exit }')
      [ -n "$t" ] && where="$where ${d##*/} $t it;"
    done
    case $name in
      _init|_fini|_edata|_end|__bss_start|__data_start|_etext|etext|edata|end)
        hint=" (linker-defined: exported because something in the link refers to it)" ;;
      *) hint="" ;;
    esac
    echo "  $type $name$hint${where:+ -$where}"
  done <<<"$offenders"
  problems=1
fi

# Functions the public header declares: every GC_API line names one.
declared=$(grep -E '^[[:space:]]*GC_API' "$src/include/tricolor.h" |
  grep -oE '\bgc_[A-Za-z0-9_]+[[:space:]]*\(' | tr -d '( ' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported" | awk '{ print $1 }' | sort -u))
if [ -n "$missing" ]; then
  echo "functions declared in include/tricolor.h but not exported by $lib:"
  printf '%s\n' "$missing" | sed 's/^/  /'
  problems=1
fi

if [ $problems -ne 0 ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
echo "ok   exports: $(printf '%s\n' "$exported" | awk '$1 ~ /^gc_/' | wc -l) gc_* symbols and nothing else, covering the $(printf '%s\n' "$declared" | wc -l) functions of tricolor.h"
echo "1 passed, 0 failed"
