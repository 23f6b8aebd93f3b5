--- silk.httpcache: `silk run --http-cache DIR`. Successful GET responses are
-- stored in DIR/cache.sqlite and replayed on later runs without touching
-- the network, which is what a spider author wants while iterating on
-- callbacks (Scrapy's HTTPCACHE_ENABLED). Failures are never cached, so a
-- flaky page is fetched again next time.
--
--   local cache = httpcache.open(dir [, {record = true}])   -- raises when DIR cannot be used
--   local res = cache:get(url)               -- a response, or nil (always nil when
--                                            -- recording: `silk run --record DIR`)
--   cache:put(url, res)
--   cache:close()
--
-- Bodies are stored hex-encoded: LuaSQL binds values as SQL text, and
-- hex keeps a binary body intact through it.

local fetch = require("silk.core.fetch")
local cjson = require("cjson").new()

local M = {}
local Cache = {}
Cache.__index = Cache

local function exec(con, sql)
  local r, err = con:execute(sql)
  if not r then error(("http cache: %s"):format(err), 0) end
  if type(r) == "userdata" then r:close() end
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

function M.open(dir, opts)
  local ok, driver = pcall(require, "luasql.sqlite3")
  if not ok then error("--http-cache needs LuaSQL (Debian: lua-sql-sqlite3)", 0) end
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  local env = driver.sqlite3()
  local con, err = env:connect(dir .. "/cache.sqlite")
  if not con then error(("cannot open the http cache in %s: %s"):format(dir, err), 0) end
  exec(con, "PRAGMA journal_mode=WAL")
  exec(con, [[CREATE TABLE IF NOT EXISTS responses (
    url TEXT PRIMARY KEY, final_url TEXT, status INTEGER, http_version TEXT,
    headers TEXT, body TEXT, stored_at REAL)]])
  if opts and opts.record then
    return setmetatable({ env = env, con = con, record = true }, Cache)
  end
  return setmetatable({ env = env, con = con, hits = 0, misses = 0 }, Cache)
end

local headers_meta = { __index = function(t, k)
  return type(k) == "string" and rawget(t, k:lower()) or nil
end }

function Cache:get(url)
  if self.record then return nil end
  local cur = self.con:execute("SELECT final_url, status, http_version, headers, body FROM responses WHERE url = "
                               .. quote(url))
  local row = cur and cur:fetch({}, "n")
  if cur then cur:close() end
  if not row then
    self.misses = self.misses + 1
    return nil
  end
  self.hits = self.hits + 1
  local pairs_ = cjson.decode(row[4])
  local headers, list = setmetatable({}, headers_meta), {}
  for _, kv in ipairs(pairs_) do
    local k = kv[1]:lower()
    headers[k] = headers[k] and (headers[k] .. ", " .. kv[2]) or kv[2]
    list[#list + 1] = k
    list[#list + 1] = kv[2]
  end
  local body = unhex(row[5])
  return setmetatable({
    status = tonumber(row[2]), url = row[1], method = "GET", redirects = {}, headers = headers,
    _header_list = list, body = body, http_version = row[3], remote_ip = "", size = #body,
    wire_size = 0, attempts = 1, from_cache = true,
    timings = { dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, queued = 0, done_at = 0 },
  }, fetch.response_meta)
end

function Cache:put(url, res)
  if res.status >= 400 then return end
  local list, hl = {}, res._header_list or {}
  for i = 1, #hl - 1, 2 do list[#list + 1] = { hl[i], hl[i + 1] } end
  exec(self.con, ("INSERT OR REPLACE INTO responses VALUES (%s, %s, %d, %s, %s, %s, %f)"):format(
    quote(url), quote(res.url), res.status, quote(res.http_version or ""), quote(cjson.encode(list)),
    quote(hex(res.body)), os.time()))
end

function Cache:close()
  if self.con then
    self.con:close()
    self.env:close()
    self.con = nil
  end
end

return M
