-- The console: Lua evaluated inside the running engine over a UNIX socket.
-- The spec's own engine listens and connects to itself, so a runaway line,
-- two clients and a disconnect are all seen from the inside.
local silk = require("silk")
local cc = require("silk.core.console")
local pretty = require("silk.pretty")
local testing = require("silk.testing")

local function tmpdir(mode)
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m " .. (mode or "700") .. " " .. p) == 0)
  return p
end

local function sh(cmd)
  local f = io.popen(cmd)
  local out = f:read("*a")
  f:close()
  return (out:gsub("%s+$", ""))
end

local function console_tasks()
  local n = 0
  for _, t in ipairs(silk.tasks()) do
    if t.name == "console" or t.name == "console reply" then n = n + 1 end
  end
  return n
end

local function eventually(pred, timeout)
  local t0 = silk.now()
  while not pred() do
    if silk.now() - t0 > (timeout or 2) then return false end
    silk.sleep(0.005)
  end
  return true
end

describe("the console", function()
  local dir, path, srv

  before_each(function()
    dir = tmpdir()
    path = dir .. "/console.sock"
    srv = assert(cc.listen(path, { timeout = 0.5 }))
  end)

  after_each(function()
    srv:close()
    os.execute("rm -rf " .. dir)
  end)

  it("evaluates an expression and pretty-prints its results", function()
    testing.no_leaks(function()
      local c = assert(cc.connect(path))
      assert.same({ true, "2" }, { c:request("1 + 1") })
      assert.same({ true, '"a\\nb"\n3' }, { c:request("'a\\nb', 3") })
      assert.same({ true, '{ 1, 2, x = { y = true } }' }, { c:request("{1, 2, x = {y = true}}") })
      c:close()
    end)
  end)

  it("closes a client stuck half-way through a frame after 10 s, not one idle between frames", function()
    local out = os.tmpname()
    -- two raw clients: one sends 8 bytes of a 50-byte frame, one sends nothing
    os.execute(([[python3 -c '
import socket, time
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect("%s"); s.setblocking(False); return s
half, idle = conn(), conn()
half.sendall(b"eval 50\nreturn 1")
t0, closed = time.monotonic(), {}
while time.monotonic() - t0 < 13:
    time.sleep(0.1)
    for name, s in (("half", half), ("idle", idle)):
        try:
            if name not in closed and s.recv(1) == b"": closed[name] = round(time.monotonic() - t0, 1)
        except BlockingIOError: pass
print(closed.get("half"), closed.get("idle"), flush=True)
' > %s 2>&1 &]]):format(path, out))
    local report
    eventually(function()
      report = io.open(out):read("*a")
      return report:find("\n")
    end, 20)
    os.remove(out)
    local half, idle = report:match("^(%S+) (%S+)")
    assert.is_number(tonumber(half), report)
    assert.is_true(tonumber(half) >= 9.5 and tonumber(half) <= 11.5, report)
    assert.equal("None", idle)
  end)

  it("runs statements, shows print output, and keeps the client's globals", function()
    local c = assert(cc.connect(path))
    assert.same({ true, "" }, { c:request("x = 41") })
    assert.same({ true, "hello\t1\n42" }, { c:request("print('hello', 1)\nreturn x + 1") })
    assert.same({ true, "42" }, { c:request("_") })
    assert.is_nil(rawget(_G, "x"))            -- the engine's globals are untouched
    c:close()
  end)

  it("answers errors: syntax errors and what the line raised", function()
    local c = assert(cc.connect(path))
    local ok, text = c:request("for")
    assert.is_false(ok)
    assert.matches("<eof>", text)
    ok, text = c:request("error('boom')")
    assert.is_false(ok)
    assert.equal("console:1: boom", text)
    ok, text = c:request("error({code = 7})")
    assert.is_false(ok)
    assert.equal("error: { code = 7 }", text)
    assert.same({ true, "1" }, { c:request("1") })  -- the client carries on
    c:close()
  end)

  it("stops a runaway line at its deadline while the rest of the engine keeps going", function()
    local ticks = 0
    local ticker = silk.spawn(function()
      for _ = 1, 40 do silk.sleep(0.01) ticks = ticks + 1 end
    end)
    local c = assert(cc.connect(path))
    local t0 = silk.now()
    local ok, text = c:request("while true do end")
    local took = silk.now() - t0
    assert.is_false(ok)
    assert.matches("^timeout: .*0%.5s", text)
    assert.is_true(took >= 0.45 and took < 2, "took " .. took)
    -- timers kept firing meanwhile (50 at best in 0.5 s; a blocked loop
    -- would give at most 1, a loaded machine fewer than 50)
    assert.is_true(ticks >= 5, "ticks " .. ticks)
    assert.same({ true, "2" }, { c:request("1 + 1") })
    ticker:join()
    c:close()
    assert.is_true(eventually(function() return console_tasks() == 0 end))
  end)

  it("serves two clients at once, each with its own globals", function()
    local a, b = assert(cc.connect(path)), assert(cc.connect(path))
    assert(a:send("who = 'a' silk.sleep(0.2) return who"))
    local t0 = silk.now()
    assert.same({ true, "nil" }, { b:request("who") })
    assert.is_true(silk.now() - t0 < 0.15)           -- b did not wait for a
    assert.same({ true, '"a"' }, { a:recv() })
    assert.equal(2, srv:clients())
    a:close()
    b:close()
    assert.is_true(eventually(function() return srv:clients() == 0 end))
  end)

  it("cancels the running line of a client that disconnects, leaving nothing behind", function()
    testing.no_leaks(function()
      local c = assert(cc.connect(path))
      _G.console_started = false
      assert(c:send("_G.console_started = true silk.sleep(0.3) _G.console_finished = true"))
      assert.is_true(eventually(function() return _G.console_started end))
      assert.equal(2, console_tasks())
      c:close()
      assert.is_true(eventually(function() return console_tasks() == 0 and srv:clients() == 0 end))
      silk.sleep(0.35)
      assert.is_nil(rawget(_G, "console_finished"))
    end)
    _G.console_started = nil
  end)

  it("pipelines requests from one client in order", function()
    local c = assert(cc.connect(path))
    for i = 1, 5 do assert(c:send("silk.sleep(0.01 * " .. (6 - i) .. ") return " .. i)) end
    for i = 1, 5 do assert.same({ true, tostring(i) }, { c:recv() }) end
    c:close()
  end)

  it("has the built-ins: stats, tasks, task, cancel, gc, help", function()
    local c = assert(cc.connect(path))
    local victim = silk.spawn{ name = "victim", function() silk.sleep(30) end }
    local ok, text = c:request("stats().tasks.live")
    assert.is_true(ok)
    assert.is_true(tonumber(text) >= 3)
    ok, text = c:request("tasks()")
    assert.matches('task %d+ "victim" %[sleep', text)
    ok, text = c:request("task(" .. victim.id .. ")")
    assert.matches('^task ' .. victim.id .. ' "victim"', text)
    assert.same({ true, "nil\n\"no live task 999999\"" }, { c:request("task(999999)") })
    assert.same({ true, "true" }, { c:request("cancel(" .. victim.id .. ")") })
    local jok, err = victim:join()
    assert.is_false(jok)
    assert.equal("cancelled", err.kind)
    assert.same({ true, "false" }, { c:request("cancel(" .. victim.id .. ")") })
    ok, text = c:request("gc()")
    assert.is_true(ok)
    assert.matches("heap", text)
    ok, text = c:request("help()")
    assert.matches("pause%(%)", text)
    c:close()
  end)

  it("calls the crawl runner's hooks for pause, resume, frontier and stats", function()
    local c = assert(cc.connect(path))
    local ok, text = c:request("pause()")
    assert.is_false(ok)
    assert.matches("no crawl is running %(no pause hook%)", text)
    local paused = false
    silk.console_hooks.pause = function() paused = true return "paused" end
    silk.console_hooks.resume = function() paused = false return "resumed" end
    silk.console_hooks.frontier = function() return { { host = "a.example", queued = 3 } } end
    silk.console_hooks.stats = function() return { pages = 12 } end
    assert.same({ true, '"paused"' }, { c:request("pause()") })
    assert.is_true(paused)
    assert.same({ true, '"resumed"' }, { c:request("resume()") })
    assert.is_false(paused)
    assert.same({ true, '{ { host = "a.example", queued = 3 } }' }, { c:request("frontier()") })
    assert.same({ true, "12" }, { c:request("stats().crawl.pages") })
    silk.console_hooks.pause, silk.console_hooks.resume = nil, nil
    silk.console_hooks.frontier, silk.console_hooks.stats = nil, nil
    c:close()
  end)

  it("creates its socket with mode 0600", function()
    assert.equal("600", sh("stat -c %a " .. path))
  end)

  it("says 'closed' once the server goes away", function()
    local c = assert(cc.connect(path))
    assert.same({ true, "1" }, { c:request("1") })
    srv:close()
    assert.same({ nil, "closed" }, { c:request("2") })
    c:close()
    srv = assert(cc.listen(path))             -- for after_each
  end)

  it("refuses to cancel the main task and names stop(); the main task lives on", function()
    local main
    for _, t in ipairs(silk.tasks()) do if t.name == "main" then main = t.id end end
    assert.is_number(main)
    local c = assert(cc.connect(path))
    local ok, text = c:request(("cancel(%d)"):format(main))
    assert.is_true(ok, text)
    assert.equal(("false\n\"task %d is the main task: cancelling it would end the run without its "
                  .. "checkpoint; stop() stops a crawl cleanly\""):format(main), text)
    -- still here: the next wait of the main task would have raised
    silk.sleep(0)
    c:close()
  end)

  it("stop() calls the crawl runner's stop hook and shows its answer as text", function()
    local c = assert(cc.connect(path))
    local ok, text = c:request("stop()")
    assert.is_false(ok)
    assert.matches("no crawl is running %(no stop hook%)", text)
    local stopped = 0
    silk.console_hooks.stop = function() stopped = stopped + 1 return "stopping: as asked" end
    assert.same({ true, "stopping: as asked" }, { c:request("stop()") })
    assert.equal(1, stopped)
    silk.console_hooks.stop = nil
    assert.matches("stop%(%)", select(2, c:request("help()")))
    c:close()
  end)
end)

describe("the console of a run whose main task returns", function()
  it("cancels a line still running, tells its client, and counts no leak", function()
    local dir = tmpdir()
    local sock, script, log = dir .. "/c.sock", dir .. "/main.lua", dir .. "/run.log"
    local f = assert(io.open(script, "w"))
    f:write('require("silk").sleep(0.5)\n')
    f:close()
    local exe = require("silk.core.engine").exe()
    os.execute(("(%s eval --console %s %s > %s 2>&1; echo rc=$? >> %s) &"):format(exe, sock, script, log, log))
    assert.is_true(eventually(function() return os.execute("test -S " .. sock) == 0 end))
    local c = assert(cc.connect(sock))
    assert.same({ false, "cancelled: the run ended" }, { c:request("silk.sleep(30) return 1") })
    c:close()
    assert.is_true(eventually(function() return sh("cat " .. log):match("rc=%d+") ~= nil end, 5))
    local out = sh("cat " .. log)
    os.execute("rm -rf " .. dir)
    assert.equal("rc=0", out:match("rc=%d+"), out)
    assert.is_nil(out:match("leak"), out)
  end)
end)

describe("console.listen", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("refuses a path that exists and is not a socket", function()
    local p = dir .. "/file"
    io.open(p, "w"):close()
    local srv, err = cc.listen(p)
    assert.is_nil(srv)
    assert.matches("exists and is not a socket", err)
  end)

  it("refuses a socket another console is serving", function()
    local p = dir .. "/c.sock"
    local first = assert(cc.listen(p))
    local srv, err = cc.listen(p)
    assert.is_nil(srv)
    assert.matches("live socket", err)
    first:close()
  end)

  it("replaces a stale socket", function()
    local p = dir .. "/c.sock"
    -- a socket file nobody listens on: python binds it and exits
    assert.equal(0, os.execute("python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.bind('" .. p .. "')\""))
    assert.equal("socket", sh("stat -c %F " .. p))
    local srv = assert(cc.listen(p))
    local c = assert(cc.connect(p))
    assert.same({ true, "3" }, { c:request("1 + 2") })
    c:close()
    srv:close()
    assert.is_nil(io.open(p))                  -- removed on close
  end)

  it("refuses a directory that is world-writable without the sticky bit", function()
    local open = tmpdir("777")
    os.execute("chmod 777 " .. open)           -- past the umask
    local srv, err = cc.listen(open .. "/c.sock")
    assert.is_nil(srv)
    assert.matches("world%-writable without the sticky bit", err)
    os.execute("chmod 1777 " .. open)
    srv = assert(cc.listen(open .. "/c.sock"))
    srv:close()
    os.execute("rm -rf " .. open)
  end)
end)

describe("silk.pretty", function()
  it("quotes strings and escapes control characters", function()
    assert.equal('"a\\"b\\n\\0"', pretty.format('a"b\n\0'))
  end)

  it("prints nested tables with sorted keys, the array part first", function()
    assert.equal('{ 10, 20, [5.5] = true, a = 1, b = { c = "d" }, ["not id"] = 2 }',
                 pretty.format({ 10, 20, b = { c = "d" }, a = 1, ["not id"] = 2, [5.5] = true }))
  end)

  it("breaks long tables over lines, indented", function()
    local t = { alpha = string.rep("a", 40), beta = { string.rep("b", 40) } }
    assert.equal('{\n  alpha = "' .. string.rep("a", 40) .. '",\n  beta = { "' ..
                 string.rep("b", 40) .. '" }\n}', pretty.format(t))
  end)

  it("cuts cycles but prints shared tables again", function()
    local shared = { 1 }
    local t = { a = shared, b = shared }
    t.self = t
    local s = pretty.format(t)
    assert.matches("a = { 1 }, b = { 1 }", s)
    assert.matches("self = <cycle: table: 0x%x+>", s)
  end)

  it("bounds depth, entries and size", function()
    local deep = {}
    local at = deep
    for _ = 1, 20 do at.next = {} at = at.next end
    assert.matches("{%.%.%.}", pretty.format(deep, { max_depth = 3 }))
    local many = {}
    for i = 1, 500 do many[i] = i end
    assert.matches("%.%.%. %(400 more%)", pretty.format(many))
    assert.is_true(#pretty.format(string.rep("x", 1e6), { max_bytes = 1000 }) < 1100)
  end)

  it("prints raw text unquoted and values with __tostring through it", function()
    assert.equal("line 1\nline 2", pretty.format(pretty.raw("line 1\nline 2")))
    assert.equal("<thing>", pretty.format(setmetatable({}, { __tostring = function() return "<thing>" end })))
  end)
end)

