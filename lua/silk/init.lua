--- silk: the spider author's module.
--
-- Tasks, waits, cancellation and channels come from the C core
-- (silk.core.task); this file adds what is better said in Lua on top of the
-- core's cancel frames: with_timeout and scope.
--
--   silk.spawn(fn, ...) / silk.spawn{fn, ..., name=, timeout=} -> task
--   task:join() -> true, results... | false, err
--   task:cancel([reason]); task:status(); task:cpu_time(); task.id; task.name
--   silk.sleep(seconds)
--   silk.with_timeout(seconds, fn, ...) -> results... | nil, err (err.kind == "timeout")
--   silk.scope(fn) -> results of fn | nil, err (the first child failure)
--   silk.channel([capacity]) -> channel with :send(v) :recv() :close() :len() :cap()
--   silk.current() -> task; silk.tasks() -> snapshot; silk.dump_tasks() -> text
--   silk.now() -> monotonic seconds
--   silk.error(kind, message) -> an error value { kind =, message = } like the core's
--   silk.fetch(url_or_request) -> res | nil, err      (silk.core.fetch)
--   silk.html(text, base_url) -> doc | nil, err        (parsed off the loop when large)
--   res:html() (cached; nil, err when the page cannot be parsed),
--   res:select(css), res:one(css) (raise that error), res:urljoin(href),
--   res:base_url() (what relative links resolve against: <base href> or res.url)
--   res:json() -> value (cached; raises a "json" error value naming the URL)
--   silk.null: JSON null (cjson.null), in decoded JSON and in items
--   res/doc/node:text_of(css [, default | opts]), :texts(css [, opts]),
--   :attr_of(css, name [, default | opts]): opts { default=, match=, raw=, lines= }
--   silk.url.join/canonical/host_key/host/resolve/parse/is_http; silk.robots.parse(text)
--   silk.spider{...}: what a spider file returns (silk.spider module)
--   silk.form.request(form_node [, fields [, opts]]) -> request: a <form>'s submission (silk.form)
--   silk.render(url_or_request, opts) -> res | nil, err; silk.page() -> page (silk.render module)
--   silk.gc_stats() when the GC pacer is built in
--
-- Cancellation and deadlines are raised, not returned: a wait of a cancelled
-- or timed-out task raises an error value { kind = "cancelled" | "timeout",
-- message = ... }, and every later wait raises it again, so the task unwinds
-- whatever it catches. with_timeout and scope catch their own and return
-- nil, err.

local core = require("silk.core.task")
local engine = require("silk.core.engine")

local pack = function(...) return { n = select("#", ...), ... } end
local unpack = unpack
local error, type, setmetatable, tostring, pcall = error, type, setmetatable, tostring, pcall

local silk = {
  spawn = core.spawn,
  sleep = core.sleep,
  channel = core.channel,
  current = core.current,
  tasks = core.tasks,
  dump_tasks = core.dump,
  now = engine.now,
  error = engine.error,
  -- Filled by the crawl runner for the console's stats/pause/resume/frontier
  -- built-ins; see lua/silk/console.lua.
  console_hooks = {},
}

