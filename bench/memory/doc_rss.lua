-- What one link-heavy page costs in memory (issue 15, item 14).
--   silk eval bench/memory/doc_rss.lua [MB]     (default 16)
-- Builds a page of MB megabytes of <li><a href> links, parses it (the
-- crawl's html.parse_async), then takes its links and selects a[href], and
-- prints the process RSS (VmRSS, and the peak VmHWM) after each step, with
-- the document's own memory (doc:memory(), when the binding has it) as a
-- multiple of its size.
local html = require("silk.core.html")

local function status()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) / 1024, tonumber(s:match("VmHWM:%s*(%d+)")) / 1024
end

local function line(what, extra)
  local rss, hwm = status()
  print(("%-28s RSS %7.1f MB  peak %7.1f MB  Lua heap %6.1f MB%s"):format(
    what, rss, hwm, collectgarbage("count") / 1024, extra or ""))
end

local mb = tonumber((...)) or 16
local page, i = dofile("tests/lib/linkpage.lua")(mb)
collectgarbage()
print(("page: %.1f MB, %d links"):format(#page / 1048576, i))
line("before parse")

local doc, err = html.parse_async(page, "http://example.com/list")
if not doc then
  line("parse failed", "  " .. tostring(err))
  return
end
local arena = doc.memory and doc:memory()
line("parsed", arena and ("  document %.1f MB = %.1f x its size"):format(arena / 1048576, arena / #page) or "")
local links = doc:links()
line("doc:links()", ("  %d links"):format(#links))
local nodes = doc:select("a[href]")
line("doc:select('a[href]')", ("  %d nodes"):format(#nodes))
links, nodes = nil, nil
doc:free()
collectgarbage()
line("freed")
