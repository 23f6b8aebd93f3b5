-- A crawl shared through Redis (--frontier redis://...): several silk
-- processes on one generated site behind nginx, a real redis-server; a worker
-- killed with -9, Redis restarted mid-crawl, politeness across the fleet.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local cjson = require("cjson")

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")
local PAGES = 1500

local files = require("files")
local tmpdir, write, read = files.tmpdir, files.write, files.read

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit:$?\"")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), out
end

local site = tmpdir()
local port = servers.free_port()
assert(os.execute(("python3 bench/sitegen.py --out %s/site --pages %d --seed 11 --quiet --origins http://127.0.0.1:%d"):format(
  site, PAGES, port)) == 0)
local web = servers.nginx{ root = site .. "/site", port = port, access_log = true }
local start = web.url .. "/index.html"
local redis = servers.redis{ appendonly = true }
local redis_addr = "redis://127.0.0.1:" .. redis.port

local spider = os.tmpname() .. ".lua"
write(spider, [[
-- the generated shop: every product of every page, every link followed
local silk = require("silk")
return silk.spider{
  name = "shop-redis", start_urls = { os.getenv("START") }, allowed_domains = { "127.0.0.1" },
  concurrency = 8,
  parse = function(res, crawl)
    for _, p in ipairs(res:select("div.product")) do
      local t, pr = p:one(".title"), p:one(".price")
      crawl:emit{ url = res.url, title = t and t:text() or "", price = pr and pr:text() or "" }
    end
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]])

local crawls = 0
local function frontier(params)
  crawls = crawls + 1
  return ("%s/spec%d-%d%s"):format(redis_addr, crawls, os.time(), params or "")
end

local function check(items)
  local p = io.popen(("python3 bench/check.py --truth %s/site.truth.jsonl --items %s"):format(site, items))
  local v = cjson.decode(p:read("*a"))
  p:close()
  return v
end

-- GETs per path in nginx's log (robots.txt left out)
local function fetch_counts()
  local n, twice, distinct = {}, 0, 0
  for _, e in ipairs(web:entries()) do
    local path = e.request:match("^GET (%S+)")
    if path and path ~= "/robots.txt" then
      n[path] = (n[path] or 0) + 1
      if n[path] == 1 then distinct = distinct + 1 elseif n[path] == 2 then twice = twice + 1 end
    end
  end
  return distinct, twice
end

local function worker_cmd(fr, out)
  return ("cd %s && START=%s %s run %s -o %s --frontier '%s' -s checkpoint_interval=0.05"):format(
    root, start, silk_bin, spider, out, fr)
end

describe("a crawl shared through Redis", function()
  teardown(function()
    web:stop()
    redis:stop()
  end)

  it("splits the site among 3 workers: every page fetched once, every item once", function()
    local d = tmpdir()
    web:truncate_log()
    local status, log = sh(worker_cmd(frontier(), d .. "/items.jsonl") .. " --workers 3")
    assert.equal(0, status, log)
    local v = check(d .. "/items.jsonl")
    assert.is_true(v.ok, cjson.encode(v))
    local distinct, twice = fetch_counts()
    assert.equal(PAGES, distinct)
    assert.equal(0, twice)
    local _, n = log:gsub("crawl finished %(finished%)", "")
    assert.equal(3, n, log)            -- all three did part of the work and ended
    for pages in log:gmatch("pages (%d+) %(") do assert.is_true(tonumber(pages) > 0, log) end
  end)

  it("finishes without a worker killed with -9; only its in-flight pages are fetched twice", function()
    local d = tmpdir()
    web:truncate_log()
    local fr = frontier("?visibility=2")
    local cmds = {}
    for k = 1, 3 do
      cmds[k] = ("(%s >%s/log%d 2>&1 & echo $! >%s/pid%d; wait)"):format(
        worker_cmd(fr, ("%s/items%d.jsonl"):format(d, k)), d, k, d, k)
    end
    -- 3 workers; after 1 s worker 1 dies hard; the others finish
    local status, out = sh(("%s & %s & %s & sleep 1; kill -9 $(cat %s/pid1); wait"):format(
      cmds[1], cmds[2], cmds[3], d))
    assert.equal(0, status, out)
    os.execute(("cat %s/items1.jsonl %s/items2.jsonl %s/items3.jsonl > %s/all.jsonl"):format(d, d, d, d))
    local v = check(d .. "/all.jsonl")
    assert.equal(0, v.items_missing, cjson.encode(v))
    assert.equal(0, v.pages_missing, cjson.encode(v))
    for k = 2, 3 do assert.matches("crawl finished %(finished%)", read(("%s/log%d"):format(d, k))) end
    local distinct, twice = fetch_counts()
    assert.equal(PAGES, distinct)
    -- at most what the dead worker had in flight (concurrency 8) or fetched
    -- and not yet acknowledged: one 50 ms checkpoint interval plus the ack's
    -- own round trip, which lags under ASan (19 seen there; ~2-6 natively).
    -- Redelivering everything the dead worker had read would be hundreds.
    assert.is_true(twice <= 32, "pages fetched twice: " .. twice)
    assert.is_true(v.items_duplicate <= twice * 10, cjson.encode(v))
    print(("\n  kill -9: %d pages fetched twice"):format(twice))
  end)

  it("pauses while Redis restarts (AOF on) and completes the crawl", function()
    local d = tmpdir()
    web:truncate_log()
    local fr = frontier()
    local p = io.popen(("%s --workers 3 2>&1; echo \"exit:$?\""):format(
      worker_cmd(fr, d .. "/items.jsonl") .. " -s delay=0.002"), "r")
    -- io.popen returns at once; the crawl runs while Redis goes down and up
    os.execute("sleep 1")
    redis.restart()
    local out = p:read("*a")
    p:close()
    assert.equal("0", out:match("exit:(%d+)%s*$"), out)
    assert.matches("connection lost", out)
    assert.matches("connection back", out)
    local v = check(d .. "/items.jsonl")
    assert.equal(0, v.items_missing, cjson.encode(v))
    assert.equal(0, v.pages_missing, cjson.encode(v))
    local distinct, twice = fetch_counts()
    assert.equal(PAGES, distinct)
    print(("\n  Redis restart: %d pages fetched twice, %d duplicate items"):format(twice, v.items_duplicate))
  end)

  it("holds max_per_host = 2 across 3 workers, as the server counts", function()
    local bad = servers.badserver{}
    local path = os.tmpname() .. ".lua"
    write(path, [[
      -- a tree of slow pages on one host, politeness shared through Redis
      return require("silk").spider{
        name = "polite-redis", start_urls = { os.getenv("START") }, concurrency = 16,
        max_per_host = 2, obey_robots = false,
        parse = function(res, crawl)
          for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
        end,
      }
    ]])
    local status, log = sh(("cd %s && START='%s/tree/0?n=60&ms=50' %s run %s --frontier '%s' --workers 3"):format(
      root, bad.url, silk_bin, path, frontier()))
    local key = "tree:" .. bad.url:match("^http://(.*)$")
    local stats = cjson.decode(io.popen(("curl -s '%s/concurrency/stats?key=%s'"):format(bad.url, key)):read("*a"))
    bad:stop()
    assert.equal(0, status, log)
    assert.equal(60, stats.total, cjson.encode(stats))
    assert.equal(2, stats.max, cjson.encode(stats))
  end)

  it("refuses a host name and a bad URL before crawling", function()
    local status, log = sh(worker_cmd("redis://localhost:6379/x", "/dev/null"))
    assert.equal(2, status)
    assert.matches("must be an IP address", log)
    status, log = sh(worker_cmd("redis://127.0.0.1:1/x", "/dev/null"))
    assert.equal(2, status)
    assert.matches("cannot connect to redis", log)
    status, log = sh(("cd %s && %s run %s --workers 2"):format(root, silk_bin, spider))
    assert.equal(2, status)
    assert.matches("%-%-workers needs %-%-frontier", log)
  end)
end)
