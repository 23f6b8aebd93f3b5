-- tests/lib/shop.lua: the generated shop (tests/lib/sitegen.py) on a real nginx,
-- the spider that crawls it, and the check of a crawl's items against the
-- shop's truth (tests/lib/check.py), for the end-to-end specs.
--
--   local shop = require("shop")
--   local site = shop.site{ pages = 300, seed = 7 }
--       -> {dir, web (servers.nginx, access log on), start (URL of the index),
--           truth (path of site.truth.jsonl), check(items_path) -> verdict}
--   shop.spider(extra) -> path of a spider file: START (env) is its start
--       URL, SLEEP (env, optional) seconds each callback waits first; extra
--       is Lua spliced into the spider table ("concurrency = 4,")
local servers = require("servers")
local files = require("files")
local cjson = require("cjson")

local shop = {}

function shop.site(o)
  local dir = files.tmpdir()
  local port = servers.free_port()
  assert(os.execute(("python3 tests/lib/sitegen.py --out %s/site --pages %d --seed %d --quiet --origins http://127.0.0.1:%d"):format(
    dir, o.pages, o.seed, port)) == 0)
  local site = { dir = dir, truth = dir .. "/site.truth.jsonl" }
  site.web = servers.nginx{ root = dir .. "/site", port = port, access_log = true }
  site.start = site.web.url .. "/index.html"
  function site.check(items_path)
    local p = io.popen(("python3 tests/lib/check.py --truth %s --items %s"):format(site.truth, items_path))
    local verdict = cjson.decode(p:read("*a"))
    p:close()
    return verdict
  end
  return site
end

local source = [[
local silk = require("silk")
local pause = tonumber(os.getenv("SLEEP") or "")
return silk.spider{
  name = "shop-test",
  start_urls = { os.getenv("START") },
  allowed_domains = { "127.0.0.1" },
  concurrency = 16,
  %s
  parse = function(res, crawl)
    if pause then silk.sleep(pause) end
    for _, p in ipairs(res:select("div.product")) do
      local t, pr = p:one(".title"), p:one(".price")
      crawl:emit{ url = res.url, title = t and t:text() or "", price = pr and pr:text() or "" }
    end
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]]

function shop.spider(extra)
  local path = os.tmpname() .. ".lua"
  files.write(path, source:format(extra or ""))
  return path
end

return shop
