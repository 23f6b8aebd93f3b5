#!/bin/sh
# CI entry for the fuzz targets: builds every target and runs each for a
# bounded time; exits non-zero when a target does not build or finds a crash,
# leak, timeout or out-of-memory input (the input is left in the build dir,
# named in the output). No CMake: needs clang with libFuzzer (Debian: clang,
# libclang-rt-14-dev) and the -dev packages the build already needs.
#   tests/fuzz/ci.sh [SECONDS]        (default 30 s per target, or $FUZZ_SECONDS)
# Wall time: about 7 x (SECONDS + 3 s to build) on 2 cores; with 30 s, ~4 min.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-${FUZZ_SECONDS:-30}}
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "fuzz/ci.sh: $CC not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 2
fi
export CC
export FUZZ_BUILD=${FUZZ_BUILD:-$root/build-fuzz-ci}
start=$(date +%s)
"$here/run.sh" -t "$secs"
rc=$?
echo "fuzz/ci.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
