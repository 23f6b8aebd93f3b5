-- What the collector's atomic phase pays per parked task: N parked things
-- of one SHAPE, then whole cycles in LUA_GCSTEP(0) steps (as atomic.lua).
-- Prints one line: the heap per thing and the atomic step, median
-- [min-max] over 7 cycles, hot and with the caches overwritten (cold).
--   silk eval bench/gc/shapes.lua SHAPE [N] [DEPTH]
-- SHAPE:
--   task        silk tasks holding parked.lua's state, parked in silk.sleep
--   task-bare   silk tasks with no state of their own, parked in silk.sleep
--   co          plain coroutines holding the same state, parked in coroutine.yield
--   co-bare     plain coroutines with no state, parked in coroutine.yield
--   co-udata    co-bare, each with a full userdata that has an environment
--               (the shape of a task handle; the atomic phase walks every
--               userdata of the heap, lj_gc_separateudata)
--   co-table    co-bare, each with a table that has a metatable and a
--               light userdata in it (a handle that is no userdata)
--   co-pad      co-bare, each with a 450-byte string (which the collector
--               never reads: it only puts distance between coroutines)
--   co-yield    co-bare parked in coroutine.yield from DEPTH helper frames
--   co-c-yield  the same, calling a C function (silk.now) just before the
--               yield: how a primitive that registers its wait in C and
--               then yields from Lua would park
local shape, n, depth = ...
n, depth = tonumber(n) or 10000, tonumber(depth) or 0
local silk = require("silk")
local gc = require("silk.core.gc")

local stopped = false
local function state_of(i)
  local state = { id = i, url = "https://example.test/" .. i, headers = { a = "x", b = "y" } }
  for k = 1, 10 do state[k] = { k } end
  return state
end
local function with_state(i, park)
  local state = state_of(i)
  while not stopped do park() end
  return state.id
end
local yield, now = coroutine.yield, silk.now
local function nested(d, park)
  if d > 0 then
    local a, b, c = d, d + 1, d + 2
    nested(d - 1, park)
    return a + b + c
  end
  while not stopped do park() end
end
local function sleep() silk.sleep(3600) end
local function co_park(body, ...)
  local co = coroutine.create(body)
  assert(coroutine.resume(co, ...))
  return co
end

local handle_mt, ptr = {}, require("silk.core.task").INTERRUPTED   -- a light userdata
local makers = {
  task = function(i) return silk.spawn(with_state, i, sleep) end,
  ["task-bare"] = function() return silk.spawn(function() while not stopped do silk.sleep(3600) end end) end,
  co = function(i) return co_park(with_state, i, yield) end,
  ["co-bare"] = function() return co_park(function() while not stopped do yield() end end) end,
  ["co-udata"] = function()
    local u = newproxy(true)
    debug.setfenv(u, {})
    return { co_park(function() while not stopped do yield() end end), u }
  end,
  ["co-table"] = function()
    local h = setmetatable({ ptr = ptr }, handle_mt)
    return { co_park(function() while not stopped do yield() end end), h }
  end,
  ["co-pad"] = function(i)
    return { co_park(function() while not stopped do yield() end end), ("x"):rep(440) .. i }
  end,
  ["co-yield"] = function() return co_park(nested, depth, yield) end,
  ["co-c-yield"] = function() return co_park(nested, depth, function() now(); yield() end) end,
}
local make = assert(makers[shape], "unknown shape")

gc.full()
local base = collectgarbage("count") * 1024
local keep = {}
for i = 1, n do keep[i] = make(i) end
silk.sleep(0.1)                          -- the tasks parked
gc.full()
gc.full()
local per = (collectgarbage("count") * 1024 - base) / n

local atomic, cold = {}, {}
for r = 1, 7 do atomic[r], _, _, cold[r] = gc.profile_cycle() end
table.sort(atomic)
table.sort(cold)
local function mmm(v) return ("%.3f[%.3f-%.3f]"):format(v[4], v[1], v[7]) end
print(("shape=%s n=%d depth=%d bytes_each=%.0f atomic_ms=%s atomic_cold_ms=%s"):format(
  shape, n, depth, per, mmm(atomic), mmm(cold)))
stopped = true
if shape:match("^task") then for _, t in ipairs(keep) do t:cancel() end end
