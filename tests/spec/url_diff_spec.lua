-- silk.core.url against whatwg-url (the URL Standard's reference
-- implementation), replayed offline from tests/diff/url/expected.lua
-- (recorded by tests/diff/url/gen.js: thousands of generated (base, href)
-- pairs).
--
-- silk's contract (url.h) is the URL Standard's for http and https URLs,
-- with these deliberate differences, encoded here rather than skipped:
--   * a URL of any other scheme is refused ("unsupported scheme"), also when
--     whatwg-url resolves it;
--   * an input holding a NUL byte is refused (lapi_url.c: a URL never does);
--   * canonical() is the joined URL without its fragment and with escapes
--     normalised (uppercase hex, unreserved characters decoded, a '%' that
--     starts no escape written "%25"): url.h;
--   * a host label mixing non-ASCII letters with ASCII punctuation ("{}ü",
--     "a=é") is refused: UTS #46 with UseSTD3ASCIIRules=false allows it,
--     libidn2 (IDNA2008 underneath) does not, and no registrable name has
--     one.
local url = require("silk.core.url")

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local recorded = dofile(here .. "/../diff/url/expected.lua")

local function is_unreserved(c)
  return c:match("^[%w%-%._~]$") ~= nil
end

-- url.h's canonical escapes, applied to a whatwg-url href.
local function canonical_of(href)
  local s = href:match("^[^#]*")
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    local hex = c == "%" and s:sub(i + 1, i + 2):match("^%x%x$")
    if hex then
      local ch = string.char(tonumber(hex, 16))
      out[#out + 1] = is_unreserved(ch) and ch or "%" .. hex:upper()
      i = i + 3
    else
      out[#out + 1] = c == "%" and "%25" or c
      i = i + 1
    end
  end
  return table.concat(out)
end

-- What silk must answer for a case: the URL, or nil and why it fails.
local function expected(base, href, want)
  if href:find("\0", 1, true) or (base and base:find("\0", 1, true)) then
    return nil, "NUL byte"
  end
  if not want then
    return nil, "whatwg-url fails"
  end
  if not want:match("^https?:") then
    return nil, "scheme"
  end
  local host = want:match("^https?://[^/]*@([^/@]*)") or want:match("^https?://([^/]*)")
  if host:find("xn--", 1, true) and host:find("[^%w%.%-%[%]:]") then
    return nil, "punctuation in an IDN label"
  end
  return want
end

local function show(s)
  return s == nil and "nil" or string.format("%q", s):gsub("\\\n", "\\n")
end

-- Runs check(base, href, want, host) on every case; returns the failures.
local function replay(check)
  local bad = {}
  for _, c in ipairs(recorded.cases) do
    local base = c[1] > 0 and recorded.bases[c[1]] or nil
    local want, why = expected(base, c[2], c[3])
    local msg = check(base, c[2], want, c[4] or nil, why)
    if msg then
      bad[#bad + 1] = string.format("base %s href %s: %s", show(base), show(c[2]), msg)
    end
  end
  return bad
end

local function assert_none(bad)
  if #bad > 0 then
    local first = {}
    for i = 1, math.min(#bad, 25) do
      first[i] = bad[i]
    end
    error(string.format("%d of %d cases differ from whatwg-url:\n%s", #bad, #recorded.cases,
      table.concat(first, "\n")), 0)
  end
end

describe("silk.core.url against whatwg-url", function()
  it("records a corpus large enough to mean something", function()
    assert.is_true(#recorded.cases >= 2000)
  end)

  it("join gives whatwg-url's href, or fails where it fails or the scheme is not http(s)", function()
    assert_none(replay(function(base, href, want, _, why)
      local got, err = url.join(base, href)
      if got ~= want then
        return string.format("join %s, want %s%s", show(got or (err and err.message)), show(want),
          why and " (" .. why .. ")" or "")
      end
    end))
  end)

  it("resolve gives join's URL, the canonical form and the host", function()
    assert_none(replay(function(base, href, want, host)
      local u, canon, h = url.resolve(base, href)
      if not want then
        return u and "resolve " .. show(u) .. ", want a failure" or nil
      end
      if u ~= want or canon ~= canonical_of(want) or h ~= host then
        return string.format("resolve %s %s %s, want %s %s %s", show(u), show(canon), show(h),
          show(want), show(canonical_of(want)), show(host))
      end
    end))
  end)

  it("host and canonical of every joined URL agree with whatwg-url's", function()
    assert_none(replay(function(_, _, want, host)
      if not want then
        return
      end
      local h, c = url.host(want), url.canonical(want)
      if h ~= host or c ~= canonical_of(want) or url.canonical(c) ~= c then
        return string.format("host %s canonical %s, want %s %s", show(h), show(c), show(host),
          show(canonical_of(want)))
      end
    end))
  end)
end)
