--- silk.metrics: the metric registry for Lua, and the collectors run before
-- every exposition (GET /metrics, metrics.render()).
--
--   metrics.describe(name, "counter"|"gauge"|"histogram", help [, buckets])
--   metrics.add(name, v [, labels])      e.g. metrics.add("silk_pages_total", 1, {status = 200})
--   metrics.set(name, v [, labels])      metrics.observe(name, v [, labels])
--   metrics.get(name [, labels]) -> number
--   metrics.collector(fn) -> fn          fn() runs before each exposition; it must not wait
--   metrics.remove_collector(fn)
--   metrics.render() -> text             metrics.serve(addr) -> server | nil, err
--
-- The crawl runner registers its families here, for example
--   silk_pages_total{status=}, silk_items_total, silk_errors_total{kind=},
--   silk_bytes_total, silk_retries_total, silk_fetch_duration_seconds (histogram,
--   described below: observe res.timings.total per response), silk_queued,
--   silk_in_flight; the collectors below export the GC pacer (silk_gc_*) and
--   the fetch layer's own counters (silk_fetch_*) as they stand at each scrape.

local core = require("silk.core.metrics")

local metrics = {
  describe = core.describe, add = core.add, set = core.set, observe = core.observe,
  get = core.get, labels = core.labels, render = core.render, serve = core.serve,
  reset = core.reset,
}

local collectors = {}

function metrics.collector(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'collector' (function expected, got " .. type(fn) .. ")", 2)
  end
  collectors[#collectors + 1] = fn
  return fn
end

function metrics.remove_collector(fn)
  for i = #collectors, 1, -1 do
    if collectors[i] == fn then table.remove(collectors, i) end
  end
end

local described = false
local function describe_builtin()
  if described then return end
  described = true
  local d = core.describe
  d("silk_gc_pause_seconds", "gauge", "GC slice pause quantiles (quantile=1 is the max ever).")
  d("silk_gc_slices_total", "counter", "GC slices run.")
  d("silk_gc_cycles_total", "counter", "GC cycles completed.")
  d("silk_gc_emergencies_total", "counter", "Full collections forced by the heap limit.")
  d("silk_gc_over_budget_total", "counter", "GC slices longer than the budget.")
  d("silk_gc_seconds_total", "counter", "Time spent in GC slices.")
  d("silk_gc_heap_bytes", "gauge", "Lua heap as the GC pacer sees it.")
  d("silk_gc_cpu_share", "gauge", "Share of wall time spent in GC slices.")
  d("silk_fetch_transfers", "gauge", "Fetch transfers by state.")
  d("silk_fetch_requests_total", "counter", "Fetch transfers by outcome.")
  d("silk_fetch_errors_total", "counter", "Fetch failures by kind.")
  d("silk_fetch_duration_seconds", "histogram", "Fetch duration (observed by the crawl runner).")
end

local function collect_gc()
  local ok, gc = pcall(require, "silk.core.gc")
  if not ok or type(gc) ~= "table" or not gc.stats then return end
  if gc.enabled and not gc.enabled() then return end
  local s = gc.stats()
  local set = core.set
  set("silk_gc_pause_seconds", (s.p50_ms or 0) / 1e3, 'quantile="0.5"')
  set("silk_gc_pause_seconds", (s.p99_ms or 0) / 1e3, 'quantile="0.99"')
  set("silk_gc_pause_seconds", (s.p999_ms or 0) / 1e3, 'quantile="0.999"')
  set("silk_gc_pause_seconds", (s.max_ms or 0) / 1e3, 'quantile="1"')
  set("silk_gc_slices_total", s.slices or 0)
  set("silk_gc_cycles_total", s.cycles or 0)
  set("silk_gc_emergencies_total", s.emergencies or 0)
  set("silk_gc_over_budget_total", s.over_budget or 0)
  set("silk_gc_seconds_total", (s.total_ms or 0) / 1e3)
  set("silk_gc_heap_bytes", s.heap or 0)
  set("silk_gc_cpu_share", s.cpu_share or 0)
end

local function collect_fetch()
  local fetch = package.loaded["silk.core.fetch"]
  if not fetch or not fetch.stats then return end
  local s = fetch.stats()
  local set = core.set
  for _, k in ipairs{ "queued", "active", "backoff" } do
    set("silk_fetch_transfers", s[k] or 0, 'state="' .. k .. '"')
  end
  for _, k in ipairs{ "started", "completed", "cancelled", "retried", "redirected" } do
    set("silk_fetch_requests_total", s[k] or 0, 'outcome="' .. k .. '"')
  end
  for kind, n in pairs(s.by_kind or {}) do
    if kind ~= "ok" then set("silk_fetch_errors_total", n, 'kind="' .. kind .. '"') end
  end
end

--- Runs every collector (metrics.c calls this before rendering). A failing
-- collector is reported and the others still run.
function metrics.collect()
  describe_builtin()
  local failed
  for _, fn in ipairs{ collect_gc, collect_fetch } do
    local ok, err = pcall(fn)
    if not ok then failed = err end
  end
  for _, fn in ipairs(collectors) do
    local ok, err = pcall(fn)
    if not ok then failed = err end
  end
  if failed then error(failed, 0) end
end

return metrics
