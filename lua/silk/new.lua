--- silk.new: `silk new [--template T] NAME [URL]` and `silk new --list`.
--
-- Writes NAME/ with a spider (spiders/NAME.lua), a spec of its callbacks
-- (spec/NAME_spec.lua) on saved pages (spec/fixtures/), a .luarc.json that
-- points the Lua language server at silk's type stubs, and a README of the
-- commands. With URL the fixtures are fetched from it (silk.fetch) and the
-- plain templates aim their selectors at what the page holds; without it
-- they are the samples in lua/silk/templates/.
--
-- The spec's expectations are what the spider's callbacks produced on the
-- fixtures when it was generated, so `silk test` passes at once and fails
-- when a change of the spider changes what it extracts from those pages.
-- NAME/ must not exist: nothing is overwritten. Exit status 2 for usage
-- errors (an existing directory, a bad name, an unknown template), 1 when
-- URL cannot be fetched; nothing is written then.

local silk = require("silk")
local engine = require("silk.core.engine")
local url = require("silk.core.url")
local testing = require("silk.testing")
local pretty = require("silk.pretty")
local lfs = require("lfs")
local cjson = require("cjson")

local cli = require("silk.cli")

local spec = {
  name = "new",
  usage = "[options] NAME [URL]",
  about = [[Writes a spider project in NAME/: spiders/NAME.lua, spec/NAME_spec.lua testing its
callbacks on the pages in spec/fixtures/ (fetched from URL with silk.fetch when given,
else samples), .luarc.json (silk's editor types) and README.md. With URL, the spider's
selectors are guessed from the page. NAME/ must not exist. Then, in NAME/,
`silk test` passes at once and `silk run spiders/NAME.lua -o items.jsonl` crawls.]],
  options = {
    { "-t", "--template", arg = "T", help = "plain (default), sitemap, login, api or browser",
      set = function(o, v) o.template = v end },
    { "--list", help = "the templates, and what each writes", set = function(o) o.list = true end },
  },
  positional = function(o, a)
    if not o.name then o.name = a
    elseif not o.url then o.url = a
    else error(("unexpected argument '%s' (usage: silk new [options] NAME [URL])"):format(a), 0) end
  end,
  notes = [[The login template logs in with $NAME_USER and $NAME_PASSWORD (NAME in capitals),
at generation (to save the pages behind the login) and when crawling.
Exit status: 0 written; 1 URL could not be fetched or logged in to; 2 bad arguments
or NAME/ exists (nothing is written then).
]],
  example = "silk new shop http://127.0.0.1:8080/",
}

local function fail(status, msg)
  io.stderr:write("silk new: ", msg, "\n")
  engine.set_exit_code(status)
  return nil
end

-- A bundled sample (lua/silk/templates/NAME) as a response from `u`.
local function sample(name, u)
  return testing.from_file(engine.lua_dir() .. "/silk/templates/" .. name, u)
end

-- `session`: a cookie jar the fetches share (the login template's).
local function fetch(u, session, render)
  local res, err
  if render then   -- the browser template's fixtures are what the browser rendered
    res, err = silk.render(u, { wait = "networkidle", timeout = 30 })
  else
    res, err = silk.fetch{ url = u, timeout = 30, session = session }
  end
  if not res then return nil, tostring(err) end
  if res.status >= 400 then return nil, "HTTP " .. res.status end
  return res
end

-- Guessing selectors ----------------------------------------------------------

-- The selector of an element by its tag and first class ("article.product").
local function tag_class(node)
  local class = node:attr("class")
  local first = class and class:match("[%w_%-]+")
  return first and first:match("^[%a_%-]") and (node.tag .. "." .. first) or nil
end

-- The links of a listing's items: the repeated element (same tag and class,
-- found most often) that holds links, and in it the link with the longest
-- text. Returns a selector ("article.product_pod h3 a") or nil.
local function item_links(res)
  local best, best_n = nil, 1
  local tried = {}
  for _, a in ipairs(res:select("a[href]")) do
    local path, node, container = {}, a:parent(), nil
    while node and node.tag ~= "body" and node.tag ~= "html" do
      container = tag_class(node)
      if container then break end
      table.insert(path, 1, node.tag)
      node = node:parent()
    end
    local text = a:text()
    if container and text ~= "" then
      local sel = container .. " " .. (#path > 0 and (table.concat(path, " ") .. " ") or "") .. "a"
      local n = tried[sel]
      if n == nil then
        -- as many containers as links to different places: a repeated item
        local hrefs, links = {}, 0
        for _, l in ipairs(res:select(sel)) do
          local h = l:attr("href")
          if h and not hrefs[h] then hrefs[h] = true; links = links + 1 end
        end
        n = math.min(#res:select(container), links)
        tried[sel] = n
      end
      if n > best_n then best, best_n = sel, n end
    end
  end
  return best
end

-- The fields an item page has: the selectors from this list that match
-- with some text.
local FIELDS = { { "title", "h1" }, { "price", "[class*=price]" } }

local function item_fields(res)
  local found = {}
  for _, f in ipairs(FIELDS) do
    local node = res:one(f[2])
    if node and node:text() ~= "" then found[#found + 1] = f end
  end
  if #found == 0 then found[1] = { "title", "title" } end
  return found
end

-- What tells an item page from the others: the element (tag and class) the
-- first field's element sits in ("article.product_page"), else that field.
local function item_mark(res, fields)
  local node = res:one(fields[1][2])
  node = node and node:parent()
  while node and node.tag ~= "body" and node.tag ~= "html" do
    local sel = tag_class(node)
    if sel then return sel end
    node = node:parent()
  end
  return fields[1][2]
end

-- Templates -------------------------------------------------------------------

local function lua_string(s) return ("%q"):format(s):gsub("\\\n", "\\n") end

local function emit_fields(fields, indent)
  local lines = { indent .. "url = res.url," }
  for _, f in ipairs(fields) do
    lines[#lines + 1] = ("%s%s = res:text_of(%s),"):format(indent, f[1], lua_string(f[2]))
  end
  return table.concat(lines, "\n")
end

local HEADER = [[
-- %s: %s (generated by `silk new`; edit freely).
local silk = require("silk")

]]

-- The listing + item spider of the plain and login templates. `login`
-- adds a start_requests that POSTs the login form first; the crawl's
-- cookie jar (setting cookies, on by default) keeps the session after it.
local function listing_spider(c, login)
  local out = { HEADER:format(c.name, login and "logs in, then crawls the listing pages and extracts each item"
                                             or "crawls the listing pages and extracts each item") }
  if login then
    out[#out + 1] = ([[
local START = %s
local LOGIN = %s       -- the page with the login form

]]):format(lua_string(c.url), lua_string(c.login_url))
  end
  out[#out + 1] = ("return silk.spider{\n  name = %s,\n"):format(lua_string(c.name))
  if not login then out[#out + 1] = ("  start_urls = { %s },\n"):format(lua_string(c.url)) end
  out[#out + 1] = ([[
  allowed_domains = { %s },   -- stay on the site
  concurrency = 8,
  max_per_host = 4,
]]):format(lua_string(c.host))
  if c.render then
    out[#out + 1] = [[
  -- Every page is rendered in headless Chromium first (silk.render), so the
  -- callbacks see what the page's scripts wrote. render = "auto" renders
  -- only the pages that need it; render_options = { wait = { selector = "..." } }
  -- waits for what the items need.
  render = true,
  render_options = { wait = "networkidle" },
]]
  end
  if login then
    local env = c.name:upper():gsub("%W", "_")
    out[#out + 1] = ([[

  -- Logs in first: fetches the login page, fills its form (the one with a
  -- password field) with $%s and $%s and submits it as a
  -- browser would, hidden fields (a CSRF token) and submit button
  -- included. The crawl's cookie jar keeps the session from then on.
  start_requests = function(crawl)
    crawl:request{ url = LOGIN, callback = "login", dont_filter = true }
  end,

  login = function(res, crawl)
    local f = res:one("form:has(input[type=password])")
    if not f then error("no login form on " .. res.url) end
    local user = f:attr_of("input[type=text], input[type=email], input:not([type])", "name")
    local password = f:attr_of("input[type=password]", "name")
    assert(crawl:submit(f, { [user] = os.getenv(%s) or "", [password] = os.getenv(%s) or "" },
                        { callback = "logged_in" }))
  end,

  -- The page the login answered with (after its redirects): the crawl
  -- starts from START now that the session cookie is set.
  logged_in = function(res, crawl)
    crawl:follow(START, { dont_filter = true })
  end,
]]):format(env .. "_USER", env .. "_PASSWORD", lua_string(env .. "_USER"), lua_string(env .. "_PASSWORD"))
  end
  out[#out + 1] = ([[

  -- Listing pages: each item's link goes to `item`; every other link on
  -- the site is followed as one more listing page (categories, next
  -- pages). To crawl less, follow a narrower selector than "a[href]", or
  -- add `allow = { "lua pattern" }` above.
  parse = function(res, crawl)
    for _, a in ipairs(res:select(%s)) do
      crawl:follow(a:attr("href"), { callback = "item" })
    end
    for _, a in ipairs(res:select("a[href]")) do
      crawl:follow(a:attr("href"))
    end
  end,

  -- Item pages: one item each (a field whose element is missing is left out).
  item = function(res, crawl)
    crawl:emit{
%s
    }
  end,
}
]]):format(lua_string(c.item_links), emit_fields(c.fields, "      "))
  return table.concat(out)
