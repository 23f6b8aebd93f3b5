-- security_spec.lua: the defaults that keep hostile pages and servers out
-- (docs/security.md): only http and https, also after redirects; the
-- private-address guard (fetch's block_private, the spider's deny_private)
-- checked on the resolved address, on reused connections and after
-- redirects; size caps on headers, bodies, decoded bodies, robots.txt,
-- sitemaps and HTML; TLS verified unless a request says insecure; the
-- console socket's mode and directory check; metrics on loopback.
-- Every server is on this host; nothing is sent anywhere else, even when a
-- guard fails (the addresses tried are loopback ones in disguise).
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local silk = require("silk")
local F = require("silk.core.fetch")
local fetch = F.fetch

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function writefile(path, s)
  local f = assert(io.open(path, "wb")); f:write(s); f:close()
end

local function fails(kind, req)
  local res, err = fetch(req)
  assert.is_nil(res, "expected " .. kind .. ", got status " .. tostring(res and res.status))
  assert.equal(kind, err.kind, tostring(err and err.message))
  return err
end

-- An address of this host that block_private lets through (not loopback,
-- private or link-local: e.g. a TEST-NET or public address on eth0), or nil.
-- Traffic to it never leaves the host: the kernel delivers it locally.
local function public_local_address()
  for ip in sh("hostname -I 2>/dev/null"):gmatch("%S+") do
    local a, b = ip:match("^(%d+)%.(%d+)%.%d+%.%d+$")
    a, b = tonumber(a), tonumber(b)
    if a and not (a == 10 or a == 127 or a == 0 or a >= 224 or (a == 172 and b >= 16 and b < 32)
                  or (a == 192 and b == 168) or (a == 169 and b == 254) or (a == 100 and b >= 64 and b < 128)) then
      return ip
    end
  end
end

local root, web, bad, public_ip, public_port

