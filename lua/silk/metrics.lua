--- silk.metrics: the metric registry for Lua, and the collectors run before
-- every exposition (GET /metrics, metrics.render()).
--
--   metrics.describe(name, "counter"|"gauge"|"histogram", help [, buckets])
--   metrics.add(name, v [, labels])      e.g. metrics.add("shop_offers_total", 1, {shop = "a"})
--   metrics.set(name, v [, labels])      metrics.observe(name, v [, labels])
--   metrics.get(name [, labels]) -> number
--   metrics.collector(fn) -> fn          fn() runs before each exposition; it must not wait
--   metrics.remove_collector(fn)
--   metrics.render() -> text             metrics.serve(addr) -> server | nil, err
--
-- The C modules register their own collectors with the registry when their
-- bindings open (core/metrics.h): the fetch layer's counters (silk_fetch_*)
-- and the GC pacer's (silk_gc_*) as they stand at each scrape. Lua modules
-- register theirs here: silk.render's (silk_render_*) and the crawl
-- runner's, which exports the crawl's stats (silk_pages_total{status=},
-- silk_items_total, silk_errors_total{kind=}, silk_bytes_total,
-- silk_retries_total, silk_queued, silk_in_flight) and observes
-- silk_fetch_duration_seconds per response.

local core = require("silk.core.metrics")
-- the pacer runs from the engine's start: its figures belong in the first
-- exposition, so its binding (and collector) is opened with the registry's
require("silk.core.gc")

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

--- Runs every collector (metrics.c calls this before rendering). A failing
-- collector is reported and the others still run.
function metrics.collect()
  local failed
  for _, fn in ipairs(collectors) do
    local ok, err = pcall(fn)
    if not ok then failed = err end
  end
  if failed then error(failed, 0) end
end

return metrics