end

-- Fetches the listing (URL) and its first item page, or takes the samples;
-- fills c.item_links and c.fields; returns the fixtures and the cases.
local function listing_fixtures(c)
  local listing, detail, detail_url
  if c.given_url then
    local res, err = fetch(c.url, c.session, c.render)
    if not res then return nil, ("cannot fetch %s: %s"):format(c.url, err) end
    listing = res
  else
    listing = sample("listing.html", c.url)
  end
  c.item_links = item_links(listing) or "main a, article a"
  local first = listing:select(c.item_links)[1]
  detail_url = first and listing:urljoin(first:attr("href"))
  if c.given_url and detail_url then
    local res, err = fetch(detail_url, c.session, c.render)
    if not res then return nil, ("cannot fetch %s: %s"):format(detail_url, err) end
    detail = res
  elseif not c.given_url then
    detail_url = detail_url or url.join(c.url, "/item/")
    detail = sample("detail.html", detail_url)
  end
  c.fields = detail and item_fields(detail) or { { "title", "h1" } }
  local fixtures = { { file = "listing.html", body = listing.body, url = listing.url, callback = "parse",
                       what = "follows the items of a listing page" } }
  if detail then
    fixtures[2] = { file = "item.html", body = detail.body, url = detail.url, callback = "item",
                    what = "extracts an item page" }
  end
  return fixtures
