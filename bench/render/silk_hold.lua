-- bench/render/silk_hold.lua URLS_FILE BASE_URL K [STEP]
-- Opens K page handles (8 being opened at a time), each on the next URL
-- with its products waited for, and holds them all open. Every STEP pages
-- (default 50) it prints one JSON line: pages open, silk's own RSS, the
-- browser tree's PSS (render.stats(true)) and PSS per open page, so that
-- the controller's RSS can be seen to stay flat while the pages pile up.
-- The openers hold their pages until the last report (a page handle is
-- closed when the task that opened it ends).
local silk = require("silk")
local render = require("silk.render")
local file, base, k, step = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4] or 50)
render.configure{ max_busy = k, max_pages = k }
local urls = {}
for line in io.lines(file) do urls[#urls + 1] = base .. line end

local function rss_mb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s*(%d+) kB")
    if v then return tonumber(v) / 1024 end
  end
end

local pages, opened, errors, next_i, finished = {}, 0, 0, 0, false
local t0 = silk.now()
local function report()
  collectgarbage()
  local st = render.stats(true)
  print(require("cjson").encode{ pages = opened, controller_rss_mb = rss_mb(),
    browser_pss_mb = st.browser_pss / 2^20, pss_per_page_mb = st.browser_pss / 2^20 / opened,
    errors = errors, wall_s = silk.now() - t0 })
  io.stdout:flush()
end

local openers = {}
for w = 1, 8 do
  openers[w] = silk.spawn(function()
    while next_i < k do
      next_i = next_i + 1
      local page = assert(silk.page{ timeout = 60 })
      local ok, err = page:goto(urls[(next_i - 1) % #urls + 1], { wait = { selector = ".product" }, timeout = 60 })
      if ok then
        pages[#pages + 1] = page
        opened = opened + 1
        if opened % step == 0 then report() end
      else
        errors = errors + 1
        io.stderr:write(tostring(err), "\n")
        page:close()
      end
    end
    while not finished do silk.sleep(0.2) end
    for _, page in ipairs(pages) do if not page:info().closed then page:close() end end
  end)
end
while next_i < k or opened + errors < k do silk.sleep(0.2) end
silk.sleep(2)
report()
finished = true
for _, t in ipairs(openers) do t:join() end
