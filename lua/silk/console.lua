--- silk.console: what a console line sees, and how it runs.
--
-- core/console.c spawns two tasks per request (see console.h):
--   console.serve(client_id, box, timeout)   joins box.task and sends the reply
--   console.evaluate(chunk, env) -> text     box.task, under the console deadline
-- and makes one environment per client with console.new_env(). The shell
-- (silk.repl) evaluates through the same functions in its own engine.
--
-- A chunk is tried as an expression first ("return " .. chunk), then as
-- statements. Its results are pretty-printed (silk.pretty), one per line,
-- after whatever it print()ed; `_` holds the first result of the last line.
-- Globals a chunk assigns live in the client's environment (reads fall
-- through to the engine's _G), so consoles do not clobber the crawl or each
-- other.
--
-- Built-ins (context: console; each may wait):
--   stats()        tasks by state, C resources, memory, gc, fetch, crawl (hook)
--   tasks()        the task dump (as on SIGUSR1)
--   task(id)       one task's dump entry, or nil, "no live task N"
--   cancel(id)     true; false when no live task has that id; false, why for
--                  the main task (a crawl ends cleanly only through stop())
--   stop()         the crawl runner's hook: stop the crawl as one SIGINT does
--   gc()           silk.core.gc stats(): pause percentiles, heap, cycles
--   pause() resume() frontier()   the crawl runner's hooks (below)
--   profile(seconds [, file])     flame graph of the next seconds; returns the paths
--   help()
-- and `silk` (the module) without a require.
--
-- Hooks: the crawl runner fills silk.console_hooks (created in silk/init.lua):
--   silk.console_hooks.stats    = function() -> table   shown as stats().crawl
--   silk.console_hooks.pause    = function() -> any     stop taking new requests
--   silk.console_hooks.resume   = function() -> any     carry on
--   silk.console_hooks.frontier = function() -> table   queue sizes per host, top 20
--   silk.console_hooks.stop     = function() -> text    stop cleanly (no new requests,
--                                                        the in-flight ones finish, checkpoint)
-- Each runs inside the console task (it may wait, under the deadline); a
-- missing hook makes the built-in raise "no crawl is running (no <name> hook)".

local silk = require("silk")
local core = require("silk.core.console")
local engine = require("silk.core.engine")
local pretty = require("silk.pretty")

local console = {}

local pack = function(...) return { n = select("#", ...), ... } end

local function gc_module()
  local ok, gc = pcall(require, "silk.core.gc")
  if ok and type(gc) == "table" and gc.stats then return gc end
  return nil
end

local function hook(name)
  local h = silk.console_hooks and silk.console_hooks[name]
  if not h then error("no crawl is running (no " .. name .. " hook)", 3) end
  return h
end

local builtins = {}

function builtins.stats()
  local by_state, live = {}, 0
  for _, t in ipairs(silk.tasks()) do
    local k = t.waiting_on and ("waiting_" .. t.waiting_on) or t.state
    by_state[k] = (by_state[k] or 0) + 1
    live = live + 1
  end
  local s = {
    tasks = { live = live, by_state = by_state },
    resources = engine.resources(),
    memory_kb = collectgarbage("count"),
  }
  local gc = gc_module()
  if gc then s.gc = gc.stats() end
  if package.loaded["silk.core.fetch"] then s.fetch = package.loaded["silk.core.fetch"].stats() end
  local h = silk.console_hooks and silk.console_hooks.stats
  if h then s.crawl = h() end
  return s
end

function builtins.tasks()
  return pretty.raw(silk.dump_tasks())
end

