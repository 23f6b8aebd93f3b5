#!/bin/sh
# Builds libFuzzer targets and runs each for a bounded time.
#   tests/fuzz/run.sh [-t SECONDS] [TARGET...]      (default: 30 s; all targets)
# A target NAME is tests/fuzz/fuzz_NAME.c linked with the core sources it
# exercises (core/NAME.c unless listed below; fuzz_console.c includes
# core/console.c itself and links core/sockserv.c); its seed corpus is
# tests/fuzz/corpus/NAME (read only: new inputs go to a scratch directory
# under the build dir), and tests/fuzz/NAME.dict a libFuzzer dictionary if
# there is one. Crashes are written to build-fuzz/NAME/. Every target
# runs even after one fails; the exit status is 1 if any produced a finding
# (a crash-, leak-, timeout- or oom- file) or failed to build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=30
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
targets=${*:-"url robots sitemap select html charset console"}
out=${FUZZ_BUILD:-$root/build-fuzz}
mkdir -p "$out"
CC=${CC:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root/core"
dom="$root/core/html.c $root/core/html_text.c $root/core/select.c $root/core/select_parse.c $root/core/url.c $root/core/track.c"
domlibs="-lgumbo -lev -lcurl -lidn2 -lpthread"
status=0
for t in $targets; do
  srcs="$root/core/$t.c"; libs=""; cflags=""; maxlen=4096
  case $t in
    url) libs="-lcurl -lidn2" ;;
    sitemap) libs="-lexpat -lz" ;;
    select) srcs=$dom; libs=$domlibs; maxlen=512 ;;
    html) srcs=$dom; libs=$domlibs; maxlen=16384 ;;
    console) srcs="$root/core/sockserv.c"; cflags=$(pkg-config --cflags luajit); libs="$(pkg-config --libs luajit) -lev" ;;
  esac
  bin=$out/fuzz_$t
  # shellcheck disable=SC2086
  if ! $CC $flags $cflags "$here/fuzz_$t.c" $srcs -o "$bin" $libs; then
    echo "fuzz_$t: build failed" >&2
    status=1
    continue
  fi
  mkdir -p "$out/$t/corpus"
  touch "$out/$t/.start"
  echo "== fuzz_$t for ${secs}s"
  dict=""
  [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
  (cd "$out/$t" && "$bin" -max_total_time="$secs" -max_len=$maxlen -timeout=10 $dict \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$t/" \
       corpus "$here/corpus/$t" >"$out/$t/log" 2>&1)
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|^==[0-9]+==ERROR|SUMMARY" \
    "$out/$t/log" | head -n 8
  if [ -n "$(find "$out/$t" -maxdepth 1 -newer "$out/$t/.start" \
              \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) )" ]; then
    echo "fuzz_$t: findings in $out/$t (log: $out/$t/log)" >&2
    status=1
  fi
done
exit $status
