-- Crawl requests are full requests (crawl:follow / crawl:request /
-- crawl:fetch options, cookies, POST and JSON through a jobdir), against
-- tests/lib/webapp.py.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local cjson = require("cjson")
local files = require("files")

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

local run = require("proc").silk

local function spider_file(src)
  local path = files.tmpdir() .. "/spider.lua"
  files.write(path, src)
  return path
end

local function items(path)
  local out = {}
  for l in (files.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = cjson.decode(l) end
  return out
end

-- Runs spider `src` with --jobdir against app, kill -9s it once at least
-- `least` of its 40 items are out, then runs it again to the end. Returns
-- the items.
local function killed_and_resumed(src, app, least)
  local d = files.tmpdir()
  local out, path = d .. "/items.jsonl", spider_file(src)
  local cmd = ("cd %s && START=%s %s run %s -o %s --jobdir %s/job >%s/log1 2>&1 & echo $!"):format(
    root, app.url, silk_bin, path, out, d, d)
  local pid = io.popen(cmd):read("*l")
  local deadline = engine.now() + 20
  repeat
    os.execute("sleep 0.05")
    local n = #items(out)
  until (n >= least and n < 40) or engine.now() > deadline
  os.execute("kill -9 " .. pid)
  os.execute("sleep 0.2")
  assert.is_true(#items(out) < 40, "killed too late")
  local status, log = run(("run %s -o %s --jobdir %s/job"):format(path, out, d), "START=" .. app.url)
  assert.equal(0, status, log)
  return items(out)
end

-- The login spider: submits the login form (its hidden CSRF token and the
-- first submit button come with it), then follows the members-only pages;
-- cookies come from the crawl's jar.
local LOGIN = [[
local silk = require("silk")
return silk.spider{
  name = "login", start_urls = { os.getenv("START") .. "/login" }, concurrency = 4,
  parse = function(res, crawl)
    assert(crawl:submit(res:one("form#login"), { user = "alice", password = "secret" },
                        { callback = "member" }))
  end,
  member = function(res, crawl)
    local h1 = res:one("h1")
    crawl:emit{ url = res.url, title = h1 and h1:text() or "(none)" }
    for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href"), { callback = "member" }) end
  end,
}
]]

describe("crawl requests", function()
  local app
  before_each(function() app = servers.webapp{ pages = 50 } end)
  after_each(function() app:stop() end)

  it("log in with crawl:submit, then crawl 50 members-only pages with the jar's cookie", function()
    local out = files.tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(spider_file(LOGIN), out), "START=" .. app.url)
    assert.equal(0, status, log)
    local got, titles = items(out), {}
    for _, it in ipairs(got) do titles[it.title] = (titles[it.title] or 0) + 1 end
    assert.equal(50, #got, log)
    for n = 1, 50 do assert.equal(1, titles["Member page " .. n], "page " .. n) end
    -- the POST went out as a POST, and the pages after it carried the session
    local posts, bare = 0, 0
    for _, e in ipairs(app.log()) do
      if e.method == "POST" then posts = posts + 1 end
      if e.path:find("^/members/") and not (e.cookie or ""):find("sid=") then bare = bare + 1 end
    end
    assert.equal(1, posts)
    assert.equal(0, bare)
  end)

  it("cookies = false sends no cookie, and cookies = {...} sends the request's own", function()
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "nocookie", start_urls = { os.getenv("START") .. "/wall/1" }, concurrency = 1,
  parse = function(res, crawl)
    crawl:follow("/api/echo?jar", { callback = "echo" })
    crawl:follow("/api/echo?none", { callback = "echo", cookies = false })
    crawl:follow("/api/echo?own", { callback = "echo", cookies = { flavour = "oat" } })
    crawl:follow("/api/echo?mine", { callback = "echo", session = "mine" })
  end,
  echo = function(res, crawl)
    local j = require("cjson").decode(res.body)
    crawl:emit{ url = res.url, cookie = j.cookie ~= require("cjson").null and j.cookie or "" }
  end,
}
]]
    local out = files.tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(spider_file(src), out), "START=" .. app.url)
    assert.equal(0, status, log)
    local by = {}
    for _, it in ipairs(items(out)) do by[it.url:match("%?(%a+)")] = it.cookie end
    assert.truthy(by.jar:find("^visitor="), by.jar)
    assert.equal("", by.none)
    assert.truthy(by.own:find("flavour=oat", 1, true), by.own)
    assert.truthy(by.own:find("visitor=", 1, true), by.own)   -- merged with the jar's
    assert.equal("", by.mine)                                  -- a jar of its own, still empty
  end)

  it("refuses an unknown option naming the closest, and a bad value naming the option", function()
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "typo", start_urls = { os.getenv("START") .. "/wall/1" },
  parse = function(res, crawl)
    local function try(what, fn) crawl:emit{ what = what, err = tostring(select(2, pcall(fn))) } end
    try("typo", function() crawl:follow("/wall/2", { calback = "parse" }) end)
    try("method", function() crawl:follow("/wall/2", { method = 5 }) end)
    try("two bodies", function() crawl:request{ url = "/wall/2", form = {a = "1"}, json = {} } end)
    try("proxy", function() crawl:follow("/wall/2", { proxy = "127.0.0.1:3128" }) end)
  end,
}
]]
    local out = files.tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(spider_file(src), out), "START=" .. app.url)
    assert.equal(0, status, log)
    local by = {}
    for _, it in ipairs(items(out)) do by[it.what] = it.err end
    assert.truthy(by.typo:find("unknown option 'calback' (did you mean 'callback'?)", 1, true), by.typo)
    assert.truthy(by.typo:find("spider.lua:%d+"), by.typo)   -- at the spider's line
    assert.truthy(by.method:find("option 'method'", 1, true), by.method)
    assert.truthy(by["two bodies"]:find("one of body, form and json", 1, true), by["two bodies"])
    assert.truthy(by.proxy:find("option 'proxy'", 1, true), by.proxy)
  end)

  it("dedupes POSTs by method, URL and body, and sends JSON as JSON", function()
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "posts", start_urls = { os.getenv("START") .. "/wall/1" },
  parse = function(res, crawl)
    local u = "/api/echo"
    crawl:emit{ n = 0, fresh = crawl:request{ url = u, json = { n = 1 }, callback = "echo" } }
    crawl:emit{ n = 0, fresh = crawl:request{ url = u, json = { n = 1 }, callback = "echo" } }
    crawl:emit{ n = 0, fresh = crawl:request{ url = u, json = { n = 2 }, callback = "echo" } }
    crawl:emit{ n = 0, fresh = crawl:follow(u, { method = "PUT", body = "x", callback = "echo" }) }
    crawl:emit{ n = 0, fresh = crawl:follow(u, { callback = "echo" }) }
  end,
  echo = function(res, crawl)
    local j = require("cjson").decode(res.body)
    crawl:emit{ n = 1, method = j.method, ctype = j.content_type, body = j.body }
  end,
}
]]
    local out = files.tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(spider_file(src), out), "START=" .. app.url)
    assert.equal(0, status, log)
    local fresh, sent = {}, {}
    for _, it in ipairs(items(out)) do
      if it.n == 0 then fresh[#fresh + 1] = it.fresh
      else sent[#sent + 1] = it.method .. " " .. it.ctype .. " " .. it.body end   -- libcurl's default type for a bare body
    end
    assert.same({ true, false, true, true, true }, fresh)
    table.sort(sent)
    assert.same({ "GET  ", "POST application/json {\"n\":1}", "POST application/json {\"n\":2}", "PUT application/x-www-form-urlencoded x" }, sent)
  end)

  it("queues POSTs with JSON bodies that survive kill -9 and a resume from the jobdir", function()
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "resume", start_urls = { os.getenv("START") .. "/wall/1" },
  concurrency = 1, delay = 0.1, obey_robots = false, checkpoint_interval = 0.2,
  start_requests = function(crawl)
    for i = 1, 40 do
      crawl:request{ url = os.getenv("START") .. "/api/echo", json = { n = i }, callback = "echo",
                     meta = { i = i } }
    end
  end,
  parse = function() end,
  echo = function(res, crawl)
    local j = require("cjson").decode(res.body)
    crawl:emit{ n = j.json.n, i = crawl.meta.i, method = j.method }
  end,
}
]]
    local seen = {}
    for _, it in ipairs(killed_and_resumed(src, app, 5)) do
      assert.equal("POST", it.method)
      assert.equal(it.n, it.i)
      assert.is_nil(seen[it.n], "item " .. it.n .. " twice")
      seen[it.n] = true
    end
    for i = 1, 40 do assert.is_true(seen[i], "item " .. i .. " missing") end
  end)

  it("crawl:fetch waits for the host's delay and robots.txt, even at concurrency 1", function()
    local src = [[
local silk = require("silk")
local cjson = require("cjson")
return silk.spider{
  name = "inline", start_urls = { os.getenv("START") .. "/api/items?page=1" },
  allowed_domains = { "127.0.0.1" },
  concurrency = 1, max_per_host = 1, delay = 0.3,
  parse = function(res, crawl)
    local page, n = cjson.decode(res.body), 0
    n = n + #page.items
    while page.next ~= cjson.null do
      local r, err = crawl:fetch("/api/items?page=" .. page.next)
      assert(r, tostring(err))
      page = cjson.decode(r.body)
      n = n + #page.items
    end
    local r, err = crawl:fetch("/private/x")
    local r2, err2 = crawl:fetch{ url = "http://example.invalid/x" }
    local ok, bad = pcall(function() crawl:fetch{ url = "/x", callback = "parse" } end)
    crawl:emit{ total = n, robots = err.kind, filtered = err2.kind, bad = tostring(bad) }
  end,
}
]]
    local out, stats = files.tmpdir() .. "/items.jsonl", files.tmpdir() .. "/stats.json"
    local status, log = run(("run %s -o %s --stats %s"):format(spider_file(src), out, stats), "START=" .. app.url)
    assert.equal(0, status, log)
    local it = items(out)[1]
    assert.equal(15, it.total)
    assert.equal("robots", it.robots)
    assert.equal("filtered", it.filtered)
    assert.truthy(it.bad:find("do not apply", 1, true), it.bad)
    local times = {}
    for _, e in ipairs(app.log()) do
      assert.is_nil(e.path:find("^/private"), "robots.txt disallows " .. e.path)
      if e.path:find("^/api/items") then times[#times + 1] = e.t end
    end
    assert.equal(5, #times)
    table.sort(times)
    -- the delay runs between dispatches: the first page's fetch waited for
    -- robots.txt after its dispatch, so it is the gaps between the four
    -- crawl:fetch requests that show the delay (0.3 s; 0.2 leaves room for
    -- one request's trip being slower than the next's on a loaded machine,
    -- and still fails when nothing waits)
    for i = 3, #times do
      assert.is_true(times[i] - times[i - 1] >= 0.2, ("requests %d and %d %.3f s apart"):format(
        i - 1, i, times[i] - times[i - 1]))
    end
    assert.equal(5, cjson.decode(files.read(stats)).pages)
  end)

  it("a session's jar reads out as cookie-file lines that load into another jar", function()
    local silk = require("silk")
    local fetch_core = require("silk.core.fetch")
    assert.same({}, fetch_core.cookies("never-used"))
    assert.truthy(silk.fetch{ url = app.url .. "/wall/1", session = "a" })
    local lines = fetch_core.cookies("a")
    assert.equal(1, #lines)
    assert.truthy(lines[1]:find("\tvisitor\t", 1, true), lines[1])
    assert.is_true(fetch_core.add_cookie("b", lines[1]))
    local res = assert(silk.fetch{ url = app.url .. "/api/echo", session = "b" })
    assert.equal(lines[1]:match("visitor\t(%x+)"), cjson.decode(res.body).cookie:match("visitor=(%x+)"))
    local ok, err = fetch_core.add_cookie("b", "ALL")
    assert.is_nil(ok)
    assert.truthy(err:find("not a cookie-file line", 1, true))
  end)

  it("rotates proxies, resting one that fails, and counts per proxy", function()
    local good = servers.fwdproxy()
    local dead = "http://127.0.0.1:" .. servers.free_port()
    local src = [[
local silk = require("silk")
local P = os.getenv("START")
return silk.spider{
  name = "proxies", obey_robots = false, concurrency = 1,
  proxies = { os.getenv("GOOD"), os.getenv("DEAD") }, proxy_failures = 2, proxy_rest = 600,
  start_requests = function(crawl)
    for i = 1, 12 do crawl:request{ url = P .. "/api/echo?n=" .. i, callback = "echo" } end
  end,
  parse = function() end,
  echo = function(res, crawl) crawl:emit{ url = res.url } end,
}
]]
    local out, stats = files.tmpdir() .. "/items.jsonl", files.tmpdir() .. "/stats.json"
    local status, log = run(("run %s -o %s --stats %s"):format(spider_file(src), out, stats),
      ("START=%s GOOD=%s DEAD=%s"):format(app.url, good.url, dead))
    local forwarded = 0
    for _, e in ipairs(good.log()) do if e.kind == "http" then forwarded = forwarded + 1 end end
    good:stop()
    assert.equal(0, status, log)
    assert.equal(12, #items(out), log)
    local st = cjson.decode(files.read(stats))
    local g, d = st.proxies[good.url], st.proxies[dead]
    assert.equal(12, g.requests)
    assert.equal(0, g.failures)
    assert.equal(2, d.failures)           -- then it rested for the rest of the crawl
    assert.equal(1, d.rested)
    assert.equal(12, forwarded)
  end)

  it("retires a pooled session that gets a 403 and retries its request on a fresh one", function()
    app:stop()
    app = servers.webapp{ block_after = 3 }
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "wall", start_urls = { os.getenv("START") .. "/wall/1" }, concurrency = 1, sessions = 2,
  user_agents = { "ua-one", "ua-two", "ua-three" },
  parse = function(res, crawl)
    crawl:emit{ title = res:one("h1"):text() }
    for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href")) end
  end,
}
]]
    local out, stats = files.tmpdir() .. "/items.jsonl", files.tmpdir() .. "/stats.json"
    local status, log = run(("run %s -o %s --stats %s"):format(spider_file(src), out, stats), "START=" .. app.url)
    assert.equal(0, status, log)
    assert.equal(30, #items(out), log)
    local st = cjson.decode(files.read(stats))
    assert.is_true(st.sessions_retired >= 8, "retired " .. st.sessions_retired)
    assert.equal(0, st.errors)
    local uas = {}
    for _, e in ipairs(app.log()) do if e.path:find("^/wall") then uas[e.ua] = true end end
    assert.is_true(uas["ua-one"] and uas["ua-two"] and uas["ua-three"])
  end)

  it("retires a session once when two of its requests are blocked together, and retries both", function()
    app:stop()
    app = servers.webapp{ block_after = 3 }
    -- four in flight on two sessions, each answer held 50 ms: each session
    -- carries two requests at once, and both come back blocked
    local src = [[
local silk = require("silk")
local starts = {}
for n = 1, 30 do starts[n] = os.getenv("START") .. "/wall/" .. n .. "?sleep=0.05" end
return silk.spider{
  name = "wall", start_urls = starts, concurrency = 4, sessions = 2, retries = 10,
  parse = function(res, crawl) crawl:emit{ title = res:one("h1"):text() } end,
}
]]
    local out, stats = files.tmpdir() .. "/items.jsonl", files.tmpdir() .. "/stats.json"
    local status, log = run(("run %s -o %s --stats %s"):format(spider_file(src), out, stats), "START=" .. app.url)
    assert.equal(0, status, log)
    assert.is_nil(log:find("inside silk", 1, true), log)
    assert.equal(30, #items(out), log)
    local st = cjson.decode(files.read(stats))
    assert.equal(0, st.errors)
    -- each retirement is of a visitor the wall blocked, which sent its
    -- cookie first: counted once, not once per blocked request
    local visitors, n = {}, 0
    for _, e in ipairs(app.log()) do
      local v = type(e.cookie) == "string" and e.cookie:match("visitor=(%w+)")
      if v and not visitors[v] then visitors[v], n = true, n + 1 end
    end
    assert.is_true(st.sessions_retired >= 4 and st.sessions_retired <= n,
                   ("retired %d, visitors %d"):format(st.sessions_retired, n))
  end)

  it("runs on_request, on_response and on_error hooks that change, drop and retry", function()
    local flag = files.tmpdir() .. "/closed"
    local src = [[
local silk = require("silk")
local P = os.getenv("START")
local retried = {}
local counter = {
  open = function(self, crawl) self.n = 0 end,
  process = function(self, item) self.n = self.n + 1; return item end,
  close = function(self, crawl)
    local f = io.open(os.getenv("FLAG"), "w"); f:write(self.n); f:close()
  end,
}
return silk.spider{
  name = "hooks", obey_robots = false, concurrency = 2, retries = 2,
  start_requests = function(crawl)
    for i = 1, 10 do crawl:request{ url = P .. "/wall/" .. i, callback = "page", dont_filter = true } end
    crawl:request{ url = P .. "/nope", callback = "page" }
  end,
  parse = function() end,
  page = function(res, crawl) crawl:emit{ n = tonumber(res.url:match("(%d+)$")) } end,
  on_request = function(req)
    req.user_agent = "hooked"
    if req.url:find("/wall/3$") then return false end
    if req.url:find("/wall/9$") then error("hook broke") end
  end,
  on_response = function(res, req)
    if res.url:find("/wall/5$") and not retried[5] then retried[5] = true; return "retry" end
    if res.url:find("/wall/7$") then return false end
  end,
  on_error = function(err, req) if err.status == 404 then return "retry" end end,
  pipelines = { counter },
}
]]
    local out, stats = files.tmpdir() .. "/items.jsonl", files.tmpdir() .. "/stats.json"
    local status, log = run(("run %s -o %s --stats %s"):format(spider_file(src), out, stats),
      ("START=%s FLAG=%s"):format(app.url, flag))
    assert.truthy(log:find("on_request failed on " .. app.url .. "/wall/9", 1, true), log)
    local ns = {}
    for _, it in ipairs(items(out)) do ns[#ns + 1] = it.n end
    table.sort(ns)
    assert.same({ 1, 2, 4, 5, 6, 8, 10 }, ns)
    assert.equal("7", files.read(flag))
    local st = cjson.decode(files.read(stats))
    assert.equal(3, st.dropped)          -- 3 and 9 before they were sent, 7 after
    assert.equal(1, st.hook_errors)
    assert.equal(1, st.errors_by_kind["retry"])
    assert.equal(1, st.errors)           -- /nope, once: its retried attempts are no errors
    local fetched = {}
    for _, e in ipairs(app.log()) do
      fetched[e.path] = (fetched[e.path] or 0) + 1
      if e.path ~= "/_log" then assert.equal("hooked", e.ua) end
    end
    assert.is_nil(fetched["/wall/3"])
    assert.equal(2, fetched["/wall/5"])
    assert.equal(3, fetched["/nope"])    -- retried twice, then given up
  end)

  it("pages waiting in crawl:fetch lose nothing to kill -9 and a resume", function()
    local src = [[
local silk = require("silk")
local cjson = require("cjson")
local P = os.getenv("START")
return silk.spider{
  name = "waiters", obey_robots = false, concurrency = 4, max_per_host = 4,
  checkpoint_interval = 0.2,
  start_requests = function(crawl)
    for i = 1, 40 do crawl:request{ url = P .. "/wall/" .. i, callback = "page" } end
  end,
  parse = function() end,
  page = function(res, crawl)
    local n = tonumber(res.url:match("(%d+)$"))
    local r = assert(crawl:fetch(P .. "/api/items?sleep=0.3&page=" .. (n % 5 + 1)))
    crawl:emit{ n = n, first = cjson.decode(r.body).items[1].id }
  end,
}
]]
    local seen = {}
    for _, it in ipairs(killed_and_resumed(src, app, 8)) do
      assert.is_nil(seen[it.n], "item " .. it.n .. " twice")
      assert.equal((it.n % 5) * 3 + 1, it.first)
      seen[it.n] = true
    end
    for i = 1, 40 do assert.is_true(seen[i], "item " .. i .. " missing") end
  end)

  it("carries method, body and meta through the Redis frontier", function()
    local redis = servers.redis{}
    local src = [[
local silk = require("silk")
return silk.spider{
  name = "redis_posts", start_urls = { os.getenv("START") .. "/wall/1" }, obey_robots = false,
  parse = function(res, crawl)
    for i = 1, 5 do
      crawl:request{ url = "/api/echo", method = "PUT", json = { n = i }, meta = { i = i },
                     headers = { ["X-N"] = tostring(i) }, callback = "echo" }
    end
  end,
  echo = function(res, crawl)
    local j = require("cjson").decode(res.body)
    crawl:emit{ n = j.json.n, i = crawl.meta.i, method = j.method }
  end,
}
]]
    local out = files.tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s --frontier %s/posts"):format(spider_file(src), out, redis.url),
      "START=" .. app.url)
    redis:stop()
    assert.equal(0, status, log)
    local got = items(out)
    assert.equal(5, #got, log)
    for _, it in ipairs(got) do
      assert.equal("PUT", it.method)
      assert.equal(it.i, it.n)
    end
  end)
end)

