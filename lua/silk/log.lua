--- silk.log: the crawl's log lines, by level, as text or JSON Lines, and the
-- progress line they must not mix with.
--
--   local log = require("silk.log")
--   log.info("robots.txt of %s: %s", host, why)     -- string.format when arguments follow
--   log.warning({ url = u, kind = "dns", attempt = 3 }, "%s failed", u)
--                                 -- a leading table: structured fields (json format)
--   log.debug(...), log.error(...)
--   log.enabled("debug") -> bool  -- whether a line at that level is written
--                                 -- (to skip building one that is not)
--   log.configure{ level = "debug"|"info"|"warning"|"error", format = "text"|"json",
--                  file = PATH | nil (stderr) } -> true | nil, err
--                                 -- err names the field: "level: ..."; on an error
--                                 -- nothing changes
--   log.progress(line [, final])  -- draw the status line on stderr (a TTY);
--                                 -- final: leave it there and end it
--
-- Text lines are `2026-12-07T14:03:11.123Z INFO silk: message` (UTC, to the
-- millisecond; level in capitals; the message's own line breaks kept, as in
-- a traceback). JSON lines are one object each: ts (the same timestamp),
-- level (lowercase), msg, then the fields given, in key order, such as url,
-- kind, attempt, status, ms, bytes. Defaults: level info, text, stderr.
--
-- The progress line is redrawn in place ("\r\27[K"). A log line bound for
-- stderr while it is shown erases it first and redraws it after, so the
-- two never share a terminal row; with a log file the progress line keeps
-- stderr to itself.

local engine = require("silk.core.engine")
local cjson = require("cjson").new()

local M = {}

local LEVELS = { debug = 10, info = 20, warning = 30, error = 40 }
local NAMES = "debug, info, warning or error"

local threshold = LEVELS.info
local json = false
local out = io.stderr           -- where lines go
local owned                     -- the log file, when silk opened one
local status                    -- the progress line on stderr, nil when none is shown

local CLEAR = "\r\27[K"

local function timestamp()
  local t = engine.wall()
  local s = math.floor(t)
  local ms = math.floor((t - s) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. (".%03dZ"):format(ms)
end

-- cjson escapes every "/" as "\/" (valid, but URLs become hard to read
-- and to grep): each "\/" it writes is that escape, so it can be undone.
local function encode(v)
  return (cjson.encode(v):gsub("\\/", "/"))
end

local function render(level, fields, msg)
  msg = msg:gsub("\n+$", "")
  if not json then
    return ("%s %s silk: %s\n"):format(timestamp(), level:upper(), msg)
  end
  local parts = { '{"ts":"', timestamp(), '","level":"', level, '","msg":', encode(msg) }
  if fields then
    local keys = {}
    for k in pairs(fields) do
      if type(k) == "string" and k ~= "ts" and k ~= "level" and k ~= "msg" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = fields[k]
      local tv = type(v)
      if tv ~= "number" and tv ~= "boolean" then v = tostring(v) end
      if tv ~= "number" or (v == v and v ~= math.huge and v ~= -math.huge) then
        parts[#parts + 1] = "," .. encode(k) .. ":" .. encode(v)
      end
    end
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

local function write(level, ...)
  if LEVELS[level] < threshold then return end
  local fields, first = nil, 1
  if type((...)) == "table" then fields, first = (...), 2 end
  local n = select("#", ...)
  local msg
  if n == first then
    msg = tostring((select(first, ...)))
  else
    msg = string.format(select(first, ...))
  end
  local line = render(level, fields, msg)
  if out == io.stderr and status then
    io.stderr:write(CLEAR, line, status)
  else
    out:write(line)
  end
end

--- log.info([fields,] message [, ...])
-- Writes a log line at level info; log.debug, log.warning and log.error
-- the same at theirs. message is a string.format pattern when arguments
-- follow; a leading table adds structured fields (url, kind, ...) to the
-- JSON format's line. Lines below the configured level are not written.
-- @usage
--   local log = require("silk.log")
--   log.warning({ url = res.url, kind = "layout" }, "no price on %s", res.url)
function M.debug(...) return write("debug", ...) end
function M.info(...) return write("info", ...) end
function M.warning(...) return write("warning", ...) end
function M.error(...) return write("error", ...) end

--- log.enabled(level) -> boolean
-- Whether a line at `level` ("debug", "info", "warning", "error") is
-- written, to skip building one that is not.
-- @usage
--   if log.enabled("debug") then log.debug("page %s: %s", res.url, res:text()) end
function M.enabled(level)
  return LEVELS[level] >= threshold
end

--- log.configure{level=, format=, file=} -> true | nil, err
-- Sets the level ("debug", "info" (default), "warning", "error"), the
-- format ("text" (default) or "json") and the file (appended to; default
-- stderr). On an error nothing changes.
-- @return true, or nil and an error naming the field ("level: ...").
-- @usage
--   assert(log.configure{ level = "debug", format = "json", file = "crawl.log" })
function M.configure(o)
  local level, format = o.level or "info", o.format or "text"
  if not LEVELS[level] then
    return nil, ("level: expected %s, got '%s'"):format(NAMES, tostring(level))
  end
  if format ~= "text" and format ~= "json" then
    return nil, ("format: expected text or json, got '%s'"):format(tostring(format))
  end
  local dest = io.stderr
  if o.file then
    local f, err = io.open(o.file, "a")
    if not f then return nil, ("file: %s"):format(err) end
    f:setvbuf("line")
    dest = f
  end
  if owned then owned:close() end
  owned = dest ~= io.stderr and dest or nil
  threshold, json, out = LEVELS[level], format == "json", dest
  return true
end

function M.progress(line, final)
  if final then
    io.stderr:write(CLEAR, line, "\n")
    status = nil
  else
    status = line
    io.stderr:write(CLEAR, line)
  end
end

return M
