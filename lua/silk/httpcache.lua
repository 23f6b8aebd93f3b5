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
-- Bodies are stored as BLOBs. Caches written before silk.core.sqlite hold
-- them as hex TEXT (their driver bound only text); those rows still read.

local fetch = require("silk.core.fetch")
local sqlite = require("silk.core.sqlite")
local cjson = require("cjson").new()

local M = {}
local Cache = {}
Cache.__index = Cache

local function check(ok, err)
  if ok == nil then error(("http cache: %s"):format(err), 0) end
  return ok
end

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

function M.open(dir, opts)
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  local db, err = sqlite.open(dir .. "/cache.sqlite")
  if not db then error(("cannot open the http cache in %s: %s"):format(dir, err), 0) end
  check(db:exec("PRAGMA journal_mode=WAL"))
  check(db:exec([[CREATE TABLE IF NOT EXISTS responses (
    url TEXT PRIMARY KEY, final_url TEXT, status INTEGER, http_version TEXT,
    headers TEXT, body BLOB, stored_at REAL)]]))
  local self = { db = db, put_st = check(db:prepare("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)")) }
  if opts and opts.record then
    self.record = true
  else
    self.get_st = check(db:prepare(
      "SELECT final_url, status, http_version, headers, body, typeof(body) FROM responses WHERE url = ?"))
    self.hits, self.misses = 0, 0
  end
  return setmetatable(self, Cache)
end

local headers_meta = { __index = function(t, k)
  return type(k) == "string" and rawget(t, k:lower()) or nil
end }

function Cache:get(url)
  if self.record then return nil end
  local st = self.get_st
  st:bind(1, url)
  local found, err = st:step()
  local final_url, status, http_version, headers_json, body, body_type
  if found then final_url, status, http_version, headers_json, body, body_type = st:row() end
  st:reset()
  if not check(found, err) then
    self.misses = self.misses + 1
    return nil
  end
  self.hits = self.hits + 1
  local pairs_ = cjson.decode(headers_json)
  local headers, list = setmetatable({}, headers_meta), {}
  for _, kv in ipairs(pairs_) do
    local k = kv[1]:lower()
    headers[k] = headers[k] and (headers[k] .. ", " .. kv[2]) or kv[2]
    list[#list + 1] = k
    list[#list + 1] = kv[2]
  end
  if body_type == "text" then body = unhex(body) end
  return setmetatable({
    status = status, url = final_url, method = "GET", redirects = {}, headers = headers,
    _header_list = list, body = body, http_version = http_version, remote_ip = "", size = #body,
    wire_size = 0, attempts = 1, from_cache = true,
    timings = { dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, queued = 0, done_at = 0 },
  }, fetch.response_meta)
end

function Cache:put(url, res)
  if res.status >= 400 then return end
  local list, hl = {}, res._header_list or {}
  for i = 1, #hl - 1, 2 do list[#list + 1] = { hl[i], hl[i + 1] } end
  local st = self.put_st
  st:bind(1, url)
  st:bind(2, res.url)
  st:bind(3, res.status)
  st:bind(4, res.http_version or "")
  st:bind(5, cjson.encode(list))
  check(st:bind_blob(6, res.body))
  st:bind(7, os.time())
  local ok, err = st:step()
  st:reset()
  check(ok, err)
end

function Cache:close()
  if self.db then
    self.db:close()                  -- and its statements
    self.db = nil
  end
end

return M
