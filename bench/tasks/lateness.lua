-- Timer fairness under a runaway task: a task sleeps 50 ms, K times, while
-- another task runs `while true do end` (JIT-compiled) until its own deadline
-- stops it. Reports how late each wake-up was (p50/p99/max, ms) and how far
-- past its deadline the runaway was stopped.
--   silk eval bench/tasks/lateness.lua [K]
local silk = require("silk")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local k = tonumber(arg[1]) or 40
local runaway_for = k * 0.05 + 0.5

-- taken before the spawn, which sets the deadline: the lateness measured
-- below is never less than the true one
local deadline_at = C.now() + runaway_for
local runaway = silk.spawn{ name = "runaway", timeout = runaway_for, function()
  local x = 0
  while true do x = x + 1 end
end }

local late = {}
local sleeper = silk.spawn(function()
  for i = 1, k do
    local t0 = C.now()
    silk.sleep(0.05)
    late[i] = (C.now() - t0 - 0.05) * 1000
  end
end)
assert(sleeper:join())
local ok, err = runaway:join()
local stopped_late = (C.now() - deadline_at) * 1000
table.sort(late)
C.result{ bench = "lateness", sleeps = k, p50_ms = C.percentile(late, 50),
          p99_ms = C.percentile(late, 99), max_ms = late[#late],
          runaway_kind = (not ok and type(err) == "table") and err.kind or "none",
          runaway_stopped_after_deadline_ms = stopped_late }
