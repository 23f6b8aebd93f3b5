-- lua-http + cqueues peer for silk's benchmark: the nearest Lua-coroutine stack.
--
--   luajit bench/peers/luahttp.lua START_URL CONCURRENCY OUT.jsonl
--
-- Debian: luajit (luajit2), lua-http, lua-cqueues, lua-cjson, libgumbo1. lua-http
-- 0.4 runs on LuaJIT through lua-compat53 (pulled in by lua-http).
-- The equal job: start at START_URL, follow every in-site link (same scheme, host
-- and port) once, parse every page with gumbo (HTML5 tree construction) through
-- the LuaJIT FFI, write the 10 `.product` items a page (title, price) as JSON
-- Lines, obey robots.txt (group `*`, Allow/Disallow longest match with `*`/`$`),
-- no delay, no cache. CONCURRENCY worker coroutines on one cqueues loop, each
-- with its own keep-alive HTTP/1.1 connection (lua-http 0.4 has no pool).
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local http_client = require "http.client"
local new_headers = require "http.headers".new
local cjson = require "cjson"
local ffi = require "ffi"

ffi.cdef [[
typedef struct { unsigned int line, column, offset; } GumboSourcePosition;
typedef struct { const char* data; size_t length; } GumboStringPiece;
typedef struct { void** data; unsigned int length; unsigned int capacity; } GumboVector;
typedef struct {
  int attr_namespace; const char* name; GumboStringPiece original_name;
  const char* value; GumboStringPiece original_value;
  GumboSourcePosition name_start, name_end, value_start, value_end;
} GumboAttribute;
typedef struct {
  GumboVector children; bool has_doctype; const char* name;
  const char* public_identifier; const char* system_identifier; int doc_type_quirks_mode;
} GumboDocument;
typedef struct { const char* text; GumboStringPiece original_text; GumboSourcePosition start_pos; } GumboText;
typedef struct {
  GumboVector children; int tag; int tag_namespace;
  GumboStringPiece original_tag; GumboStringPiece original_end_tag;
  GumboSourcePosition start_pos; GumboSourcePosition end_pos; GumboVector attributes;
} GumboElement;
typedef struct GumboNode {
  int type; struct GumboNode* parent; size_t index_within_parent; int parse_flags;
  union { GumboDocument document; GumboElement element; GumboText text; } v;
} GumboNode;
typedef struct GumboOptions GumboOptions;
typedef struct { GumboNode* document; GumboNode* root; GumboVector errors; } GumboOutput;
extern const GumboOptions kGumboDefaultOptions;
GumboOutput* gumbo_parse_with_options(const GumboOptions* options, const char* buffer, size_t length);
void gumbo_destroy_output(const GumboOptions* options, GumboOutput* output);
GumboAttribute* gumbo_get_attribute(const GumboVector* attrs, const char* name);
int gumbo_tag_enum(const char* tagname);
]]
local ok_lib, G = pcall(ffi.load, "gumbo")
if not ok_lib then G = ffi.load("libgumbo.so.1") end
local TAG_A, TAG_DIV = G.gumbo_tag_enum("a"), G.gumbo_tag_enum("div")
local ELEMENT, TEXT, CDATA, WHITESPACE, TEMPLATE = 1, 2, 3, 5, 6
local NodeP = ffi.typeof("GumboNode*")

local start, conc, out_path = arg[1], tonumber(arg[2] or "16"), arg[3] or "items.jsonl"
if not start then
  io.stderr:write("usage: luajit luahttp.lua START_URL CONCURRENCY OUT.jsonl\n")
  os.exit(2)
end
local UA = "silk-bench-luahttp"

---------------------------------------------------------------- URLs
local function split(url) -- scheme, authority, path(+query); fragment dropped
  url = url:gsub("#.*$", "")
  local scheme, auth, rest = url:match("^(%a[%w+.-]*)://([^/?]*)(.*)$")
  if not scheme then return nil end
  if rest == "" or rest:sub(1, 1) == "?" then rest = "/" .. rest end
  return scheme:lower(), auth:lower(), rest
end

