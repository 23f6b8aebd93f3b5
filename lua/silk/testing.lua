--- silk.testing: helpers for specs, run by `silk test`.
--
--   testing.response{url=, body=, status=, headers=} -> res
--   testing.from_file(path [, url]) -> res
--     A response like one silk.fetch returns (the same metatable, so
--     res:text/select/one/html/urljoin/base_url and whatever methods later
--     modules add), built from a string or a saved page: a spider's
--     callbacks are tested on fixtures without a server.
--   testing.crawl{spider=, meta=, depth=, response=, responses=} -> crawl
--     A double of the `crawl` object a callback receives: it records what
--     the callback asked for (crawl.follows: follow and request, crawl.items,
--     crawl.fetches, crawl.submits) instead of doing it.
--   testing.replay(dir) -> recording
--     What `silk run --record DIR` fetched, by URL (recording[url] -> res).
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

--- testing.no_leaks(fn, ...) -> the results of fn
-- Runs fn(...) and fails if a task it created is still alive afterwards
-- (after retrying for about a second, so that tasks about to end can).
-- @raise "N tasks leaked:" followed by each leaked task's dump.
-- @usage
--   testing.no_leaks(function()
--     local t = silk.spawn(silk.sleep, 0.01)
--     t:join()
--   end)
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

-- Responses -----------------------------------------------------------------

local function fetch_module()
  require("silk")                        -- adds the parsing methods to responses
  return require("silk.core.fetch")
end

local function url_module() return require("silk.core.url") end

local function bad(fn, msg) error(("testing.%s: %s"):format(fn, msg), 3) end

