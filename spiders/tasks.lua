-- Shows the task runtime without the network: workers on a channel, a deadline that stops a runaway loop, a scope, and (with `leak` as argument) a leak report.
local silk = require("silk")

local jobs, results = silk.channel(8), silk.channel(8)
for w = 1, 3 do
  silk.spawn{ name = "worker " .. w, function()
    for n in function() return jobs:recv() end do
      silk.sleep(0.01 * (n % 3))
      results:send(("worker %d: %d squared is %d"):format(w, n, n * n))
    end
  end }
end
silk.spawn(function() for n = 1, 6 do jobs:send(n) end jobs:close() end)
for _ = 1, 6 do print(results:recv()) end

local t0 = silk.now()
local runaway = silk.spawn{ name = "runaway", timeout = 0.05, function() while true do end end }
local ok, err = runaway:join()
print(("runaway loop: %s after %.0f ms (%s)"):format(ok and "finished" or "stopped",
  (silk.now() - t0) * 1e3, err and err.kind))

local _, failure = silk.scope(function(s)
  s:spawn(function() silk.sleep(0.01) error("one child fails") end)
  s:spawn(function() silk.sleep(10) end)        -- cancelled by the scope
end)
print("scope: " .. tostring(failure))

if ... == "leak" then
  silk.spawn{ name = "forgotten", function() silk.sleep(60) end }
  print("leaving a task behind: expect a leak report and exit status 3")
end
