--- silk.sinks: where items go. Chosen by the output path's extension:
--   .jsonl / .json  JSON Lines, one item per line
--   .csv            CSV with a header (columns: setting `fields`, else the
--                   sorted keys of the first item)
--   .sqlite / .db   a table `items` in an SQLite database (LuaSQL)
--
-- Values are written exactly (silk.core.jsonl): integers as integers, floats
-- in the shortest form that reads back as the same double, tables as JSON in
-- CSV and SQLite cells; SQLite stores integers as INTEGER, floats as REAL,
-- strings as TEXT. An item holding anything else (a function, NaN, a cycle,
-- invalid UTF-8, ...) is refused: write returns nil and a message naming the
-- field, and the sink is as before.
--
-- Every sink buffers writes and makes them durable in flush(), which returns
-- a position (a byte offset, or a row count) that the jobdir records at
-- checkpoints; reopening with that position drops whatever was written
-- after it, so a crawl resumed after kill -9 has neither duplicates nor a
-- torn line.
--
--   local sink = sinks.open(path, { fields = {...}, resume_at = pos })  -- raises when unwritable
--   local ok, err = sink:write(item, key); local pos = sink:flush(); sink:close()
--
-- sinks.redis(frontier) sends items to the stream of a crawl shared through
-- Redis (`--items redis`, drained by `silk collect`): the frontier stores
-- them with the next checkpoint, before the acknowledgement of the page
-- that made them. Consecutive items with the same `key` form one group,
-- stored only if no group of that key was (a page fetched twice yields its
-- items once). `key` is only used there.

local jsonl = require("silk.core.jsonl")

