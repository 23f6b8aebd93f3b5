-- `silk run`'s log (silk.log): levels, text and JSON, --log-file, the
-- progress line on a terminal, failed URLs in the stats, start URLs that
-- cannot be fetched (exit 6) or that the spider's own rules refuse, and a
-- callback that returns its items instead of emitting them. Real nginx and
-- tests/lib/badserver.py.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")
local cjson = require("cjson")
local files = require("files")
local tmpdir, write, read = files.tmpdir, files.write, files.read

local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

-- silk run in a subprocess (60 s at most); returns exit status and combined output.
local function run(args, env) return require("proc").silk(args, env, 60) end

-- A spider file: start URL from START, follows every link; `extra` is Lua
-- spliced into the spider table.
local function spider(extra, body)
  local path = os.tmpname() .. ".lua"
  write(path, ([[
local silk = require("silk")
return silk.spider{
  name = "log", start_urls = { os.getenv("START") }, concurrency = 4,
  %s
  parse = function(res, crawl)
    %s
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}]]):format(extra or "", body or ""))
  return path
end

-- Serves `html` as index.html on a fresh nginx and crawls it with the
-- spider(extra) and `args`; returns exit status and output.
local function crawl_index(html, args, extra)
  local d = tmpdir()
  write(d .. "/index.html", html)
  local site = servers.nginx{ root = d }
  local status, out = run(("run %s %s"):format(spider(extra), args), "START=" .. site.url .. "/index.html")
  site:stop()
  return status, out
end