end

local TEMPLATES, ORDER = {}, { "plain", "sitemap", "login", "api", "browser" }

TEMPLATES.plain = {
  about = "listing pages to item pages: follows each item's link, extracts its page",
  build = function(c)
    local fixtures, err = listing_fixtures(c)
    if not fixtures then return nil, err end
    return listing_spider(c, false), fixtures
  end,
}

-- Submits the login form of page `res` with user and password (the form's
-- text and password fields), in session c.session; true, or nil, why.
local function log_in(c, res, user, password)
  local form = require("silk.form")
  local f = res:one("form:has(input[type=password])")
  local user_field = f:attr_of("input[type=text], input[type=email], input:not([type])", "name")
  local req, err = form.request(f, { [user_field or "user"] = user,
                                     [f:attr_of("input[type=password]", "name")] = password })
  if not req then return nil, tostring(err) end
  local done
  done, err = silk.fetch{ url = req.url, method = req.method, body = req.body, headers = req.headers,
                          session = c.session, timeout = 30 }
  if not done then return nil, tostring(err) end
  if done.status >= 400 then return nil, "HTTP " .. done.status end
  return true
end

TEMPLATES.browser = {
  about = "pages a script fills: renders each page in headless Chromium (render = true), listing to items",
  build = function(c)
    c.render = true
    local fixtures, err = listing_fixtures(c)
    if not fixtures then return nil, err end
    return listing_spider(c, false), fixtures
  end,
}