function builtins.task(id)
  id = tonumber(id)
  if not id then error("bad argument #1 to 'task' (task id expected)", 2) end
  local dump = silk.dump_tasks()
  local from = dump:find("\ntask " .. string.format("%d", id) .. "[ %[]")
  if not from then return nil, "no live task " .. string.format("%d", id) end
  local to = dump:find("\n\ntask %d", from + 1)
  return pretty.raw(dump:sub(from + 1, (to or #dump + 1) - 1):gsub("%s+$", ""))
end

function builtins.cancel(id, reason)
  id = tonumber(id)
  if not id then error("bad argument #1 to 'cancel' (task id expected)", 2) end
  return core.cancel(id, reason)
end

function builtins.gc()
  local gc = gc_module()
  if gc then return gc.stats() end
  return { heap_kb = collectgarbage("count"), pacer = false }
end

function builtins.pause() return hook("pause")() end
function builtins.resume() return hook("resume")() end
function builtins.frontier() return hook("frontier")() end
function builtins.stop() return pretty.raw(hook("stop")()) end

function builtins.profile(seconds, file)
  seconds = tonumber(seconds) or 5
  local profile = require("silk.profile")
  return profile.sample(seconds, file)
end

local HELP = [[
silk console: Lua evaluated inside the running engine, one task per line
(deadline per line; a runaway line is stopped, the crawl is not).
  stats()                 tasks by state, resources, memory, gc, fetch, crawl
  tasks()                 dump of every live task (as SIGUSR1)
  task(id)                one task's dump entry
  cancel(id [, reason])   cancel a task (and its children); not the main task
  gc()                    GC pacer stats: pauses p50/p99/max, heap, cycles
  pause()  resume()       stop taking new requests / carry on (crawl runner)
  frontier()              queue sizes per host, top 20 (crawl runner)
  stop()                  stop the crawl as one Ctrl-C does: in-flight requests
                          finish, then a checkpoint and exit 0 (crawl runner)
  profile(seconds [, file])  flame graph of the next seconds -> FILE.svg + .folded
  help()                  this text
Globals you set stay in this console; `_` is the last result.
Multi-line input continues while the chunk is incomplete.]]

function builtins.help()
  return pretty.raw(HELP)
end

--- Makes a client's environment: its own globals, the built-ins, then _G.
-- `extra` (optional) adds names (the shell's fetch, view, res, doc).
function console.new_env(extra)
  local state = { out = nil }
  local own = {}
  for k, v in pairs(builtins) do own[k] = v end
  own.silk = silk
  own.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    local line = table.concat(parts, "\t")
    if state.out then state.out[#state.out + 1] = line else io.stdout:write(line, "\n") end
  end
  if extra then for k, v in pairs(extra) do own[k] = v end end
  setmetatable(own, { __index = _G })
  return setmetatable({}, { __index = own, __console_state = state })
end

--- Compiles and runs `chunk` in env; returns the text to show. Raises what
-- the chunk raises (a syntax error as its message).
-- It is compiled from a string rather than defined in this file: the time
-- slicer never pauses code running under a frame of silk's own modules
-- (preempt.c), and a console line must be sliced like any task so that a
-- runaway line cannot stall the loop until its deadline.
console.evaluate = assert(loadstring([[
  local pack, pretty, loadstring, setfenv, getmetatable, rawset, concat = ...
  return function(chunk, env)
    -- As an expression first; the results go through an argument list
    -- rather than `return f()`, so that an error in a lone call is not a
    -- tail call and its message names the console line.
    local f = loadstring("local p = ... return p(" .. chunk .. "\n)", "=console")
    local args = f and pack or nil
    if not f then
      local err
      f, err = loadstring(chunk, "=console")
      if not f then error(err, 0) end
    end
    setfenv(f, env)
    local state = getmetatable(env).__console_state
    local out = {}
    state.out = out
    local r = args and f(args) or pack(f())
    state.out = nil
    rawset(env, "_", r[1])
    for i = 1, r.n do out[#out + 1] = pretty.format(r[i]) end
    return concat(out, "\n")
  end
]], "=(console evaluate)"))(pack, pretty, loadstring, setfenv, getmetatable, rawset, table.concat)

--- The text of a failed evaluation.
function console.describe_error(err, timeout)
  if type(err) ~= "table" then return tostring(err) end
  if err.kind == "timeout" then
    return string.format("timeout: the line ran longer than the console deadline (%gs) and was stopped",
                         timeout or 0)
  end
  if err.kind == "cancelled" then return "cancelled: " .. tostring(err.message) end
  if err.value ~= nil then return "error: " .. pretty.format(err.value) end
  return tostring(err.message or err)
end

--- The reply task: waits for the evaluation and sends its outcome.
function console.serve(client_id, box, timeout)
  -- When the run ends the engine cancels this task as well (a service task,
  -- core/task.h): the join then raises, and the client still hears why.
  local joined, ok, res = pcall(function() return box.task:join() end)
  if not joined then ok, res = false, ok end
  local text = ok and (res or "") or console.describe_error(res, timeout)
  core.reply(client_id, ok, text)
end

console.builtins = builtins
return console
