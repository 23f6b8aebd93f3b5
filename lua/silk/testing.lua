--- silk.testing: helpers for specs that test concurrent code.
--
--   testing.no_leaks(fn, ...) -> results of fn
--     Runs fn, then fails (raises) if a task created while it ran is still
--     alive: goleak's VerifyNone. Like goleak it retries for a while first,
--     yielding to the loop, so that tasks that were cancelled or are about
--     to finish get to do so; the error lists each leaked task with its dump.

local core = require("silk.core.task")

local testing = {}

local function leaked(before)
  local now = core.live_ids()
  local ids = {}
  for id in pairs(now) do
    if not before[id] then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

function testing.no_leaks(fn, ...)
  local before = core.live_ids()
  local r = (function(...) return { n = select("#", ...), ... } end)(fn(...))
  -- goleak's schedule: backoff from a bare yield up to 100 ms, ~20 tries.
  local delay = 0
  local ids = leaked(before)
  for _ = 1, 20 do
    if #ids == 0 then return unpack(r, 1, r.n) end
    core.sleep(delay)
    delay = delay == 0 and 1e-4 or math.min(delay * 2, 0.1)
    ids = leaked(before)
  end
  local lines = { ("%d task%s leaked:"):format(#ids, #ids == 1 and "" or "s") }
  local dump = core.dump()
  for _, id in ipairs(ids) do
    local entry = dump:match("\n(task " .. id .. "[ %[].-)\n\n")
    lines[#lines + 1] = entry or ("task " .. id)
  end
  error(table.concat(lines, "\n"), 2)
end

return testing
