--- silk.spider: what a spider file returns, and the crawl's settings.
--
--   return silk.spider{
--     name = "books",
--     start_urls = { "http://127.0.0.1:8080/" },   -- or start_requests = function(crawl) ... end
--     sitemap_urls = { ... },                        -- optional: crawl the URLs the sitemaps list
--     parse = function(res, crawl) ... end,          -- the default callback
--     detail = function(res, crawl) ... end,         -- any other named callback
--     errback = function(failure, crawl) ... end,    -- optional: failed requests
--     pipelines = { function(item) return item end },-- transform, or return nil to drop
--     -- settings (see silk.spider.settings), e.g.
--     concurrency = 64, max_per_host = 8, delay = 0, obey_robots = true,
--   }
--
-- Settings can be overridden from the command line: `silk run -s key=value`.
-- A misspelled setting is an error that names the closest valid one; so is
-- a callback named like a near miss of a field (err_back). A value that
-- cannot work (concurrency = 0, timeout = 0, pipelines not a list of
-- functions, start_urls not a list) is an error naming the field.

local M = {}

-- name = { default, type, description, above = x, whole = true }; "number?"
-- and "table?" may be nil. A number must not be negative, must be more than
-- `above` when that is given (0 would hang the crawl, or mean "none" where
-- a limit is meant), and a whole number with `whole`.
M.settings = {
  concurrency    = { 64, "number", "requests in flight at once, overall", above = 0, whole = true },
  max_per_host   = { 8, "number", "requests in flight at once per host (scheme://host:port)", above = 0, whole = true },
  max_callbacks  = { 256, "number", "callbacks running at once; responses that arrive beyond wait in C memory, not in the Lua heap", above = 0, whole = true },
  delay          = { 0, "number", "seconds between two requests to the same host" },
  jitter         = { 0, "number", "random extra delay, as a fraction of delay (0.5: up to +50%)" },
  autothrottle   = { false, "boolean", "adapt each host's delay to its latency (Scrapy's AutoThrottle)" },
  autothrottle_target = { 2, "number", "target concurrency per host for autothrottle", above = 0 },
  obey_robots    = { true, "boolean", "fetch and obey robots.txt, honour its crawl-delay" },
  robots_retry_for = { 600, "number", "seconds an unreachable robots.txt (5xx, no answer) holds its host before the host is disallowed" },
  user_agent     = { "silk", "string", "User-Agent sent, and matched against robots.txt groups" },
  cookies        = { true, "boolean", "keep a crawl-wide cookie jar (kept in the jobdir); false: send and keep no cookies" },
  proxy          = { nil, "string?", "proxy URL every request goes through (http://, https://, socks5://, socks5h://)" },
  proxies        = { nil, "table?", "proxy URLs requests rotate through (round-robin; a named session keeps its own)" },
  proxy_failures = { 3, "number", "requests in a row that get no answer through a proxy before it rests", above = 0, whole = true },
  proxy_rest     = { 60, "number", "seconds a failing proxy rests" },
  user_agents    = { nil, "table?", "User-Agents requests rotate through (as proxies)" },
  sessions       = { 0, "number", "a pool of this many sessions (jar + proxy + User-Agent), retired when blocked (0: none)", whole = true },
  blocked_statuses = { { 401, 403, 429 }, "table", "statuses that retire a pooled session (and retry its request)" },
  max_depth      = { 0, "number", "links followed from a start URL at most (0: no limit)" },
  max_pages      = { 0, "number", "stop after this many pages fetched (0: no limit)" },
  allowed_domains = { nil, "table?", "hosts (and their subdomains) that may be crawled" },
  allow          = { nil, "table?", "Lua patterns: only URLs matching one are followed" },
  deny           = { nil, "table?", "Lua patterns: URLs matching one are never followed" },
  timeout        = { 30, "number", "seconds for one fetch attempt", above = 0 },
  retries        = { 2, "number", "extra attempts on transient failures (connect, reset, timeout, 429, 5xx)", whole = true },
  http_errors    = { nil, "table?", "statuses >= 400 passed to callbacks (others are failures)" },
  task_timeout   = { 60, "number", "seconds a callback may run (enforced by the core)", above = 0 },
  order          = { "bfs", "string", "bfs (breadth-first) or dfs (depth-first)" },
  max_size       = { 16 * 1024 * 1024, "number", "largest response body accepted, bytes", above = 0 },
  close_after_pages  = { 0, "number", "stop after this many pages (0: never)" },
  close_after_items  = { 0, "number", "stop after this many items (0: never)" },
  close_after_errors = { 0, "number", "stop after this many failures (0: never)" },
  close_after_seconds = { 0, "number", "stop after this long (0: never)" },
  host_error_budget = { 5, "number", "host failures in a row (no answer, 5xx, 429) before the host is backed off" },
  stall_timeout  = { 60, "number", "seconds without progress before the engine explains the stall" },
  checkpoint_interval = { 2, "number", "seconds between jobdir checkpoints" },
  deny_private   = { false, "boolean", "refuse private, loopback and link-local addresses" },
  fields         = { nil, "table?", "field order of the outputs, and the CSV columns (default: the first item's keys)" },
  item_key       = { nil, "string?", "--items redis: the item field that identifies an item, one stored per value (default: page URL + position)" },
  parse_inline   = { false, "boolean", "parse pages on the loop thread instead of the worker pool" },
  sitemap_from_robots = { false, "boolean", "also crawl the sitemaps that robots.txt lists" },
  render         = { false, "boolean", 'render pages in headless Chromium (true), or "auto": fetch first, render when needed (silk.render)', also = { auto = true } },
  render_options = { nil, "table?", "options of silk.render for rendered pages: wait, block, timeout, ..." },
}

