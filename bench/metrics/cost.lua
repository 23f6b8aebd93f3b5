-- bench/metrics/cost.lua [SECONDS] [RATE]: what serving /metrics costs a busy loop.
-- Four tasks keep the loop busy (CPU in 2 ms slices); a probe task sleeps 1 ms
-- at a time and records how late each wake-up is. Run once without scrapes
-- and once with an external scraper at RATE/s (bench/metrics/scraper.py);
-- prints lateness p50/p99/max for both and the render time per scrape.
local silk = require("silk")
local metrics = require("silk.metrics")
local seconds = tonumber(arg[1]) or 5
local rate = tonumber(arg[2]) or 100
local dir = arg[0]:match("^(.*)/[^/]*$") or "."

-- a registry the size of a crawl's: 40 families of the runner, some labelled
for i = 1, 40 do metrics.add("bench_family_" .. i .. "_total", i, { kind = "k" .. (i % 5) }) end

local function phase(scrape)
  local srv = assert(metrics.serve("127.0.0.1:0"))
  local stop = false
  local busy = {}
  for i = 1, 4 do
    busy[i] = silk.spawn(function()
      local s = 0
      while not stop do for j = 1, 2e4 do s = s + j % 7 end silk.sleep(0) end
    end)
  end
  local late = {}
  local probe = silk.spawn(function()
    while not stop do
      local t0 = silk.now()
      silk.sleep(0.001)
      late[#late + 1] = silk.now() - t0 - 0.001
    end
  end)
  local out
  if scrape then
    out = os.tmpname()
    os.execute(string.format("python3 %s/scraper.py %d %g %g > %s 2>&1 &", dir, srv:port(), seconds, rate, out))
  end
  local cpu0 = os.clock()
  silk.sleep(seconds + 0.3)
  stop = true
  for _, t in ipairs(busy) do t:join() end
  probe:join()
  local scrapes = metrics.get("silk_metrics_scrapes_total")
  local render = metrics.get("silk_metrics_render_seconds")
  srv:close()
  table.sort(late)
  local function q(p) return late[math.max(1, math.floor(#late * p))] * 1e3 end
  local line = string.format("%-14s wake-ups %5d  lateness p50 %.3f ms  p99 %.3f ms  max %.3f ms  cpu %.2fs",
                             scrape and ("scrapes " .. rate .. "/s") or "no scrapes", #late, q(0.5), q(0.99),
                             late[#late] * 1e3, os.clock() - cpu0)
  print(line)
  if scrape then
    local f = io.open(out)
    print("  scraper: " .. (f and f:read("*a"):gsub("%s+$", "") or "?"))
    if f then f:close() end
    os.remove(out)
    print(string.format("  scrapes served %d, last collect+render %.3f ms", scrapes, render * 1e3))
  end
end

phase(false)
phase(true)
