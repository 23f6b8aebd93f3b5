-- silk.core.sqlite: the binding over the linked libsqlite3 that the SQLite
-- item sink and the HTTP cache use.
local sqlite = require("silk.core.sqlite")
package.path = "tests/lib/?.lua;" .. package.path
local files = require("files")

local function fresh()
  return assert(sqlite.open(files.tmpdir() .. "/t.sqlite"))
end

local rows = files.sqlite_rows

describe("silk.core.sqlite values", function()
  it("round-trip through bound parameters with their SQLite types", function()
    local db = fresh()
    assert(db:exec("CREATE TABLE t (v)"))
    local blob = "a\0b\255\0" .. ("\0"):rep(1000)
    local values = {
      { "hello", "text" }, { "it's \"quoted\"; DROP TABLE t; --", "text" }, { "", "text" },
      { "nul\0inside", "text" }, { 42, "integer" }, { 0, "integer" }, { -0.0, "real" }, { 2 ^ 53, "integer" },
      { -2 ^ 53, "integer" }, { 2 ^ 53 + 2, "real" }, { 0.1, "real" }, { 5e-324, "real" },
      { 1.7976931348623157e308, "real" }, { 1e300, "real" },
    }
    local ins = assert(db:prepare("INSERT INTO t VALUES (?)"))
    for _, v in ipairs(values) do
      assert.is_true(ins:bind(1, v[1]))
      assert.is_false(ins:step())
      ins:reset()
    end
    assert.is_true(ins:bind_blob(1, blob))
    assert.is_false(ins:step())
    ins:reset()
    assert.is_true(ins:bind(1, nil))
    assert.is_false(ins:step())
    ins:reset()
    assert.is_false(ins:step())           -- reset clears the bindings: NULL again
    ins:close()
    local got = rows(db, "SELECT v, typeof(v), length(CAST(v AS BLOB)) FROM t ORDER BY rowid")
    assert.equal(#values + 3, #got)
    for i, v in ipairs(values) do
      assert.equal(v[1], got[i][1], tostring(v[1]))
      assert.equal(v[2], got[i][2], tostring(v[1]))
    end
    assert.equal(10, got[4][3])            -- a text keeps the bytes after its NUL
    assert.equal(-math.huge, 1 / got[7][1]) -- -0.0 keeps its sign
    assert.equal(blob, got[#values + 1][1])
    assert.equal("blob", got[#values + 1][2])
    for i = #values + 2, #values + 3 do
      assert.is_nil(got[i][1])
      assert.equal("null", got[i][2])
    end
    db:close()
  end)

  it("reads a row's NULLs as nil in their place", function()
    local db = fresh()
    local st = assert(db:prepare("SELECT 1, NULL, 'x', NULL"))
    assert.is_true(st:step())
    assert.equal(4, select("#", st:row()))
    assert.same({ 1, nil, "x" }, { st:row() })
    assert.is_false(st:step())
    db:close()
  end)

  it("binds several parameters, by their positions", function()
    local db = fresh()
    local st = assert(db:prepare("SELECT ?2 || ?1, ?3"))
    st:bind(1, "b")
    st:bind(2, "a")
    st:bind_blob(3, "\0")
    assert.is_true(st:step())
    local ab, z = st:row()
    assert.equal("ab", ab)
    assert.equal("\0", z)
    db:close()
  end)
end)

describe("silk.core.sqlite errors", function()
  it("name the SQL and SQLite's message", function()
    local db = fresh()
    local st, err = db:prepare("SELECT * FROM missing")
    assert.is_nil(st)
    assert.equal("SELECT * FROM missing: no such table: missing", err)
    local ok
    ok, err = db:exec("CREATE TABLE t (k PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
    assert.is_nil(ok)
    assert.matches("^CREATE TABLE t .*: UNIQUE constraint failed: t%.k$", err)
    st = assert(db:prepare("INSERT INTO t VALUES (?)"))
    st:bind(1, 1)
    ok, err = st:step()
    assert.is_nil(ok)
    assert.equal("INSERT INTO t VALUES (?): UNIQUE constraint failed: t.k", err)
    st:reset()
    st:bind(1, 2)
    assert.is_false(st:step())            -- usable again after reset
    db:close()
  end)

  it("cut a long SQL text", function()
    local db = fresh()
    local sql = "SELECT " .. ("1 + "):rep(100) .. "nope"
    local _, err = db:prepare(sql)
    assert.equal(sql:sub(1, 120) .. "...: no such column: nope", err)
    db:close()
  end)

  it("name the file a database cannot be opened in", function()
    local db, err = sqlite.open("/nonexistent/dir/t.sqlite")
    assert.is_nil(db)
    assert.equal("cannot open /nonexistent/dir/t.sqlite: unable to open database file", err)
  end)

  it("raise on misuse", function()
    local db = fresh()
    assert.has_error(function() db:prepare("SELECT 1; SELECT 2") end,
                     "bad argument #1 to 'prepare' (one SQL statement expected, got more)")
    assert.has_error(function() db:prepare("-- nothing") end, "bad argument #1 to 'prepare' (no SQL statement)")
    local st = assert(db:prepare("SELECT ?"))
    assert.has_error(function() st:bind(2, 1) end, "bad argument #1 to 'bind' (parameter index out of range (1..1))")
    assert.has_error(function() st:bind(1, true) end,
                     "bad argument #2 to 'bind' (string, number or nil expected, got boolean)")
    assert.has_error(function() st:bind_blob(1, {}) end)
    assert.is_true(st:step())
    assert.has_error(function() st:bind(1, 1) end, "bind on a running sqlite statement: reset it first")
    st:reset()
    assert.is_true(st:bind(1, 1))
    db:close()
  end)
end)

describe("silk.core.sqlite close", function()
  it("makes every later use raise, and may be repeated", function()
    local db = fresh()
    local st = assert(db:prepare("SELECT 1"))
    st:close()
    st:close()
    assert.has_error(function() st:step() end, "attempt to use a closed sqlite statement")
    db:close()
    db:close()
    assert.has_error(function() db:exec("SELECT 1") end, "attempt to use a closed sqlite database")
    assert.has_error(function() db:prepare("SELECT 1") end, "attempt to use a closed sqlite database")
  end)

  it("of a db closes its live statements, which then raise rather than dangle", function()
    local db = fresh()
    local a = assert(db:prepare("SELECT 1"))
    local b = assert(db:prepare("SELECT 2"))
    local c = assert(db:prepare("SELECT 3"))
    b:close()
    assert.is_true(a:step())              -- a statement in the middle of its rows
    db:close()
    for _, st in ipairs{ a, b, c } do
      assert.has_error(function() st:row() end, "attempt to use a closed sqlite statement")
      assert.has_error(function() st:bind(1, 1) end, "attempt to use a closed sqlite statement")
      st:close()
    end
  end)

  it("happens on collection, statements before or after their db", function()
    local path = files.tmpdir() .. "/t.sqlite"
    for round = 1, 2 do
      local db = assert(sqlite.open(path))
      assert(db:exec("CREATE TABLE IF NOT EXISTS t (v)"))
      local keep = {}
      for i = 1, 20 do
        local st = assert(db:prepare("INSERT INTO t VALUES (?)"))
        st:bind(1, i)
        st:step()
        keep[i] = st
      end
      if round == 2 then db:close() end
      db, keep = nil, nil
      collectgarbage()
      collectgarbage()
    end
    local db = assert(sqlite.open(path))
    assert.same({ { 40, n = 1 } }, rows(db, "SELECT count(*) FROM t"))
    db:close()
  end)

  it("keeps a db alive while one of its statements is", function()
    local st = assert(fresh():prepare("SELECT 7"))
    collectgarbage()
    collectgarbage()
    assert.is_true(st:step())
    assert.equal(7, st:row())
  end)
end)

-- The files silk wrote before silk.core.sqlite, when it went through LuaSQL,
-- made here with the SQL that code sent: an HTTP cache kept bodies as hex
-- TEXT, an item file held literal values.
describe("SQLite files written through LuaSQL", function()
  local function legacy(path, sql)
    local db = assert(sqlite.open(path))
    assert(db:exec(sql))
    db:close()
  end

  it("an HTTP cache still replays its responses, and takes new ones", function()
    local httpcache = require("silk.httpcache")
    local dir = files.tmpdir()
    local body = "<p>caf\195\169</p>\0\1\255"
    local hex = body:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    legacy(dir .. "/cache.sqlite", ([=[PRAGMA journal_mode=WAL;
      CREATE TABLE IF NOT EXISTS responses (
        url TEXT PRIMARY KEY, final_url TEXT, status INTEGER, http_version TEXT,
        headers TEXT, body TEXT, stored_at REAL);
      INSERT OR REPLACE INTO responses VALUES ('http://h/a', 'http://h/a?it''s', 200, '1.1',
        '[["Content-Type","text/html"],["Set-Cookie","a=1"],["Set-Cookie","b=2"]]', '%s', 1764000000.000000)]=])
      :format(hex))
    local cache = httpcache.open(dir)
    local res = cache:get("http://h/a")
    assert.equal(body, res.body)
    assert.equal(#body, res.size)
    assert.equal(200, res.status)
    assert.equal("http://h/a?it's", res.url)
    assert.equal("1.1", res.http_version)
    assert.equal("text/html", res.headers["Content-Type"])
    assert.equal("a=1, b=2", res.headers["set-cookie"])
    assert.is_true(res.from_cache)
    assert.is_nil(cache:get("http://h/b"))
    local new = "\0binary\0" .. ("\255"):rep(3)
    cache:put("http://h/b", { status = 201, url = "http://h/b", http_version = "2", body = new,
                              _header_list = { "x-a", "1" } })
    cache:put("http://h/c", { status = 404, url = "http://h/c", body = "gone" })
    cache:close()
    cache = httpcache.open(dir)
    assert.equal(body, cache:get("http://h/a").body)
    res = cache:get("http://h/b")
    assert.equal(new, res.body)
    assert.equal(201, res.status)
    assert.equal("1", res.headers["X-A"])
    assert.is_nil(cache:get("http://h/c"))   -- failures are not stored
    assert.same({ 2, 1 }, { cache.hits, cache.misses })
    cache:close()
    local db = assert(sqlite.open(dir .. "/cache.sqlite"))
    assert.same({ { "blob", 11, n = 2 } }, rows(db, "SELECT typeof(body), length(body) FROM responses WHERE url = 'http://h/b'"))
    db:close()
  end)

  it("an item file is added to, and resumed at its rowid", function()
    local sinks = require("silk.sinks")
    local path = files.tmpdir() .. "/i.sqlite"
    legacy(path, [[PRAGMA journal_mode=WAL; BEGIN;
      CREATE TABLE items ("id", "name", "price");
      INSERT INTO items ("id", "name", "price") VALUES (1, 'it''s', (CAST(5404319552844595 AS REAL) / 4503599627370496));
      INSERT INTO items ("id", "name", "price") VALUES (2, NULL, 3);
      INSERT INTO items ("id", "name", "price") VALUES (3, 'gone', 1);
      COMMIT]])
    local sink = sinks.open(path, { resume_at = 2 })
    assert(sink:write({ id = 4, name = "new", price = 0.1, tags = { "a" }, ok = true }))
    assert.equal(3, sink:flush(true))
    assert(sink:close())
    local db = assert(sqlite.open(path))
    assert.same({
      { 1, "it's", 1.2, "integer", "real", n = 5 },
      { 2, nil, 3, "integer", "integer", n = 5 },
      { 4, "new", 0.1, "integer", "real", n = 5 },
    }, rows(db, [[SELECT id, name, price, typeof(id), typeof(price) FROM items ORDER BY rowid]]))
    assert.same({ { '["a"]', 1, n = 2 } }, rows(db, "SELECT tags, ok FROM items WHERE id = 4"))
    assert.same({ { "id", n = 1 }, { "name", n = 1 }, { "price", n = 1 }, { "ok", n = 1 }, { "tags", n = 1 } },
                rows(db, "SELECT name FROM pragma_table_info('items') ORDER BY cid"))
    db:close()
  end)
end)

-- The .deb declares lua-cjson and no other Lua C module (CMakeLists.txt,
-- CPACK_DEBIAN_PACKAGE_DEPENDS): SQLite items and the HTTP cache must work
-- with nothing else on the C module path.
describe("SQLite items and the HTTP cache", function()
  it("need no Lua C module but lua-cjson", function()
    local proc = require("proc")
    local cjson_so
    for pattern in package.cpath:gmatch("[^;]+") do
      local f = io.open((pattern:gsub("%?", "cjson")))
      if f then
        f:close()
        cjson_so = pattern:gsub("%?", "cjson")
        break
      end
    end
    assert(cjson_so, "lua-cjson not found on " .. package.cpath)
    local d = files.tmpdir()
    os.execute(("mkdir %s/cpath && ln -s %s %s/cpath/cjson.so"):format(d, cjson_so, d))
    files.write(d .. "/use.lua", ([[
      local sink = require("silk.sinks").open(%q, {})
      assert(sink:write({ a = 1 }))
      assert(sink:close())
      local cache = require("silk.httpcache").open(%q)
      cache:put("http://h/", { status = 200, url = "http://h/", body = "x" })
      assert(cache:get("http://h/").body == "x")
      cache:close()
      print("ok")
    ]]):format(d .. "/i.sqlite", d .. "/cache"))
    local status, out = proc.silk("eval " .. d .. "/use.lua", ("LUA_CPATH='%s/cpath/?.so'"):format(d))
    assert.equal(0, status, out)
    assert.matches("^ok\n", out)
  end)
end)