local M = {}

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- Truncates the file at path to `size` bytes (no truncate() in Lua's io):
-- rewrite the prefix into a temporary file and rename it over.
local function truncate(path, size)
  local cur = file_size(path)
  if not cur or cur <= size then return end
  local src = assert(io.open(path, "rb"))
  local tmp = path .. ".silk-truncate"
  local dst = assert(io.open(tmp, "wb"))
  local left = size
  while left > 0 do
    local chunk = src:read(math.min(left, 1048576))
    if not chunk then break end
    dst:write(chunk)
    left = left - #chunk
  end
  src:close()
  dst:close()
  assert(os.rename(tmp, path))
end

--- File sinks: JSON Lines and CSV share the buffering and offsets.
local FileSink = {}
FileSink.__index = FileSink

local function open_file(path, opts, encode, header)
  if opts.resume_at then
    truncate(path, opts.resume_at)
  end
  local existed = (file_size(path) or 0) > 0
  local f, err = io.open(path, existed and opts.resume_at and "ab" or "wb")
  if not f then error(("cannot write items to %s: %s"):format(path, err), 0) end
  local s = setmetatable({ path = path, f = f, buf = {}, n = 0, encode = encode,
                           header = header, wrote_header = existed, count = 0 }, FileSink)
  s.offset = f:seek("end")
  return s
end

function FileSink:write(item)
  local line, err = self.encode(self, item)
  if not line then return nil, err end
  self.n = self.n + 1
  self.buf[self.n] = line
  self.count = self.count + 1
  if self.n >= 512 then self:flush(true) end
  return true
end

--- Writes the buffer out; with durable (the default) also fsyncs through
-- flush of the C stream. Returns the byte offset after the last whole item.
function FileSink:flush(partial)
  if self.n > 0 then
    if self.header and not self.wrote_header then
      self.f:write(self.header(self))
      self.wrote_header = true
    end
    self.f:write(table.concat(self.buf, "", 1, self.n))
    for i = 1, self.n do self.buf[i] = nil end
    self.n = 0
  end
  if not partial then self.f:flush() end
  self.offset = self.f:seek("cur")
  return self.offset
end

function FileSink:close()
  if self.f then
    self:flush()
    self.f:close()
    self.f = nil
  end
end

local function jsonl_encode(_, item)
  return jsonl.line(item)
end

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "table" then v = jsonl.encode(v)
  elseif type(v) == "number" then v = jsonl.number(v)
  else v = tostring(v) end
  if v:find('[,"\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local function csv_encode(s, item)
  local ok, err = jsonl.check(item)
  if not ok then return nil, err end
  if not s.columns then
    local cols = {}
    for k in pairs(item) do cols[#cols + 1] = tostring(k) end
    table.sort(cols)
    s.columns = cols
  end
  local out = {}
  for i, c in ipairs(s.columns) do out[i] = csv_field(item[c]) end
  return table.concat(out, ",") .. "\n"
end

local function csv_header(s)
  local out = {}
  for i, c in ipairs(s.columns) do out[i] = csv_field(c) end
  return table.concat(out, ",") .. "\n"
end

--- SQLite sink: one table, columns from `fields` or the first item;
-- integers stored as INTEGER, floats as REAL, strings as TEXT, booleans as
-- 1/0, tables as JSON text; position = number of rows.
local SqlSink = {}
SqlSink.__index = SqlSink

-- A float as SQL that yields exactly that double. SQLite 3.40 reads some
-- decimal texts one unit in the last place off (seen below 1e-290), so the
-- value goes in as m * 2^e: an integer of at most 53 bits made REAL, then
-- scaled by powers of two, each step exact.
local function sql_real(v)
  local f, e = math.frexp(v)
  local m = f * 2 ^ 53
  e = e - 53
  while e < 0 and m % 2 == 0 do m, e = m / 2, e + 1 end
  local out = { "(CAST(", jsonl.number(m), " AS REAL)" }
  while e ~= 0 do
    local k = math.min(math.abs(e), 52)
    out[#out + 1] = (e > 0 and " * " or " / ") .. jsonl.number(2 ^ k)
    e = e > 0 and e - k or e + k
  end
  out[#out + 1] = ")"
  return table.concat(out)
end

local function sql_quote(v)
  local t = type(v)
  if v == nil then return "NULL" end
  if t == "number" then
    if v == 0 or (v == math.floor(v) and math.abs(v) <= 2 ^ 53) then return jsonl.number(v) end
    return sql_real(v)
  end
  if t == "boolean" then return v and "1" or "0" end
  if t == "table" then v = jsonl.encode(v) end
  return "'" .. v:gsub("'", "''") .. "'"
end

-- LuaSQL returns a cursor for statements that produce rows (PRAGMA
-- included) and refuses to close a connection with one open.
local function exec(con, sql)
  local r, err = con:execute(sql)
  if not r then error(("SQLite sink: %s"):format(err), 0) end
  if type(r) == "userdata" then r:close() end
end

local function sql_name(s)
  return '"' .. tostring(s):gsub('"', '""') .. '"'
end

local function open_sqlite(path, opts)
  local ok, driver = pcall(require, "luasql.sqlite3")
  if not ok then error("the SQLite sink needs LuaSQL (Debian: lua-sql-sqlite3)", 0) end
  local env = driver.sqlite3()
  local con, err = env:connect(path)
  if not con then error(("cannot write items to %s: %s"):format(path, err), 0) end
  local s = setmetatable({ path = path, env = env, con = con, buf = {}, columns = opts.fields,
                           count = 0 }, SqlSink)
  exec(con, "PRAGMA journal_mode=WAL")
  local cur = con:execute("SELECT name FROM sqlite_master WHERE type='table' AND name='items'")
  local exists = cur and cur:fetch()
  if cur then cur:close() end
  if exists then
    if opts.resume_at then
      exec(con, "DELETE FROM items WHERE rowid > " .. math.floor(opts.resume_at))
    else
      exec(con, "DELETE FROM items")
    end
    local cols = {}
    local info = con:execute("PRAGMA table_info(items)")
    local row = info:fetch({}, "a")
    while row do cols[#cols + 1] = row.name; row = info:fetch({}, "a") end
    info:close()
    s.columns = cols
    s.created = true
  end
  s.offset = 0
  if exists then
    local c = con:execute("SELECT count(*) FROM items")
    s.offset = tonumber(c:fetch()) or 0
    c:close()
  end
  return s
end

function SqlSink:write(item)
  local ok, err = jsonl.check(item)
  if not ok then return nil, err end
  if not self.columns then
    local cols = {}
    for k in pairs(item) do cols[#cols + 1] = tostring(k) end
    table.sort(cols)
    self.columns = cols
  end
  self.buf[#self.buf + 1] = item
  self.count = self.count + 1
  return true
end

function SqlSink:flush()
  if #self.buf == 0 then return self.offset end
  local con = self.con
  if not self.created then
    local defs = {}
    for i, c in ipairs(self.columns) do defs[i] = sql_name(c) end
    exec(con, "CREATE TABLE IF NOT EXISTS items (" .. table.concat(defs, ", ") .. ")")
    self.created = true
  end
  local names = {}
  for i, c in ipairs(self.columns) do names[i] = sql_name(c) end
  local prefix = "INSERT INTO items (" .. table.concat(names, ", ") .. ") VALUES ("
  exec(con, "BEGIN")
  for _, item in ipairs(self.buf) do
    local vals = {}
    for i, c in ipairs(self.columns) do vals[i] = sql_quote(item[c]) end
    exec(con, prefix .. table.concat(vals, ", ") .. ")")
  end
  exec(con, "COMMIT")
  self.offset = self.offset + #self.buf
  self.buf = {}
  return self.offset
end

function SqlSink:close()
  if self.con then
    self:flush()
    self.con:close()
    self.env:close()
    self.con = nil
  end
end

--- Opens the sink for `path` (its kind from the extension). Raises a clear
-- error when the path cannot be written, before any crawling starts.
local RedisSink = {}
RedisSink.__index = RedisSink

function M.redis(frontier)
  return setmetatable({ frontier = frontier, count = 0, group = {}, key = nil }, RedisSink)
end

function RedisSink:send_group()
  if #self.group == 0 then return end
  local ok, err = self.frontier:item(self.key, self.group)
  if not ok then error("cannot queue items for redis: " .. tostring(err and err.message or err), 0) end
  self.count = self.count + #self.group
  self.group = {}
end

function RedisSink:write(item, key)
  local text, err = jsonl.encode(item)
  if not text then return nil, err end
  if key ~= self.key then
    self:send_group()
    self.key = key
  end
  self.group[#self.group + 1] = text
  return true
end

--- Hands the last group to the frontier, whose checkpoint (right after)
-- stores the items.
function RedisSink:flush()
  self:send_group()
  return self.count
end
function RedisSink:close() end

function M.open(path, opts)
  opts = opts or {}
  local ext = path:match("%.([%w]+)$")
  ext = ext and ext:lower()
  if ext == "jsonl" or ext == "json" or ext == "ndjson" then
    return open_file(path, opts, jsonl_encode)
  elseif ext == "csv" then
    local s = open_file(path, opts, csv_encode, csv_header)
    s.columns = opts.fields
    return s
  elseif ext == "sqlite" or ext == "db" or ext == "sqlite3" then
    return open_sqlite(path, opts)
  end
  error(("cannot tell the item format of %s: use .jsonl, .csv or .sqlite"):format(path), 0)
end

return M