local reserved = {
  name = true, start_urls = true, start_requests = true, sitemap_urls = true,
  parse = true, errback = true, pipelines = true, settings = true, needs_render = true,
  on_request = true, on_response = true, on_error = true, blocked = true,
}

-- Levenshtein distance, for "did you mean" (silk.request's too).
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

M.distance = distance

function M.closest(name)
  local best, bd = nil, math.huge
  for k in pairs(M.settings) do
    local d = distance(name, k)
    if d < bd then best, bd = k, d end
  end
  for k in pairs(reserved) do
    local d = distance(name, k)
    if d < bd then best, bd = k, d end
  end
  return best, bd
end

local function check_setting(name, value)
  local spec = M.settings[name]
  if spec.also and spec.also[value] then return end
  local want = spec[2]
  local t = type(value)
  if want:sub(-1) == "?" then
    want = want:sub(1, -2)
    if value == nil then return end
  end
  if t ~= want then
    error(("setting %s: %s expected, got %s"):format(name, want, t), 0)
  end
  if want == "number" then
    if value ~= value or value < 0 then
      error(("setting %s: must not be negative, got %s"):format(name, tostring(value)), 0)
    end
    if spec.above and not (value > spec.above) then
      error(("setting %s: must be more than %s, got %s"):format(name, spec.above, tostring(value)), 0)
    end
    if spec.whole and value % 1 ~= 0 then
      error(("setting %s: a whole number expected, got %s"):format(name, tostring(value)), 0)
    end
  end
end

-- The spider's own fields other than settings: what each must hold.
local function list_of(kind)
  return function(v)
    if type(v) ~= "table" then return ("a list of %ss expected, got %s"):format(kind, type(v)) end
    for i, x in ipairs(v) do
      if type(x) ~= kind then return ("[%d]: a %s expected, got %s"):format(i, kind, type(x)) end
    end
  end
end
local function single(kind)
  return function(v)
    if type(v) ~= kind then return ("a %s expected, got %s"):format(kind, type(v)) end
  end
end
-- A pipeline is a function(item), or a table with process(self, item) and
-- optional open(self, crawl) and close(self, crawl).
local function pipelines(v)
  if type(v) ~= "table" then return "a list of functions or tables expected, got " .. type(v) end
  for i, p in ipairs(v) do
    if type(p) == "table" then
      if type(p.process) ~= "function" then return ("[%d]: a table without a process function"):format(i) end
      for _, k in ipairs{ "open", "close" } do
        if p[k] ~= nil and type(p[k]) ~= "function" then return ("[%d].%s: a function expected, got %s"):format(i, k, type(p[k])) end
      end
    elseif type(p) ~= "function" then
      return ("[%d]: a function or a table expected, got %s"):format(i, type(p))
    end
  end
end
local function urls(v)
  local why = list_of("string")(v)
  if why then return why end
  for i, u in ipairs(v) do
    if not u:find("^%a[%w+.-]*://") then return ("[%d]: a URL (scheme://host:port) expected, got %q"):format(i, u) end
  end
end
local fields = {
  start_urls = list_of("string"), sitemap_urls = list_of("string"), pipelines = pipelines,
  parse = single("function"), errback = single("function"), start_requests = single("function"),
  on_request = single("function"), on_response = single("function"), on_error = single("function"),
  blocked = single("function"), needs_render = single("function"),
}
-- settings whose values need more than their type checked
local setting_checks = { proxies = urls, user_agents = list_of("string"), blocked_statuses = list_of("number") }

-- The reserved field a callback's name looks like a misspelling of, or nil.
-- Any other function of the spider is a callback reached by name, so only
-- near misses count: the same letters but for case and underscores
-- (err_back, Parse), or up to two edits from a long name (start_request).
-- "parse" is a common stem of callback names (parse_item, parsed): only its
-- exact respellings count.
local function misspelled_field(name)
  local function squash(x) return x:lower():gsub("_", "") end
  for k in pairs(reserved) do
    if squash(name) == squash(k) or (#k >= 7 and distance(name, k) <= 2) then return k end
  end
end

local Spider = {}
Spider.__index = Spider

--- silk.spider(def) -> spider
-- What a spider file returns: def's name, start_urls, sitemap_urls,
-- start_requests(crawl), parse(res, crawl), errback(failure, crawl),
-- pipelines and settings (see "Spider settings"), checked. Every other
-- function of def is a callback, reached by name.
-- @raise a plain error naming the field for a setting it does not know (with
--   the closest valid one), a wrong type or value, a callback named like a
--   near miss of a field (err_back), or a spider without name or parse.
-- @usage
--   return silk.spider{
--     name = "shop", start_urls = { "http://127.0.0.1:8080/" }, concurrency = 8,
--     parse = function(res, crawl)
--       crawl:emit{ url = res.url, title = res:one("h1"):text() }
--     end,
--   }
function M.new(def)
  if type(def) ~= "table" then
    error("silk.spider expects a table", 2)
  end
  if type(def.name) ~= "string" or def.name == "" then
    error("spider: name (a non-empty string) is required", 2)
  end
  if type(def.parse) ~= "function" and type(def.start_requests) ~= "function" then
    error("spider " .. def.name .. ": a parse function is required", 2)
  end
  for k, v in pairs(def) do
    if type(k) == "string" and not reserved[k] and not M.settings[k] then
      if type(v) ~= "function" then
        local best = M.closest(k)
        error(("spider %s: unknown setting '%s' (did you mean '%s'?)"):format(def.name, k, best), 2)
      end
      local near = misspelled_field(k)
      if near then
        error(("spider %s: unknown field '%s' (did you mean '%s'?); rename it if it is a callback"):format(
          def.name, k, near), 2)
      end
    end
  end
  for k, check in pairs(fields) do
    local why = def[k] ~= nil and check(def[k])
    if why then
      error(("spider %s: %s%s%s"):format(def.name, k, why:sub(1, 1) == "[" and "" or ": ", why), 2)
    end
  end
  local settings = {}
  for k, spec in pairs(M.settings) do settings[k] = spec[1] end
  for k, v in pairs(def) do
    if M.settings[k] then
      local ok, err = pcall(check_setting, k, v)
      if not ok then error("spider " .. def.name .. ": " .. err, 2) end
      local why = setting_checks[k] and v ~= nil and setting_checks[k](v)
      if why then
        error(("spider %s: %s%s%s"):format(def.name, k, why:sub(1, 1) == "[" and "" or ": ", why), 2)
      end
      settings[k] = v
    end
  end
  if settings.order ~= "bfs" and settings.order ~= "dfs" then
    error("spider " .. def.name .. ": order must be 'bfs' or 'dfs'", 2)
  end
  def.settings = settings
  return setmetatable(def, Spider)
end

function M.is_spider(v)
  return getmetatable(v) == Spider
end

--- Applies a command-line override "key=value" to spider s; values are
-- parsed by the setting's type (numbers, true/false, comma-separated lists).
function M.override(s, assignment)
  local k, v = assignment:match("^([%w_]+)=(.*)$")
  if not k then error(("-s %s: expected key=value"):format(assignment), 0) end
  local spec = M.settings[k]
  if not spec then
    error(("-s %s: unknown setting '%s' (did you mean '%s'?)"):format(assignment, k, (M.closest(k))), 0)
  end
  local want = spec[2]:gsub("%?$", "")
  local value
  if want == "number" then
    value = tonumber(v)
    if not value then error(("-s %s: a number expected"):format(assignment), 0) end
  elseif want == "boolean" then
    if v == "true" or v == "1" or v == "yes" then value = true
    elseif v == "false" or v == "0" or v == "no" then value = false
    else error(("-s %s: true or false expected"):format(assignment), 0) end
  elseif want == "table" then
    value = {}
    for item in v:gmatch("[^,]+") do
      value[#value + 1] = tonumber(item) or item
    end
  else
    value = v
  end
  local ok, err = pcall(check_setting, k, value)
  if not ok then error(("-s %s: %s"):format(assignment, err), 0) end
  s.settings[k] = value
end

--- The callback function named `name` (a string) of spider s.
function Spider:callback(name)
  local f = self[name or "parse"]
  if type(f) ~= "function" then return nil end
  return f
end

--- The name under which s holds function f (callbacks travel by name, so
-- that a jobdir can persist them). Errors are raised `level` frames above
-- the caller (default 2: the caller's caller).
function Spider:callback_name(f, level)
  level = (level or 2) + 1
  if type(f) == "string" then
    if type(self[f]) ~= "function" then
      error(("spider %s has no callback named '%s'"):format(self.name, f), level)
    end
    return f
  end
  for k, v in pairs(self) do
    if v == f and type(k) == "string" then return k end
  end
  error(("callback must be a function of the spider table (or its name); spider %s has no such function"):format(self.name), level)
end

return M
