-- The soak's spider: crawls bench/soak/soaksite.py's site and the misbehaving server it links to, sampling the engine's resources every 5 s.
--
--   SOAK_START=http://127.0.0.1:PORT/index.html SOAK_CSV=samples.csv SOAK_ROUNDS=4 \
--     silk run bench/soak/soak.lua -o items.jsonl --stats stats.json
--
-- Rounds: the crawl starts at index.html?r=1 .. ?r=ROUNDS and every link
-- followed carries its page's r (nginx ignores the query; badserver's
-- Retry-After and 503 keys get it too), so one generated site gives
-- PAGES x ROUNDS distinct URLs, crawled at once.
-- bench/soak/run.sh starts the servers and sets these. Both hosts are
-- 127.0.0.1 (two ports), so allowed_domains covers both. Timeouts are short
-- (5 s) so that the kill -STOP pauses of the servers turn into timeouts and
-- retries rather than a stall.
--
-- The sampler: a task started with the crawl and cancelled when it returns
-- (wrapping silk.crawl's run; this file is loaded before run.lua creates the
-- crawl). Every SOAK_INTERVAL seconds (5) it appends one CSV line: time,
-- pages, errors, RSS, Lua heap, open fds (all, and sockets), the live counts
-- of silk.core.engine.resources() (tasks, documents, curl handles, ...),
-- silk.core.fetch.stats() (active, queued, pooled handles, watchers) and the
-- frontier (queued, seen, its heap bytes).
local silk = require("silk")
local engine = require("silk.core.engine")
local fetch = require("silk.core.fetch")
local crawl = require("silk.crawl")

local start = os.getenv("SOAK_START") or "http://127.0.0.1:8080/index.html"
local csv_path = os.getenv("SOAK_CSV") or "soak-samples.csv"
local interval = tonumber(os.getenv("SOAK_INTERVAL") or "") or 5
local concurrency = tonumber(os.getenv("SOAK_CONCURRENCY") or "") or 96
local rounds = tonumber(os.getenv("SOAK_ROUNDS") or "") or 1

local start_urls = {}
for r = 1, rounds do start_urls[r] = start .. "?r=" .. r end

-- href with the round r added to its query (before any fragment).
local function in_round(href, r)
  local base, frag = href:match("^([^#]*)(#?.*)$")
  base = base:gsub("key=(%w+)", "key=%1r" .. r)
  return base .. (base:find("?", 1, true) and "&" or "?") .. "r=" .. r .. frag
end

local function read_first(path, pattern)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s:match(pattern)
end

local pid = read_first("/proc/self/stat", "^(%d+)")

local function rss_kb()
  return tonumber(read_first("/proc/self/status", "VmRSS:%s*(%d+)")) or 0
end

local function open_fds()
  local p = io.popen("ls /proc/" .. pid .. "/fd 2>/dev/null | wc -l")
  local n = tonumber(p:read("*a"))
  p:close()
  return (n or 1) - 1                   -- the popen pipe itself
end

local columns = { "t", "pages", "errors", "rss_kb", "lua_kb", "fds", "socket_fds",
                  "tasks", "documents", "curl_easy", "buffers", "parse_jobs", "transfers",
                  "timers", "waiters", "frames", "fetch_active", "fetch_queued", "fetch_backoff",
                  "easy_pooled", "watchers", "inflight", "frontier_queued", "frontier_seen",
                  "frontier_kb" }

local function sampler(run)
  local out = assert(io.open(csv_path, "w"))
  out:write(table.concat(columns, ","), "\n")
  local t0 = silk.now()
  while true do
    local r = engine.resources()
    local fs = fetch.stats()
    local fr = run.frontier:stats()
    local row = {
      ("%.1f"):format(silk.now() - t0), run.stats.pages, run.stats.errors, rss_kb(),
      math.floor(collectgarbage("count")), open_fds(), fs.socket_fds,
      r.tasks, r.documents, fs.easy_live, fs.buffers, r["parse jobs"],
      fs.transfers, r.timers, r.waiters, r["cancel frames"],
      fs.active, fs.queued, fs.backoff, fs.easy_pooled, fs.watchers, run.inflight,
      fr.queued or 0, fr.seen or 0, math.floor((fr.memory or 0) / 1024),
    }
    out:write(table.concat(row, ","), "\n")
    out:flush()
    silk.sleep(interval)
  end
end

-- Start the sampler with the crawl, stop it when the crawl returns.
local new = crawl.new
crawl.new = function(...)
  local run = new(...)
  local inner = run.run
  run.run = function(self)
    local t = silk.spawn{ name = "soak-sampler", sampler, self }
    local ok, stats = pcall(inner, self)
    t:cancel("crawl finished")
    t:join()
    if not ok then error(stats, 0) end
    return stats
  end
  return run
end

return silk.spider{
  name = "soak",
  start_urls = start_urls,
  allowed_domains = { "127.0.0.1" },
  concurrency = concurrency,
  max_per_host = 64,               -- the slow bad host may take every slot; nginx gets the rest
  delay = 0,
  order = "dfs",                    -- with the site's tree links: a small queue, a steady state
  obey_robots = true,
  timeout = 5,
  retries = 2,
  max_size = 4 * 1024 * 1024,
  task_timeout = 30,
  stall_timeout = 30,
  host_error_budget = 50,           -- the bad host fails often by design; do not back it off for minutes

  parse = function(res, crawl_)
    if not (res.headers["content-type"] or ""):find("html") then return end
    for _, it in ipairs(res:select(".item")) do
      local name, price = it:one(".name"), it:one(".price")
      crawl_:emit{ url = res.url, name = name and name:text(), price = price and price:text() }
    end
    local r = res.url:match("[?&]r=(%d+)") or "1"
    for _, a in ipairs(res:select("a[href]")) do
      crawl_:follow(in_round(a:attr("href"), r))
    end
  end,
}
