-- silk.core.jsonl: items as exact JSON, and what it refuses.
local jsonl = require("silk.core.jsonl")
local cjson = require("cjson")

describe("silk.core.jsonl numbers", function()
  it("writes integers exactly, up to 2^53", function()
    for _, n in ipairs{ 0, 1, -1, 123456789012345, 1234567890123456, 2 ^ 53, -2 ^ 53, 2 ^ 53 - 1, 1e15 } do
      assert.equal(("%.0f"):format(n), jsonl.number(n))
    end
    assert.equal('{"id":123456789012345}', jsonl.encode({ id = 123456789012345 }))
    assert.equal("-0.0", jsonl.number(-0.0))           -- keeps its sign
  end)

  it("writes floats in the shortest of %.15g, %.16g, %.17g that reads back as the same double", function()
    assert.equal("0.1", jsonl.number(0.1))
    assert.equal("0.30000000000000004", jsonl.number(0.1 + 0.2))
    assert.equal("1e+300", jsonl.number(1e300))
    assert.equal(5e-324, tonumber(jsonl.number(5e-324)))
    assert.equal("1.7976931348623157e+308", jsonl.number(1.7976931348623157e308))
    assert.equal("1.152921504606847e+18", jsonl.number(2 ^ 60))
    math.randomseed(14)
    for i = 1, 20000 do
      local v = (math.random() - 0.5) * 10 ^ math.random(-320, 308)
      if i % 3 == 0 then v = math.floor(v % 1e9 * 1e6) / 1e6 end   -- prices and such
      local text = jsonl.number(v)
      assert.equal(v, tonumber(text), text)
      assert.equal(v, cjson.decode(jsonl.encode({ v }))[1], text)
    end
  end)

  it("refuses what JSON cannot hold, as misuse in number()", function()
    assert.has_error(function() jsonl.number(0 / 0) end)
    assert.has_error(function() jsonl.number(1 / 0) end)
  end)
end)

describe("silk.core.jsonl strings", function()
  it("keeps every valid string through a decode, with / unescaped", function()
    assert.equal('{"url":"http://a.com/b/c"}', jsonl.encode({ url = "http://a.com/b/c" }))
    assert.equal('["/","x/y"]\n', jsonl.line({ "/", "x/y" }))
    for _, s in ipairs{ "a\\/b", "\\", "/", "\\\\/", "x\\", "//", "é/ü\0/", "\"/\"", "\1\31\127",
                        "\b\f\n\r\t", "\240\159\152\128", "\239\191\191", "\244\143\191\191" } do
      assert.equal(s, cjson.decode(jsonl.encode(s)))
      assert.same({ k = s }, cjson.decode(jsonl.line({ k = s })))
    end
  end)

  it("refuses invalid UTF-8, naming the field and the byte", function()
    for _, bad in ipairs{ "\255", "ab\128", "\192\128", "\224\128\128", "\237\160\128", "\244\144\128\128",
                          "\226\130", "\240\159\152", "x\248\136\128\128\128" } do
      local text, err = jsonl.encode({ title = bad })
      assert.is_nil(text)
      assert.matches("^item%.title: the string is not valid UTF%-8 %(byte %d+ of %d+", err)
    end
    local _, err = jsonl.encode({ body = "abc\255def" })
    assert.matches("byte 4 of 7", err)
    _, err = jsonl.check({ meta = { ["k\255"] = 1 } })
    assert.matches("^item%.meta: a key is not valid UTF%-8", err)
  end)
end)

