-- silk.sinks: exact values in every format.
package.path = "tests/lib/?.lua;" .. package.path
local sinks = require("silk.sinks")
local cjson = require("cjson")
local files = require("files")

local function lines(path)
  local out = {}
  for l in (files.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- values whose text is easy to get wrong
local VALUES = { 123456789012345, 2 ^ 53, -2 ^ 53, 0.1, 1 / 3, 5e-324, 1.2345678901234567e-300,
                 1e300, 2 ^ 60, 99.99, -0.5 }

local function write_all(path, opts)
  local s = sinks.open(path, opts)
  for i, v in ipairs(VALUES) do s:write({ i = i, v = v, t = { v } }) end
  s:close()
end

describe("sinks write numbers exactly", function()
  it("in JSON Lines", function()
    local path = files.tmpdir() .. "/i.jsonl"
    write_all(path)
    local got = lines(path)
    assert.equal(#VALUES, #got)
    for _, l in ipairs(got) do
      local item = cjson.decode(l)
      assert.equal(VALUES[item.i], item.v, l)
      assert.equal(VALUES[item.i], item.t[1], l)
    end
    assert.matches('"v":123456789012345[,}]', got[1])
  end)

  it("in CSV", function()
    local path = files.tmpdir() .. "/i.csv"
    write_all(path, { fields = { "i", "v", "t" } })
    local got = lines(path)
    assert.equal("i,v,t", got[1])
    assert.equal('1,123456789012345,[123456789012345]', got[2])
    for n = 2, #got do
      local i, v = got[n]:match("^(%d+),([^,]+),")
      assert.equal(VALUES[tonumber(i)], tonumber(v), got[n])
    end
  end)

  it("in SQLite: integers as INTEGER, floats as REAL, both exact", function()
    local path = files.tmpdir() .. "/i.sqlite"
    write_all(path)
    local env = require("luasql.sqlite3").sqlite3()
    local con = env:connect(path)
    local cur = con:execute("SELECT i, v, typeof(v), t FROM items ORDER BY i")
    local row, n = cur:fetch({}, "n"), 0
    while row do
      n = n + 1
      local want = VALUES[row[1]]
      assert.equal(want, row[2], tostring(row[1]))
      local int = want == math.floor(want) and math.abs(want) <= 2 ^ 53
      assert.equal(int and "integer" or "real", row[3], tostring(want))
      assert.equal(want, cjson.decode(row[4])[1])
      row = cur:fetch({}, "n")
    end
    cur:close()
    con:close()
    env:close()
    assert.equal(#VALUES, n)
  end)
end)
