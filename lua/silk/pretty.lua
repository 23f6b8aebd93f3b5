--- silk.pretty: Lua values as readable text, for the console and the shell.
--
--   pretty.format(value [, opts]) -> string
--     opts: { max_depth = 8, max_items = 100 (entries shown per table),
--             max_bytes = 65536 (the whole text, then "..."), width = 72 }
--   pretty.raw(text) -> a value that format() prints as text, unquoted
--                       (dumps, help, HTML excerpts)
--   pretty.is_raw(v) -> boolean
--
-- Strings are quoted and escaped ("a\nb", control bytes as \ddd). Tables
-- print as constructors: the array part first, then the other keys sorted
-- (identifier keys bare, others in brackets); short tables on one line,
-- longer ones one entry per line, indented. A table met again on the path
-- from the root prints as <cycle: table: 0x...>; a table shared elsewhere is
-- simply printed again. Beyond max_depth a table prints as {...}. Values with
-- a __tostring metamethod (tasks, nodes, error values) print through it;
-- functions, threads and userdata as tostring() gives them.

local pretty = {}

local type, tostring, pairs, rawget, getmetatable = type, tostring, pairs, rawget, getmetatable
local concat, sort, format = table.concat, table.sort, string.format

local RAW = {}
RAW.__index = RAW
RAW.__tostring = function(r) return r.text end

function pretty.raw(text)
  return setmetatable({ text = tostring(text) }, RAW)
end

function pretty.is_raw(v)
  return type(v) == "table" and getmetatable(v) == RAW
end

local function quote(s)
  return (format("%q", s):gsub("\\\n", "\\n"):gsub("\r", "\\r"):gsub("%z", "\\0"))
end

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
           repeat return then true until while]]):gmatch("%a+") do keywords[w] = true end

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not keywords[k] then return k end
  return nil
end

local order = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (order[ta] or 9) < (order[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" then
    if v ~= v then return "0/0" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    if v == math.floor(v) and math.abs(v) < 2^53 then return format("%d", v) end
    return format("%.17g", v)
  end
  return tostring(v)
end

local function fmt(v, opts, depth, path, indent)
  if type(v) ~= "table" then
    if type(v) == "userdata" and has_tostring(v) then return tostring(v) end
    return scalar(v)
  end
  if pretty.is_raw(v) then return v.text end
  if path[v] then return "<cycle: " .. tostring(v) .. ">" end
  if has_tostring(v) then
    local ok, s = pcall(tostring, v)
    if ok then return s end
  end
  if depth >= opts.max_depth then return "{...}" end
  path[v] = true
  local items, n = {}, #v
  local shown, total = 0, 0
  local inner = indent .. "  "
  for i = 1, n do
    total = total + 1
    if shown < opts.max_items and opts.used <= opts.max_bytes then
      shown = shown + 1
      items[#items + 1] = fmt(v[i], opts, depth + 1, path, inner)
      opts.used = opts.used + #items[#items]
    end
  end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then
      keys[#keys + 1] = k
    end
  end
  sort(keys, key_less)
  for _, k in ipairs(keys) do
    total = total + 1
    if shown < opts.max_items and opts.used <= opts.max_bytes then
      shown = shown + 1
      local name = key_text(k)
      local lhs = name or ("[" .. fmt(k, opts, depth + 1, path, inner) .. "]")
      items[#items + 1] = lhs .. " = " .. fmt(v[k], opts, depth + 1, path, inner)
      opts.used = opts.used + #items[#items]
    end
  end
  path[v] = nil
  if total > shown then items[#items + 1] = format("... (%d more)", total - shown) end
  if #items == 0 then return "{}" end
  local one = "{ " .. concat(items, ", ") .. " }"
  if #one + #indent <= opts.width and not one:find("\n", 1, true) then return one end
  return "{\n" .. inner .. concat(items, ",\n" .. inner) .. "\n" .. indent .. "}"
end

--- Formats a value; see the header for the options.
function pretty.format(v, opts)
  opts = opts or {}
  local o = {
    max_depth = opts.max_depth or 8,
    max_items = opts.max_items or 100,
    max_bytes = opts.max_bytes or 65536,
    width = opts.width or 72,
    used = 0,       -- bytes produced so far (counted per entry, so an over-estimate)
  }
  local s = fmt(v, o, 0, {}, "")
  if #s > o.max_bytes then
    s = s:sub(1, o.max_bytes) .. format("\n... (%d bytes more)", #s - o.max_bytes)
  end
  return s
end

return pretty
