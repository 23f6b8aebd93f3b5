#!/bin/sh
# Builds libFuzzer targets and runs each for a bounded time.
#   tests/fuzz/run.sh [-t SECONDS] [TARGET...]      (default: 30 s; all targets)
# A target NAME is tests/fuzz/fuzz_NAME.c linked with core/NAME.c; its seed
# corpus is tests/fuzz/corpus/NAME (read only: new inputs go to a scratch
# directory under the build dir). Crashes are written to build-fuzz/NAME/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=30
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
targets=${*:-"url robots"}
out=${FUZZ_BUILD:-$root/build-fuzz}
mkdir -p "$out"
CC=${CC:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root/core"
for t in $targets; do
  case $t in
    url) libs="-lcurl -lidn2" ;;
    *) libs="" ;;
  esac
  bin=$out/fuzz_$t
  $CC $flags "$here/fuzz_$t.c" "$root/core/$t.c" -o "$bin" $libs
  mkdir -p "$out/$t/corpus"
  echo "== fuzz_$t for ${secs}s"
  (cd "$out/$t" && "$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 \
       -artifact_prefix="$out/$t/" corpus "$here/corpus/$t" 2>&1 | tail -n 5)
  if ls "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* >/dev/null 2>&1; then
    echo "fuzz_$t: findings in $out/$t" >&2
    exit 1
  fi
done
