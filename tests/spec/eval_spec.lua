-- `silk eval` as a user runs it: exit statuses and reports, in a subprocess.
local engine = require("silk.core.engine")

local silk_bin = engine.exe()

local function script(body)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  return path
end

-- Runs `silk <args>` from directory `dir` (default: a temp dir, to prove
-- the binary finds its own modules); returns exit status and output.
local function silk(args, dir)
  dir = dir or "/tmp"
  local p = io.popen(("cd %s && %s %s 2>&1; echo \"exit:$?\""):format(dir, silk_bin, args))
  local out = p:read("*a")
  p:close()
  local status = tonumber(out:match("exit:(%d+)%s*$"))
  return status, out:gsub("exit:%d+%s*$", "")
end

describe("silk eval", function()
  it("runs a script with its arguments and exits 0", function()
    local f = script([[
      local silk = require("silk")
      local a, b = ...
      assert(arg[1] == a and arg[2] == b)
      local t = silk.spawn(function() silk.sleep(0.01) return a .. b end)
      local _, r = t:join()
      print("result " .. r)
    ]])
    local status, out = silk("eval " .. f .. " x y")
    assert.equal(0, status)
    assert.matches("result xy", out)
  end)

  it("exits 2 with file and line on a syntax error", function()
    local f = script("local x = = 1\n")
    local status, out = silk("eval " .. f)
    assert.equal(2, status)
    assert.matches(f:gsub("%p", "%%%0") .. ":1:", out)
  end)

  it("exits 1 with the message and traceback of an uncaught error", function()
    local f = script("local function deep() error('kaput') end\ndeep()\n")
    local status, out = silk("eval " .. f)
    assert.equal(1, status)
    assert.matches("kaput", out)
    assert.matches("stack traceback", out)
    assert.matches("in function 'deep'", out)
  end)

  it("reports a task that fails with nobody joining it, and exits 1", function()
    local f = script([[
      local silk = require("silk")
      silk.spawn{ name = "lonely", function() error("unseen") end }
      silk.sleep(0.01)
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(1, status)
    assert.matches('task %d+ "lonely".-failed and nobody joined it: error: .-unseen', out)
  end)

  it("does not report a failure that its parent joins after waiting on something else", function()
    -- spawn, other work, join: the child fails while the parent sleeps
    local f = script([[
      local silk = require("silk")
      local t = silk.spawn(function() silk.sleep(0.01) error("child broke") end)
      silk.sleep(0.05)
      local ok, err = t:join()
      print("joined", ok, err.message)
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(0, status)
    assert.matches("joined\tfalse\t.-child broke", out)
    assert.not_matches("failed and nobody", out)
  end)

  it("reports a failure when its parent ends without joining it, not later", function()
    local f = script([[
      local silk = require("silk")
      local parent = silk.spawn(function()
        silk.spawn{ name = "orphan", function() error("unseen") end }
        silk.sleep(0.01)                  -- the child fails while the parent waits
      end)
      parent:join()
      io.stderr:write("parent ended\n")
      silk.sleep(0.01)
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(1, status)
    assert.matches('task %d+ "orphan".-failed and nobody joined it: error: .-unseen.-parent ended', out)
  end)

  it("reports tasks alive after the main task returned as a leak and exits 3", function()
    local f = script([[
      local silk = require("silk")
      silk.spawn{ name = "poller", function() while true do silk.sleep(0.5) end end }
      local ch = silk.channel()
      silk.spawn{ name = "stuck", function() ch:recv() end }
      silk.sleep(0.01)
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(3, status)
    assert.matches("leak: the main task returned: 2 tasks still alive", out)
    assert.matches('task %d+ "poller" %[sleep', out)
    assert.matches('task %d+ "stuck" %[recv channel', out)
    assert.matches("created at [^\n]*:2 by task 1", out)
    assert.matches("in function 'recv'", out)
  end)

  it("does not count a document a compiled trace's closure held as a leak", function()
    -- spin's trace keeps the closure it called as a constant, and so the
    -- closure's document, for as long as spin lives (a module's function:
    -- to the end) unless the traces are flushed
    local f = script([[
      local silk = require("silk")
      local function make()
        local doc = silk.html("<p>x</p>")
        return function() return doc end
      end
      package.loaded.spin = function(f)
        local n = 0
        for _ = 1, 1000 do if f() then n = n + 1 end end
        return n
      end
      package.loaded.spin(make())
    ]])
    local status, out = silk("eval " .. f)
    assert.equal("", out)
    assert.equal(0, status)
  end)

  it("downgrades a leak to a warning with --allow-leaks", function()
    local f = script("require('silk').spawn(function() require('silk').sleep(5) end)\n")
    local status, out = silk("eval --allow-leaks " .. f)
    assert.equal(0, status)
    assert.matches("1 task still alive", out)
  end)

  it("detects a deadlock, reports every task and exits 4", function()
    local f = script([[
      local silk = require("silk")
      local a, b = silk.channel(), silk.channel()
      local t = silk.spawn{ name = "left", function() a:recv(); b:send(1) end }
      b:recv()
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(4, status)
    assert.matches("deadlock", out)
    assert.matches('task 1 "main" %[recv', out)
    assert.matches('task 2 "left" %[recv', out)
  end)

  it("cancels every task on SIGTERM and exits 143 once they have unwound", function()
    local f = script([[
      local silk = require("silk")
      local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
      local t = silk.spawn(function()
        local ok, err = pcall(silk.sleep, 30)
        print("child saw " .. err.kind .. " " .. err.message)
      end)
      silk.sleep(0.01)
      os.execute("kill -TERM " .. pid)
      silk.sleep(30)
    ]])
    local t0 = os.time()
    local status, out = silk("eval --grace 2 " .. f)
    assert.equal(143, status)
    assert.matches("child saw cancelled shutdown", out)
    assert.is_true(os.time() - t0 < 10)
  end)

  it("reports what is left after the grace period", function()
    local f = script([[
      local silk = require("silk")
      local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
      silk.spawn{ name = "stubborn", function()
        while true do pcall(silk.sleep, 10); local t0 = silk.now() while silk.now() - t0 < 0.001 do end end
      end }
      -- os.execute ignores SIGINT while it runs: send it from the background
      os.execute("(sleep 0.05; kill -INT " .. pid .. ") &")
      silk.sleep(30)
    ]])
    local status, out = silk("eval --grace 0.2 " .. f)
    assert.equal(130, status)
    assert.matches("SIGINT", out:upper())
  end)

  it("prints the task dump on SIGUSR1 and carries on", function()
    local f = script([[
      local silk = require("silk")
      local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
      local t = silk.spawn{ name = "visible", function() silk.sleep(0.2) end }
      silk.sleep(0.01)
      os.execute("kill -USR1 " .. pid)
      silk.sleep(0.05)
      t:join()
      print("still running")
    ]])
    local status, out = silk("eval " .. f)
    assert.equal(0, status)
    assert.matches('task %d+ "visible" %[sleep', out)
    assert.matches("still running", out)
  end)

  it("finds Debian's Lua modules (cjson) and its own from any directory", function()
    local f = script("print(require('cjson').encode({a=1}), require('silk').now() > 0)\n")
    local status, out = silk("eval " .. f, "/")
    assert.equal(0, status)
    assert.matches('{"a":1}%s+true', out)
  end)

  it("prints its version", function()
    local status, out = silk("version")
    assert.equal(0, status)
    assert.matches("^silk %d+%.%d+%.%d+\nLuaJIT ", out)
  end)

  it("explains its usage and exits 2 on an unknown command", function()
    local status, out = silk("frobnicate")
    assert.equal(2, status)
    assert.matches("unknown command", out)
    assert.matches("usage: silk", out)
  end)
end)
