-- fetch_spec.lua: silk.core.fetch against a real nginx on 127.0.0.1:
-- responses, headers, keep-alive, gzip, HTTP/2 over TLS, large bodies,
-- per-host limits, requests (methods, headers, form, json, sessions), and
-- charsets through res:text() (against tests/lib/badserver.py).
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local silk = require("silk")
local F = require("silk.core.fetch")
local fetch = F.fetch

local function writefile(path, s)
  local f = assert(io.open(path, "wb")); f:write(s); f:close()
end

local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local need, lo, hi = 0, 0x80, 0xBF
    if c < 0x80 then need = 0
    elseif c >= 0xC2 and c <= 0xDF then need = 1
    elseif c == 0xE0 then need, lo = 2, 0xA0
    elseif c == 0xED then need, hi = 2, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then need = 2
    elseif c == 0xF0 then need, lo = 3, 0x90
    elseif c == 0xF4 then need, hi = 3, 0x8F
    elseif c >= 0xF1 and c <= 0xF3 then need = 3
    else return false end
    for k = 1, need do
      local b = s:byte(i + k)
      if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then return false end
    end
    i = i + need + 1
  end
  return true
end

local web, bad, root
local big = ("0123456789abcdef"):rep(5 * 65536)            -- 5 MiB
local text = ("silk fetches text that gzip squeezes well. "):rep(2000)

setup(function()
  root = os.tmpname(); os.remove(root); os.execute("mkdir -p " .. root)
  writefile(root .. "/index.html", "<!DOCTYPE html><title>hi</title><p>hello</p>\n")
  writefile(root .. "/big.bin", big)
  writefile(root .. "/text.txt", text)
  web = servers.nginx{ root = root, gzip = true, http2_tls = true,
    server_extra = "    location = /multi { add_header X-Multi one always; add_header X-Multi two always;"
      .. " add_header Set-Cookie 'a=1; Path=/' always; return 200 'multi'; }\n"
      .. "    location = /set { add_header Set-Cookie 'sid=s3cret; Path=/' always; return 200 'set'; }\n"
      .. "    location = /cookie { return 200 '[$http_cookie]'; }\n"
      .. "    location = /boom { return 500 'boom'; }\n" }
  bad = servers.badserver{}
end)

teardown(function()
  if web then web:stop() end
  if bad then bad:stop() end
  os.execute("rm -rf " .. root)
end)

