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
-- Every sink buffers writes. flush(durable) writes the buffer out and returns
-- a position (a byte offset, or a row count) that the jobdir records at
-- checkpoints; with `durable` the items up to it are fsync'd first (SQLite:
-- every flush is a transaction, synced as SQLite does). Reopening with that
-- position (`resume_at`) drops whatever was written after it, so a crawl
-- resumed after kill -9 has neither duplicates nor a torn line; a file
-- shorter than the position is refused. A failed write, sync or close is
-- returned as nil, err (the file then ends with its last whole item), and
-- the sink refuses every later write: the crawl is to stop.
--
--   local sink = sinks.open(path, { fields = {...}, resume_at = pos })  -- raises when unwritable
--   local ok, err = sink:write(item, key); local pos, err = sink:flush(durable)
--   local ok, err = sink:close()
--   sink.written                      -- items that reached the output so far
--
-- sinks.redis(frontier) sends items to the stream of a crawl shared through
-- Redis (`--items redis`, drained by `silk collect`): the frontier stores
-- them with the next checkpoint, before the acknowledgement of the page
-- that made them. Consecutive items with the same `key` form one group,
-- stored only if no group of that key was (a page fetched twice yields its
-- items once). `key` is only used there.

local jsonl = require("silk.core.jsonl")
local null = require("cjson").null     -- silk.null: JSON null, an empty CSV field, SQL NULL

local M = {}

--- File sinks: JSON Lines and CSV share the buffering and offsets.
local FileSink = {}
FileSink.__index = FileSink

local function open_file(path, opts, encode, header)
  local f, err = jsonl.open(path, opts.resume_at)
  if not f then error(err, 0) end
  return setmetatable({ path = path, f = f, buf = {}, n = 0, encode = encode, header = header,
                        wrote_header = f:offset() > 0, count = 0, written = 0, offset = f:offset() }, FileSink)
end

-- Remembers the first failure: every later call returns it again.
local function broken(s, err)
  s.failed = s.failed or err
  return nil, s.failed
end

function FileSink:write(item)
  if self.failed then return nil, self.failed end
  local line, err = self.encode(self, item)
  if not line then return nil, err end
  self.n = self.n + 1
  self.buf[self.n] = line
  self.count = self.count + 1
  if self.n >= 512 then return self:flush(false) end
  return true
end

--- Writes the buffer out (and fsyncs it when durable); returns the byte
-- offset after the last whole item, or nil, err.
function FileSink:flush(durable)
  if self.failed then return nil, self.failed end
  if self.n > 0 then
    local text = table.concat(self.buf, "", 1, self.n)
    if self.header and not self.wrote_header then text = self.header(self) .. text end
    for i = 1, self.n do self.buf[i] = nil end
    local n = self.n
    self.n = 0
    local ok, err = self.f:write(text)
    if not ok then return broken(self, err) end
    self.wrote_header = true
    self.written = self.written + n
  end
  if durable then
    local ok, err = self.f:sync()
    if not ok then return broken(self, err) end
  end
  self.offset = self.f:offset()
  return self.offset
end

--- Flushes, syncs and closes; true, or nil, err (the first failure, if any).
function FileSink:close()
  if not self.f then return true end
  local pos, err = self:flush(true)
  local ok, cerr = self.f:close()
  self.f = nil
  if not pos then return nil, err end
  if not ok then return broken(self, cerr) end
  return true
end

local function jsonl_encode(_, item)
  return jsonl.line(item)
end

local function csv_field(v)
  if v == nil or v == null then return "" end
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
  if v == nil or v == null then return "NULL" end
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
  if not r then return nil, err end
  if type(r) == "userdata" then r:close() end
  return true
end

local function exec_or_raise(s, sql)
  local ok, err = exec(s.con, sql)
  if not ok then error(("cannot write items to %s: %s"):format(s.path, err), 0) end
end

local function sql_name(s)
  return '"' .. tostring(s):gsub('"', '""') .. '"'
end

local function sql_count(s)
  local c = s.con:execute("SELECT count(*) FROM items")
  local n = tonumber(c:fetch()) or 0
  c:close()
  return n
end

