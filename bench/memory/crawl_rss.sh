#!/bin/sh
# Peak RSS of a crawl of link-heavy pages (issue 15, item 14).
# Usage: bench/memory/crawl_rss.sh [SILK_BINARY] [PAGES] [MB]
#   (defaults: build/silk, 4 pages of 16 MB)
# Serves PAGES pages of MB megabytes of <li><a href> links (python's
# http.server on loopback) and crawls them with concurrency 4; the callback
# selects every a[href] and emits the count, following nothing. Prints the
# crawl's peak RSS (the child's ru_maxrss) and the single-document figures
# of doc_rss.lua.
set -eu
cd "$(dirname "$0")/../.."
silk=${1:-build/silk}
pages=${2:-4}
mb=${3:-16}
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
"$silk" eval tests/lib/linkpage.lua --print "$mb" > "$dir/big.html"
i=1
links=""
while [ $i -le "$pages" ]; do
  ln "$dir/big.html" "$dir/p$i.html"
  links="$links<a href=\"p$i.html\">$i</a>"
  i=$((i + 1))
done
echo "<html><body>$links</body></html>" > "$dir/index.html"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$dir" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
python3 -c "
import socket, sys, time
for _ in range(100):
    try: socket.create_connection(('127.0.0.1', $port)).close(); break
    except OSError: time.sleep(0.05)
"
cat > "$dir/spider.lua" <<'LUA'
local silk = require("silk")
return silk.spider{
  name = "memory-bench", start_urls = { os.getenv("START") }, allowed_domains = { "127.0.0.1" },
  concurrency = 4, max_size = 64 * 1024 * 1024,
  parse = function(res, crawl)
    if res.url:match("/index.html$") then
      for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
      return
    end
    crawl:emit{ url = res.url, links = #res:select("a[href]") }
  end,
}
LUA
PAGES=$pages MB=$mb START="http://127.0.0.1:$port/index.html" python3 -c '
import os, resource, subprocess, sys, time
t = time.time()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
print("crawl of %s pages of %s MB: exit %d, %.1f s, peak RSS %.0f MB" % (os.environ["PAGES"], os.environ["MB"], rc, time.time() - t,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
' "$silk" run "$dir/spider.lua" -o "$dir/items.jsonl" 2>&1 | tail -1
wc -l < "$dir/items.jsonl" | sed 's/^/items: /'
"$silk" eval bench/memory/doc_rss.lua "$mb"
