-- `silk new`: a project that tests and crawls at once, against the demo
-- bookshop on a real nginx and from the bundled samples.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local files = require("files")
local engine = require("silk.core.engine")
local cjson = require("cjson")

local silk_bin = engine.exe()

-- silk ARGS in directory DIR (with environment ENV, "NAME=value ...");
-- returns exit status and combined output.
local function silk(dir, args, env)
  local p = io.popen(("cd %s && env %s %s %s 2>&1; echo \"exit:$?\""):format(dir, env or "", silk_bin, args))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), out
end

describe("silk new against the demo bookshop", function()
  local demo = files.tmpdir()
  local port = servers.free_port()
  assert(os.execute(("python3 demo/gen.py %s/site --base-url http://127.0.0.1:%d >/dev/null"):format(demo, port)) == 0)
  local web = servers.nginx{ root = demo .. "/site", port = port }
  teardown(function() web:stop() end)

  it("writes a project whose spec passes and whose spider extracts every book", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new shop " .. web.url .. "/")
    assert.equal(0, status, out)
    for _, f in ipairs{ "spiders/shop.lua", "spec/shop_spec.lua", "spec/fixtures/listing.html",
                        "spec/fixtures/item.html", ".luarc.json", "README.md" } do
      assert.truthy(files.read(dir .. "/shop/" .. f), f)
    end
    -- the fixtures are the site's pages, fetched by silk
    assert.equal(files.read(demo .. "/site/index.html"), files.read(dir .. "/shop/spec/fixtures/listing.html"))
    status, out = silk(dir .. "/shop", "test")
    assert.equal(0, status, out)
    assert.matches("2 successes / 0 failures / 0 errors / 0 pending", out)

    status, out = silk(dir .. "/shop", "run spiders/shop.lua -o x.jsonl")
    assert.equal(0, status, out)
    local truth, n = {}, 0
    for l in files.read(demo .. "/site.truth.jsonl"):gmatch("[^\n]+") do
      local b = cjson.decode(l)
      truth[b.url] = b
      n = n + 1
    end
    local got = 0
    for l in files.read(dir .. "/shop/x.jsonl"):gmatch("[^\n]+") do
      local item = cjson.decode(l)
      local book = truth[item.url]
      assert.truthy(book, item.url)
      assert.same({ url = book.url, title = book.title, price = book.price }, item)
      truth[item.url] = nil
      got = got + 1
    end
    assert.equal(n, got)
    assert.is_true(n > 100)
  end)

  it("fails the generated spec when the spider stops extracting what it did", function()
    local dir = files.tmpdir()
    assert.equal(0, (silk(dir, "new shop " .. web.url .. "/")))
    local path = dir .. "/shop/spiders/shop.lua"
    local src, n = files.read(path):gsub('res:text_of%("h1"%)', 'res:text_of("h2")')
    assert.equal(1, n)
    files.write(path, src)
    local status, out = silk(dir .. "/shop", "test")
    assert.equal(1, status, out)
    assert.matches("1 success / 1 failure", out)
  end)

  it("aims the sitemap template at the site's sitemaps, from a page they list", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new --template sitemap maps " .. web.url .. "/")
    assert.equal(0, status, out)
    assert.matches('sitemap_urls = { "' .. web.url:gsub("%p", "%%%0") .. '/sitemap.xml" }',
                   files.read(dir .. "/maps/spiders/maps.lua"))
    assert.matches('<article class="product_page">', files.read(dir .. "/maps/spec/fixtures/page.html"), 1, true)
    status, out = silk(dir .. "/maps", "test")
    assert.equal(0, status, out)
    status, out = silk(dir .. "/maps", "run spiders/maps.lua -o x.jsonl")
    assert.equal(0, status, out)
    local n = 0
    for _ in files.read(dir .. "/maps/x.jsonl"):gmatch("[^\n]+") do n = n + 1 end
    assert.equal(select(2, files.read(demo .. "/site.truth.jsonl"):gsub("\n", "")), n)
  end)

  it("says which URL it could not fetch and writes nothing", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new gone " .. web.url .. "/missing/")
    assert.equal(1, status, out)
    assert.matches("silk new: cannot fetch " .. web.url:gsub("%p", "%%%0") .. "/missing/: HTTP 404", out)
    assert.is_nil(files.read(dir .. "/gone/README.md"))
  end)
end)

describe("silk new --template login against a site with a login form", function()
  local app = servers.webapp{ pages = 6 }
  teardown(function() app:stop() end)
  local creds = "APP_USER=alice APP_PASSWORD=secret"

  it("logs in with the site's own form, CSRF token included, and crawls what is behind it", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new --template login app " .. app.url .. "/members/1", creds)
    assert.equal(0, status, out)
    -- the members' page was saved after silk new logged in itself
    assert.matches("<h1>Member page 1</h1>", files.read(dir .. "/app/spec/fixtures/listing.html"), 1, true)
    assert.matches('name="password"', files.read(dir .. "/app/spec/fixtures/login.html"), 1, true)
    status, out = silk(dir .. "/app", "test")
    assert.equal(0, status, out)
    assert.matches("2 successes / 0 failures", out)   -- login and parse (no item links there)

    status, out = silk(dir .. "/app", "run spiders/app.lua -o x.jsonl", creds)
    assert.equal(0, status, out)
    local posted, members = 0, {}
    for _, e in ipairs(app.log()) do
      if e.method == "POST" and e.path == "/login" then posted = posted + 1 end
      local n = e.path:match("^/members/(%d+)$")
      if n and type(e.cookie) == "string" and e.cookie:find("sid=", 1, true) then members[tonumber(n)] = true end
    end
    assert.equal(2, posted)             -- silk new's login and the crawl's
    for n = 1, 6 do assert.truthy(members[n], "/members/" .. n .. " with the session cookie") end
  end)

  it("says why it could not log in, and writes nothing", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new --template login app " .. app.url .. "/members/1",
                             "APP_USER=alice APP_PASSWORD=wrong")
    assert.equal(1, status, out)
    assert.matches("silk new: cannot log in on " .. app.url:gsub("%p", "%%%0") .. "/login: HTTP 403", out)
    assert.is_nil(files.read(dir .. "/app/README.md"))
  end)
