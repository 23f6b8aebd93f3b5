#!/bin/sh
# A/B of the GC pacer vs LuaJIT's own collector: bench/gc/run.sh [BUILD_DIR] [ITERS]
# Builds gcbench (the CMake target) in BUILD_DIR (default build), runs
# 1 000 and 10 000 parked tasks with 4 allocating workers in each mode
# (3 runs each, median by throughput), prints a table.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
iters=${2:-3000}
out=$(mktemp -d)
cmake --build "$build" --target gcbench >/dev/null
for tasks in 1000 10000; do
  for mode in default pacer; do
    flag=; [ $mode = default ] && flag=--no-pacer
    for r in 1 2 3; do
      "$build/gcbench" $flag "$here/workload.lua" $tasks 4 "$iters" >> "$out/$mode.$tasks.txt"
    done
  done
done
python3 "$here/table.py" "$out"/*.txt
rm -rf "$out"
