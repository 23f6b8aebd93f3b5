--- silk.response: the methods every response has (silk.fetch's, the HTTP
-- cache's, a rendered page's, testing.response's), on
-- silk.core.fetch's response_meta, and the state they keep on a response:
-- its text decoded once, its parsed document, its base URL, its decoded
-- JSON. That state is this module's alone; the others reach it through
--
--   response.set_text(res, text, charset, source)  -- the text is known
--                                     -- already (a rendered page: UTF-8)
--   response.parse_inline(res)        -- res:html() parses on the loop
--                                     -- thread (the setting parse_inline)
--   response.free(res)                -- frees the parsed document, if
--                                     -- any: a node kept past it raises
--                                     -- "attempt to use a freed document"
--
-- The methods: res:text(), res:html(), res:select(css), res:one(css),
-- res:base_url(), res:urljoin(href), res:text_of/texts/attr_of, res:json();
-- res:header and res:headers_all come with the metatable (core/lapi_fetch.c).

local fetch = require("silk.core.fetch")
local html = require("silk.core.html")
local url = require("silk.core.url")

local M = {}
local methods = fetch.response_meta.__index

function M.set_text(res, text, charset, source)
  rawset(res, "_text", text)
  res.charset, res.charset_source = charset, source
end

function M.parse_inline(res)
  rawset(res, "_parse_inline", true)
end

function M.free(res)
  local doc = rawget(res, "_doc")
  if doc then doc:free() end
end

--- res:text([default_charset]) -> text, charset, source
-- The body transcoded to UTF-8. The charset comes from Content-Type, a BOM,
-- a <meta> in the first bytes, then default_charset (else windows-1252 as
-- browsers do); source says which ("header", "bom", "meta", "default").
-- Cached when no default is given.
-- @raise a plain error when out of memory.
-- @usage
--   local text, charset = res:text()
function methods:text(default_charset)
  if default_charset ~= nil and type(default_charset) ~= "string" then
    error("bad argument #1 to 'text' (string expected, got " .. type(default_charset) .. ")", 2)
  end
  if default_charset == nil then
    local text = rawget(self, "_text")
    if text then return text, self.charset, self.charset_source end
  end
  local text, charset, source = fetch.decode(self.body, self.headers["content-type"], default_charset)
  if default_charset == nil then M.set_text(self, text, charset, source) end
  return text, charset, source
end

--- res:html() -> doc | nil, err
-- The page parsed (from res:text(), so in UTF-8; res.url is its base),
-- once: later calls return the same document. In a crawl it is freed
-- when the callback returns.
-- @return the document, or nil and the parse error (as silk.html).
-- @usage
--   local doc = assert(res:html())
--   print(doc:title())
function methods:html()
  local doc = rawget(self, "_doc")
  if doc then return doc end
  local err
  -- inline also where a wait cannot yield (a string.gsub callback
  -- calling res:urljoin, say): parse_async would raise there
  if rawget(self, "_parse_inline") or not coroutine.isyieldable() then
    doc, err = html.parse((self:text()), self.url)
  else
    doc, err = html.parse_async((self:text()), self.url)
  end
  if not doc then return nil, err end
  rawset(self, "_doc", doc)
  return doc
end
-- select and one raise when the page cannot be parsed, so that
-- `for _, a in ipairs(res:select(css))` fails with the cause (in a crawl:
-- a callback error naming the URL) rather than inside ipairs, and
-- `res:one(css)` cannot pass for "no match". res:html() returns it.
local function parsed(res)
  local doc, err = res:html()
  if doc then return doc end
  error(setmetatable({ kind = err.kind, url = res.url,
                       message = ("cannot parse %s: %s"):format(res.url, err.message) },
                     getmetatable(err)), 3)
end
--- res:select(css) -> {node...}
-- The page's elements matching the CSS selector (see doc:select).
-- @raise the parse error when the page cannot be parsed (kind, url,
--   "cannot parse URL: cause"), and what doc:select raises.
-- @usage
--   for _, a in ipairs(res:select("article.product_pod h3 a")) do
--     crawl:follow(a:attr("href"), { callback = "book" })
--   end
function methods:select(css)
  return parsed(self):select(css)
end
--- res:one(css) -> node | nil
-- The page's first element matching the selector, or nil.
-- @raise as res:select.
-- @usage
--   local h1 = res:one("h1")
--   crawl:emit{ url = res.url, title = h1 and h1:text() }
function methods:one(css)
  return parsed(self):one(css)
end
-- Whether a page may hold a <base> element: an HTML response (or one
-- that does not say) whose text has "<base" then a tag name's end.
-- Only then does base_url parse a page that was not parsed yet.
local function may_have_base(res)
  local ctype = res.headers and res.headers["content-type"]
  if type(ctype) == "string" and not ctype:lower():find("html", 1, true) then return false end
  return (res:text()):find("<[bB][aA][sS][eE][%s/>]") ~= nil
end
--- res:base_url() -> string: the document base URL (HTML Standard):
-- the first <base href> resolved against res.url (the final URL after
-- redirects), or res.url when there is none or it does not resolve.
-- Uses the parsed page when there is one; parses it only when its text
-- holds a <base tag. Cached on res.
-- @usage
--   print(res:base_url())
function methods:base_url()
  local base = rawget(self, "_base")
  if base then return base end
  local doc = rawget(self, "_doc")
  if not doc and may_have_base(self) then doc = self:html() end
  base = doc and doc:base_url() or self.url
  rawset(self, "_base", base)
  return base
end
--- res:urljoin(href) -> absolute URL | nil, err: href resolved against
-- res:base_url(), as a browser resolves the page's links.
-- @return the URL, or nil and an error value of kind "url".
-- @usage
--   local next_page = res:urljoin(res:one("li.next a"):attr("href"))
function methods:urljoin(href)
  return url.join(self:base_url(), href)
end

-- The extraction helpers of documents and nodes (core/lapi_html_query.c),
-- on the response's document; they raise when it cannot be parsed.
function methods:text_of(css, opts)
  return parsed(self):text_of(css, opts)
end
function methods:texts(css, opts)
  return parsed(self):texts(css, opts)
end
function methods:attr_of(css, name, opts)
  return parsed(self):attr_of(css, name, opts)
end

-- Strict JSON (RFC 8259): no NaN, Infinity or hex numbers, which
-- lua-cjson accepts by default.
local json
local function decoder()
  if not json then
    json = require("cjson").new()
    json.decode_invalid_numbers(false)
  end
  return json
end
--- res:json() -> value: the body decoded as JSON (a UTF-8 BOM is
-- skipped), decoded once and cached on res. null is silk.null, so
-- arrays keep their length. A body that is not JSON raises an error
-- value { kind = "json", url = res.url, message = "cannot decode JSON
-- from URL: <lua-cjson's reason, with the character offset>" }, as
-- res:select raises for a page that cannot be parsed: in a crawl the
-- callback fails, counted and logged with its URL.
-- @usage
--   local page = res:json()
--   for _, book in ipairs(page.results) do crawl:emit(book) end
function methods:json()
  local v = rawget(self, "_json")
  if v ~= nil then return v end
  local body = self.body
  if body:sub(1, 3) == "\239\187\191" then body = body:sub(4) end
  local ok, r = pcall(decoder().decode, body)
  if not ok then
    error(setmetatable({ kind = "json", url = self.url,
                         message = ("cannot decode JSON from %s: %s"):format(
                           self.url, tostring(r)) },
                       fetch.error_meta), 2)
  end
  rawset(self, "_json", r)
  return r
end

return M
