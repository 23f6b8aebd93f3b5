-- The GC A/B workload: TASKS sleeping tasks holding some state (a crawl's
-- parked fetches), WORKERS tasks allocating page-like tables and keeping a
-- sliding window of them (a crawl's parse callbacks). SHAPE "task" builds
-- each page in a task of its own that returns it (the crawl runs each
-- callback in its own task); "inline" builds it in the worker. Prints one line of
-- key=value results; slice_hist and iter_hist are histograms of GC slices
-- and of page builds as le_ns:count pairs (buckets 1/8 of a power of two
-- wide, as the pacer's own).
local mode, ntasks, nworkers, iters, shape = ...
local silk = require("silk")
local gc = require("silk.core.gc")
local ffi = require("ffi")
ffi.cdef [[
struct gcb_tv { long s, us; };
struct gcb_ru { struct gcb_tv u, sy; long maxrss; long pad[13]; };
int getrusage(int who, struct gcb_ru *r);
]]

local function page(i)
  -- about 300 objects, 30 KB: links, a title, an item table
  local links = {}
  for k = 1, 100 do links[k] = { href = "/p/" .. (i * 100 + k), depth = k % 7 } end
  local items = {}
  for k = 1, 50 do items[k] = { name = "item " .. k, price = k * 1.5, tags = { "a", "b" } } end
  return { title = "page " .. i, links = links, items = items }
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local parked, stop = dofile(here .. "parked.lua")(silk, ntasks, function(i) return 0.2 + (i % 10) * 0.01 end)
silk.sleep(0.3)                          -- everyone parked

-- The process's CPU seconds: on a shared machine, pages per CPU second
-- compare the collectors where pages per second also measure the neighbours.
local function cpu_seconds()
  local ru = ffi.new("struct gcb_ru")
  ffi.C.getrusage(0, ru)
  return tonumber(ru.u.s + ru.sy.s) + tonumber(ru.u.us + ru.sy.us) / 1e6
end

local lat = {}
local heap_peak = 0
local t0, c0 = silk.now(), cpu_seconds()
local workers = {}
for w = 1, nworkers do
  workers[w] = silk.spawn(function()
    local window = {}
    for i = 1, iters do
      local s = silk.now()
      if shape == "task" then
        local _, p = silk.spawn(page, i):join()
        window[i % 32 + 1] = p
      else
        window[i % 32 + 1] = page(i)
      end
      lat[#lat + 1] = silk.now() - s
      local kb = collectgarbage("count")
      if kb > heap_peak then heap_peak = kb end
      silk.sleep(0)
    end
  end)
end
for _, t in ipairs(workers) do t:join() end
local wall, cpu = silk.now() - t0, cpu_seconds() - c0
stop()
for _, t in ipairs(parked) do t:join() end

table.sort(lat)
local function q(p) return lat[math.max(1, math.ceil(p * #lat))] * 1e3 end
local ru = ffi.new("struct gcb_ru")
ffi.C.getrusage(0, ru)
local out = {
  ("mode=%s tasks=%d shape=%s"):format(mode, ntasks, shape),
  ("pages_per_s=%.0f pages_per_cpu_s=%.0f"):format(nworkers * iters / wall, nworkers * iters / cpu),
  ("iter_p50=%.3f iter_p99=%.3f iter_p999=%.3f iter_max=%.3f"):format(q(0.5), q(0.99), q(0.999), lat[#lat] * 1e3),
  ("heap_peak_mb=%.1f maxrss_mb=%.1f"):format(heap_peak / 1024, tonumber(ru.maxrss) / 1024),
}
-- Page builds (GC work included when LuaJIT's own collector runs inside
-- allocations) in the pacer's bucket scheme: 8 buckets per power of two.
local function hist_string(pairs_)
  local out = {}
  for _, b in ipairs(pairs_) do out[#out + 1] = ("%d:%d"):format(b[1], b[2]) end
  return table.concat(out, ",")
end
local ib, order = {}, {}
for _, v in ipairs(lat) do
  local ns = math.max(1, v * 1e9)
  local oct = math.floor(math.log(ns) / math.log(2))
  local le = math.floor(2 ^ oct * (1 + (math.floor((ns / 2 ^ oct - 1) * 8) + 1) / 8))
  if not ib[le] then ib[le] = 0; order[#order + 1] = le end
  ib[le] = ib[le] + 1
end
table.sort(order)
local ih = {}
for i, le in ipairs(order) do ih[i] = { le, ib[le] } end
out[#out + 1] = "iter_hist=" .. hist_string(ih)
local s = gc.stats()
if s then
  out[#out + 1] = "slice_hist=" .. hist_string(gc.histogram())
  out[#out + 1] = ("gc_p50=%.3f gc_p99=%.3f gc_p999=%.3f gc_max=%.3f gc_p99_cpu=%.3f gc_p999_cpu=%.3f gc_max_cpu=%.3f slices=%d over=%d over_cpu=%d cycles=%d emerg=%d gc_cpu=%.1f"):format(
    s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms, s.p99_cpu_ms, s.p999_cpu_ms, s.max_cpu_ms, s.slices, s.over_budget, s.over_budget_cpu,
    s.cycles, s.emergencies, s.cpu_share * 100)
  -- the collector's CPU time per 1000 pages: its cost, free of the neighbours' share of the machine
  out[#out + 1] = ("gc_cpu_ms_per_kpage=%.2f"):format(s.total_cpu_ms / (nworkers * iters) * 1000)
end
print(table.concat(out, " "))
