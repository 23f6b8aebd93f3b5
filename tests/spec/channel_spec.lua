-- Channels: buffered and rendezvous, close, misuse, and many tasks at once.
local silk = require("silk")
local engine = require("silk.core.engine")
local testing = require("silk.testing")

describe("silk.channel", function()
  it("with capacity 0 hands each value from sender to receiver (rendezvous)", function()
    local ch = silk.channel(0)
    local sent = false
    local s = silk.spawn(function() ch:send("hello"); sent = true end)
    silk.sleep(0.005)
    assert.is_false(sent)               -- nobody received yet: the sender waits
    assert.equal("hello", ch:recv())
    s:join()
    assert.is_true(sent)
  end)

  it("buffers up to its capacity without waiting", function()
    local ch = silk.channel(3)
    for i = 1, 3 do ch:send(i) end
    assert.equal(3, ch:len())
    assert.equal(3, #ch)
    assert.equal(3, ch:cap())
    local blocked = silk.spawn(function() ch:send(4) end)
    silk.sleep(0.005)
    assert.equal("waiting", blocked:status())
    assert.equal(1, ch:recv())           -- makes room: the blocked sender's value moves in
    blocked:join()
    assert.same({ 2, 3, 4 }, { ch:recv(), ch:recv(), ch:recv() })
  end)

  it("keeps FIFO order across waiting receivers", function()
    local ch = silk.channel()
    local got = {}
    local rs = {}
    for i = 1, 3 do rs[i] = silk.spawn(function() got[i] = ch:recv() end) end
    silk.sleep(0.001)
    for _, v in ipairs({ "a", "b", "c" }) do ch:send(v) end
    for _, r in ipairs(rs) do r:join() end
    assert.same({ "a", "b", "c" }, got)
  end)

  it("returns nil from recv once closed and drained", function()
    local ch = silk.channel(2)
    ch:send(1); ch:send(2); ch:close()
    assert.is_true(ch:is_closed())
    assert.same({ 1, 2 }, { ch:recv(), ch:recv() })
    assert.is_nil(ch:recv())
    assert.is_nil(ch:recv())
  end)

  it("wakes waiting receivers with nil when closed", function()
    local ch = silk.channel()
    local r = silk.spawn(function() return ch:recv() end)
    silk.sleep(0.001)
    ch:close()
    assert.same({ true, nil }, { r:join() })
  end)

  it("raises in a sender waiting when the channel is closed", function()
    local ch = silk.channel()
    local s = silk.spawn(function() ch:send(1) end)
    silk.sleep(0.001)
    ch:close()
    local ok, err = s:join()
    assert.is_false(ok)
    assert.equal("closed", err.kind)
  end)

  it("refuses misuse with a clear error", function()
    local ch = silk.channel(1)
    assert.has_error(function() ch:send(nil) end, nil)
    ch:close()
    local ok, err = pcall(ch.send, ch, 1)
    assert.is_false(ok)
    assert.matches("send on a closed channel", err)
    ok, err = pcall(ch.close, ch)
    assert.matches("close of a closed channel", err)
    assert.has_error(function() silk.channel(-1) end)
  end)

  it("can be waited on under a timeout", function()
    local ch = silk.channel()
    local v, err = silk.with_timeout(0.01, ch.recv, ch)
    assert.is_nil(v)
    assert.equal("timeout", err.kind)
    assert.equal(0, engine.resources().waiters)
  end)

  it("carries 10 000 tasks ping-ponging without a leak", function()
    testing.no_leaks(function()
      local n = 10000
      local ping, pong = silk.channel(), silk.channel()
      local done = silk.channel(n)
      for _ = 1, n do
        silk.spawn(function()
          local v = ping:recv()
          pong:send(v + 1)
          done:send(true)
        end)
      end
      local sum = 0
      local feeder = silk.spawn(function() for i = 1, n do ping:send(i) end end)
      for _ = 1, n do sum = sum + pong:recv() end
      for _ = 1, n do done:recv() end
      feeder:join()
      assert.equal(n * (n + 1) / 2 + n, sum)
    end)
    assert.equal(0, engine.resources().waiters)
  end)
end)
