-- The preemption tick's intervals: a task spins for SECONDS (default 2),
-- reading the engine's tick count in its loop, and records the time between
-- successive ticks (ms, p50/p99/max). The task has no deadline and never
-- waits; it is time-sliced like any busy task, and the gaps while it is
-- paused (nothing else runs, so the loop resumes it at once) are counted.
--   silk eval bench/tasks/tick.lua [SECONDS]
local silk = require("silk")
local engine = require("silk.core.engine")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local seconds = tonumber(arg[1]) or 2

local gaps = silk.spawn(function()
  local ticks, now = engine.ticks, silk.now
  local t0 = now()
  local last_n, last_t = ticks(), t0
  local out = {}
  repeat
    local n, t = ticks(), now()
    if n ~= last_n then
      out[#out + 1] = (t - last_t) * 1000 / (n - last_n)
      last_n, last_t = n, t
    end
  until t - t0 >= seconds
  return out
end)
local _, iv = assert(gaps:join())
table.remove(iv, 1)                      -- the first gap starts at the spawn, not a tick
table.sort(iv)
local sum = 0
for _, v in ipairs(iv) do sum = sum + v end
C.result{ bench = "tick", ticks = #iv, mean_ms = sum / math.max(#iv, 1),
          p50_ms = C.percentile(iv, 50), p99_ms = C.percentile(iv, 99), max_ms = iv[#iv] or 0 }