local function open_sqlite(path, opts)
  local ok, driver = pcall(require, "luasql.sqlite3")
  if not ok then error("the SQLite sink needs LuaSQL (Debian: lua-sql-sqlite3)", 0) end
  local env = driver.sqlite3()
  local con, err = env:connect(path)
  if not con then error(("cannot write items to %s: %s"):format(path, err), 0) end
  local s = setmetatable({ path = path, env = env, con = con, buf = {}, columns = opts.fields,
                           count = 0, written = 0, offset = 0 }, SqlSink)
  -- every COMMIT is on the disk when it returns (WAL: the log is fsync'd)
  exec_or_raise(s, "PRAGMA journal_mode=WAL")
  exec_or_raise(s, "PRAGMA synchronous=FULL")
  local cur = con:execute("SELECT name FROM sqlite_master WHERE type='table' AND name='items'")
  local exists = cur and cur:fetch()
  if cur then cur:close() end
  if not exists then
    if (opts.resume_at or 0) > 0 then
      error(("cannot resume: %s has no items table, but the jobdir recorded %d items written to it: "
             .. "restore it, or start over with a new --jobdir"):format(path, opts.resume_at), 0)
    end
    return s
  end
  if opts.resume_at then
    local n = sql_count(s)
    if n < opts.resume_at then
      error(("cannot resume: %s has %d items, but the jobdir recorded %d written to it (rows were "
             .. "deleted, or the file replaced): restore it, or start over with a new --jobdir"):format(
             path, n, opts.resume_at), 0)
    end
    exec_or_raise(s, "DELETE FROM items WHERE rowid > " .. math.floor(opts.resume_at))
  else
    exec_or_raise(s, "DELETE FROM items")
  end
  local cols = {}
  local info = con:execute("PRAGMA table_info(items)")
  local row = info:fetch({}, "a")
  while row do cols[#cols + 1] = row.name; row = info:fetch({}, "a") end
  info:close()
  s.columns = cols
  s.created = true
  s.offset = sql_count(s)
  return s
end

function SqlSink:write(item)
  if self.failed then return nil, self.failed end
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

-- Inserts the buffered items in one transaction; true or nil, err.
function SqlSink:insert()
  local con = self.con
  if not self.created then
    local defs = {}
    for i, c in ipairs(self.columns) do defs[i] = sql_name(c) end
    local ok, err = exec(con, "CREATE TABLE IF NOT EXISTS items (" .. table.concat(defs, ", ") .. ")")
    if not ok then return nil, err end
    self.created = true
  end
  local names = {}
  for i, c in ipairs(self.columns) do names[i] = sql_name(c) end
  local prefix = "INSERT INTO items (" .. table.concat(names, ", ") .. ") VALUES ("
  local ok, err = exec(con, "BEGIN")
  for _, item in ipairs(self.buf) do
    if not ok then break end
    local vals = {}
    for i, c in ipairs(self.columns) do vals[i] = sql_quote(item[c]) end
    ok, err = exec(con, prefix .. table.concat(vals, ", ") .. ")")
  end
  if ok then ok, err = exec(con, "COMMIT") end
  if not ok then exec(con, "ROLLBACK") end
  return ok, err
end

--- Every flush is durable (one synced transaction); returns the row count
-- or nil, err.
function SqlSink:flush()
  if self.failed then return nil, self.failed end
  if #self.buf == 0 then return self.offset end
  local ok, err = self:insert()
  if not ok then return broken(self, ("cannot write items to %s: %s"):format(self.path, err)) end
  self.offset = self.offset + #self.buf
  self.written = self.written + #self.buf
  self.buf = {}
  return self.offset
end

function SqlSink:close()
  if not self.con then return true end
  local pos, err = self:flush()
  self.con:close()
  self.env:close()
  self.con = nil
  if not pos then return nil, err end
  return true
end

--- Opens the sink for `path` (its kind from the extension). Raises a clear
-- error when the path cannot be written, before any crawling starts.
local RedisSink = {}
RedisSink.__index = RedisSink

function M.redis(frontier)
  return setmetatable({ frontier = frontier, count = 0, written = 0, group = {}, key = nil }, RedisSink)
end

function RedisSink:send_group()
  if #self.group == 0 then return true end
  local ok, err = self.frontier:item(self.key, self.group)
  if not ok then
    return broken(self, "cannot queue items for redis: " .. tostring(err and err.message or err))
  end
  self.count = self.count + #self.group
  self.written = self.count
  self.group = {}
  return true
end

function RedisSink:write(item, key)
  if self.failed then return nil, self.failed end
  local text, err = jsonl.encode(item)
  if not text then return nil, err end
  -- a page's items are one group under the page's key; an item keyed by
  -- its own field (item_key) is a group of its own, even when the item
  -- before it has the same value (it is then the duplicate Redis drops)
  if key ~= self.key or key:sub(1, 6) == "field\n" then
    local ok, gerr = self:send_group()
    if not ok then return nil, gerr end
    self.key = key
  end
  self.group[#self.group + 1] = text
  return true
end

--- Hands the last group to the frontier, whose checkpoint (right after)
-- stores the items.
function RedisSink:flush()
  if self.failed then return nil, self.failed end
  local ok, err = self:send_group()
  if not ok then return nil, err end
  return self.count
end
function RedisSink:close() return true end

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
