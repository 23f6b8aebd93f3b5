--- silk.run: `silk run SPIDER.lua [options]`, the main task of a crawl.
-- Its options are the table `spec` below (silk.cli: parsing, --help, the
-- man page); the engine options (--console, --max-fds, ...) are main.c's.
--
-- SIGINT/SIGTERM (and the console's stop()) stop taking new requests and let
-- the in-flight ones finish (up to --grace), then checkpoint and exit 0; a
-- second signal, or the end of --grace, exits at once without teardown
-- (resumable from the last checkpoint, as after kill -9: README.md). A
-- write of the items or the jobdir that fails (a full disk), or a frontier
-- store that lost the crawl, stops the crawl with exit status 5, recording
-- no checkpoint after the failure.

local silk = require("silk")
local cli = require("silk.cli")
local spider_mod = require("silk.spider")
local engine = require("silk.core.engine")
local log = require("silk.log")

-- The exit status of a crawl whose items, jobdir or frontier store failed.
local EXIT_OUTPUT = 5
-- The exit status of a crawl with a start URL that could not be fetched at
-- all (no answer after the retries, its host down, a status not in
-- http_errors, robots-blocked): a crawl that never began is no success.
local EXIT_START = 6

local function fail(msg)
  io.stderr:write("silk run: ", msg, "\n")
  engine.set_exit_code(2)
end

local function positive_integer(name, v)
  local n = tonumber(v)
  if not n or n < 1 or n % 1 ~= 0 then error(name .. " needs a whole number >= 1, got " .. v, 0) end
  return n
end

-- Adding an option: one row here, with the setter that stores it in the
-- options table `o` that the crawl below reads.
local spec = {
  name = "run",
  usage = "SPIDER.lua [options]",
  about = [[Crawls with the spider that SPIDER.lua returns (`return silk.spider{...}`): its
start_urls and start_requests, its callbacks, pipelines and settings (README.md).
The stats go to stderr at the end.]],
  options = {
    { "-o", "--output", arg = "PATH",
      help = "items to PATH: .json (one array), .jsonl, .csv or .sqlite; - for\n"
        .. "JSON Lines on stdout. An existing file is added to (a .json\n"
        .. "array is reopened before its \"]\"). Repeatable: every output\n"
        .. "gets every item",
      set = function(o, v) o.outputs[#o.outputs + 1] = { path = v } end },
    { "-O", arg = "PATH", help = "items to PATH, replacing an existing file",
      set = function(o, v) o.outputs[#o.outputs + 1] = { path = v, overwrite = true } end },
    { "--overwrite", help = "every -o replaces its existing file, as -O does. With --jobdir,\n"
        .. "-O and --overwrite act on the first run only: a resume cuts the\n"
        .. "files back to the last checkpoint",
      set = function(o) o.overwrite = true end },
    { "-s", "--set", arg = "KEY=VALUE", help = "override a spider setting (repeatable)",
      set = function(o, v) o.overrides[#o.overrides + 1] = v end },
    { "-a", "--arg", arg = "NAME=VALUE",
      help = "a spider argument (repeatable): the spider file gets them as a\n"
        .. "table of strings, `local args = ...`",
      set = function(o, v, name)
        local k, val = v:match("^([%a_][%w_]*)=(.*)$")
        if not k then error(("%s %s: NAME=VALUE expected, NAME a Lua identifier"):format(name, v), 0) end
        o.args[k] = val
      end },
    { "--jobdir", arg = "DIR", help = "persist the crawl in DIR; run again to resume",
      set = function(o, v) o.jobdir = v end },
    { "--stats", arg = "FILE", help = "final stats as JSON", set = function(o, v) o.stats_file = v end },
    { "--http-cache", arg = "DIR", help = "replay responses stored in DIR, store new ones (development)",
      set = function(o, v) o.http_cache = v end },
    { "--record", arg = "DIR", help = "store every response fetched in DIR, for silk.testing.replay(DIR)",
      set = function(o, v) o.record = v end },
    { "--frontier", arg = "redis://IP:PORT/NAME", help = "share the crawl NAME with other silk processes",
      set = function(o, v) o.frontier = v end },
    { "--workers", arg = "N", help = "run N `silk run` processes on this machine (needs --frontier)",
      set = function(o, v, name) o.workers = positive_integer(name, v) end },
    { "--items", arg = "redis",
      help = "items to the shared crawl's Redis stream instead of -o, one group\n"
        .. "per key (setting item_key); `silk collect` drains it. Also\n"
        .. "redis://IP:PORT/NAME, naming the --frontier crawl",
      set = function(o, v) o.items = v end },
    { "--deny-private", help = "refuse private, loopback and link-local addresses (no SSRF\n"
        .. "through crawled links); the same as -s deny_private=true",
      set = function(o) o.overrides[#o.overrides + 1] = "deny_private=true" end },
    { "-q", "--quiet", help = "no progress line (it is shown only on a TTY anyway)",
      set = function(o) o.quiet = true end },
  },
  positional = function(o, a)
    if o.spider then error("unexpected argument " .. a .. "; see silk run --help", 0) end
    o.spider = a
  end,
  notes = [[exit status:
  0         the crawl ended (also after SIGINT/SIGTERM)
  2         bad arguments, spider or jobdir
  5         the items or the jobdir could not be written (a full disk), or the Redis
            frontier lost the crawl: nothing was recorded after the failure, and with
            --jobdir a run after freeing space resumes
  6         a start URL could not be fetched at all (its host name does not resolve,
            no answer after the retries, an HTTP error status, robots-blocked)
]],
  example = "silk run spiders/bookshop.lua -o books.jsonl -s concurrency=8 --jobdir job/",
}

local function parse_args(args)
  local o = cli.parse(spec, args, { overrides = {}, outputs = {}, args = {} })
  if o.help then return o end
  if not o.spider then error("a spider file is required; usage: silk run " .. spec.usage, 0) end
  if o.workers and not o.frontier then error("--workers needs --frontier redis://IP:PORT/NAME", 0) end
  if o.frontier and o.jobdir then error("--frontier and --jobdir exclude each other (Redis keeps the crawl)", 0) end
  if o.record and o.http_cache then error("--record and --http-cache exclude each other (--record always fetches)", 0) end
  if o.items then
    -- items are stored with the acknowledgement of their page, in one step:
    -- only the frontier's own Redis crawl can do that
    local function crawl_of(u) return (u or ""):gsub("^redis://[^@/]*@", "redis://"):match("^(redis://[^/]+/[^?]+)") end
    if o.items ~= "redis" and not (o.items:match("^redis://") and crawl_of(o.items) == crawl_of(o.frontier)) then
      error("--items takes redis or the --frontier's redis://IP:PORT/NAME, got " .. o.items, 0)
    end
    if not o.frontier then error("--items redis needs --frontier redis://IP:PORT/NAME", 0) end
    if #o.outputs > 0 then error("--items redis and -o exclude each other (silk collect writes the file)", 0) end
    o.items = "redis"
  end
  local seen = {}
  for _, out in ipairs(o.outputs) do
    if seen[out.path] then error("-o " .. out.path .. " given twice", 0) end
    seen[out.path] = true
    if o.overwrite then out.overwrite = true end
  end
  if seen["-"] and o.workers then error("-o - and --workers exclude each other (workers write files)", 0) end
  o.output = o.outputs[1] and o.outputs[1].path
  return o
end

-- `-o` into /dev, /proc or /sys names an existing device (/dev/stdout) or
-- nothing: a new file there is almost always a slip (`-o /dev/full.jsonl`
-- made a regular file in /dev). /dev/shm is an ordinary tmpfs.
local function check_output(path)
  local abs = path:sub(1, 1) == "/" and path or ((os.getenv("PWD") or ".") .. "/" .. path)
  local parts = {}
  for seg in abs:gmatch("[^/]+") do
    if seg == ".." then parts[#parts] = nil elseif seg ~= "." then parts[#parts + 1] = seg end
  end
  local top = parts[1]
  local special = top == "proc" or top == "sys" or (top == "dev" and #parts == 2)
  local f = special and io.open(path, "rb")
  if f then f:close() return end
  if special then
    error(("-o %s: would create a file in /%s, which holds devices and kernel state: name an existing device or a file elsewhere"):format(
      path, top), 0)
  end
end

-- The spider file runs with the -a arguments as its `...`, as Scrapy's -a
-- reaches the spider's constructor.
local function load_spider(path, args)
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  local ok, sp = pcall(chunk, args)
  if not ok then error(("%s: %s"):format(path, tostring(sp)), 0) end
  if sp == nil then
    error(("%s returned nothing: a spider file must end with `return silk.spider{...}`"):format(path), 0)
  end
  if not spider_mod.is_spider(sp) then
    error(("%s must return silk.spider{...}, not a %s"):format(path, type(sp)), 0)
  end
  return sp
end

local function print_stats(st, out)
  local lines = {
    ("crawl finished (%s) in %.1f s"):format(st.stop_reason, st.duration),
    ("  pages %d (%.1f/s), items %d (%d dropped, %d refused), errors %d, retries %d"):format(
      st.pages, st.pages / math.max(st.duration, 1e-3), st.items, st.items_dropped, st.items_refused,
      st.errors, st.retries),
    ("  robots-blocked %d (unreachable robots.txt tries %d), filtered %d, duplicates %d, callback errors %d, pipeline errors %d"):format(
      st.robots_blocked, st.robots_unreachable, st.filtered, st.duplicates, st.callback_errors, st.pipeline_errors),
    ("  bytes %d"):format(st.bytes),
  }
  local function map(name, t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    if #keys == 0 then return end
    table.sort(keys, function(a, b)     -- depths and statuses in numeric order
      local na, nb = tonumber(a), tonumber(b)
      if na and nb then return na < nb end
      return tostring(a) < tostring(b)
    end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = ("%s=%d"):format(k, t[k]) end
    lines[#lines + 1] = ("  %s: %s"):format(name, table.concat(parts, " "))
  end
  map("status", st.by_status)
  map("errors by kind", st.errors_by_kind)
  map("depth", st.depth)
  local g = st.gc
  if g then
    lines[#lines + 1] = ("  gc: %d cycles, %d slices, pause p99 %.2f ms, max %.2f ms (CPU %.2f ms), total %.0f ms, heap peak %.1f MB"):format(
      g.cycles, g.slices, g.p99_ms, g.max_ms, g.max_cpu_ms, g.total_ms, g.heap_peak / 1048576)
  end
  out:write(table.concat(lines, "\n"), "\n")
end

return function(...)
  local ok, o = pcall(parse_args, { ... })
  if not ok then return fail(o) end
  if o.help then
    io.stdout:write(cli.help(spec))
    return
  end
  local eo = engine.options()
  local lok, lerr = log.configure{ level = eo.log_level, format = eo.log_format, file = eo.log_file }
  if not lok then return fail("--log-" .. lerr) end
  if o.workers then return require("silk.workers").run({ ... }, o) end
  for _, out in ipairs(o.outputs) do
    if out.path == "-" then
      -- stdout holds the items only: the spider's print() goes to stderr
      _G.print = function(...)
        local t = {}
        for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
        io.stderr:write(table.concat(t, "\t"), "\n")
      end
    end
  end
  local sp
  ok, sp = pcall(load_spider, o.spider, o.args)
  if not ok then return fail(sp) end
  local url = require("silk.core.url")
  for _, u in ipairs(sp.start_urls or {}) do
    if type(u) ~= "string" or not url.is_http(u) then
      return fail(("invalid start URL %q: an absolute http or https URL is required"):format(tostring(u)))
    end
  end
  for _, assignment in ipairs(o.overrides) do
    local sok, err = pcall(spider_mod.override, sp, assignment)
    if not sok then return fail(err) end
  end
  for _, out in ipairs(o.outputs) do
    if out.path ~= "-" then
      local cok, err = pcall(check_output, out.path)
      if not cok then return fail(err) end
    end
  end
  if o.stats_file then
    local f, err = io.open(o.stats_file, "w")
    if not f then return fail(("cannot write stats to %s: %s"):format(o.stats_file, err)) end
    f:close()
  end

  local crawl_mod = require("silk.crawl")
  local isatty = false
  local tok, term = pcall(require, "term")
  if tok and term.isatty then isatty = term.isatty(io.stderr) end
  local run
  ok, run = pcall(crawl_mod.new, sp, { output = o.output and o.outputs, jobdir = o.jobdir, frontier = o.frontier, items = o.items,
                                       http_cache = o.http_cache, record = o.record,
                                       progress = isatty and not o.quiet })
  if not ok then return fail(run) end

  engine.on_shutdown(function(signal) run:stop(signal) end)
  local stats = run:run()
  run:close()
  if stats.cache_hits then
    io.stderr:write(("http cache: %d hits, %d misses\n"):format(stats.cache_hits, stats.cache_misses))
  end
  print_stats(stats, io.stderr)
  if o.stats_file then
    local cjson = require("cjson")
    local f, err = io.open(o.stats_file, "w")
    local ok = f ~= nil
    if f then
      ok, err = f:write(cjson.encode(stats), "\n")
      if ok then ok, err = f:flush() end
      f:close()
    end
    if not ok then
      io.stderr:write(("silk run: cannot write stats to %s: %s\n"):format(o.stats_file, tostring(err)))
      engine.set_exit_code(EXIT_OUTPUT)
    end
  end
  if stats.output_error then
    io.stderr:write(("silk run: output failed: %s\n"):format(stats.output_error))
    engine.set_exit_code(EXIT_OUTPUT)
  elseif stats.start_failed > 0 then
    local first = stats.start_urls_failed[1]
    io.stderr:write(("silk run: %d start URL%s could not be fetched (%s: %s)\n"):format(
      stats.start_failed, stats.start_failed == 1 and "" or "s", first.url, first.error))
    engine.set_exit_code(EXIT_START)
  end
end
