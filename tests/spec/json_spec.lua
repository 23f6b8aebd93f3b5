-- json_spec.lua: res:json() on real responses (nginx, badserver's /echo),
-- and silk.null through res:json() and every item format.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local files = require("files")
local cjson = require("cjson")
local silk = require("silk")
local sinks = require("silk.sinks")

local site = files.tmpdir()
files.write(site .. "/ok.json", '{"name": "silk", "tags": ["a", null, "c"], "n": 12, "none": null}')
files.write(site .. "/bom.json", '\239\187\191[1, 2]')
files.write(site .. "/broken.json", '{"name": "silk",, }')
files.write(site .. "/nan.json", '[NaN]')
files.write(site .. "/page.html", '<p>not json</p>')
local web = servers.nginx{ root = site }
local bad = servers.badserver{}

teardown(function()
  web:stop()
  bad:stop()
end)

describe("res:json()", function()
  it("decodes the body, once", function()
    local res = assert(silk.fetch(web.url .. "/ok.json"))
    local v = res:json()
    assert.equal("silk", v.name)
    assert.equal(12, v.n)
    assert.is_true(rawequal(v, res:json()))
  end)

  it("decodes a POSTed request's answer", function()
    local res = assert(silk.fetch{ url = bad.url .. "/echo", method = "POST", json = { a = 1 } })
    local v = res:json()
    assert.equal("POST", v.method)
    assert.same({ a = 1 }, cjson.decode(v.body))
  end)

  it("skips a UTF-8 byte order mark", function()
    assert.same({ 1, 2 }, assert(silk.fetch(web.url .. "/bom.json")):json())
  end)

  it("raises a json error value naming the URL and where the text goes wrong", function()
    for _, page in ipairs{ "/broken.json", "/page.html", "/nan.json" } do
      local res = assert(silk.fetch(web.url .. page))
      local ok, err = pcall(res.json, res)
      assert.is_false(ok)
      assert.equal("json", err.kind)
      assert.equal(web.url .. page, err.url)
      assert.matches("cannot decode JSON from " .. web.url .. page .. ": ", err.message, 1, true)
      assert.matches("at character %d+", err.message)
      assert.matches("^json: cannot decode JSON", tostring(err))
    end
  end)
end)

describe("silk.null", function()
  it("is lua-cjson's null, what res:json() gives for JSON null", function()
    assert.equal(cjson.null, silk.null)
    local v = assert(silk.fetch(web.url .. "/ok.json")):json()
    assert.equal(3, #v.tags)
    assert.equal(silk.null, v.tags[2])
    assert.equal(silk.null, v.none)
  end)

  local function write(ext)
    local path = files.tmpdir() .. "/i." .. ext
    local s = sinks.open(path, { fields = { "a", "b", "c" } })
    assert(s:write({ a = 1, b = silk.null, c = { "x", silk.null } }))
    assert(s:close())
    return path
  end

  it("is written as null in JSON Lines", function()
    local line = files.read(write("jsonl"))
    assert.matches('"b":null[,}]', line)
    assert.matches('"c":["x",null]', line, 1, true)
  end)

  it("is an empty field in CSV", function()
    assert.equal('a,b,c\n1,,"[""x"",null]"\n', files.read(write("csv")))
  end)

  it("is NULL in SQLite", function()
    local db = assert(require("silk.core.sqlite").open(write("sqlite")))
    local st = assert(db:prepare("SELECT a, b IS NULL, typeof(b), c FROM items"))
    assert.is_true(st:step())
    assert.same({ 1, 1, "null", '["x",null]' }, { st:row() })
    db:close()
  end)
end)
