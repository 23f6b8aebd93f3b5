-- spawn+join rate: batches of 1 000 tasks spawned then joined, for ~D seconds.
--   silk eval bench/tasks/spawn.lua [SECONDS]
local silk = require("silk")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local dur = tonumber(arg[1]) or 1.0
local function f(x) return x end
local batch, done = {}, 0
local t0 = C.now()
repeat
  for i = 1, 1000 do batch[i] = silk.spawn(f, i) end
  for i = 1, 1000 do batch[i]:join() end
  done = done + 1000
until C.now() - t0 >= dur
local s = C.now() - t0
-- one at a time: spawn, then join at once (the latency-bound shape)
local single, t1 = 0, C.now()
repeat
  for i = 1, 100 do silk.spawn(f, i):join() end
  single = single + 100
until C.now() - t1 >= dur / 2
local s1 = C.now() - t1
C.result{ bench = "spawn_join", tasks = done, seconds = s, per_s = done / s,
          sequential_per_s = single / s1 }
