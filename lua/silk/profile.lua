--- silk.profile: flame graphs of the Lua time, from a script or the console.
--
--   profile.sample(seconds [, file]) -> { svg =, folded =, samples =, top = {...} }
--       Context: a task (sleeps `seconds` while the engine runs). Samples every
--       task for that long, writes FILE.svg and FILE.folded (default
--       /tmp/silk-profile-<pid>-<n>.svg) and returns the paths, the sample
--       count and the ten frames with the most self samples ("file:function").
--   profile.top(folded_text [, n]) -> { {frame =, self =, share =}, ... }
--   profile.start() -> core profile (see silk.core.profile) for custom spans.

local silk = require("silk")
local core = require("silk.core.profile")

local profile = { start = core.start }

local counter = 0

local function pid()
  local f = io.open("/proc/self/stat")
  local s = f and f:read("*l")
  if f then f:close() end
  return s and s:match("^(%d+)") or "0"
end

--- The frames with the most self samples (the leaf of each folded stack).
function profile.top(text, n)
  local self, all = {}, 0
  for stack, count in text:gmatch("([^\n]*) (%d+)\n") do
    local leaf = stack:match("([^;]*)$")
    count = tonumber(count)
    self[leaf] = (self[leaf] or 0) + count
    all = all + count
  end
  local list = {}
  for frame, c in pairs(self) do list[#list + 1] = { frame = frame, self = c } end
  table.sort(list, function(a, b) return a.self > b.self or (a.self == b.self and a.frame < b.frame) end)
  local out = {}
  for i = 1, math.min(n or 10, #list) do
    list[i].share = all > 0 and math.floor(list[i].self / all * 1000 + 0.5) / 10 or 0
    out[i] = list[i]
  end
  return out
end

function profile.sample(seconds, file)
  if type(seconds) ~= "number" or not (seconds > 0) then
    error("bad argument #1 to 'profile' (positive number of seconds expected)", 2)
  end
  if not file then
    counter = counter + 1
    file = string.format("/tmp/silk-profile-%s-%d.svg", pid(), counter)
  end
  local p, err = core.start()
  if not p then error(err, 2) end
  local ok, serr = pcall(silk.sleep, seconds)
  p:stop()
  if not ok then p:close() error(serr, 0) end
  local wrote, werr = p:write(file)
  local samples = p:samples()
  p:close()
  if not wrote then error(werr, 2) end
  local folded = file:gsub("%.svg$", "") .. ".folded"
  local f = io.open(folded)
  local text = f and f:read("*a") or ""
  if f then f:close() end
  return { svg = file, folded = folded, samples = samples, top = profile.top(text, 10) }
end

return profile
