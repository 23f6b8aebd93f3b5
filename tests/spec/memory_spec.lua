-- Memory limits (issue 15, items 13 and 14): --max-memory caps the Lua
-- heap (the task that allocates past it fails with a `memory` error, the
-- crawl goes on), an address-space limit (ulimit -v) ends the allocating
-- task the same way instead of crashing the VM, and tasks account for what
-- they allocate.
package.path = "tests/lib/?.lua;" .. package.path
local engine = require("silk.core.engine")
local silk = require("silk")
local cjson = require("cjson")
local servers = require("servers")
local files = require("files")

local silk_bin = engine.exe()
local MB = 1024 * 1024
-- AddressSanitizer reserves terabytes of address space (no ulimit -v) and
-- adds its own memory to RSS: those checks are for ordinary builds.
local asan = (files.read("/proc/self/maps") or ""):find("libasan", 1, true) ~= nil

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- A site of five normal pages and one whose callback builds a huge table.
local site = files.tmpdir()
files.write(site .. "/index.html", [[<html><body><a href="p1.html">1</a><a href="p2.html">2</a>
<a href="big.html">big</a><a href="p3.html">3</a><a href="p4.html">4</a></body></html>]])
for i = 1, 4 do files.write(("%s/p%d.html"):format(site, i), ("<p>page %d</p>"):format(i)) end
files.write(site .. "/big.html", "<p>big</p>")
local web = servers.nginx{ root = site }