-- The headers as silk.fetch gives them: res.headers (lowercase names, read
-- case-insensitively, repeats joined by ", ") and res._header_list (what
-- res:header and res:headers_all read).
local function build_headers(fn, given, meta)
  local map, list = setmetatable({}, meta), {}
  local function add(name, value)
    if type(name) ~= "string" or name == "" then bad(fn, "headers: a header name must be a non-empty string") end
    if type(value) ~= "string" and type(value) ~= "number" then
      bad(fn, ("headers.%s: string expected, got %s"):format(name, type(value)))
    end
    local k = name:lower()
    value = tostring(value)
    map[k] = map[k] and (map[k] .. ", " .. value) or value
    list[#list + 1] = k
    list[#list + 1] = value
  end
  local names = {}
  for name in pairs(given) do
    if type(name) ~= "string" then bad(fn, "headers: names must be strings") end
    names[#names + 1] = name
  end
  table.sort(names)                      -- a stable order for headers_all
  for _, name in ipairs(names) do
    local v = given[name]
    if type(v) == "table" then
      for _, x in ipairs(v) do add(name, x) end
    else
      add(name, v)
    end
  end
  return map, list
end

--- testing.response{url=, body=, status=, headers=} -> res
-- A response object built in memory, with the methods of a fetched one
-- (res:text, res:select, res:one, res:html, res:urljoin, res:base_url,
-- res:header, res:headers_all). `url` (required) is the final URL that
-- links resolve against; `body` defaults to "", `status` to 200;
-- `headers` maps names to a value or a list of values (default
-- `content-type: text/html; charset=utf-8`).
-- @raise a plain error naming the field when url is not an http(s) URL,
--   body is not a string, status is not a number from 100 to 599, or a
--   header is not a string.
-- @usage
--   local res = testing.response{ url = "http://shop.test/", body = "<h1>Hi</h1>" }
--   assert.equal("Hi", res:one("h1"):text())
function testing.response(o)
  if type(o) ~= "table" then bad("response", "a table expected, got " .. type(o)) end
  local u = o.url
  if type(u) ~= "string" or not url_module().is_http(u) then
    bad("response", "url: an http(s) URL expected, got " .. (type(u) == "string" and ("%q"):format(u) or type(u)))
  end
  local body = o.body == nil and "" or o.body
  if type(body) ~= "string" then bad("response", "body: string expected, got " .. type(body)) end
  local status = o.status == nil and 200 or o.status
  if type(status) ~= "number" or status < 100 or status > 599 or status % 1 ~= 0 then
    bad("response", "status: a number from 100 to 599 expected, got " .. tostring(status))
  end
  local given = o.headers
  if given == nil then given = { ["content-type"] = "text/html; charset=utf-8" } end
  if type(given) ~= "table" then bad("response", "headers: table expected, got " .. type(given)) end
  local fetch = fetch_module()
  local headers, list = build_headers("response", given, fetch.headers_meta)
  return setmetatable({
    status = status, url = u, method = "GET", redirects = {}, headers = headers,
    _header_list = list, body = body, http_version = "1.1", remote_ip = "127.0.0.1",
    size = #body, wire_size = #body, attempts = 1,
    timings = { dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, queued = 0, done_at = 0 },
  }, fetch.response_meta)
end

local TYPES = {
  html = "text/html", htm = "text/html", json = "application/json", xml = "application/xml",
  txt = "text/plain", csv = "text/csv",
}

--- testing.from_file(path [, url]) -> res
-- A response whose body is the file at `path` (a page saved with
-- `curl -o`, or by `silk new`). Its content type follows the extension
-- (.html, .json, .xml, .txt, .csv; none otherwise), so res:text() finds
-- the charset the page declares. `url` defaults to http://fixture.test/
-- followed by the file's name.
-- @raise "testing.from_file: cannot read PATH: reason".
-- @usage
--   local res = testing.from_file("spec/fixtures/listing.html", "http://shop.test/")
--   assert.is_true(#res:select("a") > 0)
function testing.from_file(path, u)
  if type(path) ~= "string" then bad("from_file", "path: string expected, got " .. type(path)) end
  local f, err = io.open(path, "rb")
  if not f then bad("from_file", ("cannot read %s: %s"):format(path, err)) end
  local body = f:read("*a")
  f:close()
  local name = path:match("[^/]*$")
  local ctype = TYPES[(name:match("%.(%w+)$") or ""):lower()]
  return testing.response{ url = u or ("http://fixture.test/" .. name), body = body,
                           headers = { ["content-type"] = ctype and (ctype .. "; charset=utf-8") } }
end

-- The crawl double ------------------------------------------------------------

local Crawl = {}
Crawl.__index = Crawl

--- testing.crawl{spider=, meta=, depth=, response=, responses=} -> crawl
-- A stand-in for the `crawl` object a callback receives (the `double`
-- below). It does nothing but record: `crawl.follows` (each a request:
-- url resolved as the real crawl:follow resolves it, against
-- response:base_url(); href as given; callback, default "parse"; and the
-- other options), `crawl.items` (what was emitted), `crawl.fetches` and
-- `crawl.submits`. With `spider`, options are checked as the real crawl
-- checks them (silk.request: an unknown option or callback raises) and
-- callbacks given as functions are recorded by name. `meta` and `depth`
-- are what the callback reads as crawl.meta and crawl.depth (default {}
-- and 0); `response` is the page links resolve against; `responses` maps
-- URLs to what crawl:fetch returns (a table, or testing.replay's
-- recording). testing.call sets spider and response.
-- @usage
--   local crawl = testing.crawl{ meta = { page = 2 }, response = res }
--   spider.parse(res, crawl)
--   assert.equal(10, #crawl.follows)
function testing.crawl(o)
  o = o or {}
  if type(o) ~= "table" then bad("crawl", "a table expected, got " .. type(o)) end
  return setmetatable({
    spider = o.spider, meta = o.meta or {}, depth = o.depth or 0, res = o.response,
    url = o.response and o.response.url, responses = o.responses or {},
    follows = {}, items = {}, fetches = {}, submits = {}, seen = {},
  }, Crawl)
end

--- double:resolve(href) -> url, canonical, host | nil
-- href resolved against the response's base URL, as the real
-- crawl:resolve does (href itself when the double has no response).
-- @usage
--   assert.equal("http://shop.test/b", (crawl:resolve("/b")))
function Crawl:resolve(href)
  if not self.res then return href end
  return url_module().resolve(self.res:base_url(), href)
end

-- A request's options, checked and normalized as the real crawl does when
-- the double knows the spider; a copy otherwise.
local function prepared(self, who, o)
  if self.spider then return require("silk.request").prepare(self.spider, who, o, 3) end
  local r = {}
  for k, v in pairs(o) do r[k] = v end
  return r
end

-- Records request r (options prepared) for href in `list` (default
-- crawl.follows) unless the request was seen; returns whether it was
-- recorded.
local function record_follow(self, href, r, list)
  local abs, canon = self:resolve(href)
  canon = canon or (abs and url_module().canonical(abs))
  if not canon then return false end
  local key = require("silk.request").key(r.method, canon, r.body)
  if self.seen[key] and not r.dont_filter then return false end
  self.seen[key] = true
  r.url, r.href, r.callback = abs, href, r.callback or "parse"
  list = list or self.follows
  list[#list + 1] = r
  return true
end

--- double:follow(href [, opts]) -> boolean
-- Records the request in crawl.follows: href resolved against the
-- response's base URL, as the real crawl resolves it; opts checked as the
-- real crawl:follow checks them when the double knows the spider.
-- @return true for a request not followed before from this page (or with
--   dont_filter), false for a repeat or an href that does not resolve.
-- @raise as crawl:follow.
-- @usage
--   crawl:follow("/books/2", { callback = "book" })
--   assert.equal("http://shop.test/books/2", crawl.follows[1].url)
function Crawl:follow(href, o)
  if type(href) ~= "string" then error("crawl:follow: href must be a string, got " .. type(href), 2) end
  if o ~= nil and type(o) ~= "table" then error("crawl:follow: options must be a table, got " .. type(o), 2) end
  local r = prepared(self, "crawl:follow", o or {})
  if r.url ~= nil then error("crawl:follow: the URL is its first argument, not option 'url'", 2) end
  return record_follow(self, href, r)
end

--- double:request{url=, ...} -> boolean
-- As double:follow(url, rest), recorded in crawl.follows.
-- @raise as crawl:request.
-- @usage
--   crawl:request{ url = "/search", method = "POST", form = { q = "lua" } }
--   assert.equal("POST", crawl.follows[1].method)
function Crawl:request(o)
  if type(o) ~= "table" then error("crawl:request: a request table expected, got " .. type(o), 2) end
  if type(o.url) ~= "string" then error("crawl:request: option 'url' (a string) is required", 2) end
  local r = prepared(self, "crawl:request", o)
  local href = r.url
  r.url = nil
  return record_follow(self, href, r)
end

--- double:emit(item) -> true | false, err
-- Records the item in crawl.items after the same check
-- the real crawl makes: an item that cannot be written (a function, NaN,
-- invalid UTF-8...) returns false and an error naming the field.
-- @raise when item is not a table.
-- @usage
--   crawl:emit{ title = "A Light in the Attic" }
--   assert.same({ title = "A Light in the Attic" }, crawl.items[1])
function Crawl:emit(item)
  if type(item) ~= "table" then error("crawl:emit expects a table, got " .. type(item), 2) end
  local ok, err = require("silk.core.jsonl").check(item)
  if not ok then return false, err end
  self.items[#self.items + 1] = item
  return true
end

local function request_of(where, req)
  if type(req) == "string" then return { url = req } end
  if type(req) ~= "table" or type(req.url) ~= "string" then
    error(where .. ": a URL or a request table with url expected", 3)
  end
  return req
end

--- double:fetch(url_or_request) -> res | nil, err
-- Records the request in crawl.fetches (url resolved against the page)
-- and returns the response testing.crawl{responses=} gives for it, else
-- nil and an error value of kind "invalid".
-- @raise as crawl:fetch.
-- @usage
--   local crawl = testing.crawl{ responses = { ["http://shop.test/api"] = api_res } }
--   assert.equal(api_res, crawl:fetch("http://shop.test/api"))
function Crawl:fetch(req)
  local r = prepared(self, "crawl:fetch", request_of("crawl:fetch", req))
  if r.callback or r.errback then
    error("crawl:fetch: the response comes back to the caller; option 'callback' and 'errback' do not apply", 2)
  end
  local abs = self:resolve(r.url) or r.url
  r.url = abs
  self.fetches[#self.fetches + 1] = r
  local res = self.responses[abs]
  if res then return res end
  return nil, require("silk").error("invalid", "testing.crawl has no response for " .. abs)
end

--- double:submit(form [, fields [, opts]]) -> boolean | nil, err
-- Records in crawl.submits the request submitting `form` (a <form> node of
-- the page) with `fields` changed, built by silk.form.request as the real
-- crawl:submit builds it: url, method, body, headers, callback (default
-- "parse") and the other options.
-- @return true, false for a request submitted before, or nil and the
--   error when the form cannot be submitted.
-- @raise as crawl:submit.
-- @usage
--   local crawl = testing.call(spider, "login_page", res)
--   assert.equal("POST", crawl.submits[1].method)
function Crawl:submit(form_node, fields, o)
  o = o or {}
  if type(o) ~= "table" then error("crawl:submit: options must be a table, got " .. type(o), 2) end
  local req, err = require("silk.request").from_form(form_node, fields, o, self.res and self.res.url or self.url)
  if not req then return nil, err end
  req = prepared(self, "crawl:submit", req)
  local href = req.url
  req.url = nil
  return record_follow(self, href, req, self.submits)
end

--- testing.call(spider, callback, res [, {meta=, depth=, responses=}]) -> crawl
-- Calls the spider's callback (a name or a function) with res and a fresh
-- testing.crawl aimed at res; returns the crawl with what it recorded.
-- @raise what the callback raises; "testing.call: spider has no callback NAME".
-- @usage
--   local crawl = testing.call(spider, "parse", testing.from_file("spec/fixtures/listing.html", URL))
--   assert.is_true(#crawl.follows > 0)
function testing.call(spider, callback, res, o)
  local fn = callback
  if type(callback) == "string" then
    fn = type(spider) == "table" and spider[callback]
    if type(fn) ~= "function" then bad("call", "spider has no callback " .. callback) end
  elseif type(fn) ~= "function" then
    bad("call", "callback: a name or a function expected, got " .. type(callback))
  end
  o = o or {}
  local crawl = testing.crawl{ spider = spider, meta = o.meta, depth = o.depth, responses = o.responses,
                               response = res }
  fn(res, crawl)
  return crawl
end

--- testing.replay(dir) -> recording
-- The responses `silk run --record DIR` stored (or `--http-cache DIR`),
-- served back like betamax: recording[url] is the response fetched for
-- that URL (a response object, as fetched: final URL, status, headers,
-- body), or nil. Pass it as testing.crawl's (or testing.call's) `responses`
-- so that the callback's crawl:fetch gets them too.
-- @raise "testing.replay: DIR holds no recording" when DIR/cache.sqlite is
--   missing; what opening it raises ("http cache: ...: file is not a database").
-- @usage
--   local rec = testing.replay("spec/recorded")     -- silk run spiders/shop.lua --record spec/recorded
--   local crawl = testing.call(spider, "parse", rec["http://127.0.0.1:8080/"], { responses = rec })
function testing.replay(dir)
  if type(dir) ~= "string" then bad("replay", "dir: string expected, got " .. type(dir)) end
  local f = io.open(dir .. "/cache.sqlite", "rb")
  if not f then bad("replay", dir .. " holds no recording (silk run SPIDER --record " .. dir .. ")") end
  f:close()
  local store = require("silk.httpcache").open(dir)
  local seen = {}
  return setmetatable({}, { __index = function(_, u)
    if type(u) ~= "string" then return nil end
    local res = seen[u] or store:get(u)
    seen[u] = res
    return res
  end })
end

return testing
