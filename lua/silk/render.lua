--- silk.render: JavaScript pages through one shared headless Chromium.
--
-- The browser, its tabs and every wait belong to the C side (core/cdp.c,
-- core/render*.c): tabs are leased from a pool and reused across pages,
-- every wait runs under the calling task's deadline, and a deadline or
-- cancellation that interrupts one stops the page (Page.stopLoading,
-- Runtime.terminateExecution) and closes its tab instead of pooling it.
--
--   silk.render(url_or_request, opts) -> res | nil, err
--   silk.page([opts]) -> page; page:goto(url_or_request, opts) -> res | nil, err
--   page:click(sel) page:type(sel, text) page:evaluate(js) page:wait_for(sel [, timeout])
--   page:html() page:screenshot() page:cdp(method, params) page:close()
--   render.configure{browsers, max_busy, max_pages, recycle_after, page_idle_timeout,
--                    close_timeout, memory_budget, memory_interval}
--   render.stats([measure_pss]); render.pages()
--   render.crawl_fetch(run, req, settings, fetch_req) -> res | nil, err   (the crawl's fetch)
--
-- opts: wait = "load" (default) | "domcontentloaded" | "networkidle" |
-- {selector = css} | {fn = "js expression"} (either with max = seconds:
-- the page is taken as it is once that passed); timeout (seconds, default 30,
-- for the whole render); block = {"image", "font", "stylesheet", "media",
-- or URL patterns with *}; evaluate = "js" (its JSON value in res.evaluate);
-- screenshot = true (PNG bytes in res.screenshot); headers = {name = value};
-- cookies = {{name=, value=, [url=|domain=, path=]}...}; user_agent;
-- viewport = {width=, height=}; session = "name": the page runs in that
-- session's own browser context (its tabs share cookies, no other
-- session's page sees them) and shares the cookie jar of silk.fetch's
-- session of that name: the jar's cookies are copied into the context
-- before the page loads, and the context's cookies back into the jar once
-- it rendered (so a login by silk.fetch carries into rendered pages, and a
-- cookie a rendered page sets reaches later fetches); deny_private = true (every request the page
-- makes, the document included, is checked: no private, loopback or
-- link-local address literal, no localhost, no host name that resolves
-- to one of those, http/https/data/blob only;
-- allow = {"host:port", ...} are exceptions); max_size = bytes: a response
-- of the page (document or subresource) whose Content-Length is larger is
-- refused before its body is read (one without a Content-Length is not
-- capped: see silk_tab_set_guard in core/render.h). Downloads are always denied.
--
-- res is a normal silk response (res:select, res:one, res:text work) whose
-- body is the rendered HTML: { url (final), status, headers, body,
-- rendered = true, evaluate, screenshot, timings = {total} }.
-- err.kind: render_timeout navigation blocked javascript render_crashed
-- browser_crashed browser protocol closed invalid.

local core = require("silk.core.render")
local fetchmod = require("silk.core.fetch")
local response = require("silk.response")
local cjson = require("cjson")
local silk = require("silk")

local metrics = require("silk.metrics")

local type, pairs, ipairs, tostring, setmetatable, pcall, error = type, pairs, ipairs, tostring, setmetatable, pcall, error
local concat, sort = table.concat, table.sort
local floor, log, max, min = math.floor, math.log, math.max, math.min

local M = {}

local array_mt = { __jsonarray = true }
local function array(t) return setmetatable(t or {}, array_mt) end

local new_err = core.error

local WAITS = { load = "load", domcontentloaded = "DOMContentLoaded", networkidle = "networkIdle" }

-- URL patterns for resource types (Network.setBlockedURLs matches URLs only)
local BLOCK_TYPES = {
  image = { "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.svg", "*.ico", "*.avif", "*.bmp" },
  font = { "*.woff", "*.woff2", "*.ttf", "*.otf", "*.eot" },
  stylesheet = { "*.css" },
  media = { "*.mp4", "*.webm", "*.mp3", "*.ogg", "*.wav", "*.m4a", "*.avi", "*.mov" },
}

local function bad(name, msg)
  error("render: option '" .. name .. "' " .. msg, 3)
end

-- Checks opts (misuse raises at the caller's line) and returns a copy with
-- the defaults filled in.
local function check_opts(target, opts)
  if opts ~= nil and type(opts) ~= "table" then bad("opts", "must be a table") end
  opts = opts or {}
  local o = {}
  local req = type(target) == "table" and target or nil
  o.url = req and req.url or target
  if type(o.url) ~= "string" then
    error("render: bad argument #1 (URL string or request table expected)", 3)
  end
  local function pick(k) if opts[k] ~= nil then return opts[k] end; return req and req[k] end
  o.timeout = pick("timeout") or 30
  if type(o.timeout) ~= "number" or not (o.timeout > 0) then bad("timeout", "must be a number > 0") end
  o.wait = pick("wait") or "load"
  if type(o.wait) == "string" then
    if not WAITS[o.wait] then bad("wait", "must be load, domcontentloaded, networkidle, {selector=} or {fn=}") end
  elseif type(o.wait) == "table" then
    if type(o.wait.selector) ~= "string" and type(o.wait.fn) ~= "string" then
      bad("wait", "table needs selector= or fn= (a string)")
    end
    for k in pairs(o.wait) do
      if k ~= "selector" and k ~= "fn" and k ~= "max" then
        bad("wait." .. tostring(k), "is not a wait field (selector, fn, max)")
      end
    end
    local max = o.wait.max
    if max ~= nil and (type(max) ~= "number" or not (max > 0)) then bad("wait.max", "must be a number of seconds > 0") end
  else
    bad("wait", "must be a string or a table")
  end
  o.block = pick("block")
  if o.block ~= nil and type(o.block) ~= "table" then bad("block", "must be a list") end
  o.evaluate = pick("evaluate")
  if o.evaluate ~= nil and type(o.evaluate) ~= "string" then bad("evaluate", "must be a string") end
  o.screenshot = pick("screenshot") and true or false
  o.headers = pick("headers")
  if o.headers ~= nil and type(o.headers) ~= "table" then bad("headers", "must be a table") end
  o.cookies = pick("cookies")
  if o.cookies ~= nil and type(o.cookies) ~= "table" then bad("cookies", "must be a list") end
  o.user_agent = pick("user_agent")
  if o.user_agent ~= nil and type(o.user_agent) ~= "string" then bad("user_agent", "must be a string") end
  o.session = pick("session")
  if o.session ~= nil and type(o.session) ~= "string" then bad("session", "must be a string") end
  o.deny_private = pick("deny_private") and true or false
  o.allow = pick("allow")
  if o.allow ~= nil and type(o.allow) ~= "table" then bad("allow", "must be a list of \"host:port\"") end
  o.max_size = pick("max_size")
  if o.max_size ~= nil and (type(o.max_size) ~= "number" or not (o.max_size > 0)) then
    bad("max_size", "must be a number of bytes > 0")
  end
  o.viewport = pick("viewport")
  if o.viewport ~= nil and (type(o.viewport) ~= "table" or type(o.viewport.width) ~= "number"
                            or type(o.viewport.height) ~= "number") then
    bad("viewport", "must be {width=, height=}")
  end
  return o
end

-- What a page wants the tab configured with, as one comparable string.
local function settings_key(o)
  local parts = { "ua=" .. (o.user_agent or "") }
  local h = {}
  for k, v in pairs(o.headers or {}) do h[#h + 1] = tostring(k) .. ":" .. tostring(v) end
  sort(h)
  parts[#parts + 1] = "h=" .. concat(h, "\n")
  parts[#parts + 1] = "v=" .. (o.viewport and (o.viewport.width .. "x" .. o.viewport.height) or "")
  parts[#parts + 1] = "b=" .. concat(o.block or {}, ",")
  parts[#parts + 1] = "dp=" .. (o.deny_private and "1" or "")
  parts[#parts + 1] = "cap=" .. (o.max_size and "1" or "")
  parts[#parts + 1] = "life=" .. (o.wait == "networkidle" and "1" or "")
  return concat(parts, "\1")
end

local function blocked_urls(block)
  local urls = array()
  for _, b in ipairs(block or {}) do
    if BLOCK_TYPES[b] then
      for _, p in ipairs(BLOCK_TYPES[b]) do urls[#urls + 1] = p end
    else
      urls[#urls + 1] = tostring(b)
    end
  end
  return urls
end

-- Calls method and raises err on failure (caught by the render's pcall),
-- so that the steps below read as a script.
local Fail = {}
local function must(v, err)
  if v == nil then error({ [Fail] = err }, 0) end
  return v
end

-- What a new tab is configured with (core/render_tab.c opens it with the
-- default user agent and viewport, the documents-only Fetch pattern and
-- lifecycle events off).
local FRESH = settings_key{}

local function configure_tab(h, o)
  local want = settings_key(o)
  local have = h:settings()
  if have == "" and want == FRESH then
    h:set_settings(want)              -- a new tab already is what these options want
    return
  end
  if have == want or have == want .. "\1net=1" then return end
  local headers, any = {}, false
  for k, v in pairs(o.headers or {}) do headers[tostring(k)] = tostring(v); any = true end
  -- extra headers need the Network domain, whose events (half a dozen per
  -- request) the tab otherwise does without
  local net = h:settings():find("\1net=1", 1, true) ~= nil
  if any and not net then must(h:call("Network.enable")) end
  if net and not any then must(h:call("Network.disable")) end
  if any or net then must(h:call("Network.setExtraHTTPHeaders", { headers = headers })) end
  must(h:call("Emulation.setUserAgentOverride", { userAgent = o.user_agent or "" }))
  if o.viewport then
    must(h:call("Emulation.setDeviceMetricsOverride", { width = o.viewport.width,
      height = o.viewport.height, deviceScaleFactor = 1, mobile = false }))
  else
    must(h:call("Emulation.clearDeviceMetricsOverride"))
  end
  -- documents' responses always (their status and headers); every request
  -- paused and checked by core/render_guard.c, and every response under a
  -- size cap, only when asked: interception costs about what it saves
  -- otherwise
  local patterns = core.fetch_patterns(o.deny_private, blocked_urls(o.block), o.max_size ~= nil)
  setmetatable(patterns, array_mt)
  must(h:call("Fetch.enable", { patterns = patterns }))
  -- a dozen events a page: only a networkidle wait needs them (the Page
  -- domain's own events tell commit, DOMContentLoaded and load)
  must(h:call("Page.setLifecycleEventsEnabled", { enabled = o.wait == "networkidle" }))
  h:set_settings(want .. (any and "\1net=1" or ""))
end

local function js_string(s)
  return '"' .. s:gsub('[%z\1-\31\\"\127]', function(c)
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

-- The value of a Runtime.evaluate result; raises its exception.
local function value_of(r)
  if r.exceptionDetails then
    local ex = r.exceptionDetails
    local text = ex.exception and ex.exception.description or ex.text or "exception"
    must(nil, new_err("javascript", text))
  end
  return r.result and r.result.value
end

-- Runs expression in the page, awaiting a promise; returns its JSON value.
local function evaluate(h, expression)
  return value_of(must(h:call("Runtime.evaluate", { expression = expression, returnByValue = true,
                                                    awaitPromise = true })))
end

local SNAPSHOT = "({ url: location.href, html: (document.doctype ? " ..
  "new XMLSerializer().serializeToString(document.doctype) + '\\n' : '') + " ..
  "(document.documentElement ? document.documentElement.outerHTML : '') })"

-- A promise that resolves with the value of `result` as soon as cond is
-- true, checked once the document reached `ready` ("DOMContentLoaded",
-- "load", or nil: at once) and then after every DOM change (a
-- MutationObserver: the microtask after the script that made the change)
-- and every 20 ms (a condition on something other than the DOM), or, with
-- max_ms, that long after the first check whatever cond says. The check
-- runs in the page: no round trip per try, and the result is taken in the
-- same turn as the check that passed.
local function until_js(cond, ready, result, max_ms)
  local start = ready == "load" and
      "if (document.readyState === 'complete') start(); else addEventListener('load', start);"
    or ready and
      "if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();"
    or "start();"
  return "new Promise(function (ok) { var done = false, mo, iv;" ..
    " function finish() { done = true; if (mo) mo.disconnect(); clearInterval(iv); ok(" .. result .. ") }" ..
    " function check() { if (done) return; var v; try { v = (" .. cond .. ") } catch (e) {}" ..
    " if (v) finish() }" ..
    " function start() { check(); if (done) return; mo = new MutationObserver(check);" ..
    " mo.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });" ..
    " iv = setInterval(check, 20);" ..
    (max_ms and (" setTimeout(function () { if (!done) finish() }, " .. max_ms .. ");") or "") ..
    " } " .. start .. " })"
end

-- The error of a command cut short because the page navigated (a click
-- that submits a form, a script that moves on) rather than failed.
local function navigated_away(err)
  local m = type(err) == "table" and err.kind == "protocol" and tostring(err.message) or ""
  return m:find("navigated or closed", 1, true) or m:find("context was destroyed", 1, true)
end

-- Evaluates a promise of until_js (under the caller's deadline) and
-- returns its value; a navigation under way ends the document it ran in,
-- and the wait goes on in the next one.
local function poll(h, expression)
  while true do
    local r, err = h:call("Runtime.evaluate", { expression = expression, returnByValue = true,
                                                awaitPromise = true })
    if r then return value_of(r) end
    if not navigated_away(err) then must(nil, err) end
    silk.sleep(0.05)
  end
end

-- The readiness each string wait checks in the page; networkidle is the
-- browser's to tell (its lifecycle event).
local READY = { load = "load", domcontentloaded = "DOMContentLoaded" }

-- Waits for the page and returns its snapshot ({url, html}). The wait and
-- the snapshot are one evaluate in the page (until_js), sent once the
-- navigation committed ("init" of its loader: core/render_tab.c hears it
-- from Page.frameNavigated): before that, a reused tab may evaluate in
-- the document it is leaving.
local function wait_page(h, loader, wait)
  if wait == "networkidle" then
    if loader then must(h:wait_lifecycle(loader, WAITS[wait])) end
    return evaluate(h, SNAPSHOT)
  end
  if loader then must(h:wait_lifecycle(loader, "init")) end
  local cond = type(wait) == "string" and "true"
    or wait.selector and "document.querySelector(" .. js_string(wait.selector) .. ")" or wait.fn
  local max = type(wait) == "table" and wait.max
  return poll(h, until_js(cond, READY[wait] or "DOMContentLoaded", SNAPSHOT, max and math.ceil(max * 1000)))
end

-- Builds the response: the document's status and headers, the rendered HTML.
local function snapshot(h, snap, loader, o, started)
  snap = snap or {}
  local resp = loader and h:response(loader) or {}
  local headers, list = {}, {}
  for k, joined in pairs(resp.headers or {}) do
    local name = k:lower()
    -- a header the response repeats comes joined by newlines
    for v in joined:gmatch("[^\n]+") do
      list[#list + 1] = name
      list[#list + 1] = v
      headers[name] = headers[name] and (headers[name] .. ", " .. v) or v
    end
  end
  local html = snap.html or ""
  -- resp has no remoteIPAddress or protocol without the Network domain's
  -- events (see core/render_guard.c): remote_ip and http_version stay empty
  local res = {
    url = snap.url or o.url, status = resp.status or 200, method = "GET", headers = headers,
    _header_list = list, body = html, size = #html, rendered = true, redirects = {},
    remote_ip = resp.remoteIPAddress or "", http_version = resp.protocol or "",
  }
  -- the HTML came through JavaScript: UTF-8 whatever the document declared
  response.set_text(res, html, "utf-8", "rendered")
  if o.evaluate then res.evaluate = evaluate(h, o.evaluate) end
  if o.screenshot then
    local shot = must(h:call("Page.captureScreenshot", { format = "png" }))
    res.screenshot = core.b64decode(shot.data or "")
  end
  res.timings = { total = silk.now() - started }
  return setmetatable(res, fetchmod.response_meta)
end

local function set_cookies(h, o)
  if not o.cookies or #o.cookies == 0 then return end
  local list = array()
  for i, c in ipairs(o.cookies) do
    if type(c) ~= "table" or type(c.name) ~= "string" or type(c.value) ~= "string" then
      must(nil, new_err("invalid", "cookies[" .. i .. "] needs name= and value= strings"))
    end
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    if not copy.domain and not copy.url then copy.url = o.url end
    list[#list + 1] = copy
  end
  must(h:call("Network.setCookies", { cookies = list }))
end

-- A session's cookie jar (libcurl's cookie-file lines, see core/fetch.h)
-- and its browser context, both ways. A line: [#HttpOnly_]domain, TRUE
-- when subdomains match too, path, secure, expiry (0: session), name,
-- value, separated by tabs.
local function jar_to_browser(h, session)
  local list = array()
  for _, line in ipairs(fetchmod.cookies(session)) do
    local http_only = line:sub(1, 10) == "#HttpOnly_"
    if http_only then line = line:sub(11) end
    local domain, sub, path, secure, expires, name, value =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
    if domain and domain ~= "" then
      local c = { name = name, value = value, path = path, secure = secure == "TRUE", httpOnly = http_only }
      if sub == "TRUE" then
        c.domain = domain:sub(1, 1) == "." and domain or "." .. domain
      else
        -- a host-only cookie is set through a URL of its host
        c.url = (c.secure and "https://" or "http://") .. domain .. path
      end
      local exp = tonumber(expires) or 0
      if exp > 0 then c.expires = exp end
      list[#list + 1] = c
    end
  end
  if #list > 0 then must(h:call("Network.setCookies", { cookies = list })) end
end

local function browser_to_jar(h, session)
  local r = must(h:call("Network.getAllCookies"))
  for _, c in ipairs(r.cookies or {}) do
    local domain = c.domain or ""
    local line = concat({ (c.httpOnly and "#HttpOnly_" or "") .. domain,
      domain:sub(1, 1) == "." and "TRUE" or "FALSE", c.path or "/", c.secure and "TRUE" or "FALSE",
      (c.session or not c.expires or c.expires < 0) and "0" or ("%d"):format(c.expires),
      c.name or "", c.value or "" }, "\t")
    fetchmod.add_cookie(session, line)
  end
end

local function navigate(h, o, stage)
  local started = silk.now()
  local scheme = o.url:match("^(%a[%w+.-]*):")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    must(nil, new_err("blocked", "only http and https URLs are rendered: " .. o.url, o.url))
  end
  h:set_guard(o.deny_private, o.allow, blocked_urls(o.block), o.max_size)
  configure_tab(h, o)
  if o.session then jar_to_browser(h, o.session) end
  set_cookies(h, o)
  h:set_url(o.url)
  local nav = must(h:call("Page.navigate", { url = o.url }))
  if nav.errorText and nav.errorText ~= "" then
    local kind = nav.errorText:find("BLOCKED", 1, true) and "blocked" or "navigation"
    -- a navigation aborted because the tab's renderer had died
    if h:info().broken then kind = "render_crashed" end
    must(nil, new_err(kind, nav.errorText .. " loading " .. o.url, o.url))
  end
  if stage then stage.navigated = true end
  local snap = wait_page(h, nav.loaderId, o.wait)
  local res = snapshot(h, snap, nav.loaderId, o, started)
  if o.session then browser_to_jar(h, o.session) end
  return res
end

-- Runs fn(h, ...) under timeout; returns its result, or nil, err with the
-- step's failure, render_timeout for the deadline. Interruptions of outer
-- frames propagate; `broken` tells the caller the tab must not be pooled.
local function guarded(timeout, url, fn, ...)
  local ok, a, b = pcall(silk.with_timeout, timeout, fn, ...)
  if not ok then
    if type(a) == "table" and a[Fail] then return nil, a[Fail] end
    error(a, 0)
  end
  if a == nil and b then
    if b.kind == "timeout" then
      return nil, new_err("render_timeout", ("rendering %s took longer than %gs"):format(url, timeout), url)
    end
    return nil, b
  end
  return a
end

local function set_url_on(err, url)
  if type(err) == "table" and err.url == nil then err.url = url end
  return err
end

-- One render on a leased tab; also returns whether it failed before the
-- page was reached on a tab that had served pages before (whose renderer
-- may have died while it sat in the pool).
local function render_once(o)
  local h
  local stage = {}
  local ok, res, err = pcall(guarded, o.timeout, o.url, function()
    h = must(core.open(o.session))
    stage.reused = h:info().pages > 1
    return navigate(h, o, stage)
  end)
  if not ok then
    if h then h:close(true) end
    error(res, 0)
  end
  if h then h:close(res == nil) end
  if res == nil then return nil, set_url_on(err, o.url), stage.reused and not stage.navigated end
  return res
end

-- Render times: a log-bucket histogram (1 ms to ~20 min, 5 % apart) for
-- percentiles at any moment without keeping every time.
local BUCKET_BASE, BUCKET_STEP, NBUCKETS = 0.001, log(1.05), 290

local function new_times() return { n = 0, counts = {} } end

local function time_add(h, secs)
  local i = secs <= BUCKET_BASE and 1 or min(NBUCKETS, floor(log(secs / BUCKET_BASE) / BUCKET_STEP) + 2)
  h.counts[i] = (h.counts[i] or 0) + 1
  h.n = h.n + 1
end

-- The q-quantile's bucket's upper bound, seconds (0 when nothing was timed).
local function time_quantile(h, q)
  if h.n == 0 then return 0 end
  local want, seen = max(1, q * h.n), 0
  for i = 1, NBUCKETS do
    seen = seen + (h.counts[i] or 0)
    if seen >= want then return BUCKET_BASE * math.exp((i - 1) * BUCKET_STEP) end
  end
  return BUCKET_BASE * math.exp(NBUCKETS * BUCKET_STEP)
end

local function put_quantiles(t, h)
  t.time_p50, t.time_p90, t.time_p99 = time_quantile(h, 0.5), time_quantile(h, 0.9), time_quantile(h, 0.99)
end

local times = new_times()           -- every silk.render of this process
local outcomes = {}                 -- renders by result ("ok" or err.kind)

metrics.describe("silk_render_duration_seconds", "histogram", "silk.render duration, successful renders.",
  { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 })

local function counted(started, res, err)
  local k = res and "ok" or tostring(err and err.kind or "error")
  outcomes[k] = (outcomes[k] or 0) + 1
  if res then
    local secs = silk.now() - started
    time_add(times, secs)
    metrics.observe("silk_render_duration_seconds", secs)
  end
  return res, err
end

--- silk.render(url_or_request, opts) -> res | nil, err. A reused tab whose
-- renderer turns out to have crashed before the page was reached is not
-- the page's fault: the page is tried once more on another tab.
-- @usage
--   local res = assert(silk.render("http://127.0.0.1:8080/app", { wait = { selector = "li.item" } }))
--   for _, li in ipairs(res:select("li.item")) do print(li:text()) end
function M.render(target, opts)
  local o = check_opts(target, opts)
  local started = silk.now()
  local res, err, dead_tab = render_once(o)
  if not res and dead_tab and err.kind == "render_crashed" then
    res, err = render_once(o)
  end
  if not res then return counted(started, nil, err) end
  return counted(started, res)
end

-- Page handles: a leased tab kept across steps. ---------------------------------

local Page = {}
Page.__index = Page

--- silk.page([opts]) -> page | nil, err: a tab for multi-step work, closed by
-- page:close() or when the task that opened it ends (reported as a leak).
-- opts.timeout bounds each step (default 30); opts.session: the page runs
-- in that session's browser context and shares its cookie jar (as
-- silk.render's session option: each goto copies the jar in and the
-- cookies back, and close copies back what the steps since set).
-- @usage
--   local page = assert(silk.page())
--   page:goto("http://127.0.0.1:8080/login")
--   page:type("#user", "ann"); page:click("button[type=submit]")
--   page:wait_for("#welcome"); local html = page:html(); page:close()
function M.page(opts)
  if opts ~= nil and type(opts) ~= "table" then error("render: page options must be a table", 2) end
  local timeout = opts and opts.timeout or 30
  local session = opts and opts.session
  if session ~= nil and type(session) ~= "string" then bad("session", "must be a string") end
  local h, err = core.open(session)
  if not h then return nil, err end
  return setmetatable({ _h = h, _timeout = timeout, _session = session }, Page)
end

local function step(self, fn, ...)
  local h = self._h
  local ok, res, err = pcall(guarded, self._timeout, tostring(h), fn, h, ...)
  if not ok then error(res, 0) end
  if res == nil then return nil, err end
  return res
end

function Page:goto(target, opts)
  local o = check_opts(target, opts)
  if o.session and o.session ~= self._session then
    bad("session", "cannot differ from the page's (silk.page{session=})")
  end
  o.session = self._session
  local ok, res, err = pcall(guarded, o.timeout, o.url, navigate, self._h, o)
  if not ok then error(res, 0) end
  if res == nil then return nil, set_url_on(err, o.url) end
  return res
end

-- Centre of the first element matching sel, scrolled into view.
local function centre(h, sel)
  local box = evaluate(h, "(function () { var e = document.querySelector(" .. js_string(sel) .. ");" ..
    " if (!e) return null; e.scrollIntoView({block: 'center'}); var r = e.getBoundingClientRect();" ..
    " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
  if not box then must(nil, new_err("javascript", "no element matches " .. sel)) end
  return box
end

--- page:click(sel) -> true | nil, err: a real mouse click at the element's centre.
-- @usage
--   assert(page:click("a.next"))
function Page:click(sel)
  return step(self, function(h)
    local p = centre(h, sel)
    for _, t in ipairs({ "mouseMoved", "mousePressed", "mouseReleased" }) do
      local ok, err = h:call("Input.dispatchMouseEvent", { type = t, x = p.x, y = p.y, button = "left",
                                                            clickCount = 1 })
      -- a click that submits a form or follows a link navigates away before
      -- the browser answers the release: that is the click working
      if not ok and not (t == "mouseReleased" and err.kind == "protocol"
                         and tostring(err.message):find("navigated or closed", 1, true)) then
        must(nil, err)
      end
    end
    return true
  end)
end

--- page:type(sel, text) -> true | nil, err: focuses the element and inserts text.
-- @usage
--   assert(page:type("input[name=q]", "lua crawler"))
function Page:type(sel, text)
  return step(self, function(h)
    local found = evaluate(h, "(function () { var e = document.querySelector(" .. js_string(sel) .. ");" ..
      " if (!e) return false; e.focus(); return true; })()")
    if not found then must(nil, new_err("javascript", "no element matches " .. sel)) end
    must(h:call("Input.insertText", { text = text }))
    return true
  end)
end

--- page:evaluate(js) -> value | nil, err (promises are awaited; a JS null is false)
-- @usage
--   local n = page:evaluate("document.querySelectorAll('li').length")
function Page:evaluate(js)
  return step(self, function(h)
    local v = evaluate(h, js)
    if v == nil then return false end
    return v
  end)
end

--- page:wait_for(sel [, timeout]) -> true | nil, err
-- @usage
--   assert(page:wait_for("#results li", 10))
function Page:wait_for(sel, timeout)
  local saved = self._timeout
  self._timeout = timeout or saved
  local ok, res, err = pcall(step, self, function(h)
    poll(h, until_js("document.querySelector(" .. js_string(sel) .. ")", nil, "true"))
    return true
  end)
  self._timeout = saved
  if not ok then error(res, 0) end
  return res, err
end

--- page:html() -> rendered HTML | nil, err
-- @usage
--   local doc = silk.html(assert(page:html()))
function Page:html()
  return step(self, function(h) return (evaluate(h, SNAPSHOT) or {}).html or "" end)
end

--- page:screenshot() -> PNG bytes | nil, err
-- @usage
--   local f = io.open("page.png", "wb"); f:write(assert(page:screenshot())); f:close()
function Page:screenshot()
  return step(self, function(h)
    return core.b64decode(must(h:call("Page.captureScreenshot", { format = "png" })).data or "")
  end)
end

--- page:cdp(method, params) -> result | nil, err: any DevTools command on the page's session.
-- params is sent as JSON: a non-empty sequence is an array (render.array()
-- for an empty one), any other table an object; strings and keys must be
-- UTF-8 (keys without NUL), numbers finite, else it raises naming what
-- cannot be sent. result comes back as Lua values (JSON null: nil).
-- @usage
--   page:cdp("Emulation.setGeolocationOverride", { latitude = 48.85, longitude = 2.35, accuracy = 10 })
function Page:cdp(method, params)
  return step(self, function(h) return must(h:call(method, params)) end)
end

function Page:info() return self._h:info() end

function Page:close()
  local h = self._h
  if self._session and not h:info().closed and not h:info().broken then
    -- what the steps since the last goto set (a login by click) reaches the jar
    -- (a failure here only loses those cookies; an interruption propagates)
    guarded(self._timeout, tostring(h), browser_to_jar, h, self._session)
  end
  h:close()
end

-- The crawl ---------------------------------------------------------------------

-- What a request asks for: its own render option (the request's extra
-- `render`, or `render` in its meta), else the spider's setting.
local function wanted(req, settings)
  local extra = type(req.meta) == "string" and cjson.decode(req.meta) or req.meta or {}
  local want = extra.render
  if want == nil and type(extra.meta) == "table" then want = extra.meta.render end
  if want == nil and settings then want = settings.render end
  return want
end

local function render_opts(req, settings, fetch_req, want)
  local o = {}
  for k, v in pairs(settings and settings.render_options or {}) do
    if k ~= "browsers" then o[k] = v end
  end
  if type(want) == "table" then
    for k, v in pairs(want) do o[k] = v end
  end
  o.timeout = o.timeout or fetch_req.timeout
  o.headers = o.headers or fetch_req.headers
  o.user_agent = o.user_agent or fetch_req.user_agent
  if o.deny_private == nil then o.deny_private = fetch_req.block_private end
  -- the crawl's session: its browser context and cookie jar
  if o.session == nil then o.session = fetch_req.session end
  return o
end

-- The shape of a URL's path for render = "auto": host plus the path with
-- every segment holding a digit replaced by '*' (/p/123 and /p/456 share it).
local function shape(u)
  local host, path = u:match("^%a[%w+.-]*://([^/?#]+)([^?#]*)")
  if not host then return u end
  return host .. path:gsub("[^/]*%d[^/]*", "*")
end

local LEARN_AFTER = 3     -- pages of a shape that needed rendering before its static try is skipped
local AUTO_TEXT = 200     -- characters of text under which a page with a script looks unfilled
-- How a page "auto" renders by that guess waits, unless render_options
-- say: until it has as much text (its script filled it), at most 2 s
-- after DOMContentLoaded (a page that stays short is taken as it is).
-- "load" would take it before the fetch() that fills it answers.
local AUTO_WAIT = { fn = "document.body && document.body.innerText.length >= " .. AUTO_TEXT, max = 2 }

-- The static response looks like a page a script fills: the spider's
-- needs_render(res) says so, or (without one) it has a script and under
-- 200 characters of text.
local function needs_render(run, res)
  local spider = run and run.spider
  if spider and spider.needs_render then return spider.needs_render(res) and true or false end
  if res.status >= 400 then return false end
  local ok, doc = pcall(res.html, res)
  if not ok or not doc then return false end
  local scripts = #doc:select("script")
  local body = doc:one("body")
  local text = body and body:text() or ""
  return scripts > 0 and #text < AUTO_TEXT
end

local function stats_of(run)
  local st = run and run.stats
  if not st then return {} end
  st.render = st.render or { rendered = 0, static = 0, auto_static = 0, auto_rendered = 0,
                             learned_shapes = 0, errors = 0, time = 0 }
  run.render_times = run.render_times or new_times()
  return st.render
end

-- render.crawl_fetch(run, req, settings, fetch_req) -> res | nil, err: what
-- the crawl calls in place of silk.fetch(fetch_req) for the request `req`
-- (a frontier request: url, meta as the crawl stores it). A request whose
-- `render` (or whose meta's `render`) is true or a table of render options,
-- or whose spider has settings.render = true, is rendered; "auto" fetches
-- statically first and renders when needs_render says so, learning per
-- path shape which pages need it; anything else is silk.fetch(fetch_req).
-- Counts go to run.stats.render.
function M.crawl_fetch(run, req, settings, fetch_req)
  local want = wanted(req, settings)
  local browsers = settings and settings.render_options and settings.render_options.browsers
  if browsers and run and not run.render_configured then
    -- the pool's, not a page's: applied once, by the crawl's first page
    run.render_configured = true
    core.configure{ browsers = browsers }
  end
  local st = stats_of(run)
  if not want then
    st.static = (st.static or 0) + 1
    return silk.fetch(fetch_req)
  end
  local key
  if want == "auto" then
    run.render_shapes = run.render_shapes or {}
    key = shape(req.url)
    if (run.render_shapes[key] or 0) < LEARN_AFTER then
      local res, err = silk.fetch(fetch_req)
      if not res or not needs_render(run, res) then
        st.auto_static = st.auto_static + 1
        return res, err
      end
      response.free(res)
    end
  end
  local o = render_opts(req, settings, fetch_req, want)
  if key and o.wait == nil and not (run and run.spider and run.spider.needs_render) then
    o.wait = AUTO_WAIT
  end
  local t0 = silk.now()
  local res, err = M.render(req.url, o)
  st.time = st.time + (silk.now() - t0)
  if res then
    time_add(run.render_times, silk.now() - t0)
    put_quantiles(st, run.render_times)
  end
  if not res then
    st.errors = st.errors + 1
    return nil, err
  end
  st.rendered = st.rendered + 1
  if key then
    st.auto_rendered = st.auto_rendered + 1
    local n = (run.render_shapes[key] or 0) + 1
    run.render_shapes[key] = n
    if n == LEARN_AFTER then st.learned_shapes = st.learned_shapes + 1 end
  end
  return res
end

-- The rest of the module ----------------------------------------------------------

-- The metatable of page handles (the editor types are checked against it).
M.Page = Page
M.configure = core.configure

--- render.stats([measure_pss]) -> the pool's counters (core/lapi_render.c)
-- plus renders by result and the percentiles of silk.render's time in this
-- process (time_p50, time_p90, time_p99, seconds).
-- @usage
--   local st = require("silk.render").stats(true); print(st.busy, st.browser_pss, st.time_p90)
function M.stats(measure)
  local st = core.stats(measure)
  put_quantiles(st, times)
  st.renders = times.n
  st.by_result = {}
  for k, n in pairs(outcomes) do st.by_result[k] = n end
  return st
end

-- Prometheus: what the pool went through, at each scrape, once a page
-- was rendered or opened.
metrics.collector(function()
  local st = core.stats(true)
  if st.leases == 0 and st.browser_pid == 0 then return end
  local d, set = metrics.describe, metrics.set
  d("silk_render_pages_total", "counter", "silk.render calls by result (ok or the error kind).")
  d("silk_render_tabs", "gauge", "Browser tabs by state.")
  d("silk_render_queued", "gauge", "Tab leases waiting (max_busy, or a draining pool).")
  d("silk_render_contexts", "gauge", "Browser contexts of sessions alive.")
  d("silk_render_browser_restarts_total", "counter", "Browsers started after the first.")
  d("silk_render_browser_crashes_total", "counter", "Browsers lost (crash, kill, wedged).")
  d("silk_render_renderer_crashes_total", "counter", "Tab renderers that crashed.")
  d("silk_render_budget_recycles_total", "counter", "Browsers replaced for crossing memory_budget.")
  d("silk_render_requests_blocked_total", "counter", "Page requests refused by deny_private.")
  d("silk_render_browser_pss_bytes", "gauge", "PSS of the browser's process tree.")
  for k, n in pairs(outcomes) do set("silk_render_pages_total", n, { result = k }) end
  for _, k in ipairs{ "opening", "idle", "busy", "closing" } do set("silk_render_tabs", st[k], { state = k }) end
  set("silk_render_queued", st.queued)
  set("silk_render_contexts", st.contexts)
  set("silk_render_browser_restarts_total", st.browser_restarts)
  set("silk_render_browser_crashes_total", st.browser_crashes)
  set("silk_render_renderer_crashes_total", st.renderer_crashes)
  set("silk_render_budget_recycles_total", st.budget_recycles)
  set("silk_render_requests_blocked_total", st.blocked)
  set("silk_render_browser_pss_bytes", st.browser_pss)
end)
M.pages = core.pages
M.array = array
M.kinds = { "render_timeout", "navigation", "blocked", "javascript", "invalid" }
for _, k in ipairs(core.kinds) do M.kinds[#M.kinds + 1] = k end

-- silk.dump_tasks() shows the open pages after the tasks.
local dump = silk.dump_tasks
silk.dump_tasks = function()
  local text = dump()
  local pages = core.pages()
  if #pages == 0 then return text end
  local lines = { text, ("pages (%d open):"):format(#pages) }
  for _, p in ipairs(pages) do
    lines[#lines + 1] = ("  page %d [%s] %s, %s, tab %s of browser %d used %d times%s"):format(
      p.no, p.state, p.url ~= "" and p.url or "blank", p.task, p.target ~= "" and p.target:sub(1, 8) or "-",
      p.browser, p.pages, p.broken and ", broken" or "")
  end
  return concat(lines, "\n") .. "\n"
end

return M
