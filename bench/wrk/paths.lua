-- wrk script: cycle through every page path of the bench site (the fetch ceiling).
--   WRK_PATHS=FILE wrk -t2 -c64 -d5s -s bench/wrk/paths.lua http://127.0.0.1:PORT
-- FILE: one URL path a line (bench/run writes it from the site's truth file).
-- Each wrk thread starts at a different offset so threads do not fetch in lockstep.
local paths = {}
local f = assert(io.open(os.getenv("WRK_PATHS") or "paths.txt"))
for line in f:lines() do
  if #line > 0 then paths[#paths + 1] = line end
end
f:close()
local counter = 0
local threads_seen = 0

function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("offset", threads_seen * 7919)
end

function init(args)
  counter = (offset or 0) % #paths
end

function request()
  counter = counter + 1
  if counter > #paths then counter = 1 end
  return wrk.format("GET", paths[counter])
end

function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"seconds":%.4f,"errors":%d,"non2xx":%d,'
    .. '"bytes":%d,"lat_p50_us":%d,"lat_p99_us":%d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.bytes, latency:percentile(50), latency:percentile(99)))
end
