-- Generates docs/api.md, the API reference, from the doc comments in the
-- source: `silk eval scripts/gen-api.lua [--check]` (scripts/gen-api runs
-- it with the built silk). With --check it writes nothing and exits 1 when
-- docs/api.md differs from what the source says (ctest's docs/api).
--
-- What is documented (README.md: "API reference"):
--   lua/silk/*.lua  a `---` comment block whose first line starts with a
--                   qualified call, `silk.scope(fn, ...) -> ...`,
--                   `res:urljoin(href) -> ...`, `testing.response{...}`
--                   (a block tagged @local is left out, and so is M.x, a
--                   module's own table under its local name);
--   core/*.c        a `/*** ... */` block, the same shape (the bindings:
--                   lapi_*.c, and channel.c for channels).
-- A block is: the syntax line (call, then `->` and what it returns, up to
-- ": " or the end of the line), prose, then the tags @param NAME text,
-- @return text, @raise text (errors), @usage (an example: the lines after
-- it). Entries are grouped by what precedes the last `.` or `:` of the call
-- (silk, res, crawl, node...), in the order SECTIONS gives, then others by
-- name; within a group in source order. The spider settings and the error
-- kinds come from the modules themselves (silk.spider, silk.core.fetch).

local lfs = require("lfs")

local OUT = "docs/api.md"

local SECTIONS = {
  { "silk", "silk: tasks, time, fetching, parsing" },
  { "task", "Tasks (`task`)" },
  { "chan", "Channels (`chan`)" },
  { "scope", "Scopes (`scope`)" },
  { "res", "Responses (`res`)" },
  { "doc", "Documents (`doc`)" },
  { "node", "Nodes (`node`)" },
  { "crawl", "The crawl object (`crawl`)" },
  { "silk.url", "URLs (`silk.url`)" },
  { "silk.robots", "robots.txt (`silk.robots`)" },
  { "robots", "robots.txt rules (`robots`)" },
  { "testing", "Spider tests (`silk.testing`)" },
  { "double", "The crawl double (`testing.crawl{}`)" },
  { "form", "Forms (`silk.form`)" },
  { "log", "Logging (`silk.log`)" },
}

-- `M.x` is a module's own table under its local name, which no user sees
-- (silk.request's helpers): not part of the reference.
local SKIP = { M = true }

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function sorted_files(dir, pattern)
  local out = {}
  for name in lfs.dir(dir) do
    if name:match(pattern) then out[#out + 1] = dir .. "/" .. name end
  end
  table.sort(out)
  return out
end

-- The call at the start of a syntax line: "res:urljoin(href)", its name
-- ("res:urljoin") and the rest of the line.
local function split_call(line)
  local name, rest = line:match("^([%a_][%w_]*[.:][%w_.:]*[%w_])(.*)$")
  if not name then return nil end
  local args, after = rest:match("^(%s*%b())(.*)$")
  if not args then args, after = rest:match("^(%s*%b{})(.*)$") end
  if not args then return nil end
  return name, name .. args:gsub("^%s+", ""), after
end

-- One doc block (lines without comment markers) -> entry, or nil when it
-- is not a public function's.
local function parse_block(lines, file, line_no)
  local name, call, after = split_call(lines[1] or "")
  if not name then return nil end
  local returns, lead = nil, nil
  local r = after:match("^%s*%->%s*(.*)$")
  if r then
    returns, lead = r:match("^(.-):%s+(.*)$")
    if not returns then returns, lead = r, nil end
    returns = returns:gsub("[:.,]%s*$", "")
  else
    lead = after:match("^[:.,]?%s*(.*)$")
    if lead == "" then lead = nil end
  end
  local e = { name = name, call = call, returns = returns, prose = {}, params = {}, raises = {},
              usage = {}, file = file, line = line_no }
  if lead then e.prose[1] = lead end
  local mode = "prose"
  for i = 2, #lines do
    local l = lines[i]
    local tag, text = l:match("^%s*@(%w+)%s*(.*)$")
    if tag == "local" then return nil end
    if tag == "param" then
      e.params[#e.params + 1] = text
      mode = "param"
    elseif tag == "return" then
      e.returns_text = (e.returns_text and (e.returns_text .. " ") or "") .. text
      mode = "return"
    elseif tag == "raise" then
      e.raises[#e.raises + 1] = text
      mode = "raise"
    elseif tag == "usage" then
      if text ~= "" then e.usage[#e.usage + 1] = text end
      mode = "usage"
    elseif mode == "usage" then
      e.usage[#e.usage + 1] = l
    elseif mode == "param" and l:match("^%s+%S") then
      e.params[#e.params] = e.params[#e.params] .. " " .. l:match("^%s*(.-)%s*$")
    elseif mode == "raise" and l:match("^%s+%S") then
      e.raises[#e.raises] = e.raises[#e.raises] .. " " .. l:match("^%s*(.-)%s*$")
    elseif mode == "return" and l:match("^%s+%S") then
      e.returns_text = e.returns_text .. " " .. l:match("^%s*(.-)%s*$")
    else
      mode = "prose"
      e.prose[#e.prose + 1] = l
    end
  end
  -- examples keep their indentation relative to their first line
  local indent = e.usage[1] and e.usage[1]:match("^(%s*)") or ""
  for i, l in ipairs(e.usage) do
    e.usage[i] = l:sub(1, #indent) == indent and l:sub(#indent + 1) or l:match("^%s*(.*)$")
  end
  while e.usage[#e.usage] and e.usage[#e.usage]:match("^%s*$") do e.usage[#e.usage] = nil end
  return e
end

local function lua_blocks(file, entries)
  local block, start, n = nil, nil, 0
  local function finish()
    if block then
      local e = parse_block(block, file, start)
      if e then entries[#entries + 1] = e end
    end
    block = nil
  end
  for line in (read(file) .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local first = line:match("^%s*%-%-%-%s?(.*)$")
    local more = not first and line:match("^%s*%-%-%s?(.*)$")
    if first and not first:match("^%-") then
      finish()
      block, start = { first }, n
    elseif more and block then
      block[#block + 1] = more
    else
      finish()
    end
  end
  finish()
end

local function c_blocks(file, entries)
  local text = read(file)
  for pos, body in text:gmatch("()/%*%*%*(.-)%*/") do
    local lines = {}
    for l in (body .. "\n"):gmatch("([^\n]*)\n") do
      lines[#lines + 1] = l:gsub("^%s*%*%s?", "", 1)
    end
    while lines[1] and lines[1]:match("^%s*$") do table.remove(lines, 1) end
    lines[1] = lines[1] and lines[1]:match("^%s*(.-)%s*$")
    local _, line_no = text:sub(1, pos):gsub("\n", "")
    local e = parse_block(lines, file, line_no + 1)
    if e then entries[#entries + 1] = e end
  end
end

local function group_of(name)
  return name:match("^(.*)[.:][%w_]+$")
end

-- Prose lines -> paragraphs (a blank line or an indented line starts one).
local function paragraphs(lines)
  local out, cur = {}, {}
  local function flush()
    if #cur > 0 then out[#out + 1] = table.concat(cur, " ") end
    cur = {}
  end
  for _, l in ipairs(lines) do
    local t = l:match("^%s*(.-)%s*$")
    if t == "" then flush() else cur[#cur + 1] = t end
  end
  flush()
  return out
end

local function anchor(title)
  return (title:lower():gsub("[^%w%s%-]", ""):gsub("%s", "-"))
end

local function render_entry(e, out, warn)
  local head = e.call .. (e.returns and (" -> " .. e.returns) or "")
  out[#out + 1] = ("### `%s`\n"):format(head)
  for _, p in ipairs(paragraphs(e.prose)) do out[#out + 1] = p .. "\n" end
  if #e.params > 0 then
    out[#out + 1] = "**Parameters:**\n"
    for _, p in ipairs(e.params) do
      local name, text = p:match("^([%w_.%[%]]+)%s*(.*)$")
      out[#out + 1] = ("- `%s`%s"):format(name or p, text ~= "" and (": " .. text) or "")
    end
    out[#out + 1] = ""
  end
  if e.returns_text then out[#out + 1] = "**Returns:** " .. e.returns_text .. "\n" end
  if #e.raises > 0 then
    out[#out + 1] = "**Errors:** " .. table.concat(e.raises, " ") .. "\n"
  end
  if #e.usage > 0 then
    out[#out + 1] = "```lua\n" .. table.concat(e.usage, "\n") .. "\n```\n"
  else
    warn(("%s:%d: %s has no @usage example"):format(e.file, e.line, e.name))
  end
  out[#out + 1] = ("<sub>%s</sub>\n"):format(e.file)
end

local function settings_section(out)
  local settings = require("silk.spider").settings
  local names = {}
  for k in pairs(settings) do names[#names + 1] = k end
  table.sort(names)
  out[#out + 1] = "## Spider settings\n"
  out[#out + 1] = "In the table given to `silk.spider{...}`, or `silk run -s key=value`; "
    .. "a misspelled name or a value that cannot work is an error naming it. "
    .. "From `silk.spider`'s own table (lua/silk/spider.lua).\n"
  out[#out + 1] = "| setting | type | default | what |"
  out[#out + 1] = "|---|---|---|---|"
  for _, k in ipairs(names) do
    local s = settings[k]
    local d = s[1]
    if type(d) == "table" then
      local items = {}
      for i, v in ipairs(d) do items[i] = tostring(v) end
      d = "{ " .. table.concat(items, ", ") .. " }"
    end
    local default = d == nil and "" or ("`%s`"):format(tostring(d))
    out[#out + 1] = ("| `%s` | %s | %s | %s |"):format(k, s[2]:gsub("%?$", ""), default, (s[3]:gsub("|", "\\|")))
  end
  out[#out + 1] = ""
end

local function error_kinds(out)
  local kinds = require("silk.core.fetch").kinds
  local list = {}
  for _, k in ipairs(kinds) do list[#list + 1] = "`" .. k .. "`" end
  out[#out + 1] = "## Error values\n"
  out[#out + 1] = "An error value is a table `{kind=, message=, ...}` whose `tostring` is `kind: message`. "
    .. "Cancellation and deadlines are raised (`cancelled`, `timeout`); other runtime outcomes are "
    .. "returned as `nil, err`. Misuse (a wrong argument) raises a plain error at the caller's line.\n"
  out[#out + 1] = "Kinds from fetching (silk.core.fetch): " .. table.concat(list, ", ")
    .. ". Also `closed` (a channel), `error` (a Lua error, with `traceback`), `memory` (`--max-memory`), "
    .. "`url` (a URL that does not parse). A fetch error carries `url` and, for an HTTP status, "
    .. "`status` (kind `http`: `response` too).\n"
end

local function generate(warn)
  local entries = {}
  for _, f in ipairs(sorted_files("lua/silk", "%.lua$")) do lua_blocks(f, entries) end
  for _, f in ipairs(sorted_files("core", "%.c$")) do c_blocks(f, entries) end
  local groups, order, known = {}, {}, {}
  for _, e in ipairs(entries) do
    local g = group_of(e.name)
    if not SKIP[g] then
      if not groups[g] then groups[g] = {} end
      table.insert(groups[g], e)
    end
  end
  for _, s in ipairs(SECTIONS) do
    known[s[1]] = true
    if groups[s[1]] then order[#order + 1] = { s[1], s[2] } end
  end
  local rest = {}
  for g in pairs(groups) do
    if not known[g] then rest[#rest + 1] = g end
  end
  table.sort(rest)
  for _, g in ipairs(rest) do order[#order + 1] = { g, ("`%s`"):format(g) } end

  local out = {
    "# silk API reference\n",
    "Generated by `scripts/gen-api` from the doc comments in `lua/silk/*.lua` (`---` blocks) and "
      .. "`core/*.c` (`/***` blocks): edit those and run `scripts/gen-api`; CI fails when this "
      .. "file is not what they say. How silk works around these calls: [design.md](design.md); "
      .. "a first spider and the command line: [the README](../README.md).\n",
  }
  for _, o in ipairs(order) do
    out[#out + 1] = ("- [%s](#%s)"):format(o[2], anchor(o[2]))
  end
  out[#out + 1] = "- [Spider settings](#spider-settings)"
  out[#out + 1] = "- [Error values](#error-values)\n"
  for _, o in ipairs(order) do
    out[#out + 1] = ("## %s\n"):format(o[2])
    for _, e in ipairs(groups[o[1]]) do render_entry(e, out, warn) end
  end
  settings_section(out)
  error_kinds(out)
  return table.concat(out, "\n")
end

local check = arg[1] == "--check"
local warnings = {}
local text = generate(function(w) warnings[#warnings + 1] = w end)
for _, w in ipairs(warnings) do io.stderr:write("gen-api: ", w, "\n") end
if check then
  local f = io.open(OUT, "rb")
  local old = f and f:read("*a")
  if f then f:close() end
  if old == text then
    print("docs/api.md is up to date")
    return
  end
  local function lines(t)
    local out = {}
    for l in (t .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
    return out
  end
  local a, b, n = lines(old or ""), lines(text), 1
  while a[n] == b[n] do n = n + 1 end
  local la, lb = a[n], b[n]
  io.stderr:write(("docs/api.md is out of date (line %d: %q, the source says %q): "
                   .. "run scripts/gen-api and commit docs/api.md\n"):format(n, la or "", lb or ""))
  require("silk.core.engine").set_exit_code(1)
  return
end
local f = assert(io.open(OUT, "wb"))
f:write(text)
f:close()
print(("wrote %s"):format(OUT))
