-- select_budget_spec.lua: selector matching is bounded (issue 15, item 10).
-- A selector can cost a power of the page's size; the C matcher gives up
-- when the calling task is past its deadline or cancelled, or when SIGINT or
-- SIGTERM arrives, and the select/one/matches call raises a typed error.
-- Before this, `a:has(~ b ~ a ~ a)` on 400 sibling links ran for 10-30 s
-- with nothing able to get in: each test here then fails on its time bound.
package.path = "tests/lib/?.lua;" .. package.path
local silk = require("silk")
local html = require("silk.core.html")
local engine = require("silk.core.engine")
local cjson = require("cjson")
local servers = require("servers")
local files = require("files")

-- No memo or cut-off helps here: no <b> exists, so every chain of three
-- following links is tried for every link (the fourth power of 400).
local SLOW = "a:has(~ b ~ a ~ a)"
local LINKS = 400
local function slow_page(n) return "<div>" .. string.rep("<a href=/x>l</a>", n or LINKS) .. "</div>" end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

describe("selector matching under a deadline", function()
  local doc
  setup(function() doc = html.parse(slow_page()) end)
  teardown(function() doc:free() end)

  it("a task past its timeout fails with kind timeout, naming the selector", function()
    local t0 = silk.now()
    local t = silk.spawn{ timeout = 0.3, function() return doc:select(SLOW) end }
    local ok, err = t:join()
    local took = silk.now() - t0
    assert.is_false(ok)
    assert.equal("timeout", err.kind)
    assert.truthy(err.message:find(SLOW, 1, true), err.message)
    assert.is_true(took < 0.3 + 0.5, "took " .. took)
  end)

  it("with_timeout catches its own deadline raised from doc:one and node:matches", function()
    for _, call in ipairs{
      function() return doc:one(SLOW .. ", p") end,
      function() return doc:one("div"):matches(":has(" .. SLOW .. ")") end,
    } do
      local t0 = silk.now()
      local r, err = silk.with_timeout(0.2, call)
      local took = silk.now() - t0
      assert.is_nil(r)
      assert.equal("timeout", err.kind)
      assert.is_true(took < 0.2 + 0.5, "took " .. took)
    end
  end)

  it("a task that cancelled itself stops in its select, not at its next wait", function()
    local t0 = silk.now()
    local t = silk.spawn(function()
      silk.current():cancel("enough")
      return doc:select(SLOW)
    end)
    local ok, err = t:join()
    assert.is_false(ok)
    assert.equal("cancelled", err.kind)
    assert.is_true(silk.now() - t0 < 0.5, "took " .. (silk.now() - t0))
  end)

  it("selects that fit the deadline are unchanged (a regression check: passes on the base too)", function()
    local r = silk.with_timeout(1, function() return doc:select("a:has(~ a ~ a)") end)
    assert.equal(LINKS - 2, #r)
  end)
end)

describe("a crawl whose callback runs a runaway selector", function()
  local dir, web, spider
  setup(function()
    dir = files.tmpdir()
    os.execute("mkdir -p " .. q(dir .. "/www"))
    files.write(dir .. "/www/slow.html", slow_page(600))
    files.write(dir .. "/www/ok.html", "<p>fine</p>")
    web = servers.nginx{ root = dir .. "/www" }
    spider = dir .. "/spider.lua"
    files.write(spider, ([[
local silk = require("silk")
return silk.spider{
  name = "runaway",
  start_urls = { %q, %q },
  task_timeout = tonumber(os.getenv("TT")),
  parse = function(res, crawl)
    if res.url:find("slow") and not os.getenv("FAST") then io.stderr:write("matching\n"); res:select(%q) end
    crawl:emit{ url = res.url }
  end,
}]]):format(web.url .. "/slow.html", web.url .. "/ok.html", SLOW))
  end)
  teardown(function() web:stop() end)

  -- Runs the spider in the background; returns its pid and a waiter.
  -- `env`: more variables; `d`: the directory of a run to carry on (its
  -- items file and jobdir).
  local function start(tt, env, d)
    d = d or files.tmpdir()
    os.remove(d .. "/pid"); os.remove(d .. "/rc")
    os.execute(("( TT=%s %s %s run %s -o %s --jobdir %s --stats %s >%s 2>&1 & echo $! >%s; wait $!; echo $? >%s ) >/dev/null 2>&1 &"):format(
      tt, env or "", q(engine.exe()), q(spider), q(d .. "/items.jsonl"), q(d .. "/job"), q(d .. "/stats.json"),
      q(d .. "/log"), q(d .. "/pid"), q(d .. "/rc")))
    local t0 = silk.now()
    while not (files.read(d .. "/pid") or ""):match("%d") do
      assert(silk.now() - t0 < 5, "silk run did not start"); silk.sleep(0.01)
    end
    local h = { dir = d, pid = tonumber(files.read(d .. "/pid"):match("%d+")) }
    function h.log() return files.read(d .. "/log") or "" end
    function h.wait(limit)
      local t1 = silk.now()
      while not (files.read(d .. "/rc") or ""):match("%d") do
        if silk.now() - t1 > limit then
          os.execute("kill -KILL " .. h.pid)
          error(("silk run did not end within %gs:\n%s"):format(limit, h.log()))
        end
        silk.sleep(0.02)
      end
      return tonumber(files.read(d .. "/rc"):match("%d+")), silk.now() - t1
    end
    return h
  end

  it("fails that callback at task_timeout, counts it, and crawls the rest", function()
    local h = start(0.5)
    local rc = h.wait(10)
    assert.equal(0, rc, h.log())
    assert.truthy(h.log():find("timeout: task %d+ exceeded its deadline in selector"), h.log())
    local stats = cjson.decode(files.read(h.dir .. "/stats.json"))
    assert.equal(1, stats.callback_errors, files.read(h.dir .. "/stats.json"))
    assert.truthy((files.read(h.dir .. "/items.jsonl") or ""):find("ok.html", 1, true))
  end)

  for _, sig in ipairs{ "INT", "TERM" } do
    it("stops within 2 s of SIG" .. sig .. " while the selector runs", function()
      local h = start(600)
      local t0 = silk.now()
      while not h.log():find("matching") do
        assert(silk.now() - t0 < 10, "the callback did not start:\n" .. h.log()); silk.sleep(0.02)
      end
      silk.sleep(0.3)
      os.execute("kill -" .. sig .. " " .. h.pid)
      local _, took = h.wait(2)
      assert.is_true(took < 2, "took " .. took)
      assert.truthy(h.log():find('selector "' .. SLOW .. '" was stopped by SIG' .. sig, 1, true), h.log())
      -- stopped, not failed: the page went back to the queue, and the
      -- resume from the jobdir (without the runaway) fetches and emits it
      assert.truthy(h.log():find("the page goes back to the queue", 1, true), h.log())
      local again = start(600, "FAST=1", h.dir)
      assert.equal(0, again.wait(10), again.log())
      local urls = {}
      for l in (files.read(h.dir .. "/items.jsonl") or ""):gmatch("[^\n]+") do
        local u = cjson.decode(l).url:match("/(%w+)%.html$")
        urls[u] = (urls[u] or 0) + 1
      end
      assert.same({ slow = 1, ok = 1 }, urls)
    end)
  end
end)