TEMPLATES.login = {
  about = "a site behind a login form: submits the site's own form first, crawls with its cookies",
  build = function(c)
    local env = c.name:upper():gsub("%W", "_")
    c.login_url = url.join(c.url, "/login")
    c.session = "silk-new"
    local login_page
    if c.given_url then
      local res, err = fetch(c.url, c.session)
      if not res then return nil, ("cannot fetch %s: %s"):format(c.url, err) end
      if res:one("form:has(input[type=password])") then
        -- URL sent us to its login page: that is the page to log in on,
        -- and with the credentials the pages behind it can be saved too
        login_page, c.login_url = res, res.url
        local user, password = os.getenv(env .. "_USER"), os.getenv(env .. "_PASSWORD")
        if user and password then
          local ok, why = log_in(c, res, user, password)
          if not ok then return nil, ("cannot log in on %s: %s"):format(res.url, why) end
        else
          io.stderr:write(("silk new: %s is a login page; with %s_USER and %s_PASSWORD set, "
                           .. "silk new logs in and saves the pages behind it\n"):format(res.url, env, env))
        end
      end
    else
      login_page = sample("login.html", c.login_url)
    end
    local fixtures, err = listing_fixtures(c)
    if not fixtures then return nil, err end
    if login_page then
      table.insert(fixtures, 1, { file = "login.html", body = login_page.body, url = login_page.url,
                                  callback = "login", what = "fills and submits the login form" })
    end
    return listing_spider(c, true), fixtures
  end,
}

TEMPLATES.sitemap = {
  about = "every page the site's sitemaps list (sitemap.xml, indexes, gzip); extracts item pages",
  build = function(c)
    local page
    c.sitemap = url.join(c.url, "/sitemap.xml")
    if c.given_url then
      -- the first page of the first sitemap that lists pages, else URL itself
      local sm = require("silk.core.sitemap")
      local at, tries = c.sitemap, 0
      while at and not page and tries < 3 do
        tries = tries + 1
        local res = fetch(at)
        local parsed = res and sm.parse(res.body)
        at = parsed and parsed.sitemaps[1]
        local first = parsed and parsed.urls[1]
        if first then page = fetch(first) end
      end
      if not page then
        local err
        page, err = fetch(c.url)
        if not page then return nil, ("cannot fetch %s: %s"):format(c.url, err) end
      end
    else
      page = sample("detail.html", url.join(c.url, "/item/"))
    end
    c.fields = item_fields(page)
    local mark = item_mark(page, c.fields)
    local src = HEADER:format(c.name, "extracts every item page the site's sitemaps list") .. ([[
return silk.spider{
  name = %s,
  sitemap_urls = { %s },   -- indexes and gzip'd sitemaps are followed
  allowed_domains = { %s },
  concurrency = 8,
  max_per_host = 4,

  -- Every page the sitemaps list arrives here; one without %s is not an
  -- item page and is skipped.
  parse = function(res, crawl)
    if not res:one(%s) then return end
    crawl:emit{
%s
    }
  end,
}
]]):format(lua_string(c.name), lua_string(c.sitemap), lua_string(c.host), mark,
           lua_string(mark), emit_fields(c.fields, "      "))
    return src, { { file = "page.html", body = page.body, url = page.url, callback = "parse",
                    what = "extracts an item page" } }
  end,
}

TEMPLATES.api = {
  about = "a JSON API: emits each record of a response, follows its `next` link",
  build = function(c)
    local body, u = nil, c.url
    if c.given_url then
      local res, err = fetch(c.url)
      if not res then return nil, ("cannot fetch %s: %s"):format(c.url, err) end
      body, u = res.body, res.url
    else
      body = sample("api.json", c.url).body
    end
    local src = HEADER:format(c.name, "emits every record of a JSON API, page after page") .. ([[
return silk.spider{
  name = %s,
  start_urls = { %s },
  allowed_domains = { %s },
  concurrency = 4,
  max_per_host = 4,

  -- One page of the API: its records are under "results", "items" or
  -- "data" (or the page is the list itself); "next" is the next page.
  parse = function(res, crawl)
    local page = res:json()        -- JSON null is silk.null
    local records = type(page) == "table" and (page.results or page.items or page.data or page) or {}
    for _, record in ipairs(records) do
      crawl:emit(type(record) == "table" and record or { value = record })
    end
    if type(page) == "table" and type(page.next) == "string" then crawl:follow(page.next) end
  end,
}
]]):format(lua_string(c.name), lua_string(c.url), lua_string(c.host))
    return src, { { file = "page.json", body = body, url = u, callback = "parse",
                    what = "emits the records of a page" } }
  end,
}

-- The spec ----------------------------------------------------------------------

