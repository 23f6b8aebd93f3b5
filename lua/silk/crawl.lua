--- silk.crawl: runs a spider. The frontier (C, silk.core.frontier) decides
-- what may be fetched when (dedupe, per-host politeness, priorities); this
-- module keeps `concurrency` requests in flight, each in its own task:
-- robots.txt check, fetch, then the callback in a child task under
-- `task_timeout`, then the page's items and links are committed together.
--
--   local crawl = require("silk.crawl")
--   local run = crawl.new(spider, { output = "items.jsonl", jobdir = DIR, progress = true,
--                                   http_cache = DIR })
--   local stats = run:run()          -- in a task; returns the final stats
--   run:stop("reason")               -- stop taking requests, let in-flight finish
--
-- Items and links of a page are committed when its callback has returned,
-- so a checkpoint never records half a page: after kill -9, a page is
-- either done (its items are in the file before the recorded offset) or
-- pending again (fetched again, its items written again from scratch).
-- A task the callback spawned and left running cannot add to the page
-- after that: its crawl:emit raises (join such tasks before returning).

local silk = require("silk")
local frontier_core = require("silk.core.frontier")
local fetch_core = require("silk.core.fetch")
local url = require("silk.core.url")
local robots_core = require("silk.core.robots")
local sinks = require("silk.sinks")
local response = require("silk.response")
local request = require("silk.request")
local identity = require("silk.identity")
local jsonl = require("silk.core.jsonl")
local task_check = require("silk.core.task").check
local metrics = require("silk.metrics")
local log = require("silk.log")
local cjson = require("cjson")

local M = {}
local Run = {}
Run.__index = Run

local ROBOTS_MAX = 500 * 1024          -- RFC 9309: parse at least 500 KiB
local ROBOTS_RETRY = 60                -- seconds before a refused (1xx/3xx) robots.txt is asked again,
                                       -- and the longest wait between two tries of an unreachable one
local ROBOTS_TTL = 86400               -- seconds a shared robots.txt is kept (RFC 9309: up to 24 h)
local ROBOTS_PENDING = "\0fetching"    -- a shared robots.txt one process is fetching now
local HOST_BACKOFF = 5                 -- seconds a host is first held after host_error_budget failures
local HOST_BACKOFF_MAX = 600           -- the longest hold, as it doubles with each further failure
local FAILED_URLS_MAX = 1000           -- failed requests the stats list (all are counted by kind)

local FETCH = "_fetch"                 -- the callback name of crawl:fetch's requests
local LINKS_MAX = 50000                -- links Run.links remembers before it starts afresh

local function now() return silk.now() end

local function rss_bytes()
  local f = io.open("/proc/self/statm")
  if not f then return 0 end
  local _, res = f:read("*n", "*n")
  f:close()
  return (res or 0) * 4096
end

local function new_stats()
  return {
    pages = 0, items = 0, items_dropped = 0, items_refused = 0, bytes = 0, retries = 0, errors = 0,
    callback_errors = 0, pipeline_errors = 0, hook_errors = 0, dropped = 0, sessions_retired = 0,
    robots_blocked = 0, robots_unreachable = 0, filtered = 0,
    duplicates = 0, start_failed = 0, by_status = {}, errors_by_kind = {}, depth = {},
  }
end

local function count(t, k) t[k] = (t[k] or 0) + 1 end

-- The collector's figures for the final stats: pauses (wall and CPU time,
-- milliseconds) and the heap's peak; nil when silk runs without its pacer.
local function gc_summary()
  local g = silk.gc_stats and silk.gc_stats()
  if not g then return nil end
  return { cycles = g.cycles, slices = g.slices, total_ms = g.total_ms, total_cpu_ms = g.total_cpu_ms,
           p50_ms = g.p50_ms, p99_ms = g.p99_ms, p999_ms = g.p999_ms, max_ms = g.max_ms,
           p99_cpu_ms = g.p99_cpu_ms, max_cpu_ms = g.max_cpu_ms, heap_peak = g.heap_peak }
end

local function describe_metrics()
  metrics.describe("silk_pages_total", "counter", "Pages fetched, by HTTP status.")
  metrics.describe("silk_items_total", "counter", "Items written.")
  metrics.describe("silk_errors_total", "counter", "Failed requests, by error kind.")
  metrics.describe("silk_bytes_total", "counter", "Response body bytes fetched.")
  metrics.describe("silk_retries_total", "counter", "Retries (the stats' retries).")
  metrics.describe("silk_queued", "gauge", "Requests waiting in the frontier.")
  metrics.describe("silk_in_flight", "gauge", "Requests being fetched or processed.")
  metrics.describe("silk_fetch_duration_seconds", "histogram", "Fetch duration (observed by the crawl runner).")
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The crawl's counts are kept once, in self.stats; Prometheus sees them
-- through this collector, at each scrape and once more at the end
-- (Run:close). A family appears with its first count, as a counter that
-- was added to would: bytes and retries with the first response.
function Run:export_stats()
  local st, set = self.stats, metrics.set
  for _, k in ipairs(sorted_keys(st.by_status)) do set("silk_pages_total", st.by_status[k], { status = k }) end
  for _, k in ipairs(sorted_keys(st.errors_by_kind)) do set("silk_errors_total", st.errors_by_kind[k], { kind = k }) end
  local answered = next(st.by_status) ~= nil
  if answered then set("silk_bytes_total", st.bytes) end
  if answered or st.retries > 0 then set("silk_retries_total", st.retries) end
  if st.items > 0 then set("silk_items_total", st.items) end
  set("silk_queued", self.frontier:stats().queued or 0)
  set("silk_in_flight", self.inflight)
end

