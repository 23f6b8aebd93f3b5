-- silk.core.url: join, canonical, host_key, host, resolve, parse, is_http (url.c, the URL Standard's parser).
local url = require("silk.core.url")

local BASE = "http://a.com/b/c/d;p?q"

describe("silk.core.url.join", function()
  it("resolves relative paths, dot-segments and parent directories", function()
    assert.equal("http://a.com/b/c/g", url.join(BASE, "g"))
    assert.equal("http://a.com/b/g", url.join(BASE, "../g"))
    assert.equal("http://a.com/g", url.join(BASE, "../../../../g"))
    assert.equal("http://a.com/b/c/g/h", url.join(BASE, "g/./h"))
  end)

  it("ignores a '/' in the base's fragment (libcurl took it for the path)", function()
    for _, base in ipairs{ "http://a.com/b#./", "http://A.com/b#./" } do  -- plain, then curl path
      assert.equal("http://a.com/g", url.join(base, "g"))
      assert.equal("http://a.com/b?q", url.join(base, "?q"))
      assert.equal("http://a.com/b#x", url.join(base, "#x"))
      assert.equal("http://a.com/b", url.join(base, ""))
    end
  end)

  it("keeps the base's path for query-only and fragment-only references", function()
    assert.equal("http://a.com/b/c/d;p?y", url.join(BASE, "?y"))
    assert.equal("http://a.com/b/c/d;p?q#s", url.join(BASE, "#s"))
    assert.equal("http://a.com/b/c/d;p?q", url.join(BASE .. "#old", ""))
  end)

  it("reads //host as a new authority and backslashes as slashes", function()
    assert.equal("http://g/", url.join(BASE, "//g"))
    assert.equal("http://g/h", url.join(BASE, "\\\\g\\h"))
    assert.equal("http://a.com/a/b?c\\d", url.join(BASE, "/a\\b?c\\d"))
  end)

  it("strips surrounding whitespace and control characters and drops tabs and newlines", function()
    assert.equal("http://a.com/x%20y", url.join(BASE, "  /x y \n"))
    assert.equal("http://a.com/abc", url.join(BASE, "/a\tb\nc"))
  end)

  it("percent-encodes non-ASCII paths as UTF-8 and converts IDN hosts to punycode", function()
    assert.equal("http://a.com/%C3%A4", url.join(BASE, "/ä"))
    assert.equal("http://xn--bcher-kva.de/", url.join(nil, "http://BÜCHER.de"))
  end)

  it("lowercases hosts, drops default ports and normalises IPv6", function()
    assert.equal("http://example.com/A", url.join(nil, "HTTP://Example.COM:80/A"))
    assert.equal("https://x.com:8443/", url.join(nil, "https://x.com:8443"))
    assert.equal("http://[2001:db8::1]/", url.join(nil, "http://[2001:DB8:0:0:0:0:0:1]/"))
  end)

  it("returns nil and an error of kind url for other schemes", function()
    local u, err = url.join(BASE, "mailto:someone@example.com")
    assert.is_nil(u)
    assert.equal("url", err.kind)
    assert.matches("scheme", err.message)
    assert.equal("mailto:someone@example.com", err.url)
    assert.matches("^url: ", tostring(err))
  end)

  it("returns nil and an error for a relative reference without a base", function()
    local u, err = url.join(nil, "/relative")
    assert.is_nil(u)
    assert.equal("url", err.kind)
  end)

  it("returns nil and an error for bad hosts and ports", function()
    assert.is_nil((url.join(nil, "http://exa mple.com/")))
    assert.is_nil((url.join(nil, "http://x.com:99999/")))
    assert.is_nil((url.join(nil, "http://999.1.1.1/")))
    assert.is_nil((url.join(nil, "http://x.com/a\0b")))
  end)

  it("raises on arguments that are not strings", function()
    assert.has_error(function() url.join(BASE, nil) end)
    assert.has_error(function() url.join(BASE, {}) end)
    assert.has_error(function() url.join(42, true) end)
  end)
end)

describe("silk.core.url.canonical", function()
  it("lowercases scheme and host, drops the default port and the fragment", function()
    assert.equal("http://x.com/b/c", url.canonical("HTTP://X.COM:80/a/../b/./c#frag"))
  end)

  it("normalises percent-encoding: unreserved decoded, the rest uppercase", function()
    assert.equal("http://x.com/~user/A%2F", url.canonical("http://x.com/%7euser/%41%2f"))
    assert.equal("http://x.com/?b=~%2B", url.canonical("http://x.com/?b=%7e%2b"))
  end)

  it("treats escaped dots as dot-segments", function()
    assert.equal("http://x.com/a", url.canonical("http://x.com/%2E%2E/a"))
  end)

  it("keeps query order unless asked to sort", function()
    assert.equal("http://x.com/?b=2&a=1", url.canonical("http://x.com/?b=2&a=1"))
    assert.equal("http://x.com/?a=1&b=2", url.canonical("http://x.com/?b=2&a=1", { sort_query = true }))
  end)

  it("keeps the fragment when asked", function()
    assert.equal("http://x.com/a#~", url.canonical("http://x.com/a#%7E", { keep_fragment = true }))
  end)

  it("is idempotent", function()
    for _, u in ipairs{ "http://X.com/%7e/%2e%2e/b?x=%41#f", "http://bücher.de/ä b", "https://x.com:443" } do
      local once = assert(url.canonical(u))
      assert.equal(once, url.canonical(once))
    end
  end)

  it("returns nil and an error for relative URLs and raises on a bad options argument", function()
    local u, err = url.canonical("/a/b")
    assert.is_nil(u)
    assert.equal("url", err.kind)
    assert.has_error(function() url.canonical("http://x.com/", "sort") end)
  end)
end)

describe("silk.core.url.host_key", function()
  it("gives scheme://host:port with the port always present", function()
    assert.equal("http://example.com:80", url.host_key("http://Example.com/a?b"))
    assert.equal("https://example.com:443", url.host_key("https://example.com/"))
    assert.equal("http://[::1]:8080", url.host_key("http://[::1]:8080/x"))
  end)

  it("returns nil and an error for non-http URLs", function()
    assert.is_nil((url.host_key("ftp://x.com/")))
  end)
end)

describe("silk.core.url.host", function()
  it("gives the host as canonical() writes it, on both paths of url.c", function()
    assert.equal("example.com", url.host("http://example.com:8080/a?b#c"))  -- plain
    assert.equal("example.com", url.host("HTTP://u:p@Example.COM/a"))      -- curl
    assert.equal("[::1]", url.host("http://[::1]:8080/x"))
    assert.equal("xn--bcher-kva.de", url.host("https://bücher.de/"))
  end)

  it("returns nil and an error of kind url for what is not an http URL", function()
    local h, err = url.host("ftp://x.com/")
    assert.is_nil(h)
    assert.equal("url", err.kind)
    assert.is_nil((url.host("/relative/path")))
  end)
end)

describe("silk.core.url.resolve", function()
  it("gives what join, canonical and host give one after the other", function()
    local bases = { "http://127.0.0.1:18800/c03/p10003.html", "https://a.com/b/c?x=1#f",
                    "http://A.com:80/%7e/x", "http://a.com/a/./b" }
    local hrefs = { "/c04/p1604.html", "../c13/p2873.html#reviews", "p4909.html", "#top", "?q=1",
                    "http://partner.example.org/deals", "x?b=2&a=1#f", "a%20b", "//B.org/x",
                    "HTTP://u:p@Example.COM:8080/a/../b#c", "https://bücher.de/", "" }
    local n = 0
    for _, b in ipairs(bases) do
      for _, h in ipairs(hrefs) do
        local j = url.join(b, h)
        local r, c, host = url.resolve(b, h)
        if j then
          assert.equal(j, r, b .. " + " .. h)
          assert.equal(url.canonical(j), c, b .. " + " .. h)
          assert.equal(url.host(j), host, b .. " + " .. h)
          n = n + 1
        else
          assert.is_nil(r)
        end
      end
    end
    assert.is_true(n > 40)
  end)

  it("returns nil and an error of kind url for what does not resolve to http", function()
    local r, err = url.resolve("http://a.com/", "mailto:x@y")
    assert.is_nil(r)
    assert.equal("url", err.kind)
  end)
end)

describe("silk.core.url.parse", function()
  it("returns the normalised parts with the effective port", function()
    local p = assert(url.parse("HTTPS://u:pw@Example.com/a/../b?x=1#f"))
    assert.same({ scheme = "https", user = "u", password = "pw", host = "example.com", port = 443,
                  path = "/b", query = "x=1", fragment = "f" }, p)
    local q = assert(url.parse("http://x.com"))
    assert.same({ scheme = "http", host = "x.com", port = 80, path = "/" }, q)
  end)
end)

describe("silk.core.url.is_http", function()
  it("says whether a string is an absolute http(s) URL", function()
    assert.is_true(url.is_http("https://x.com/"))
    assert.is_false(url.is_http("mailto:a@b.c"))
    assert.is_false(url.is_http("/relative"))
    assert.is_false(url.is_http("javascript:void(0)"))
  end)
end)

-- issue 14: each class where url.c over libcurl departed from the URL
-- Standard (tests/spec/url_diff_spec.lua finds their siblings).
describe("silk.core.url follows the URL Standard", function()
  local B = "http://h.test/d/p"

  it("keeps an empty segment after ./ and ../", function()
    assert.equal("http://h.test/d//x", url.join(B, ".//x"))
    assert.equal("http://h.test//x", url.join(B, "..//x"))
    assert.equal("http://h.test/d//x", (url.resolve(B, ".//x")))
  end)

  it("keeps an empty query or fragment", function()
    assert.equal("http://h.test/d/p?", url.join(B, "?"))
    assert.equal("http://h.test/d/p#", url.join(B, "#"))
    assert.equal("http://h.test/d/x?#", url.join(B, "x?#"))
    assert.equal("http://h.test/d/p?", url.canonical("http://h.test/d/p?#f"))
  end)

  it("leaves a fragment-only reference's case and backslashes alone", function()
    assert.equal("http://h.test/d/p?q#%AB", url.join(B .. "?q", "#%AB"))
    assert.equal("http://h.test/d/p#x\\y", url.join(B, "#x\\y"))
  end)

  it("reads IPv4 hosts with a trailing dot or a bare 0x part", function()
    assert.equal("http://10.0.0.1/", url.join(nil, "http://10.0.0.1./"))
    assert.equal("http://0.0.0.0/", url.join(nil, "http://0x/"))
    assert.equal("http://0.0.0.1/", url.join(nil, "http://0x.0X.0x1/"))
    assert.is_nil(url.join(nil, "http://1.2.3.09/"))
  end)

  it("encodes every '@' of the userinfo but the last", function()
    assert.equal("http://a%40b@c/", url.join(nil, "http://a@b@c/"))
    assert.equal("c", url.host("http://a@b@c/"))
  end)

  it("refuses an invalid Punycode label and keeps a valid one", function()
    local u, err = url.join(nil, "http://xn--a.com/")
    assert.is_nil(u)
    assert.matches("invalid host", err.message)
    assert.equal("http://xn--zca.de/", url.join(nil, "http://XN--ZCA.de/"))
  end)

  it("percent-encodes '^' in paths, not in queries or fragments", function()
    assert.equal("http://h.test/a%5Eb?^#^", url.join(nil, "http://h.test/a^b?^#^"))
  end)
end)