-- Data as Lua source (cjson.null as itself).
local function literal(v, indent)
  local function nulls(x)
    if x == cjson.null then return pretty.raw("cjson.null") end
    if type(x) ~= "table" then return x end
    local t = {}
    for k, y in pairs(x) do t[k] = nulls(y) end
    return t
  end
  local text = pretty.format(nulls(v), { max_items = 1e9, max_bytes = 1e9, max_depth = 1e9, width = 90 })
  return (text:gsub("\n", "\n" .. indent))
end

local MAX_SHOWN = 20

-- What callback `case.callback` did with the fixture: the expectations of
-- the spec, or nil, err when it raised.
local function observe(spider, case, dir)
  local res = testing.from_file(dir .. "/spec/fixtures/" .. case.file, case.url)
  local ok, crawl = pcall(testing.call, spider, case.callback, res)
  if not ok then return nil, tostring(crawl) end
  local links = {}
  for _, list in ipairs{ crawl.follows, crawl.submits } do
    for _, f in ipairs(list) do
      if f.callback ~= "parse" and #links < MAX_SHOWN then links[#links + 1] = (f.method or "GET") .. " " .. f.url end
    end
  end
  local items = {}
  for i = 1, math.min(#crawl.items, MAX_SHOWN) do items[i] = crawl.items[i] end
  return { follows = #crawl.follows, links = links, items = items, item_count = #crawl.items }
end

local function spec_source(c, spider, cases, dir)
  local out = { ([[
-- Tests the callbacks of spiders/%s.lua on the pages saved in spec/fixtures/,
-- without a server (`silk test`). Generated by `silk new` from what the spider
-- extracted then: check the expectations, and keep them true as you edit it.
local testing = require("silk.testing")
%slocal spider = dofile("spiders/%s.lua")

-- "METHOD URL" of the requests followed or submitted with a callback other
-- than parse (at most %d).
local function links(crawl)
  local urls = {}
  for _, list in ipairs{ crawl.follows, crawl.submits } do
    for _, f in ipairs(list) do
      if f.callback ~= "parse" and #urls < %d then urls[#urls + 1] = (f.method or "GET") .. " " .. f.url end
    end
  end
  return urls
end

describe(%s, function()]]):format(c.name, c.template == "api" and "local cjson = require(\"cjson\")\n" or "", c.name,
           MAX_SHOWN, MAX_SHOWN, lua_string(c.name .. " spider")) }
  for _, case in ipairs(cases) do
    local seen, err = observe(spider, case, dir)
    local call = ("testing.call(spider, %s, testing.from_file(\"spec/fixtures/%s\", %s))"):format(
      lua_string(case.callback), case.file, lua_string(case.url))
    if not seen then
      out[#out + 1] = ("  pending(%s)\n"):format(lua_string(("%s %s: it raised %s when generated"):format(
        case.callback, case.what, err)))
    else
      out[#out + 1] = ([[
  it(%s, function()
    local crawl = %s
    assert.equal(%d, #crawl.follows)
    assert.same(%s, links(crawl))
    assert.equal(%d, #crawl.items)]]):format(lua_string(case.callback .. " " .. case.what), call, seen.follows,
           literal(seen.links, "    "), seen.item_count)
      if #seen.items > 0 then
        out[#out] = out[#out] .. ("\n    assert.same(%s, { unpack(crawl.items, 1, %d) })"):format(
          literal(seen.items, "    "), #seen.items)
      end
      out[#out] = out[#out] .. "\n  end)\n"
    end
  end
  out[#out + 1] = "end)\n"
  return table.concat(out, "\n"):gsub("\n\nend%)\n$", "\nend)\n")
end

local function readme(c)
  return ([[
# %s

A silk spider project, made by `silk new --template %s %s%s`.

```sh
silk test                               # its callbacks on spec/fixtures/
silk run spiders/%s.lua -o items.jsonl  # crawl (.csv and .sqlite too)
silk run spiders/%s.lua -s max_pages=20 -o try.jsonl
silk shell %s
```

`-s max_pages=20` makes a short trial crawl; `silk shell URL` fetches a
page and lets you try selectors on it (`res:select("h1")`).

```

- `spiders/%s.lua`: the spider (its callbacks' selectors were guessed from
  the page: check them).
- `spec/%s_spec.lua`: tests of its callbacks on the pages in `spec/fixtures/`,
  with `require("silk.testing")` (`testing.from_file`, `testing.call`,
  `testing.crawl`). After changing what the spider extracts, update the
  expectations; to test a new kind of page, save it to `spec/fixtures/`
  (`curl -o spec/fixtures/page.html URL`) and add a case, or record a
  crawl (`silk run spiders/%s.lua --record spec/recorded -s max_pages=20`)
  and test on it with `testing.replay("spec/recorded")[url]`.
- `.luarc.json`: points the Lua language server at silk's type stubs, so an
  editor completes `res:`, `crawl:` and `node:` and checks their arguments.
]]):format(c.name, c.template, c.name, c.given_url and (" " .. c.url) or "", c.name, c.name, c.url, c.name, c.name,
           c.name)
end

local function luarc()
  local globals = { "describe", "it", "pending", "before_each", "after_each", "setup", "teardown",
                    "insulate", "expose", "assert", "spy", "stub", "mock", "finally" }
  local quoted = {}
  for i, g in ipairs(globals) do quoted[i] = cjson.encode(g) end
  return ('{\n  "runtime.version": "LuaJIT",\n  "workspace.library": [%s],\n'
          .. '  "diagnostics.globals": [%s]\n}\n'):format(
    (cjson.encode(engine.lua_dir() .. "/silk/types"):gsub("\\/", "/")), table.concat(quoted, ", "))
end

-- Writing ---------------------------------------------------------------------

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then error(("cannot write %s: %s"):format(path, err), 0) end
  f:write(text)
  f:close()
end

local function mkdir(path)
  local ok, err = lfs.mkdir(path)
  if not ok then error(("cannot create %s: %s"):format(path, err), 0) end
end

local function list()
  print("templates (silk new --template T NAME [URL]):")
  for _, name in ipairs(ORDER) do
    print(("  %-8s %s%s"):format(name, TEMPLATES[name].about, name == "plain" and " (default)" or ""))
  end
end

return function(...)
  local ok, o = pcall(cli.parse, spec, { ... })
  if not ok then return fail(2, o) end
  if o.help then
    io.stdout:write(cli.help(spec))
    return
  end
  if o.list then
    list()
    return
  end
  local template, name, given = o.template or "plain", o.name, o.url
  if not TEMPLATES[template] then
    return fail(2, ("no template '%s'; there are %s"):format(template, table.concat(ORDER, ", ")))
  end
  if not name then return fail(2, "a project name is needed (usage: silk new [options] NAME [URL])") end
  if not name:match("^[%a_][%w_%-]*$") then
    return fail(2, ("'%s' cannot name a project: letters, digits, _ and - only, starting with a letter"):format(name))
  end
  if lfs.attributes(name) then
    return fail(2, ("%s already exists; choose another name, or move it away"):format(name))
  end
  if given and not url.is_http(given) then
    return fail(2, ("'%s' is not an http(s) URL"):format(given))
  end
  local c = { name = name, template = template, given_url = given ~= nil,
              url = given or (template == "api" and "http://127.0.0.1:8080/api/books" or "http://127.0.0.1:8080/") }
  c.host = url.host(c.url)

  local src, fixtures = TEMPLATES[template].build(c)
  if not src then return fail(1, fixtures) end
  local spider = assert(loadstring(src, "=spiders/" .. name .. ".lua"))()

  local ok, err = pcall(function()
    mkdir(name)
    for _, d in ipairs{ "/spiders", "/spec", "/spec/fixtures" } do mkdir(name .. d) end
    write(name .. "/spiders/" .. name .. ".lua", src)
    for _, f in ipairs(fixtures) do write(name .. "/spec/fixtures/" .. f.file, f.body) end
    write(name .. "/spec/" .. name .. "_spec.lua", spec_source(c, spider, fixtures, name))
    write(name .. "/.luarc.json", luarc())
    write(name .. "/README.md", readme(c))
  end)
  if not ok then return fail(1, err) end
  print(("silk new: wrote %s/ (template %s%s)"):format(name, template,
        given and (", fixtures from " .. given) or ", sample fixtures"))
  print(("  cd %s && silk test && silk run spiders/%s.lua -o items.jsonl"):format(name, name))
end
