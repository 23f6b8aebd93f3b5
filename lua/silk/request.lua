--- silk.request: what a crawl request is beyond its URL, checked where the
-- spider makes it and carried through the frontier.
--
-- crawl:follow(href, opts), crawl:request(opts), crawl:fetch(opts) and
-- crawl:submit take the same options (M.OPTIONS). A request is checked when
-- it is made, at the spider's line, because a queued request that cannot be
-- sent would fail much later inside silk where nobody sees it: an unknown
-- option is an error naming the closest valid one, a value of the wrong
-- shape an error naming the option.
--
-- In the frontier a request is its URL, a dedupe key, depth, priority and
-- callback name, plus the rest as one JSON string (M.encode / M.decode), so
-- that everything survives a jobdir and the Redis frontier alike. `form`
-- and `json` are turned into `body` and a Content-Type when the request is
-- made: what is stored, deduplicated and sent is the same bytes.
--
-- The dedupe key (M.key) is the canonical URL for a GET or HEAD without a
-- body, so that every crawl's common case keeps its key; otherwise the
-- method, the canonical URL and the body: a POST of two different forms to
-- one URL is two requests, the same form twice is one.

local fetch_core = require("silk.core.fetch")
local spider = require("silk.spider")
local cjson = require("cjson").new()
cjson.encode_sparse_array(true)

local M = {}

-- option -> what it must be (a checker returning an error or nil). Fields
-- that silk.fetch takes are passed to it as they are.
local function kind(t, what)
  return function(v) if type(v) ~= t then return what .. " expected, got " .. type(v) end end
end
local function positive(v)
  if type(v) ~= "number" or v ~= v or v <= 0 then return "a number above 0 expected, got " .. tostring(v) end
end
local function whole(v)
  if type(v) ~= "number" or v < 0 or v % 1 ~= 0 then return "a whole number >= 0 expected, got " .. tostring(v) end
end
local function callback_ref(v)
  if type(v) ~= "string" and type(v) ~= "function" then
    return "a function of the spider or its name expected, got " .. type(v)
  end
end

M.OPTIONS = {
  url = kind("string", "a string"),
  method = function(v)
    if type(v) ~= "string" or not v:find("^[%a%-]+$") then
      return "an HTTP method (GET, POST, ...) expected, got " .. tostring(v)
    end
  end,
  body = kind("string", "a string"),
  form = kind("table", "a table of name = value"),
  json = function(v) if v == nil then return "a value expected" end end,
  headers = kind("table", "a table"),
  cookies = function(v)
    if v ~= false and type(v) ~= "table" then return "a table of name = value, or false, expected" end
  end,
  session = function(v)
    if type(v) ~= "string" or v == "" then return "a non-empty string expected" end
  end,
  proxy = function(v)
    if type(v) ~= "string" or not v:find("^%a[%w+.-]*://") then
      return "a proxy URL (http://, https://, socks5://, socks5h://host:port) expected, got " .. tostring(v)
    end
  end,
  user_agent = kind("string", "a string"),
  timeout = positive, retries = whole, max_size = positive,
  insecure = kind("boolean", "a boolean"),
  callback = callback_ref, errback = callback_ref,
  meta = kind("table", "a table"),
  priority = function(v)
    if type(v) ~= "number" or v % 1 ~= 0 then return "a whole number expected, got " .. tostring(v) end
  end,
  dont_filter = kind("boolean", "a boolean"),
  depth = whole,
  render = function(v)
    if type(v) ~= "boolean" and v ~= "auto" and type(v) ~= "table" then
      return 'true, false, "auto" or a table of silk.render options expected, got ' .. tostring(v)
    end
  end,
}

-- The fields that travel in the frontier's JSON (the others have columns
-- of their own there, or are turned into these).
local CARRIED = { "method", "body", "headers", "cookies", "session", "proxy", "user_agent", "timeout",
                  "retries", "max_size", "insecure", "errback", "meta", "render" }

local function closest(name)
  local best, bd = nil, math.huge
  for k in pairs(M.OPTIONS) do
    local d = spider.distance(name, k)
    if d < bd or (d == bd and k < best) then best, bd = k, d end
  end
  return best
end

-- A header the request could not send is refused here, as silk.fetch
-- refuses it at its own call.
local function check_headers(who, h, level)
  for name, v in pairs(h) do
    if type(name) ~= "string" or name == "" or name:find("[%c%s:]") then
      error(("%s: bad header name %q"):format(who, tostring(name)), level)
    end
    for _, x in ipairs(type(v) == "table" and v or { v }) do
      if type(x) ~= "string" and type(x) ~= "number" then
        error(("%s: header '%s' must be a string, got %s"):format(who, name, type(x)), level)
      end
      if tostring(x):find("[\r\n%z]") then
        error(("%s: header '%s' contains CR, LF or NUL"):format(who, name), level)
      end
    end
  end
end

