-- bench/render/silk_pss.lua URLS_FILE BASE_URL K: opens K page handles on
-- the first URLs (held open, products waited for), then prints the PSS of
-- the browser's process tree (its process group) and silk's own RSS, as
-- one JSON line.
local silk = require("silk")
local render = require("silk.render")
local file, base, k = arg[1], arg[2], tonumber(arg[3])
render.configure{ max_busy = k, max_pages = k }
local urls = {}
for line in io.lines(file) do urls[#urls + 1] = base .. line end

-- kB of `field` in a /proc file ("Pss", "VmRSS"), 0 when it is gone
local function kb(path, field)
  local ok, lines = pcall(io.lines, path)
  if not ok then return 0 end
  for line in lines do
    local v = line:match("^" .. field .. ":%s*(%d+) kB")
    if v then return tonumber(v) end
  end
  return 0
end

local pages = {}
local tasks = {}
for i = 1, k do
  tasks[i] = silk.spawn(function()
    local page = assert(silk.page())
    assert(page:goto(urls[(i - 1) % #urls + 1], { wait = { selector = ".product" } }))
    pages[i] = page
  end)
end
for _, t in ipairs(tasks) do t:join() end
silk.sleep(1)
local pgid = render.stats().browser_pid
local pss, procs = 0, 0
local p = io.popen("ps -eo pid=,pgid=")
for line in p:lines() do
  local pid, g = line:match("(%d+)%s+(%d+)")
  if tonumber(g) == pgid then
    pss = pss + kb("/proc/" .. pid .. "/smaps_rollup", "Pss")
    procs = procs + 1
  end
end
p:close()
local self_rss = kb("/proc/self/status", "VmRSS")
for _, page in ipairs(pages) do page:close() end
print(require("cjson").encode{ pages = k, browser_pss_mb = pss / 1024, pss_per_page_mb = pss / 1024 / k,
  processes = procs, controller_rss_mb = self_rss / 1024 })
