-- silk.sinks: exact values in every format, refused items, checked writes.
package.path = "tests/lib/?.lua;" .. package.path
local sinks = require("silk.sinks")
local cjson = require("cjson")
local files = require("files")
local engine = require("silk.core.engine")

local function lines(path)
  local out = {}
  for l in (files.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- values whose text is easy to get wrong
local VALUES = { 123456789012345, 2 ^ 53, -2 ^ 53, 0.1, 1 / 3, 5e-324, 1.2345678901234567e-300,
                 1e300, 2 ^ 60, 99.99, -0.5 }

local function write_all(path, opts)
  local s = sinks.open(path, opts)
  for i, v in ipairs(VALUES) do assert(s:write({ i = i, v = v, t = { v } })) end
  assert(s:close())
end

describe("sinks write numbers exactly", function()
  it("in JSON Lines", function()
    local path = files.tmpdir() .. "/i.jsonl"
    write_all(path)
    local got = lines(path)
    assert.equal(#VALUES, #got)
    for _, l in ipairs(got) do
      local item = cjson.decode(l)
      assert.equal(VALUES[item.i], item.v, l)
      assert.equal(VALUES[item.i], item.t[1], l)
    end
    assert.matches('"v":123456789012345[,}]', got[1])
  end)

  it("in CSV", function()
    local path = files.tmpdir() .. "/i.csv"
    write_all(path, { fields = { "i", "v", "t" } })
    local got = lines(path)
    assert.equal("i,v,t", got[1])
    assert.equal('1,123456789012345,[123456789012345]', got[2])
    for n = 2, #got do
      local i, v = got[n]:match("^(%d+),([^,]+),")
      assert.equal(VALUES[tonumber(i)], tonumber(v), got[n])
    end
  end)

  it("in SQLite: integers as INTEGER, floats as REAL, both exact", function()
    local path = files.tmpdir() .. "/i.sqlite"
    write_all(path)
    local db = assert(require("silk.core.sqlite").open(path))
    local st = assert(db:prepare("SELECT i, v, typeof(v), t FROM items ORDER BY i"))
    local n = 0
    while st:step() do
      local row = { st:row() }
      n = n + 1
      local want = VALUES[row[1]]
      assert.equal(want, row[2], tostring(row[1]))
      local int = want == math.floor(want) and math.abs(want) <= 2 ^ 53
      assert.equal(int and "integer" or "real", row[3], tostring(want))
      assert.equal(want, cjson.decode(row[4])[1])
    end
    db:close()
    assert.equal(#VALUES, n)
  end)
end)

describe("sinks refuse an item they cannot write", function()
  for _, ext in ipairs{ "jsonl", "csv", "sqlite" } do
    it("in ." .. ext .. ", naming the field, and keep the others", function()
      local path = files.tmpdir() .. "/i." .. ext
      local s = sinks.open(path, { fields = { "a", "b" } })
      assert.is_true(s:write({ a = 1, b = "x" }))
      local ok, err = s:write({ a = 2, b = "bad \255 bytes" })
      assert.is_nil(ok)
      assert.matches("^item%.b: the string is not valid UTF%-8", err)
      ok, err = s:write({ a = 3, b = { f = print } })
      assert.is_nil(ok)
      assert.matches("^item%.b%.f: function", err)
      assert.is_true(s:write({ a = 4, b = "y" }))
      assert.is_true(s:close())
      if ext == "jsonl" then
        local got = lines(path)
        assert.equal(2, #got)
        assert.same({ a = 1, b = "x" }, cjson.decode(got[1]))
        assert.same({ a = 4, b = "y" }, cjson.decode(got[2]))
      elseif ext == "csv" then
        assert.same({ "a,b", "1,x", "4,y" }, lines(path))
      end
    end)
  end
end)

describe("sinks reopen what they wrote", function()
  it("a .json array: cut back to a position, then closed again, every item once", function()
    local path = files.tmpdir() .. "/i.json"
    local s = sinks.open(path)
    for i = 1, 3 do assert(s:write({ i = i })) end
    local pos = assert(s:flush(true))
    assert(s:write({ i = 4 }))
    assert(s:flush(true))
    s.f:close()                                   -- as a kill leaves it: no "]"
    assert.has_error(function() cjson.decode(files.read(path)) end)
    s = sinks.open(path, { resume_at = pos })
    assert(s:write({ i = 5 }))
    assert(s:close())
    assert.same({ { i = 1 }, { i = 2 }, { i = 3 }, { i = 5 } }, cjson.decode(files.read(path)))
  end)

  it("a CSV: the columns of its header, whatever `fields` the first new item has", function()
    local path = files.tmpdir() .. "/i.csv"
    local s = sinks.open(path)
    assert(s:write({ b = 1, a = 2 }))
    assert(s:close())
    s = sinks.open(path)
    assert(s:write({ a = 3, b = 4 }))
    assert(s:close())
    assert.same({ "a,b", "2,1", "3,4" }, lines(path))
    assert.has_error(function() sinks.open(path, { fields = { "b", "a" } }) end,
      "cannot add items to " .. path .. ": its columns are a,b, but the spider's fields are b,a: "
      .. "replace it with -O / --overwrite, or write elsewhere")
    s = sinks.open(path, { fields = { "b", "a" }, overwrite = true })
    assert(s:write({ a = 5, b = 6 }))
    assert(s:close())
    assert.same({ "b,a", "6,5" }, lines(path))
  end)

  it("JSON Lines and .json: the field order of the file's first item goes on", function()
    for _, ext in ipairs{ "jsonl", "json" } do
      local path = files.tmpdir() .. "/i." .. ext
      local s = sinks.open(path, { fields = { "b", "a" } })
      assert(s:write({ a = 1, b = 2 }))
      assert(s:close())
      s = sinks.open(path)
      assert(s:write({ a = 3, b = 4, c = 5 }))
      assert(s:close())
      local text = files.read(path)
      assert.matches('{"b":2,"a":1}.*{"b":4,"a":3,"c":5}', text)
    end
  end)

  it("JSON Lines: refuses to add to a file whose last line is cut, naming -O", function()
    local path = files.tmpdir() .. "/i.jsonl"
    files.write(path, '{"a":1}\n{"a":')
    assert.has_error(function() sinks.open(path) end, "cannot add items to " .. path
      .. ": its last line is cut short (a crawl killed without --jobdir?): repair it, or replace it with -O / --overwrite")
  end)

  it("SQLite: resumes by rowid, right in a table added to after rows were deleted", function()
    local path = files.tmpdir() .. "/i.sqlite"
    local s = sinks.open(path)
    for i = 1, 10 do assert(s:write({ i = i })) end
    assert(s:close())
    files.sqlite(path, "DELETE FROM items WHERE i <= 5")
    s = sinks.open(path)
    assert(s:write({ i = 11 }))
    local pos = assert(s:flush())
    assert(s:write({ i = 12 }))
    assert(s:close())
    s = sinks.open(path, { resume_at = pos })
    assert(s:close())
    assert.equal("6,7,8,9,10,11\n", files.sqlite(path, "SELECT group_concat(i) FROM items"))
  end)

  it("several outputs: one position each, refused when the count differs", function()
    local d = files.tmpdir()
    local s = sinks.open({ d .. "/a.jsonl", { path = d .. "/b.json", overwrite = true } })
    assert(s:write({ a = 1 }))
    local pos = assert(s:flush(true))
    assert.matches("^%d+ %d+$", pos)
    assert(s:close())
    assert.equal(1, s.written)
    assert.has_error(function() sinks.open({ d .. "/a.jsonl" }, { resume_at = pos }) end)
    s = sinks.open({ d .. "/a.jsonl", d .. "/b.json" }, { resume_at = pos })
    assert(s:close())
    assert.same({ { a = 1 } }, cjson.decode(files.read(d .. "/b.json")))
    assert.equal('{"a":1}\n', files.read(d .. "/a.jsonl"))
  end)
end)

-- `silk run` against a small site: 20 pages linked from an index, each
-- emitting ITEMS items with ids page * 1000 + i.
local servers = require("servers")
local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")
local PAGES, ITEMS = 20, 200

local site = files.pages(PAGES)

local function spider(body)
  local path = os.tmpname() .. ".lua"
  files.write(path, ([[
local silk = require("silk")
return silk.spider{
  name = "items", start_urls = { os.getenv("START") }, obey_robots = false, concurrency = 4,
  parse = function(res, crawl)
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
    local p = tonumber(res.url:match("p(%%d+)%%.html$") or "0")
%s
  end,
}
]]):format(body))
  return path
end

-- silk run in a subprocess (prefix: shell commands before it, e.g. a
-- file-size limit); returns exit status and combined output.
local function run(web, args, prefix)
  local p = io.popen(("cd %s && %s START=%s/index.html %s run %s 2>&1; echo \"exit:$?\""):format(
    root, prefix and ("trap '' XFSZ; " .. prefix .. ";") or "", web.url, silk_bin, args))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), out
end

-- ids in the file; fails on a torn line
local function ids(path)
  local out = {}
  for _, l in ipairs(lines(path)) do out[#out + 1] = cjson.decode(l).id end
  return out
end

local function exactly_once(path, pages, per_page)
  local seen, n = {}, 0
  for _, id in ipairs(ids(path)) do
    assert.is_nil(seen[id], "twice: " .. id)
    seen[id] = true
    n = n + 1
  end
  assert.equal(pages * per_page, n)
end

describe("silk run and bad items", function()
  local web = servers.nginx{ root = site }
  teardown(function() web:stop() end)

  it("refuses each bad item, naming field, type, URL and line, and keeps the page's others", function()
    local sp = spider([[
    crawl:emit{ id = p * 1000 + 1 }
    assert(crawl:emit{ id = p * 1000 + 2, price = function() end } == false)
    crawl:emit{ id = p * 1000 + 3, score = 0 / 0 }
    local t = {}; t.t = t
    crawl:emit{ id = p * 1000 + 4, loop = t }
    crawl:emit{ id = p * 1000 + 5, [true] = "x" }
    crawl:emit{ id = p * 1000 + 6, title = res:one("p, a") }
    crawl:emit{ id = p * 1000 + 7, body = "\255" }
    crawl:emit{ id = p * 1000 + 8, n = 123456789012345 }]])
    local d = files.tmpdir()
    local status, log = run(web, ("%s -o %s/i.jsonl --stats %s/s.json"):format(sp, d, d))
    assert.equal(0, status, log)
    local got = {}
    for _, l in ipairs(lines(d .. "/i.jsonl")) do
      local item = cjson.decode(l)
      got[#got + 1] = item.id % 1000
      if item.n then assert.matches('"n":123456789012345', l) end
    end
    table.sort(got)
    local want = {}
    for _ = 0, PAGES do want[#want + 1] = 1; want[#want + 1] = 8 end
    table.sort(want)
    assert.same(want, got)
    local st = cjson.decode(files.read(d .. "/s.json"))
    assert.equal(6 * (PAGES + 1), st.items_refused)
    assert.equal(2 * (PAGES + 1), st.items)
    assert.equal(0, st.callback_errors)
    for _, pat in ipairs{ "item%.price: function", "item%.score: nan", "item%.loop%.t: a table that contains itself",
                          "item: a boolean key", "item%.title: silk%.html%.node",
                          "item%.body: the string is not valid UTF%-8" } do
      assert.matches("silk: item refused on http://127%.0%.0%.1:%d+/p%d+%.html %(" .. sp:gsub("%p", "%%%0")
                     .. ":%d+%): " .. pat, log)
    end
  end)

  it("refuses what a pipeline returns when it cannot be written", function()
    local path = os.tmpname() .. ".lua"
    files.write(path, [[
      return require("silk").spider{
        name = "pipe", start_urls = { os.getenv("START") }, obey_robots = false, max_pages = 1,
        pipelines = { function(item) if item.i == 2 then item.f = print end return item end },
        parse = function(res, crawl) for i = 1, 3 do crawl:emit{ i = i } end end,
      }]])
    local d = files.tmpdir()
    local status, log = run(web, ("%s -o %s/i.jsonl --stats %s/s.json"):format(path, d, d))
    assert.equal(0, status, log)
    assert.equal(2, #lines(d .. "/i.jsonl"))
    assert.matches("item refused on http://%S+ %(after the pipelines%): item%.f: function", log)
    assert.equal(1, cjson.decode(files.read(d .. "/s.json")).items_refused)
  end)
end)

describe("silk run when the output cannot be written", function()
  local web = servers.nginx{ root = site }
  teardown(function() web:stop() end)
  local sp = spider(([[
    for i = 1, %d do crawl:emit{ id = p * 1000 + i, pad = ("x"):rep(100) } end]]):format(ITEMS))

  it("exits 5 with the reason when the device is full (-o to /dev/full)", function()
    local d = files.tmpdir()
    os.execute(("ln -s /dev/full %s/i.jsonl"):format(d))
    local status, log = run(web, ("%s -o %s/i.jsonl"):format(sp, d))
    assert.equal(5, status, log)
    assert.matches("silk run: output failed: cannot write items to " .. d:gsub("%p", "%%%0")
                   .. "/i%.jsonl: No space left on device", log)
    assert.matches("crawl finished %(output failed%)", log)
  end)

  it("stops at a file-size limit without a torn line, and resumes every item exactly once", function()
    local d = files.tmpdir()
    local args = ("%s -o %s/i.jsonl --jobdir %s/job"):format(sp, d, d)
    -- 100 KB of the ~500 KB of items: the first run fails part way
    local status, log = run(web, args, "ulimit -f 200")
    assert.equal(5, status, log)
    assert.matches("cannot write items to %S+/i%.jsonl: File too large", log)
    assert.matches("run again with %-%-jobdir", log)
    assert.equal("\n", files.read(d .. "/i.jsonl"):sub(-1))
    ids(d .. "/i.jsonl")                                      -- every line whole
    -- a resume on the still-full disk cuts back to the checkpoint without
    -- losing what it recorded, and fails again
    status, log = run(web, args, "ulimit -f 200")
    assert.equal(5, status, log)
    status, log = run(web, args)
    assert.equal(0, status, log)
    exactly_once(d .. "/i.jsonl", PAGES + 1, ITEMS)
  end)

  it("exits 5 when the jobdir cannot be written, and a resume then finishes", function()
    local d = files.tmpdir()
    os.execute(("ln -s /dev/null %s/i.jsonl"):format(d))   -- only the jobdir grows
    local args = ("%s -o %s/i.jsonl --jobdir %s/job -s concurrency=1 -s delay=0.01 -s checkpoint_interval=0.01"):format(sp, d, d)
    local status, log = run(web, args, "ulimit -f 120")
    assert.equal(5, status, log)
    assert.matches("silk run: output failed: cannot checkpoint the crawl: %S+frontier%.sqlite: COMMIT: ", log)
    status, log = run(web, args)
    assert.equal(0, status, log)
    assert.matches("crawl finished %(finished%)", log)
  end)

  it("refuses to resume into an items file shorter than the jobdir recorded", function()
    local d = files.tmpdir()
    local args = ("%s -o %s/i.jsonl --jobdir %s/job"):format(sp, d, d)
    local status, log = run(web, args)
    assert.equal(0, status, log)
    local size = #files.read(d .. "/i.jsonl")
    os.execute(("truncate -s %d %s/i.jsonl"):format(size - 100, d))
    status, log = run(web, args)
    assert.equal(2, status, log)
    assert.matches(("cannot resume: %%S+/i%%.jsonl has %d bytes, but the jobdir recorded %d bytes"):format(
      size - 100, size), log)

    args = ("%s -o %s/i.sqlite --jobdir %s/job2"):format(sp, d, d)
    status, log = run(web, args)
    assert.equal(0, status, log)
    files.sqlite(d .. "/i.sqlite", "DELETE FROM items WHERE rowid > 10")
    status, log = run(web, args)
    assert.equal(2, status, log)
    assert.matches("cannot resume: %S+/i%.sqlite has 10 items, but the jobdir recorded 4200", log)
  end)

  it("on a full filesystem (a 64 KB tmpfs) exits 5, and resumes exactly once when space is freed", function()
    local d = files.tmpdir()
    local mnt = d .. "/small"
    os.execute("mkdir -p " .. mnt)
    if os.execute(("mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null"):format(mnt)) ~= 0 then
      pending("mounting a tmpfs needs root")
      return
    end
    finally(function() os.execute("umount " .. mnt) end)
    local args = ("%s -o %s/i.jsonl --jobdir %s/job"):format(sp, mnt, d)
    local status, log = run(web, args)
    assert.equal(5, status, log)
    assert.matches("cannot write items to %S+/i%.jsonl: No space left on device", log)
    ids(mnt .. "/i.jsonl")
    assert.equal(0, os.execute(("mount -o remount,size=4m %s"):format(mnt)))
    status, log = run(web, args)
    assert.equal(0, status, log)
    exactly_once(mnt .. "/i.jsonl", PAGES + 1, ITEMS)
  end)
end)
