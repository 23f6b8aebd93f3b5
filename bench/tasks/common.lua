-- Shared helpers of bench/tasks/*.lua (loaded with dofile by each script).
local silk = require("silk")
local M = {}

local page = 4096
do
  local p = io.popen("getconf PAGESIZE 2>/dev/null")
  if p then page = tonumber(p:read("*l") or "") or page; p:close() end
end

--- Resident set size of this process in bytes (/proc/self/statm, field 2).
function M.rss()
  local f = assert(io.open("/proc/self/statm"))
  local _, res = f:read("*n", "*n")
  f:close()
  return res * page
end

function M.now() return silk.now() end

--- Prints one result line the harness parses: RESULT {"name":..,...}
function M.result(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "number" then
      v = (v == math.floor(v) and math.abs(v) < 2^53) and string.format("%d", v) or string.format("%.6g", v)
    else
      v = string.format("%q", tostring(v))
    end
    parts[#parts + 1] = string.format("%q:%s", k, v)
  end
  io.write("RESULT {", table.concat(parts, ","), "}\n")
  io.flush()
end

function M.percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.min(#sorted, math.ceil(p / 100 * #sorted)))
  return sorted[i]
end

return M
