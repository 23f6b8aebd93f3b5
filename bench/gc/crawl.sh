#!/bin/sh
# The collector while a crawl holds thousands of requests in flight (issue
# 19.2): PAGES pages of the bench site, served by nginx at RATE bytes/s per
# response (limit_rate) so that they wait on the network, crawled at
# CONCURRENCY with that many allowed on the one host. Prints one line of
# key=value results: pages, pages/s, silk's CPU ms per page and peak RSS,
# the crawl's GC slices (p99 and max, wall and CPU), cycles and heap peak.
# GC_STDERR=path keeps silk's stderr there (for bench/gc/atomic-probe).
#   bench/gc/crawl.sh [BUILD_DIR] [PAGES] [CONCURRENCY] [RATE]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
pages=${2:-20000}
conc=${3:-10000}
rate=${4:-16k}
work=$(mktemp -d)
trap '"$root/tests/lib/nginx.sh" stop "$work/nginx" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
python3 "$root/tests/lib/sitegen.py" --out "$work/site" --pages "$pages" --quiet
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
NGINX_CONNECTIONS=$((conc + 1024)) NGINX_LIMIT_RATE=$rate NGINX_TTL=900 \
  "$root/tests/lib/nginx.sh" start "$work/nginx" "$work/site" "$port" >/dev/null
# silk's CPU time and peak RSS, from its rusage (python waits for it)
SILK_BENCH_START=http://127.0.0.1:$port/index.html SILK_BENCH_CONCURRENCY=$conc \
  python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%f %d" % (u.ru_utime + u.ru_stime, u.ru_maxrss))
sys.exit(rc)' "$work/rusage" timeout 600 "$build/silk" run "$root/bench/spiders/shop.lua" -q \
  -O "$work/items.jsonl" --stats "$work/stats.json" 2>"$work/stderr.log" || { cat "$work/stderr.log" >&2; exit 1; }
[ -z "${GC_STDERR:-}" ] || cp "$work/stderr.log" "$GC_STDERR"
python3 - "$work/stats.json" "$conc" "$rate" "$work/rusage" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); g = s["gc"]
cpu, rss = open(sys.argv[4]).read().split()
print("concurrency=%s rate=%s pages=%d pages_per_s=%.0f cpu_ms_per_page=%.2f rss_mb=%.0f gc_slices=%d "
      "p99_ms=%.3f max_ms=%.3f p99_cpu_ms=%.3f max_cpu_ms=%.3f cycles=%d heap_peak_mb=%.1f" % (
      sys.argv[2], sys.argv[3], s["pages"], s["pages"] / s["duration"], float(cpu) * 1000 / s["pages"],
      int(rss) / 1024, g["slices"], g["p99_ms"], g["max_ms"], g["p99_cpu_ms"], g["max_cpu_ms"], g["cycles"],
      g["heap_peak"] / 2**20))
PY
