-- `silk run -o`: a .json array through stops, kill -9 and reruns; several
-- outputs at once; stdout; field order across runs; late fields in CSV and
-- SQLite. Against a real nginx serving a small site.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local files = require("files")
local cjson = require("cjson")
local engine = require("silk.core.engine")
local silk = require("silk")

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")
local PAGES, ITEMS = 20, 50
local TOTAL = PAGES * ITEMS + 1 -- and the index's one item

local site = files.pages(PAGES)

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The spider: the index emits { id, title, url } (so the first item has
-- those fields only); each page emits ITEMS items with eight fields, put in
-- the table in an order that changes from item to item. SLEEP (env) slows
-- each callback. `extra` is spliced into the spider table.
local function spider(extra)
  local path = os.tmpname() .. ".lua"
  files.write(path, ([[
local silk = require("silk")
local pause = tonumber(os.getenv("SLEEP") or "")
return silk.spider{
  name = "exports", start_urls = { os.getenv("START") }, obey_robots = false, concurrency = 4,
  %s
  parse = function(res, crawl)
    if pause then silk.sleep(pause) end
    local p = tonumber(res.url:match("p(%%d+)%%.html$") or "0")
    if p == 0 then
      print("spider says hello")
      crawl:emit{ id = 0, title = "index", url = res.url }
    end
    for i = 1, p > 0 and %d or 0 do
      local v = { id = p * 1000 + i, url = res.url, title = "t" .. i, price = i * 1.5, stock = i,
                  sku = ("s%%d-%%d"):format(p, i), rating = i %% 5, tags = {} }
      local keys = { "id", "url", "title", "price", "stock", "sku", "rating", "tags" }
      local item = {}
      for k = 1, #keys do
        local key = keys[(k * (i %% 3 + 1) + p) %% #keys + 1]
        if item[key] == nil then item[key] = v[key] end
      end
      for _, key in ipairs(keys) do item[key] = v[key] end
      crawl:emit(item)
    end
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]]):format(extra or "", ITEMS))
  return path
end

-- silk run in a subprocess; returns exit status, stderr and stdout.
local function run(web, args, env)
  local d = files.tmpdir()
  os.execute(("cd %s && env START=%s %s %s run %s >%s 2>%s; echo $? >%s"):format(
    q(root), q(web.url .. "/index.html"), env or "", q(silk_bin), args, q(d .. "/out"), q(d .. "/err"), q(d .. "/rc")))
  return tonumber(files.read(d .. "/rc")), files.read(d .. "/err") or "", files.read(d .. "/out") or ""
end

-- Starts silk run in the background; once the file `watch` has items in
-- it, waits `after` more seconds, sends SIGKILL (or `signal`) and waits for
-- the end.
local function run_killed(web, args, watch, after, signal, env)
  local d = files.tmpdir()
  os.execute(("cd %s && (env START=%s %s %s run %s >/dev/null 2>&1 & echo $! >%s) "):format(
    q(root), q(web.url .. "/index.html"), env or "", q(silk_bin), args, q(d .. "/pid")))
  local pid = tonumber(files.read(d .. "/pid"):match("%d+"))
  local t0 = silk.now()
  while #(files.read(watch) or "") < 3 do
    assert(silk.now() - t0 < 20, "no items came")
    silk.sleep(0.02)
  end
  silk.sleep(after)
  os.execute(("kill -%s %d; while kill -0 %d 2>/dev/null; do sleep 0.02; done"):format(signal or "KILL", pid, pid))
end

-- Arguments for a crawl of `sp` with --jobdir d/job and the outputs (names
-- in d), one request at a time and a checkpoint every 50 ms: with SLEEP set,
-- slow enough to be killed part way.
local function slow_jobdir_args(sp, d, outputs)
  local o = {}
  for i, name in ipairs(outputs) do o[i] = "-o " .. q(d .. "/" .. name) end
  return ("%s %s --jobdir %s -s concurrency=1 -s checkpoint_interval=0.05"):format(sp, table.concat(o, " "), q(d .. "/job"))
end

-- The items of a .json file: one array, each id once; returns them in file
-- order and the set of ids.
local function json_items(path, want)
  local text = assert(files.read(path), path)
  local ok, items = pcall(cjson.decode, text)
  assert.is_true(ok, "not one JSON value: " .. text:sub(1, 200) .. " ... " .. text:sub(-200))
  assert.equal("table", type(items))
  local seen = {}
  for _, it in ipairs(items) do
    assert.is_nil(seen[it.id], "twice: " .. tostring(it.id))
    seen[it.id] = true
  end
  if want then assert.equal(want, #items) end
  return items, seen
end

local function jsonl_items(text, want)
  local items, seen = {}, {}
  for l in text:gmatch("[^\n]+") do
    local it = cjson.decode(l)
    assert.is_nil(seen[it.id], "twice: " .. tostring(it.id))
    seen[it.id] = true
    items[#items + 1] = it
  end
  if want then assert.equal(want, #items) end
  return items
end

local function csv_rows(path)
  local rows = {}
  for l in (files.read(path) or ""):gmatch("[^\n]+") do rows[#rows + 1] = l end
  return rows
end

-- The top-level keys of a JSON object line, in order.
local function keys_of(line)
  local out = {}
  for k in line:gmatch('[{,]"([%w_]+)":') do out[#out + 1] = k end
  return out
end

local sqlite = files.sqlite

-- one server for every test (teardown stops it)
local web = servers.nginx{ root = site }

describe("silk run outputs", function()
  teardown(function() web:stop() end)

  describe("silk run -o FILE.json", function()
    local sp = spider()

    it("writes one JSON array, adds the next run's items into it, and -O / --overwrite replace it", function()
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s"):format(sp, q(d .. "/i.json")))
      assert.equal(0, status, err)
      local text = files.read(d .. "/i.json")
      assert.equal("[\n{", text:sub(1, 3))
      assert.equal("}\n]\n", text:sub(-4))
      json_items(d .. "/i.json", TOTAL)
      -- empty lists stay lists
      assert.matches('"tags":%[%]', text)

      status, err = run(web, ("%s -o %s"):format(sp, q(d .. "/i.json")))
      assert.equal(0, status, err)
      local items = cjson.decode(files.read(d .. "/i.json"))
      assert.equal(2 * TOTAL, #items)

      status, err = run(web, ("%s -O %s"):format(sp, q(d .. "/i.json")))
      assert.equal(0, status, err)
      json_items(d .. "/i.json", TOTAL)
      status, err = run(web, ("%s -o %s --overwrite"):format(sp, q(d .. "/i.json")))
      assert.equal(0, status, err)
      json_items(d .. "/i.json", TOTAL)
    end)

    it("writes [] when there are no items", function()
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s -s max_pages=1 -s deny=%s"):format(
        spider("pipelines = { function() return nil end },"), q(d .. "/i.json"), q("p%d")))
      assert.equal(0, status, err)
      assert.same({}, cjson.decode(files.read(d .. "/i.json")))
      assert.equal("[\n]\n", files.read(d .. "/i.json"))
    end)

    it("refuses to add to a .json a crawl killed without --jobdir left open, naming --overwrite", function()
      local d = files.tmpdir()
      files.write(d .. "/i.json", '[\n{"id":1},\n{"id":2}')
      local status, err = run(web, ("%s -o %s"):format(sp, q(d .. "/i.json")))
      assert.equal(2, status, err)
      assert.matches('cannot add items to %S+/i%.json: it does not end with "%]".-%-%-overwrite', err)
      assert.equal('[\n{"id":1},\n{"id":2}', files.read(d .. "/i.json"))
    end)

    it("is one array after a graceful stop, and after the resume that finishes the crawl", function()
      local d = files.tmpdir()
      local args = slow_jobdir_args(sp, d, { "i.json" })
      run_killed(web, args, d .. "/i.json", 0.1, "INT", "SLEEP=0.05")
      local items = json_items(d .. "/i.json")
      assert.is_true(#items > 0 and #items < TOTAL, "stopped after " .. #items .. " items")
      local status, err = run(web, args)
      assert.equal(0, status, err)
      json_items(d .. "/i.json", TOTAL)
    end)

    it("is one array, every item once, after kill -9 and resume with --jobdir", function()
      local d = files.tmpdir()
      local args = slow_jobdir_args(sp, d, { "i.json" })
      run_killed(web, args, d .. "/i.json", 0.1, "KILL", "SLEEP=0.05")
      -- killed with its array open: the resume must close it
      local text = files.read(d .. "/i.json") or ""
      assert.is_true(#text > 0 and text:sub(-2) ~= "]\n", "the kill did not hit the crawl: " .. text:sub(-100))
      for _ = 1, 3 do run_killed(web, args, d .. "/i.json", 0.2, "KILL", "SLEEP=0.05") end
      local status, err = run(web, args)
      assert.equal(0, status, err)
      json_items(d .. "/i.json", TOTAL)
    end)
  end)

  describe("silk run with several -o", function()
    local sp = spider()

    it("gives every output every item, and each resumes from its own offset after kill -9", function()
      local d = files.tmpdir()
      local args = slow_jobdir_args(sp, d, { "i.json", "i.jsonl", "i.csv", "i.sqlite" })
      for _ = 1, 3 do run_killed(web, args, d .. "/i.json", 0.2, "KILL", "SLEEP=0.05") end
      local status, err = run(web, args)
      assert.equal(0, status, err)
      json_items(d .. "/i.json", TOTAL)
      jsonl_items(files.read(d .. "/i.jsonl"), TOTAL)
      local rows = csv_rows(d .. "/i.csv")
      assert.equal("id,title,url", rows[1])
      assert.equal(TOTAL + 1, #rows)
      local seen = {}
      for n = 2, #rows do
        local id = rows[n]:match("^(%d+),")
        assert.is_nil(seen[id], "twice in the CSV: " .. rows[n])
        seen[id] = true
      end
      assert.equal(TOTAL .. "|" .. TOTAL .. "\n", sqlite(d .. "/i.sqlite", "SELECT count(*), count(DISTINCT id) FROM items"))
    end)

    it("refuses to resume with other outputs than the jobdir's, naming both", function()
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s -o %s --jobdir %s -s max_pages=2"):format(
        sp, q(d .. "/a.json"), q(d .. "/b.csv"), q(d .. "/job")))
      assert.equal(0, status, err)
      status, err = run(web, ("%s -o %s --jobdir %s"):format(sp, q(d .. "/a.json"), q(d .. "/job")))
      assert.equal(2, status, err)
      assert.matches("was writing items to %S+/a%.json, %S+/b%.csv, not %S+/a%.json", err)
    end)
  end)

  describe("silk run -o -", function()

    it("writes JSON Lines to stdout only; the summary and the spider's print() go to stderr", function()
      local status, err, out = run(web, ("%s -o -"):format(spider()))
      assert.equal(0, status, err)
      jsonl_items(out, TOTAL)
      assert.matches("crawl finished", err)
      assert.matches("spider says hello", err)
      assert.not_matches("crawl finished", out)
      assert.not_matches("hello", out)
    end)

    it("can go with a file output", function()
      local d = files.tmpdir()
      local status, err, out = run(web, ("%s -o - -o %s"):format(spider(), q(d .. "/i.json")))
      assert.equal(0, status, err)
      jsonl_items(out, TOTAL)
      json_items(d .. "/i.json", TOTAL)
    end)
  end)

  describe("silk run field order", function()

    it("is the first item's fields, then new ones as they come, the same in every run", function()
      local d = files.tmpdir()
      local sp = spider()
      local orders = {}
      for r = 1, 3 do
        local path = ("%s/r%d.jsonl"):format(d, r)
        local status, err = run(web, ("%s -o %s -s concurrency=1"):format(sp, q(path)))
        assert.equal(0, status, err)
        local lines = csv_rows(path)
        assert.equal(TOTAL, #lines)
        assert.same({ "id", "title", "url" }, keys_of(lines[1]))
        for n = 2, #lines do
          assert.same({ "id", "title", "url", "price", "rating", "sku", "stock", "tags" }, keys_of(lines[n]), lines[n])
        end
        orders[r] = files.read(path):gsub('"url":"[^"]*"', "")
      end
      assert.equal(orders[1], orders[2])
      assert.equal(orders[1], orders[3])
    end)

    it("is the spider's `fields` when given, in JSON, JSON Lines, CSV and SQLite", function()
      local fields = { "url", "sku", "id", "title", "tags", "price", "stock", "rating" }
      local sp = spider(("fields = { %s },"):format(table.concat((function()
        local t = {}
        for i, f in ipairs(fields) do t[i] = ("%q"):format(f) end
        return t
      end)(), ", ")))
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s -o %s -o %s -o %s"):format(
        sp, q(d .. "/i.json"), q(d .. "/i.jsonl"), q(d .. "/i.csv"), q(d .. "/i.sqlite")))
      assert.equal(0, status, err)
      local lines = csv_rows(d .. "/i.jsonl")
      assert.equal(TOTAL, #lines)
      for _, l in ipairs(lines) do
        local id = cjson.decode(l).id
        assert.same(id == 0 and { "url", "id", "title" } or fields, keys_of(l), l)
      end
      local json = files.read(d .. "/i.json")
      local n = 0
      for l in json:gmatch("\n(%b{})") do
        n = n + 1
        assert.same(cjson.decode(l).id == 0 and { "url", "id", "title" } or fields, keys_of(l), l)
      end
      assert.equal(TOTAL, n)
      assert.equal(table.concat(fields, ","), csv_rows(d .. "/i.csv")[1])
      assert.not_matches("is not among the CSV columns", err)
      assert.equal(table.concat(fields, "\n") .. "\n", sqlite(d .. "/i.sqlite", "SELECT name FROM pragma_table_info('items')"))
    end)
  end)

  describe("silk run and a field that first appears after the first item", function()

    it("is reported in CSV once, naming the field, with the count of items that had it", function()
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s"):format(spider(), q(d .. "/i.csv")))
      assert.equal(0, status, err)
      local rows = csv_rows(d .. "/i.csv")
      assert.equal("id,title,url", rows[1])
      assert.equal(TOTAL + 1, #rows)
      local path = (d .. "/i.csv"):gsub("%p", "%%%0")
      local _, warned = err:gsub('silk: ' .. path .. ': field "rating" is not among the CSV columns %(id,title,url%)', "")
      assert.equal(1, warned, err)
      assert.matches("name it in the spider's `fields`", err)
      assert.matches('silk: ' .. path .. ': ' .. (PAGES * ITEMS) .. ' items had the field "rating", not written to the CSV', err)
      for _, f in ipairs{ "price", "sku", "stock", "tags" } do
        assert.matches('field "' .. f .. '" is not among the CSV columns', err)
      end
    end)

    it("becomes a new SQLite column (ALTER TABLE), its values kept", function()
      local d = files.tmpdir()
      local status, err = run(web, ("%s -o %s"):format(spider(), q(d .. "/i.sqlite")))
      assert.equal(0, status, err)
      assert.equal("id\ntitle\nurl\nprice\nrating\nsku\nstock\ntags\n",
                   sqlite(d .. "/i.sqlite", "SELECT name FROM pragma_table_info('items')"))
      assert.equal(("%d|%d|1\n"):format(PAGES * ITEMS, PAGES * ITEMS),
                   sqlite(d .. "/i.sqlite", "SELECT count(rating), count(tags), count(*) - count(rating) FROM items"))
      assert.equal("[]\n", sqlite(d .. "/i.sqlite", "SELECT DISTINCT tags FROM items WHERE tags IS NOT NULL"))
      -- a second run adds rows to the table it finds
      status, err = run(web, ("%s -o %s"):format(spider(), q(d .. "/i.sqlite")))
      assert.equal(0, status, err)
      assert.equal(2 * TOTAL .. "\n", sqlite(d .. "/i.sqlite", "SELECT count(*) FROM items"))
    end)
  end)
end)
