-- The collector's unsplittable step with N parked tasks: N tasks each holding
-- a crawl-like state (as in workload.lua) park in a sleep, then whole cycles
-- run in LUA_GCSTEP(0) steps (gc.profile_cycle); the longest step is the
-- atomic phase, which rescans every live coroutine; it runs again with the
-- caches overwritten just before it (cold: as in a program, whose
-- allocation between slices evicts the heap). Prints one line of key=value
-- results: median [min-max] over REPEATS cycles.
--   silk eval bench/gc/atomic.lua TASKS [REPEATS]
local ntasks, repeats = ...
ntasks, repeats = tonumber(ntasks), tonumber(repeats) or 7
local silk = require("silk")
local gc = require("silk.core.gc")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local parked, stop = dofile(here .. "parked.lua")(silk, ntasks, function() return 3600 end)
silk.sleep(0.1)                          -- everyone parked
gc.full()
local heap = collectgarbage("count") * 1024

local atomic, cycle, cold = {}, {}, {}
for r = 1, repeats do
  atomic[r], cycle[r], _, cold[r] = gc.profile_cycle()
end
table.sort(atomic)
table.sort(cycle)
table.sort(cold)
local function mmm(v) return ("%.3f [%.3f-%.3f]"):format(v[math.ceil(#v / 2)], v[1], v[#v]) end
print(("tasks=%d heap_mb=%.1f atomic_ms=%s atomic_cold_ms=%s cycle_ms=%s"):format(
  ntasks, heap / 2^20, mmm(atomic):gsub(" ", ""), mmm(cold):gsub(" ", ""), mmm(cycle):gsub(" ", "")))
stop()
for _, t in ipairs(parked) do t:cancel() end
