-- silk.core.robots: RFC 9309 robots.txt parsing and matching (robots.c).
local robots = require("silk.core.robots")

local RFC_EXAMPLE = [[
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
]]

describe("silk.core.robots.parse", function()
  it("follows the RFC 9309 example for each group", function()
    local r = robots.parse(RFC_EXAMPLE)
    assert.is_true(r:allowed("foobot", "/example/page.html"))
    assert.is_false(r:allowed("foobot", "/example/other.html"))
    assert.is_false(r:allowed("barbot", "/example/page.html"))
    assert.is_false(r:allowed("bazbot", "/example/page.html"))
    assert.is_true(r:allowed("quxbot", "/example/page.html"))
    assert.is_false(r:allowed("otherbot", "/example/page.html"))
    assert.is_false(r:allowed("otherbot", "/a.gif"))
    assert.is_true(r:allowed("otherbot", "/publications/"))
  end)

  it("uses the longest match and lets allow win a tie", function()
    local r = robots.parse("User-agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
                           .. "Disallow: /tie\nAllow: /tie\n")
    assert.is_true(r:allowed("bot", "/example/page/"))
    assert.is_false(r:allowed("bot", "/example/page/disallowed.gif"))
    assert.is_true(r:allowed("bot", "/tie"))
  end)

  it("matches * and $ patterns", function()
    local r = robots.parse("User-agent: *\nDisallow: /*.pdf$\nDisallow: /*/private/\n")
    assert.is_false(r:allowed("bot", "/docs/a.pdf"))
    assert.is_true(r:allowed("bot", "/docs/a.pdf?download=1"))
    assert.is_false(r:allowed("bot", "/users/private/x"))
  end)

  it("compares percent-encoded paths after normalising them", function()
    local r = robots.parse("User-agent: *\nDisallow: /foo/bar/ツ\nDisallow: /%62az\n")
    assert.is_false(r:allowed("bot", "/foo/bar/%E3%83%84"))
    assert.is_false(r:allowed("bot", "/foo/bar/%e3%83%84"))
    assert.is_false(r:allowed("bot", "/baz"))
  end)

  it("matches user agents by product token, case-insensitively, merging their groups", function()
    local r = robots.parse("User-agent: SilkBot/1.0\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n\n"
                           .. "user-agent: silkbot\ndisallow: /b\n")
    assert.is_false(r:allowed("silkbot", "/a"))
    assert.is_false(r:allowed("SILKBOT/0.1 (+https://example.com)", "/b"))
    assert.is_true(r:allowed("silkbot", "/c"))
    assert.is_false(r:allowed("otherbot", "/c"))
  end)

  it("accepts full URLs and always allows /robots.txt", function()
    local r = robots.parse("User-agent: *\nDisallow: /\n")
    assert.is_false(r:allowed("bot", "https://example.com/page?x=1"))
    assert.is_true(r:allowed("bot", "https://example.com/robots.txt"))
  end)

  it("tolerates a BOM, CR and CRLF line ends, comments and garbage", function()
    local r = robots.parse("\239\187\191User-agent: *\r\nDisallow: /a # comment\rgarbage line\n\0\1\255\n"
                           .. "Disallow: /b\r\n")
    assert.is_false(r:allowed("bot", "/a"))
    assert.is_false(r:allowed("bot", "/b"))
    assert.is_true(r:allowed("bot", "/c"))
  end)

  it("parses binary garbage into an object that allows everything", function()
    local bytes = {}
    for i = 1, 4096 do bytes[i] = string.char((i * 7919) % 256) end
    local r = robots.parse(table.concat(bytes))
    assert.is_true(r:allowed("bot", "/anything"))
  end)

  it("ignores content past 500 KiB", function()
    local text = "User-agent: *\n" .. string.rep("#", 500 * 1024) .. "\nDisallow: /late\n"
    assert.is_true(robots.parse(text):allowed("bot", "/late"))
  end)

  it("reports crawl-delay per group and sitemaps globally", function()
    local r = robots.parse("Sitemap: https://x.com/a.xml\nUser-agent: slowbot\nCrawl-delay: 2.5\n"
                           .. "Disallow: /slow\nSitemap: https://x.com/b.xml\nUser-agent: *\nDisallow:\n")
    assert.equal(2.5, r:crawl_delay("slowbot"))
    assert.is_nil(r:crawl_delay("otherbot"))
    assert.same({ "https://x.com/a.xml", "https://x.com/b.xml" }, r:sitemaps())
  end)

  it("keeps a group whole when crawl-delay sits between its user-agent lines", function()
    local r = robots.parse("User-agent: a\nCrawl-delay: 4\nUser-agent: b\nDisallow: /private\n")
    assert.is_false(r:allowed("a", "/private"))
    assert.is_false(r:allowed("b", "/private"))
    assert.equal(4, r:crawl_delay("a"))
    assert.equal(4, r:crawl_delay("b"))
    assert.is_true(r:allowed("c", "/private"))
  end)

  it("reads %2A and %24 in a rule as a literal * and $ (RFC 9309 2.2.3)", function()
    local r = robots.parse("User-agent: *\nDisallow: /path/file-with-a-%2A.html\nDisallow: /path/foo-%24\n")
    assert.is_false(r:allowed("bot", "/path/file-with-a-*.html"))
    assert.is_false(r:allowed("bot", "http://x.test/path/file-with-a-%2a.html"))
    assert.is_true(r:allowed("bot", "/path/file-with-a-b.html"))
    assert.is_false(r:allowed("bot", "/path/foo-$"))
    assert.is_false(r:allowed("bot", "/path/foo-$?q"))
    assert.is_true(r:allowed("bot", "/path/foo-"))
  end)

  it("follows Google's published matching examples", function()
    local function verdicts(rule, paths)
      local r = robots.parse("User-agent: *\n" .. rule .. "\n")
      local got = {}
      for _, p in ipairs(paths) do got[#got + 1] = r:allowed("bot", p) and "allow" or "deny" end
      return table.concat(got, " ")
    end
    assert.equal("deny deny deny deny allow allow allow",
      verdicts("Disallow: /fish*", { "/fish", "/fish.html", "/fishheads/yummy.html", "/fish.php?id=x",
                                     "/Fish.asp", "/catfish", "/?id=fish" }))
    assert.equal("deny deny deny allow allow allow",
      verdicts("Disallow: /fish/", { "/fish/", "/fish/?id=x", "/fish/salmon.htm", "/fish", "/fish.html",
                                     "/animals/fish/" }))
    assert.equal("deny deny allow allow allow allow",
      verdicts("Disallow: /*.php$", { "/filename.php", "/folder/filename.php", "/filename.php?parameters",
                                      "/filename.php/", "/filename.php5", "/windows.PHP" }))
    assert.equal("deny deny allow",
      verdicts("Disallow: /fish*.php", { "/fish.php", "/fishheads/catfish.php?parameters", "/Fish.PHP" }))
    assert.equal("allow", verdicts("Allow: /p\nDisallow: /", { "/page" }))
    assert.equal("allow", verdicts("Allow: /folder\nDisallow: /folder", { "/folder/page" }))
    assert.equal("deny", verdicts("Allow: /page\nDisallow: /*.htm", { "/page.htm" }))
    assert.equal("allow", verdicts("Allow: /page\nDisallow: /*.ph", { "/page.php5" }))
    assert.equal("allow deny", verdicts("Allow: /$\nDisallow: /", { "/", "/page.htm" }))
  end)

  it("allows everything for an empty file", function()
    assert.is_true(robots.parse(""):allowed("bot", "/x"))
  end)
end)

describe("silk.core.robots objects", function()
  it("have a named metatable and refuse use after close", function()
    local r = robots.parse("User-agent: *\nDisallow: /x\n")
    assert.equal("silk.robots", getmetatable(r).__name)
    assert.matches("^silk.robots", tostring(r))
    r:close()
    r:close()
    assert.has_error(function() r:allowed("bot", "/x") end, "attempt to use a closed robots")
  end)

  it("raise on arguments of the wrong type", function()
    local r = robots.parse("")
    assert.has_error(function() robots.parse(nil) end)
    assert.has_error(function() r:allowed(nil, "/x") end)
    assert.has_error(function() r:allowed("bot", {}) end)
    assert.has_error(function() r.allowed({}, "bot", "/x") end)
  end)
end)
