-- Metrics: the registry, the exposition format, and GET /metrics served on
-- the spec's own loop.
local silk = require("silk")
local metrics = require("silk.metrics")

local NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*"
local LNAME = "[a-zA-Z_][a-zA-Z0-9_]*"

-- Parses one sample line; returns name, labels table, value, or nil, why.
local function parse_sample(line)
  local name, rest = line:match("^(" .. NAME .. ")(.*)$")
  if not name then return nil, "bad metric name" end
  local labels = {}
  if rest:sub(1, 1) == "{" then
    local i = 2
    while rest:sub(i, i) ~= "}" do
      local lname, after = rest:match("^(" .. LNAME .. ')="()', i)
      if not lname then return nil, "bad label name at " .. i end
      local j, value = after, {}
      while true do
        local ch = rest:sub(j, j)
        if ch == "" then return nil, "unterminated label value" end
        if ch == '"' then break end
        if ch == "\\" then
          local nx = rest:sub(j + 1, j + 1)
          if nx ~= "\\" and nx ~= '"' and nx ~= "n" then return nil, "bad escape" end
          value[#value + 1] = nx == "n" and "\n" or nx
          j = j + 2
        else
          if ch == "\n" then return nil, "newline in label value" end
          value[#value + 1] = ch
          j = j + 1
        end
      end
      labels[lname] = table.concat(value)
      i = j + 1
      if rest:sub(i, i) == "," then i = i + 1 elseif rest:sub(i, i) ~= "}" then return nil, "expected , or }" end
    end
    rest = rest:sub(i + 1)
  end
  local v = rest:match("^ (%S+)$")
  if not v then return nil, "expected one space and a value" end
  local num = tonumber(v)
  if not num and v ~= "+Inf" and v ~= "-Inf" and v ~= "NaN" then return nil, "bad value " .. v end
  return name, labels, num or v
end

-- Checks a whole exposition; returns { [name .. "{" .. sorted labels .. "}"] = value }.
local function parse_exposition(text)
  assert.equal("\n", text:sub(-1))
  local types, samples = {}, {}
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    if line:sub(1, 1) == "#" then
      local kind, name, rest = line:match("^# (%u+) (" .. NAME .. ") ?(.*)$")
      assert(kind == "HELP" or kind == "TYPE", "bad comment line: " .. line)
      if kind == "TYPE" then
        assert(rest == "counter" or rest == "gauge" or rest == "histogram", "bad type: " .. line)
        assert(not types[name], "TYPE twice: " .. name)
        types[name] = rest
      end
    else
      local name, labels, value = parse_sample(line)
      assert(name, "bad sample line (" .. tostring(labels) .. "): " .. line)
      local family = name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
      assert(types[name] or types[family], "sample before its TYPE: " .. line)
      local keys = {}
      for k, v in pairs(labels) do keys[#keys + 1] = k .. "=" .. v end
      table.sort(keys)
      samples[name .. "{" .. table.concat(keys, ",") .. "}"] = value
    end
  end
  assert(n > 10)
  return samples, types
end

describe("GET /metrics", function()
  local srv, base

  before_each(function()
    srv = assert(metrics.serve("127.0.0.1:0"))
    base = "http://127.0.0.1:" .. srv:port()
  end)
  after_each(function() srv:close() end)

  local function scrape()
    local res = assert(silk.fetch{ url = base .. "/metrics", timeout = 10, retries = 0 })
    assert.equal(200, res.status)
    assert.matches("^text/plain; version=0%.0%.4", res.headers["content-type"])
    return parse_exposition(res.body)
  end

  it("serves valid exposition text with the engine's families", function()
    local s, types = scrape()
    assert.equal("gauge", types.silk_tasks)
    assert.is_true(s['silk_tasks{on=fetch,state=waiting}'] >= 1)   -- this very fetch
    assert.is_number(s["silk_resources{kind=tasks}"])
    assert.is_true(s["process_resident_memory_bytes{}"] > 0)
    assert.is_true(s["silk_lua_heap_bytes{}"] > 0)
    assert.equal("counter", types.silk_fetch_requests_total)
    assert.equal("gauge", types.silk_gc_pause_seconds)
  end)

  it("counts tasks by state as they move", function()
    local before = scrape()
    local ch = silk.channel()
    local sleepers, receivers = {}, {}
    for i = 1, 30 do sleepers[i] = silk.spawn(silk.sleep, 60) end
    for i = 1, 20 do receivers[i] = silk.spawn(function() return ch:recv() end) end
    local runnable = silk.spawn(function() end)   -- not resumed before the scrape starts
    silk.sleep(0)
    local s = scrape()
    local function delta(k) return (s[k] or 0) - (before[k] or 0) end
    assert.equal(30, delta("silk_tasks{on=sleep,state=waiting}"))
    assert.equal(20, delta("silk_tasks{on=recv,state=waiting}"))
    for _, t in ipairs(sleepers) do t:cancel() end
    for i = 1, 20 do ch:send(i) end
    for _, t in ipairs(receivers) do t:join() end
    for _, t in ipairs(sleepers) do t:join() end
    runnable:join()
    local after = scrape()
    for _, k in ipairs{ "silk_tasks{on=sleep,state=waiting}", "silk_tasks{on=recv,state=waiting}",
                        "silk_tasks{state=runnable}" } do
      assert.equal(before[k] or 0, after[k] or 0, k)
    end
    -- scrapes are served from the loop, between resumptions: no task runs
    assert.equal(0, after["silk_tasks{state=running}"])
  end)

  it("moves counters as pages are fetched and the runner counts", function()
    local before = scrape()
    metrics.describe("spec_pages_total", "counter", "Pages the spec fetched.")
    for _ = 1, 3 do
      assert(silk.fetch(base .. "/metrics"))
      metrics.add("spec_pages_total", 1, { status = 200 })
    end
    metrics.add("spec_errors_total", 2, { kind = 'say "hi"\\' })
    metrics.observe("spec_latency_seconds", 0.003)
    metrics.observe("spec_latency_seconds", 0.3)
    local after = scrape()
    local k = "silk_fetch_requests_total{outcome=completed}"
    assert.equal(before[k] + 4, after[k])
    assert.equal(before["silk_metrics_scrapes_total{}"] + 4, after["silk_metrics_scrapes_total{}"])
    assert.equal(3, after["spec_pages_total{status=200}"])
    assert.equal(2, after['spec_errors_total{kind=say "hi"\\}'])
    assert.is_true(after["silk_tasks_created_total{}"] >= before["silk_tasks_created_total{}"])
    -- histogram buckets are cumulative and end with +Inf = count
    assert.equal(1, after["spec_latency_seconds_bucket{le=0.005}"])
    assert.equal(2, after["spec_latency_seconds_bucket{le=0.5}"])
    assert.equal(2, after["spec_latency_seconds_bucket{le=+Inf}"])
    assert.equal(2, after["spec_latency_seconds_count{}"])
    assert.near(0.303, after["spec_latency_seconds_sum{}"], 1e-9)
  end)

  it("runs registered collectors before each exposition", function()
    local calls = 0
    local fn = metrics.collector(function()
      calls = calls + 1
      metrics.set("spec_queue", 7 * calls, { host = "a.example" })
    end)
    local s = scrape()
    assert.equal(1, calls)
    assert.equal(7, s["spec_queue{host=a.example}"])
    s = scrape()
    assert.equal(14, s["spec_queue{host=a.example}"])
    metrics.remove_collector(fn)
  end)

  it("answers 404 elsewhere, 405 to other methods, 431 to oversized heads", function()
    assert.equal(404, silk.fetch(base .. "/").status)
    assert.equal(405, silk.fetch{ url = base .. "/metrics", method = "DELETE" }.status)
    local big = assert(silk.fetch{ url = base .. "/metrics", headers = { ["X-Big"] = string.rep("x", 9000) } })
    assert.equal(431, big.status)
    assert.equal(200, silk.fetch(base .. "/metrics").status)   -- still serving
  end)

  -- tests/lib/slowclients.py in the background; the loop keeps serving
  -- while it runs. Returns a function that waits for and decodes its report.
  local function slow(conns, seconds)
    local out = os.tmpname()
    os.execute(("python3 tests/lib/slowclients.py --port %d --conns %d --seconds %g > %s 2>&1 &"):format(
      srv:port(), conns, seconds, out))
    local t0 = silk.now()
    repeat silk.sleep(0.05) until (io.open(out):read("*a")):find("ready") or silk.now() - t0 > 10
    return function()
      local report
      repeat
        silk.sleep(0.1)
        report = io.open(out):read("*a"):match("(%b{})")
      until report or silk.now() - t0 > seconds + 10
      os.remove(out)
      return require("cjson").decode(report)
    end
  end

  it("answers a scraper while 70 slow connections trickle their heads", function()
    local done = slow(70, 3)
    local res, err = silk.fetch{ url = base .. "/metrics", timeout = 2 }
    assert.is_truthy(res, tostring(err))
    assert.equal(200, res.status)
    done()
  end)

  it("closes a connection whose head is still not whole after 10 s, however it trickles", function()
    local done = slow(1, 13)
    local closed = done().closed_after[1]
    assert.is_number(closed, "still open after 13 s")
    assert.is_true(closed >= 9.5 and closed <= 12, "closed after " .. closed .. " s")
  end)
end)

-- A crawl's counts are kept once (crawl.lua's stats) and exported through
-- one collector: the exposition says what the stats say, also for the
-- counts that only some paths make (a hook's retry verdict, a sitemap that
-- does not parse), and the fetch layer's own retry counter agrees with them.
describe("the crawl's counts", function()
  package.path = "tests/lib/?.lua;" .. package.path
  local servers, files = require("servers"), require("files")
  local st, live, final, retried

  -- One crawl of a small site with robots.txt, refused and dropped items, a
  -- 404, a 500, a 503 and a reset (each retried once, retries = 1), a page
  -- on_response asks to retry, and a sitemap that is not XML.
  setup(function()
    local bad = servers.badserver{}
    local d = files.tmpdir()
    files.write(d .. "/robots.txt", "User-agent: *\nDisallow: /private/\n")
    files.write(d .. "/notxml.xml", "not xml at all")
    local links = { "/a.html", "/b.html", "/private/p.html", "/missing.html", "/again.html",
                    bad.url .. "/flaky-503?key=" .. tostring(silk.now()), bad.url .. "/reset-mid-body",
                    bad.url .. "/status?code=500" }
    local html = {}
    for _, l in ipairs(links) do html[#html + 1] = ('<a href="%s">x</a>'):format(l) end
    files.write(d .. "/index.html", table.concat(html, "\n"))
    for _, name in ipairs{ "a", "b", "again" } do files.write(d .. "/" .. name .. ".html", "<p>" .. name .. "</p>") end
    os.execute("mkdir -p " .. d .. "/private")
    files.write(d .. "/private/p.html", "<p>private</p>")
    local web = servers.nginx{ root = d }
    local fetch_core = require("silk.core.fetch")
    local retried0 = fetch_core.stats().retried
    local asked_again = false
    local run = require("silk.crawl").new(silk.spider{
      name = "counts", start_urls = { web.url .. "/index.html" }, sitemap_urls = { web.url .. "/notxml.xml" },
      retries = 1, concurrency = 4,
      pipelines = { function(item) if not item.drop then return item end end },
      on_response = function(res)
        if res.url:find("/again.html", 1, true) and not asked_again then
          asked_again = true
          return "retry"
        end
      end,
      parse = function(res, crawl)
        for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
        crawl:emit{ url = res.url }
        if res.url:find("/a.html", 1, true) then
          crawl:emit{ url = res.url, bad = function() end }   -- refused
          crawl:emit{ url = res.url, drop = true }            -- dropped by the pipeline
        end
      end,
    }, {})
    st = run:run()
    live = parse_exposition(metrics.render())
    run:close()
    final = parse_exposition(metrics.render())
    retried = fetch_core.stats().retried - retried0
    bad:stop()
    web:stop()
  end)

  it("go through what the crawl met", function()
    assert.equal(1, st.robots_blocked)
    assert.equal(1, st.items_refused)
    assert.equal(1, st.items_dropped)
    assert.equal(1, st.errors_by_kind.sitemap)
    assert.equal(1, st.errors_by_kind.reset)
    assert.equal(3, st.errors_by_kind.http)             -- the 404, the 500, the second 503
    assert.equal(1, st.by_status["404"])
  end)

  it("count the retries of a request that failed in the end, as the fetch layer does", function()
    -- the fetch layer retried the 503 and the reset once each; the crawl
    -- adds the one retry on_response asked for
    assert.equal(2, retried)
    assert.equal(retried + 1, st.retries)
  end)

  it("are the same in the stats and in /metrics, during the crawl and after it", function()
    for _, s in ipairs{ live, final } do
      local pages, errors = 0, 0
      for status, n in pairs(st.by_status) do
        assert.equal(n, s["silk_pages_total{status=" .. status .. "}"], "status " .. status)
        pages = pages + n
      end
      for kind, n in pairs(st.errors_by_kind) do
        assert.equal(n, s["silk_errors_total{kind=" .. kind .. "}"], "kind " .. kind)
        errors = errors + n
      end
      assert.equal(st.errors, errors)
      assert.equal(st.items, s["silk_items_total{}"])
      assert.equal(st.bytes, s["silk_bytes_total{}"])
      assert.equal(st.retries, s["silk_retries_total{}"])
      local listed = 0
      for k, n in pairs(s) do
        if k:match("^silk_pages_total{") then listed = listed + n end
      end
      assert.equal(pages, listed)
    end
    assert.equal(0, final["silk_in_flight{}"])
  end)
end)

describe("the metric registry", function()
  it("rejects bad names, type clashes and negative counter increments", function()
    assert.has_error(function() metrics.add("9bad", 1) end)
    assert.has_error(function() metrics.add("spec_ok_total", 1, { ["bad-label"] = "x" }) end)
    metrics.add("spec_clash", 1)
    assert.has_error(function() metrics.observe("spec_clash", 1) end)
    assert.has_error(function() metrics.add("spec_clash", -1) end)
    metrics.set("spec_gauge", 5)
    metrics.add("spec_gauge", -2)
    assert.equal(3, metrics.get("spec_gauge"))
  end)

  it("binds to loopback when only a port is given", function()
    local srv = assert(metrics.serve(":0"))
    local res = assert(silk.fetch("http://127.0.0.1:" .. srv:port() .. "/metrics"))
    assert.equal(200, res.status)
    srv:close()
    assert.is_nil((metrics.serve("not an address")))
  end)
end)
