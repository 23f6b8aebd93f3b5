-- The bench site's spider for silk: the bench's equal job (see tests/lib/sitegen.py).
--
--   SILK_BENCH_START=http://127.0.0.1:PORT/index.html SILK_BENCH_CONCURRENCY=64 \
--     silk run bench/spiders/shop.lua -o items.jsonl
--
-- Start at the index, follow every in-site link once (the frontier dedupes
-- canonical URLs; allowed_domains keeps the crawl on the start host), parse
-- every page with gumbo, emit the 10 `.product` items a page (url, title,
-- price) as JSON Lines, obey robots.txt, no delay. The sidebar's
-- `.product-mini` blocks are not `.product` and are not extracted.
-- SILK_BENCH_PARSE=inline parses on the loop thread (silk.core.html.parse)
-- instead of the worker pool that res:select uses (html.parse_async): the A/B
-- of issue 9. bench/run sets these variables.
local silk = require("silk")
local html = require("silk.core.html")

local start = os.getenv("SILK_BENCH_START") or "http://127.0.0.1:8080/index.html"
local host = start:match("^%a+://([^/:]+)")
local concurrency = tonumber(os.getenv("SILK_BENCH_CONCURRENCY") or "") or 64
local parse_mode = os.getenv("SILK_BENCH_PARSE") or "worker"

local function first_text(node, css)
  local n = node:one(css)
  return n and n:text() or ""
end

return silk.spider{
  name = "shop",
  start_urls = { start },
  allowed_domains = { host },
  concurrency = concurrency,
  max_per_host = concurrency,
  delay = 0,
  obey_robots = true,

  parse = function(res, crawl)
    local doc = res
    if parse_mode == "inline" then
      doc = assert(html.parse((res:text()), res.url))
    end
    for _, p in ipairs(doc:select("div.product")) do
      crawl:emit{ url = res.url, title = first_text(p, ".title"), price = first_text(p, ".price") }
    end
    for _, a in ipairs(doc:select("a[href]")) do
      local href = a:attr("href")
      local c = href:sub(1, 1)
      if c ~= "#" and not href:find("^mailto:") and not href:find("^javascript:") then
        crawl:follow(href)
      end
    end
    if doc ~= res then doc:free() end
  end,
}