--- crawl.new(spider, opts) -> run. opts: output (path), jobdir, progress
-- @local (what `silk run` uses, not a spider's API)
-- (boolean: a progress line on stderr), stats_file.
function M.new(spider, opts)
  local s = spider.settings
  local self = setmetatable({
    spider = spider, settings = s, opts = opts or {},
    stats = new_stats(), inflight = 0, events = silk.channel(4096),
    robots = {}, stopping = nil, paused = false, started = now(), push_req = {},
    waiting = {}, last_token = 0, handed_back = {}, jars = {},
    last_progress = now(), last_checkpoint = now(), last_line = 0, streaks = {},
    starts = {}, warned_return = {}, links = {}, nlinks = 0,
  }, Run)

  self.allowed = nil
  if s.allowed_domains then
    self.allowed = {}
    for _, d in ipairs(s.allowed_domains) do self.allowed[#self.allowed + 1] = d:lower() end
  end
  self.http_errors = {}
  for _, code in ipairs(s.http_errors or {}) do self.http_errors[code] = true end
  self.blocked_status = {}
  for _, code in ipairs(s.blocked_statuses) do self.blocked_status[code] = true end
  self.identity = identity.new(s, now)
  self:check_start_urls()

  local cfg = {
    backend = opts.jobdir and "sqlite" or "memory",
    path = opts.jobdir and (opts.jobdir .. "/frontier.sqlite") or nil,
    name = spider.name,
    max_per_host = s.max_per_host, delay = s.delay, jitter = s.jitter, order = s.order,
    fail_threshold = s.host_error_budget, backoff_base = HOST_BACKOFF, backoff_max = HOST_BACKOFF_MAX,
  }
  if opts.frontier then -- a crawl shared through Redis (frontier_redis.c); acks wait for checkpoint()
    cfg.backend, cfg.url, cfg.path = "redis", opts.frontier, nil
  end
  if opts.jobdir then os.execute("mkdir -p '" .. opts.jobdir:gsub("'", "'\\''") .. "'") end
  local fr, err = frontier_core.new(cfg)
  if not fr then error(type(err) == "table" and err.message or tostring(err), 0) end
  self.frontier = fr

  local resume_at
  if opts.jobdir then
    local owner = fr:kv_get("spider")
    if owner and owner ~= spider.name then
      error(("jobdir %s belongs to spider '%s', not '%s': use another directory"):format(
        opts.jobdir, owner, spider.name), 0)
    end
    fr:kv_set("spider", spider.name)
    resume_at = fr:kv_get("sink_offset") -- one position per output: sinks.open reads it
    local out = fr:kv_get("sink_path")
    if resume_at and out and opts.output and out ~= sinks.describe(opts.output) then
      error(("jobdir %s was writing items to %s, not %s"):format(opts.jobdir, out, sinks.describe(opts.output)), 0)
    end
    self.resumed = resume_at ~= nil
    self:restore_state()
  end
  if opts.items == "redis" then
    if not opts.frontier then error("--items redis needs --frontier redis://IP:PORT/NAME", 0) end
    self.sink = sinks.redis(fr)
  elseif opts.output then
    self.sink = sinks.open(opts.output, { fields = s.fields, resume_at = resume_at })
    if opts.jobdir then fr:kv_set("sink_path", sinks.describe(opts.output)) end
  end
  fetch_core.configure{ max_per_host = s.max_per_host, max_total = math.max(s.concurrency, 1),
                        user_agent = s.user_agent }
  if opts.http_cache or opts.record then
    self.cache = require("silk.httpcache").open(opts.http_cache or opts.record, { record = opts.record ~= nil })
  end
  self:observe()
  return self
end

--- The spider's own rule that keeps the crawl from following `u` (already
-- absolute and canonical, so http or https: url.canonical refuses other
-- schemes): "allowed_domains", "deny" and the pattern, or "allow"; nil when
-- it may follow it. `host` is u's host when the caller has it.
function Run:refused_by(u, host)
  if self.allowed then
    host = host or url.host(u)
    local ok = false
    for _, d in ipairs(self.allowed) do
      if host == d or host:sub(-#d - 1) == "." .. d then ok = true break end
    end
    if not ok then return "allowed_domains" end
  end
  local s = self.settings
  if s.deny then
    for _, p in ipairs(s.deny) do if u:find(p) then return "deny", p end end
  end
  if s.allow then
    for _, p in ipairs(s.allow) do if u:find(p) then return nil end end
    return "allow"
  end
  return nil
end

--- Whether the crawl may follow `u` (as Run:refused_by).
function Run:allowed_url(u, host)
  return not self:refused_by(u, host)
end

-- What in allow/deny patterns looks like a regular expression, as a hint
-- for the message naming the rule: users bring regex habits to Lua
-- patterns, and most regexes are valid patterns that match something else.
local function regex_hint(patterns)
  local says = {}
  for _, p in ipairs(patterns) do
    local esc = p:match("\\(.)")
    if esc then says[#says + 1] = ("'\\%s' is written '%%%s'"):format(esc, esc) end
    if p:find("(?", 1, true) then says[#says + 1] = "there are no (?...) groups" end
    if p:find("|", 1, true) then says[#says + 1] = "there is no '|': give each alternative as a pattern of its own" end
    if p:find("[%*%+%?]%?") then says[#says + 1] = "the shortest repeat is '.-', not '.*?'" end
    if p:find("{%d+,?%d*}") then says[#says + 1] = "there are no {n,m} counts" end
  end
  if #says == 0 then return "" end
  return " (allow and deny are Lua patterns, not regular expressions: " .. table.concat(says, "; ") .. ")"
end

local function quoted_list(t)
  local q = {}
  for i, v in ipairs(t) do q[i] = ("'%s'"):format(v) end
  return table.concat(q, ", ")
end

-- Why the spider's own rules refuse start URL u (canonical), naming the
-- rule; nil when they let it through. A malformed pattern is named too.
function Run:start_refusal(u, host)
  local s = self.settings
  for _, name in ipairs{ "deny", "allow" } do
    for _, p in ipairs(s[name] or {}) do
      local ok, err = pcall(string.find, u, p)
      if not ok then
        return ("setting %s: '%s' is not a valid Lua pattern (%s)%s"):format(
          name, p, tostring(err):gsub("^.-:%d+: ", ""), regex_hint{ p })
      end
    end
  end
  local rule, pattern = self:refused_by(u, host)
  if rule == "allowed_domains" then
    return ("its host is outside the spider's allowed_domains (%s)"):format(quoted_list(self.allowed))
  elseif rule == "deny" then
    return ("it matches the spider's deny pattern '%s'%s"):format(pattern, regex_hint{ pattern })
  elseif rule == "allow" then
    return ("it matches none of the spider's allow patterns (%s)%s"):format(quoted_list(s.allow), regex_hint(s.allow))
  end
end

-- A start URL the spider's own allowed_domains, allow or deny refuse would
-- be dropped without a word (filtered) and the crawl would end at once:
-- an error before anything is fetched.
function Run:check_start_urls()
  for _, u in ipairs(self.spider.start_urls or {}) do
    local canon = url.canonical(u)
    local why = canon and self:start_refusal(canon)
    if why then error(("start URL %s would never be fetched: %s"):format(u, why), 0) end
  end
end

-- Queues a request: `o` is nil (a plain GET, the common case: a page
-- follows tens of links, and a table made per link is garbage for the GC)
-- or options that silk.request checked and normalized, callback and errback
-- already names. `canon` and `host`, when given, are u's canonical form and
-- host. Returns whether it is new; for a plain GET also whether the
-- frontier took it (new or seen: false when filtered or refused).
function Run:enqueue(u, depth, callback, o, canon, host)
  local s = self.settings
  if s.max_depth > 0 and depth > s.max_depth then
    count(self.stats, "filtered")
    return false
  end
  canon = canon or url.canonical(u)
  if not canon or self:refused_by(canon, host) then
    self.stats.filtered = self.stats.filtered + 1
    if self.starting then
      self:start_failed(u, canon and "filtered" or "url", canon and self:start_refusal(canon, host)
                        or "not an absolute http or https URL")
    end
    return false
  end
  if self.starting then self.starts[u] = true end
  local fresh
  if not o then
    -- a plain link, the common case: no request table to read
    fresh = self.frontier:push_link(u, canon, depth, callback or "parse")
    if not fresh then self.stats.duplicates = self.stats.duplicates + 1 end
    return fresh, fresh ~= nil
  end
  -- one request table for every push: frontier:push copies what it keeps
  -- and does not yield, so the table is free again when it returns
  local r = self.push_req
  r.url, r.canonical, r.host, r.depth, r.callback = u, canon, nil, depth, callback or "parse"
  r.priority, r.dont_filter = o.priority or 0, o.dont_filter
  -- everything but the columns travels as one JSON string (the frontier
  -- stores it opaquely, also in a jobdir and in Redis)
  r.meta = request.encode(o)
  local key = request.key(o.method, canon, o.body)
  if key ~= canon then r.canonical, r.host = key, url.host_key(canon) end
  fresh = self.frontier:push(r)
  if not fresh then self.stats.duplicates = self.stats.duplicates + 1 end
  return fresh
end

-- Lets `silk console` and `--metrics` see and steer the crawl.
function Run:observe()
  local hooks = silk.console_hooks
  hooks.stats = function()
    local st = {}
    for k, v in pairs(self.stats) do st[k] = v end
    st.in_flight, st.paused, st.stopping = self.inflight, self.paused, self.stopping
    if self.identity then st.sessions_retired = self.identity:stats().sessions_retired end
    st.queued = self.frontier:stats().queued
    return st
  end
  hooks.pause = function() self.paused = true; return "paused: no new requests" end
  hooks.resume = function()
    self.paused = false
    self.events:send("resume")
    return "resumed"
  end
  hooks.frontier = function() return self.frontier:stats(20) end
  hooks.stop = function()
    if self.stopping then return "already stopping (" .. self.stopping .. ")" end
    self:stop("console")
    return ("stopping: no new requests; the %d in flight finish, then a checkpoint and exit 0"):format(self.inflight)
  end
  describe_metrics()
  self.collector = metrics.collector(function() self:export_stats() end)
end

-- The `crawl` object a callback receives: the crawl as one page's callback
-- sees it (its items, its links, its base URL). Run is the crawl itself.
local Crawl = {}
Crawl.__index = Crawl

-- The page's base URL, nil when it has none (start_requests).
local function base_of(page)
  local base = page.base
  if not base and page.res then
    -- the document base URL (<base href>), from the tree when the callback
    -- parsed the page; an unparsed page is parsed only if it has a <base
    base = page.res:base_url()
    page.base = base
  end
  return base
end

-- The URL href resolves to on this page, its canonical form and host; nil
-- when it does not resolve.
function Crawl:resolve(href)
  local base = base_of(self)
  if not base then return href end
  -- fails exactly when url.join would: every joined URL has a canonical
  -- form and a host (fuzz_url checks it)
  return url.resolve(base, href)
end

-- The first bytes of a href that links_of takes (a letter, digit, "/" or
-- "."), by byte: a table read compiles, a pattern match leaves the trace.
local DIR_RELATIVE = {}
for c in ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/."):gmatch(".") do
  DIR_RELATIVE[c:byte()] = true
end

-- The set in which the crawl remembers the plain links of this page that
-- it queued, by href (Run.links), or false. A href that starts with a
-- letter, digit, "/" or "." resolves the same against every base URL with
-- the same text up to the last "/" of its path (the URL Standard takes the
-- base's scheme, host and directory, never its last segment, query or
-- fragment): the pages with that text share a set.
local function links_of(page, href)
  local c = href:byte(1)
  if not (c and DIR_RELATIVE[c]) then return false end
  local set = page.links
  if set == nil then
    local run, base = page.run, base_of(page)
    local dir = base and base:match("^%a[%w+.-]*://[^/?#]*/[^?#]*")
    dir = dir and dir:match("^(.*/)")
    set = dir and run.links[dir]
    if dir and not set then set = {}; run.links[dir] = set end
    page.links = set or false
  end
  return set
end

--- crawl:follow(href [, opts]) -> boolean
-- Queues the link: href resolved against res:base_url() (the page's
-- <base href>, else its final URL), canonicalised, filtered by
-- allowed_domains/allow/deny, max_depth and the crawl's seen set. opts: any
-- option of silk.request (crawl:request's: callback, meta, priority,
-- headers, method, form, ...), checked here. The link is committed with the
-- page's items when the callback returns.
-- @return true when queued, false when not (seen before, filtered, or href
--   does not resolve).
-- @raise a plain error at the spider's line for an unknown option (naming
--   the closest valid one), a value of the wrong shape or a callback the
--   spider does not have; the task's timeout past task_timeout.
-- @usage
--   for _, a in ipairs(res:select("li.next a")) do
--     crawl:follow(a:attr("href"), { callback = "parse", meta = { page = crawl.meta.page + 1 } })
--   end
function Crawl:follow(href, o)
  task_check("crawl:follow")  -- a loop of follows that never waits still ends on time
  -- pages repeat their links (menus, footers): resolving and canonicalising
  -- each repeat again costs two URL parses for a known answer
  local key = o == nil and href
  local run = self.run
  if key then
    local prior = self.followed[key]
    if prior ~= nil then
      run.stats.duplicates = run.stats.duplicates + 1
      return false
    end
  end
  if type(href) ~= "string" then
    error("crawl:follow: href must be a string, got " .. type(href), 2)
  end
  if o ~= nil then
    if type(o) ~= "table" then error("crawl:follow: options must be a table, got " .. type(o), 2) end
    o = request.prepare(self.run.spider, "crawl:follow", o, 2)
    if o.url ~= nil then error("crawl:follow: the URL is its first argument, not option 'url'", 2) end
  end
  -- and so do the pages of a site: most links were queued from another
  -- page already, and the frontier never forgets a URL it was given
  local set = key and links_of(self, href)
  local max_depth = run.settings.max_depth
  if set and set[href] and (max_depth <= 0 or self.depth < max_depth) then -- else counted as filtered
    self.followed[key] = false
    run.stats.duplicates = run.stats.duplicates + 1
    return false
  end
  local abs, canon, host = self:resolve(href)
  if not abs then return false end
  local fresh, pushed = run:enqueue(abs, o and o.depth or self.depth + 1, o and o.callback, o, canon, host)
  if key then self.followed[key] = fresh end
  if set and pushed then
    -- bounded: past LINKS_MAX the sets start afresh (pages in flight keep
    -- theirs until they end)
    if run.nlinks >= LINKS_MAX then run.links, run.nlinks = {}, 0 end
    set[href], run.nlinks = true, run.nlinks + 1
  end
  return fresh
end

-- Queues request table o for `who` (the API function's name); errors are
-- raised `level` frames above the caller.
local function queue(page, who, o, level)
  if type(o) ~= "table" then error(who .. ": a request table expected, got " .. type(o), level + 1) end
  if type(o.url) ~= "string" then error(who .. ": option 'url' (a string) is required", level + 1) end
  local r = request.prepare(page.run.spider, who, o, level + 1)
  local abs, canon, host = page:resolve(r.url)
  if not abs then return false end
  r.url = nil
  return page.run:enqueue(abs, r.depth or page.depth + 1, r.callback, r, canon, host)
end

--- crawl:request{url=, ...} -> boolean
-- As crawl:follow(url, rest): the request as one table (Scrapy's Request),
-- url resolved against the page.
-- @raise as crawl:follow; also when url is missing.
-- @usage
--   crawl:request{ url = "/search", method = "POST", form = { q = "lua" }, callback = "results" }
function Crawl:request(o)
  task_check("crawl:request")
  return queue(self, "crawl:request", o, 2)
end

--- crawl:submit(form [, fields [, opts]]) -> true when queued, false when
-- not (seen before, filtered), or nil, err when the form cannot be
-- submitted (silk.form.request: an action that is not http(s), method
-- dialog). Queues what a browser sends when `form` (a <form> node of this
-- page) is submitted with `fields` changed, like Scrapy's
-- FormRequest.from_response; opts: silk.form's clicked and dont_click,
-- plus any request option (callback, meta, headers ...).
-- @raise as crawl:follow.
-- @usage
--   crawl:submit(res:one("form#login"), { user = "ann", password = "secret" },
--                { callback = "logged_in" })
function Crawl:submit(form_node, fields, o)
  task_check("crawl:submit")
  o = o or {}
  if type(o) ~= "table" then error("crawl:submit: options must be a table, got " .. type(o), 2) end
  local req, err = request.from_form(form_node, fields, o, self.res and self.res.url or self.url)
  if not req then return nil, err end
  return queue(self, "crawl:submit", req, 2)
end

--- crawl:fetch(url_or_request) -> res | nil, err: a request the callback
-- waits for, under the crawl's rules: it is queued in the frontier (its
-- host's slots, delay, backoff and robots.txt apply, and the HTTP cache,
-- retries, autothrottle and stats), and its response comes back here
-- instead of going to a callback. Errors as silk.fetch's, plus kind
-- "filtered" (allowed_domains, allow, deny) and "robots".
--
-- While it waits, the calling page gives up what it holds: its place in
-- `concurrency` (so a crawl at concurrency 1 can still fetch) and its
-- host's slot (so every callback of a host may wait on that same host at
-- once), by ending its frontier request early. Run:checkpoint keeps such a
-- page as "processing" in the jobdir until its items are committed, so a
-- resume fetches it again like any page that was in flight.
-- @raise as crawl:follow (also for callback/errback options); the task's
--   timeout or cancellation while waiting.
-- @usage
--   local api, err = crawl:fetch(res:urljoin("/api/stock?id=" .. id))
--   if api then crawl:emit{ url = res.url, stock = api:json().count } end
function Crawl:fetch(o)
  task_check("crawl:fetch")
  if type(o) == "string" then o = { url = o } end
  if type(o) ~= "table" or type(o.url) ~= "string" then
    error("crawl:fetch: a URL or a request table with url expected", 2)
  end
  local run = self.run
  local r = request.prepare(run.spider, "crawl:fetch", o, 2)
  if r.callback or r.errback then
    error("crawl:fetch: the response comes back to the caller; option 'callback' and 'errback' do not apply", 2)
  end
  local abs, canon, host = self:resolve(r.url)
  canon = canon or (abs and url.canonical(abs))
  if not canon then
    return nil, silk.error("invalid", ("crawl:fetch: %s does not resolve to an http(s) URL"):format(r.url))
  end
  if not run:allowed_url(canon, host) then
    run.stats.filtered = run.stats.filtered + 1
    return nil, silk.error("filtered", ("crawl:fetch: %s is outside the spider's allowed_domains, allow or deny"):format(abs))
  end
  run.last_token = run.last_token + 1
  local token = run.last_token
  r.url, r.await = nil, token
  local ch = silk.channel(1)
  run.waiting[token] = ch
  run.push_req.url, run.push_req.canonical, run.push_req.host = abs, "_fetch " .. token, url.host_key(canon)
  run.push_req.depth, run.push_req.callback, run.push_req.priority = self.depth + 1, FETCH, 2 ^ 30
  run.push_req.meta, run.push_req.dont_filter = request.encode(r, { await = token }), true
  run.frontier:push(run.push_req)
  run:hand_back(self)
  run.inflight = run.inflight - 1
  run.events:send("wait")
  local ok, got = pcall(ch.recv, ch)
  run.inflight = run.inflight + 1
  run.waiting[token] = nil
  if not ok then error(got, 0) end
  return got[1], got[2]
end

--- crawl:emit(item) -> true | false, err
-- Queues an item for the page's commit (then the pipelines, then the
-- output). An item holds strings (UTF-8), finite numbers, booleans,
-- silk.null (cjson.null) and tables of them.
-- @return true, or false and an error naming the field when a value cannot
--   be written ("item.price: function"): refused, counted as items_refused
--   and logged with the page's URL and the spider's line; the page's
--   other items stay.
-- @raise a plain error when item is not a table, or after the callback
--   returned ("crawl:emit after the callback returned").
-- @usage
--   crawl:emit{ url = res.url, title = res:text_of("h1"), tags = res:texts(".tags li") }
function Crawl:emit(item)
  -- checked here rather than only at the sink so that the message points
  -- at the line that emitted it; the sink checks again what pipelines return
  task_check("crawl:emit")
  if self.returned then
    error("crawl:emit after the callback returned: its page's items are already committed; "
          .. "join the task that emits (task:join(), or silk.scope) before returning", 2)
  end
  if type(item) ~= "table" then
    error("crawl:emit expects a table, got " .. type(item), 2)
  end
  local ok, err = jsonl.check(item)
  if not ok then
    local at = debug.getinfo(2, "Sl")
    self.run:refuse_item(self.url, err, at and at.currentline > 0 and ("%s:%d"):format(at.short_src, at.currentline))
    return false, err
  end
  self.items[#self.items + 1] = item
  return true
end

-- `res`, when given, is the response the page's links resolve against;
-- `fr_req`, the frontier request the page holds (see Run:hand_back).
local function new_page(run, req, res, fr_req)
  return setmetatable({ run = run, depth = req.depth or 0, meta = req.meta or {},
                        url = req.url, res = res, items = {}, followed = {}, req = fr_req }, Crawl)
end

-- Counts and reports an item that cannot be written (`site`: where it was
-- made, when known).
function Run:refuse_item(where, err, site)
  self.stats.items_refused = self.stats.items_refused + 1
  log.warning({ url = where }, ("item refused on %s%s: %s"):format(where, site and (" (" .. site .. ")") or "", err))
end

-- The sink or the frontier's store failed (a full disk, a Redis that lost
-- the crawl): the crawl stops, and no checkpoint is recorded from now on, so
-- the jobdir keeps its last consistent state (the pages whose items were
-- lost are fetched again on resume); `silk run` exits 5.
function Run:output_failed(err)
  if self.failure then return end
  self.failure = err
  log.error(("%s: stopping the crawl%s"):format(err, self.opts.jobdir and
    (", nothing recorded after the last checkpoint; run again with --jobdir %s to resume"):format(self.opts.jobdir) or ""))
  self:stop("output failed")
end

-- A page's pipelines run in a task of their own, under task_timeout, like
-- its callback: a pipeline that loops or stalls ends with a timeout and
-- the engine keeps its timing meanwhile. The runner is compiled outside
-- lua/silk (see its chunk name) so that the core may time-slice it as
-- script code: it touches nothing but this page's items and the tables it
-- fills, so pausing it between two pipeline calls leaves no shared state
-- half-written. out[i] is the item to write, false when a pipeline dropped
-- it, or nil with errs[i] when a pipeline raised.
local run_pipelines = assert(loadstring([[
  local items, pipelines, out, errs = ...
  for i = 1, #items do
    local item = items[i]
    for _, p in ipairs(pipelines) do
      local ok, res
      if type(p) == "table" then ok, res = pcall(p.process, p, item) else ok, res = pcall(p, item) end
      if not ok then errs[i], item = res, nil break end
      if res == nil then item = false break end
      item = res
    end
    out[i] = item
  end
]], "=(silk pipelines)"))

-- Runs the spider's pipelines on the page's items and hands the survivors
-- to the sink.
function Run:commit_items(page, where)
  local items, pipelines = page.items, self.spider.pipelines
  local out, errs = items, {}
  if pipelines and #pipelines > 0 and #items > 0 then
    out = {}
    local t = silk.spawn{ name = "pipelines", timeout = self.settings.task_timeout,
                          run_pipelines, items, pipelines, out, errs }
    local ok, err = t:join()
    if not ok then
      -- the item it was on, and every one after it, never came through
      for i = 1, #items do
        if out[i] == nil and not errs[i] then errs[i] = err end
      end
    end
  end
  local key_field = self.settings.item_key
  for i = 1, #items do
    local item, ok = out[i], true
    if errs[i] then
      self.stats.pipeline_errors = self.stats.pipeline_errors + 1
      log.error({ url = where }, ("pipeline error on an item of %s: %s"):format(where, tostring(errs[i])))
      ok = nil
    elseif item == false then
      ok = false
    end
    if ok and self.failure then
      ok = nil                          -- the output failed: nothing more is written
    elseif ok and self.sink then
      -- the key that dedupes items in a shared crawl (sinks.redis): the
      -- page (its items form one group), or the item's key field
      local v = key_field and item[key_field]
      local wok, err = self.sink:write(item, v ~= nil and ("field\n" .. tostring(v)) or where)
      if not wok then
        if self.sink.failed then self:output_failed(err) else self:refuse_item(where, err, "after the pipelines") end
        ok = nil
      end
    end
    if ok then
      self.stats.items = self.stats.items + 1
    elseif ok == false then
      self.stats.items_dropped = self.stats.items_dropped + 1
    end
  end
end

-- Runs fn(...) as a child task under task_timeout; reports and counts its
-- failure. `page` (among the arguments) takes no items once fn has ended:
-- they are committed next, and a task fn spawned and left running would
-- otherwise emit into a page nobody reads again.
--
-- Returns true, false, or "stopped" when a stop signal cancelled fn (a
-- long selector gives up at SIGINT or SIGTERM, err.signal, even before the
-- crawl has heard of it): that is no failure of the page, which goes back
-- to the queue uncommitted (Run:process), so a resume from the jobdir
-- fetches it again.
function Run:callback_task(name, where, page, fn, ...)
  local t = silk.spawn{ name = name, timeout = self.settings.task_timeout, fn, ... }
  local ok, err = t:join()
  page.returned = true
  if ok and type(err) == "table" and not self.warned_return[name] then
    self.warned_return[name] = true
    log.warning({ callback = name, url = where }, "callback %s returned a table (on %s), which silk ignores: "
      .. "hand items to crawl:emit(item) and links to crawl:follow(url) (said once per callback)", name, where)
  end
  if not ok and type(err) == "table" and err.kind == "cancelled" and err.signal then
    log.info({ url = where, callback = name }, ("callback %s on %s stopped with the crawl: %s; the page goes back to the queue"):format(
      name, where, tostring(err.message or err)))
    return "stopped"
  end
  if not ok then
    self.stats.callback_errors = self.stats.callback_errors + 1
    log.error({ url = where, callback = name }, ("callback %s failed on %s: %s\n%s"):format(
      name, where, tostring(err), err.traceback or ""))
  end
  return ok
end

-- What a failed request says about its host, as frontier.h's outcomes:
-- "failed" when the host did not answer well (counts toward
-- host_error_budget and backs the host off), "ok" when it answered and the
-- failure belongs to the URL (a 404, a body over max_size, a redirect loop:
-- the host is healthy, and its backoff ends), "release" when the host was not
-- asked at all. Every outcome of Run:process goes through here or is one of
-- those three words.
local HOST_OUTCOME = {
  timeout = "failed", dns = "failed", connect = "failed", tls = "failed",
  reset = "failed", protocol = "failed",
  too_large = "ok", redirect_loop = "ok",
  blocked = "release", invalid = "release", cancelled = "release",
}
-- The same errors read for robots.txt (Run:robots_for): the host cannot
-- be asked at all, so holding it for its robots.txt would only hide that.
local CANNOT_ASK = { dns = true, connect = true, blocked = true, invalid = true }

local function host_outcome(err)
  if err.kind == "http" then
    return (err.status >= 500 or err.status == 429) and "failed" or "ok"
  end
  return HOST_OUTCOME[err.kind] or "failed"
end

--- robots.txt of the host of u: the parsed rules, "allow", "deny",
-- "unreachable" or "down"; fetched once per host while other requests for
-- it wait.
--
-- Unreachable (a 5xx, a timeout, a broken answer) means "disallow
-- everything for now" (RFC 9309 2.3.1.4): the host is held, its requests
-- stay queued and robots.txt is asked again after 1, 2, 4 ... up to
-- ROBOTS_RETRY seconds. Once it has been unreachable for robots_retry_for
-- seconds the crawl takes the RFC's reading for good: the host is
-- disallowed and its requests are dropped.
--
-- Down (the name does not resolve, the connection is refused, or silk's own
-- rules forbid the address: deny_private) is the host itself, not its
-- robots.txt: holding it would only hide the failure. Its requests go ahead
-- and fail on their own, counted and logged as the host's errors (none of
-- them reaches a host robots.txt could not); nothing is cached, so
-- robots.txt is asked again before the next one, and a host that comes
-- back is read before it is crawled.
-- The robots.txt rules of u's host as known now, without waiting: nil
-- until they are fetched, and again once they expire.
function Run:robots_known(u, hk)
  local e = self.robots[hk or url.host_key(u)]
  if e and e.ready and (not e.expires or e.expires > now()) then return e.rules end
end

function Run:robots_for(u)
  local hk = url.host_key(u)
  local known = self:robots_known(u, hk)
  if known then return known end
  local e = self.robots[hk]
  if e and not e.ready then
    e.wait:recv()                       -- closed when the fetch is done
    return self.robots[hk].rules
  end
  local prev = e
  e = { wait = silk.channel() }
  self.robots[hk] = e
  -- Whatever happens here, the requests waiting for this host must be let
  -- go: the fetch and the parse run protected, and a failure counts as
  -- "unreachable" (RFC 9309: disallow for a while).
  local ok, rules = pcall(self.fetch_robots, self, hk)
  if not ok then
    log.warning({ host = hk }, ("robots.txt of %s: %s"):format(hk, tostring(rules)))
    rules = "deny"
  end
  if rules == "deny" then e.expires = now() + ROBOTS_RETRY end
  if rules == "down" then e.expires = 0 end
  if rules == "unreachable" then rules = self:robots_unreachable(hk, e, prev) end
  e.rules, e.ready = rules, true
  e.wait:close()
  return rules
end

-- Bookkeeping of one failed try of hk's robots.txt (see robots_for): holds
-- the host until the next try, or gives up. Returns the verdict to use.
function Run:robots_unreachable(hk, e, prev)
  local st = self.stats
  st.robots_unreachable = st.robots_unreachable + 1
  e.since = prev and prev.since or now()
  e.tries = (prev and prev.tries or 0) + 1
  if now() - e.since >= self.settings.robots_retry_for then
    log.warning({ host = hk }, ("%s/robots.txt unreachable for %.0f s (%d tries): the host is disallowed"):format(
      hk, now() - e.since, e.tries))
    return "deny"
  end
  local wait = math.min(2 ^ (e.tries - 1), ROBOTS_RETRY)
  e.expires = now() + wait
  self.frontier:set_host(hk, { hold = wait })
  return "unreachable"
end

-- In a crawl shared through Redis, one process fetches a host's robots.txt
-- and stores the verdict ("allow", "deny" or "rules\n" .. body) for the
-- others. Returns the stored verdict; nil when this process is to fetch it
-- (it holds the claim), or when Redis cannot tell (then it fetches it too).
function Run:shared_robots(hk)
  local key = "robots:" .. hk
  local give_up = now() + self.settings.timeout + 5         -- the fetching process may have died
  while true do
    local v = self.frontier:shared_get(key)
    if v == nil then return nil end
    if v and v ~= ROBOTS_PENDING then
      self.stats.robots_shared = (self.stats.robots_shared or 0) + 1
      return v
    end
    if not v and self.frontier:shared_set(key, ROBOTS_PENDING, self.settings.timeout + 5, true) ~= false then
      return nil
    end
    if now() > give_up then return nil end
    silk.sleep(0.05)
  end
end

-- Fetches robots.txt of host key hk: "allow", "deny", "unreachable", "down"
-- or "rules\n" .. body.
function Run:fetch_robots_verdict(hk)
  local robots_url = hk .. "/robots.txt"
  local res, err = self.cache and self.cache:get(robots_url)
  if not res then
    res, err = silk.fetch{ url = robots_url, timeout = self.settings.timeout,
                           max_size = ROBOTS_MAX * 4, user_agent = self.settings.user_agent,
                           retries = 1, block_private = self.settings.deny_private }
    if res and self.cache then self.cache:put(robots_url, res) end
  end
  if not res and CANNOT_ASK[err.kind] then return "down" end
  if not res or res.status >= 500 then                      -- RFC 9309 2.3.1.4: unreachable
    log.warning({ url = robots_url, status = res and res.status, kind = err and err.kind }, ("%s unreachable (%s): its host waits"):format(
      robots_url, res and ("HTTP " .. res.status) or tostring(err)))
    return "unreachable"
  end
  if res.status >= 400 then return "allow" end             -- RFC 9309 2.3.1.3: unavailable
  if res.status < 200 or res.status >= 300 then return "deny" end
  return "rules\n" .. res.body
end

-- The robots.txt of host key hk, fetched here or read from the fleet's
-- copy: the parsed rules, "allow" or "deny".
function Run:fetch_robots(hk)
  local verdict = self.opts.frontier and self:shared_robots(hk)
  local fetched = not verdict
  if fetched then
    verdict = self:fetch_robots_verdict(hk)
    if self.opts.frontier then
      -- an unreachable one is not shared: each process tries it on its own schedule
      if verdict ~= "unreachable" and verdict ~= "down" then
        self.frontier:shared_set("robots:" .. hk, verdict, verdict == "deny" and ROBOTS_RETRY or ROBOTS_TTL)
      end
    end
  end
  if verdict == "allow" or verdict == "deny" or verdict == "unreachable" or verdict == "down" then
    return verdict
  end
  local rules = robots_core.parse(verdict:sub(7))
  local d = rules:crawl_delay(self.settings.user_agent)
  -- hold: the request that fetched robots.txt is about to hit the host too
  if d and d > self.settings.delay then
    self.frontier:set_host(hk, { delay = d, hold = fetched and d or nil })
  end
  if fetched and self.settings.sitemap_from_robots then
    for _, sm in ipairs(rules:sitemaps()) do self:enqueue(sm, 0, "_sitemap") end
  end
  return rules
end

-- Whether robots.txt `rules` (Run:robots_for's) let u be fetched: true,
-- false, or "later" while the host's robots.txt is unreachable.
function Run:robots_verdict(rules, u)
  if rules == "allow" or rules == "down" then return true end
  if rules == "deny" then return false end
  if rules == "unreachable" then return "later" end
  return rules:allowed(self.settings.user_agent, u)
end

function Run:robots_allow(u)
  if not self.settings.obey_robots then return true end
  return self:robots_verdict(self:robots_for(u), u)
end

-- Autothrottle: move the host's delay toward latency / target concurrency.
function Run:throttle(u, latency)
  local s = self.settings
  local hk = url.host_key(u)
  local h = self.throttle_state or {}
  self.throttle_state = h
  local target = math.max(latency / s.autothrottle_target, s.delay)
  local cur = h[hk] or s.delay
  local nxt = math.min((cur + target) / 2, 60)
  h[hk] = nxt
  self.frontier:set_host(hk, { delay = nxt })
end

-- "18 KB": a body's size for a log line.
local function size_text(n)
  if n < 1024 then return n .. " B" end
  if n < 1048576 then return ("%.0f KB"):format(n / 1024) end
  return ("%.1f MB"):format(n / 1048576)
end

-- The debug line of a response: "200 GET url 34 ms 18 KB".
local function log_response(res, u)
  local ms = math.floor(res.timings.total * 1e4 + 0.5) / 10
  local method = res.method or "GET"
  log.debug({ url = u, status = res.status, method = method, ms = ms, bytes = #res.body,
              attempt = res.attempts, final_url = res.url ~= u and res.url or nil, cache = res.from_cache },
            "%d %s %s %.0f ms %s%s%s", res.status, method, u, ms, size_text(#res.body),
            res.url ~= u and (" (redirected to %s)"):format(res.url) or "", res.from_cache and " (cache)" or "")
end

-- Records and logs a request that failed (err: a fetch error, or kind
-- "http" for a status not in http_errors): listed in the stats (the first
-- FAILED_URLS_MAX), logged at info, or at warning when it used up its
-- retries; a start URL's failure is an error (Run:start_failed).
function Run:failed(req, err, method)
  local st = self.stats
  local kind = err.kind or "error"
  req.error = err                       -- for Run:host_health
  local list = st.failed_urls or {}     -- made on the first failure: cjson writes {} as an object
  st.failed_urls = list
  if #list < FAILED_URLS_MAX then list[#list + 1] = { url = req.url, kind = kind, status = err.status } end
  local n = err.attempts or 1
  if self.starts[req.url] then
    return self:start_failed(req.url, kind, kind == "dns"
      and ("the host name does not resolve (dns: %s)"):format(tostring(err.message))
      or ("%s: %s (attempt %d)"):format(kind, tostring(err.message), n), err.status)
  end
  local exhausted = n > 1 and n > self.settings.retries
  local level = exhausted and "warning" or "info"
  if not log.enabled(level) then return end
  log[level]({ url = req.url, kind = kind, status = err.status, attempt = n },
             "%s %s failed: %s: %s (attempt %d%s)", method or "GET", req.url, kind, tostring(err.message),
             n, exhausted and ", retries exhausted" or "")
end

-- A start URL that could not be fetched at all (`why` says how) or that the
-- spider's rules refuse: logged as an error, counted (start_failed) and
-- listed in the stats (the first FAILED_URLS_MAX); `silk run` then exits 6.
function Run:start_failed(u, kind, why, status)
  local st = self.stats
  st.start_failed = st.start_failed + 1
  local list = st.start_urls_failed or {}
  st.start_urls_failed = list
  if #list < FAILED_URLS_MAX then list[#list + 1] = { url = u, kind = kind, status = status, error = why } end
  log.error({ url = u, kind = kind, status = status }, "start URL %s could not be fetched: %s", u, why)
end

-- Mirrors each host's failure streak as the frontier keeps it (frontier.h:
-- host_error_budget failed outcomes in a row back the host off, an "ok"
-- outcome ends the streak) to say when a host is backed off.
function Run:host_health(req, outcome)
  local streaks, host = self.streaks, req.host
  if outcome == "ok" then
    if streaks[host] then streaks[host] = nil end
  elseif outcome == "failed" and host then
    local n = (streaks[host] or 0) + 1
    streaks[host] = n
    if n == self.settings.host_error_budget then
      local err = req.error or {}
      log.warning({ host = host, url = req.url, kind = err.kind, failures = n },
        "host %s backed off after %d failures in a row (last: %s on %s): its requests wait %d s, "
        .. "doubling up to %d s while it fails, or until one of them succeeds",
        host, n, tostring(err.kind or "an error"), req.url, HOST_BACKOFF, HOST_BACKOFF_MAX)
    end
  end
end

-- The request as spider code sees it: on_request may change it before it
-- is sent (its URL aside), callbacks read it as res.request, errbacks as
-- failure.request. `x`: the fields the frontier carried (silk.request).
local function request_view(req, x)
  return { url = req.url, depth = req.depth, meta = x.meta or {}, callback = req.callback,
           errback = x.errback, method = x.method or "GET", body = x.body, headers = x.headers,
           cookies = x.cookies, session = x.session, proxy = x.proxy, user_agent = x.user_agent,
           timeout = x.timeout, retries = x.retries, max_size = x.max_size, insecure = x.insecure,
           priority = req.priority, attempt = req.retries + 1, await = x.await, render = x.render }
end

-- The silk.fetch request for `rq` (a request_view): its own options, else
-- the crawl's identity (silk.identity: rotated proxy, User-Agent, pooled
-- session), else the settings. Also returns who it went as.
function Run:fetch_request(rq)
  local s = self.settings
  local session, proxy, ua = rq.session, rq.proxy or s.proxy, rq.user_agent
  local who
  if self.identity then
    who = self.identity:pick(session, rq.cookies == false)
    session = who.session
    if not rq.proxy and who.proxy then proxy = who.proxy end
    ua = ua or who.user_agent
  end
  if not session and rq.cookies ~= false and s.cookies then session = "default" end
  if session and rq.cookies ~= false then self.jars[session] = true else session = nil end
  return {
    url = rq.url, method = rq.method, body = rq.body, headers = rq.headers,
    cookies = rq.cookies or nil, session = session, proxy = proxy,
    user_agent = ua or s.user_agent, timeout = rq.timeout or s.timeout,
    retries = rq.retries or s.retries, max_size = rq.max_size or s.max_size,
    insecure = rq.insecure, block_private = s.deny_private,
  }, who
end

-- Failures that say a proxy did not carry the request.
local PROXY_FAILURE = { connect = true, dns = true, timeout = true, reset = true, tls = true, protocol = true }

-- Runs spider hook fn(...) in a task of its own under task_timeout, as a
-- callback. Returns true and fn's first result, or false when it failed
-- (counted in stats[stat], default hook_errors, and logged with `where`).
function Run:hook(name, where, fn, ...)
  return self:hook_counted("hook_errors", name, where, fn, ...)
end

function Run:hook_counted(stat, name, where, fn, ...)
  local t = silk.spawn{ name = name, timeout = self.settings.task_timeout, fn, ... }
  local ok, r = t:join()
  if not ok then
    self.stats[stat] = self.stats[stat] + 1
    log.error({ url = where, hook = name }, ("%s failed on %s: %s"):format(name, where, tostring(r)))
    return false
  end
  return true, r
end

-- Whether response res of a pooled session says the session is blocked.
function Run:looks_blocked(res, rq)
  if self.blocked_status[res.status] then return true end
  local fn = self.spider.blocked
  if not fn then return false end
  local ok, r = self:hook("blocked", rq.url, fn, res)
  return ok and r and true or false
end

-- Fetches `rq` (a request_view) once it may go: through the HTTP cache
-- when there is one; through the next proxy when a rotated one carried
-- nothing; on a fresh session when a pooled one was blocked (up to
-- `retries` times). Counts what came back: res, or nil and the error (a
-- status >= 400 the spider did not ask for is an error of kind http).
-- `first`: the first try, already made (Run:dispatch), or nil.
function Run:send(rq, first)
  local s, st, id = self.settings, self.stats, self.identity
  -- only what a GET without a body would fetch is the cache's to answer
  local cacheable = self.cache and rq.method == "GET" and rq.body == nil
  local res, err = cacheable and self.cache:get(rq.url)
  local tries, proxy_tries = 0, 0
  while not res do
    local f, who
    if first then
      f, who, res, err = first.f, first.who, first.res, first.err
      first = nil
    elseif rq.render ~= nil or s.render then
      f, who = self:fetch_request(rq)
      -- headless Chromium (silk.render): true, "auto" or render options
      res, err = require("silk.render").crawl_fetch(self, { url = rq.url, meta = { render = rq.render } }, s, f)
    else
      f, who = self:fetch_request(rq)
      res, err = silk.fetch(f)
    end
    local got = res or err              -- every try's retries, whether it answered or not
    st.retries = st.retries + (got and got.attempts or 1) - 1
    local again = false
    local rotated = id and f.proxy and f.proxy ~= (rq.proxy or s.proxy) and f.proxy
    if rotated then
      if res then
        id:proxy_ok(rotated)
      elseif PROXY_FAILURE[err.kind] then
        id:proxy_failed(rotated)
        again = id:rotates_proxies() and proxy_tries < #s.proxies - 1
        if again then proxy_tries = proxy_tries + 1 end
      end
    end
    if res and who and who.pooled and self:looks_blocked(res, rq) then
      local jar = id:retire(who)        -- nil: another request on it retired it first
      if jar then self.jars[jar] = nil end
      again = tries < (rq.retries or s.retries)
      if again then tries, res = tries + 1, nil end
    end
    if not again then
      if res and cacheable then self.cache:put(rq.url, res) end
      break
    end
    st.retries = st.retries + 1
  end
  if res then
    count(st.by_status, tostring(res.status))
    st.bytes = st.bytes + #res.body
    metrics.observe("silk_fetch_duration_seconds", res.timings.total)
    if s.autothrottle then self:throttle(rq.url, res.timings.total) end
    if log.enabled("debug") then log_response(res, rq.url) end
    if res.status >= 400 and not self.http_errors[res.status] then
      err = silk.error("http", "HTTP " .. res.status)
      err.status, err.url, err.response, err.attempts = res.status, rq.url, res, res.attempts
      res = nil
    end
  end
  return res, err
end

-- Counts a request that ended failed.
function Run:count_error(err)
  local st = self.stats
  st.errors = st.errors + 1
  count(st.errors_by_kind, err.kind or "error")
end

-- Sends frontier request `req` as `rq` and runs the spider's on_response
-- or on_error on the outcome. Returns res; or nil and the error; or nil
-- and a verdict of the hooks: "drop" (counted as dropped) or "retry"
-- (queued again while the request has retries left, else an error of kind
-- "retry").
function Run:exchange(req, rq, first)
  local sp, st = self.spider, self.stats
  local res, err = self:send(rq, first)
  local hook, arg = sp.on_response, res
  if not res then hook, arg = sp.on_error, err end
  local ok, verdict = true, nil
  if hook then ok, verdict = self:hook(res and "on_response" or "on_error", rq.url, hook, arg, rq) end
  if not ok or verdict == false then
    st.dropped = st.dropped + 1
    return nil, "drop"
  end
  if verdict == "retry" then
    if req.retries < (rq.retries or self.settings.retries) then
      st.retries = st.retries + 1
      return nil, "retry"
    end
    res, err = nil, silk.error("retry", ("gave up on %s after %d attempts"):format(rq.url, req.retries + 1))
  end
  if not res then
    self:count_error(err)
    self:failed(req, err, rq.method)
  end
  return res, err
end

-- Hands the outcome of a crawl:fetch request to the callback waiting for
-- it; nobody waits when that callback gave up (its deadline), or when the
-- request comes back from a jobdir after a restart.
function Run:deliver(await, res, err)
  local ch = self.waiting[await]
  if ch then ch:send({ res, err }) end
  return ch ~= nil
end

-- A crawl:fetch request: fetched as any page, its response handed back to
-- the callback that waits for it (Crawl:fetch).
function Run:answer(req, rq)
  if not self.waiting[rq.await] then return "release" end
  local res, err = self:exchange(req, rq)
  if err == "retry" then return "retry" end
  if err == "drop" then err = silk.error("dropped", "a hook dropped " .. rq.url) end
  if res then self.stats.pages = self.stats.pages + 1 end
  self:deliver(rq.await, res, err)
  return res and "ok" or host_outcome(err)
end

-- The page gives its frontier request back before its callback is done
-- (Crawl:fetch): its slot and place are free for the request it waits for.
-- Until its items are committed the page is kept as "processing", which
-- Run:checkpoint records, so that a resume fetches it again.
function Run:hand_back(page)
  local req = page.req
  if not req or self.handed_back[req.id] then return end
  self.handed_back[req.id] = { url = req.url, canonical = req.canonical, host = req.host,
                               depth = req.depth, priority = req.priority,
                               callback = req.callback, meta = req.meta }
  local ok, err = pcall(self.frontier.done, self.frontier, req.id, "ok")
  if not ok then
    log.error({ url = req.url }, ("frontier refused the end of %s: %s"):format(req.url, tostring(err)))
  end
end

-- Queues again a page that handed its request back and then did not
-- finish (a stop signal cut its callback short).
function Run:enqueue_again(rec)
  local r = {}
  for k, v in pairs(rec) do r[k] = v end
  r.dont_filter = true
  self.frontier:push(r)
end

-- Whether req can be fetched before it has a task: nothing ahead of its
-- fetch may wait (its host's robots.txt is known and lets it go, no
-- on_request hook, no HTTP cache, no browser, not a crawl:fetch). Returns
-- its request_view and silk.fetch request, and who it goes as.
function Run:fetch_at_once(req)
  local s = self.settings
  if req.callback == FETCH or s.render or self.cache or self.spider.on_request then return nil end
  if s.obey_robots then
    local rules = self:robots_known(req.url, req.host)
    if not rules or self:robots_verdict(rules, req.url) ~= true then return nil end
  end
  local x = request.decode(req.meta)
  if x.render ~= nil then return nil end
  local rq = request_view(req, x)
  return rq, self:fetch_request(rq)
end

-- Starts one request popped from the frontier. Its task exists only once
-- it has work to do: with thousands of requests in flight, a coroutine each
-- would be what the collector's atomic phase rescans (fetch_core.start).
function Run:dispatch(req)
  local ok, started = pcall(self.start_fetch, self, req)
  -- otherwise its task does everything, and reports what raised here
  if not (ok and started) then silk.spawn{ name = "request", self.request_task, self, req } end
end

function Run:start_fetch(req)
  local rq, f, who = self:fetch_at_once(req)
  if not rq then return false end
  local first = { rq = rq, f = f, who = who }
  -- at most max_callbacks of these tasks at once: the responses that
  -- arrive beyond wait in C memory (fetch_core.gate), not in the Lua heap
  self.gate = self.gate or fetch_core.gate(self.settings.max_callbacks)
  local gate = self.gate
  fetch_core.start(f, function(res, err)
    first.res, first.err = res, err
    local ok, e = pcall(self.request_task, self, req, first)
    gate:done()
    if not ok then error(e, 0) end
  end, "request", nil, gate)
  return true
end

-- The body of a request's task: processes it (from its fetch's answer when
-- `first` holds it), then gives its slot back whatever happened.
function Run:request_task(req, first)
  local ok, outcome = pcall(self.process, self, req, first)
  if not ok then
    log.error({ url = req.url }, ("request %s failed inside silk: %s"):format(req.url, tostring(outcome)))
    outcome = "release" -- silk's fault says nothing about the host
  end
  -- the slot must come back whatever happened, or the crawl never
  -- ends; a page that handed it back early has now committed
  if self.handed_back[req.id] then
    self.handed_back[req.id] = nil
    if outcome == "requeue" then self:enqueue_again(req) end
  else
    local dok, derr = pcall(self.frontier.done, self.frontier, req.id, outcome)
    if not dok then
      log.error({ url = req.url }, ("frontier refused the end of %s: %s"):format(req.url, tostring(derr)))
    end
  end
  self:host_health(req, outcome)
  self.inflight = self.inflight - 1
  self.last_progress = now()
  self.events:send("done")
end

-- One request, in its own task; `first`: its fetch's answer when it was
-- fetched before the task existed (Run:dispatch).
function Run:process(req, first)
  local st = self.stats
  local where = req.url
  if first then return self:respond(req, first.rq, first) end
  local allowed = self:robots_allow(req.url)
  if allowed == "later" then return "requeue" end      -- its host is held (robots_unreachable)
  if not allowed then
    st.robots_blocked = st.robots_blocked + 1
    if self.starts[req.url] then
      self:start_failed(req.url, "robots", "its host's robots.txt disallows it (or stayed unreachable for robots_retry_for seconds)")
    end
    if req.callback == FETCH then
      self:deliver(request.decode(req.meta).await, nil,
                   silk.error("robots", "robots.txt disallows " .. req.url))
    end
    return "release"
  end
  local rq = request_view(req, request.decode(req.meta))
  if self.spider.on_request then
    local ok, verdict = self:hook("on_request", where, self.spider.on_request, rq)
    if not ok or verdict == false then
      st.dropped = st.dropped + 1
      if req.callback == FETCH then
        self:deliver(rq.await, nil, silk.error("dropped", "on_request dropped " .. req.url))
      end
      return "release"
    end
    rq.url = req.url                    -- robots.txt and the host's slot were for this one
  end
  if req.callback == FETCH then return self:answer(req, rq) end
  return self:respond(req, rq)
end

-- The rest of Run:process: fetches rq (unless `first` did), then runs the
-- callback or errback. Returns the request's outcome for the frontier.
function Run:respond(req, rq, first)
  local st = self.stats
  local where = req.url
  local res, err = self:exchange(req, rq, first)
  if err == "retry" then return "retry" end
  if err == "drop" then return "ok" end
  if not res then
    local eb = rq.errback and self.spider:callback(rq.errback) or self.spider.errback
    if eb then
      local page = new_page(self, rq)
      self:callback_task(rq.errback or "errback", where, page, eb,
                         { url = req.url, error = err, request = rq }, page)
      self:commit_items(page, where)
    end
    return host_outcome(err)
  end
  st.pages = st.pages + 1
  count(st.depth, tostring(req.depth))
  local cb = self.spider:callback(req.callback)
  if req.callback == "_sitemap" then
    self:sitemap(res, rq)
    return "ok"
  end
  if not cb then
    log.error({ url = where, callback = req.callback }, ("spider %s has no callback '%s' (request %s)"):format(
      self.spider.name, tostring(req.callback), where))
    return "ok"
  end
  rq.url = res.url
  rawset(res, "request", rq)
  if self.settings.parse_inline then response.parse_inline(res) end
  local page = new_page(self, rq, res, req)
  local done = self:callback_task(req.callback, where, page, cb, res, page)
  -- The page's parsed tree (several times the page) dies with its
  -- callback: left to the Lua GC, which sees only a small userdata, the
  -- trees of the requests in flight would pile up far past the heap it
  -- paces. A node kept past the callback raises "attempt to use a freed
  -- document".
  response.free(res)
  if done == "stopped" then return "requeue" end
  self:commit_items(page, where)
  return "ok"
end

function Run:sitemap(res, rq)
  local ok, sm = pcall(require, "silk.core.sitemap")
  if not ok then return end
  local parsed, err = sm.parse(res.body)
  if not parsed then
    self.stats.errors = self.stats.errors + 1
    count(self.stats.errors_by_kind, "sitemap")
    log.warning({ url = rq.url, kind = "sitemap" }, ("sitemap %s: %s"):format(rq.url, tostring(err)))
    return
  end
  for _, u in ipairs(parsed.sitemaps or {}) do
    self:enqueue(type(u) == "table" and u.loc or u, 0, "_sitemap")
  end
  for _, u in ipairs(parsed.urls or {}) do
    self:enqueue(type(u) == "table" and u.loc or u, 0, "parse")
  end
end

-- What start_urls, sitemap_urls and start_requests queue are the crawl's
-- start URLs (self.starts): one that is refused or cannot be fetched at
-- all is an error (Run:start_failed).
function Run:start_requests()
  local sp = self.spider
  self.starting = true
  for _, u in ipairs(sp.start_urls or {}) do
    if not url.is_http(u) then
      error(("invalid start URL %q: an absolute http or https URL is required"):format(tostring(u)), 0)
    end
    self:enqueue(u, 0, "parse")
  end
  for _, u in ipairs(sp.sitemap_urls or {}) do
    self:enqueue(u, 0, "_sitemap")
  end
  if sp.start_requests then
    local page = new_page(self, { url = "start_requests", depth = -1 })
    self:callback_task("start_requests", "start_requests", page, sp.start_requests, page)
    self:commit_items(page, "start_requests")
  end
  self.starting = false
end

function Run:stop_reason()
  local s, st = self.settings, self.stats
  if s.max_pages > 0 and st.pages >= s.max_pages then return "max_pages" end
  if s.close_after_pages > 0 and st.pages >= s.close_after_pages then return "close_after_pages" end
  if s.close_after_items > 0 and st.items >= s.close_after_items then return "close_after_items" end
  if s.close_after_errors > 0 and st.errors >= s.close_after_errors then return "close_after_errors" end
  if s.close_after_seconds > 0 and now() - self.started >= s.close_after_seconds then
    return "close_after_seconds"
  end
end

--- Stops taking new requests; the in-flight ones finish.
function Run:stop(reason)
  if not self.stopping then
    self.stopping = reason or "stopped"
    self.events:send("stop")
  end
end

-- Records the crawl's state: the items so far are written (fsync'd with a
-- jobdir) before the frontier records their offset and their pages as done.
-- After a failure of the output it records nothing more.
function Run:checkpoint(force)
  if self.failure then return end
  if self.sink then
    local pos, err = self.sink:flush(self.opts.jobdir ~= nil)
    if not pos then return self:output_failed(err) end
    if self.opts.jobdir then self.frontier:kv_set("sink_offset", tostring(pos)) end
  end
  if self.opts.jobdir then self:keep_state() end
  local ok, err = self.frontier:checkpoint(force)
  if ok == nil then
    return self:output_failed(("cannot checkpoint the crawl: %s"):format(type(err) == "table" and err.message or tostring(err)))
  end
  self.last_checkpoint = now()
end

-- What a jobdir keeps besides the frontier and the output: the cookie
-- jars, and the pages that handed their request back (Run:hand_back) and
-- have not committed yet. Written with the checkpoint that follows.
function Run:keep_state()
  local jars = {}
  for name in pairs(self.jars) do jars[name] = fetch_core.cookies(name) end
  self.frontier:kv_set("cookies", cjson.encode(jars))
  local pages = {}
  for _, rec in pairs(self.handed_back) do pages[#pages + 1] = rec end
  self.frontier:kv_set("processing", #pages > 0 and cjson.encode(pages) or "")
end

-- Takes back what Run:keep_state kept: the jars, and the pages that were
-- processing, queued again.
function Run:restore_state()
  local fr = self.frontier
  local jars = fr:kv_get("cookies")
  if jars and jars ~= "" then
    for name, lines in pairs(cjson.decode(jars)) do
      self.jars[name] = true
      for _, line in ipairs(lines) do fetch_core.add_cookie(name, line) end
    end
  end
  local pages = fr:kv_get("processing")
  if pages and pages ~= "" then
    for _, rec in ipairs(cjson.decode(pages)) do self:enqueue_again(rec) end
    fr:kv_set("processing", "")
  end
end

function Run:progress(final)
  if not self.opts.progress then return end
  local t = now()
  if not final and t - self.last_line < 0.25 then return end
  self.last_line = t
  local st = self.stats
  local fs = self.frontier:stats()
  local gc = silk.gc_stats and silk.gc_stats()
  -- the browser's tabs, once the crawl has rendered a page (silk.render)
  local tabs = st.render and require("silk.render").stats()
  local line = ("%d pages (%.0f/s), %d items, %d queued, %d in flight, %d errors, RSS %d MB%s%s"):format(
    st.pages, st.pages / math.max(t - self.started, 1e-3), st.items, fs.queued or 0, self.inflight,
    st.errors, math.floor(rss_bytes() / 1048576), gc and gc.p99_ms and (", GC p99 %.2f ms"):format(gc.p99_ms) or "",
    tabs and (", tabs %d busy %d idle"):format(tabs.busy, tabs.idle) or "")
  log.progress(line, final)
end

-- Explains why nothing has progressed for stall_timeout seconds.
function Run:explain_stall(idle)
  local fs = self.frontier:stats()
  local lines = { ("stall: no page finished for %.0f s; %d in flight, %d queued"):format(
    idle, self.inflight, fs.queued or 0) }
  local wake = self.frontier:next_wakeup()
  if wake then
    lines[#lines + 1] = ("  every queued host is delayed; the next becomes ready in %.1f s"):format(
      wake - frontier_core.now())
  end
  for _, h in ipairs(fs.top or {}) do
    lines[#lines + 1] = ("  host %s: %d queued, %d in flight, %d failures, ready in %.1f s"):format(
      h.host, h.queued or 0, h.in_flight or 0, h.failures or 0, h.ready_in or 0)
  end
  lines[#lines + 1] = silk.dump_tasks()
  log.warning(table.concat(lines, "\n"))
end

-- Runs the open (at == "open") or close methods of the spider's pipeline
-- tables, each as a hook (a failure is counted as a pipeline error).
function Run:pipelines_at(at)
  for i, p in ipairs(self.spider.pipelines or {}) do
    if type(p) == "table" and p[at] then
      self:hook_counted("pipeline_errors", ("pipeline %d %s"):format(i, at), self.spider.name, p[at], p, self)
    end
  end
end

--- Runs the crawl to its end (queue empty, a stop condition, or stop());
-- returns the final stats.
function Run:run()
  -- where a new jobdir's items start, recorded before any is written: a
  -- rerun after a kill before the next checkpoint cuts the output back to it
  if self.sink and self.opts.jobdir and not self.resumed then self:checkpoint(true) end
  self:pipelines_at("open")
  self:start_requests()
  local s = self.settings
  local stalled_since_report = false
  while true do
    local reason = self:stop_reason()
    if reason and not self.stopping then self.stopping = reason end
    while not self.stopping and not self.paused and self.inflight < s.concurrency do
      local req, wake = self.frontier:pop_ready()
      if not req then
        if type(wake) == "table" then self:output_failed("frontier: " .. tostring(wake.message or wake)) end
        break
      end
      self.inflight = self.inflight + 1
      self:dispatch(req)
    end
    if self.inflight == 0 and (self.stopping or (self.frontier:stats().queued or 0) == 0) then break end

    local wait = 1.0
    local wake = not self.stopping and self.inflight < s.concurrency and self.frontier:next_wakeup()
    if wake then wait = math.max(math.min(wake - frontier_core.now(), wait), 0) end
    silk.with_timeout(wait, self.events.recv, self.events)
    while self.events:len() > 0 do self.events:recv() end

    local t = now()
    if t - self.last_checkpoint >= s.checkpoint_interval then self:checkpoint(false) end
    self:progress(false)
    local idle = t - self.last_progress
    if s.stall_timeout > 0 and idle >= s.stall_timeout and not stalled_since_report then
      self:explain_stall(idle)
      stalled_since_report = true
    elseif idle < s.stall_timeout then
      stalled_since_report = false
    end
  end
  self:pipelines_at("close")
  self:checkpoint(true)
  self:progress(true)
  self.stats.duration = now() - self.started
  self.stats.stop_reason = self.stopping or "finished"
  self.stats.output_error = self.failure
  -- items counts what reached the output, not what was handed to it
  if self.failure and self.sink then self.stats.items = self.sink.written end
  self.stats.frontier = self.frontier:stats()
  self.stats.gc = gc_summary()
  if self.identity then
    local is = self.identity:stats()
    self.stats.proxies, self.stats.sessions_retired = is.proxies, is.sessions_retired
  end
  local rs = self.stats.render
  if rs then
    -- what the browser went through, beside the crawl's own split
    local b = require("silk.render").stats()
    rs.browser_restarts, rs.browser_crashes, rs.renderer_crashes = b.browser_restarts, b.browser_crashes, b.renderer_crashes
    rs.tabs_created, rs.tabs_recycled, rs.requests_blocked = b.created, b.recycled, b.blocked
  end
  return self.stats
end

function Run:close()
  self:export_stats()
  metrics.remove_collector(self.collector)
  for _, k in ipairs{ "stats", "pause", "resume", "frontier", "stop" } do silk.console_hooks[k] = nil end
  if self.cache then
    self.stats.cache_hits, self.stats.cache_misses = self.cache.hits, self.cache.misses
    self.cache:close()
  end
  if self.sink then
    local ok, err = self.sink:close()
    if not ok then
      self:output_failed(err)
      self.stats.stop_reason, self.stats.output_error = "output failed", self.failure
    end
  end
  self.frontier:close()
end

-- The metatable of the `crawl` object callbacks receive (silk.testing's
-- double is checked against it).
M.Crawl = Crawl

return M
