-- extract_spec.lua: text_of, texts and attr_of on documents, nodes and
-- responses (parsel's .get()/.getall()/.re_first() in Lua terms).
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local files = require("files")
local silk = require("silk")
local html = require("silk.core.html")

local PAGE = [[<html><body>
<h1> The  <b>Book</b> </h1>
<p class="price">Price: 12.50 EUR</p>
<ul><li>one</li><li>two 2</li><li><a href="/x?id=42">three 3</a></li></ul>
<div id="d"><p>first<br>second</p><span>in d</span></div>
<pre class="code">  a
  b</pre>
<p class="empty"></p>
</body></html>]]

local site = files.tmpdir()
files.write(site .. "/page.html", PAGE)
files.write(site .. "/deep.html", ("<div>"):rep(5000))
local web = servers.nginx{ root = site }
teardown(function() web:stop() end)

describe("x:text_of(css [, default | opts])", function()
  local doc = html.parse(PAGE)
  teardown(function() doc:free() end)

  it("gives the text of the first match, else the default or nil", function()
    assert.equal("The Book", doc:text_of("h1"))
    assert.equal("one", doc:text_of("li"))
    assert.is_nil(doc:text_of("h2"))
    assert.equal("n/a", doc:text_of("h2", "n/a"))
    assert.equal("n/a", doc:text_of("h2", { default = "n/a" }))
    assert.equal("", doc:text_of("p.empty", "n/a"))   -- a match, with no text
  end)

  it("gives string.match's results with match, the default when it does not match", function()
    assert.equal("12.50", doc:text_of(".price", { match = "[%d.]+" }))
    local amount, currency = doc:text_of(".price", { match = "([%d.]+) (%u+)" })
    assert.equal("12.50", amount)
    assert.equal("EUR", currency)
    assert.is_nil(doc:text_of("h1", { match = "%d" }))
    assert.equal(0, doc:text_of("h1", { match = "%d", default = 0 }))
    assert.is_nil(doc:text_of("h2", { match = "." }))
  end)

  it("takes the text forms of text()", function()
    assert.equal("first second", doc:text_of("#d p"))
    assert.equal("first\nsecond", doc:text_of("#d p", { lines = true }))
    assert.equal("  a\n  b", doc:text_of("pre", { raw = true }))
    assert.equal("b", doc:text_of("pre", { raw = true, match = "(%a)$" }))
  end)

  it("works under a node", function()
    local d = doc:one("#d")
    assert.equal("in d", d:text_of("span"))
    assert.is_nil(d:text_of("h1"))
  end)

  it("checks its options", function()
    local ok, err = pcall(doc.text_of, doc, "h1", { mtach = "x" })
    assert.is_false(ok)
    assert.matches("unknown option 'mtach' (valid: default, match, raw, lines)", err, 1, true)
    ok, err = pcall(doc.text_of, doc, "h1", { match = 5 })
    assert.is_false(ok)
    assert.matches("option 'match' must be a string", err, 1, true)
    ok, err = pcall(doc.text_of, doc, "h1", { raw = true, lines = true })
    assert.is_false(ok)
    assert.matches("raw and lines exclude each other", err, 1, true)
    ok, err = pcall(doc.text_of, doc, "h1::text")
    assert.is_false(ok)
    assert.matches("node:text()", err, 1, true)
  end)
end)

describe("x:texts(css [, opts])", function()
  local doc = html.parse(PAGE)
  teardown(function() doc:free() end)

  it("gives the text of every match, in document order", function()
    assert.same({ "one", "two 2", "three 3" }, doc:texts("li"))
    assert.same({}, doc:texts("h2"))
    assert.same({ "first\nsecond" }, doc:one("#d"):texts("p", { lines = true }))
  end)

  it("keeps the first match of the pattern in each text that has one", function()
    assert.same({ "2", "3" }, doc:texts("li", { match = "%d+" }))
    assert.same({ "two", "three" }, doc:texts("li", { match = "(%a+) %d" }))
  end)

  it("refuses a default, which it has no use for", function()
    local ok, err = pcall(doc.texts, doc, "li", "x")
    assert.is_false(ok)
    assert.matches("table expected, got string", err, 1, true)
  end)
end)

describe("x:attr_of(css, name [, default | opts])", function()
  local doc = html.parse(PAGE)
  teardown(function() doc:free() end)

  it("gives the attribute of the first match, else the default or nil", function()
    assert.equal("/x?id=42", doc:attr_of("a", "href"))
    assert.is_nil(doc:attr_of("a", "title"))
    assert.equal("-", doc:attr_of("a", "title", "-"))
    assert.equal("-", doc:attr_of("img", "src", "-"))
    assert.equal("42", doc:attr_of("a", "href", { match = "id=(%d+)" }))
    assert.equal("none", doc:attr_of("a", "href", { match = "page=(%d+)", default = "none" }))
  end)

  it("checks its arguments", function()
    local ok, err = pcall(doc.attr_of, doc, "a")
    assert.is_false(ok)
    assert.matches("bad argument #3", err, 1, true)
    ok, err = pcall(doc.attr_of, doc, "a", "href", { lines = true })
    assert.is_false(ok)
    assert.matches("unknown option 'lines' (valid: default, match)", err, 1, true)
  end)
end)

describe("the helpers on a response", function()
  it("run on its document", function()
    local res = assert(silk.fetch(web.url .. "/page.html"))
    assert.equal("The Book", res:text_of("h1"))
    assert.equal("-", res:text_of("h2", "-"))
    assert.same({ "2", "3" }, res:texts("li", { match = "%d+" }))
    assert.equal("42", res:attr_of("a", "href", { match = "%d+" }))
  end)

  it("raise the parse error of a page that cannot be parsed", function()
    local res = assert(silk.fetch(web.url .. "/deep.html"))
    for _, call in ipairs{
      function() return res:text_of("div") end,
      function() return res:texts("div") end,
      function() return res:attr_of("div", "id") end,
    } do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.equal("too_large", err.kind)
      assert.matches("cannot parse " .. web.url .. "/deep.html", err.message, 1, true)
    end
  end)
end)

describe("doc:url() and node:document()", function()
  it("give the URL the page was parsed with, apart from its base, and a node's document", function()
    local doc = html.parse('<base href="/b/"><p>x</p>', "http://example.com/a/page")
    assert.equal("http://example.com/a/page", doc:url())
    assert.equal("http://example.com/b/", doc:base_url())
    assert.equal(doc, doc:one("p"):document())
    assert.equal("x", doc:one("p"):document():text_of("p"))
    doc:free()
    local bare = html.parse("<p>x</p>")
    assert.is_nil(bare:url())
    bare:free()
  end)
end)