setup(function()
  root = sh("mktemp -d /tmp/silk-sec.XXXXXX")
  writefile(root .. "/index.html", "<html><body><a href='/a.html'>a</a></body></html>")
  writefile(root .. "/a.html", "<html><body>a</body></html>")
  writefile(root .. "/big.bin", ("x"):rep(3 * 1024 * 1024))
  writefile(root .. "/robots.txt", "User-agent: *\nAllow: /\n")
  local big_headers = {}
  for i = 1, 100 do
    big_headers[#big_headers + 1] = ("add_header X-Pad-%d %s;"):format(i, ("p"):rep(3000))
  end
  public_ip = public_local_address()
  local extra
  if public_ip then
    public_port = servers.free_port()
    -- a server on the public-looking address that redirects to loopback
    extra = ("  server { listen %s:%d; location / { return 302 http://127.0.0.1:PORT$request_uri; } }")
      :format(public_ip, public_port)
  end
  local port = servers.free_port()
  web = servers.nginx{
    root = root, port = port, http2_tls = true,
    conf_extra = extra and extra:gsub("PORT", tostring(port)),
    server_extra = "    location = /big-headers { " .. table.concat(big_headers, " ") .. " return 200 'ok'; }\n" ..
                   "    location = /to-public { return 302 http://" .. tostring(public_ip) .. ":" ..
                   tostring(public_port) .. "/a.html; }",
  }
  bad = servers.badserver{}
end)

teardown(function()
  if web then web:stop() end
  if bad then bad:stop() end
  if root then os.execute("rm -rf " .. root) end
end)

describe("schemes", function()
  it("fetches only http and https", function()
    for _, u in ipairs{ "file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/",
                        "dict://127.0.0.1:11211/stat", "scp://127.0.0.1/x", "telnet://127.0.0.1/",
                        "ldap://127.0.0.1/", "smtp://127.0.0.1/", "tftp://127.0.0.1/x" } do
      fails("blocked", u)
    end
  end)

  it("also after a redirect, whatever the status code", function()
    fails("blocked", bad.url .. "/redirect-file")
    fails("blocked", bad.url .. "/redirect-ftp")
    for _, code in ipairs{ 301, 302, 303, 307, 308 } do
      fails("blocked", ("%s/redirect?code=%d&to=gopher://127.0.0.1:%d/x"):format(bad.url, code, bad.port))
    end
  end)

  it("a crawl follows http(s) links only and refuses other start URLs", function()
    local crawl = require("silk.crawl")
    local seen = {}
    local sp = silk.spider{
      name = "schemes", start_urls = { web.url .. "/index.html" }, obey_robots = false,
      parse = function(res, c)
        seen[#seen + 1] = res.url
        for _, u in ipairs{ "file:///etc/passwd", "javascript:alert(1)", "data:text/html,x",
                            "ftp://127.0.0.1/x", "mailto:a@b.c" } do
          assert.is_false(c:follow(u))
        end
      end,
    }
    local run = crawl.new(sp, {})
    local st = run:run()
    run:close()
    assert.same({ web.url .. "/index.html" }, seen)
    assert.equal(0, st.callback_errors)   -- the asserts inside parse held
    local r2 = crawl.new(silk.spider{ name = "s2", start_urls = { "file:///etc/passwd" },
                                      parse = function() end }, {})
    local ok, msg = pcall(r2.run, r2)
    r2:close()
    assert.is_false(ok)
    assert.matches("http or https URL is required", msg)
  end)
end)

describe("the private-address guard (block_private, deny_private)", function()
  it("is off by default: loopback is fetched", function()
    assert.equal(200, assert(fetch(web.url .. "/a.html")).status)
  end)

  it("refuses loopback however the URL spells it, after DNS resolution", function()
    local port = web.port
    for _, host in ipairs{ "127.0.0.1", "localhost", "127.0.0.2", "127.1", "2130706433", "0x7f000001",
                           "0177.0.0.1", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]" } do
      local err = fails("blocked", { url = ("http://%s:%d/a.html"):format(host, port), block_private = true })
      assert.matches("private or loopback", err.message)
    end
  end)

  it("refuses loopback even while a keep-alive connection to it, opened without the guard, is idle", function()
    assert.equal(200, assert(fetch(web.url .. "/a.html")).status)   -- leaves a keep-alive connection
    fails("blocked", { url = web.url .. "/a.html", block_private = true })
  end)

  it("refuses a redirect from an allowed address to loopback (no SSRF through a crawled link)", function()
    if not public_ip then
      pending("no non-private address on this host to redirect from")
      return
    end
    local pub = ("http://%s:%d"):format(public_ip, public_port)
    -- the first hop itself is allowed ...
    local res = assert(fetch{ url = pub .. "/a.html", block_private = true, follow_redirects = false })
    assert.equal(302, res.status)
    -- ... its redirect to 127.0.0.1 is not
    local err = fails("blocked", { url = pub .. "/a.html", block_private = true })
    assert.matches("private or loopback", err.message)
    -- and a loopback page redirecting to the public address is refused at the first hop
    fails("blocked", { url = web.url .. "/to-public", block_private = true })
  end)

  it("deny_private = true refuses them in a crawl", function()
    local crawl = require("silk.crawl")
    local pages = 0
    local sp = silk.spider{
      name = "deny", start_urls = { web.url .. "/index.html", "http://localhost:" .. web.port .. "/a.html" },
      deny_private = true, obey_robots = false, retries = 0,
      parse = function() pages = pages + 1 end,
    }
    local run = crawl.new(sp, {})
    local st = run:run()
    run:close()
    assert.equal(0, pages)
    assert.equal(2, st.errors_by_kind.blocked)
  end)

  it("silk run --deny-private turns the guard on from the command line", function()
    local path = os.tmpname() .. ".lua"
    local f = assert(io.open(path, "w"))
    f:write(([[return require("silk").spider{ name = "cli-deny", start_urls = { %q },
      obey_robots = false, retries = 0, parse = function() end }]]):format(web.url .. "/index.html"))
    f:close()
    local stats = os.tmpname()
    local bin = require("silk.core.engine").exe()
    local p = io.popen(("%s run %s --deny-private --stats %s 2>&1; echo \"exit:$?\""):format(bin, path, stats))
    local out = p:read("*a")
    p:close()
    assert.matches("exit:6", out)                 -- its one start URL could not be fetched
    assert.matches("start URL [^\n]* could not be fetched: blocked: ", out)
    local st = require("cjson").decode(assert(io.open(stats)):read("*a"))
    assert.equal(0, st.pages)
    assert.equal(1, st.errors_by_kind.blocked)
  end)

  it("deny_private also guards robots.txt: a host it forbids is never asked, its requests fail as blocked", function()
    local crawl = require("silk.crawl")
    local sp = silk.spider{ name = "deny-robots", start_urls = { web.url .. "/index.html" },
                            deny_private = true, parse = function() end }
    local run = crawl.new(sp, {})
    local st = run:run()
    run:close()
    assert.equal(0, st.pages)
    assert.equal(0, st.robots_blocked)
    assert.equal(1, st.errors_by_kind.blocked)
  end)
end)

describe("size caps", function()
  it("response headers: 256 KiB", function()
    local err = fails("too_large", web.url .. "/big-headers")
    assert.matches("headers over", err.message)
  end)

  it("bodies: max_size, with a Content-Length and without one", function()
    fails("too_large", { url = web.url .. "/big.bin", max_size = 1024 * 1024 })
    assert.equal(3 * 1024 * 1024, #assert(fetch{ url = web.url .. "/big.bin", max_size = 4 * 1024 * 1024 }).body)
    fails("too_large", { url = bad.url .. "/endless", max_size = 2 * 1024 * 1024, timeout = 10 })
  end)

  it("decoded bodies: a gzip bomb stops at max_size of decoded bytes", function()
    local before = collectgarbage("count")
    local t0 = silk.now()
    fails("too_large", { url = bad.url .. "/gzip-bomb", max_size = 1024 * 1024 })
    assert.is_true(silk.now() - t0 < 5)
    assert.is_true(collectgarbage("count") - before < 16 * 1024)
  end)

  it("the spider's max_size (16 MiB) reaches every fetch of a crawl", function()
    local spider = require("silk.spider")
    assert.equal(16 * 1024 * 1024, spider.settings.max_size[1])
    local crawl = require("silk.crawl")
    local sp = silk.spider{ name = "cap", start_urls = { web.url .. "/big.bin" }, obey_robots = false,
                            retries = 0, max_size = 1024 * 1024, parse = function() end }
    local run = crawl.new(sp, {})
    local st = run:run()
    run:close()
    assert.equal(1, st.errors_by_kind.too_large)
  end)

  it("robots.txt: rules past 500 KiB are ignored", function()
    local robots = require("silk.core.robots")
    local pad = ("# padding line of a long robots.txt\n"):rep(math.ceil(520 * 1024 / 36))
    local r = robots.parse("User-agent: *\nDisallow: /early\n" .. pad .. "Disallow: /late\n")
    assert.is_false(r:allowed("silk", "/early"))
    assert.is_true(r:allowed("silk", "/late"))
  end)

  it("sitemaps: 50 MB decompressed (a gzip bomb is refused), 50 000 URLs, 8 KiB per <loc>", function()
    local sm = require("silk.core.sitemap")
    local path = root .. "/bomb.xml.gz"
    assert(os.execute(("python3 -c \"import gzip; open('%s','wb').write(gzip.compress("
      .. "b'<urlset xmlns=\\\"http://www.sitemaps.org/schemas/sitemap/0.9\\\">' + b' ' * 60000000 + b'</urlset>'))\"")
      :format(path)) == 0)
    local f = assert(io.open(path, "rb"))
    local gz = f:read("*a")
    f:close()
    assert.is_true(#gz < 1024 * 1024)
    local res, err = sm.parse(gz)
    assert.is_nil(res)
    assert.equal("too_large", err.kind)

    local urls = {}
    for i = 1, 50010 do urls[i] = ("<url><loc>http://a.example/%d</loc></url>"):format(i) end
    urls[#urls + 1] = "<url><loc>http://a.example/" .. ("x"):rep(9000) .. "</loc></url>"
    res = assert(sm.parse('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                          .. table.concat(urls) .. "</urlset>"))
    assert.equal(50000, #res.urls)
    assert.is_true(res.truncated)
    res = assert(sm.parse('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                          .. urls[#urls] .. urls[1] .. "</urlset>"))
    assert.same({ "http://a.example/1" }, res.urls)
    assert.equal(1, res.skipped)
  end)

  it("HTML: nesting depth and input size", function()
    local html = require("silk.core.html")
    local doc, err = html.parse(("<div>"):rep(5000))
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
    doc, err = html.parse(("<p>x</p>"):rep(1000), nil, { max_bytes = 4096 })
    assert.is_nil(doc)
    assert.equal("too_large", err.kind)
  end)
end)

describe("TLS", function()
  it("verifies certificates unless a request says insecure", function()
    local err = fails("tls", web.https_url .. "/a.html")
    assert.is_string(err.message)
    assert.equal(200, assert(fetch{ url = web.https_url .. "/a.html", ca_file = web.tls.ca }).status)
    assert.equal(200, assert(fetch{ url = web.https_url .. "/a.html", insecure = true }).status)
  end)

  it("a crawl has no way to turn verification off", function()
    local spider = require("silk.spider")
    assert.is_nil(spider.settings.insecure)
    local crawl = require("silk.crawl")
    local sp = silk.spider{ name = "tls", start_urls = { web.https_url .. "/a.html" }, obey_robots = false,
                            retries = 0, parse = function() end }
    local run = crawl.new(sp, {})
    local st = run:run()
    run:close()
    assert.equal(0, st.pages)
    assert.equal(1, st.errors_by_kind.tls)
  end)
end)

describe("the console and metrics listeners", function()
  it("the console socket is mode 0600 and refused in a world-writable directory without the sticky bit", function()
    local cc = require("silk.core.console")
    local dir = sh("mktemp -d /tmp/silk-sec-console.XXXXXX")
    local srv = assert(cc.listen(dir .. "/c.sock"))
    assert.equal("600", sh("stat -c %a " .. dir .. "/c.sock"))
    srv:close()
    os.execute("chmod 777 " .. dir)
    local none, err = cc.listen(dir .. "/c.sock")
    assert.is_nil(none)
    assert.matches("world%-writable without the sticky bit", err)
    os.execute("chmod 1777 " .. dir)
    srv = assert(cc.listen(dir .. "/c.sock"))
    srv:close()
    os.execute("rm -rf " .. dir)
  end)

  it("metrics bind to 127.0.0.1 when no address is given", function()
    local metrics = require("silk.metrics")
    local srv = assert(metrics.serve(":0"))
    local hexport = ("%04X"):format(srv:port())
    local listening = sh("awk '$4 == \"0A\" { print $2 }' /proc/net/tcp /proc/net/tcp6 | grep -i ':" .. hexport .. "$'")
    assert.equal("0100007F:" .. hexport, listening:upper())
    srv:close()
  end)
end)