describe("fetch from nginx", function()
  it("returns the page with status, final url, version, address and timings", function()
    local res = assert(fetch(web.url .. "/index.html"))
    assert.equal(200, res.status)
    assert.equal(web.url .. "/index.html", res.url)
    assert.equal("<!DOCTYPE html><title>hi</title><p>hello</p>\n", res.body)
    assert.equal(#res.body, res.size)
    assert.equal("1.1", res.http_version)
    assert.equal("127.0.0.1", res.remote_ip)
    assert.same({}, res.redirects)
    for _, k in ipairs{ "dns", "connect", "tls", "ttfb", "total", "queued" } do
      assert.is_true(res.timings[k] >= 0, k)
    end
    assert.is_true(res.timings.total >= res.timings.ttfb)
    assert.equal("silk.response", getmetatable(res).__name)
  end)

  it("reads headers case-insensitively, multi-valued ones joined or listed", function()
    local res = assert(fetch(web.url .. "/multi"))
    assert.equal("one, two", res:header("X-MULTI"))
    assert.equal("one, two", res.headers["x-multi"])
    assert.equal("one, two", res.headers["X-Multi"])
    assert.same({ "one", "two" }, res:headers_all("x-multi"))
    assert.same({ "a=1; Path=/" }, res:headers_all("Set-Cookie"))
    assert.same({}, res:headers_all("x-absent"))
    assert.is_nil(res:header("x-absent"))
  end)

  it("returns 404 and 500 as responses, and as http errors when asked", function()
    local res = assert(fetch(web.url .. "/missing"))
    assert.equal(404, res.status)
    res = assert(fetch(web.url .. "/boom"))
    assert.equal(500, res.status)
    assert.equal("boom", res.body)
    local none, err = fetch{ url = web.url .. "/boom", raise_for_status = true }
    assert.is_nil(none)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    assert.equal("boom", err.response.body)
  end)

  it("reuses one keep-alive connection for sequential fetches", function()
    local before = #web:entries()
    for _ = 1, 20 do assert.equal(200, assert(fetch(web.url .. "/index.html?keepalive")).status) end
    silk.sleep(0.05)                     -- nginx logs a request just after answering it
    local entries, conns, mine = web:entries(), {}, {}
    for i = before + 1, #entries do
      if entries[i].request:find("keepalive", 1, true) then mine[#mine + 1] = entries[i] end
    end
    assert.equal(20, #mine)
    entries = mine
    for i = 1, #entries do conns[entries[i].conn] = true end
    assert.equal(1, #(function() local l = {} for c in pairs(conns) do l[#l + 1] = c end return l end)())
    assert.is_true(entries[#entries].conn_req >= 20)
  end)

  it("keeps concurrent keep-alive connections open while their tasks are busy", function()
    -- 32 tasks fetch 10 times each and dawdle between fetches, so that at
    -- times few transfers are in the multi handle: the connection cache
    -- must not shrink with them (libcurl's default sizes it by the handles
    -- in the multi handle now, and closed idle connections)
    local before = #web:entries()
    silk.scope(function(s)
      for t = 1, 32 do
        s:spawn(function()
          for _ = 1, 10 do
            assert.equal(200, assert(fetch(web.url .. "/index.html?busy")).status)
            silk.sleep(t % 4 * 0.005)
          end
        end)
      end
    end)
    silk.sleep(0.05)
    local entries, conns, n = web:entries(), {}, 0
    for i = before + 1, #entries do
      if entries[i].request:find("busy", 1, true) and not conns[entries[i].conn] then
        conns[entries[i].conn] = true
        n = n + 1
      end
    end
    assert.is_true(n <= 32, n .. " connections for 32 concurrent tasks")
  end)

  it("asks for compression and decodes gzip", function()
    local res = assert(fetch(web.url .. "/text.txt"))
    assert.equal("gzip", res:header("content-encoding"))
    assert.equal(text, res.body)
    assert.is_true(res.wire_size < #text / 10, "wire " .. res.wire_size)
  end)

  it("fetches a 5 MiB body whole, and refuses it over max_size", function()
    local res = assert(fetch(web.url .. "/big.bin"))
    assert.equal(#big, res.size)
    assert.is_true(res.body == big)
    local none, err = fetch{ url = web.url .. "/big.bin", max_size = 1000000 }
    assert.is_nil(none)
    assert.equal("too_large", err.kind)
  end)

  it("speaks HTTP/2 over TLS verified with ca_file", function()
    local res = assert(fetch{ url = web.https_url .. "/index.html", ca_file = web.tls.ca })
    assert.equal(200, res.status)
    assert.equal("2", res.http_version)
    assert.is_true(res.timings.tls > 0)
    res = assert(fetch{ url = web.https_url .. "/index.html", ca_file = web.tls.ca, http2 = false })
    assert.equal("1.1", res.http_version)
  end)

  it("fails with tls on a certificate it cannot verify, unless insecure", function()
    local none, err = fetch(web.https_url .. "/index.html")
    assert.is_nil(none)
    assert.equal("tls", err.kind)
    local res = assert(fetch{ url = web.https_url .. "/index.html", insecure = true })
    assert.equal(200, res.status)
  end)

  it("multiplexes concurrent HTTP/2 fetches over one connection", function()
    local before = #web:entries()
    silk.scope(function(s)
      for _ = 1, 20 do
        s:spawn(function()
          assert.equal(200, assert(fetch{ url = web.https_url .. "/index.html", ca_file = web.tls.ca }).status)
        end)
      end
    end)
    local entries, conns, n = web:entries(), {}, 0
    for i = before + 1, #entries do
      if not conns[entries[i].conn] then conns[entries[i].conn] = true; n = n + 1 end
    end
    assert.equal(20, #entries - before)
    assert.equal(1, n)
  end)

  it("keeps cookies per named session, and none without a session", function()
    assert(fetch{ url = web.url .. "/set", session = "alice" })
    assert.equal("[sid=s3cret]", assert(fetch{ url = web.url .. "/cookie", session = "alice" }).body)
    assert.equal("[]", assert(fetch{ url = web.url .. "/cookie", session = "bob" }).body)
    assert.equal("[]", assert(fetch(web.url .. "/cookie")).body)
  end)
end)

describe("fetch requests", function()
  local json = require("cjson")

  local function echo(req)
    req.url = bad.url .. "/echo"
    return json.decode(assert(fetch(req)).body)
  end

  local function header(e, name)
    for _, kv in ipairs(e.headers) do
      if kv[1]:lower() == name:lower() then return kv[2] end
    end
  end

  it("sends method, headers, body and user agent", function()
    local e = echo{ method = "PATCH", body = "payload", user_agent = "spider/1",
      headers = { ["X-One"] = "1", ["X-Many"] = { "a", "b" }, "X-Line: yes" } }
    assert.equal("PATCH", e.method)
    assert.equal("payload", e.body)
    assert.equal("spider/1", header(e, "user-agent"))
    assert.equal("1", header(e, "x-one"))
    assert.equal("yes", header(e, "x-line"))
    local many = {}
    for _, kv in ipairs(e.headers) do if kv[1] == "X-Many" then many[#many + 1] = kv[2] end end
    assert.same({ "a", "b" }, many)
  end)

  it("carries nothing of one request into the next on a reused easy handle", function()
    -- one task fetching in turn reuses one pooled handle: a plain GET after
    -- each kind of request must go out as a plain GET, and the other way round
    local plain = function()
      local e = echo{}
      assert.same({ "GET", "", "silk/" }, { e.method, e.body, header(e, "user-agent"):sub(1, 5) })
      assert.is_nil(header(e, "x-one"))
      assert.is_nil(header(e, "cookie"))
    end
    plain()
    assert.equal("PATCH", echo{ method = "PATCH", body = "payload", headers = { ["X-One"] = "1" } }.method)
    plain()
    assert.equal("HEAD", assert(fetch{ url = bad.url .. "/echo", method = "HEAD" }).method)
    plain()
    assert(fetch{ url = bad.url .. "/echo", session = "reuse", headers = { Cookie = "c=1" } })
    plain()
    assert.equal("DELETE", echo{ method = "DELETE" }.method)
    plain()
    assert.equal("", echo{ user_agent = "" }.body)
    plain()
  end)

  it("encodes form and json bodies", function()
    local e = echo{ form = { q = "a b&c", lang = "é" } }
    assert.equal("POST", e.method)
    assert.equal("lang=%C3%A9&q=a+b%26c", e.body)
    assert.equal("application/x-www-form-urlencoded", header(e, "content-type"))
    e = echo{ json = { n = 1 } }
    assert.equal('{"n":1}', e.body)
    assert.equal("application/json", header(e, "content-type"))
  end)

  it("raises on misuse at once", function()
    assert.has_error(function() fetch(42) end)
    assert.has_error(function() fetch{} end)
    assert.has_error(function() fetch{ url = bad.url, timeout = "soon" } end)
    assert.has_error(function() fetch{ url = bad.url, headers = { ["X-Evil"] = "a\r\nInjected: 1" } } end)
    assert.has_error(function() fetch{ url = bad.url, http2 = "maybe" } end)
  end)

  it("raises outside a task's own coroutine", function()
    local co = coroutine.create(function() return fetch(bad.url .. "/status") end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.matches("task", tostring(err))
  end)
end)

describe("per-host limits", function()
  local json = require("cjson")
  after_each(function() F.configure{ max_per_host = 16, max_total = 1024 } end)

  it("runs at most max_per_host transfers per host, FIFO beyond", function()
    F.configure{ max_per_host = 3 }
    local key = "limit" .. os.time()
    local order = {}
    silk.scope(function(s)
      for i = 1, 12 do
        s:spawn(function()
          assert(fetch(bad.url .. "/concurrency?ms=100&key=" .. key))
          order[#order + 1] = i
        end)
      end
    end)
    local st = json.decode(assert(fetch(bad.url .. "/concurrency/stats?key=" .. key)).body)
    assert.equal(3, st.max)
    assert.equal(12, st.total)
  end)

  it("shares the total cap fairly between hosts", function()
    F.configure{ max_per_host = 100, max_total = 2 }
    -- host A (127.0.0.1) gets 10 requests queued first, host B (localhost) 2 after
    local done = {}
    silk.scope(function(s)
      for i = 1, 10 do
        s:spawn(function() fetch(bad.url .. "/sleep?ms=50"); done[#done + 1] = "a" .. i end)
      end
      for i = 1, 2 do
        s:spawn(function()
          fetch((bad.url:gsub("127.0.0.1", "localhost")) .. "/sleep?ms=50"); done[#done + 1] = "b" .. i
        end)
      end
    end)
    -- slots alternate between the hosts once both wait (a1 a2 a3 b1 a4 b2 ...);
    -- one FIFO for all would finish the b's last
    local pos = {}
    for i, v in ipairs(done) do pos[v] = i end
    assert.is_true(pos.b1 <= 5 and pos.b2 <= 7, table.concat(done, " "))
  end)
end)

describe("tasks woken by their fetch", function()
  -- a task runs as soon as the socket event that completed its transfer
  -- has been handled, in the same loop callback, before the other events
  -- of the poll: from there it may start fetches and cancel other tasks,
  -- whose transfers may be in flight or may have completed in the same poll
  after_each(function() F.configure{ max_per_host = 16, max_total = 1024 } end)

  it("start fetches and cancel others' at once, leaving nothing behind", function()
    F.configure{ max_per_host = 256 }
    local n, tasks, got, cancelled = 200, {}, 0, 0
    for i = 1, n do
      tasks[i] = silk.spawn(function()
        local first = assert(fetch(web.url .. "/index.html?woken"))
        -- 7 is prime to 200: every task cancels exactly one other, never itself
        tasks[i * 7 % n + 1]:cancel("by a sibling")
        local second = assert(fetch(web.url .. "/index.html?woken"))
        return first.status, second.status
      end)
    end
    for i = 1, n do
      local ok, a, b = tasks[i]:join()
      if ok then
        assert.same({ 200, 200 }, { a, b })
        got = got + 1
      else
        assert.equal("cancelled", a.kind, tostring(a))
        cancelled = cancelled + 1
      end
    end
    -- the first task to get its response cancels one still fetching
    assert.is_true(cancelled >= 1 and got + cancelled == n)
    local st = F.stats()
    assert.same({ 0, 0, 0 }, { st.in_flight, st.easy_live, st.transfers })
  end)
end)

describe("transfers started without a task (fetch_core.start)", function()
  it("run their function in a task of its own once they end, with res or nil, err", function()
    local ch = silk.channel()
    local waiting = silk.tasks()
    F.start({ url = web.url .. "/index.html?started" }, function(res, err)
      ch:send{ res and res.status, err, silk.current().name }
    end, "probe", 5)
    -- nothing waits for it while it is in flight
    assert.equal(#waiting, #silk.tasks())
    assert.same({ 200, nil, "probe" }, ch:recv())
    F.start({ url = "http://127.0.0.1:1/" }, function(res, err) ch:send{ res, err.kind } end)
    local got = ch:recv()
    assert.is_nil(got[1])
    assert.equal("connect", got[2])
  end)

  it("never run it once cancelled, and leave nothing behind", function()
    local ran = false
    local h = F.start({ url = bad.url .. "/sleep?ms=2000" }, function() ran = true end)
    h:cancel()
    h:cancel()                           -- a second time does nothing
    silk.sleep(0.05)
    assert.is_false(ran)
    local st = F.stats()
    assert.same({ 0, 0 }, { st.in_flight, st.transfers })
  end)

  -- one is held per request in flight, and LuaJIT's atomic GC phase walks
  -- every userdata in the heap each cycle: the handle is a table
  it("hand back a table as the handle, which does nothing once the function ran", function()
    local ch = silk.channel()
    local h = F.start({ url = web.url .. "/index.html?handle" }, function(res) ch:send(res.status) end)
    assert.equal("table", type(h))
    assert.equal(200, ch:recv())
    h:cancel()
    assert.error_matches(function() h.cancel({}) end, "silk.started_fetch expected")
    local st = F.stats()
    assert.same({ 0, 0 }, { st.in_flight, st.transfers })
  end)

  it("raise for a malformed request, naming the field, before anything starts", function()
    assert.error_matches(function() F.start({ method = "GET" }, print) end, "request.url is required")
    assert.error_matches(function() F.start({ url = web.url }, "not a function") end, "function expected")
  end)
end)

describe("a gate (fetch_core.gate)", function()
  it("runs at most its limit of functions at once, the others once one is done", function()
    local g = F.gate(2)
    local running, most, ran, ch, release = 0, 0, 0, silk.channel(16), silk.channel(16)
    for i = 1, 6 do
      F.start({ url = web.url .. "/index.html?gate=" .. i }, function(res)
        running = running + 1
        most = math.max(most, running)
        ran = ran + 1
        release:recv()
        running = running - 1
        g:done()
        ch:send(res.status)
      end, "gated", nil, g)
    end
    -- every transfer ends: two functions run, the four other results are held
    for _ = 1, 1000 do
      if select(2, g:counts()) == 4 then break end
      silk.sleep(0.005)
    end
    assert.same({ 2, 4 }, { g:counts() })
    assert.equal(2, ran)
    for _ = 1, 6 do release:send(true) end
    for _ = 1, 6 do assert.equal(200, ch:recv()) end
    assert.equal(2, most)
    assert.equal(6, ran)
    assert.same({ 0, 0 }, { g:counts() })
  end)

  it("never runs a held function once cancelled", function()
    local g = F.gate(1)
    local ran, ch, go = {}, silk.channel(4), silk.channel(1)
    local function start(i)
      return F.start({ url = web.url .. "/index.html?held=" .. i }, function()
        ran[#ran + 1] = i
        if i == 1 then go:recv() end
        g:done()
        ch:send(i)
      end, "gated", nil, g)
    end
    start(1)
    for _ = 1, 1000 do if #ran > 0 then break end silk.sleep(0.005) end
    start(2)
    local h3 = start(3)
    for _ = 1, 1000 do if select(2, g:counts()) == 2 then break end silk.sleep(0.005) end
    h3:cancel()
    h3:cancel()                          -- a second time does nothing
    assert.same({ 1, 1 }, { g:counts() })
    go:send(true)
    assert.equal(1, ch:recv())
    assert.equal(2, ch:recv())
    silk.sleep(0.02)
    assert.same({ 1, 2 }, ran)
    assert.same({ 0, 0 }, { g:counts() })
  end)

  it("raises on misuse", function()
    assert.error_matches(function() F.gate(0) end, "limit")
    assert.error_matches(function() F.gate(1.5) end, "limit")
    assert.error_matches(function() F.gate(2):done() end, "none of its tasks is running")
    assert.error_matches(function() F.start({ url = web.url }, print, "x", nil, {}) end, "silk.fetch_gate expected")
  end)
end)

describe("res:text()", function()
  local json = require("cjson")
  local texts

  setup(function()
    texts = json.decode(assert(fetch(bad.url .. "/charset/texts")).body)
  end)

  local cases = {
    { "shift_jis", { "header", "meta", "http-equiv" } },
    { "gbk", { "header", "meta", "http-equiv" } },
    { "windows-1251", { "header", "meta", "http-equiv" } },
    { "iso-8859-1", { "header", "meta", "http-equiv", "none" } },
    { "utf-8", { "header", "meta", "http-equiv", "bom", "none" } },
    { "utf-16le", { "header", "bom" } },
    { "utf-16be", { "header", "bom" } },
  }
  for _, c in ipairs(cases) do
    for _, where in ipairs(c[2]) do
      it(("decodes %s declared in %s"):format(c[1], where), function()
        local res = assert(fetch(("%s/charset/%s/%s"):format(bad.url, c[1], where)))
        local s, charset, source = res:text()
        assert.truthy(s:find(texts[c[1]], 1, true), s)
        assert.is_true(valid_utf8(s))
        local want = { header = "header", meta = "meta", ["http-equiv"] = "meta", bom = "bom",
          none = c[1] == "utf-8" and "sniff" or "default" }
        assert.equal(want[where], source)
        assert.equal(charset, res.charset)
        assert.is_nil(s:find("\239\187\191", 1, true))        -- no BOM left
      end)
    end
  end

  for _, enc in ipairs{ "shift_jis", "gbk", "windows-1251" } do
    it(("never passes bytes through for undeclared %s, and decodes it with a default"):format(enc), function()
      local res = assert(fetch(("%s/charset/%s/none"):format(bad.url, enc)))
      local s, _, source = res:text()
      assert.equal("default", source)
      assert.is_true(valid_utf8(s))
      s = res:text(enc)
      assert.truthy(s:find(texts[enc], 1, true))
    end)
  end

  it("replaces invalid UTF-8 with U+FFFD", function()
    local res = assert(fetch(bad.url .. "/bad-utf8"))
    assert.is_false(valid_utf8(res.body))
    local s, charset = res:text()
    assert.equal("utf-8", charset)
    assert.is_true(valid_utf8(s))
    assert.truthy(s:find("ok \239\191\189", 1, true))
    assert.truthy(s:find(" end ", 1, true))
  end)

  it("is also a plain function: decode(body, content_type)", function()
    local s, charset, source = F.decode("Caf\233", "text/plain; charset=latin1")
    assert.equal("Café", s)
    assert.equal("windows-1252", charset)
    assert.equal("header", source)
  end)
end)
