-- The collector's atomic phase against the call depth at which tasks park:
-- N tasks, each holding the crawl-like state of parked.lua, call silk.sleep
-- from DEPTH nested Lua frames (0: from the task's own function). A C
-- function called with fewer than LUA_MINSTACK (20) free slots above the
-- stack top makes LuaJIT double the coroutine's stack (47 -> 102 slots),
-- and every waiting primitive is a C function called through a Lua wrapper,
-- so from one helper frame deep the parked stacks have grown; the collector
-- halves a stack only when it is over 94 slots and under a quarter used
-- (lj_state_shrinkstack), so they settle at 59 or stay at 102. The atomic
-- phase walks every slot of every parked stack. Prints one line of
-- key=value results: the heap per task (the stacks' growth shows there:
-- 8 bytes a slot) and the atomic step, median [min-max] over REPEATS cycles.
--   silk eval bench/gc/depth.lua DEPTH [TASKS] [REPEATS]
local depth, ntasks, repeats = ...
depth, ntasks, repeats = tonumber(depth) or 0, tonumber(ntasks) or 10000, tonumber(repeats) or 7
local silk = require("silk")
local gc = require("silk.core.gc")

local stopped = false
local function park(d)
  if d > 0 then
    local a, b, c = d, d + 1, d + 2     -- a helper's few locals
    park(d - 1)
    return a + b + c
  end
  while not stopped do silk.sleep(3600) end
end

gc.full()
local base = collectgarbage("count") * 1024
local tasks = {}
for i = 1, ntasks do
  tasks[i] = silk.spawn(function()
    local state = { id = i, url = "https://example.test/" .. i, headers = { a = "x", b = "y" } }
    for k = 1, 10 do state[k] = { k } end
    park(depth)
    return state.id
  end)
end
silk.sleep(0.1)                          -- everyone parked
gc.full()
gc.full()                                -- a second cycle: the stacks the first halved
local per_task = (collectgarbage("count") * 1024 - base) / ntasks

local atomic, cold = {}, {}
for r = 1, repeats do
  atomic[r], _, _, cold[r] = gc.profile_cycle()
end
table.sort(atomic)
table.sort(cold)
local function mmm(v) return ("%.3f[%.3f-%.3f]"):format(v[math.ceil(#v / 2)], v[1], v[#v]) end
print(("depth=%d tasks=%d bytes_per_task=%.0f atomic_ms=%s atomic_cold_ms=%s"):format(
  depth, ntasks, per_task, mmm(atomic), mmm(cold)))
stopped = true
for _, t in ipairs(tasks) do t:cancel() end