local function check_cookies(who, c, level)
  for name, v in pairs(c) do
    if type(name) ~= "string" or name == "" or name:find("[%c%s;=,]") then
      error(("%s: bad cookie name %q"):format(who, tostring(name)), level)
    end
    if (type(v) ~= "string" and type(v) ~= "number") or tostring(v):find("[%c;]") then
      error(("%s: cookie '%s' must be a string without ';' or control characters"):format(who, name), level)
    end
  end
end

--- M.check(who, o, level): raises, at the caller `level` frames up, on an
-- unknown option or a value of the wrong shape; `who` names the function in
-- the message ("crawl:follow").
function M.check(who, o, level)
  level = level + 1
  for k, v in pairs(o) do
    local check = M.OPTIONS[k]
    if not check then
      error(("%s: unknown option '%s' (did you mean '%s'?)"):format(who, tostring(k), closest(tostring(k))), level)
    end
    local why = check(v)
    if why then error(("%s: option '%s': %s"):format(who, k, why), level) end
  end
  local bodies = (o.body ~= nil and 1 or 0) + (o.form ~= nil and 1 or 0) + (o.json ~= nil and 1 or 0)
  if bodies > 1 then error(who .. ": give one of body, form and json", level) end
  if o.headers then check_headers(who, o.headers, level + 1) end
  if o.cookies then check_cookies(who, o.cookies, level + 1) end
end

-- The header table h with name set, unless a header of that name (in any
-- case) is there already; h is copied, never changed.
local function with_header(h, name, value)
  local out = {}
  for k, v in pairs(h or {}) do
    if k:lower() == name:lower() then return h end
    out[k] = v
  end
  out[name] = value
  return out
end

--- M.normalize(o) -> o: form and json become body plus a Content-Type; a
-- method is upper-cased, and a body without one makes a POST. Returns a new
-- table when it changes anything.
function M.normalize(o)
  if o.form == nil and o.json == nil and (o.method == nil or o.method == o.method:upper())
     and (o.body == nil or o.method ~= nil) then
    return o
  end
  local r = {}
  for k, v in pairs(o) do r[k] = v end
  if r.form ~= nil then
    r.body = fetch_core.encode_form(r.form)
    r.headers = with_header(r.headers, "Content-Type", "application/x-www-form-urlencoded")
    r.form = nil
  elseif r.json ~= nil then
    r.body = cjson.encode(r.json)
    r.headers = with_header(r.headers, "Content-Type", "application/json")
    r.json = nil
  end
  r.method = r.method and r.method:upper() or (r.body and "POST" or nil)
  return r
end

--- M.prepare(spider, who, o, level) -> a new request table: o checked
-- (errors `level` frames above the caller), form/json made a body, the
-- callback and errback turned into the spider's names for them (requests
-- travel by name, so that a jobdir can persist them).
function M.prepare(spider, who, o, level)
  M.check(who, o, level + 1)
  local r = {}
  for k, v in pairs(M.normalize(o)) do r[k] = v end
  if r.callback ~= nil then r.callback = spider:callback_name(r.callback, level + 1) end
  if r.errback ~= nil then r.errback = spider:callback_name(r.errback, level + 1) end
  return r
end

--- M.from_form(form_node, fields, o, page_url) -> request | nil, err: what
-- crawl:submit queues (and silk.testing's double records): silk.form.request's
-- url, method, body and headers (o.headers on top) with o's other request
-- options; o.clicked and o.dont_click choose the submitter.
function M.from_form(form_node, fields, o, page_url)
  local r, err = require("silk.form").request(form_node, fields, {
    clicked = o.clicked, dont_click = o.dont_click, url = page_url })
  if not r then return nil, err end
  local req = {}
  for k, v in pairs(o) do req[k] = v end
  req.clicked, req.dont_click = nil, nil
  req.url, req.method, req.body = r.url, r.method, r.body
  local headers = {}
  for k, v in pairs(r.headers or {}) do headers[k] = v end
  for k, v in pairs(o.headers or {}) do headers[k] = v end
  req.headers = next(headers) and headers or nil
  return req
end

--- M.key(method, canon, body) -> the frontier's dedupe key (see above).
function M.key(method, canon, body)
  if body == nil and (method == nil or method == "GET" or method == "HEAD") then return canon end
  return (method or "GET") .. " " .. canon .. "\n" .. (body or "")
end

--- M.encode(o [, more]) -> the JSON the frontier carries for request o
-- (and the fields of `more`, silk's own), or nil when it carries nothing (a
-- plain GET).
function M.encode(o, more)
  local out = more
  for i = 1, #CARRIED do
    local k = CARRIED[i]
    local v = o[k]
    if v ~= nil and not (k == "meta" and next(v) == nil) then
      out = out or {}
      out[k] = v
    end
  end
  return out and cjson.encode(out)
end

--- M.decode(s) -> the table M.encode made (empty for nil).
function M.decode(s)
  if not s then return {} end
  return cjson.decode(s)
end

return M
