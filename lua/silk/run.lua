--- silk.run: `silk run SPIDER.lua [options]`, the main task of a crawl.
--
--   -o, --output PATH     items to PATH (.jsonl, .csv, .sqlite)
--   -s KEY=VALUE          override a setting (repeatable)
--   --jobdir DIR          persist the crawl in DIR; run again to resume
--   --stats FILE          final stats as JSON
--   --http-cache DIR      replay responses stored in DIR, store new ones (development)
--   --frontier redis://IP:PORT/NAME   share the crawl NAME with other silk processes
--   --workers N           run N `silk run` processes on this machine (needs --frontier)
--   --items redis         items to the shared crawl's Redis stream instead of -o, one group per
--                         key (setting item_key); `silk collect` drains it. Also
--                         --items redis://IP:PORT/NAME, naming the --frontier crawl
--   --deny-private        refuse private, loopback and link-local addresses (no SSRF
--                         through crawled links); the same as -s deny_private=true
--   --quiet               no progress line (it is shown only on a TTY anyway)
--   --log-level LEVEL     debug, info (default), warning or error (silk.log)
--   --log-file FILE       log lines to FILE (appended) instead of stderr
--   --log-format FORMAT   text (default) or json (one object per line)
--   --max-fds N           limit of open files (RLIMIT_NOFILE soft limit), at most the
--                         hard limit; default: raised to the hard limit. Also an engine
--                         option (`silk run --max-fds N SPIDER.lua`)
--   -h, --help            this text
--
-- SIGINT/SIGTERM (and the console's stop()) stop taking new requests and let
-- the in-flight ones finish (up to --grace), then checkpoint and exit 0; a
-- second signal, or the end of --grace, exits at once without teardown
-- (resumable from the last checkpoint, as after kill -9: README.md). A
-- write of the items or the jobdir that fails (a full disk), or a frontier
-- store that lost the crawl, stops the crawl with exit status 5, recording
-- no checkpoint after the failure.

local silk = require("silk")
local spider_mod = require("silk.spider")
local engine = require("silk.core.engine")
local log = require("silk.log")

local usage = [=[
usage: silk run SPIDER.lua [-o ITEMS] [-s key=value ...] [--jobdir DIR] [--stats FILE]
                [--http-cache DIR] [--deny-private] [--quiet] [--max-fds N]
                [--log-level LEVEL] [--log-file FILE] [--log-format text|json]
                [--frontier redis://IP:PORT/NAME [--workers N] [--items redis]]]=]

local help = usage .. [=[


  -o, --output PATH     items to PATH (.jsonl, .csv, .sqlite)
  -s, --set KEY=VALUE   override a spider setting (repeatable)
  --jobdir DIR          persist the crawl in DIR; run again to resume
  --stats FILE          final stats as JSON
  --http-cache DIR      replay responses stored in DIR, store new ones (development)
  --frontier redis://IP:PORT/NAME   share the crawl NAME with other silk processes
  --workers N           run N `silk run` processes on this machine (needs --frontier)
  --items redis         items to the shared crawl's Redis stream instead of -o, one group
                        per key (setting item_key); `silk collect` drains it
  --deny-private        refuse private, loopback and link-local addresses
  --quiet               no progress line (it is shown only on a TTY anyway)
  --log-level LEVEL     debug (a line per response), info (default: a line per failed
                        request), warning (retries exhausted, hosts backed off, robots.txt
                        unreachable, items refused) or error (callbacks, pipelines, output)
  --log-file FILE       log lines to FILE (appended) instead of stderr; the progress
                        line stays on the terminal
  --log-format FORMAT   text (default: `2026-12-07T14:03:11.123Z INFO silk: ...`) or json
                        (one object per line: ts, level, msg, and url, kind, attempt,
                        status, ms, bytes where they apply)
  --max-fds N           limit of open files (RLIMIT_NOFILE soft limit), at most the
                        hard limit (`ulimit -Hn`); default: raised to the hard limit.
                        Transfers wait for a descriptor rather than fail when they run out.
  -h, --help            this text

Engine options (--grace, --console, --metrics, --profile, --gc-*, ...) go before
SPIDER.lua: see `silk --help`.

Exit status: 0 the crawl ended (also after SIGINT); 2 bad arguments, spider or jobdir;
5 the items or the jobdir could not be written (a full disk), or the Redis frontier
lost the crawl: nothing was recorded after the failure, and with --jobdir a run after
freeing space resumes; 6 a start URL could not be fetched at all (its host name does
not resolve, no answer after the retries, an HTTP error status, robots-blocked).
]=]

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

local function parse_args(args)
  local o = { overrides = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local function value()
      i = i + 1
      if not args[i] then error(a .. " needs a value", 0) end
      return args[i]
    end
    if a == "-o" or a == "--output" then o.output = value()
    elseif a == "-s" or a == "--set" then o.overrides[#o.overrides + 1] = value()
    elseif a == "--jobdir" then o.jobdir = value()
    elseif a == "--stats" then o.stats_file = value()
    elseif a == "--http-cache" then o.http_cache = value()
    elseif a == "--quiet" or a == "-q" then o.quiet = true
    elseif a == "--log-level" then o.log_level = value()
    elseif a == "--log-file" then o.log_file = value()
    elseif a == "--log-format" then o.log_format = value()
    elseif a == "-h" or a == "--help" then o.help = true
    elseif a == "--max-fds" then
      o.max_fds = tonumber(value())
      if not o.max_fds or o.max_fds < 1 or o.max_fds % 1 ~= 0 then error("--max-fds needs a number of files >= 1", 0) end
    elseif a == "--deny-private" then o.overrides[#o.overrides + 1] = "deny_private=true"
    elseif a == "--frontier" then o.frontier = value()
    elseif a == "--items" then o.items = value()
    elseif a == "--workers" then
      o.workers = tonumber(value())
      if not o.workers or o.workers < 1 or o.workers % 1 ~= 0 then error("--workers needs a count >= 1", 0) end
    elseif a:sub(1, 1) == "-" then error("unknown option " .. a .. "\n" .. usage, 0)
    elseif not o.spider then o.spider = a
    else error("unexpected argument " .. a .. "\n" .. usage, 0) end
    i = i + 1
  end
  if o.help then return o end
  if not o.spider then error("a spider file is required\n" .. usage, 0) end
  if o.workers and not o.frontier then error("--workers needs --frontier redis://IP:PORT/NAME", 0) end
  if o.frontier and o.jobdir then error("--frontier and --jobdir exclude each other (Redis keeps the crawl)", 0) end
  if o.items then
    -- items are stored with the acknowledgement of their page, in one step:
    -- only the frontier's own Redis crawl can do that
    local function crawl_of(u) return (u or ""):gsub("^redis://[^@/]*@", "redis://"):match("^(redis://[^/]+/[^?]+)") end
    if o.items ~= "redis" and not (o.items:match("^redis://") and crawl_of(o.items) == crawl_of(o.frontier)) then
      error("--items takes redis or the --frontier's redis://IP:PORT/NAME, got " .. o.items, 0)
    end
    if not o.frontier then error("--items redis needs --frontier redis://IP:PORT/NAME", 0) end
    if o.output then error("--items redis and -o exclude each other (silk collect writes the file)", 0) end
    o.items = "redis"
  end
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

local function load_spider(path)
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  local ok, sp = pcall(chunk)
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
    table.sort(keys)
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
    io.stdout:write(help)
    return
  end
  local lok, lerr = log.configure{ level = o.log_level, format = o.log_format, file = o.log_file }
  if not lok then return fail("--log-" .. lerr) end
  if o.max_fds then
    local fok, err = pcall(require("silk.core.fetch").configure, { max_fds = o.max_fds })
    if not fok then return fail("--max-fds " .. o.max_fds .. ": " .. tostring(err):gsub("^fetch%.configure: ", "")) end
  end
  if o.workers then return require("silk.workers").run({ ... }, o) end
  local sp
  ok, sp = pcall(load_spider, o.spider)
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
  if o.output then
    local cok, err = pcall(check_output, o.output)
    if not cok then return fail(err) end
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
  ok, run = pcall(crawl_mod.new, sp, { output = o.output, jobdir = o.jobdir, frontier = o.frontier, items = o.items,
                                       http_cache = o.http_cache, progress = isatty and not o.quiet })
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
  if stats.start_failed > 0 then
    local first = stats.start_urls_failed[1]
    io.stderr:write(("silk run: %d start URL%s could not be fetched (%s: %s)\n"):format(
      stats.start_failed, stats.start_failed == 1 and "" or "s", first.url, first.error))
    engine.set_exit_code(EXIT_START)
  end
  if stats.output_error then
    io.stderr:write(("silk run: output failed: %s\n"):format(stats.output_error))
    engine.set_exit_code(EXIT_OUTPUT)
  end
end