local function remove_dots(path)
  local out = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do
    if seg == ".." then out[#out] = nil
    elseif seg ~= "." then out[#out + 1] = seg end
  end
  local tail = path:match("/%.%.?$") and "/" or (path:match("[^/]*$") == "" and "/" or "")
  local p = table.concat(out, "/")
  if tail == "/" and p:sub(-1) ~= "/" then p = p .. "/" end
  if p:sub(1, 1) ~= "/" then p = "/" .. p end
  return p
end

-- RFC 3986 reference resolution (enough for HTML hrefs); nil if not http(s)
local function resolve(base_scheme, base_auth, base_path, href)
  href = href:gsub("^%s+", ""):gsub("%s+$", ""):gsub("#.*$", "")
  local scheme = href:match("^(%a[%w+.-]*):")
  if scheme then
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then return nil end
    local s, a, p = split(href)
    if not s then return nil end
    local path, q = p:match("^([^?]*)(.*)$")
    return s .. "://" .. a .. remove_dots(path) .. q
  end
  if href:sub(1, 2) == "//" then return resolve(base_scheme, base_auth, base_path, base_scheme .. ":" .. href) end
  local bpath, bq = base_path:match("^([^?]*)(.*)$")
  if href == "" then return base_scheme .. "://" .. base_auth .. bpath .. bq end
  if href:sub(1, 1) == "?" then return base_scheme .. "://" .. base_auth .. bpath .. href end
  local path, q = href:match("^([^?]*)(.*)$")
  if path:sub(1, 1) ~= "/" then path = bpath:gsub("[^/]*$", "") .. path end
  return base_scheme .. "://" .. base_auth .. remove_dots(path) .. q
end

---------------------------------------------------------------- robots.txt
local function robots_parse(text)
  local rules, in_star, last_was_agent = {}, false, false
  for line in (text .. "\n"):gmatch("([^\r\n]*)\r?\n?") do
    line = line:gsub("#.*$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    local k, v = line:match("^([%a-]+)%s*:%s*(.-)$")
    if k then
      k = k:lower()
      if k == "user-agent" then
        if not last_was_agent then in_star = false end
        if v == "*" then in_star = true end
        last_was_agent = true
      else
        last_was_agent = false
        if in_star and (k == "allow" or k == "disallow") and v ~= "" then
          local pat = "^" .. v:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%%%$$", "$"):gsub("%*", ".*")
          rules[#rules + 1] = { allow = k == "allow", pat = pat, len = #v }
        end
      end
    end
  end
  return function(path)
    local best, allow = -1, true
    for _, r in ipairs(rules) do
      if r.len > best and path:match(r.pat) then best, allow = r.len, r.allow
      elseif r.len == best and r.allow and path:match(r.pat) then allow = true end
    end
    return allow
  end
end

---------------------------------------------------------------- HTML
local function attr(node, name)
  local a = G.gumbo_get_attribute(node.v.element.attributes, name)
  return a ~= nil and ffi.string(a.value) or nil
end

local function has_class(node, cls)
  local c = attr(node, "class")
  return c and (" " .. c .. " "):find(" " .. cls .. " ", 1, true) ~= nil
end

local function text_of(node, buf)
  local t = node.type
  if t == TEXT or t == WHITESPACE or t == CDATA then
    buf[#buf + 1] = ffi.string(node.v.text.text)
  elseif t == ELEMENT or t == TEMPLATE then
    local ch = node.v.element.children
    for i = 0, ch.length - 1 do text_of(ffi.cast(NodeP, ch.data[i]), buf) end
  end
  return buf
end

local function clean(s) return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end

local function find_class(node, cls) -- first descendant element with class token cls
  local ch = node.v.element.children
  for i = 0, ch.length - 1 do
    local c = ffi.cast(NodeP, ch.data[i])
    if c.type == ELEMENT or c.type == TEMPLATE then
      if has_class(c, cls) then return c end
      local f = find_class(c, cls)
      if f then return f end
    end
  end
end

-- returns items {title, price}..., hrefs
local function parse_page(body)
  local out = G.gumbo_parse_with_options(G.kGumboDefaultOptions, body, #body)
  local items, hrefs = {}, {}
  local stack, n = { out.root }, 1
  while n > 0 do
    local node = stack[n]; stack[n] = nil; n = n - 1
    local el = node.v.element
    if el.tag == TAG_A then
      local h = attr(node, "href")
      if h then hrefs[#hrefs + 1] = h end
    elseif el.tag == TAG_DIV and has_class(node, "product") then
      local t, p = find_class(node, "title"), find_class(node, "price")
      items[#items + 1] = { title = t and clean(table.concat(text_of(t, {}))) or "",
                            price = p and clean(table.concat(text_of(p, {}))) or "" }
    end
    local ch = el.children
    for i = ch.length - 1, 0, -1 do -- document order
      local c = ffi.cast(NodeP, ch.data[i])
      if c.type == ELEMENT or c.type == TEMPLATE then n = n + 1; stack[n] = c end
    end
  end
  G.gumbo_destroy_output(G.kGumboDefaultOptions, out)
  return items, hrefs
end

---------------------------------------------------------------- fetching
local S, A, _ = split(start)
local host, port = A:match("^([^:]+):?(%d*)$")
port = tonumber(port) or (S == "https" and 443 or 80)
local TIMEOUT = 30

local function connect()
  return assert(http_client.connect { host = host, port = port, tls = S == "https", version = 1.1 })
end

-- GET path on a worker's connection (reconnecting once on error)
local function get(w, path)
  for attempt = 1, 3 do
    if not w.conn then
      local okc, c = pcall(connect)
      if okc then w.conn = c end
    end
    if w.conn then
      local stream = w.conn:new_stream()
      local h = new_headers()
      h:append(":method", "GET"); h:append(":scheme", S); h:append(":authority", A)
      h:append(":path", path); h:append("user-agent", UA); h:append("accept", "*/*")
      local ok = stream:write_headers(h, true, TIMEOUT)
      local rh = ok and stream:get_headers(TIMEOUT)
      local body = rh and stream:get_body_as_string(TIMEOUT)
      if body then
        local keep = (rh:get("connection") or ""):lower() ~= "close"
        stream:shutdown()
        if not keep then w.conn:close(); w.conn = nil end
        return tonumber(rh:get(":status")), body, rh
      end
      pcall(stream.shutdown, stream)
      w.conn:close(); w.conn = nil
    end
    if attempt < 3 then cqueues.sleep(0.05 * attempt) end
  end
  return nil
end

---------------------------------------------------------------- crawl
local out = assert(io.open(out_path, "w"))
local queue, qhead, qtail = {}, 1, 0
local seen = {}
local active, done = 0, false
local cond = condition.new()
local stats = { pages = 0, items = 0, errors = 0, robots_blocked = 0, non200 = 0 }
local allowed = function() return true end

local function push(url)
  if seen[url] then return end
  seen[url] = true
  local s, a, p = split(url)
  if s ~= S or a ~= A then return end
  if not allowed(p) then stats.robots_blocked = stats.robots_blocked + 1; return end
  qtail = qtail + 1; queue[qtail] = p
end

local function worker()
  local w = {}
  while true do
    while qhead > qtail do
      if active == 0 then done = true; cond:signal(); return end
      cond:wait()
      if done then return end
    end
    local path = queue[qhead]; queue[qhead] = nil; qhead = qhead + 1
    active = active + 1
    local status, body, rh = get(w, path)
    if not status then
      stats.errors = stats.errors + 1
    elseif status ~= 200 then
      stats.non200 = stats.non200 + 1
    else
      stats.pages = stats.pages + 1
      local ct = rh:get("content-type") or ""
      if ct:find("html", 1, true) then
        local items, hrefs = parse_page(body)
        local url = S .. "://" .. A .. path
        local buf = {}
        for i, it in ipairs(items) do
          buf[i] = cjson.encode({ url = url, title = it.title, price = it.price })
        end
        if #buf > 0 then out:write(table.concat(buf, "\n"), "\n") end
        stats.items = stats.items + #items
        for _, href in ipairs(hrefs) do
          local abs = resolve(S, A, path, href)
          if abs then push(abs) end
        end
      end
    end
    active = active - 1
    cond:signal()
  end
end

local cq = cqueues.new()
local t0 = cqueues.monotime()
cq:wrap(function()
  local status, body = get({}, "/robots.txt")
  if status == 200 then allowed = robots_parse(body) end
  push(start)
  for _ = 1, conc do cq:wrap(worker) end
end)
assert(cq:loop())
out:close()
stats.seconds = cqueues.monotime() - t0
stats.pages_per_s = stats.pages / stats.seconds
io.stderr:write(cjson.encode(stats), "\n")
