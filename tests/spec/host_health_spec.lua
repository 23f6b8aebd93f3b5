-- A host's health in a crawl: what counts toward host_error_budget and its
-- backoff (the host did not answer well) and what is one URL's own outcome
-- (the host answered: 404, too large); errback and http_errors. Real nginx.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local cjson = require("cjson")
local files = require("files")

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

local site = files.tmpdir()
os.execute("mkdir -p " .. site .. "/p")
for i = 1, 40 do
  files.write(("%s/p/%d.html"):format(site, i), ("<h1>page %d</h1>"):format(i))
end
files.write(site .. "/robots.txt", "User-agent: *\nAllow: /\n")

-- Dead links first: a crawl that took them for host failures would hold the
-- host before it reached a single live page.
local function index(dead, live, prefix)
  local b = {}
  for i = 1, dead do b[#b + 1] = ('<a href="/%s/%d">x</a>'):format(prefix, i) end
  for i = 1, live do b[#b + 1] = ('<a href="/p/%d.html">p</a>'):format(i) end
  return table.concat(b)
end
files.write(site .. "/dead.html", index(30, 40, "dead"))
files.write(site .. "/busy.html", index(3, 0, "busy"))
files.write(site .. "/mixed.html", '<a href="/dead/1">d</a><a href="/gone/1">g</a><a href="/p/1.html">p</a>')

local web = servers.nginx{ root = site, access_log = true, server_extra = [[
  location /dead/ { return 404; }
  location /gone/ { return 410 "<h1>gone</h1>"; }
  location /busy/ { return 503; }
]] }

local function run_spider(src, start, base)
  local path = os.tmpname() .. ".lua"
  local out = os.tmpname() .. ".jsonl"
  local stats = os.tmpname() .. ".json"
  files.write(path, src)
  local p = io.popen(("cd %s && START='%s' %s run %s -o %s --stats %s 2>&1; echo \"exit:$?\""):format(
    root, (base or web.url) .. start, silk_bin, path, out, stats))
  local log = p:read("*a")
  p:close()
  local items = {}
  for l in (files.read(out) or ""):gmatch("[^\n]+") do items[#items + 1] = cjson.decode(l) end
  local st = cjson.decode(files.read(stats) or "{}")
  os.remove(path); os.remove(out); os.remove(stats)
  return tonumber(log:match("exit:(%d+)%s*$")), items, st, log
end

local follow_all = [[
local silk = require("silk")
return silk.spider{
  name = "health",
  start_urls = { os.getenv("START") },
  concurrency = 2, max_per_host = 2, retries = 0,
  host_error_budget = 3,
  close_after_seconds = 30,
  %s
  parse = function(res, crawl)
    local h = res:one("h1")
    if h then crawl:emit{ url = res.url, status = res.status, h1 = h:text() } end
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]]

describe("host health in a crawl", function()
  teardown(function() web:stop() end)

  it("counts a 404 against its URL, not its host: 30 dead links do not hold the host", function()
    local code, items, st, log = run_spider(follow_all:format(""), "/dead.html")
    assert.equal(0, code)
    assert.equal(40, #items)
    assert.equal(30, st.errors_by_kind.http)
    -- the collector's figures travel with the crawl's (issue 15.19)
    for _, k in ipairs{ "cycles", "slices", "p99_ms", "max_ms", "max_cpu_ms", "total_ms" } do
      assert.is_number(st.gc[k], k)
    end
    assert.is_true(st.gc.max_ms >= st.gc.p99_ms and st.gc.heap_peak > 0)
    assert.matches("gc: %d+ cycles, %d+ slices, pause p99 [%d.]+ ms, max [%d.]+ ms", log)
    -- far from the 30 s close_after_seconds that a backed-off host would reach
    assert.is_true(st.duration < 20, "took " .. tostring(st.duration))
  end)

  it("backs off a host that answers 503 once host_error_budget failures are in a row", function()
    local src = follow_all:format(""):gsub("max_per_host = 2", "max_per_host = 1")
      :gsub("concurrency = 2", "concurrency = 1"):gsub("host_error_budget = 3", "host_error_budget = 2")
    local t0 = #web:entries()
    local code = run_spider(src, "/busy.html")
    assert.equal(0, code)
    local busy = {}
    local entries = web:entries()
    for i = t0 + 1, #entries do
      local e = entries[i]
      if e.request:match("^GET /busy/") then busy[#busy + 1] = e.msec end
    end
    assert.equal(3, #busy)
    -- the third request comes after the backoff the first two earn (5 s)
    assert.is_true(busy[3] - busy[2] >= 4.5, ("gap %.2f s"):format(busy[3] - busy[2]))
  end)

  it("hands each failure to errback with its kind and status, and http_errors statuses to the callback", function()
    local src = follow_all:format([[
  http_errors = { 410 },
  errback = function(failure, crawl)
    crawl:emit{ url = failure.url, kind = failure.error.kind, status = failure.error.status }
  end,]])
    local code, items = run_spider(src, "/mixed.html")
    assert.equal(0, code)
    local by_url = {}
    for _, it in ipairs(items) do by_url[it.url:match("//[^/]+(/.*)$")] = it end
    assert.same({ url = web.url .. "/dead/1", kind = "http", status = 404 }, by_url["/dead/1"])
    assert.equal(410, by_url["/gone/1"].status)
    assert.equal("gone", by_url["/gone/1"].h1)
    assert.equal(200, by_url["/p/1.html"].status)
  end)
end)

describe("an unreachable robots.txt", function()
  local tree = [[
local silk = require("silk")
return silk.spider{
  name = "robots-down",
  start_urls = { os.getenv("START") },
  concurrency = 4, close_after_seconds = 60,
  %s
  parse = function(res, crawl)
    crawl:emit{ url = res.url }
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]]

  it("holds its host and asks again until it answers; nothing queued is lost", function()
    local bad = servers.badserver{ robots_fail = 4 }   -- two tries of two attempts each
    local code, items, st = run_spider(tree:format(""), "/tree/0?n=20", bad.url)
    bad.stop()
    assert.equal(0, code)
    assert.equal(20, #items)
    assert.equal(0, st.robots_blocked)
    assert.equal(2, st.robots_unreachable)
    assert.is_true(st.duration >= 3, "waited 1 s then 2 s: took " .. st.duration)
  end)

  it("soak: a site behind robots.txt outages, with 3 dead links a live page, is crawled whole", function()
    -- /tree/I links to its children /tree/4I+1 .. 4I+4 below n and, with
    -- dead=3, to three pages past n (404s): 1 200 dead links between the
    -- 400 live pages; robots.txt fails three tries (six attempts) first
    local bad = servers.badserver{ robots_fail = 6 }
    local code, items, st = run_spider(tree:format("max_per_host = 4, retries = 1,"), "/tree/0?n=400&dead=3", bad.url)
    bad.stop()
    assert.equal(0, code)
    assert.equal(400, #items)
    assert.equal(1200, st.errors_by_kind.http)
    assert.equal(0, st.robots_blocked)
    assert.equal(3, st.robots_unreachable)
  end)

  it("does not hold a host that is down: its requests fail at once as its errors", function()
    local down = "http://127.0.0.1:" .. servers.free_port()
    local t0 = os.time()
    local code, items, st = run_spider(tree:format(""), "/tree/0", down)
    assert.equal(6, code)                       -- its start URL could not be fetched
    assert.equal(0, #items)
    assert.equal(0, st.robots_blocked)
    assert.equal(1, st.errors_by_kind.connect)
    assert.is_true(os.time() - t0 < 20)
  end)

  it("disallows the host once it stays unreachable for robots_retry_for", function()
    local bad = servers.badserver{ robots_fail = 1000 }
    local code, items, st, log = run_spider(tree:format("robots_retry_for = 2,"), "/tree/0?n=20", bad.url)
    bad.stop()
    assert.equal(6, code)                       -- its start URL was robots-blocked
    assert.equal(0, #items)
    assert.equal(1, st.robots_blocked)
    assert.is_true(st.robots_unreachable >= 2)
    assert.matches("robots.txt unreachable for %d+ s %(%d+ tries%): the host is disallowed", log)
  end)
end)