describe("silk.core.jsonl refusals", function()
  local function refused(v, pattern)
    local text, err = jsonl.encode(v)
    assert.is_nil(text)
    assert.matches(pattern, err)
    local ok, cerr = jsonl.check(v)
    assert.is_nil(ok)
    assert.equal(err, cerr)
  end

  it("names the field path and what it holds", function()
    refused({ price = function() end }, "^item%.price: function")
    refused({ a = { b = { 1, 0 / 0 } } }, "^item%.a%.b%[2%]: nan")
    refused({ x = 1 / 0 }, "^item%.x: inf")
    refused({ x = -1 / 0 }, "^item%.x: %-inf")
    refused({ co = coroutine.create(print) }, "^item%.co: thread")
    refused({ ["a b"] = { print } }, '^item%["a b"%]%[1%]: function')
    local t = {}
    t.child = { t }
    refused({ t = t }, "^item%.t%.child%[1%]: a table that contains itself")
    refused({ [true] = 1 }, "^item: a boolean key")
    refused({ tags = { [1.5] = "x" } }, "^item%.tags: the number key 1%.5")
    refused({ tags = { "x", name = "y" } }, "^item%.tags: a table with both string keys and array indexes")
    local deep = {}
    local cur = deep
    for _ = 1, 150 do cur.x = {}; cur = cur.x end
    refused(deep, "nested too deep")
  end)

  it("names a node for what it is", function()
    local doc = require("silk.core.html").parse("<p>hi</p>")
    refused({ title = doc:one("p") }, "^item%.title: silk%.html%.node %(.-not the node%)")
    refused({ page = doc }, "^item%.page: userdata silk%.html%.document .-not the node")
  end)

  it("writes arrays, holes, sparse arrays and cjson.null as lua-cjson did", function()
    assert.equal('[1,null,3]', jsonl.encode({ 1, nil, 3 }))
    assert.same({ ["1"] = 1, ["100"] = 2 }, cjson.decode(jsonl.encode({ [1] = 1, [100] = 2 })))
    assert.equal('{"n":null}', jsonl.encode({ n = cjson.null }))
    assert.equal('[true,false]', jsonl.encode({ true, false }))
    local shared = { 1 }
    assert.equal('[[1],[1]]', jsonl.encode({ shared, shared }))   -- shared, not a cycle
    assert.equal("named", select(2, jsonl.check({ f = print }, "named")):match("^(%w+)"))
  end)

  it("writes an empty table as [] (an empty list), or {} when its metatable says __jsontype = object", function()
    assert.equal('[]', jsonl.encode({}))
    assert.equal('{"tags":[]}', jsonl.encode({ tags = {} }))
    assert.equal('{}', jsonl.encode(setmetatable({}, { __jsontype = "object" })))
    assert.equal('{}', jsonl.encode({}, "item", {}))          -- an item is an object
  end)
end)

describe("silk.core.jsonl key order", function()
  -- Lua's table order follows string hashes, seeded afresh in each process:
  -- build the table in several insertion orders to vary it here too
  local function variants()
    local out = {}
    for _, keys in ipairs{ { "url", "title", "price", "zeta" }, { "zeta", "price", "title", "url" },
                           { "price", "zeta", "url", "title" } } do
      local t = {}
      for i, k in ipairs(keys) do t[k] = i end
      t.nested = {}
      for i = #keys, 1, -1 do t.nested[keys[i]] = true end
      out[#out + 1] = t
    end
    return out
  end

  it("writes object keys in byte order at every level, whatever the table's history", function()
    for _, t in ipairs(variants()) do
      assert.matches('^{"nested":{"price":true,"title":true,"url":true,"zeta":true},"price":%d,"title":%d,"url":%d,"zeta":%d}$',
                     jsonl.encode(t))
    end
  end)

  it("writes the top-level keys in the given order, skipping absent ones, nested ones sorted", function()
    local order = { "url", "missing", "title", "zeta", "price", "nested" }
    for _, t in ipairs(variants()) do
      local text = jsonl.line(t, "item", order)
      assert.matches('^{"url":%d,"title":%d,"zeta":%d,"price":%d,"nested":{"price":true,"title":true,"url":true,"zeta":true}}\n$', text)
    end
  end)

  it("refuses an item with a key the order does not list, naming the item", function()
    local ok, err = jsonl.encode({ a = 1, b = 2 }, "item", { "a" })
    assert.is_nil(ok)
    assert.equal("item: a key that the field order does not list", err)
  end)
end)
