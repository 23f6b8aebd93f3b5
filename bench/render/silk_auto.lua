-- bench/render/silk_auto.lua URLS_FILE BASE_URL CONCURRENCY auto|all
-- What a crawl does per request (render.crawl_fetch, the function crawl.lua
-- calls): "all" renders every page (render = true), "auto" fetches
-- statically first and renders only pages that look script-filled,
-- learning per path shape to skip the static try (render = "auto"). Every
-- page must come back with its 20 products. Prints one JSON line: pages,
-- products, errors, the render split and silk's own CPU seconds.
local silk = require("silk")
local render = require("silk.render")
local file, base, conc, mode = arg[1], arg[2], tonumber(arg[3]), arg[4]
assert(mode == "auto" or mode == "all", "mode: auto or all")
local urls = {}
for line in io.lines(file) do urls[#urls + 1] = base .. line end
render.configure{ max_busy = math.min(conc, 4), max_pages = math.min(conc, 4) }

local function self_cpu()
  local f = io.open("/proc/self/stat")
  local stat = f:read("*a")
  f:close()
  local fields = {}
  for x in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local run = { stats = {}, spider = {} }
local settings = { render = mode == "auto" and "auto" or true,
                   render_options = { wait = { selector = ".product" }, timeout = 30 } }
local next_i, pages, products, errors = 0, 0, 0, 0
local t0 = silk.now()
local workers = {}
for w = 1, conc do
  workers[w] = silk.spawn(function()
    while true do
      next_i = next_i + 1
      local u = urls[next_i]
      if not u then return end
      local res, err = render.crawl_fetch(run, { url = u }, settings, { url = u, timeout = 30 })
      if res then
        local n = #res:select(".product .name")
        pages = pages + 1
        products = products + n
        if n ~= 20 then io.stderr:write(u, ": ", n, " products\n") end
      else
        errors = errors + 1
        io.stderr:write(tostring(err), "\n")
      end
    end
  end)
end
for _, t in ipairs(workers) do t:join() end
local wall = silk.now() - t0
local st = run.stats.render
print(require("cjson").encode{ mode = mode, pages = pages, products = products, errors = errors,
  wall_s = wall, pages_per_s = pages / wall, controller_cpu_s = self_cpu(),
  rendered = st.rendered, auto_static = st.auto_static, auto_rendered = st.auto_rendered,
  learned_shapes = st.learned_shapes })
