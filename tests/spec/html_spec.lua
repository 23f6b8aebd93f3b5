-- html_spec.lua: documents and nodes from silk.core.html: parsing and its
-- limits, lifetimes, navigation, text, serialisation, page facts, links,
-- and parsing on the worker pool.
local html = require("silk.core.html")

local BASE = "http://example.com/dir/page.html"

local function big_page(n)
  local parts = {}
  for i = 1, n do
    parts[i] = ('<div class=item><a href="/p%d">item %d</a> <span>text</span></div>'):format(i, i)
  end
  return "<!DOCTYPE html><title>big</title><body>" .. table.concat(parts) .. "</body>"
end

describe("html.parse", function()
  it("returns a document", function()
    local doc = html.parse("<p>hi</p>", BASE)
    assert.equal("silk.html.document", getmetatable(doc).__name)
    assert.equal("hi", doc:one("p"):text())
    doc:free()
  end)

  it("refuses input over the size limit with a too_large error value", function()
    local doc, err = html.parse(("x"):rep(100), BASE, { max_bytes = 10 })
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
    assert.matches("exceeds the limit", err.message)
  end)

  it("refuses deep nesting quickly instead of hanging", function()
    local t0 = os.clock()
    local doc, err = html.parse(("<div>"):rep(100000), BASE)
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
    assert.matches("nested deeper", err.message)
    assert.is_true(os.clock() - t0 < 1)
  end)

  it("accepts a custom depth limit", function()
    local doc, err = html.parse(("<div>"):rep(50), BASE, { max_depth = 20 })
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
  end)

  it("keeps the text of <form>text</form> inside the form", function()
    local doc = html.parse("<form id=f>Price: 10 &euro;</form><p>x", BASE)
    assert.equal("Price: 10 €", doc:one("#f"):text())
    assert.equal('<form id="f">Price: 10 €</form>', doc:one("#f"):html())
    doc:free()
  end)

  it("checks its arguments", function()
    assert.has_error(function() html.parse() end)
    assert.has_error(function() html.parse("x", BASE, { max_depth = 0 }) end)
  end)
end)