-- tostring(i) inside a compiled loop: where a refused allocation would
-- crash LuaJIT under the line-mode profiler (engine.c, lua_alloc).
local spider = os.tmpname() .. ".lua"
files.write(spider, [[
local silk = require("silk")
return silk.spider{
  name = "memory-test",
  start_urls = { os.getenv("START") },
  allowed_domains = { "127.0.0.1" },
  concurrency = 4,
  parse = function(res, crawl)
    if res.url:match("big") then
      local t = {}
      for i = 1, 1e9 do t[i] = { i, tostring(i) } end
    end
    crawl:emit{ url = res.url }
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]])

-- Runs `prefix silk args` in a shell; returns exit status, output and the
-- peak RSS of silk in bytes (the children's ru_maxrss, via python).
local function run(prefix, args)
  local out = os.tmpname()
  local cmd = ("%s START=%s python3 -c %s %s %s > %s 2>&1; echo \"exit:$?\""):format(
    prefix, q(web.url .. "/index.html"),
    q("import resource, subprocess, sys\n" ..
      "rc = subprocess.run(sys.argv[1:]).returncode\n" ..
      "print('maxrss:%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n" ..
      "sys.exit(rc if rc >= 0 else 128 - rc)"),
    q(silk_bin), args, q(out))
  local p = io.popen(cmd)
  local status = tonumber(p:read("*a"):match("exit:(%d+)"))
  p:close()
  local log = files.read(out) or ""
  os.remove(out)
  return status, log, tonumber(log:match("maxrss:(%d+)") or "0") * 1024
end

local function crawl_check(status, log, d)
  assert.equal(0, status, log)
  assert.is_nil(log:find("PANIC", 1, true), log)
  assert.truthy(log:find("callback parse failed on " .. web.url .. "/big.html: memory: task %d+ \"parse\""), log)
  local stats = cjson.decode(files.read(d .. "/stats.json") or "null")
  assert.equal(1, stats.callback_errors)
  assert.equal(6, stats.pages)
  local items = {}
  for line in (files.read(d .. "/items.jsonl") or ""):gmatch("[^\n]+") do items[#items + 1] = cjson.decode(line).url end
  table.sort(items)
  assert.same({ web.url .. "/index.html", web.url .. "/p1.html", web.url .. "/p2.html", web.url .. "/p3.html",
                web.url .. "/p4.html" }, items)
end

describe("--max-memory", function()
  it("fails the callback that allocates past it; the crawl goes on and RSS stays near the cap", function()
    local d = files.tmpdir()
    local status, log, rss = run("", ("run --max-memory 200M %s -o %s --stats %s"):format(
      q(spider), q(d .. "/items.jsonl"), q(d .. "/stats.json")))
    crawl_check(status, log, d)
    assert.truthy(log:find("went past --max-memory (200 MB)", 1, true), log)
    print(("\n[memory] --max-memory 200M: peak RSS %.0f MB"):format(rss / MB))
    -- the heap is stopped within about a millisecond of CPU past the cap;
    -- the rest is the binary, the JIT's code and malloc's slack
    if asan then return end
    assert.is_true(rss < 200 * MB + 160 * MB, ("peak RSS %.0f MB"):format(rss / MB))
  end)

  it("is refused when it is not a size", function()
    local status, log = run("", "eval --max-memory lots /dev/null")
    assert.equal(2, status, log)
    assert.truthy(log:find("--max-memory needs a size", 1, true), log)
  end)

  -- silk eval with the cap, on a script printing what its tasks saw.
  local function eval(cap, source)
    local path = os.tmpname() .. ".lua"
    files.write(path, source)
    local status, log = run("", ("eval --max-memory %s %s"):format(cap, q(path)))
    os.remove(path)
    return status, log
  end

  it("cannot be swallowed by pcall, spares the other tasks, and counts each task's allocation", function()
    local status, log = eval("64M", [[
local silk = require("silk")
local other = silk.spawn{ name = "other", function()
  local n = 0
  for _ = 1, 100 do local x = {} for j = 1, 1000 do x[j] = j end n = n + #x silk.sleep(0.001) end
  return n
end }
local hog = silk.spawn{ name = "hog", function()
  local ok = pcall(function() local t = {} for i = 1, 1e9 do t[#t + 1] = "s" .. i end end)
  silk.sleep(0.01)
  return "survived", ok
end }
local big = silk.spawn{ name = "big", function() return #string.rep("x", 1e9) end }
local seen
local spy = silk.spawn{ name = "spy", function()
  local t = {} for i = 1, 1e5 do t[i] = { i } end
  for _, e in ipairs(silk.tasks()) do if e.name == "spy" then seen = e.allocated end end
  return #t
end }
spy:join()
local ok, err = hog:join()
print("hog", ok, err.kind, err.task, err)
local bok, berr = big:join()
print("big", bok, berr.kind, berr)
print("other", other:join())
print("spy allocated", seen)
print("gc heap limit", require("silk.core.gc").stats().heap_limit)
]])
    assert.equal(0, status, log)
    assert.truthy(log:find("hog\tfalse\tmemory\thog\tmemory: task %d+ \"hog\" went past %-%-max%-memory %(64 MB%)"), log)
    assert.truthy(log:find("big\tfalse\tmemory\tmemory: task %d+ \"big\" went past %-%-max%-memory %(64 MB%): " ..
                           "%d+%.%d MB asked for at once were refused"), log)
    assert.truthy(log:find("other\ttrue\t100000", 1, true), log)
    -- the pacer collects before the cap: its heap limit is 3/4 of it
    assert.equal(48 * MB, tonumber(log:match("gc heap limit\t(%S+)")), log)
    local seen = tonumber(log:match("spy allocated\t(%S+)"))
    assert.is_true(seen > 1e5 * 16 and seen < 64 * MB, log)
  end)
end)

describe("an address-space limit (ulimit -v)", function()
  it("ends the allocating task with a memory error instead of crashing; the crawl goes on", function()
    if asan then return print("\n[memory] skipped under AddressSanitizer") end
    local d = files.tmpdir()
    local status, log = run("ulimit -v 600000;", ("run %s -o %s --stats %s"):format(
      q(spider), q(d .. "/items.jsonl"), q(d .. "/stats.json")))
    crawl_check(status, log, d)
    assert.truthy(log:find("the system refused an allocation", 1, true), log)
  end)
end)

describe("a document's memory", function()
  local html = require("silk.core.html")

  local function rss()
    local f = assert(io.open("/proc/self/status"))
    local s = f:read("*a")
    f:close()
    return tonumber(s:match("VmRSS:%s*(%d+)")) * 1024
  end

  -- mb megabytes of <li><a href> links, the shape of a category page
  local link_page = dofile("tests/lib/linkpage.lua")

  it("stays within 32 x its size + 16 MiB, and goes back to the system when freed", function()
    local page, n = link_page(8)
    local before = rss()
    local doc = assert(html.parse_async(page, "http://example.com/"))
    local mem = doc:memory()
    local parsed = rss()
    print(("\n[memory] %.1f MB link page: document %.1f MB (%.1f x), RSS +%.0f MB"):format(
      #page / MB, mem / MB, mem / #page, (parsed - before) / MB))
    assert.is_true(mem <= 32 * #page + 16 * MB, mem)
    -- gumbo's own share: about 15 x for links; rounding every block to
    -- max_align_t made it 27 x
    assert.is_true(mem < 22 * #page, ("%.1f x"):format(mem / #page))
    assert.equal(n, #doc:select("a[href]"))
    doc:free()
    local freed = rss()
    print(("[memory] after free: RSS %.0f MB above the start"):format((freed - before) / MB))
    assert.is_true(parsed - freed > 0.7 * (mem - 8 * MB), ("kept %.0f MB"):format((freed - before) / MB))
  end)

  it("is too_large past the bound: a flood of tiny elements", function()
    local flood = "<!doctype html><body>" .. ("<p>"):rep(math.floor(2 * MB / 3))
    local doc, err = html.parse(flood)
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
    assert.truthy(tostring(err):find("needs more than %d+ bytes of memory"), tostring(err))
    -- the same bytes of ordinary text parse
    local text = "<!doctype html><body><p>" .. ("Lorem ipsum dolor sit amet. "):rep(math.floor(2 * MB / 28))
    assert.truthy(html.parse(text))
  end)
end)
