-- form_spec.lua: silk.form builds the request a browser sends for a
-- <form>. Pages come from nginx, submissions go to tests/lib/badserver.py's
-- /form, which reads them with Python's own parsers (urllib.parse,
-- email); the browser's own entry lists are form_diff_spec.lua's.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local files = require("files")
local silk = require("silk")
local form = require("silk.form")
local html = require("silk.core.html")

local bad = servers.badserver{}
local site = files.tmpdir()
files.write(site .. "/login.html", ([[<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<form id="login" action="%s/form?ignored=1" method="post">
  <input type="hidden" name="token" value="t0k&amp;n">
  <input name="user" value="default">
  <input type="password" name="pass">
  <input type="checkbox" name="remember" checked>
  <input type="submit" name="go" value="Log in">
  <input type="submit" name="other" value="Other">
</form>
<form id="upload" action="%s/form" method="post" enctype="multipart/form-data">
  <textarea name="note">line 1
line 2</textarea>
  <select name="pick"><option>a<option selected value="b-value">b</select>
  <input type="file" name="doc">
</form>
<form id="search" action="form?old=query#frag">
  <input name="q" value="blue shoes">
  <select name="size" multiple><option selected>40<option selected>41<option>42</select>
</form>
</body></html>]]):format(bad.url, bad.url))
local web = servers.nginx{ root = site }

teardown(function()
  web:stop()
  bad:stop()
end)

local function page()
  return assert(silk.fetch(web.url .. "/login.html"))
end

-- The fields the server read, as { "name=value", ... }.
local function arrived(req)
  local res = assert(silk.fetch(req))
  assert.equal(200, res.status)
  local got = res:json()
  local out = {}
  for i, f in ipairs(got.fields) do
    out[i] = f[1] .. "=" .. f[2] .. (f[3] and (" (file " .. f[3] .. ")") or "")
  end
  return out, got
end

