#!/usr/bin/env bash
# test_install.sh SOURCE_DIR BUILD_DIR - the installed package works the way
# a user would use it.
#
# Installs BUILD_DIR into a temporary prefix, then:
#   files       the header, both libraries, the CMake package and the .pc file
#               are there, and none of them points back into the source or
#               build tree; tricolor.pc's prefix is the install prefix;
#   cmake       SOURCE_DIR/examples configured as a standalone project with
#               find_package(tricolor) against that prefix; hello runs (rpath),
#               and so does a small showcase;
#   pkg-config  hello.c compiled with `pkg-config --cflags --libs tricolor`
#               (-Wall -Wextra -Werror) runs with LD_LIBRARY_PATH;
#   static      hello linked against libtricolor.a, once through
#               `pkg-config --static` and once through tricolor::tricolor_static,
#               runs and does not need libtricolor.so.
# Prints "N passed, M failed"; exits non-zero on any failure.
# shellcheck disable=SC2317 # the step_* functions run through check()
set -u
src=$(cd "${1:?usage: test_install.sh SOURCE_DIR BUILD_DIR}" && pwd) || exit 1
build=$(cd "${2:?usage: test_install.sh SOURCE_DIR BUILD_DIR}" && pwd) || exit 1
CC=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tricolor-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
passed=0
failed=0

# check NAME COMMAND...: run a step, keep its output, show it on failure.
check() {
  local name=$1 log=$tmp/$1.log
  shift
  if "$@" >"$log" 2>&1; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    tail -n 40 "$log" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# Fails (with a message) unless ELF file $1 needs no libtricolor.so.
no_shared_tricolor() {
  if readelf -d "$1" | grep -q 'NEEDED.*libtricolor'; then
    echo "$1 needs libtricolor.so, but should contain the static library:"
    readelf -d "$1" | grep NEEDED
    return 1
  fi
}

step_install() {
  cmake --install "$build" --prefix "$prefix"
}
check install step_install
[ "$failed" -eq 0 ] || finish

pc=$(find "$prefix" -name tricolor.pc -path '*/pkgconfig/*' | head -n 1)
libdir=$(dirname "$(dirname "${pc:-$prefix/lib/pkgconfig/tricolor.pc}")")
export PKG_CONFIG_PATH=$libdir/pkgconfig
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

step_files() {
  local ok=0 f
  for f in "$prefix/include/tricolor.h" "$libdir/libtricolor.so" "$libdir/libtricolor.a" \
           "$libdir/cmake/tricolor/tricolorConfig.cmake" \
           "$libdir/cmake/tricolor/tricolorConfigVersion.cmake" \
           "$libdir/cmake/tricolor/tricolorTargets.cmake" "$libdir/pkgconfig/tricolor.pc"; do
    [ -e "$f" ] || { echo "missing: ${f#"$prefix"/}"; ok=1; }
  done
  # An installed package must not point back into the trees it came from.
  if grep -rIl -e "$src" -e "$build" "$prefix" >"$tmp/leaks" 2>/dev/null; then
    echo "installed files that name the source or build tree:"
    while read -r f; do
      echo "  ${f#"$prefix"/}:"
      grep -n -e "$src" -e "$build" "$f" | head -n 5 | sed 's/^/    /'
    done <"$tmp/leaks"
    ok=1
  fi
  local got
  got=$(pkg-config --variable=prefix tricolor 2>&1)
  if [ "$(realpath -m "$got")" != "$(realpath -m "$prefix")" ]; then
    echo "tricolor.pc says prefix=$got, but it was installed in $prefix"
    ok=1
  fi
  return "$ok"
}
check files step_files

step_cmake() {
  cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$tmp/ex" -j 2 || return 1
  local found
  found=$(sed -n 's/^tricolor_DIR:[A-Z]*=//p' "$tmp/ex/CMakeCache.txt")
  if [ "$(realpath -m "$found")" != "$(realpath -m "$libdir/cmake/tricolor")" ]; then
    echo "find_package(tricolor) found $found, not the installed package"
    return 1
  fi
  # No LD_LIBRARY_PATH: the build tree's rpath must find the installed library.
  ldd "$tmp/ex/hello" | grep libtricolor
  ldd "$tmp/ex/hello" | grep -q "$libdir/libtricolor" ||
    { echo "hello does not load libtricolor from $libdir"; return 1; }
  "$tmp/ex/hello"
}
check cmake-hello step_cmake

step_cmake_showcase() {
  [ -x "$tmp/ex/showcase" ] || { echo "showcase was not built"; return 1; }
  "$tmp/ex/showcase" 0.05
}
check cmake-showcase step_cmake_showcase

step_pkgconfig() {
  local flags
  flags=$(pkg-config --cflags --libs tricolor) || return 1
  echo "pkg-config --cflags --libs tricolor: $flags"
  # shellcheck disable=SC2086 # the flags are meant to be split
  $CC -std=gnu11 -Wall -Wextra -Werror -o "$tmp/hello-pc" "$src/examples/hello.c" $flags &&
    LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$tmp/hello-pc"
}
check pkg-config step_pkgconfig

step_pkgconfig_static() {
  local flags
  flags=$(pkg-config --static --cflags --libs tricolor) || return 1
  echo "pkg-config --static --cflags --libs tricolor: $flags"
  # -ltricolor would pick libtricolor.so; name the archive instead.
  flags=$(printf '%s\n' "$flags" | sed 's/\(^\| \)-ltricolor\( \|$\)/\1-l:libtricolor.a\2/')
  # shellcheck disable=SC2086
  $CC -std=gnu11 -Wall -Wextra -Werror -o "$tmp/hello-static-pc" "$src/examples/hello.c" $flags &&
    no_shared_tricolor "$tmp/hello-static-pc" &&
    env -u LD_LIBRARY_PATH "$tmp/hello-static-pc"
}
check pkg-config-static step_pkgconfig_static

step_cmake_static() {
  mkdir -p "$tmp/static-src"
  cat >"$tmp/static-src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(tricolor_static_check LANGUAGES C)
find_package(tricolor REQUIRED)
add_executable(hello_static "$src/examples/hello.c")
target_link_libraries(hello_static PRIVATE tricolor::tricolor_static)
EOF
  cmake -S "$tmp/static-src" -B "$tmp/static-build" -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$tmp/static-build" &&
    no_shared_tricolor "$tmp/static-build/hello_static" &&
    env -u LD_LIBRARY_PATH "$tmp/static-build/hello_static"
}
check cmake-static step_cmake_static

finish
