#!/bin/sh
# The installed silk, twice: `cmake --install BUILD --prefix TMP` and the
# .deb `cpack -G DEB` makes, unpacked with `dpkg -x` (no root, no chroot).
# Each installed binary, run from another directory, must use the Lua
# modules installed beside it (not the source tree's), show its man page
# and crawl the demo bookshop served by nginx, extracting every book
# exactly once. The .deb must be named silk_VERSION_amd64.deb and depend
# on the Debian packages of the libraries and Lua modules silk loads.
# Usage: sh tests/it/package.sh path/to/silk   (its directory is the build tree)
set -eu
SILK=${1:?usage: package.sh path/to/silk}
BUILD=$(cd "$(dirname "$SILK")" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps nginx python3; do
    command -v "$tool" >/dev/null || { echo "package.sh: $tool is required (scripts/install-deps installs it)"; exit 1; }
done

T=$(mktemp -d /tmp/silk-package.XXXXXX)
cleanup() {
    "$SRC/tests/lib/nginx.sh" stop "$T/nginx" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "package.sh: FAIL: $*"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$SRC/demo/gen.py" "$T/site" --base-url "http://127.0.0.1:$port" --books 40 >/dev/null
NGINX_TTL=300 "$SRC/tests/lib/nginx.sh" start "$T/nginx" "$T/site" "$port" >/dev/null

# check_install NAME BIN LUA_DIR: BIN finds LUA_DIR and crawls the shop
check_install() {
    name=$1 bin=$2 lua_dir=$3
    dir="$T/run-$name"
    mkdir "$dir"
    cp "$SRC/spiders/bookshop.lua" "$dir/"
    printf 'io.write(require("silk.core.engine").lua_dir())\n' > "$dir/where.lua"
    got=$(cd "$dir" && env -u SILK_LUA_DIR "$bin" eval where.lua) || fail "$name: silk eval failed"
    [ "$got" = "$(cd "$lua_dir" && pwd -P)" ] || fail "$name: Lua modules from $got, not $lua_dir"
    (cd "$dir" && env -u SILK_LUA_DIR BOOKSHOP_URL="http://127.0.0.1:$port/" \
        "$bin" run bookshop.lua -o books.jsonl --quiet 2> crawl.log) || { cat "$dir/crawl.log"; fail "$name: the crawl failed"; }
    python3 - "$T/site.truth.jsonl" "$dir/books.jsonl" <<'PY' || fail "$name: the crawl does not match the site"
import json, sys
truth = {json.loads(l)["url"]: json.loads(l) for l in open(sys.argv[1])}
got = [json.loads(l) for l in open(sys.argv[2])]
urls = [g["url"] for g in got]
ok = sorted(urls) == sorted(truth) and all(g == truth[g["url"]] for g in got)
if not ok:
    print("%d books extracted, %d on the site" % (len(set(urls)), len(truth)))
sys.exit(0 if ok else 1)
PY
    echo "package.sh: $name: every book extracted by $bin"
}

# 1. cmake --install with a prefix of its own
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
[ -f "$T/prefix/share/man/man1/silk.1" ] || fail "prefix: no man page in share/man/man1"
grep -q '^\.SH ENGINE OPTIONS' "$T/prefix/share/man/man1/silk.1" || fail "prefix: the man page has no engine options"
check_install prefix "$T/prefix/bin/silk" "$T/prefix/share/silk/lua"

# 2. the .deb
version=$("$SILK" version | sed -n '1s/^silk //p')
(cd "$BUILD" && cpack -G DEB -B "$T/pkg" >/dev/null) || fail "cpack -G DEB failed"
deb="$T/pkg/silk_${version}_amd64.deb"
[ -f "$deb" ] || fail "no $deb: $(ls "$T/pkg")"
depends=$(dpkg-deb -f "$deb" Depends)
for pkg in libc6 libcurl4 libev4 libsqlite3-0 libhiredis0.14 libedit2 libexpat1 libidn2-0 zlib1g lua-cjson; do
    printf '%s\n' "$depends" | tr ',' '\n' | grep -q "^ *$pkg\( \|$\)" || fail "Depends lacks $pkg: $depends"
done
printf '%s\n' "$depends" | grep -q 'libluajit' || fail "Depends lacks LuaJIT: $depends"
[ "$(dpkg-deb -f "$deb" Recommends)" = "lua-busted" ] || fail "Recommends is not lua-busted"
dpkg -x "$deb" "$T/root"
[ -f "$T/root/usr/share/man/man1/silk.1" ] || fail "deb: no man page"
check_install deb "$T/root/usr/bin/silk" "$T/root/usr/share/silk/lua"
echo "package.sh: ok"
