-- bench/fetch/bench.lua: fetch-only load from silk (bodies counted, not parsed).
--
--   silk eval bench/fetch/bench.lua URL CONNS SECONDS [burst] [hosts=H] [per_host=P]
--                                   [rate=R] [requests=N]
--
-- hosts=H: URL holds "{h}", replaced by 0 .. H-1: H distinct hosts (run.sh
-- gives 127.1.{h}.1, one nginx listening on each), task i always fetching
-- from host i % H, at most P transfers in flight per host (fetch's own
-- per-host limit, the one a crawl sets from max_per_host; default: CONNS);
-- the rest wait in fetch's per-host queues.
-- rate=R: the tasks together start at most R requests/s (each one every
-- CONNS/R s, spread evenly), so the loop is not saturated and the overhead
-- figures are those of a loop with headroom.
-- requests=N: stop after N responses instead of after SECONDS (for
-- callgrind, whose slowdown would make a timed run measure little).
--
-- Steady mode: CONNS tasks each fetch URL in a loop for SECONDS; prints one
-- JSON line: requests/s, errors, and the engine overhead -- the time from a
-- transfer's completion (timings.done_at, taken in fetch.c when curl reports
-- it done) to the task running again -- as p50/p99/max in microseconds,
-- split in two:
--   queue_us   completion -> the scheduler resumes the task: waiting behind
--              the other work of the same loop iteration (the rest of the
--              completions read in that poll, the tasks ahead in the run
--              queue) and behind whole iterations when the run budget ends
--              first; it grows with how many completions arrive together
--   resume_us  the resume itself -> the task's code runs: the scheduler's
--              own cost (lua_resume and fetch's return path)
-- and per_iteration: completions per loop iteration (the size of the bursts
-- the queue is made of).
-- fetch_us (steady mode): a whole fetch, call to return, as its task sees it.
-- sleep_late_us (steady mode): how late a task sleeping 10 ms at a time
-- wakes while the fetches run: the price the rest of the engine pays.
-- cpu_us_per_request: this process's user+system CPU time over the run
-- (from /proc/self/stat, 10 ms ticks) per completed request, and its split
-- (user_us, sys_us): a figure that the other jobs of a shared machine
-- disturb less than requests/s.
-- connects: responses that opened a connection (timings.connect > 0);
-- queued_seen, in_flight_seen: the most transfers seen waiting in fetch's
-- per-host queues, and in fetch at all (sampled on a response at most
-- every 100 ms). When the loop is saturated most tasks wait in the
-- run queue with their response, not in fetch: then in_flight_seen is far
-- below CONNS.
-- Burst mode: starts CONNS fetches at once (URL should hold them, e.g. an
-- echo_sleep location), waits for all, reports errors, overhead and the peak
-- RSS (VmHWM) growth per in-flight fetch.
local silk = require("silk")
local F = require("silk.core.fetch")
local json = require("cjson")
local E = require("silk.core.engine")
local fetch, now, resumed_at = F.fetch, F.now, E.resumed_at

local url, conns, secs = arg[1], tonumber(arg[2] or 64), tonumber(arg[3] or 5)
assert(url, "usage: bench.lua URL CONNS SECONDS [burst] [hosts=H] [per_host=P] [rate=R] [requests=N]")
local mode, opt = nil, {}
for i = 4, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(%d+)$")
  if k then opt[k] = tonumber(v) elseif arg[i] == "burst" then mode = "burst"
  else error("bench.lua: unknown argument " .. arg[i]) end
end
local hosts, per_host = opt.hosts or 1, opt.per_host or conns
local urls = {}
for h = 1, hosts do urls[h] = hosts > 1 and assert(url:find("{h}", 1, true), "hosts=H needs {h} in URL")
  and (url:gsub("{h}", tostring(h - 1))) or url end
local function url_of(i) return urls[(i - 1) % hosts + 1] end
F.configure{ max_per_host = per_host, max_total = conns, pool_max = conns }

local function vm(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end

-- utime and stime of this process, in seconds (fields 14 and 15 of
-- /proc/self/stat, counted after the parenthesised command name)
local function cpu()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("*a")
  f:close()
  local fields = {}
  for v in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = v end
  return tonumber(fields[12]) / 100, tonumber(fields[13]) / 100
end

local lat, queue, resume, n, errors, bytes = {}, {}, {}, 0, {}, 0
local max_queued, max_in_flight, connects, sampled_at = 0, 0, 0, 0
local late, fetch_us = {}, {}
local function record(res, err)
  local t, r = now(), resumed_at()
  if t - sampled_at >= 0.1 then   -- stats() lists /proc/self/fd: not on every response
    sampled_at = t
    local st = F.stats()
    max_queued, max_in_flight = math.max(max_queued, st.queued), math.max(max_in_flight, st.in_flight)
  end
  if not res then
    errors[err.kind] = (errors[err.kind] or 0) + 1
    return
  end
  local d = res.timings.done_at
  if res.timings.connect > 0 then connects = connects + 1 end
  n = n + 1
  lat[n], queue[n], resume[n] = t - d, r - d, t - r
  bytes = bytes + res.size
  return true
end

local function pct(sorted, p)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * p))] * 1e6
end

