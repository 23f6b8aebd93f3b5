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

-- Responses gain the parsing shortcuts (silk.response), where the core is.
if pcall(require, "silk.core.fetch") then require("silk.response") end

return silk
