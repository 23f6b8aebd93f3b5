--- silk: the spider author's module.
--
-- Tasks, waits, cancellation and channels come from the C core
-- (silk.core.task); this file adds what is better said in Lua on top of the
-- core's cancel frames: with_timeout and scope.
--
--   silk.spawn(fn, ...) / silk.spawn{fn, ..., name=, timeout=} -> task
--   task:join() -> true, results... | false, err
--   task:cancel([reason]); task:status(); task:cpu_time(); task.id; task.name
--   silk.sleep(seconds)
--   silk.with_timeout(seconds, fn, ...) -> results... | nil, err (err.kind == "timeout")
--   silk.scope(fn) -> results of fn | nil, err (the first child failure)
--   silk.channel([capacity]) -> channel with :send(v) :recv() :close() :len() :cap()
--   silk.current() -> task; silk.tasks() -> snapshot; silk.dump_tasks() -> text
--   silk.now() -> monotonic seconds
--
-- Cancellation and deadlines are raised, not returned: a wait of a cancelled
-- or timed-out task raises an error value { kind = "cancelled" | "timeout",
-- message = ... }, and every later wait raises it again, so the task unwinds
-- whatever it catches. with_timeout and scope catch their own and return
-- nil, err.

local core = require("silk.core.task")
local engine = require("silk.core.engine")

local pack = function(...) return { n = select("#", ...), ... } end
local unpack = unpack
local error, type, setmetatable, tostring, pcall = error, type, setmetatable, tostring, pcall

local silk = {
  spawn = core.spawn,
  sleep = core.sleep,
  channel = core.channel,
  current = core.current,
  tasks = core.tasks,
  dump_tasks = core.dump,
  now = engine.now,
}

--- Runs fn(...) under a deadline `seconds` from now.
-- Returns fn's results, or nil, err when the deadline interrupted it
-- (err.kind == "timeout"). Errors of fn, and interruptions of outer
-- deadlines or cancellations, propagate.
function silk.with_timeout(seconds, fn, ...)
  if type(seconds) ~= "number" or not (seconds >= 0) then
    error("bad argument #1 to 'with_timeout' (non-negative number of seconds expected, got "
          .. tostring(seconds) .. ")", 2)
  end
  if type(fn) ~= "function" then
    error("bad argument #2 to 'with_timeout' (function expected, got " .. type(fn) .. ")", 2)
  end
  local frame = core.frame_push(seconds)
  local r = pack(pcall(fn, ...))
  local fired = core.frame_pop(frame)
  if r[1] then
    if fired then return nil, fired end
    return unpack(r, 2, r.n)
  end
  if fired and r[2] == fired then return nil, fired end
  error(r[2], 0)
end

local Scope = {}
Scope.__index = Scope

--- scope:spawn(fn, ...) / scope:spawn{fn, ..., name=, timeout=} -> task,
-- a child of the scope: it is cancelled if the scope fails and the scope
-- waits for it.
function Scope:spawn(...)
  return core.scope_spawn(self._frame, ...)
end

--- scope:cancel([reason]): cancels the scope's body and its children.
function Scope:cancel(reason)
  core.frame_cancel(self._frame, reason or "scope cancelled")
end

--- Structured concurrency: runs fn(scope, ...) and returns when it and every
-- task spawned through scope:spawn have finished. If one of them fails, the
-- others and the body are cancelled and scope returns nil, err (the first
-- failure). If the body raises, or the task running the scope is cancelled,
-- the children are cancelled and waited for, then the error propagates.
-- A child never outlives its scope.
function silk.scope(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'scope' (function expected, got " .. type(fn) .. ")", 2)
  end
  local frame = core.frame_push()
  local sc = setmetatable({ _frame = frame }, Scope)
  local r = pack(pcall(fn, sc, ...))
  if not r[1] then core.frame_cancel(frame, "scope body failed") end
  local waited, outer = core.scope_wait(frame)
  if waited == core.INTERRUPTED then
    core.frame_cancel(frame, "scope interrupted")
    core.scope_wait(frame, true)
  else
    outer = nil
  end
  local fired, cause = core.frame_pop(frame)
  if outer then error(outer, 0) end
  if not r[1] then
    if fired and r[2] == fired then return nil, cause or fired end
    error(r[2], 0)
  end
  if cause then return nil, cause end
  return unpack(r, 2, r.n)
end

return silk