local rss0 = vm("VmRSS")
local user0, sys0 = cpu()
local t0, it0 = now(), E.iteration()
if mode == "burst" then
  silk.scope(function(s)
    for i = 1, conns do s:spawn(function() record(fetch(url_of(i))) end) end
  end)
else
  local stop = opt.requests and math.huge or t0 + secs
  local period = opt.rate and conns / opt.rate
  local function going() return now() < stop and (not opt.requests or n < opt.requests) end
  silk.scope(function(s)
    for i = 1, conns do
      s:spawn(function()
        local u, next_at = url_of(i), period and t0 + period * (i - 1) / conns
        while going() do
          if next_at then
            local wait = next_at - now()
            if wait > 0 then silk.sleep(wait) end
            next_at = math.max(next_at + period, now())
            if not going() then break end
          end
          local t = now()
          if record(fetch(u)) then fetch_us[#fetch_us + 1] = now() - t end
        end
      end)
    end
    -- what the fetch load costs the rest of the engine: a task sleeping
    -- 10 ms at a time wakes this late (timers and the run queue wait for
    -- the loop iteration in progress)
    s:spawn(function()
      while going() do
        local t = now()
        silk.sleep(0.01)
        late[#late + 1] = now() - t - 0.01
      end
    end)
  end)
end
local elapsed, iterations = now() - t0, E.iteration() - it0
local user1, sys1 = cpu()
local function dist(v)
  -- a NaN would make table.sort read past the array (seen once at 10 000
  -- in flight): sort what is a number, and count the rest
  local w, bad = {}, 0
  for i = 1, #v do
    if v[i] == v[i] then w[#w + 1] = v[i] else bad = bad + 1 end
  end
  table.sort(w)
  return { p50 = pct(w, 0.50), p99 = pct(w, 0.99), max = pct(w, 1), nan = bad > 0 and bad or nil }
end
local out = {
  mode = mode or "steady", conns = conns, hosts = hosts, per_host = per_host, rate = opt.rate,
  queued_seen = max_queued, in_flight_seen = max_in_flight, connects = connects, requests = n, seconds = elapsed,
  rps = n / elapsed, mbytes = bytes / 1e6, errors = errors,
  overhead_us = dist(lat), queue_us = dist(queue), resume_us = dist(resume),
  sleep_late_us = dist(late), fetch_us = dist(fetch_us),
  per_iteration = n / math.max(iterations, 1),
  cpu_us_per_request = ((user1 - user0) + (sys1 - sys0)) / math.max(n, 1) * 1e6,
  user_us = (user1 - user0) / math.max(n, 1) * 1e6,
  sys_us = (sys1 - sys0) / math.max(n, 1) * 1e6,
}
if mode == "burst" then
  out.rss_kb_before = rss0
  out.rss_kb_peak = vm("VmHWM")
  out.peak_kb_per_fetch = (out.rss_kb_peak - rss0) / conns
end
print(json.encode(out))
