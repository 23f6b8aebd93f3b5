-- A CPU-bound Lua benchmark (numeric loop, table churn, string building,
-- closures), run inside a deadline so that enforcement is armed. bench/run
-- times it under `silk eval` and `silk eval --no-preempt` alternately.
--   silk [--no-preempt] eval bench/tasks/cpu.lua [SCALE]
local silk = require("silk")
local engine = require("silk.core.engine")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local scale = tonumber(arg[1]) or 1

local function work()
  local acc = 0
  -- numeric (JIT-compiled) loop
  for i = 1, 30000000 * scale do acc = (acc + i * 7) % 1000003 end
  -- tables and closures
  for r = 1, 20 * scale do
    local t = {}
    for i = 1, 20000 do t[i] = { i, tostring(i % 97) } end
    table.sort(t, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
    acc = acc + t[1][1]
  end
  -- strings
  for r = 1, 40 * scale do
    local parts = {}
    for i = 1, 5000 do parts[i] = string.format("%d:%s", i, string.rep("x", i % 7)) end
    local s = table.concat(parts, ",")
    acc = acc + #s + select(2, s:gsub("xx", "y"))
  end
  return acc
end

local t0 = C.now()
local acc = assert(silk.with_timeout(600, work))
C.result{ bench = "cpu", seconds = C.now() - t0, check = acc % 1000, ticks = engine.ticks() }
