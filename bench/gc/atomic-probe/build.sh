#!/bin/sh
# bench/gc/atomic-probe/build.sh [DIR]: a diagnostic build of Debian's
# LuaJIT (luajit2 2.1-20230119, the version bookworm ships) whose atomic GC
# phase prints, on stderr, every one over 2 ms: the time of each step
# (open upvalues, roots, the gray-again list, userdata separation, weak
# tables), what it traversed (tables, coroutines and their slots, the
# largest; for a table of 8 192 slots or more, whether it is the registry
# and what its array holds) and the userdata it walked by size.
#
# It is what found the crawl's 20 ms slices at concurrency 10 000 to be
# lj_gc_separateudata walking node handles (bench/results/gc-crawl-20261207-udata.md).
# Run silk on it with
#   LD_LIBRARY_PATH=DIR LUA_CPATH='/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;' \
#     GC_STDERR=/tmp/atomic.log sh bench/gc/crawl.sh build 20000 10000
#   grep 'ATOMIC [0-9]' /tmp/atomic.log | sort -k2 -rn | head
# (LUA_CPATH: this build's default module path is not Debian's.)
# Fetches the source from Debian's archive (deb.debian.org); needs make, cc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-/tmp/silk-luajit-probe}" && cd "${1:-/tmp/silk-luajit-probe}" && pwd)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
curl -sSf -o "$src/lj.tar.xz" http://deb.debian.org/debian/pool/main/l/luajit2/luajit2_2.1-20230119.orig.tar.xz
tar -xJf "$src/lj.tar.xz" -C "$src"
cd "$src/luajit2-2.1-20230119"
patch -p1 < "$here/lj_gc-atomic.patch"
make -j2 amalg CCDEBUG=-g >/dev/null
cp src/libluajit.so "$out/libluajit-5.1.so.2"
echo "$out/libluajit-5.1.so.2"
