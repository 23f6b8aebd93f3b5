#!/bin/sh
# A crawl's cost in instructions (issue 19.4): PAGES pages of the bench shop
# site served by nginx, crawled by bench/spiders/shop.lua under callgrind
# (--separate-threads=yes), beside gumbo alone on the same pages
# (bench/ceiling/gumbo_ceiling.c, its best variant, one thread, under
# callgrind too). Instruction counts do not depend on what else runs on the
# machine, as wall and CPU time do on shared cores. Checks the crawl's items
# against the site's truth (tests/lib/check.py), then prints a markdown
# summary (bench/callgrind/summary.py): instructions a page by thread role
# (loop, parse, other), gumbo's part, and the top functions outside gumbo.
#   bench/callgrind/crawl.sh [BUILD_DIR] [PAGES] [CONCURRENCY] [KEEP_DIR]
# KEEP_DIR (optional) keeps the callgrind files for callgrind_annotate; a
# ceiling.out already there is reused (same PAGES: the same pages).
# The crawl runs with --no-preempt: under valgrind every slice is ~50x
# longer in instructions, so the tick would cost far more than it does.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
pages=${2:-1000}
conc=${3:-64}
work=$(mktemp -d)
keep=${4:-$work/cg}
mkdir -p "$keep"
trap '"$root/tests/lib/nginx.sh" stop "$work/nginx" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
python3 "$root/tests/lib/sitegen.py" --out "$work/site" --pages "$pages" --quiet
python3 - "$work/site" <<'PY' > "$work/files.txt"
import json, sys
for line in open(sys.argv[1] + ".truth.jsonl"):
    print(sys.argv[1] + json.loads(line)["page"])
PY
gcc -O2 -g -pthread "$root/bench/ceiling/gumbo_ceiling.c" "$(gcc -print-file-name=libgumbo.a)" \
  -o "$work/gumbo_ceiling" 2>/dev/null ||
  gcc -O2 -g -pthread "$root/bench/ceiling/gumbo_ceiling.c" -lgumbo -o "$work/gumbo_ceiling"
[ -s "$keep/ceiling.out" ] ||      # the same pages (same PAGES, same seed): kept from an earlier run
  valgrind -q --tool=callgrind --callgrind-out-file="$keep/ceiling.out" \
    "$work/gumbo_ceiling" "$work/files.txt" 1 1 0 best >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
NGINX_TTL=3600 "$root/tests/lib/nginx.sh" start "$work/nginx" "$work/site" "$port" >/dev/null
SILK_BENCH_START=http://127.0.0.1:$port/index.html SILK_BENCH_CONCURRENCY=$conc \
  valgrind -q --tool=callgrind --separate-threads=yes --callgrind-out-file="$keep/crawl.%p" \
  "$build/silk" --no-preempt run "$root/bench/spiders/shop.lua" -q -O "$work/items.jsonl" \
  --stats "$keep/stats.json" 2>"$work/stderr.log" || { cat "$work/stderr.log" >&2; exit 1; }
python3 "$root/tests/lib/check.py" --truth "$work/site.truth.jsonl" --items "$work/items.jsonl" \
  --name silk >"$work/check.json" || { cat "$work/check.json" >&2; exit 1; }
python3 "$here/summary.py" "$keep" "$conc" "$(wc -l < "$work/files.txt")"
