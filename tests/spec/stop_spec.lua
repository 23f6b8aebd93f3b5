-- Every way a crawl is stopped (README "Stopping a crawl"): SIGINT once and
-- twice, SIGTERM, a graceful stop past its grace period, the console's
-- stop() and cancel(1). Each ends either with exit 0 or with the jobdir at
-- a checkpoint, and a resume then yields every item exactly once.
package.path = "tests/lib/?.lua;" .. package.path
local engine = require("silk.core.engine")
local silk = require("silk")
local cc = require("silk.core.console")
local cjson = require("cjson")
local files = require("files")
local tmpdir, read, write = files.tmpdir, files.read, files.write

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

local shop = require("shop")
local site = shop.site{ pages = 300, seed = 11 }
local web, start = site.web, site.start
-- SLEEP (set by each test) keeps requests in flight long enough to be
-- stopped among them.
local spider_path = shop.spider("checkpoint_interval = 0.2,")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Starts `silk run [engine_opts] SPIDER args` in the background; returns a
-- handle: pid, log(), status() (nil while running).
local function start_run(d, engine_opts, args, env)
  local cmd = ("cd %s && ( env START=%s %s %s run %s %s %s >%s 2>&1 & echo $! >%s; wait $!; echo $? >%s ) >/dev/null 2>&1 &"):format(
    q(root), q(start), env or "", q(silk_bin), engine_opts or "", q(spider_path), args,
    q(d .. "/log"), q(d .. "/pid"), q(d .. "/rc"))
  os.execute(cmd)
  local h = { dir = d }
  local t0 = silk.now()
  while not (read(d .. "/pid") or ""):match("%d") do
    assert(silk.now() - t0 < 5, "silk run did not start")
    silk.sleep(0.01)
  end
  h.pid = tonumber(read(d .. "/pid"):match("%d+"))
  function h.log() return read(d .. "/log") or "" end
  function h.status() return tonumber((read(d .. "/rc") or ""):match("%d+")) end
  function h.signal(name) os.execute(("kill -%s %d"):format(name, h.pid)) end
  function h.wait(timeout)
    local t1 = silk.now()
    while not h.status() do
      if silk.now() - t1 > (timeout or 30) then
        h.signal("KILL")
        error("silk run did not end in time:\n" .. h.log())
      end
      silk.sleep(0.02)
    end
    return h.status()
  end
  return h
end

local function run_args(d, extra)
  return ("-o %s --jobdir %s %s"):format(q(d .. "/items.jsonl"), q(d .. "/job"), extra or "")
end

-- How many pages the server has answered so far (its access log).
local function served() return #web:entries() end

local function wait_pages(n)
  local t0 = silk.now()
  while served() < n do
    assert(silk.now() - t0 < 20, "the crawl did not get going")
    silk.sleep(0.02)
  end
end

-- Resumes the crawl in d to its end and checks every item once.
local function resume_and_check(d)
  local p = io.popen(("cd %s && START=%s %s run %s %s 2>&1; echo \"exit:$?\""):format(
    q(root), q(start), q(silk_bin), q(spider_path), run_args(d)))
  local out = p:read("*a")
  p:close()
  assert.equal("0", out:match("exit:(%d+)%s*$"), out)
  local v = site.check(d .. "/items.jsonl")
  assert.is_true(v.ok, cjson.encode(v))
  return v
end

-- A clean stop: exit 0, the stats name the reason and count what was done,
-- and the resume finds every item once.
local function ended_cleanly(h, d, reason)
  assert.equal(0, h.wait(10), h.log())
  local st = cjson.decode(read(d .. "/stats.json"))
  assert.equal(reason, st.stop_reason)
  assert.is_true(st.pages > 0 and st.items > 0)
  resume_and_check(d)
end

