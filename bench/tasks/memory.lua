-- Memory per suspended task: N tasks (default 100 000) sleeping at once.
-- bytes_per_task = (RSS with them parked - RSS before) / N, after a full
-- collection each time (RSS covers the C task records and the Lua side);
-- lua_bytes_per_task = the Lua heap's share. The reference: N bare LuaJIT
-- coroutines suspended in a yield, measured by the Lua heap (RSS would reuse
-- the pages the tasks freed).
--   silk eval bench/tasks/memory.lua [N]
local silk = require("silk")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local n = tonumber(arg[1]) or 100000

local function sleeper() silk.sleep(3600) end
-- warm up allocator and JIT paths with a small batch
do
  local w = {}
  for i = 1, 1000 do w[i] = silk.spawn(sleeper) end
  silk.sleep(0.01)
  for i = 1, 1000 do w[i]:cancel("warmup") end
  for i = 1, 1000 do w[i]:join() end
end
local tasks = {}
for i = 1, n do tasks[i] = false end     -- the handle array is not the tasks' cost
collectgarbage("collect"); collectgarbage("collect")
local before, heap_before = C.rss(), collectgarbage("count") * 1024
local t0 = C.now()
for i = 1, n do tasks[i] = silk.spawn(sleeper) end
silk.sleep(0.05)                       -- every task runs up to its sleep and parks
local spawn_s = C.now() - t0
collectgarbage("collect"); collectgarbage("collect")
local after, heap_after = C.rss(), collectgarbage("count") * 1024
local parked = 0
for i = 1, n do if tasks[i]:status() == "waiting" then parked = parked + 1 end end
for i = 1, n do tasks[i]:cancel("done") end
for i = 1, n do tasks[i]:join() end
for i = 1, n do tasks[i] = false end

collectgarbage("collect"); collectgarbage("collect")
local cbefore = collectgarbage("count") * 1024
local function body() coroutine.yield() end
for i = 1, n do
  local co = coroutine.create(body)
  coroutine.resume(co)
  tasks[i] = co
end
collectgarbage("collect"); collectgarbage("collect")
local cafter = collectgarbage("count") * 1024
tasks = nil
C.result{ bench = "memory", tasks = n, parked = parked, rss_before = before, rss_after = after,
          bytes_per_task = (after - before) / n, lua_bytes_per_task = (heap_after - heap_before) / n,
          coroutine_bytes = (cafter - cbefore) / n, spawn_and_park_s = spawn_s }