local function count_of(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

-- The site: an index linking to two pages and two missing ones.
local dir = tmpdir()
write(dir .. "/index.html", '<a href="a.html">a</a> <a href="b.html">b</a> '
  .. '<a href="gone1.html">x</a> <a href="gone2.html">y</a>')
write(dir .. "/a.html", "<p>a</p>")
write(dir .. "/b.html", "<p>b</p>" .. ("x"):rep(20000))
local web = servers.nginx{ root = dir }
local start = "START=" .. web.url .. "/index.html"
local TS = "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ"
teardown(function() web:stop() end)

describe("silk run --log-level", function()
  it("debug: a line per response, with status, method, URL, time and size", function()
    local status, out = run(("run %s --log-level debug"):format(spider()), start)
    assert.equal(0, status, out)
    assert.matches(TS .. " DEBUG silk: 200 GET " .. web.url .. "/index.html %d+ ms %d+ B\n", out)
    assert.matches(" DEBUG silk: 200 GET " .. web.url .. "/b.html %d+ ms 20 KB\n", out)
    assert.matches(" DEBUG silk: 404 GET " .. web.url .. "/gone1.html %d+ ms", out)
    assert.equal(5, count_of(out, " DEBUG silk: %d%d%d GET "), out)
    -- and the info lines too
    assert.equal(2, count_of(out, " INFO silk: GET [^\n]* failed: http: HTTP 404 %(attempt 1%)"), out)
  end)

  it("info (the default): one line per failed request, with URL, kind and attempt; no debug", function()
    local status, out = run(("run %s"):format(spider()), start)
    assert.equal(0, status, out)
    assert.matches(TS .. " INFO silk: GET " .. web.url .. "/gone1.html failed: http: HTTP 404 %(attempt 1%)\n", out)
    assert.matches(" INFO silk: GET " .. web.url .. "/gone2.html failed: http: HTTP 404 %(attempt 1%)\n", out)
    assert.not_matches("DEBUG", out)
  end)

  it("warning: retries exhausted, not the failures that were not retried", function()
    local bad = servers.badserver{}
    local status, out = crawl_index(('<a href="%s/status?code=503">flaky</a> <a href="gone1.html">gone</a>'):format(
      bad.url), "--log-level warning -s retries=1")
    bad.stop()
    assert.equal(0, status, out)
    assert.matches(TS .. " WARNING silk: GET " .. bad.url .. "/status%?code=503 failed: http: HTTP 503 "
                   .. "%(attempt 2, retries exhausted%)\n", out)
    assert.not_matches("INFO", out)
    assert.not_matches("gone1", out)
  end)

  it("warning: a host that keeps failing is backed off, once per streak", function()
    local down = "http://127.0.0.1:" .. servers.free_port()
    local links = {}
    for i = 1, 3 do links[i] = ('<a href="%s/p%d">%d</a>'):format(down, i, i) end
    local status, out = crawl_index(table.concat(links, " "), "--log-level warning -s retries=0 -s host_error_budget=3",
                                    "max_per_host = 1,")
    assert.equal(0, status, out)
    assert.equal(1, count_of(out, " WARNING silk: host " .. down:gsub("%p", "%%%0")
      .. " backed off after 3 failures in a row %(last: connect on [^)]*%): its requests wait 5 s"), out)
  end)

  it("error: warnings are left out", function()
    local bad = servers.badserver{}
    local status, out = crawl_index(('<a href="%s/status?code=503">flaky</a>'):format(bad.url),
                                    "--log-level error -s retries=1")
    bad.stop()
    assert.equal(0, status, out)
    assert.not_matches("WARNING", out)
    assert.not_matches("retries exhausted", out)
  end)

  it("the crawl's own messages carry their level: a raising callback, a refused item, robots.txt", function()
    local bad = servers.badserver{ robots_fail = 2 }   -- one try of two attempts
    local path = os.tmpname() .. ".lua"
    write(path, [[
return require("silk").spider{
  name = "levels", start_urls = { os.getenv("START") },
  parse = function(res, crawl)
    crawl:emit{ url = res.url, bad = function() end }
    error("boom")
  end,
}]])
    local status, out = run("run " .. path .. " --log-level warning", "START=" .. bad.url .. "/sleep?ms=1")
    bad.stop()
    assert.equal(0, status, out)
    assert.matches(TS .. " WARNING silk: " .. bad.url .. "/robots.txt unreachable %(HTTP 503%): its host waits\n", out)
    assert.matches(TS .. " WARNING silk: item refused on " .. bad.url .. "/sleep%?ms=1 %(", out)
    assert.matches(TS .. " ERROR silk: callback parse failed on " .. bad.url .. "/sleep%?ms=1: error: [^\n]*boom", out)
  end)

  it("refuses a bad value, naming the option and the valid values (exit 2)", function()
    local status, out = run(("run %s --log-level verbose"):format(spider()), start)
    assert.equal(2, status, out)
    assert.matches("%-%-log%-level: expected debug, info, warning or error, got 'verbose'", out)
    status, out = run(("run %s --log-format xml"):format(spider()), start)
    assert.equal(2, status, out)
    assert.matches("%-%-log%-format: expected text or json, got 'xml'", out)
    status, out = run(("run %s --log-file /nonexistent-dir/x.log"):format(spider()), start)
    assert.equal(2, status, out)
    assert.matches("%-%-log%-file: /nonexistent%-dir/x.log: No such file or directory", out)
  end)
end)

describe("silk run -a", function()
  it("hands the spider file its arguments as `...`, a table of strings, as Scrapy's -a", function()
    local f = os.tmpname() .. ".lua"
    write(f, [[
local args = ...
local silk = require("silk")
return silk.spider{
  name = "args", start_urls = { args.start },
  parse = function(res, crawl) crawl:emit{ url = res.url, category = args.category, empty = args.empty } end,
}]])
    local out_file = tmpdir() .. "/items.jsonl"
    local status, out = run(("run %s -a start=%s/index.html --arg category=books -a empty= -o %s"):format(
      f, web.url, out_file))
    assert.equal(0, status, out)
    assert.same({ url = web.url .. "/index.html", category = "books", empty = "" }, cjson.decode(read(out_file)))
    status, out = run(("run %s -a 9lives=x"):format(f))
    assert.equal(2, status, out)
    assert.matches("%-a 9lives=x: NAME=VALUE expected, NAME a Lua identifier", out)
  end)
end)

describe("silk run's summary", function()
  it("lists depths in numeric order (10 after 9, not after 1)", function()
    local d = tmpdir()
    for i = 0, 11 do write(("%s/p%d.html"):format(d, i), ('<a href="p%d.html">next</a>'):format(i + 1)) end
    local site = servers.nginx{ root = d }
    local status, out = run(("run %s"):format(spider()), "START=" .. site.url .. "/p0.html")
    site:stop()
    assert.equal(0, status, out)
    assert.matches("  depth: 0=1 1=1 2=1 3=1 4=1 5=1 6=1 7=1 8=1 9=1 10=1 11=1\n", out)
  end)
end)

describe("silk run --log-format json --log-file", function()
  it("writes one JSON object per line to the file (ts, level, msg and the fields), nothing to stderr", function()
    local logf = tmpdir() .. "/crawl.log"
    write(logf, "")                                  -- appended to, not replaced
    local status, out = run(("run %s --log-level debug --log-format json --log-file %s"):format(spider(), logf), start)
    assert.equal(0, status, out)
    assert.not_matches("silk: ", out)                -- only the summary on stderr
    assert.matches("crawl finished", out)
    local responses, failures = 0, 0
    for line in read(logf):gmatch("[^\n]+") do
      local o = cjson.decode(line)
      assert.matches("^" .. TS .. "$", o.ts)
      assert.is_string(o.msg)
      if o.level == "debug" then
        responses = responses + 1
        assert.equal("GET", o.method)
        assert.is_number(o.status)
        assert.is_number(o.ms)
        assert.is_number(o.bytes)
        assert.matches("^" .. web.url, o.url)
        assert.is_truthy(line:find('"url":"' .. web.url, 1, true), line)   -- "/" left unescaped
      elseif o.level == "info" then
        failures = failures + 1
        assert.equal("http", o.kind)
        assert.equal(404, o.status)
        assert.equal(1, o.attempt)
        assert.matches("/gone%d%.html$", o.url)
      end
    end
    assert.equal(5, responses)
    assert.equal(2, failures)
  end)
end)

describe("the progress line on a terminal", function()
  -- runs silk under script(1), so that stderr is a TTY; returns the rows a
  -- terminal shows: each line of output after its last "erase line"
  local function on_tty(args, env)
    local d = tmpdir()
    local cmd = ("cd %s && env %s %s %s"):format(root, env, silk_bin, args)
    write(d .. "/cmd.sh", cmd)
    local p = io.popen(("script -qec 'sh %s/cmd.sh' /dev/null 2>&1"):format(d))
    local out = p:read("*a")
    p:close()
    local rows = {}
    for line in out:gsub("\r\n", "\n"):gmatch("[^\n]*") do
      rows[#rows + 1] = line:match(".*\r\27%[K(.*)$") or line
    end
    return rows, out
  end

  it("never shares a row with a log line: it is erased and drawn again below", function()
    -- slow pages, so that the progress line is up when the lines come
    local sp = spider("delay = 0.2, max_per_host = 1,", "silk.sleep(0.1)")
    local rows, raw = on_tty(("run %s --log-level debug"):format(sp), start)
    local logged, drawn = 0, 0
    for _, row in ipairs(rows) do
      local is_log = row:find(" silk: ", 1, true) ~= nil
      local is_progress = row:find("%d+ pages %(") ~= nil
      assert.is_false(is_log and is_progress, "mixed: " .. row)
      if is_log then logged = logged + 1 end
      if is_progress then drawn = drawn + 1 end
    end
    assert.is_true(logged >= 7, raw)
    assert.is_true(drawn >= 1, raw)
    -- each log line after the first progress line was preceded by an erase
    assert.is_nil(raw:find("pages %([^\r\n]*%d+%-%d+%-%d+T"), raw)
  end)

  it("stays on the terminal with --log-file, which gets the log lines", function()
    local logf = tmpdir() .. "/crawl.log"
    local sp = spider("delay = 0.2, max_per_host = 1,", "silk.sleep(0.1)")
    local rows, raw = on_tty(("run %s --log-file %s"):format(sp, logf), start)
    assert.matches("%d+ pages %(", raw)
    assert.not_matches(" INFO silk: ", raw)
    assert.equal(2, count_of(read(logf), " INFO silk: GET [^\n]* failed: http: HTTP 404"))
    assert.is_true(#rows > 0)
  end)
end)

describe("the stats file", function()
  it("lists the failed URLs (the first 1 000) with kind and status, and counts them by kind", function()
    local links = {}
    for i = 1, 1010 do links[i] = ('<a href="missing/%d.html">%d</a>'):format(i, i) end
    local stats = tmpdir() .. "/stats.json"
    local status, out = crawl_index(table.concat(links, " "),
                                    ("--stats %s -s concurrency=32 -s max_per_host=32"):format(stats))
    assert.equal(0, status, out:sub(-2000))
    local st = cjson.decode(read(stats))
    assert.equal(1010, st.errors)
    assert.equal(1010, st.errors_by_kind.http)
    assert.equal(1000, #st.failed_urls)
    local seen = {}
    for _, f in ipairs(st.failed_urls) do
      assert.equal("http", f.kind)
      assert.equal(404, f.status)
      local n = tonumber(f.url:match("/missing/(%d+)%.html$"))
      assert.is_truthy(n, f.url)
      assert.is_nil(seen[n])
      seen[n] = true
    end
  end)
end)

describe("a start URL that cannot be fetched at all", function()
  it("a mistyped host: a clear error, counted as an error (not robots-blocked), exit 6", function()
    local d = tmpdir()
    local status, out = run(("run %s --stats %s/stats.json"):format(spider(), d),
                            "START=http://no-such-host.invalid/")
    assert.equal(6, status, out)
    assert.matches(TS .. " ERROR silk: start URL http://no%-such%-host%.invalid/ could not be fetched: "
                   .. "the host name does not resolve %(dns: [^\n]*no%-such%-host%.invalid%)\n", out)
    assert.matches("silk run: 1 start URL could not be fetched %(http://no%-such%-host%.invalid/: "
                   .. "the host name does not resolve", out)
    local st = cjson.decode(read(d .. "/stats.json"))
    assert.equal(1, st.errors)
    assert.equal(1, st.errors_by_kind.dns)
    assert.equal(0, st.robots_blocked)
    assert.equal(1, st.start_failed)
    assert.equal("http://no-such-host.invalid/", st.start_urls_failed[1].url)
    assert.equal("dns", st.start_urls_failed[1].kind)
  end)

  it("a start URL robots.txt disallows: exit 6, naming robots.txt", function()
    local d = tmpdir()
    write(d .. "/robots.txt", "User-agent: *\nDisallow: /private/\n")
    write(d .. "/index.html", "<p>x</p>")
    local site = servers.nginx{ root = d }
    local status, out = run(("run %s"):format(spider()), "START=" .. site.url .. "/private/index.html")
    site:stop()
    assert.equal(6, status, out)
    assert.matches("ERROR silk: start URL [^\n]*/private/index.html could not be fetched: its host's robots.txt disallows it", out)
  end)

  it("a start URL that fails while the rest of the crawl goes on: the crawl ends, exit 6", function()
    local status, out = run(("run %s"):format(spider()), start:gsub("index", "gone1"))
    assert.equal(6, status, out)
    assert.matches("ERROR silk: start URL [^\n]*/gone1.html could not be fetched: http: HTTP 404 %(attempt 1%)", out)
  end)
end)

describe("a start URL the spider's own rules refuse", function()
  local function refused(extra, args)
    return run(("run %s %s"):format(spider(extra), args or ""), "START=http://127.0.0.1:9/item/12")
  end

  it("allow: an error naming the patterns, with a hint when they look like regexes (exit 2)", function()
    local status, out = refused([[allow = { "/item/\\d+" },]])
    assert.equal(2, status, out)
    assert.matches("start URL http://127.0.0.1:9/item/12 would never be fetched: it matches none of the "
                   .. "spider's allow patterns %('/item/\\d%+'%) %(allow and deny are Lua patterns, not "
                   .. "regular expressions: '\\d' is written '%%d'%)", out)
  end)

  it("allow from -s, with alternation and a lazy repeat", function()
    local status, out = refused("", "-s 'allow=/(?:a|b)/.*?x'")
    assert.equal(2, status, out)
    assert.matches("there are no %(%?%.%.%.%) groups; there is no '|'", out)
    assert.matches("the shortest repeat is '%.%-', not '%.%*%?'", out)
  end)

  it("deny and allowed_domains name their rule; Lua patterns that match pass", function()
    local status, out = refused([[deny = { "/item/" },]])
    assert.equal(2, status, out)
    assert.matches("it matches the spider's deny pattern '/item/'\n", out)
    status, out = refused([[allowed_domains = { "example.com" },]])
    assert.equal(2, status, out)
    assert.matches("its host is outside the spider's allowed_domains %('example.com'%)", out)
    status, out = refused([[allow = { "/item/%d+$" }, retries = 0, timeout = 2,]])
    assert.equal(6, status, out)                     -- let through, and nothing listens on port 9
  end)

  it("what start_requests queues is checked too: an error, and exit 6", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
return require("silk").spider{
  name = "sr", allowed_domains = { "127.0.0.1" },
  start_requests = function(crawl) crawl:follow("http://example.com/") end,
  parse = function() end,
}]])
    local status, out = run("run " .. path)
    assert.equal(6, status, out)
    assert.matches("ERROR silk: start URL http://example.com/ could not be fetched: its host is outside "
                   .. "the spider's allowed_domains %('127.0.0.1'%)", out)
  end)
end)

describe("a callback that returns a table instead of emitting", function()
  it("gets a warning once, naming the callback", function()
    local path = os.tmpname() .. ".lua"
    write(path, [[
return require("silk").spider{
  name = "returns", start_urls = { os.getenv("START") },
  parse = function(res, crawl)
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href"), { callback = "item" }) end
  end,
  item = function(res) return { url = res.url } end,
}]])
    local status, out = run("run " .. path, start)
    assert.equal(0, status, out)
    assert.equal(1, count_of(out, "WARNING silk: callback item returned a table %(on [^)]*%), which silk ignores: "
      .. "hand items to crawl:emit%(item%) and links to crawl:follow%(url%)"), out)
    assert.not_matches("callback parse returned", out)
  end)
end)

describe("silk.log in a script", function()
  local log = require("silk.log")
  after_each(function() assert(log.configure{}) end)   -- back to info, text, stderr

  it("writes to a file at and above its level; a bad setting changes nothing", function()
    local path = tmpdir() .. "/x.log"
    assert(log.configure{ level = "warning", format = "json", file = path })
    local ok, err = log.configure{ level = "loud" }
    assert.is_nil(ok)
    assert.equal("level: expected debug, info, warning or error, got 'loud'", err)
    assert.is_false(log.enabled("info"))
    assert.is_true(log.enabled("warning"))
    log.info("left out")
    log.warning({ url = "http://a/b", attempt = 2, kind = "reset" }, "%d%% of %s", 50, "it")
    log.error("100% as given")                     -- no arguments: not a format
    local lines = {}
    for l in read(path):gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.equal(2, #lines)
    assert.equal("warning", lines[1].level)
    assert.equal("50% of it", lines[1].msg)
    assert.equal("http://a/b", lines[1].url)
    assert.equal(2, lines[1].attempt)
    assert.equal("reset", lines[1].kind)
    assert.equal("100% as given", lines[2].msg)
    assert.matches("^" .. TS .. "$", lines[2].ts)
    -- the wall clock, in UTC: os.time reads the fields as local time
    local t = lines[2].ts
    local utc_offset = os.time() - os.time(os.date("!*t"))
    local at = os.time{ year = t:sub(1, 4), month = t:sub(6, 7), day = t:sub(9, 10), hour = t:sub(12, 13),
                        min = t:sub(15, 16), sec = t:sub(18, 19) } + utc_offset
    assert.is_true(math.abs(os.time() - at) <= 2, t)
  end)
end)
