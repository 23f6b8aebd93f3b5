-- silk.testing: responses built from strings and saved pages behave as
-- fetched ones, and the crawl double records what a callback asks for.
local silk = require("silk")
local testing = require("silk.testing")
local files = require("tests.lib.files")

describe("testing.response", function()
  it("has the metatable and methods of a fetched response", function()
    local res = testing.response{ url = "http://shop.test/a/b.html",
                                  body = "<html><h1> Hi </h1><a href='c.html'>c</a></html>" }
    assert.equal("silk.response", getmetatable(res).__name)
    assert.equal(200, res.status)
    assert.equal("Hi", res:one("h1"):text())
    assert.equal(1, #res:select("a"))
    assert.equal("http://shop.test/a/c.html", res:urljoin("c.html"))
    assert.equal("http://shop.test/a/b.html", res:base_url())
    assert.equal("text/html; charset=utf-8", res:header("Content-Type"))
  end)

  it("resolves links against <base href>, decodes the declared charset and keeps repeated headers", function()
    local res = testing.response{ url = "http://shop.test/x/", status = 404,
      body = "<base href='/root/'><p>caf\233</p>",
      headers = { ["Content-Type"] = "text/html; charset=iso-8859-1", ["Set-Cookie"] = { "a=1", "b=2" } } }
    assert.equal(404, res.status)
    assert.equal("http://shop.test/root/p", res:urljoin("p"))
    assert.equal("café", res:one("p"):text())
    assert.same({ "a=1", "b=2" }, res:headers_all("set-cookie"))
    assert.equal("a=1, b=2", res.headers["SET-COOKIE"])
  end)

  it("refuses bad fields, naming them", function()
    assert.has_error(function() testing.response{ body = "x" } end,
                     "testing.response: url: an http(s) URL expected, got nil")
    assert.has_error(function() testing.response{ url = "ftp://x/" } end,
                     'testing.response: url: an http(s) URL expected, got "ftp://x/"')
    assert.has_error(function() testing.response{ url = "http://x/", status = 42 } end,
                     "testing.response: status: a number from 100 to 599 expected, got 42")
    assert.has_error(function() testing.response{ url = "http://x/", headers = { a = {} == 1 } } end,
                     "testing.response: headers.a: string expected, got boolean")
  end)
end)

describe("testing.from_file", function()
  it("reads a saved page with a content type from its extension", function()
    local dir = files.tmpdir()
    files.write(dir .. "/page.html", "<title>T</title><a href='/x'>x</a>")
    local res = testing.from_file(dir .. "/page.html", "https://shop.test/list/")
    assert.equal("T", res:html():title())
    assert.equal("https://shop.test/x", res:urljoin("/x"))
    assert.equal("http://fixture.test/page.html", testing.from_file(dir .. "/page.html").url)
    assert.has_error(function() testing.from_file(dir .. "/nope.html") end,
                     ("testing.from_file: cannot read %s/nope.html: %s/nope.html: No such file or directory"):format(dir, dir))
  end)
end)

describe("testing.crawl", function()
  local spider = silk.spider{
    name = "t",
    parse = function(res, crawl)
      for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href"), { callback = "item" }) end
      crawl:emit{ page = crawl.meta.page, url = res.url }
    end,
    item = function() end,
  }

  it("records follows resolved against the page, once each, and emitted items", function()
    local res = testing.response{ url = "http://shop.test/cat/",
      body = "<base href='/b/'><a href='1'>1</a><a href='1#x'>1 again</a><a href='http://o.test/2'>2</a>" }
    local crawl = testing.call(spider, "parse", res, { meta = { page = 3 } })
    assert.same({ "http://shop.test/b/1", "http://o.test/2" },
                { crawl.follows[1].url, crawl.follows[2].url })
    assert.equal(2, #crawl.follows)
    assert.equal("item", crawl.follows[1].callback)
    assert.same({ { page = 3, url = "http://shop.test/cat/" } }, crawl.items)
  end)

  it("refuses an item the real crawl refuses, and records fetches and submits", function()
    local other = testing.response{ url = "http://shop.test/api", body = "{}" }
    local crawl = testing.crawl{ responses = { ["http://shop.test/api"] = other } }
    local ok, err = crawl:emit{ price = function() end }
    assert.is_false(ok)
    assert.matches("^item.price: function", err.message or tostring(err))
    assert.equal(other, crawl:fetch("http://shop.test/api"))
    local none, e = crawl:fetch{ url = "http://shop.test/none" }
    assert.is_nil(none)
    assert.equal("invalid", e.kind)
    assert.equal(2, #crawl.fetches)
    local page = testing.response{ url = "http://shop.test/login", body = [[
      <form action="/in" method="post"><input type="hidden" name="csrf" value="t1">
      <input name="user"><input type="password" name="pw"><button name="go" value="1">go</button></form>]] }
    local c2 = testing.crawl{ spider = spider, response = page }
    assert.is_true(c2:submit(page:one("form"), { user = "ann", pw = "x" }, { callback = "item" }))
    assert.same({ url = "http://shop.test/in", href = "http://shop.test/in", method = "POST", callback = "item",
                  body = "csrf=t1&user=ann&pw=x&go=1",
                  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } }, c2.submits[1])
    assert.is_false(c2:submit(page:one("form"), { user = "ann", pw = "x" }, { callback = "item" }))
  end)

  it("checks options as the real crawl does, records callbacks by name, and requests", function()
    local res = testing.response{ url = "http://shop.test/a/" }
    local crawl = testing.crawl{ spider = spider, response = res }
    assert.has_error(function() crawl:follow("x", { calback = "item" }) end)
    assert.has_error(function() crawl:follow("x", { callback = "nope" }) end)
    assert.is_true(crawl:follow("x", { callback = spider.item, meta = { n = 1 } }))
    assert.same({ url = "http://shop.test/a/x", href = "x", callback = "item", meta = { n = 1 } }, crawl.follows[1])
    assert.is_true(crawl:request{ url = "/s", method = "POST", form = { q = "lua" } })
    assert.is_true(crawl:request{ url = "/s", method = "POST", form = { q = "c" } })
    assert.is_false(crawl:request{ url = "/s", method = "POST", form = { q = "lua" } })
    assert.equal("http://shop.test/s", crawl.follows[2].url)
    assert.equal("q=lua", crawl.follows[2].body)
    assert.equal("http://shop.test/b", (crawl:resolve("/b")))
    assert.has_error(function() crawl:fetch{ url = "/api", callback = "item" } end)
  end)

  it("has every method of the real crawl object", function()
    local real = require("silk.crawl").Crawl
    for name, v in pairs(real) do
      if type(v) == "function" and name:sub(1, 2) ~= "__" then
        assert.is_function(testing.crawl()[name], "testing.crawl lacks crawl:" .. name)
      end
    end
  end)
end)

describe("the README's spider test", function()
  it("passes against spiders/bookshop.lua", function()
    local readme = files.read("README.md")
    local code = readme:match("```lua\n(%-%- spec/bookshop_spec%.lua\n.-)```")
    assert.truthy(code, "README.md has no spec/bookshop_spec.lua example")
    local ran = 0
    local env = setmetatable({
      describe = function(_, fn) fn() end,
      it = function(_, fn) fn(); ran = ran + 1 end,
    }, { __index = getfenv(1) })
    setfenv(assert(loadstring(code, "=README.md")), env)()
    assert.equal(2, ran)
  end)
end)

describe("silk run --record and testing.replay", function()
  package.path = "tests/lib/?.lua;" .. package.path
  local servers = require("servers")
  local silk_bin = require("silk.core.engine").exe()

  it("serve back what a crawl fetched, as responses a callback is tested on", function()
    local site, dir = files.tmpdir(), files.tmpdir()
    files.write(site .. "/index.html", '<a href="b.html">b</a>')
    files.write(site .. "/b.html", "<h1>Bee</h1>")
    local web = servers.nginx{ root = site }
    files.write(dir .. "/s.lua", ([[
      local silk = require("silk")
      return silk.spider{ name = "rec", start_urls = { %q },
        parse = function(res, crawl)
          for _, a in ipairs(res:select("a")) do crawl:follow(a:attr("href"), { callback = "item" }) end
        end,
        item = function(res, crawl) crawl:emit{ url = res.url, title = res:one("h1"):text() } end }
    ]]):format(web.url .. "/index.html"))
    local p = io.popen(("%s run %s/s.lua -o %s/x.jsonl --record %s/rec 2>&1; echo exit:$?"):format(
      silk_bin, dir, dir, dir))
    local out = p:read("*a")
    p:close()
    web:stop()
    assert.matches("exit:0", out)

    local rec = testing.replay(dir .. "/rec")
    local spider = dofile(dir .. "/s.lua")
    local crawl = testing.call(spider, "parse", rec[web.url .. "/index.html"], { responses = rec })
    assert.equal(web.url .. "/b.html", crawl.follows[1].url)
    local page = rec[crawl.follows[1].url]
    assert.equal(200, page.status)
    assert.equal("silk.response", getmetatable(page).__name)
    crawl = testing.call(spider, "item", page)
    assert.same({ { url = web.url .. "/b.html", title = "Bee" } }, crawl.items)
    assert.is_nil(rec[web.url .. "/never.html"])
    assert.equal(page, testing.crawl{ responses = rec }:fetch(web.url .. "/b.html"))
  end)

  it("refuses a directory without a recording, and --record with --http-cache", function()
    local dir = files.tmpdir()
    assert.has_error(function() testing.replay(dir) end,
      ("testing.replay: %s holds no recording (silk run SPIDER --record %s)"):format(dir, dir))
    local p = io.popen(("%s run spiders/bookshop.lua --record %s/a --http-cache %s/b 2>&1; echo exit:$?"):format(
      silk_bin, dir, dir))
    local out = p:read("*a")
    p:close()
    assert.matches("--record and --http-cache exclude each other", out, 1, true)
    assert.matches("exit:2", out)
  end)
end)
