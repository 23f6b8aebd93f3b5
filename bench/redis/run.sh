#!/bin/sh
# bench/redis/run.sh: pages/s of a crawl shared through Redis with 1, 2 and 4
# workers against one nginx, the in-memory frontier as the baseline, and
# Redis commands per page (INFO commandstats, reset before each run); the
# items-in-Redis rows (--items redis) include draining them with
# `silk collect` after the crawl.
#
#   bench/redis/run.sh [SILK_BINARY] [PAGES]      (defaults: build-redis/silk, 5000)
#
# Writes bench/results/redis.txt (a table) and prints it. Starts its own nginx
# (tests/lib/nginx.sh) and redis-server (no persistence, and then AOF everysec)
# on free ports, stops them at exit.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
silk=${1:-$here/build-redis/silk}
pages=${2:-5000}
work=$(mktemp -d /tmp/silk-bench-redis.XXXXXX)
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wport=$(port); rport=$(port)
trap 'sh "$here/tests/lib/nginx.sh" stop "$work/nginx" >/dev/null 2>&1 || true; redis-cli -p $rport shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

python3 "$here/tests/lib/sitegen.py" --out "$work/site" --pages "$pages" --seed 3 --quiet --origins "http://127.0.0.1:$wport"
sh "$here/tests/lib/nginx.sh" start "$work/nginx" "$work/site" "$wport" >/dev/null
redis() { # redis APPENDONLY
  redis-cli -p $rport shutdown nosave >/dev/null 2>&1 || true; sleep 0.3
  redis-server --port $rport --bind 127.0.0.1 --save '' --dir "$work" --appendonly "$1" \
    --daemonize yes --logfile "$work/redis.log" >/dev/null
  sleep 0.3
}
ops() { redis-cli -p $rport info commandstats | awk -F'[=,:]' '/^cmdstat/ { n += $3 } END { print n + 0 }'; }
cpu() { redis-cli -p $rport info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.2f", s }'; }

export SILK_BENCH_START="http://127.0.0.1:$wport/index.html" SILK_BENCH_CONCURRENCY=32
out="$here/bench/results/redis.txt"
mkdir -p "$here/bench/results"
{
  echo "# silk: crawl of a $pages-page generated site on one nginx, $(nproc) cores, $(date -u +%F)"
  echo "# frontier     workers  aof  seconds  pages/s  redis-cmds/page  redis-cpu-s"
} > "$out"
run() { # label workers frontier-or-empty aof [items-in-redis]
  s0=$(date +%s.%N)
  rm -f "$work/items.jsonl"
  if [ -n "$3" ]; then
    redis-cli -p $rport config resetstat >/dev/null
    c0=$(cpu)
    if [ -n "${5:-}" ]; then
      "$silk" run "$here/bench/spiders/shop.lua" --items redis -s max_per_host=64 \
        -s checkpoint_interval=0.1 --frontier "$3" --workers "$2" >"$work/log" 2>&1
      "$silk" collect "$3" -o "$work/items.jsonl" --quiet >>"$work/log" 2>&1
    else
      "$silk" run "$here/bench/spiders/shop.lua" -o "$work/items.jsonl" -s max_per_host=64 \
        -s checkpoint_interval=0.1 --frontier "$3" --workers "$2" >"$work/log" 2>&1
    fi
    n=$(ops); c=$(echo "$(cpu) - $c0" | bc)
  else
    "$silk" run "$here/bench/spiders/shop.lua" -o "$work/items.jsonl" -s max_per_host=64 >"$work/log" 2>&1
    n=0; c=0
  fi
  s1=$(date +%s.%N)
  got=$(wc -l < "$work/items.jsonl")
  [ "$got" -eq $((pages * 10)) ] || { echo "run $1 $2: $got items, expected $((pages * 10))" >&2; cat "$work/log" >&2; exit 1; }
  awk -v l="$1" -v w="$2" -v a="$4" -v t0="$s0" -v t1="$s1" -v n="$n" -v p="$pages" -v c="$c" \
    'BEGIN { printf "%-12s %8d %4s %8.2f %8.0f %16.1f %12s\n", l, w, a, t1 - t0, p / (t1 - t0), n / p, c }' >> "$out"
}
redis no
run memory 1 "" -
for w in 1 2 4; do run redis "$w" "redis://127.0.0.1:$rport/bench$w" no; done
for w in 1 2; do run redis+items "$w" "redis://127.0.0.1:$rport/items$w" no items; done
redis yes
for w in 1 2 4; do run redis "$w" "redis://127.0.0.1:$rport/aof$w" yes; done
cat "$out"
