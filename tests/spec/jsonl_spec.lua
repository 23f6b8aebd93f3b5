-- silk.core.jsonl: the item sinks' JSON text (cjson's, with "\/" written "/").
local jsonl = require("silk.core.jsonl")
local cjson = require("cjson").new()
local text, line = jsonl.wrap(cjson.encode)

describe("silk.core.jsonl.wrap", function()
  it("writes URLs as people read them, and a record per line", function()
    assert.equal('{"url":"http://a.com/b/c"}', text({ url = "http://a.com/b/c" }))
    assert.equal('["/","x/y"]\n', line({ "/", "x/y" }))
    assert.equal("\n", line(""):sub(-1))
  end)

  it("keeps every string as it was through a decode", function()
    for _, s in ipairs{ "a\\/b", "\\", "/", "\\\\/", "x\\", "\\/\\/", "//", "é/ü\0/", "\"/\"" } do
      assert.equal(s, cjson.decode(text(s)))
      assert.same({ k = s }, cjson.decode(line({ k = s })))
    end
  end)

  it("passes the encoder's errors on, and wants a function", function()
    assert.has_error(function() text({ f = function() end }) end)
    assert.has_error(function() jsonl.wrap("cjson") end)
  end)
end)
