-- channel send/recv pairs per second between two tasks: rendezvous (capacity 0)
-- and buffered (capacity 128).
--   silk eval bench/tasks/channel.lua [SECONDS]
local silk = require("silk")
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local dur = tonumber(arg[1]) or 1.0

local function run(cap)
  local ch = silk.channel(cap)
  local stop = C.now() + dur
  local t0 = C.now()
  local prod = silk.spawn(function()
    local i = 0
    while true do
      for _ = 1, 1000 do i = i + 1; ch:send(i) end
      if C.now() >= stop then break end
    end
    ch:close()
    return i
  end)
  local got = 0
  while ch:recv() ~= nil do got = got + 1 end
  local s = C.now() - t0
  local _, sent = prod:join()
  assert(sent == got, "lost values")
  return got / s
end

local r0 = run(0)
local r128 = run(128)
C.result{ bench = "channel", rendezvous_per_s = r0, buffered128_per_s = r128 }
