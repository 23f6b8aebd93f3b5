-- The editor stubs (lua/silk/types/) against the real modules: every
-- function a stub declares exists on the object it describes, and every
-- field of silk.spider_def is a setting or field silk.spider accepts, so a
-- renamed or removed function or setting fails here. lua-language-server
-- is in neither Debian 12 nor npm, so this stands in for `--check`.
-- What the real objects have and the stubs lack is printed, not failed:
-- an API added elsewhere reaches the stubs in its own change.
local silk = require("silk")
local testing = require("silk.testing")
local files = require("tests.lib.files")

local dir = require("silk.core.engine").lua_dir() .. "/silk/types"

-- The real object each stub variable describes.
local function real_objects()
  local doc = silk.html("<p>x</p>")
  local objects = {
    silk = silk, url = silk.url, robots_module = silk.robots, testing = testing,
    response = testing.response{ url = "http://x.test/" },
    document = doc, node = doc:one("p"), tree = doc,
    crawl = require("silk.crawl").Crawl, testcrawl = testing.crawl(),
    page = require("silk.render").Page,
    task = silk.current(), channel = silk.channel(), robots = silk.robots.parse(""),
  }
  silk.scope(function(sc) objects.scope = sc end)
  return objects
end

-- { {var=, name=, file=, line=} } of `function var.name(` / `function var:name(`.
local function declared()
  local out = {}
  for _, file in ipairs{ "silk.lua", "silk/testing.lua" } do
    local n = 0
    for line in files.read(dir .. "/" .. file):gmatch("[^\n]*") do
      n = n + 1
      local var, name = line:match("^function ([%w_]+)[.:]([%w_]+)%(")
      if var then out[#out + 1] = { var = var, name = name, file = file, line = n } end
    end
  end
  return out
end

local function report_lacking()
  local objects, have = real_objects(), {}
  for _, d in ipairs(declared()) do
    have[d.var .. "." .. d.name] = true
    if d.var == "tree" then have["document." .. d.name], have["node." .. d.name] = true, true end
  end
  local lacking = {}
  for _, var in ipairs{ "silk", "url", "response", "document", "node", "crawl", "testing", "testcrawl" } do
    local obj = objects[var]
    local mt = getmetatable(obj)
    local methods = (var == "crawl" or var == "silk" or var == "url" or var == "testing") and obj
                    or (mt and type(mt.__index) == "table" and mt.__index) or {}
    for k, v in pairs(methods) do
      if type(v) == "function" and type(k) == "string" and k:sub(1, 1) ~= "_" and not have[var .. "." .. k] then
        lacking[#lacking + 1] = var .. "." .. k
      end
    end
  end
  table.sort(lacking)
  if #lacking > 0 then print("\ntypes: no stub for " .. table.concat(lacking, ", ")) end
end

describe("the type stubs", function()
  it("declare only functions the real objects have", function()
    local objects, missing = real_objects(), {}
    local decl = declared()
    assert.is_true(#decl >= 70, "too few declarations found: " .. #decl)
    for _, d in ipairs(decl) do
      local obj = objects[d.var]
      assert.truthy(obj, ("%s:%d: no real object known for '%s'"):format(d.file, d.line, d.var))
      -- what documents and nodes share must be on both
      if type(obj[d.name]) ~= "function" or (d.var == "tree" and type(objects.node[d.name]) ~= "function") then
        missing[#missing + 1] = ("%s:%d: %s.%s does not exist"):format(d.file, d.line, d.var, d.name)
      end
    end
    assert.same({}, missing)
    report_lacking()
  end)

  it("declare only spider fields that silk.spider accepts", function()
    local settings = require("silk.spider").settings
    local reserved = { name = true, start_urls = true, start_requests = true, sitemap_urls = true,
                       parse = true, errback = true, pipelines = true, on_request = true,
                       on_response = true, on_error = true, blocked = true, needs_render = true }
    local text = files.read(dir .. "/silk.lua")
    local block = text:match("%-%-%-@class silk%.spider_def\n(.-)\n\n")
    local declared_fields, wrong = {}, {}
    for name in block:gmatch("%-%-%-@field ([%w_]+)") do
      declared_fields[name] = true
      if not settings[name] and not reserved[name] then wrong[#wrong + 1] = name end
    end
    assert.same({}, wrong)
    -- and a setting the stubs lack is reported
    local lacking = {}
    for name in pairs(settings) do
      if not declared_fields[name] then lacking[#lacking + 1] = name end
    end
    table.sort(lacking)
    if #lacking > 0 then print("\ntypes: silk.spider_def lacks the settings " .. table.concat(lacking, ", ")) end
  end)

  it("are the files a .luarc.json of `silk new` names", function()
    assert.matches("^%-%-%-@meta silk\n", files.read(dir .. "/silk.lua"))
    assert.matches("^%-%-%-@meta silk%.testing\n", files.read(dir .. "/silk/testing.lua"))
  end)
end)
