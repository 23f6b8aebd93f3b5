#!/bin/sh
# bench/soak/run.sh: a long crawl through injected faults; not part of CI.
#
#   bench/soak/run.sh [PAGES]        (default 200000; SILK=path/to/silk, default build/silk)
#
# Crawls ROUNDS (6) copies of the site at once (the spider tags each URL with
# ?r=ROUND, which nginx ignores), so PAGES x ROUNDS distinct URLs. Serves
# bench/soak/soaksite.py's site (PAGES pages, about one in 25 linking to
# tests/lib/badserver.py: resets, slow bodies, a gzip bomb, redirect loops,
# 429/503 with Retry-After, broken framing) with nginx (tests/lib/nginx.sh), crawls
# it with bench/soak/soak.lua, and every PAUSE_EVERY seconds (40) freezes one
# server in turn with kill -STOP for PAUSE_FOR seconds (6), then kill -CONT.
# The spider samples RSS, fds, live tasks, documents, curl handles and the
# frontier every 5 s into samples.csv; bench/soak/analyze.py then writes
# report.md (slopes over the last half, maxima) and soak.svg. Output:
# bench/work/soak/ (OUT=...). Bounded: the crawl is killed after 20 minutes,
# the servers die with this script (nginx.sh and badserver.py watchdogs/ttl).
# 6 x 200 000 pages take ~8-10 min on 2 cores (2 000-3 000 pages/s), plus ~1 min to
# generate the site the first time (kept in OUT/site2-PAGES-PORT and reused).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pages=${1:-200000}
silk=${SILK:-$root/build/silk}
out=${OUT:-$root/bench/work/soak}
pause_every=${PAUSE_EVERY:-40}
pause_for=${PAUSE_FOR:-6}
mkdir -p "$out"
out=$(cd "$out" && pwd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_free() {
  python3 -c "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $1))" 2>/dev/null
}
# the bad server's port is baked into the site: reuse a generated site's port when it is free
bad_port=${BAD_PORT:-}
if [ -z "$bad_port" ]; then
  for d in "$out"/site2-"$pages"-*; do
    [ -f "$d/.done" ] && port_free "${d##*-}" && { bad_port=${d##*-}; break; }
  done
fi
[ -n "$bad_port" ] && port_free "$bad_port" || bad_port=$(free_port)
web_port=$(free_port)

site="$out/site2-$pages-$bad_port"
if [ ! -f "$site/.done" ]; then
  echo "soak: generating $pages pages into $site"
  rm -rf "$site"
  python3 "$here/soaksite.py" --out "$site" --pages "$pages" --bad-origin "http://127.0.0.1:$bad_port"
  touch "$site/.done"
fi

nginx_state="$out/nginx"
bad_pid=""; silk_pid=""; paused=""
cleanup() {
  [ -n "$paused" ] && kill -CONT $paused 2>/dev/null
  [ -n "$silk_pid" ] && kill -KILL "$silk_pid" 2>/dev/null
  [ -n "$bad_pid" ] && kill -TERM "$bad_pid" 2>/dev/null
  OWNER_PID=$$ "$root/tests/lib/nginx.sh" stop "$nginx_state" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

python3 "$root/tests/lib/badserver.py" --port "$bad_port" --ttl 1800 >"$out/badserver.log" 2>&1 &
bad_pid=$!
nginx_pid=$(OWNER_PID=$$ NGINX_TTL=1800 "$root/tests/lib/nginx.sh" start "$nginx_state" "$site" "$web_port")
nginx_worker=$(ps -o pid=,comm= --ppid "$nginx_pid" | awk '$2 == "nginx" { print $1 }')
i=0
until grep -q ready "$out/badserver.log"; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done

echo "soak: nginx :$web_port (pids $nginx_pid $nginx_worker), badserver :$bad_port (pid $bad_pid)"
rm -f "$out/items.jsonl" "$out/samples.csv" "$out/pauses.csv"
start=$(date +%s)
SOAK_START="http://127.0.0.1:$web_port/index.html" SOAK_CSV="$out/samples.csv" SOAK_ROUNDS=${ROUNDS:-6} \
  timeout -s KILL 1200 "$silk" run "$here/soak.lua" -o "$out/items.jsonl" --stats "$out/stats.json" \
  >"$out/silk.out" 2>"$out/silk.err" &
silk_pid=$!

echo "t,target,seconds" >"$out/pauses.csv"
n=0
while kill -0 "$silk_pid" 2>/dev/null; do
  sleep 1
  el=$(( $(date +%s) - start ))
  if [ "$el" -ge $(( (n + 1) * pause_every )) ]; then
    n=$((n + 1))
    if [ $((n % 2)) = 1 ]; then target=nginx; paused="$nginx_pid $nginx_worker"
    else target=badserver; paused=$bad_pid; fi
    kill -STOP $paused 2>/dev/null || true
    echo "$el,$target,$pause_for" >>"$out/pauses.csv"
    sleep "$pause_for"
    kill -CONT $paused 2>/dev/null || true
    paused=""
  fi
done
set +e
wait "$silk_pid"; rc=$?
silk_pid=""
set -e
echo "soak: silk exited $rc after $(( $(date +%s) - start )) s"
echo "$rc" >"$out/exit_code"
python3 "$here/analyze.py" "$out"
