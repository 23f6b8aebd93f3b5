-- `silk run` end to end: a generated site on a real nginx, the misbehaving
-- server for politeness, kill -9 and resume, bad input.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local cjson = require("cjson")

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

local files = require("files")
local tmpdir, write, read = files.tmpdir, files.write, files.read

local function lines(path)
  local out = {}
  for l in (read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local run = require("proc").silk

-- nginx serving a directory made of `pages` ({ ["/path"] = body }); also
-- returns the directory.
local function serve(pages)
  local d = tmpdir()
  for path, body in pairs(pages) do
    os.execute("mkdir -p " .. (d .. path):match("^(.*)/"))
    write(d .. path, body)
  end
  return servers.nginx{ root = d, access_log = true }, d
end

-- The site: 300 generated shop pages with a truth file, served by nginx,
-- and the spider that crawls it (tests/lib/shop.lua).
local shop = require("shop")
local site = shop.site{ pages = 300, seed = 7 }
local web, start, spider, check = site.web, site.start, shop.spider, site.check

-- Crawls `web` from /index.html with the spider source `src` (`args`: more
-- options, "%s" standing for a fresh directory), then stops the server.
-- Returns exit status, output, the server's access log entries, the directory.
local function crawl_once(web, src, args)
  local path = os.tmpname() .. ".lua"
  write(path, src)
  local d = tmpdir()
  local status, log = run(("run %s " .. args):format(path, d), "START=" .. web.url .. "/index.html")
  local entries = web:entries()
  web:stop()
  return status, log, entries, d
end

describe("silk run", function()
  teardown(function() web:stop() end)

  it("crawls every page once and extracts exactly the expected items", function()
    local out = tmpdir() .. "/items.jsonl"
    local stats = tmpdir() .. "/stats.json"
    web:reopen()
    local status, log = run(("run %s -o %s --stats %s"):format(spider(), out, stats), "START=" .. start)
    assert.equal(0, status, log)
    local v = check(out)
    assert.is_true(v.ok, cjson.encode(v))
    -- every page fetched exactly once, as nginx saw it
    local seen, twice = {}, 0
    for _, e in ipairs(web:entries()) do
      local path = e.request:match("^GET (%S+)")
      if path and path ~= "/robots.txt" then
        if seen[path] then twice = twice + 1 end
        seen[path] = true
      end
    end
    assert.equal(0, twice)
    local st = cjson.decode(read(stats))
    assert.is_true(st.robots_blocked > 0)        -- the generator disallows /private/
    assert.equal(0, st.errors)
  end)

  it("resolves every page's links against its own base, however many pages share them", function()
    -- the crawl remembers the links it queued by base directory and href
    -- (Run.links): a relative href is one link per directory, a query-only
    -- href one per page, and <base href> moves a page to another directory
    local silk = require("silk")
    local function links(...) local t = {} for i, h in ipairs{ ... } do t[i] = ('<a href="%s">l</a>'):format(h) end return table.concat(t) end
    local server = serve{
      ["/index.html"] = links("a/x.html", "b/y.html"),
      ["/a/x.html"] = links("p.html", "?q=1", "../c/z.html"),
      ["/b/y.html"] = links("p.html", "?q=1", "../c/z.html", "./p.html"),
      ["/c/z.html"] = '<base href="/a/">' .. links("p.html", "w.html"),
      ["/a/p.html"] = "<p>leaf</p>", ["/b/p.html"] = "<p>leaf</p>", ["/a/w.html"] = "<p>leaf</p>",
    }
    local got = {}
    local crawl = require("silk.crawl").new(silk.spider{
      name = "dirs", start_urls = { server.url .. "/index.html" }, concurrency = 1, obey_robots = false,
      parse = function(res, c)
        for _, a in ipairs(res:select("a")) do
          got[#got + 1] = ("%s %s %s"):format(res.url:match("//[^/]+(.*)"), a:attr("href"), tostring(c:follow(a:attr("href"))))
        end
      end }, {})
    crawl:run()
    crawl:close()
    local fetched = {}
    for _, e in ipairs(server:entries()) do fetched[#fetched + 1] = e.request:match("^GET (%S+)") end
    server:stop()
    table.sort(fetched)
    assert.same({ "/a/p.html", "/a/w.html", "/a/x.html", "/a/x.html?q=1", "/b/p.html", "/b/y.html",
                  "/b/y.html?q=1", "/c/z.html", "/index.html" }, fetched)
    table.sort(got)
    assert.same({ "/a/x.html ../c/z.html true", "/a/x.html ?q=1 true", "/a/x.html p.html true",
                  "/a/x.html?q=1 ../c/z.html false", "/a/x.html?q=1 ?q=1 false", "/a/x.html?q=1 p.html false",
                  "/b/y.html ../c/z.html false", "/b/y.html ./p.html false", "/b/y.html ?q=1 true",
                  "/b/y.html p.html true",
                  "/b/y.html?q=1 ../c/z.html false", "/b/y.html?q=1 ./p.html false", "/b/y.html?q=1 ?q=1 false",
                  "/b/y.html?q=1 p.html false",
                  "/c/z.html p.html false", "/c/z.html w.html true",
                  "/index.html a/x.html true", "/index.html b/y.html true" }, got)
  end)

  it("counts a link past max_depth as filtered, though another page queued it", function()
    local silk = require("silk")
    local server = serve{ ["/index.html"] = '<a href="p1.html">1</a><a href="p2.html">2</a>',
                          ["/p1.html"] = '<a href="p2.html">2</a>', ["/p2.html"] = '<a href="p1.html">1</a>' }
    local crawl = require("silk.crawl").new(silk.spider{
      name = "deep", start_urls = { server.url .. "/index.html" }, concurrency = 1, obey_robots = false,
      max_depth = 1,
      parse = function(res, c)
        for _, a in ipairs(res:select("a")) do c:follow(a:attr("href")) end
      end }, {})
    local st = crawl:run()
    crawl:close()
    server:stop()
    assert.equal(3, st.pages)
    assert.equal(2, st.filtered)
    assert.equal(0, st.duplicates)
  end)

  it("frees a page's document when its callback returns: a node kept past it raises", function()
    local silk = require("silk")
    local kept, inside
    local run = require("silk.crawl").new(silk.spider{
      name = "keep", start_urls = { start }, allowed_domains = { "127.0.0.1" }, max_pages = 1,
      parse = function(res)
        kept = res:one("title")
        inside = kept:text()
      end }, {})
    run:run()
    run:close()
    assert.is_truthy(inside)
    local ok, err = pcall(function() return kept:text() end)
    assert.is_false(ok)
    assert.matches("attempt to use a freed document", err)
  end)

  it("writes CSV and SQLite too", function()
    local d = tmpdir()
    local status, log = run(("run %s -o %s/items.csv -s max_pages=5"):format(spider(), d), "START=" .. start)
    assert.equal(0, status, log)
    local csv = lines(d .. "/items.csv")
    assert.equal("price,title,url", csv[1])
    assert.is_true(#csv > 10)
    status, log = run(("run %s -o %s/items.sqlite -s max_pages=5"):format(spider(), d), "START=" .. start)
    assert.equal(0, status, log)
    assert.is_true(tonumber(files.sqlite(d .. "/items.sqlite", "SELECT count(*) FROM items")) > 10)
  end)

  it("honours max_depth and allow/deny patterns", function()
    local d = tmpdir()
    local stats = d .. "/stats.json"
    local status = run(("run %s -o %s/a.jsonl -s max_depth=1 --stats %s"):format(spider(), d, stats),
                       "START=" .. start)
    assert.equal(0, status)
    local st = cjson.decode(read(stats))
    for depth in pairs(st.depth) do assert.is_true(tonumber(depth) <= 1) end
    local pages = st.pages
    status = run(("run %s -o %s/b.jsonl --stats %s"):format(spider('deny = { "/p/1%d" },'), d, stats),
                 "START=" .. start)
    assert.equal(0, status)
    for _, l in ipairs(lines(d .. "/b.jsonl")) do
      assert.is_nil(cjson.decode(l).url:find("/p/1%d"))
    end
    assert.is_true(pages > 1)
  end)

  it("keeps going when callbacks throw and pipelines drop or throw", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
      local silk = require("silk")
      return silk.spider{
        name = "faulty", start_urls = { os.getenv("START") }, max_pages = 30,
        allowed_domains = { "127.0.0.1" },
        pipelines = {
          function(item) if item.i % 3 == 0 then return nil end return item end,
          function(item) if item.i % 5 == 0 then error("pipeline broke") end return item end,
        },
        parse = function(res, crawl)
          for i = 1, 10 do crawl:emit{ url = res.url, i = i } end
          for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
          local page = tonumber(res.url:match("(%d+)%.html$") or "1")
          if page % 2 == 0 then error("callback broke on purpose") end
        end,
      }
    ]])
    local d = tmpdir()
    local status, log = run(("run %s -o %s/i.jsonl --stats %s/s.json"):format(path, d, d), "START=" .. start)
    assert.equal(0, status, log)
    local st = cjson.decode(read(d .. "/s.json"))
    assert.is_true(st.callback_errors > 5, read(d .. "/s.json"))
    assert.is_true(st.pipeline_errors > 0)
    assert.is_true(st.items_dropped > 0)
    assert.matches("callback parse failed on http://.-callback broke on purpose", log)
    assert.matches("stack traceback", log)
  end)

  it("emits 100 000 items from one page", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
      return require("silk").spider{
        name = "many", start_urls = { os.getenv("START") },
        parse = function(res, crawl) for i = 1, 100000 do crawl:emit{ i = i } end end,
      }
    ]])
    local d = tmpdir()
    local status, log = run(("run %s -o %s/i.jsonl"):format(path, d), "START=" .. start)
    assert.equal(0, status, log)
    assert.equal(100000, #lines(d .. "/i.jsonl"))
  end)

  it("never has more than max_per_host requests in flight at the server", function()
    local bad = servers.badserver{}
    local path = os.tmpname() .. ".lua"
    write(path, [[
      return require("silk").spider{
        name = "polite", start_urls = { os.getenv("START") }, concurrency = 32, max_per_host = 2,
        obey_robots = false,
        parse = function(res, crawl)
          for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
        end,
      }
    ]])
    -- 60 pages, each held 50 ms by the server, which counts concurrent requests
    local status, log = run("run " .. path, ("START='%s/tree/0?n=60&ms=50'"):format(bad.url))
    assert.equal(0, status, log)
    local key = "tree:" .. bad.url:match("^http://(.*)$")
    local stats = cjson.decode(io.popen(("curl -s '%s/concurrency/stats?key=%s'"):format(bad.url, key)):read("*a"))
    bad:stop()
    assert.equal(60, stats.total, cjson.encode(stats))
    assert.equal(2, stats.max, cjson.encode(stats))
  end)

  it("runs at most max_callbacks callbacks at once, the other responses waiting their turn", function()
    local bad = servers.badserver{}
    local path = os.tmpname() .. ".lua"
    write(path, [[
      local silk = require("silk")
      local running = 0
      return silk.spider{
        name = "gated", start_urls = { os.getenv("START") }, concurrency = 32, max_per_host = 32,
        max_callbacks = 3, obey_robots = false,
        parse = function(res, crawl)
          running = running + 1
          crawl:emit{ running = running }
          for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
          silk.sleep(0.02)
          running = running - 1
        end,
      }
    ]])
    -- 60 pages answered at once: up to 32 responses arrive while 3 callbacks sleep
    local out = tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(path, out), ("START='%s/tree/0?n=60&ms=0'"):format(bad.url))
    bad:stop()
    assert.equal(0, status, log)
    local most, n = 0, 0
    for _, l in ipairs(lines(out)) do
      n = n + 1
      most = math.max(most, cjson.decode(l).running)
    end
    assert.equal(60, n, log)
    assert.equal(3, most)
  end)

  it("resumes after kill -9 with every page and no duplicate or torn item", function()
    local d = tmpdir()
    local sp = spider("max_per_host = 4, concurrency = 4,")
    for k = 1, 5 do
      -- start, let it run a moment, kill it hard: 0.1 to 0.3 s, while the
      -- 300 pages are still being crawled
      os.execute(("cd %s && START=%s %s run %s -o %s/items.jsonl --jobdir %s/job -s checkpoint_interval=0.05 >/dev/null 2>&1 & pid=$!; sleep %.2f; kill -9 $pid; wait $pid 2>/dev/null"):format(
        root, start, silk_bin, sp, d, d, 0.05 + 0.05 * k))
    end
    local status, log = run(("run %s -o %s/items.jsonl --jobdir %s/job"):format(sp, d, d), "START=" .. start)
    assert.equal(0, status, log)
    local v = check(d .. "/items.jsonl")
    assert.is_true(v.ok, cjson.encode(v))
  end)

  it("replays stored responses without the network (--http-cache)", function()
    local d = tmpdir()
    -- one request at a time: both runs visit the same 20 pages in the same order
    local args = "-s max_pages=20 -s concurrency=1"
    local status, log = run(("run %s -o %s/a.jsonl --http-cache %s/cache %s"):format(spider(), d, d, args),
                            "START=" .. start)
    assert.equal(0, status, log)
    local nginx_before = #web:entries()
    status, log = run(("run %s -o %s/b.jsonl --http-cache %s/cache %s"):format(spider(), d, d, args),
                      "START=" .. start)
    assert.equal(0, status, log)
    assert.matches("http cache: %d+ hits, 0 misses", log)
    -- nothing, robots.txt included, went to the server the second time
    assert.equal(nginx_before, #web:entries())
    local function items(path)
      local out = {}
      for _, l in ipairs(lines(path)) do
        local it = cjson.decode(l)
        out[#out + 1] = it.url .. " " .. it.title .. " " .. it.price
      end
      table.sort(out)
      return out
    end
    assert.is_true(#items(d .. "/a.jsonl") >= 190)
    assert.same(items(d .. "/a.jsonl"), items(d .. "/b.jsonl"))
  end)

  it("refuses bad input with a clear message before crawling", function()
    local d = tmpdir()
    local nothing = os.tmpname() .. ".lua"
    write(nothing, "local x = 1\n")
    local status, log = run("run " .. nothing)
    assert.equal(2, status)
    assert.matches("returned nothing", log)

    local typo = os.tmpname() .. ".lua"
    write(typo, [[return require("silk").spider{ name = "t", start_urls = {"http://127.0.0.1/"},
      concurency = 4, parse = function() end }]])
    status, log = run("run " .. typo)
    assert.equal(2, status)
    assert.matches("unknown setting 'concurency' %(did you mean 'concurrency'%?%)", log)

    status, log = run("run " .. spider() .. " -s max_pagez=3", "START=" .. start)
    assert.equal(2, status)
    assert.matches("did you mean 'max_pages'", log)

    status, log = run("run " .. spider(), "START=ftp://example.invalid/")
    assert.equal(2, status)
    assert.matches("invalid start URL", log)

    status, log = run(("run %s -o /nonexistent/dir/items.jsonl"):format(spider()), "START=" .. start)
    assert.equal(2, status)
    assert.matches("cannot write items to /nonexistent/dir/items.jsonl", log)

    local other = os.tmpname() .. ".lua"
    write(other, [[return require("silk").spider{ name = "other", start_urls = {os.getenv("START")},
      max_pages = 1, parse = function() end }]])
    assert.equal(0, (run(("run %s --jobdir %s/job"):format(other, d), "START=" .. start)))
    status, log = run(("run %s --jobdir %s/job"):format(spider(), d), "START=" .. start)
    assert.equal(2, status)
    assert.matches('belongs to spider "other"', log)
  end)

  it("stops gracefully on SIGINT, exits 0 and resumes from its jobdir", function()
    local d = tmpdir()
    local sp = spider("delay = 0.05, max_per_host = 1,")
    local p = io.popen(("cd %s && START=%s %s run %s -o %s/items.jsonl --jobdir %s/job 2>&1 & pid=$!; sleep 0.5; kill -INT $pid; wait $pid; echo \"exit:$?\""):format(
      root, start, silk_bin, sp, d, d))
    local out = p:read("*a")
    p:close()
    assert.equal("0", out:match("exit:(%d+)%s*$"), out)
    assert.matches("stopping gracefully", out)
    local first = #lines(d .. "/items.jsonl")
    local status = run(("run %s -o %s/items.jsonl --jobdir %s/job"):format(spider(), d, d), "START=" .. start)
    assert.equal(0, status)
    assert.is_true(check(d .. "/items.jsonl").ok)
    assert.is_true(first > 0)
  end)
end)

describe("allowed_domains", function()
  it("matches the host of a canonical URL, whatever its userinfo, port or query", function()
    local silk = require("silk")
    local run = require("silk.crawl").new(silk.spider{
      name = "allowed", allowed_domains = { "example.com", "[::1]" }, parse = function() end }, {})
    local cases = {
      ["http://example.com/a"] = true, ["http://sub.example.com:8080/a"] = true,
      ["http://u:p%40x@example.com/"] = true, ["http://[::1]:8080/x"] = true,
      ["http://example.com.evil.org/"] = false, ["http://notexample.com/"] = false,
      ["https://x.org/?h=example.com"] = false, ["http://example.com@x.org/"] = false,
    }
    for u, want in pairs(cases) do assert.are.equal(want, run:allowed_url(u), u) end
    run:close()
  end)
end)

describe("the example spiders", function()
  local demo = tmpdir()
  local dport = servers.free_port()
  assert(os.execute(("python3 demo/gen.py %s/site --base-url http://127.0.0.1:%d >/dev/null"):format(demo, dport)) == 0)
  local shop = servers.nginx{ root = demo .. "/site", port = dport }
  local base = shop.url .. "/"
  teardown(function() shop:stop() end)

  local books = {}
  for _, l in ipairs(lines(demo .. "/site.truth.jsonl")) do
    local b = cjson.decode(l)
    books[b.url] = b
  end

  local function same_books(path)
    local n = 0
    for _, l in ipairs(lines(path)) do
      local item = cjson.decode(l)
      assert.same(books[item.url], item)
      n = n + 1
    end
    local expected = 0
    for _ in pairs(books) do expected = expected + 1 end
    assert.equal(expected, n)
  end

  it("bookshop.lua extracts every book once by following the catalogue", function()
    local d = tmpdir()
    local status, log = run(("run spiders/bookshop.lua -o %s/b.jsonl"):format(d), "BOOKSHOP_URL=" .. base)
    assert.equal(0, status, log)
    same_books(d .. "/b.jsonl")
  end)

  it("sitemap.lua extracts every book from the sitemaps alone (index, plain and gzipped)", function()
    local d = tmpdir()
    local status, log = run(("run spiders/sitemap.lua -o %s/b.jsonl"):format(d), "BOOKSHOP_URL=" .. base)
    assert.equal(0, status, log)
    same_books(d .. "/b.jsonl")
  end)

  it("fanout.lua summarises every catalogue page with a scope of child fetches", function()
    local d = tmpdir()
    local status, log = run(("run spiders/fanout.lua -o %s/p.jsonl"):format(d), "BOOKSHOP_URL=" .. base)
    assert.equal(0, status, log)
    local pages, total = 0, 0
    for _, l in ipairs(lines(d .. "/p.jsonl")) do
      local p = cjson.decode(l)
      pages = pages + 1
      total = total + p.books
      assert.is_true(p.in_stock <= p.books)
    end
    local expected = 0
    for _ in pairs(books) do expected = expected + 1 end
    assert.equal(expected, total)
    assert.is_true(pages > 1)
  end)

  it("honours robots.txt crawl-delay, measured by the server", function()
    local dir = tmpdir()
    write(dir .. "/robots.txt", "User-agent: *\nCrawl-delay: 0.2\nDisallow: /secret\n")
    local links = {}
    for i = 1, 5 do
      write(("%s/p%d.html"):format(dir, i), "<p>page</p>")
      links[#links + 1] = ('<a href="p%d.html">p</a> <a href="secret%d.html">s</a>'):format(i, i)
    end
    write(dir .. "/index.html", table.concat(links, "\n"))
    local web2 = servers.nginx{ root = dir, access_log = true }
    local status, log, entries, d = crawl_once(web2, [[return require("silk").spider{ name = "slow",
      start_urls = { os.getenv("START") },
      parse = function(res, crawl) for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href")) end end }]],
      "--stats %s/s.json")
    assert.equal(0, status, log)
    local times = {}
    for _, e in ipairs(entries) do
      if not e.request:find("robots") then times[#times + 1] = e.msec end
      assert.is_nil(e.request:find("secret"))
    end
    assert.equal(6, #times)
    table.sort(times)
    for i = 2, #times do
      assert.is_true(times[i] - times[i - 1] >= 0.19, ("requests %.3f s apart"):format(times[i] - times[i - 1]))
    end
    assert.equal(5, cjson.decode(read(d .. "/s.json")).robots_blocked)
  end)
end)

describe("<base href> in a crawl", function()
  -- A page with <base href="/other/">, redirects to a page with a relative
  -- <base> and to one without: every link must resolve against the
  -- document base URL, which starts from the response's final URL.
  local pages = {
    ["index.html"] = '<!DOCTYPE html><html><head><base href="/other/"></head><body>'
      .. '<a href="a.html">a</a><a href="sub/b.html">b</a><a href="/abs.html">abs</a>'
      .. '<a href="/redir">r</a><a href="/redir2">r2</a><a href="/bad/base.html">bad</a>'
      .. '<a href="/notes.txt">txt</a></body></html>',
    -- an invalid base URL leaves the response URL; text/plain has no <base>
    ["bad/base.html"] = '<!DOCTYPE html><base href="http://[bad/"><a href="e.html">e</a>',
    ["notes.txt"] = '<base href="/nope/"><a href="n.html">n</a>',
    ["bad/e.html"] = "<p>e</p>", ["n.html"] = "<p>n</p>",
    -- over 2 KB, so parsed on a worker: a wait, from a gsub callback
    ["deep/dir/page.html"] = '<!DOCTYPE html><head><base href="up/"></head><a href="c.html">c</a>'
      .. string.rep("<p>filler</p>", 300),
    ["x/y/plain.html"] = '<!DOCTYPE html><a href="d.html">d</a>',
    ["other/a.html"] = "<p>a</p>", ["other/sub/b.html"] = "<p>b</p>", ["abs.html"] = "<p>abs</p>",
    ["deep/dir/up/c.html"] = "<p>c</p>", ["x/y/d.html"] = "<p>d</p>",
  }
  -- The index is parsed by its callback before it follows; the other pages
  -- are not (links by pattern, followed from a string.gsub callback), so
  -- only a page with a <base> gets parsed,
  -- once, to learn its base. parse and parse_async are counted, not replaced.
  local spider_base = [[
local silk = require("silk")
local html = require("silk.core.html")
local parses = 0
for _, f in ipairs{ "parse", "parse_async" } do
  local real = html[f]
  html[f] = function(...) parses = parses + 1; return real(...) end
end
return silk.spider{
  name = "base", start_urls = { os.getenv("START") },
  parse = function(res, crawl)
    local before = parses
    if res.url:find("index") then
      for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href")) end
    else
      -- from a string.gsub callback, where a wait cannot yield
      res.body:gsub('<a href="([^"]+)"', function(href) crawl:follow(href) end)
    end
    local links = {}
    if res.url:find("index") then
      for _, l in ipairs(res:html():links()) do links[#links + 1] = l.url end
    end
    crawl:emit{ url = res.url, parses = parses - before, joined = res:urljoin("j.html"), links = links }
  end,
}
]]

  it("resolves followed links and res:urljoin against the base, after redirects, parsing no page twice", function()
    local dir = tmpdir()
    for name, body in pairs(pages) do
      os.execute("mkdir -p " .. dir .. "/" .. (name:match("^(.*)/") or "."))
      write(dir .. "/" .. name, body)
    end
    local web3 = servers.nginx{ root = dir, access_log = true,
      server_extra = "    location = /redir { return 302 /deep/dir/page.html; }\n"
                  .. "    location = /redir2 { return 301 /x/y/plain.html; }\n" }
    local status, log, entries, d = crawl_once(web3, spider_base, "-o %s/items.jsonl")
    assert.equal(0, status, log)
    local requested = {}
    for _, e in ipairs(entries) do
      local p = e.request:match("^%S+ (%S+)")
      if p ~= "/robots.txt" then requested[#requested + 1] = p .. " " .. e.status end
    end
    table.sort(requested)
    assert.same({ "/abs.html 200", "/bad/base.html 200", "/bad/e.html 200", "/deep/dir/page.html 200",
                  "/deep/dir/up/c.html 200", "/index.html 200", "/n.html 200", "/notes.txt 200",
                  "/other/a.html 200", "/other/sub/b.html 200", "/redir 302", "/redir2 301",
                  "/x/y/d.html 200", "/x/y/plain.html 200" }, requested)
    local got, links = {}, nil
    for _, l in ipairs(lines(d .. "/items.jsonl")) do
      local it = cjson.decode(l)
      if it.url:find("index") then links = it.links end
      got[it.url:gsub("^http://[^/]+", "")] = { it.parses, (it.joined:gsub("^http://[^/]+", "")) }
    end
    assert.same({ 1, "/other/j.html" }, got["/index.html"])
    assert.same({ 1, "/deep/dir/up/j.html" }, got["/deep/dir/page.html"])
    assert.same({ 0, "/x/y/j.html" }, got["/x/y/plain.html"])
    assert.same({ 0, "/other/j.html" }, got["/other/a.html"])
    assert.same({ 1, "/bad/j.html" }, got["/bad/base.html"])
    assert.same({ 0, "/j.html" }, got["/notes.txt"])
    -- doc:links() resolves against the same base
    for i, u in ipairs(links) do links[i] = u:gsub("^http://[^/]+", "") end
    assert.same({ "/other/a.html", "/other/sub/b.html", "/abs.html", "/redir", "/redir2", "/bad/base.html",
                  "/notes.txt" }, links)
  end)
end)

describe("silk run refuses at start, naming the field (exit 2, nothing fetched)", function()
  -- `timeout 20`: on main, concurrency=0 never ended
  local function refused(src, args)
    local path = os.tmpname() .. ".lua"
    src = src or ""
    local urls = src:find("start_urls") and "" or ("start_urls = { %q },"):format(start)
    write(path, ([[return require("silk").spider{ name = "v", %s
      parse = function() end, %s }]]):format(urls, src))
    local p = io.popen(("cd %s && timeout 20 %s run %s %s 2>&1; echo \"exit:$?\""):format(
      root, silk_bin, path, args or ""))
    local out = p:read("*a")
    p:close()
    return tonumber(out:match("exit:(%d+)%s*$")), out
  end

  local cases = {
    { args = "-s concurrency=0", says = "%-s concurrency=0: setting concurrency: must be more than 0" },
    { args = "-s max_per_host=0", says = "setting max_per_host: must be more than 0" },
    { args = "-s concurrency=2.5", says = "setting concurrency: a whole number expected" },
    { src = "timeout = 0,", says = "setting timeout: must be more than 0, got 0" },
    { src = "task_timeout = 0,", says = "setting task_timeout: must be more than 0" },
    { src = "pipelines = function(item) return item end,",
      says = "pipelines: a list of functions or tables expected, got function" },
    { src = "pipelines = { function(item) return item end, 'lower' },",
      says = "pipelines%[2%]: a function or a table expected, got string" },
    { src = "start_urls = 'http://127.0.0.1/',", says = "start_urls: a list of strings expected, got string" },
    { src = "proxies = { '127.0.0.1:3128' },", says = "proxies%[1%]: a URL %(scheme://host:port%) expected" },
    { src = "pipelines = { { open = function() end } },", says = "pipelines%[1%]: a table without a process function" },
    { src = "err_back = function() end,", says = "unknown field 'err_back' %(did you mean 'errback'%?%)" },
    { src = "start_request = function() end,",
      says = "unknown field 'start_request' %(did you mean 'start_requests'%?%)" },
    { args = "-o /dev/silk-spec-" .. os.time() .. ".jsonl", says = "would create a file in /dev" },
  }
  for _, c in ipairs(cases) do
    it(c.src or c.args, function()
      local status, out = refused(c.src, c.args)
      local dev = (c.args or ""):match("^%-o (/dev/.*)")
      if dev then os.remove(dev) end            -- what main left behind
      assert.equal(2, status, out)
      assert.matches(c.says, out)
      assert.not_matches("traceback", out)
    end)
  end

  it("still takes callbacks whose names only start like a field's (parse_item, parsed)", function()
    local status, out = refused("start_urls = {}, parse_item = function() end, parsed = function() end,")
    assert.equal(0, status, out)
  end)

  it("creates nothing in /dev", function()
    refused("start_urls = {},", "-o /dev/silk-spec-nothing.jsonl")
    local made = io.open("/dev/silk-spec-nothing.jsonl")
    if made then made:close() os.remove("/dev/silk-spec-nothing.jsonl") end
    assert.is_nil(made)
  end)
end)

describe("crawl:emit from a task the callback left running", function()
  local dir = tmpdir()
  write(dir .. "/index.html", '<a href="a.html">a</a> <a href="b.html">b</a>')
  write(dir .. "/a.html", "a")
  write(dir .. "/b.html", "b")
  local site = servers.nginx{ root = dir }
  teardown(function() site:stop() end)

  it("raises at the call, naming the fix, and the run does not end in success; joined tasks emit", function()
    local sp = os.tmpname() .. ".lua"
    write(sp, [[
local silk = require("silk")
return silk.spider{
  name = "late", start_urls = { os.getenv("START") }, concurrency = 1, delay = 0.1,
  parse = function(res, crawl)
    silk.spawn(function() crawl:emit{ url = res.url, how = "joined" } end):join()
    silk.spawn(function() silk.sleep(0.03) crawl:emit{ url = res.url, how = "late" } end)
    crawl:emit{ url = res.url, how = "direct" }
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}]])
    local out = tmpdir() .. "/items.jsonl"
    local status, log = run(("run %s -o %s"):format(sp, out), "START=" .. site.url .. "/index.html")
    assert.is_true(status ~= 0, log)
    assert.matches("crawl:emit after the callback returned: its page's items are already committed; "
                   .. "join the task that emits %(task:join%(%), or silk.scope%) before returning", log)
    local how = {}
    for _, l in ipairs(lines(out)) do
      local it = cjson.decode(l)
      how[it.how] = (how[it.how] or 0) + 1
    end
    assert.same({ joined = 3, direct = 3 }, how)
  end)
end)

describe("pipelines", function()
  local dir = tmpdir()
  write(dir .. "/index.html", '<a href="p1.html">1</a><a href="p2.html">2</a><a href="p3.html">3</a>')
  for i = 1, 3 do write(("%s/p%d.html"):format(dir, i), "<p>page</p>") end
  local site = servers.nginx{ root = dir }
  teardown(function() site:stop() end)

  it("run under task_timeout: one that never returns costs its page's items, not the crawl", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
      local silk = require("silk")
      return silk.spider{
        name = "stuck-pipeline", start_urls = { os.getenv("START") },
        task_timeout = 1, concurrency = 2,
        pipelines = {
          function(item)
            if item.url:match("/index%.html$") and item.i == 4 then while true do end end
            return item
          end,
        },
        parse = function(res, crawl)
          for i = 1, 10 do crawl:emit{ url = res.url, i = i } end
          for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
        end,
      }
    ]])
    local d = tmpdir()
    local t0 = os.time()
    local status, log = run(("run %s -o %s/i.jsonl --stats %s/s.json"):format(path, d, d),
                            "START=" .. site.url .. "/index.html")
    assert.equal(0, status, log)
    assert.is_true(os.time() - t0 < 30)
    local st = cjson.decode(read(d .. "/s.json"))
    -- the index's items 4 to 10 never came through; its first three did
    assert.equal(7, st.pipeline_errors, log)
    assert.matches("pipeline error on an item of .-/index.html: timeout", log)
    assert.equal(4, st.pages)
    assert.equal(4 * 10 - 7, st.items)
    assert.equal(st.items, #lines(d .. "/i.jsonl"))
  end)
end)

describe("task_timeout", function()
  local dir = tmpdir()
  write(dir .. "/index.html", "<p>x</p>")
  local site = servers.nginx{ root = dir }
  teardown(function() site:stop() end)

  it("ends a callback that loops in crawl:follow without ever waiting (issue 15.9)", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
      return require("silk").spider{
        name = "follow-loop", start_urls = { os.getenv("START") }, task_timeout = 1,
        parse = function(res, crawl) while true do crawl:follow("/x") end end,
      }
    ]])
    local d = tmpdir()
    local t0 = os.time()
    local status, log = run(("run %s --stats %s/s.json"):format(path, d), "START=" .. site.url .. "/index.html")
    assert.equal(0, status, log)
    -- it ran 12 and 16 s with task_timeout = 3 when silk's Lua was never interrupted
    assert.is_true(os.time() - t0 < 8, log)
    -- crawl:follow's own check or the preemption tick, whichever sees the
    -- deadline first, ends the loop; both name the task and the deadline
    assert.matches("timeout: task %d+ exceeded its deadline", log)
    assert.equal(1, cjson.decode(read(d .. "/s.json")).callback_errors)
  end)
end)

describe("requests in flight", function()
  local app = servers.webapp{}
  teardown(function() app:stop() end)

  it("hold no task while they wait on the network (issue 19.2)", function()
    -- eight slow requests are in flight when page 2's callback runs (0.3 s
    -- into their 1 s): only that page's own request has a task then
    local path = os.tmpname() .. ".lua"
    write(path, [[
      local silk = require("silk")
      return silk.spider{
        name = "inflight", start_urls = { os.getenv("START") .. "/api/items?page=1" },
        concurrency = 16, max_per_host = 16,
        parse = function(res, crawl)
          for i = 1, 8 do crawl:follow("/api/echo?sleep=1&i=" .. i, { callback = "slow" }) end
          crawl:follow("/api/items?page=2&sleep=0.3", { callback = "count" })
        end,
        slow = function() end,
        count = function(res, crawl)
          local n = 0
          for _, t in ipairs(silk.tasks()) do if t.name == "request" then n = n + 1 end end
          crawl:emit{ request_tasks = n, in_flight = require("silk.core.fetch").stats().in_flight }
        end,
      }
    ]])
    local d = tmpdir()
    local status, log = run(("run %s -o %s/out.jsonl"):format(path, d), "START=" .. app.url)
    assert.equal(0, status, log)
    local item = cjson.decode(read(d .. "/out.jsonl"))
    assert.equal(8, item.in_flight)
    assert.equal(1, item.request_tasks)
  end)
end)
