-- silk.core.frontier: the URL frontier (frontier.c, frontier_mem.c, frontier_sqlite.c).
local frontier = require("silk.core.frontier")

local function drain(f, now)
  local out = {}
  while true do
    local r = f:pop_ready(now)
    if not r then break end
    out[#out + 1] = r
  end
  return out
end

describe("silk.core.frontier", function()
  it("dedupes on the canonical URL unless dont_filter", function()
    local f = frontier.new{max_per_host = 10}
    assert.is_true(f:push("http://a.com/x", 0))
    assert.is_false(f:push("HTTP://a.com:80/x#top", 0))
    assert.is_true(f:push({url = "http://a.com/x", dont_filter = true}, 0))
    local r, err = f:push("mailto:x@y", 0)
    assert.is_nil(r)
    assert.equal("url", err.kind)
    local s = f:stats()
    assert.equal(2, s.queued)
    assert.equal(1, s.seen)
    assert.equal(1, s.duplicates)
    f:close()
  end)

  it("hands out what was pushed, meta as opaque bytes", function()
    local f = frontier.new{}
    f:push({url = "https://b.com/p?q=1", depth = 2, priority = 3, callback = "parse_item",
            meta = '{"k":"v"}'}, 0)
    local r = f:pop_ready(0)
    assert.equal("https://b.com/p?q=1", r.url)
    assert.equal("https://b.com:443", r.host)
    assert.equal(2, r.depth)
    assert.equal(3, r.priority)
    assert.equal("parse_item", r.callback)
    assert.equal('{"k":"v"}', r.meta)
    assert.is_false(r.dont_filter)
    assert.is_true(f:done(r.id, "ok", 0))
    assert.has_error(function() f:done(r.id, "ok", 0) end)
  end)

  it("push_link queues a plain link as push does, deduping with it", function()
    local f = frontier.new{}
    assert.is_true(f:push_link("https://b.com/p#top", "https://b.com/p", 2, "item", 0))
    assert.is_false(f:push("https://B.com:443/p", 0))
    assert.is_false(f:push_link("https://b.com/p?", "https://b.com/p", 1, nil, 0))
    local r, err = f:push_link("https://b.com/\0", "https://b.com/%00", 1, nil, 0)
    assert.is_nil(r)
    assert.equal("url", err.kind)
    assert.has_error(function() f:push_link("https://b.com/q", nil, 1) end)
    assert.has_error(function() f:push_link("https://b.com/q", "https://b.com/q", "deep") end)
    r = f:pop_ready(0)
    assert.equal("https://b.com/p#top", r.url)
    assert.equal("https://b.com/p", r.canonical)
    assert.equal("https://b.com:443", r.host)
    assert.equal(2, r.depth)
    assert.equal(0, r.priority)
    assert.equal("item", r.callback)
    assert.is_nil(r.meta)
    assert.is_nil(f:pop_ready(0))
    f:close()
  end)

  it("never has more than max_per_host in flight and round-robins hosts", function()
    local f = frontier.new{max_per_host = 2}
    for h = 1, 3 do
      for i = 1, 5 do f:push(("http://h%d.com/%d"):format(h, i), 0) end
    end
    local got = drain(f, 0)
    assert.equal(6, #got)
    assert.are_not.equal(got[1].host, got[2].host)
    assert.are_not.equal(got[2].host, got[3].host)
    local per = {}
    for _, r in ipairs(got) do per[r.host] = (per[r.host] or 0) + 1 end
    for _, n in pairs(per) do assert.equal(2, n) end
    local r, wake = f:pop_ready(0)
    assert.is_nil(r)
    assert.is_nil(wake) -- every host full: wait for done()
    f:done(got[1].id, "ok", 0)
    assert.equal(got[1].host, f:pop_ready(0).host)
  end)

  it("respects the per-host delay and says when to wake up", function()
    local f = frontier.new{max_per_host = 5, delay = 2}
    f:push("http://a.com/1", 0)
    f:push("http://a.com/2", 0)
    assert.truthy(f:pop_ready(10))
    local r, wake = f:pop_ready(10)
    assert.is_nil(r)
    assert.equal(12, wake)
    assert.equal(12, f:next_wakeup(11))
    assert.equal("http://a.com/2", f:pop_ready(12).url)
  end)

  it("honours a crawl-delay override and a hold", function()
    local f = frontier.new{max_per_host = 5}
    f:set_host("http://a.com/robots.txt", {delay = 10}, 0)
    f:push("http://a.com/1", 0)
    f:push("http://a.com/2", 0)
    assert.truthy(f:pop_ready(0))
    assert.is_nil(f:pop_ready(5))
    assert.truthy(f:pop_ready(10))
    f:push("http://b.com/1", 10)
    f:set_host("http://b.com", {hold = 30}, 10) -- Retry-After: 30
    assert.is_nil(f:pop_ready(20))
    assert.truthy(f:pop_ready(40))
  end)

  it("serves higher priorities first, then FIFO (bfs) or LIFO (dfs)", function()
    local f = frontier.new{max_per_host = 10}
    f:push({url = "http://a.com/low", priority = -1}, 0)
    f:push("http://a.com/1", 0)
    f:push("http://a.com/2", 0)
    f:push({url = "http://a.com/high", priority = 5}, 0)
    local urls = {}
    for _, r in ipairs(drain(f, 0)) do urls[#urls + 1] = r.url:match("/([^/]+)$") end
    assert.same({"high", "1", "2", "low"}, urls)
    local d = frontier.new{max_per_host = 10, order = "dfs"}
    d:push("http://a.com/1", 0)
    d:push("http://a.com/2", 0)
    assert.equal("http://a.com/2", d:pop_ready(0).url)
  end)

  it("backs a failing host off exponentially and retries requests", function()
    local f = frontier.new{max_per_host = 1, fail_threshold = 1, backoff_base = 4, backoff_max = 100}
    for i = 1, 3 do f:push("http://bad.com/" .. i, 0) end
    local r = f:pop_ready(0)
    f:done(r.id, "retry", 0)           -- 1 failure: held 4 s
    assert.is_nil(f:pop_ready(3))
    r = f:pop_ready(4)
    f:done(r.id, "failed", 4)          -- 2 failures: held 8 s
    local _, wake = f:pop_ready(4)
    assert.equal(12, wake)
    r = f:pop_ready(12)
    f:done(r.id, "ok", 12)             -- success resets the budget
    r = f:pop_ready(12)
    assert.equal(1, r.retries)
    assert.equal(1, f:stats().top[1].in_flight)
  end)

  it("ends a host's backoff when a request of it still in flight succeeds", function()
    local f = frontier.new{max_per_host = 2, fail_threshold = 1, backoff_base = 100, backoff_max = 100}
    for i = 1, 3 do f:push("http://h.com/" .. i, 0) end
    local a, b = f:pop_ready(0), f:pop_ready(0)
    f:done(a.id, "failed", 0)          -- held 100 s
    local _, wake = f:pop_ready(1)
    assert.equal(100, wake)
    f:done(b.id, "ok", 1)              -- the host answered: the backoff is over
    assert.equal("http://h.com/3", f:pop_ready(1).url)
  end)

  it("keeps a Retry-After hold through a success", function()
    local f = frontier.new{max_per_host = 2, fail_threshold = 1, backoff_base = 100, backoff_max = 100}
    for i = 1, 3 do f:push("http://h.com/" .. i, 0) end
    local a, b = f:pop_ready(0), f:pop_ready(0)
    f:set_host("http://h.com/", {hold = 30}, 0)
    f:done(a.id, "failed", 0)
    f:done(b.id, "ok", 1)
    local r, wake = f:pop_ready(1)
    assert.is_nil(r)
    assert.equal(30, wake)
  end)

  it("refuses unknown options and bad values (misuse)", function()
    assert.has_error(function() frontier.new{max_per_hots = 2} end, "unknown frontier option max_per_hots")
    assert.has_error(function() frontier.new{order = "random"} end)
    assert.has_error(function() frontier.new{max_per_host = 0} end)
    assert.has_error(function() frontier.new{backend = "nosuch"} end)
    local f = frontier.new{}
    f:close()
    assert.has_error(function() f:push("http://a/") end, "attempt to use a closed frontier")
  end)

  describe("with the sqlite backend", function()
    local dir
    before_each(function()
      dir = os.tmpname()
      os.remove(dir)
    end)
    after_each(function()
      os.remove(dir .. "/frontier.sqlite-wal")
      os.remove(dir .. "/frontier.sqlite-shm")
      os.remove(dir .. "/frontier.sqlite")
      os.remove(dir)
    end)

    it("resumes pending and in-flight requests, the seen-set and kv after reopen", function()
      local f = assert(frontier.new{backend = "sqlite", path = dir, name = "books", max_per_host = 10})
      for i = 1, 5 do f:push({url = "http://a.com/" .. i, meta = "m" .. i}, 0) end
      local r1 = f:pop_ready(0)
      f:done(r1.id, "ok", 0)
      local r2 = f:pop_ready(0) -- stays in flight
      f:kv_set("items.offset", "4096")
      assert.is_true(f:checkpoint(true))
      assert.is_false(f:checkpoint(false)) -- nothing new
      local s = f:stats()
      assert.equal(1, s.checkpoints)
      f:close()

      local g, err = frontier.new{backend = "sqlite", path = dir, name = "other"}
      assert.is_nil(g)
      assert.equal("jobdir", err.kind)
      assert.matches('belongs to spider "books"', err.message)

      g = assert(frontier.new{backend = "sqlite", path = dir, name = "books", max_per_host = 10})
      assert.equal("4096", g:kv_get("items.offset"))
      assert.is_nil(g:kv_get("nope"))
      assert.is_false(g:push("http://a.com/1", 0))
      local got = drain(g, 0)
      assert.equal(4, #got) -- 3 queued + the one in flight
      local found = false
      for _, r in ipairs(got) do
        if r.url == r2.url then found = (r.meta == r2.meta) end
      end
      assert.is_true(found)
      g:close()
    end)
  end)
end)