end)

describe("silk new without a URL", function()
  for _, template in ipairs{ "plain", "sitemap", "login", "api", "browser" } do
    it("writes a " .. template .. " project whose spec passes on the samples", function()
      local dir = files.tmpdir()
      local status, out = silk(dir, "new --template " .. template .. " p")
      assert.equal(0, status, out)
      status, out = silk(dir .. "/p", "test")
      assert.equal(0, status, out)
      assert.matches("0 failures / 0 errors / 0 pending", out)
      assert.not_matches("0 successes", out)
    end)
  end

  it("points .luarc.json at the type stubs", function()
    local dir = files.tmpdir()
    assert.equal(0, (silk(dir, "new p")))
    local rc = cjson.decode(files.read(dir .. "/p/.luarc.json"))
    local lib = rc["workspace.library"][1]
    assert.truthy(files.read(lib .. "/silk.lua"), lib)
    assert.equal("LuaJIT", rc["runtime.version"])
  end)

  it("refuses to overwrite a directory, naming it", function()
    local dir = files.tmpdir()
    os.execute("mkdir " .. dir .. "/taken")
    local status, out = silk(dir, "new taken")
    assert.equal(2, status)
    assert.matches("silk new: taken already exists", out)
    assert.is_nil(files.read(dir .. "/taken/README.md"))
  end)

  it("lists the templates and refuses an unknown one or a bad name", function()
    local status, out = silk(".", "new --list")
    assert.equal(0, status)
    for _, t in ipairs{ "plain", "sitemap", "login", "api" } do assert.matches("\n  " .. t .. " ", out) end
    status, out = silk(".", "new --template nope x")
    assert.equal(2, status)
    assert.matches("no template 'nope'; there are plain, sitemap, login, api, browser", out)
    status, out = silk(".", "new 'a b'")
    assert.equal(2, status)
    assert.matches("'a b' cannot name a project", out)
  end)
end)

describe("silk new --template browser against a shop whose listing a script writes", function()
  local BIN = os.getenv("SILK_CHROMIUM") or "/usr/lib/chromium/chromium-headless-shell"
  if not io.open(BIN, "rb") then return pending("no " .. BIN) end
  local root = files.tmpdir()
  -- the listing's links exist only once its script ran; item pages are static
  local products = {}
  os.execute("mkdir -p " .. root .. "/p")
  for i = 1, 6 do
    products[i] = ('{"href":"/p/%d.html","name":"Lamp %d"}'):format(i, i)
    files.write(("%s/p/%d.html"):format(root, i), ('<!DOCTYPE html><body><h1>Lamp %d</h1>'
      .. '<p class="price">$%d.00</p></body>'):format(i, 10 + i))
  end
  files.write(root .. "/products.json", "[" .. table.concat(products, ",") .. "]")
  files.write(root .. "/index.html", [[<!DOCTYPE html><body><ul id="list"></ul><script>
fetch('/products.json').then(r => r.json()).then(ps => { for (const p of ps) {
  const li = document.createElement('li'); li.className = 'product';
  const a = document.createElement('a'); a.href = p.href; a.textContent = p.name;
  li.appendChild(a); document.getElementById('list').appendChild(li) } });
</script></body>]])
  local web = servers.nginx{ root = root }
  teardown(function() web:stop() end)

  it("writes a rendering spider whose spec passes and whose crawl extracts every item", function()
    local dir = files.tmpdir()
    local status, out = silk(dir, "new --template browser lamps " .. web.url .. "/")
    assert.equal(0, status, out)
    assert.matches("render = true", files.read(dir .. "/lamps/spiders/lamps.lua"), 1, true)
    -- the listing fixture is what the browser rendered: the links are in it
    assert.matches('href="/p/1.html"', files.read(dir .. "/lamps/spec/fixtures/listing.html"), 1, true)
    status, out = silk(dir .. "/lamps", "test")
    assert.equal(0, status, out)
    status, out = silk(dir .. "/lamps", "run spiders/lamps.lua -o x.jsonl")
    assert.equal(0, status, out)
    local titles = {}
    for l in files.read(dir .. "/lamps/x.jsonl"):gmatch("[^\n]+") do titles[#titles + 1] = cjson.decode(l).title end
    table.sort(titles)
    assert.same({ "Lamp 1", "Lamp 2", "Lamp 3", "Lamp 4", "Lamp 5", "Lamp 6" }, titles)
  end)
end)
