-- bench/render/silk_render.lua URLS_FILE BASE_URL CONCURRENCY [block] [browsers=N]
-- Renders every URL with silk.render from CONCURRENCY tasks sharing one
-- browser, or N, under the pool's own cap on busy tabs (max_busy, 2 x
-- cores by default: more tabs at once add latency, not pages/s, and a
-- task over the cap waits its turn), waits for the products, counts them with res:select, and prints one JSON line: pages,
-- products, errors and the CPU seconds of silk's own process (the
-- controller, without the browsers), and of those its parse threads' (the
-- rendered HTML parsed for res:select; puppeteer counts in the page).
local silk = require("silk")
local render = require("silk.render")
local file, base, conc = arg[1], arg[2], tonumber(arg[3])
local block, browsers = false, 1
for i = 4, #arg do
  if arg[i] == "block" then block = true end
  browsers = tonumber(arg[i]:match("^browsers=(%d+)$")) or browsers
end
local urls = {}
for line in io.lines(file) do urls[#urls + 1] = base .. line end
render.configure{ max_pages = conc, browsers = browsers }

-- CPU seconds (utime + stime) of a /proc stat file, and its comm
local function stat_cpu(path)
  local f = io.open(path)
  if not f then return 0, "" end
  local stat = f:read("*a")
  f:close()
  local comm, rest = stat:match("%((.*)%) (.*)")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100, comm
end

-- the parse threads' share (the gumbo parse res:select needs), by comm
local function parse_cpu()
  local pid = io.open("/proc/self/stat"):read("*a"):match("^%d+")
  local sum = 0
  local ls = io.popen("ls /proc/" .. pid .. "/task")
  for tid in ls:lines() do
    local cpu, comm = stat_cpu("/proc/" .. pid .. "/task/" .. tid .. "/stat")
    if comm == "silk-parse" then sum = sum + cpu end
  end
  ls:close()
  return sum
end

local opts = { wait = { selector = ".product" }, timeout = 30,
               block = block and { "image", "stylesheet", "font", "media" } or nil }
local next_i, pages, products, errors = 0, 0, 0, 0
local workers = {}
for w = 1, conc do
  workers[w] = silk.spawn(function()
    while true do
      next_i = next_i + 1
      local u = urls[next_i]
      if not u then return end
      local res, err = silk.render(u, opts)
      if res then
        -- select may wait (a parse on a worker thread): count after it, not
        -- `products = products + #res:select(...)`, which would add to a
        -- total read before other tasks updated it
        local n = #res:select(".product .name")
        pages = pages + 1
        products = products + n
      else
        errors = errors + 1
        io.stderr:write(tostring(err), "\n")
      end
    end
  end)
end
for _, t in ipairs(workers) do t:join() end
local st = render.stats()
print(require("cjson").encode{ pages = pages, products = products, errors = errors,
  controller_cpu_s = (stat_cpu("/proc/self/stat")), parse_cpu_s = parse_cpu(), messages = st.messages_sent + st.messages_received,
  tabs_created = st.created })