describe("stopping a crawl", function()
  teardown(function() web:stop() end)

  describe("by signal", function()
    it("exits at once on a second SIGINT (128+2, no crash) and resumes with every item exactly once", function()
      for _ = 1, 2 do
        local d = tmpdir()
        local before = served()
        local h = start_run(d, "", run_args(d), "SLEEP=0.3")
        wait_pages(before + 30)
        h.signal("INT")
        silk.sleep(0.1)
        h.signal("INT")
        local t0 = silk.now()
        local status = h.wait(10)
        assert.is_true(silk.now() - t0 < 2, "the second SIGINT did not stop it at once")
        assert.equal(130, status, h.log())
        assert.matches("stopping gracefully", h.log())
        assert.matches("stopped at once", h.log())
        assert.not_matches("AddressSanitizer", h.log())
        resume_and_check(d)
      end
    end)

    it("stops gracefully on SIGTERM as on one SIGINT: exit 0, stats written, resumable", function()
      local d = tmpdir()
      local before = served()
      local h = start_run(d, "", run_args(d, "--stats " .. q(d .. "/stats.json")), "SLEEP=0.2")
      wait_pages(before + 20)
      h.signal("TERM")
      ended_cleanly(h, d, "SIGTERM")
      assert.matches("SIGTERM: stopping gracefully", h.log())
    end)

    it("stops at once when a graceful stop outlasts --grace, leaving the jobdir resumable", function()
      local d = tmpdir()
      local before = served()
      local h = start_run(d, "--grace 0.3", run_args(d), "SLEEP=2")
      wait_pages(before + 12)
      h.signal("INT")
      assert.equal(130, h.wait(10), h.log())
      assert.matches("did not end within the grace period", h.log())
      resume_and_check(d)
    end)
  end)

  describe("from the console", function()
    local function console_run(d, extra)
      local sock = d .. "/console.sock"
      local h = start_run(d, "--console " .. q(sock), run_args(d, extra), "SLEEP=0.2")
      local t0 = silk.now()
      local c
      repeat
        silk.sleep(0.05)
        c = cc.connect(sock)
      until c or silk.now() - t0 > 10
      assert.is_truthy(c, h.log())
      return h, c
    end

    it("stop() ends the crawl cleanly: exit 0, full stats, and a resume finds every item once", function()
      local d = tmpdir()
      local before = served()
      local h, c = console_run(d, "--stats " .. q(d .. "/stats.json"))
      wait_pages(before + 20)
      local ok, text = c:request("stop()")
      assert.is_true(ok, text)
      assert.matches("stopping: no new requests", text)
      c:close()
      ended_cleanly(h, d, "console")
    end)

    it("refuses cancel(1), the main task, and names stop() instead; the crawl carries on", function()
      local d = tmpdir()
      local before = served()
      local h, c = console_run(d)
      wait_pages(before + 10)
      local ok, text = c:request("cancel(1)")
      assert.is_true(ok, text)
      assert.matches("false", text)
      assert.matches("main task", text)
      assert.matches("stop%(%)", text)
      silk.sleep(0.3)
      assert.is_nil(h.status(), h.log())
      ok, text = c:request("stop()")
      assert.is_true(ok, text)
      c:close()
      assert.equal(0, h.wait(10), h.log())
      resume_and_check(d)
    end)
  end)
end)

describe("a stop signal while the loop thread cannot get back to Lua", function()
  it("ends the process 10 s later, 128 + the signal, saying why", function()
    -- os.execute keeps the task inside C: no safe point, so neither the
    -- loop nor a hook runs until it returns (a 37 s child, killed below)
    local d = tmpdir()
    write(d .. "/blocked.lua", [[
      local silk = require("silk")
      silk.spawn(function() os.execute("exec sleep 37 </dev/null >/dev/null 2>&1") end):join()
    ]])
    local p = io.popen(("cd %s && ( %s eval %s 2>&1 & pid=$!; sleep 1; kill -TERM $pid; " ..
                        "t0=$(date +%%s); wait $pid; echo \"exit:$? after:$(( $(date +%%s) - t0 ))\" )"):format(
      q(root), q(silk_bin), q(d .. "/blocked.lua")))
    local out = p:read("*a")
    p:close()
    os.execute("pkill -f 'sleep 37' 2>/dev/null")
    assert.equal("143", out:match("exit:(%d+)"), out)
    local after = tonumber(out:match("after:(%d+)"))
    assert.is_true(after >= 9 and after <= 14, out)
    assert.matches("a stop signal, and the loop thread reaches no Lua safe point", out)
  end)
end)
