-- The parsing shortcuts of a fetched response (res:html/select/one) on a
-- page that cannot be parsed: in a script and in a crawl. Real nginx.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local files = require("files")
local cjson = require("cjson")
local silk = require("silk")

local site = files.tmpdir()
files.write(site .. "/deep.html", ("<div>"):rep(5000))
files.write(site .. "/index.html", '<a href="/deep.html">d</a><a href="/ok.html">o</a>')
files.write(site .. "/ok.html", "<h1>fine</h1>")
local web = servers.nginx{ root = site }

-- `silk run` of spider source src from start; returns its stats and output.
local function crawl(src, start)
  local path, out, stats = os.tmpname() .. ".lua", os.tmpname() .. ".jsonl", os.tmpname()
  files.write(path, src)
  local p = io.popen(("START=%s %s run %s -o %s --stats %s 2>&1"):format(start, engine.exe(), path, out, stats))
  local log = p:read("*a")
  p:close()
  local st = cjson.decode(files.read(stats))
  os.remove(path); os.remove(out); os.remove(stats)
  return st, log
end

teardown(function() web:stop() end)

describe("a response that cannot be parsed", function()

  it("gives nil, err from res:html() and raises that error from res:select and res:one", function()
    local res = assert(silk.fetch(web.url .. "/deep.html"))
    local doc, err = res:html()
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
    local ok, e = pcall(function() for _ in ipairs(res:select("div")) do end end)
    assert.is_false(ok)
    assert.equal("too_large", e.kind)
    assert.equal(web.url .. "/deep.html", e.url)
    assert.matches("cannot parse " .. web.url .. "/deep.html: elements nested deeper than", e.message, 1, true)
    ok, e = pcall(res.one, res, "div")
    assert.is_false(ok)
    assert.equal("too_large", e.kind)
  end)

  it("fails its crawl callback with the cause, counted, while the crawl goes on", function()
    local st, log = crawl([[
local silk = require("silk")
return silk.spider{
  name = "unparsable", start_urls = { os.getenv("START") },
  parse = function(res, crawl)
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
    local h = res:one("h1")
    if h then crawl:emit{ h1 = h:text() } end
  end,
}]], web.url .. "/index.html")
    assert.equal(1, st.callback_errors)
    assert.equal(1, st.items)
    assert.matches("cannot parse " .. web.url .. "/deep.html", log, 1, true)
  end)
end)

describe("crawl:follow with headers", function()
  it("refuses a header it could not send at the spider's line, counted as a callback error", function()
    local st, log = crawl([[
local silk = require("silk")
return silk.spider{
  name = "crlf", start_urls = { os.getenv("START") },
  parse = function(res, crawl)
    crawl:emit{ url = res.url }
    if res.url:match("index") then
      crawl:follow("/ok.html", { headers = { ["X-Ok"] = "yes" } })
      crawl:follow("/deep.html", { headers = { ["X-A"] = "a\r\nX-Injected: 1" } })
    end
  end,
}]], web.url .. "/index.html")
    assert.equal(1, st.callback_errors)
    assert.equal(2, st.items)
    assert.matches(".lua:8: crawl:follow: header 'X-A' contains CR, LF or NUL", log, 1, true)
  end)
end)
