#!/bin/sh
# bench/fetch/run.sh: fetch-only throughput of silk vs wrk against one nginx
# on 127.0.0.1, engine overhead at 1/64/1024/10000 in flight, and 10 000
# concurrent fetches (peak RSS per in-flight fetch).
#
#   sh bench/fetch/run.sh [path/to/silk] [seconds]
#   sh bench/fetch/run.sh [path/to/silk] [seconds] hosts [rounds]
#
# hosts: fetch over many hosts, as a crawl does: 256 hosts (127.1.H.1, one
# nginx listening on each), 8 in flight per host at most (fetch's per-host
# limit), 1 024 and 10 000 transfers in flight, interleaved round after
# round with the single-host run at 64 connections it is compared with, and
# 1 024 over 256 hosts paced to RATE requests/s (default 5 000: a loop with
# headroom) for the completion-to-resume overhead. SILK_B=path/to/silk:
# each round also runs the 64-connection and the 1 024-over-256-hosts
# cases with that binary (an A/B on the same nginx). Results:
# bench/results/fetch-hosts-*.txt.
#
# Needs nginx (with Debian's echo module), wrk. Results: bench/results/fetch-*.txt
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
silk=${1:-$repo/build/silk}
secs=${2:-10}
what=${3:-}
rounds=${4:-3}
work=$(mktemp -d /tmp/silk-benchfetch.XXXXXX)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$work/root" "$work/logs" "$work/tmp" "$repo/bench/results"
out="$repo/bench/results/fetch-${what:+$what-}$(date +%Y%m%d-%H%M%S).txt"
# a 4 KiB page
python3 -c 'import sys; sys.stdout.write(("<p>silk bench page</p>\n" * 180)[:4096])' > "$work/root/page.html"
cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
worker_rlimit_nofile 30000;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 25000; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 65s; keepalive_requests 100000000;
  client_body_temp_path $work/tmp/cb; proxy_temp_path $work/tmp/p;
  fastcgi_temp_path $work/tmp/f; uwsgi_temp_path $work/tmp/u; scgi_temp_path $work/tmp/s;
  server {
    listen 127.0.0.1:$port backlog=16384;
$( [ "$what" = hosts ] && for h in $(seq 0 255); do echo "    listen 127.1.$h.1:$port backlog=1024;"; done )
    root $work/root;
    location = /hold { echo_sleep 2; echo ok; }
  }
}
CONF
/usr/sbin/nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
ngx=$!
trap 'kill $ngx 2>/dev/null; wait $ngx 2>/dev/null; rm -rf "$work"' EXIT INT TERM
sleep 1
url="http://127.0.0.1:$port/page.html"
ulimit -n 20000 2>/dev/null || true
if [ "$what" = hosts ]; then
  hurl="http://127.1.{h}.1:$port/page.html"
  rate=${RATE:-5000}
  {
    echo "# silk fetch bench, many hosts, $(date -u +%FT%TZ), $(nproc) cores, ${secs}s per run, 4 KiB page, $rounds rounds, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    for r in $(seq 1 "$rounds"); do
      echo "## round $r silk 64"
      "$silk" eval "$here/bench.lua" "$url" 64 $secs
      echo "## round $r silk 1024 hosts 256 per_host 8"
      "$silk" eval "$here/bench.lua" "$hurl" 1024 $secs hosts=256 per_host=8
      echo "## round $r silk 10000 hosts 256 per_host 8"
      "$silk" eval "$here/bench.lua" "$hurl" 10000 $secs hosts=256 per_host=8
      echo "## round $r silk 1024 hosts 256 per_host 8 rate $rate"
      "$silk" eval "$here/bench.lua" "$hurl" 1024 $secs hosts=256 per_host=8 rate=$rate
      if [ -n "${SILK_B:-}" ]; then
        echo "## round $r silk-B 64"
        "$SILK_B" eval "$here/bench.lua" "$url" 64 $secs
        echo "## round $r silk-B 1024 hosts 256 per_host 8"
        "$SILK_B" eval "$here/bench.lua" "$hurl" 1024 $secs hosts=256 per_host=8
      fi
    done
    echo "# loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  } 2>&1 | tee "$out"
  echo "results: $out"
  exit 0
fi
{
  echo "# silk fetch bench $(date -u +%FT%TZ), $(nproc) cores, ${secs}s per run, 4 KiB page"
  for c in 64 1024; do
    echo "## wrk -t2 -c$c"
    wrk -t2 -c$c -d${secs}s "$url" | grep -E "Requests/sec|Latency|Socket errors" || true
    echo "## silk $c"
    "$silk" eval "$here/bench.lua" "$url" $c $secs
  done
  for c in 1 10000; do
    echo "## silk $c (overhead)"
    "$silk" eval "$here/bench.lua" "$url" $c $secs
  done
  echo "## silk burst 10000 on /hold (2 s each)"
  "$silk" eval "$here/bench.lua" "http://127.0.0.1:$port/hold" 10000 0 burst
} 2>&1 | tee "$out"
echo "results: $out"