describe("documents and nodes", function()
  local doc
  before_each(function()
    doc = html.parse([[<html><head><title> My
      Page </title></head><body><ul id=u class="a b"><li id=one>1</li> text <li id=two>2</li>
      <!-- c --><li id=three>3</ul></body></html>]], BASE)
  end)
  after_each(function() doc:free() end)

  it("exposes tag, attributes and relatives", function()
    local u = doc:one("ul")
    assert.equal("ul", u.tag)
    assert.equal("a b", u:attr("class"))
    assert.equal("u", u:attr("ID"))
    assert.is_nil(u:attr("nope"))
    assert.same({ id = "u", class = "a b" }, u:attrs())
    local kids = u:children()
    assert.equal(3, #kids)
    assert.equal("two", kids[1]:next():attr("id"))
    assert.equal("one", kids[2]:prev():attr("id"))
    assert.is_nil(kids[1]:prev())
    assert.is_nil(kids[3]:next())
    assert.equal(u, kids[1]:parent())
  end)

  it("compares two handles of the same element as equal", function()
    assert.equal(doc:one("#one"), doc:select("li")[1])
    assert.is_true(doc:one("#one") == doc:one("li"))
    assert.is_false(doc:one("#one") == doc:one("#two"))
  end)

  it("gives nil for the parent of <html>", function()
    assert.is_nil(doc:root():parent())
    assert.equal("html", doc:root().tag)
  end)

  it("extracts text on one line, as lines or raw", function()
    assert.equal("1 text 2 3", doc:one("ul"):text())
    assert.equal("1\ntext\n2\n3", doc:one("ul"):text({ lines = true }))
    assert.equal("1 text 2\n      3", doc:one("ul"):text({ raw = true }))
    assert.equal("My Page", doc:title())
    assert.has_error(function() doc:one("ul"):text({ raw = true, lines = true }) end,
      "bad argument #1 to 'text' (raw and lines exclude each other)")
  end)

  it("serialises outer and inner HTML", function()
    assert.equal('<li id="one">1</li>', doc:one("#one"):html())
    assert.equal("1", doc:one("#one"):inner_html())
    assert.matches("^<html><head><title>", doc:html())
  end)

  it("keeps its document alive through a node", function()
    local li = html.parse("<li id=x>kept</li>", BASE):one("li")
    collectgarbage()
    collectgarbage()
    assert.equal("kept", li:text())
  end)

  -- LuaJIT's atomic GC phase walks every userdata in the heap, dead or
  -- alive, each cycle: a crawl's hundred nodes a page made it 15-20 ms
  -- long at concurrency 10 000. Nodes are tables so that they cost nothing
  -- there.
  it("makes nodes as tables with one metatable, not userdata", function()
    local a, b = doc:one("#one"), doc:one("li + li")
    assert.equal("table", type(a))
    assert.equal(getmetatable(a), getmetatable(b))
    assert.equal("li", b.tag)
    assert.equal(a, doc:select("li")[1])
    local fake = setmetatable({ 1, 2 }, getmetatable(a))
    assert.has_error(function() fake:text() end, "calling 'text' on bad self (silk.html.node expected, got table)")
    assert.has_error(function() a.attr({}, "id") end, "bad argument #1 to 'attr' (silk.html.node expected, got table)")
  end)

  it("raises on a node of a freed document, and free is idempotent", function()
    local li = doc:one("li")
    doc:free()
    doc:free()
    assert.has_error(function() li:text() end, nil)
    local ok, err = pcall(li.attr, li, "id")
    assert.is_false(ok)
    assert.matches("attempt to use a freed document", err)
    assert.has_error(function() doc:select("li") end)
    doc = html.parse("", BASE)      -- for after_each
  end)
end)

describe("links and page facts", function()
  it("extracts absolute canonical http(s) links and skips other schemes", function()
    local doc = html.parse([[
      <a href="a.html">1</a><a href="../up?q=1#frag">2</a><a href="//other.org/x">3</a>
      <a href="javascript:void(0)">js</a><a href="mailto:x@y">m</a><a href="tel:1">t</a>
      <a href="data:text/html,hi">d</a><a href="HTTP://Example.COM:80/%7euser">case</a>
      <a rel="NoFollow" href="/nf">nf</a><area href="/area"><a>none</a>]], BASE)
    local got = {}
    for _, l in ipairs(doc:links()) do got[#got + 1] = l.url .. (l.nofollow and " nf" or "") end
    assert.same({
      "http://example.com/dir/a.html", "http://example.com/up?q=1", "http://other.org/x",
      "http://example.com/~user", "http://example.com/nf nf", "http://example.com/area",
    }, got)
    assert.same({ noindex = false, nofollow = false }, doc:meta_robots())
    assert.is_nil(doc:canonical())
    doc:free()
  end)

  it("resolves against <base href> and reports robots and canonical", function()
    local doc = html.parse([[<head><base href="/base/"><meta name=robots content="noindex,nofollow">
      <link rel=canonical href="canon#x"></head><a href="rel">r <b>text</b></a>]], BASE)
    assert.equal("http://example.com/base/", doc:base_url())
    local links = doc:links({ text = true })
    assert.equal(1, #links)
    assert.equal("http://example.com/base/rel", links[1].url)
    assert.is_true(links[1].nofollow)
    assert.equal("r text", links[1].text)
    assert.same({ noindex = true, nofollow = true }, doc:meta_robots())
    assert.equal("http://example.com/base/canon", doc:canonical())
    doc:free()
  end)

  it("extracts link, img, srcset and iframe URLs on request", function()
    local doc = html.parse([[<link rel=stylesheet href=/s.css><img src=/i.png
      srcset="/a.png 1x, /b.png 2x"><iframe src=/f></iframe><a href=/a>a</a>]], BASE)
    local got = {}
    for _, l in ipairs(doc:links({ a = false, link = true, img = true, iframe = true })) do
      got[#got + 1] = l.url
    end
    assert.same({ "http://example.com/s.css", "http://example.com/i.png",
      "http://example.com/a.png", "http://example.com/b.png", "http://example.com/f" }, got)
    doc:free()
  end)
end)

describe("html.parse_async", function()
  it("parses a large page on a worker and returns the same document", function()
    local text = big_page(500)
    assert.is_true(#text > 20000)
    local doc = assert(html.parse_async(text, BASE))
    assert.equal(500, #doc:select("div.item"))
    assert.equal("big", doc:title())
    assert.equal("http://example.com/p500", doc:links()[500].url)
    doc:free()
  end)

  it("parses a small page inline", function()
    local doc = assert(html.parse_async("<p>small</p>", BASE))
    assert.equal("small", doc:one("p"):text())
    doc:free()
  end)

  it("reports limits as error values", function()
    local doc, err = html.parse_async(("<div>"):rep(100000), BASE)
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
  end)

  it("takes its thread count from html.workers only before the pool runs", function()
    assert.has_error(function() html.workers(0) end)
    assert.has_error(function() html.workers(9) end)
    assert(html.parse_async(big_page(500), BASE)):free()
    assert.has_error(function() html.workers(1) end,
                     "html.workers: the parse pool runs already (call it before the first parse)")
  end)

  -- the worker reads the text in place: the string is anchored while a job
  -- holds it, cancelled or not, and released once the job is freed
  it("keeps the text of a parse, even a cancelled one, until its worker is done", function()
    local silk = require("silk")
    local function kept(s)
      for _, v in pairs(debug.getregistry()) do
        if v == s then return true end
      end
      return false
    end
    local text = big_page(3000) .. "<!-- kept -->"
    local doc = assert(html.parse_async(text, BASE))
    assert.is_false(kept(text))
    doc:free()
    local t = silk.spawn(function() return html.parse_async(text, BASE) end)
    silk.sleep(0)
    assert.is_true(kept(text))
    t:cancel()
    assert.equal("cancelled", select(2, t:join()).kind)
    for _ = 1, 500 do
      if not kept(text) then break end
      silk.sleep(0.01)
    end
    assert.is_false(kept(text))
    doc = assert(html.parse_async(text, BASE))
    assert.equal(3000, #doc:select("div.item"))
    doc:free()
  end)

  it("parses many pages in turn", function()
    local text = big_page(200)
    for _ = 1, 20 do
      local doc = assert(html.parse_async(text, BASE))
      assert.equal(200, #doc:select("a"))
      doc:free()
    end
  end)
end)

-- Readable text is innerText (HTML Standard) with the default style sheet's
-- display values; tests/spec/text_diff_spec.lua replays Chromium on random
-- documents, these are the cases users meet.
describe("readable text", function()
  local function text(src, css, opts)
    local doc = html.parse(src, BASE)
    local got = doc:one(css or "body"):text(opts)
    doc:free()
    return got
  end

  it("adds nothing at inline elements and comments", function()
    assert.equal("Hello world", text("<p>Hel<b>lo</b> world</p>", "p"))
    assert.equal("$268.36", text("<p class=price><span>$</span><span>268.36</span></p>", "p"))
    assert.equal("xy", text("<div>x<!-- c -->y</div>", "div"))
    assert.equal("A Light in the Attic",
      text("<h1><a href=/b>A Light</a> in <i>the</i> Attic</h1>", "h1"))
  end)

  it("separates blocks, paragraphs, line breaks, cells and rows", function()
    local src = "<div>a<p>b</p>c<br>d<table><tr><th>1<td>2<tr><td>3</table><ul><li>e<li>f</ul></div>"
    assert.equal("a\n\nb\n\nc\nd\n1\t2\n3\ne\nf", text(src, "div", { lines = true }))
    assert.equal("a b c d 1 2 3 e f", text(src, "div"))
  end)

  it("collapses white space as CSS does, and keeps it in pre", function()
    assert.equal("a b", text("<p>  a \n\t <b> b </b>  </p>", "p", { lines = true }))
    assert.equal("x  y\n z", text("<div>t<pre>x  y\n z</pre></div>", "pre", { lines = true }))
    assert.equal("t\nx  y\n z", text("<div>t<pre>x  y\n z</pre></div>", "div", { lines = true }))
    assert.equal("t x y z", text("<div>t<pre>x  y\n z</pre></div>", "div"))
    assert.equal("1\194\160000", text("<p>1&nbsp;000</p>", "p"))
  end)

  it("keeps a space at an inline element's end when its line goes on", function()
    assert.equal("a ", text("<p><span>a </span>b</p>", "span", { lines = true }))
    assert.equal("a", text("<p><span>a </span></p>", "span", { lines = true }))
    assert.equal("a", text("<p><span>a </span>b</p>", "span"))
  end)

  it("leaves out what does not render", function()
    local src = [[<body>a<script>s()</script><style>p{}</style><noscript>n</noscript>
      <template>t</template><span hidden>h</span><input type=hidden value=v>
      <datalist><option>d</datalist><details><summary>S</summary>more</details>b</body>]]
    assert.equal("a\nS\nb", text(src, "body", { lines = true }))
    assert.equal("s()", text(src, "script"))
    assert.equal("h", text(src, "span"))    -- no box: innerText is textContent
  end)

  it("gives a textarea's text, and raw text leaves template contents out", function()
    assert.equal("x  y", text("<textarea>x  y</textarea>", "textarea", { lines = true }))
    assert.equal("", text("<template><p>t</p></template>", "template", { raw = true }))
  end)
end)