describe("form.request against a real server", function()
  it("posts a login form urlencoded, with its defaults, the fields given and the first button", function()
    local res = page()
    local req = form.request(res:one("#login"), { user = "ann", pass = "s3cret é&=" })
    assert.equal("POST", req.method)
    assert.equal(bad.url .. "/form?ignored=1", req.url)
    assert.equal("application/x-www-form-urlencoded", req.headers["Content-Type"])
    local fields, got = arrived(req)
    assert.equal("POST", got.method)
    assert.same({ "token=t0k&n", "user=ann", "pass=s3cret é&=", "remember=on", "go=Log in" }, fields)
  end)

  it("clicks the button asked for, or none", function()
    local f = page():one("#login")
    local fields = arrived(form.request(f, nil, { clicked = "[name=other]" }))
    assert.equal("other=Other", fields[#fields])
    fields = arrived(form.request(f, nil, { clicked = 2 }))
    assert.equal("other=Other", fields[#fields])
    fields = arrived(form.request(f, nil, { dont_click = true }))
    assert.equal("remember=on", fields[#fields])
  end)

  it("sends multipart/form-data that a MIME parser reads back", function()
    local req = form.request(page():one("#upload"), { extra = { "x", "y\nz" } })
    assert.equal("multipart/form-data; boundary=", req.headers["Content-Type"]:sub(1, 30))
    local fields, got = arrived(req)
    assert.equal("multipart/form-data", got.type)
    assert.same({ "note=line 1\r\nline 2", "pick=b-value", "doc= (file )", "extra=x", "extra=y\r\nz" }, fields)
  end)

  it("puts a GET form's fields in the query of its action, resolved against the page", function()
    local req = form.request(page():one("#search"), { q = "red & blue" })
    assert.equal("GET", req.method)
    assert.is_nil(req.body)
    assert.equal(web.url .. "/form?q=red+%26+blue&size=40&size=41#frag", req.url)
  end)
end)

describe("form.request", function()
  local function parse(src, url)
    return html.parse(src, url or "http://example.com/dir/page.html?p=1")
  end

  it("resolves the action against <base href>, and an empty one to the page URL", function()
    local doc = parse('<base href="http://other.example/b/"><form action="go"></form><form action=""></form><form></form>')
    local forms = doc:select("form")
    assert.equal("http://other.example/b/go?", form.request(forms[1]).url)
    assert.equal("http://example.com/dir/page.html?", form.request(forms[2]).url)
    assert.equal("http://example.com/dir/page.html?", form.request(forms[3]).url)
  end)

  it("takes opts.url as the page URL of a document parsed without one", function()
    local doc = html.parse('<form action="x" method=post><input name=a value=1></form><form></form>')
    local req = form.request(doc:one("form"), nil, { url = "http://h.example/p/q" })
    assert.equal("http://h.example/p/x", req.url)
    assert.equal("a=1", req.body)
    local ok, err = pcall(form.request, doc:select("form")[2])
    assert.is_false(ok)
    assert.matches("bad argument #3 to 'form.request'", err, 1, true)
  end)

  it("uses the submitter's formaction, formmethod and formenctype", function()
    local doc = parse([[<form action="a" method="get"><input name=n value=v>
      <button name=b value=1 formaction="/other" formmethod="POST" formenctype="TEXT/PLAIN">x</button></form>]])
    local req = form.request(doc:one("form"))
    assert.equal("POST", req.method)
    assert.equal("http://example.com/other", req.url)
    assert.equal("text/plain", req.headers["Content-Type"])
    assert.equal("n=v\r\nb=1\r\n", req.body)
  end)

  it("replaces a field where it first stands, drops it with false, appends new names sorted", function()
    local doc = parse([[<form method=post><input name=a value=1><input name=b value=2>
      <input name=a value=3><input name=c value=4></form>]])
    local req = form.request(doc:one("form"), { a = { "x", 5 }, c = false, z = "last", y = "new" })
    assert.equal("a=x&a=5&b=2&y=new&z=last", req.body)
  end)

  it("includes controls elsewhere whose form attribute names it, and leaves out those naming another", function()
    local doc = parse([[<input name=before form=f value=0><form id=f method=post>
      <input name=in value=1><input name=away form=g value=2></form><form id=g></form>
      <input name=after form=f value=3><input name=none value=4>]])
    assert.equal("before=0&in=1&after=3", form.request(doc:one("#f")).body)
    assert.same({ { "away", "2" } }, form.entries(doc:one("#g")))
  end)

  it("names the argument in its errors", function()
    local doc = parse("<form><input type=submit name=s></form><div></div>")
    local f = doc:one("form")
    local function fails(pattern, ...)
      local ok, err = pcall(form.request, ...)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
    end
    fails("bad argument #1 to 'form.request' (a <form> node expected, got <div> node)", doc:one("div"))
    fails("bad argument #1 to 'form.request' (a <form> node expected, got nil)", nil)
    fails("bad argument #1 to 'form.request' (a <form> node expected, got silk.html.document)", doc)
    fails("(opts.clicked: no submit button of the form matches '.nope')", f, nil, { clicked = ".nope" })
    fails("(opts.clicked: the form has 1 submit button, no number 2)", f, nil, { clicked = 2 })
    fails("(opts.clicked: <div> node is not a submit button of the form)", f, nil, { clicked = doc:one("div") })
    fails("(fields.a: string, number, list or false expected, got boolean)", f, { a = true })
    fails("(fields.a[2]: string expected, got table)", f, { a = { "x", {} } })
    fails("(unknown option 'click': clicked, dont_click, url)", f, nil, { click = 1 })
  end)

  it("gives nil, err for an action that is not an http(s) URL", function()
    local doc = parse('<form action="mailto:x@example.com"></form>')
    local req, err = form.request(doc:one("form"))
    assert.is_nil(req)
    assert.matches('form action "mailto:x@example.com"', tostring(err), 1, true)
  end)
end)

describe("silk.form", function()
  it("is the silk.form module", function()
    assert.equal(form, silk.form)
  end)
end)
