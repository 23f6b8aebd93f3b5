-- yield/resume round trips through C: a silk.sleep(0) loop in the main task,
-- and the same with 100 tasks doing it at once.
--   silk eval bench/tasks/yield.lua [SECONDS]
local silk = require("silk")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local dur = tonumber(arg[1]) or 1.0
local sleep = silk.sleep
local n, t0 = 0, C.now()
repeat
  for _ = 1, 1000 do sleep(0) end
  n = n + 1000
until C.now() - t0 >= dur
local s = C.now() - t0
-- 100 tasks round-tripping concurrently
local total, stop = 0, C.now() + dur
local ts = {}
for i = 1, 100 do
  ts[i] = silk.spawn(function()
    local k = 0
    while C.now() < stop do for _ = 1, 100 do sleep(0) end k = k + 100 end
    return k
  end)
end
local t1 = C.now()
for i = 1, 100 do local _, k = ts[i]:join() total = total + k end
local s1 = C.now() - t1
C.result{ bench = "yield_resume", round_trips = n, seconds = s, per_s = n / s,
          concurrent100_per_s = total / s1 }
