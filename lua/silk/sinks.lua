--- silk.sinks: where items go. Chosen by the output path's extension:
--   .json           one JSON array: "[", then the items one per line with
--                   commas between, then "]" when the sink closes
--   .jsonl / .ndjson  JSON Lines, one item per line
--   .csv            CSV with a header
--   .sqlite / .db   a table `items` in an SQLite database (silk.core.sqlite)
--   -               JSON Lines on stdout
--
-- Field order does not depend on the process (Lua's own table order follows
-- string hashes, seeded afresh in every process): the setting `fields`
-- first, then each key as it first appears, the new keys of one item in
-- byte order (a Lua table keeps no order of its own). JSON objects have
-- their keys in that order (nested objects: byte order), and so do the CSV
-- columns and the SQLite columns. CSV columns are fixed by `fields`, else by
-- the first item: a field that first appears later is logged once as a
-- warning (silk.log), naming it, and with the number of items that had it
-- when the sink closes; SQLite adds it as a column (ALTER TABLE). An empty table is
-- written as [] (lists come empty far more often than maps; a metatable with
-- __jsontype = "object" makes it {}).
--
-- Values are written exactly (silk.core.jsonl): integers as integers, floats
-- in the shortest form that reads back as the same double, tables as JSON in
-- CSV and SQLite cells; SQLite stores integers as INTEGER, floats as REAL,
-- strings as TEXT. An item holding anything else (a function, NaN, a cycle,
-- invalid UTF-8, ...) is refused: write returns nil and a message naming the
-- field, and the sink is as before.
--
-- An existing output is added to unless `overwrite` (silk run -O, or
-- --overwrite) empties it: a .json array is reopened before its "]", a CSV
-- takes the columns of its header (and must end with a whole line, as must
-- JSON Lines), SQLite keeps its rows. A file that cannot be added to (a
-- .json not ending in "]", a cut last line: what a crawl killed without
-- --jobdir leaves) is refused with a message naming --overwrite.
--
-- Every sink buffers writes. flush(durable) writes the buffer out and returns
-- a position (a byte offset, or the rowid of the last row) that the jobdir
-- records at checkpoints; with `durable` the items up to it are fsync'd
-- first (SQLite: every flush is a transaction, synced as SQLite does).
-- Reopening with that position (`resume_at`) drops whatever was written
-- after it (a .json array's "]" included; it is written again at close), so
-- a crawl resumed after kill -9 has neither duplicates nor a torn line; a
-- file shorter than the position is refused. stdout cannot be cut back: a
-- resumed crawl writes there again the items made after the last
-- checkpoint. A failed write, sync or close is returned as nil, err (the
-- file then ends with its last whole item; a .json array is closed by the
-- resume), and the sink refuses every later write: the crawl is to stop.
--
--   local sink = sinks.open(outputs, { fields = {...}, resume_at = pos, overwrite = bool })
--       -- outputs: a path, or a list of paths and { path = p, overwrite = bool };
--       -- raises when one is unwritable
--   local ok, err = sink:write(item, key); local pos, err = sink:flush(durable)
--   local ok, err = sink:close()
--   sink.written                      -- items that reached the output so far
--   sink.failed                       -- the first failure, once there is one
--   sinks.describe(outputs)           -- the outputs as the jobdir names them
--
-- Several outputs make one sink that hands every item to each; its position
-- is theirs, space-separated, in the order given.
--
-- sinks.redis(frontier) sends items to the stream of a crawl shared through
-- Redis (`--items redis`, drained by `silk collect`): the frontier stores
-- them with the next checkpoint, before the acknowledgement of the page
-- that made them. Consecutive items with the same `key` form one group,
-- stored only if no group of that key was (a page fetched twice yields its
-- items once). `key` is only used there.

local jsonl = require("silk.core.jsonl")
local sqlite = require("silk.core.sqlite")
local log = require("silk.log")
local cjson = require("cjson")
local null = cjson.null                -- silk.null: JSON null, an empty CSV field, SQL NULL

local M = {}

-- Remembers the first failure: every later call returns it again.
local function broken(s, err)
  s.failed = s.failed or err
  return nil, s.failed
end

-- Up to `len` bytes of the file at path from byte `from` (0-based), and its
-- size (nil: no such file, or not seekable).
local function read_at(path, from, len)
  local f = io.open(path, "rb")
  if not f then return "", nil end
  local size = f:seek("end")
  f:seek("set", from)
  local s = len > 0 and f:read(len) or ""
  f:close()
  return s or "", size
end

--- The field order: `fields` first, then keys as they first appear.
local function new_order(fields)
  local o = { list = {}, has = {} }
  for _, f in ipairs(fields or {}) do
    f = tostring(f)
    if not o.has[f] then o.list[#o.list + 1], o.has[f] = f, true end
  end
  return o
end

-- Appends the keys of `item` that the order lacks, in byte order among
-- themselves; returns the order's length before, for forget().
local function learn(o, item)
  local n, new = #o.list, nil
  if type(item) ~= "table" then return n end
  for k in pairs(item) do
    if type(k) == "string" and not o.has[k] then
      new = new or {}
      new[#new + 1] = k
    end
  end
  if new then
    table.sort(new)
    for _, k in ipairs(new) do o.list[#o.list + 1], o.has[k] = k, true end
  end
  return n
end

-- The top-level keys of the JSON object that `text` starts with, in their
-- order (as far as `text` goes).
local function object_keys(text)
  local keys, depth, i = {}, 0, 1
  while true do
    local j = text:find('[{}%[%]"]', i)
    if not j then return keys end
    local c = text:sub(j, j)
    if c == '"' then
      local k = j + 1
      while true do
        local q = text:find('["\\]', k)
        if not q then return keys end
        if text:sub(q, q) == '"' then k = q break end
        k = q + 2
      end
      if depth == 1 and text:find("^%s*:", k + 1) then
        local ok, key = pcall(cjson.decode, text:sub(j, k))
        if ok then keys[#keys + 1] = key end
      end
      i = k + 1
    else
      depth = depth + ((c == "{" or c == "[") and 1 or -1)
      if depth <= 0 then return keys end
      i = j + 1
    end
  end
end

-- Continues the field order of the file's first item (silk writes one item a
-- line), so that a file resumed or added to keeps one order.
local function learn_file(s, at)
  local first = read_at(s.path, 0, math.min(at, 65536)):match("\n?(%{[^\n]*)")
  for _, k in ipairs(first and object_keys(first) or {}) do
    if not s.order.has[k] then s.order.list[#s.order.list + 1], s.order.has[k] = k, true end
  end
end

-- Drops what learn() added from a refused item.
local function forget(o, n)
  for i = #o.list, n + 1, -1 do
    o.has[o.list[i]] = nil
    o.list[i] = nil
  end
end

-- The fields of one CSV line (RFC 4180 quoting), or nil.
local function csv_split(line)
  local out, i, n = {}, 1, #line
  while i <= n + 1 do
    if line:sub(i, i) == '"' then
      local parts, j = {}, i + 1
      while true do
        local q = line:find('"', j, true)
        if not q then return nil end
        parts[#parts + 1] = line:sub(j, q - 1)
        if line:sub(q + 1, q + 1) ~= '"' then i = q + 1 break end
        parts[#parts + 1] = '"'
        j = q + 2
      end
      if i <= n and line:sub(i, i) ~= "," then return nil end
      out[#out + 1] = table.concat(parts)
      i = i + 1
    else
      local c = line:find(",", i, true) or n + 1
      out[#out + 1] = line:sub(i, c - 1)
      i = c + 1
    end
  end
  return out
end

--- File sinks: JSON, JSON Lines and CSV share the buffering and offsets.
-- A kind has encode(sink, item) -> text | nil, err; and optionally header
-- (text before the first item of a file), reopen(sink, at, appending)
-- (reads what the file holds up to byte `at`; raises when it cannot be
-- added to) and trailer (text written at close, after the last position).
local FileSink = {}
FileSink.__index = FileSink

local KINDS = {}

-- A file added to must end with a whole line.
local function whole_lines(s, at, appending)
  if appending and read_at(s.path, at - 1, 1) ~= "\n" then
    error(("cannot add items to %s: its last line is cut short (a crawl killed without --jobdir?): "
           .. "repair it, or replace it with -O / --overwrite"):format(s.path), 0)
  end
end

KINDS.jsonl = {
  encode = function(s, item)
    local n = learn(s.order, item)
    local line, err = jsonl.line(item, "item", s.order.list)
    if not line then forget(s.order, n) end
    return line, err
  end,
  reopen = function(s, at, appending)
    whole_lines(s, at, appending)
    learn_file(s, at)
  end,
}

KINDS.json = {
  header = "[",
  trailer = "\n]\n",
  encode = function(s, item)
    local text, err = KINDS.jsonl.encode(s, item)
    if not text then return nil, err end
    text = (s.nonempty and ",\n" or "\n") .. text:sub(1, -2)
    s.nonempty = true
    return text
  end,
  -- Resuming, `at` is the recorded end of the last item (or of the "[");
  -- appending, the bytes kept are those before the array's closing "]".
  reopen = function(s, at, appending)
    local function refuse(why)
      error(("cannot add items to %s: %s: repair it, or replace it with -O / --overwrite"):format(s.path, why), 0)
    end
    if not read_at(s.path, 0, 64):match("^%s*%[") then refuse("it does not hold a JSON array") end
    if appending then
      local from = math.max(at - 4096, 0)
      local tail = read_at(s.path, from, at - from)
      local last = tail:match("()%]%s*$")
      if not last then refuse('it does not end with "]" (a crawl killed without --jobdir leaves it open)') end
      at = from + #tail:sub(1, last - 1):gsub("%s+$", "")
    end
    s.nonempty = read_at(s.path, at - 1, 1) ~= "["
    learn_file(s, at)
    return at
  end,
}

KINDS.csv = {
  header = function(s)
    local out = {}
    for i, c in ipairs(s.columns) do out[i] = KINDS.csv.field(c) end
    return table.concat(out, ",") .. "\n"
  end,
  field = function(v)
    if v == nil or v == null then return "" end
    if type(v) == "table" then v = jsonl.encode(v)
    elseif type(v) == "number" then v = jsonl.number(v)
    else v = tostring(v) end
    if v:find('[,"\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
    return v
  end,
  encode = function(s, item)
    local ok, err = jsonl.check(item)
    if not ok then return nil, err end
    if not s.columns then
      local o = new_order()
      learn(o, item)
      s.columns, s.has = o.list, o.has
    end
    local late
    for k in pairs(item) do
      if not s.has[k] then late = late or {}; late[#late + 1] = tostring(k) end
    end
    if late then
      table.sort(late)
      for _, k in ipairs(late) do s:late_field(k) end
    end
    local out = {}
    for i, c in ipairs(s.columns) do out[i] = KINDS.csv.field(item[c]) end
    return table.concat(out, ",") .. "\n"
  end,
  reopen = function(s, at, appending)
    whole_lines(s, at, appending)
    local head = read_at(s.path, 0, math.min(at, 65536)):match("^([^\n]*)\n")
    local cols = head and csv_split(head:gsub("\r$", ""))
    if not cols then error(("cannot add items to %s: it has no CSV header line"):format(s.path), 0) end
    if s.columns and table.concat(s.columns, "\0") ~= table.concat(cols, "\0") then
      error(("cannot add items to %s: its columns are %s, but the spider's fields are %s: "
             .. "replace it with -O / --overwrite, or write elsewhere"):format(
             s.path, table.concat(cols, ","), table.concat(s.columns, ",")), 0)
    end
    s.columns, s.has = cols, {}
    for _, c in ipairs(cols) do s.has[c] = true end
    s.wrote_header = true
  end,
}

-- A field not among the CSV columns: said once, counted for close().
function FileSink:late_field(k)
  local n = self.late[k]
  if not n then
    self.late_order[#self.late_order + 1] = k
    log.warning({ output = self.path, field = k }, "%s: field %s is not among the CSV columns (%s), which "
                .. "`fields` or the first item fixed: it is not written; name it in the spider's `fields`, "
                .. "or write .jsonl, .json or .sqlite", self.path, jsonl.encode(k), table.concat(self.columns, ","))
  end
  self.late[k] = (n or 0) + 1
end

-- stdout as an item file: written through at every flush, never cut back.
local Stdout = {}
Stdout.__index = Stdout

function Stdout:write(s)
  local ok, err = io.stdout:write(s)
  if ok then ok, err = io.stdout:flush() end
  if not ok then return nil, "cannot write items to stdout: " .. tostring(err) end
  self.n = self.n + #s
  return true
end
function Stdout:sync() return true end
function Stdout:offset() return self.n end
function Stdout:close() return true end

local function open_file(path, opts, kind)
  local s = setmetatable({ path = path, kind = kind, buf = {}, n = 0, count = 0, written = 0,
                           order = new_order(opts.fields), late = {}, late_order = {} }, FileSink)
  if kind == KINDS.csv and opts.fields then s.columns, s.has = s.order.list, s.order.has end
  if path == "-" then
    s.path, s.f = "stdout", setmetatable({ n = 0 }, Stdout)
    s.offset = 0
    return s
  end
  local at, appending = opts.resume_at, false
  if not at and not opts.overwrite then
    local _, size = read_at(path, 0, 0)
    if size and size > 0 then at, appending = size, true end
  end
  if at and at > 0 and kind.reopen then
    -- a file shorter than a resume's offset is refused by jsonl.open, first
    local _, size = read_at(path, 0, 0)
    if size and size >= at then at = kind.reopen(s, at, appending) or at end
  end
  local f, err = jsonl.open(path, at)
  if not f then error(err, 0) end
  s.f, s.offset = f, f:offset()
  s.wrote_header = s.wrote_header or s.offset > 0
  return s
end

function FileSink:write(item)
  if self.failed then return nil, self.failed end
  local line, err = self.kind.encode(self, item)
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
    local header = self.kind.header
    if header and not self.wrote_header then
      text = (type(header) == "function" and header(self) or header) .. text
    end
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

--- Flushes, writes the trailer, syncs and closes; true, or nil, err (the
-- first failure, if any). Reports the CSV fields left out.
function FileSink:close()
  if not self.f then return true end
  local pos, err = self:flush(false)
  local trailer = self.kind.trailer
  if pos and trailer then
    local ok, terr = self.f:write((self.wrote_header and "" or self.kind.header) .. trailer)
    if not ok then pos, err = broken(self, terr) end
  end
  if pos then pos, err = self:flush(true) end
  for _, k in ipairs(self.late_order) do
    log.warning({ output = self.path, field = k, items = self.late[k] }, "%s: %d item%s had the field %s, "
                .. "not written to the CSV", self.path, self.late[k], self.late[k] == 1 and "" or "s", jsonl.encode(k))
  end
  local ok, cerr = self.f:close()
  self.f = nil
  if not pos then return nil, err end
  if not ok then return broken(self, cerr) end
  return true
end

--- SQLite sink: one table; integers stored as INTEGER, floats as REAL,
-- strings as TEXT, booleans as 1/0, tables as JSON text; position = the
-- rowid of the last row (rows get rowid max + 1: an appended table with
-- deleted rows still resumes right).
local SqlSink = {}
SqlSink.__index = SqlSink

-- A field's value as bound: numbers go in exactly (integral ones within
-- 2^53 as INTEGER), booleans as 1/0, tables as their JSON text.
local function sql_value(v)
  if v == null then return nil end
  local t = type(v)
  if t == "boolean" then return v and 1 or 0 end
  if t == "table" then return jsonl.encode(v) end
  return v
end

local function exec_or_raise(s, sql)
  local ok, err = s.db:exec(sql)
  if not ok then error(("cannot write items to %s: %s"):format(s.path, err), 0) end
end

local function sql_name(s)
  return '"' .. tostring(s):gsub('"', '""') .. '"'
end

-- The first value of the first row of a query, as a number.
local function sql_number(s, sql)
  local st = s.db:prepare(sql)
  local n = st:step() and st:row()
  st:close()
  return tonumber(n) or 0
end

local function open_sqlite(path, opts)
  local db, err = sqlite.open(path)
  if not db then error(("cannot write items to %s: %s"):format(path, err), 0) end
  local s = setmetatable({ path = path, db = db, buf = {}, order = new_order(opts.fields),
                           in_table = 0, count = 0, written = 0, offset = 0 }, SqlSink)
  -- every COMMIT is on the disk when it returns (WAL: the log is fsync'd)
  exec_or_raise(s, "PRAGMA journal_mode=WAL")
  exec_or_raise(s, "PRAGMA synchronous=FULL")
  if opts.overwrite and not opts.resume_at then exec_or_raise(s, "DROP TABLE IF EXISTS items") end
  if sql_number(s, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='items'") == 0 then
    if (opts.resume_at or 0) > 0 then
      error(("cannot resume: %s has no items table, but the jobdir recorded %d items written to it: "
             .. "restore it, or start over with a new --jobdir"):format(path, opts.resume_at), 0)
    end
    return s
  end
  if opts.resume_at then
    if sql_number(s, "SELECT max(rowid) FROM items") < opts.resume_at then
      error(("cannot resume: %s has %d items, but the jobdir recorded %d written to it (rows were "
             .. "deleted, or the file replaced): restore it, or start over with a new --jobdir"):format(
             path, sql_number(s, "SELECT count(*) FROM items"), opts.resume_at), 0)
    end
    exec_or_raise(s, "DELETE FROM items WHERE rowid > " .. math.floor(opts.resume_at))
  end
  -- the table's columns come first; `fields` it lacks are added with the next rows
  local cols = new_order()
  local info = db:prepare("SELECT name FROM pragma_table_info('items') ORDER BY cid")
  while info:step() do
    local name = info:row()
    cols.list[#cols.list + 1], cols.has[name] = name, true
  end
  info:close()
  s.in_table = #cols.list
  for _, f in ipairs(s.order.list) do
    if not cols.has[f] then cols.list[#cols.list + 1], cols.has[f] = f, true end
  end
  s.order = cols
  s.created = true
  s.offset = sql_number(s, "SELECT max(rowid) FROM items")
  return s
end

function SqlSink:write(item)
  if self.failed then return nil, self.failed end
  local ok, err = jsonl.check(item)
  if not ok then return nil, err end
  if type(item) ~= "table" then return nil, "item: a " .. type(item) .. " (an SQLite row needs a table of fields)" end
  learn(self.order, item)
  self.buf[#self.buf + 1] = item
  self.count = self.count + 1
  return true
end

-- Inserts the buffered items in one transaction, creating the table or
-- adding the columns that appeared since; true or nil, err.
function SqlSink:insert()
  local db = self.db
  local cols = self.order.list
  local names, marks = {}, {}
  for i, c in ipairs(cols) do names[i], marks[i] = sql_name(c), "?" end
  local ok, err = db:exec("BEGIN")
  if ok and not self.created then
    ok, err = db:exec("CREATE TABLE items (" .. table.concat(names, ", ") .. ")")
  elseif ok then
    for i = self.in_table + 1, #cols do
      if not ok then break end
      ok, err = db:exec("ALTER TABLE items ADD COLUMN " .. names[i])
    end
  end
  local st
  if ok then
    st, err = db:prepare("INSERT INTO items (" .. table.concat(names, ", ") .. ") VALUES ("
                         .. table.concat(marks, ", ") .. ")")
    ok = st ~= nil
  end
  for _, item in ipairs(self.buf) do
    if not ok then break end
    for i, c in ipairs(cols) do
      ok, err = st:bind(i, sql_value(item[c]))
      if not ok then break end
    end
    if ok then ok, err = st:step() end
    ok = ok ~= nil
    st:reset()
  end
  if st then st:close() end
  if ok then ok, err = db:exec("COMMIT") end
  if not ok then
    db:exec("ROLLBACK")
    return nil, err
  end
  self.created, self.in_table = true, #cols
  return true
end

--- Every flush is durable (one synced transaction); returns the rowid of
-- the last row, or nil, err.
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
  if not self.db then return true end
  local pos, err = self:flush()
  self.db:close()
  self.db = nil
  if not pos then return nil, err end
  return true
end

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

-- The outputs as a list of { path =, overwrite = }.
local function outputs_of(outputs)
  if type(outputs) ~= "table" then outputs = { outputs } end
  local out = {}
  for i, o in ipairs(outputs) do
    out[i] = type(o) == "table" and o or { path = o }
  end
  return out
end

--- The outputs as the jobdir records them: their paths, in order.
function M.describe(outputs)
  local paths = {}
  for i, o in ipairs(outputs_of(outputs)) do paths[i] = o.path end
  return table.concat(paths, ", ")
end

-- Opens one output; its kind from the path's extension.
local function open_one(o, opts)
  local path = o.path
  local one = { fields = opts.fields, resume_at = opts.resume_at, overwrite = o.overwrite or opts.overwrite }
  if path == "-" then return open_file(path, one, KINDS.jsonl) end
  local ext = path:match("%.([%w]+)$")
  ext = ext and ext:lower()
  if ext == "jsonl" or ext == "ndjson" then
    return open_file(path, one, KINDS.jsonl)
  elseif ext == "json" then
    return open_file(path, one, KINDS.json)
  elseif ext == "csv" then
    return open_file(path, one, KINDS.csv)
  elseif ext == "sqlite" or ext == "db" or ext == "sqlite3" then
    return open_sqlite(path, one)
  end
  error(("cannot tell the item format of %s: use .json, .jsonl, .csv or .sqlite (or - for stdout)"):format(path), 0)
end

--- Several outputs as one sink: every item to each.
local Fanout = {}
Fanout.__index = Fanout

function Fanout:write(item, key)
  if self.failed then return nil, self.failed end
  -- what one output refuses, all would: checked once, so that none takes it alone
  local ok, err = jsonl.check(item)
  if not ok then return nil, err end
  for _, s in ipairs(self.sinks) do
    ok, err = s:write(item, key)
    if not ok then
      if s.failed then return broken(self, err) end
      return nil, err
    end
  end
  return true
end

-- Keeps `written` as the items every output has.
function Fanout:count()
  local w = math.huge
  for _, s in ipairs(self.sinks) do w = math.min(w, s.written) end
  self.written = w
end

function Fanout:flush(durable)
  if self.failed then return nil, self.failed end
  local pos = {}
  for i, s in ipairs(self.sinks) do
    local p, err = s:flush(durable)
    if not p then
      self:count()
      return broken(self, err)
    end
    pos[i] = ("%d"):format(p)
  end
  self:count()
  return table.concat(pos, " ")
end

function Fanout:close()
  local first
  for _, s in ipairs(self.sinks) do
    local ok, err = s:close()
    if not ok then first = first or err end
  end
  self:count()
  if first then return broken(self, first) end
  return true
end

--- Opens the sink for `outputs` (see the top). Raises a clear error when an
-- output cannot be written, or the jobdir's position does not fit them,
-- before any crawling starts.
function M.open(outputs, opts)
  opts = opts or {}
  local list = outputs_of(outputs)
  local at = {}
  if opts.resume_at then
    for p in tostring(opts.resume_at):gmatch("%S+") do at[#at + 1] = tonumber(p) end
    if #at ~= #list then
      error(("cannot resume: the jobdir recorded the positions of %d outputs (%s), not %d: "
             .. "run again with the same -o options"):format(#at, tostring(opts.resume_at), #list), 0)
    end
  end
  local sinks = {}
  for i, o in ipairs(list) do
    local ok, s = pcall(open_one, o, { fields = opts.fields, overwrite = opts.overwrite, resume_at = at[i] })
    if not ok then
      for _, open in ipairs(sinks) do open:close() end
      error(s, 0)
    end
    sinks[i] = s
  end
  if #sinks == 1 then return sinks[1] end
  return setmetatable({ sinks = sinks, written = 0 }, Fanout)
end

return M