--- silk.with_timeout(seconds, fn, ...) -> fn's results | nil, err
-- Runs fn(...) under a deadline `seconds` from now.
-- Returns fn's results, or nil, err when the deadline interrupted it
-- (err.kind == "timeout"). Errors of fn, and interruptions of outer
-- deadlines or cancellations, propagate.
-- @raise a plain error for a negative timeout or a non-function; what fn
--   raises; an outer deadline's or a cancellation's error value.
-- @usage
--   local res, err = silk.with_timeout(0.5, silk.fetch, "http://127.0.0.1:8080/")
--   if not res then print(err.kind) end      --> timeout (or the fetch's own error)
function silk.with_timeout(seconds, fn, ...)
  if type(seconds) ~= "number" or not (seconds >= 0) then
    error("bad argument #1 to 'with_timeout' (non-negative number of seconds expected, got "
          .. tostring(seconds) .. ")", 2)
  end
  if type(fn) ~= "function" then
    error("bad argument #2 to 'with_timeout' (function expected, got " .. type(fn) .. ")", 2)
  end
  local frame = core.frame_push(seconds)
  local r = pack(pcall(fn, ...))
  local fired = core.frame_pop(frame)
  if r[1] then
    if fired then return nil, fired end
    return unpack(r, 2, r.n)
  end
  if fired and r[2] == fired then return nil, fired end
  error(r[2], 0)
end

local Scope = {}
Scope.__index = Scope

--- scope:spawn(fn, ...) -> task
-- Also scope:spawn{fn, ..., name=, timeout=}: a child of the scope; it is
-- cancelled if the scope fails, and the scope waits for it.
-- @raise as silk.spawn.
-- @usage
--   silk.scope(function(sc)
--     for _, u in ipairs(urls) do sc:spawn(silk.fetch, u) end
--   end)
function Scope:spawn(...)
  return core.scope_spawn(self._frame, ...)
end

--- scope:cancel([reason])
-- Cancels the scope's body and its children; silk.scope then returns nil
-- and the cancellation.
-- @usage
--   silk.scope(function(sc)
--     sc:spawn(silk.sleep, 60)
--     sc:cancel("enough")
--   end)
function Scope:cancel(reason)
  core.frame_cancel(self._frame, reason or "scope cancelled")
end

--- silk.scope(fn, ...) -> fn's results | nil, err
-- Structured concurrency: runs fn(scope, ...) and returns when it and every
-- task spawned through scope:spawn have finished. If one of them fails, the
-- others and the body are cancelled and scope returns nil, err (the first
-- failure). If the body raises, or the task running the scope is cancelled,
-- the children are cancelled and waited for, then the error propagates.
-- A child never outlives its scope.
-- @raise a plain error when fn is not a function; what the body raises;
--   the running task's own cancellation.
-- @usage
--   local ok, err = silk.scope(function(sc)
--     sc:spawn(function() assert(silk.fetch(a)) end)
--     sc:spawn(function() assert(silk.fetch(b)) end)
--     return true
--   end)
function silk.scope(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'scope' (function expected, got " .. type(fn) .. ")", 2)
  end
  local frame = core.frame_push()
  local sc = setmetatable({ _frame = frame }, Scope)
  local r = pack(pcall(fn, sc, ...))
  if not r[1] then core.frame_cancel(frame, "scope body failed") end
  local waited, outer = core.scope_wait(frame)
  if waited == core.INTERRUPTED then
    core.frame_cancel(frame, "scope interrupted")
    core.scope_wait(frame, true)
  else
    outer = nil
  end
  local fired, cause = core.frame_pop(frame)
  if outer then error(outer, 0) end
  if not r[1] then
    if fired and r[2] == fired then return nil, cause or fired end
    error(r[2], 0)
  end
  if cause then return nil, cause end
  return unpack(r, 2, r.n)
end

-- Fetching, parsing and the crawl: loaded on first use, so that a script
-- that only uses tasks pays for none of them.
local lazy = {
  fetch = function() return require("silk.core.fetch").fetch end,
  url = function() return require("silk.core.url") end,
  robots = function() return require("silk.core.robots") end,
  --- silk.html(text [, base_url]) -> doc | nil, err
  -- Parses HTML with gumbo (on a worker thread when over 2 KB, so the loop
  -- goes on meanwhile); base_url is what doc:base_url() and doc:links()
  -- resolve against.
  -- @return the document, or nil and an error value of kind "too_large"
  --   (nesting past 1 024, memory past 32 times the text plus 16 MiB) or "nomem".
  -- @raise a plain error when text is not a string.
  -- @usage
  --   local doc = assert(silk.html("<h1>Hi</h1>", "http://shop.test/"))
  --   print(doc:one("h1"):text())     --> Hi
  html = function()
    local html = require("silk.core.html")
    return function(text, base_url)
      if type(text) ~= "string" then
        error("bad argument #1 to 'html' (string expected, got " .. type(text) .. ")", 2)
      end
      return html.parse_async(text, base_url)
    end
  end,
  spider = function() return require("silk.spider").new end,
  form = function() return require("silk.form") end,
  render = function() return require("silk.render").render end,
  page = function() return require("silk.render").page end,
  gc_stats = function() return require("silk.core.gc").stats end,
  -- lua-cjson's null (a NULL light userdata): what res:json() gives for
  -- JSON null, and what the item encoders write as null (core/lapi_jsonl.c).
  null = function() return require("cjson").null end,
}

setmetatable(silk, { __index = function(t, k)
  local load = lazy[k]
  if not load then return nil end
  local v = load()
  rawset(t, k, v)
  return v
end })

-- Responses of silk.fetch gain the parsing shortcuts. The document is
-- parsed once per response (from res:text(), so in UTF-8) and cached.
do
  local ok, fetch = pcall(require, "silk.core.fetch")
  if ok and fetch.response_meta then
    local methods = fetch.response_meta.__index
    --- res:html() -> doc | nil, err
    -- The page parsed (from res:text(), so in UTF-8; res.url is its base),
    -- once: later calls return the same document. In a crawl it is freed
    -- when the callback returns.
    -- @return the document, or nil and the parse error (as silk.html).
    -- @usage
    --   local doc = assert(res:html())
    --   print(doc:title())
    function methods:html()
      local doc = rawget(self, "_doc")
      if doc then return doc end
      local err
      -- inline also where a wait cannot yield (a string.gsub callback
      -- calling res:urljoin, say): parse_async would raise there
      if rawget(self, "_parse_inline") or not coroutine.isyieldable() then
        doc, err = require("silk.core.html").parse((self:text()), self.url)
      else
        doc, err = silk.html((self:text()), self.url)
      end
      if not doc then return nil, err end
      rawset(self, "_doc", doc)
      return doc
    end
    -- select and one raise when the page cannot be parsed, so that
    -- `for _, a in ipairs(res:select(css))` fails with the cause (in a crawl:
    -- a callback error naming the URL) rather than inside ipairs, and
    -- `res:one(css)` cannot pass for "no match". res:html() returns it.
    local function parsed(res)
      local doc, err = res:html()
      if doc then return doc end
      error(setmetatable({ kind = err.kind, url = res.url,
                           message = ("cannot parse %s: %s"):format(res.url, err.message) },
                         getmetatable(err)), 3)
    end
    --- res:select(css) -> {node...}
    -- The page's elements matching the CSS selector (see doc:select).
    -- @raise the parse error when the page cannot be parsed (kind, url,
    --   "cannot parse URL: cause"), and what doc:select raises.
    -- @usage
    --   for _, a in ipairs(res:select("article.product_pod h3 a")) do
    --     crawl:follow(a:attr("href"), { callback = "book" })
    --   end
    function methods:select(css)
      return parsed(self):select(css)
    end
    --- res:one(css) -> node | nil
    -- The page's first element matching the selector, or nil.
    -- @raise as res:select.
    -- @usage
    --   local h1 = res:one("h1")
    --   crawl:emit{ url = res.url, title = h1 and h1:text() }
    function methods:one(css)
      return parsed(self):one(css)
    end
    -- Whether a page may hold a <base> element: an HTML response (or one
    -- that does not say) whose text has "<base" then a tag name's end.
    -- Only then does base_url parse a page that was not parsed yet.
    local function may_have_base(res)
      local ctype = res.headers and res.headers["content-type"]
      if type(ctype) == "string" and not ctype:lower():find("html", 1, true) then return false end
      return (res:text()):find("<[bB][aA][sS][eE][%s/>]") ~= nil
    end
    --- res:base_url() -> string: the document base URL (HTML Standard):
    -- the first <base href> resolved against res.url (the final URL after
    -- redirects), or res.url when there is none or it does not resolve.
    -- Uses the parsed page when there is one; parses it only when its text
    -- holds a <base tag. Cached on res.
    -- @usage
    --   print(res:base_url())
    function methods:base_url()
      local base = rawget(self, "_base")
      if base then return base end
      local doc = rawget(self, "_doc")
      if not doc and may_have_base(self) then doc = self:html() end
      base = doc and doc:base_url() or self.url
      rawset(self, "_base", base)
      return base
    end
    --- res:urljoin(href) -> absolute URL | nil, err: href resolved against
    -- res:base_url(), as a browser resolves the page's links.
    -- @return the URL, or nil and an error value of kind "url".
    -- @usage
    --   local next_page = res:urljoin(res:one("li.next a"):attr("href"))
    function methods:urljoin(href)
      return silk.url.join(self:base_url(), href)
    end

    -- The extraction helpers of documents and nodes (core/lapi_html.c),
    -- on the response's document; they raise when it cannot be parsed.
    function methods:text_of(css, opts)
      return parsed(self):text_of(css, opts)
    end
    function methods:texts(css, opts)
      return parsed(self):texts(css, opts)
    end
    function methods:attr_of(css, name, opts)
      return parsed(self):attr_of(css, name, opts)
    end

    -- Strict JSON (RFC 8259): no NaN, Infinity or hex numbers, which
    -- lua-cjson accepts by default.
    local json
    local function decoder()
      if not json then
        json = require("cjson").new()
        json.decode_invalid_numbers(false)
      end
      return json
    end
    --- res:json() -> value: the body decoded as JSON (a UTF-8 BOM is
    -- skipped), decoded once and cached on res. null is silk.null, so
    -- arrays keep their length. A body that is not JSON raises an error
    -- value { kind = "json", url = res.url, message = "cannot decode JSON
    -- from URL: <lua-cjson's reason, with the character offset>" }, as
    -- res:select raises for a page that cannot be parsed: in a crawl the
    -- callback fails, counted and logged with its URL.
    -- @usage
    --   local page = res:json()
    --   for _, book in ipairs(page.results) do crawl:emit(book) end
    function methods:json()
      local v = rawget(self, "_json")
      if v ~= nil then return v end
      local body = self.body
      if body:sub(1, 3) == "\239\187\191" then body = body:sub(4) end
      local ok, r = pcall(decoder().decode, body)
      if not ok then
        error(setmetatable({ kind = "json", url = self.url,
                             message = ("cannot decode JSON from %s: %s"):format(
                               self.url, tostring(r)) },
                           fetch.error_meta), 2)
      end
      rawset(self, "_json", r)
      return r
    end
  end
end

return silk
