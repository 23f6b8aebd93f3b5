--- silk.form: the request a browser sends when a <form> is submitted, as
-- Scrapy's FormRequest.from_response builds it.
--
--   form.entries(form_node [, opts]) -> { {name, value [, file = true]}, ... }
--   form.request(form_node [, fields [, opts]]) -> { url=, method=, body=, headers= } | nil, err
--     fields: { name = "value" | number | {"v1", "v2"} | false }
--     opts:   { clicked = css | index | node, dont_click = true, url = page URL }
--
-- form.entries is the HTML Standard's "constructing the entry list" on the
-- parsed page, with the submitter given by opts (the FormData a browser
-- builds for new FormData(form, submitter)): the form's submittable
-- controls in tree order, its own descendants and the controls elsewhere
-- whose form="id" names it; a control is skipped when disabled (its own
-- attribute, a disabled <fieldset> outside its first <legend>, a disabled
-- <optgroup>), nameless, inside a <template>, a button that is not the
-- submitter, or an unchecked checkbox or radio (of several checked radios
-- of one name, the last). A control inside a <datalist> is sent, as
-- Chromium sends it, although the standard skips it. Values: a text input's value
-- attribute with line breaks removed (email and url also trimmed, number
-- emptied when it is not a valid number, color as #rrggbb or #000000), a
-- checkbox's or radio's value or "on", the selected options of a <select>
-- (the first enabled option of a single select with none selected, the
-- last of several), a <textarea>'s text, "UTF-8" for a hidden _charset_, an
-- empty file for an <input type=file> (value "", file = true), and for the
-- submitter its value (an <input type=submit> without one: "Submit", its
-- label, as Chromium sends it), or NAME.x = 0 and NAME.y = 0 for an image
-- button.
--
-- form.request applies `fields` to that list (a name present is replaced
-- where it first stands by the given value or values, its other entries
-- dropped; false drops it; new names are appended in sorted order), then
-- encodes it as the form says (the submitter's formaction, formmethod and
-- formenctype first): GET replaces the action URL's query with the
-- urlencoded entries; POST sends them as application/x-www-form-urlencoded,
-- multipart/form-data (with a boundary in Content-Type) or text/plain, line
-- breaks made CRLF. The action resolves against the page's base URL
-- (doc:base_url(): <base href>, else the page URL); an empty or missing
-- action is the page URL itself (doc:url(); opts.url for a document parsed
-- without one). Always UTF-8
-- (silk's pages are), whatever accept-charset says.
--
-- The submitter (the clicked button): opts.clicked picks one of the form's
-- submit buttons (<input type=submit|image>, <button> of type submit) by
-- selector, by index (1 = the first) or as a node; by default the first
-- that is not disabled, as Scrapy does; opts.dont_click = true sends none.
--
-- Misuse raises, naming the argument: not a <form> node, a `clicked` that
-- matches no submit button, a field value of the wrong type. A page that
-- cannot be submitted (an action that is not an http(s) URL, method=dialog)
-- gives nil, err.
--
-- Not followed: controls associated with a form only through the HTML
-- parser's form pointer (a <form> whose end tag an enclosing element's end
-- closed, with controls after it outside the form element), dirname, and
-- the value sanitization of date, time and range inputs (their value
-- attribute is sent as written).

local url = require("silk.core.url")

local M = {}

local CONTROLS = "input, button, select, textarea"

-- What v is, for an error message: "<div> node", "silk.html.document", "nil".
local function describe(v)
  local ok, tag = pcall(function() return v.tag end)
  if ok and type(tag) == "string" then return "<" .. tag .. "> node" end
  local mt = type(v) == "userdata" and getmetatable(v)
  return type(mt) == "table" and type(mt.__name) == "string" and mt.__name or type(v)
end

local function check_form(fn, node)
  local ok, tag = pcall(function() return node.tag end)
  if not ok or tag ~= "form" then
    error(("bad argument #1 to 'form.%s' (a <form> node expected, got %s)"):format(fn, describe(node)), 3)
  end
end

-- s as a CSS string literal.
local function css_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ("\\%x "):format(c:byte())
  end) .. '"'
end

local function input_type(el)
  return (el:attr("type") or ""):lower()
end

-- The submit buttons: <input type=submit|image>, and a <button> whose type
-- is submit, missing or not one of the others.
local function is_submit_button(el)
  local tag = el.tag
  if tag == "input" then
    local t = input_type(el)
    return t == "submit" or t == "image"
  end
  if tag == "button" then
    local t = input_type(el)
    return t ~= "reset" and t ~= "button"
  end
  return false
end

-- Buttons: they submit nothing unless they are the submitter.
local BUTTON_TYPES = { submit = true, image = true, reset = true, button = true }
local function is_button(el)
  return el.tag == "button" or (el.tag == "input" and BUTTON_TYPES[input_type(el)] == true)
end

-- The nearest <form> ancestor of el, or nil.
local function ancestor_form(el)
  local p = el:parent()
  while p do
    if p.tag == "form" then return p end
    p = p:parent()
  end
  return nil
end

-- The form's associated controls in tree order (HTML: "reset the form
-- owner"): with a form attribute, the form it names when the first element
-- with that id is a form (else none); without, the nearest <form> ancestor.
local function controls(form)
  local doc = form:document()
  local id = form:attr("id")
  local candidates
  if doc:one("[form]") then
    candidates = doc:select(CONTROLS)
  else
    candidates = form:select(CONTROLS)
  end
  local owned = {}
  for _, el in ipairs(candidates) do
    local fa = el:attr("form")
    local mine
    if fa then
      mine = fa == id and fa ~= "" and doc:one("[id=" .. css_string(fa) .. "]") == form
    else
      mine = ancestor_form(el) == form
    end
    if mine and not el:matches("template *") then owned[#owned + 1] = el end
  end
  return owned
end

local function submit_buttons(list)
  local out = {}
  for _, el in ipairs(list) do
    if is_submit_button(el) then out[#out + 1] = el end
  end
  return out
end

-- The submitter opts asks for, or nil. fn names the function for errors.
local function submitter(fn, list, opts)
  if opts.dont_click then return nil end
  local buttons = submit_buttons(list)
  local c = opts.clicked
  if c == nil then
    for _, b in ipairs(buttons) do
      if not b:matches(":disabled") then return b end
    end
    return nil
  end
  local where = ("bad argument #3 to 'form.%s' (opts.clicked: "):format(fn)
  if type(c) == "number" then
    local b = buttons[c]
    if not b then
      error(("%sthe form has %d submit button%s, no number %s)"):format(
        where, #buttons, #buttons == 1 and "" or "s", tostring(c)), 3)
    end
    return b
  elseif type(c) == "string" then
    for _, b in ipairs(buttons) do
      if b:matches(c) then return b end
    end
    error(("%sno submit button of the form matches '%s')"):format(where, c), 3)
  else
    for _, b in ipairs(buttons) do
      if b == c then return b end
    end
    error(("%s%s is not a submit button of the form)"):format(where, describe(c)), 3)
  end
end

local function strip_newlines(s) return (s:gsub("[\r\n]", "")) end
local function trim(s) return (s:match("^[ \t\n\f\r]*(.-)[ \t\n\f\r]*$")) end

-- HTML's "valid floating-point number".
local function valid_float(s)
  local m = s:match("^%-?%d+%.?%d*$") or s:match("^%-?%.%d+$")
  if not m then
    local mant, exp = s:match("^(%-?[%d%.]+)[eE]([+-]?%d+)$")
    if not (mant and exp) then return false end
    return valid_float(mant)
  end
  return not s:find("%.$")
end

-- The value of an <input> in the value mode "value", sanitized by its type.
local SANITIZE = {
  text = strip_newlines, search = strip_newlines, tel = strip_newlines,
  password = strip_newlines,
  email = function(v) return trim(strip_newlines(v)) end,
  url = function(v) return trim(strip_newlines(v)) end,
  number = function(v) return valid_float(v) and v or "" end,
  -- Chromium reads a color input's value as a CSS color (#rgb too)
  color = function(v)
    if v:match("^#%x%x%x$") then v = v:gsub("%x", "%0%0") end
    return v:match("^#%x%x%x%x%x%x$") and v:lower() or "#000000"
  end,
}
local KNOWN_TYPES = {
  hidden = true, text = true, search = true, tel = true, url = true, email = true,
  password = true, date = true, month = true, week = true, time = true,
  ["datetime-local"] = true, number = true, range = true, color = true,
  checkbox = true, radio = true, file = true, submit = true, image = true,
  reset = true, button = true,
}

-- An option's value: its value attribute, else its text with white space
-- stripped and collapsed.
local function option_value(o)
  local v = o:attr("value")
  if v then return v end
  return trim((o:text{ raw = true }:gsub("[ \t\n\f\r]+", " ")))
end

-- Appends the entries of el (not a button: they are handled by the caller).
local function control_entries(out, el, name, checked_radio)
  local tag = el.tag
  if tag == "select" then
    for _, o in ipairs(el:select(":scope > option, :scope > optgroup > option")) do
      if o:matches(":checked") and not o:matches(":disabled") then
        out[#out + 1] = { name, option_value(o) }
      end
    end
  elseif tag == "textarea" then
    out[#out + 1] = { name, el:text{ raw = true } }
  else
    local t = input_type(el)
    if not KNOWN_TYPES[t] then t = "text" end
    if t == "checkbox" then
      if el:attr("checked") then out[#out + 1] = { name, el:attr("value") or "on" } end
    elseif t == "radio" then
      if checked_radio[name] == el then out[#out + 1] = { name, el:attr("value") or "on" } end
    elseif t == "file" then
      out[#out + 1] = { name, "", file = true }
    elseif t == "hidden" and name:lower() == "_charset_" then
      out[#out + 1] = { name, "UTF-8" }
    else
      local v = el:attr("value") or ""
      local f = SANITIZE[t]
      out[#out + 1] = { name, f and f(v) or v }
    end
  end
end

-- The entry list of form with the submitter sub (or nil), over its
-- controls `list`.
local function entry_list(list, sub)
  -- of a radio group's checked radios, the last counts (setting one's
  -- checkedness unchecks the others)
  local checked_radio = {}
  for _, el in ipairs(list) do
    if el.tag == "input" and input_type(el) == "radio" and el:attr("checked") then
      local name = el:attr("name")
      if name and name ~= "" then checked_radio[name] = el end
    end
  end
  local out = {}
  for _, el in ipairs(list) do
    if not el:matches(":disabled") then
      local name = el:attr("name")
      if is_button(el) then
        if el == sub then
          if el.tag == "input" and input_type(el) == "image" then
            local prefix = (name and name ~= "") and name .. "." or ""
            out[#out + 1] = { prefix .. "x", "0" }
            out[#out + 1] = { prefix .. "y", "0" }
          elseif name and name ~= "" then
            -- a submit input without a value sends its label, as Chromium does
            local default = (el.tag == "input") and "Submit" or ""
            out[#out + 1] = { name, el:attr("value") or default }
          end
        end
      elseif name and name ~= "" then
        control_entries(out, el, name, checked_radio)
      end
    end
  end
  return out
end

local function check_opts(fn, opts, argn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #%d to 'form.%s' (options table expected, got %s)"):format(argn, fn, type(opts)), 3)
  end
  for k in pairs(opts) do
    if k ~= "clicked" and k ~= "dont_click" and k ~= "url" then
      error(("bad argument #%d to 'form.%s' (unknown option '%s': clicked, dont_click, url)"):format(
        argn, fn, tostring(k)), 3)
    end
  end
  return opts
end

--- form.entries(form_node [, opts]) -> { {name, value [, file = true]}, ... }:
-- the entry list a browser builds for the form (FormData), with the
-- submitter opts.clicked / the first submit button / none (dont_click).
-- @usage
--   for _, e in ipairs(form.entries(res:one("form#login"))) do print(e[1], e[2]) end
function M.entries(form_node, opts)
  check_form("entries", form_node)
  opts = check_opts("entries", opts, 2)
  local list = controls(form_node)
  return entry_list(list, submitter("entries", list, opts))
end

-- fields applied to the entry list (see the module comment).
local function apply_fields(entries, fields)
  if fields == nil then return entries end
  if type(fields) ~= "table" then
    error("bad argument #2 to 'form.request' (table of fields expected, got " .. type(fields) .. ")", 3)
  end
  local names = {}
  for k, v in pairs(fields) do
    if type(k) ~= "string" then
      error(("bad argument #2 to 'form.request' (field names are strings, got %s)"):format(type(k)), 3)
    end
    local tv = type(v)
    local ok = tv == "string" or tv == "number" or v == false
    if tv == "table" then
      ok = true
      for i, x in ipairs(v) do
        if type(x) ~= "string" and type(x) ~= "number" then
          error(("bad argument #2 to 'form.request' (fields.%s[%d]: string expected, got %s)"):format(
            k, i, type(x)), 3)
        end
      end
    end
    if not ok then
      error(("bad argument #2 to 'form.request' (fields.%s: string, number, list or false expected, got %s)")
        :format(k, tv), 3)
    end
    names[#names + 1] = k
  end
  table.sort(names)
  local function values(v)
    if v == false then return {} end
    if type(v) == "table" then
      local out = {}
      for i, x in ipairs(v) do out[i] = tostring(x) end
      return out
    end
    return { tostring(v) }
  end
  local out, done = {}, {}
  for _, e in ipairs(entries) do
    local v = fields[e[1]]
    if v == nil then
      out[#out + 1] = e
    elseif not done[e[1]] then
      done[e[1]] = true
      for _, x in ipairs(values(v)) do out[#out + 1] = { e[1], x } end
    end
  end
  for _, k in ipairs(names) do
    if not done[k] then
      for _, x in ipairs(values(fields[k])) do out[#out + 1] = { k, x } end
    end
  end
  return out
end

local function crlf(s)
  return (s:gsub("\r\n", "\n"):gsub("\r", "\n"):gsub("\n", "\r\n"))
end

-- application/x-www-form-urlencoded serializer (URL Standard).
local function urlencode_part(s)
  return (s:gsub("[^%w%*%-%._ ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+"))
end

local function urlencoded(entries)
  local parts = {}
  for i, e in ipairs(entries) do
    parts[i] = urlencode_part(crlf(e[1])) .. "=" .. urlencode_part(crlf(e[2]))
  end
  return table.concat(parts, "&")
end

local function text_plain(entries)
  local parts = {}
  for i, e in ipairs(entries) do parts[i] = crlf(e[1]) .. "=" .. crlf(e[2]) .. "\r\n" end
  return table.concat(parts)
end

-- A multipart/form-data body (HTML's encoding algorithm, RFC 7578) and its
-- boundary, one that no name or value contains.
local function multipart(entries)
  local function quote(s) return (s:gsub('[\n\r"]', { ["\n"] = "%0A", ["\r"] = "%0D", ['"'] = "%22" })) end
  local boundary
  repeat
    boundary = "----silkFormBoundary" .. ("%08x%08x"):format(math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    local clash = false
    for _, e in ipairs(entries) do
      if e[1]:find(boundary, 1, true) or e[2]:find(boundary, 1, true) then clash = true end
    end
  until not clash
  local parts = {}
  for _, e in ipairs(entries) do
    local head = '--' .. boundary .. '\r\nContent-Disposition: form-data; name="' .. quote(crlf(e[1])) .. '"'
    if e.file then
      parts[#parts + 1] = head .. '; filename="' .. quote(e[2]) .. '"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n'
    else
      parts[#parts + 1] = head .. "\r\n\r\n" .. crlf(e[2]) .. "\r\n"
    end
  end
  parts[#parts + 1] = "--" .. boundary .. "--\r\n"
  return table.concat(parts), boundary
end

local ENCTYPES = {
  ["application/x-www-form-urlencoded"] = true, ["multipart/form-data"] = true, ["text/plain"] = true,
}

--- form.request(form_node [, fields [, opts]]) -> request | nil, err: the
-- request submitting the form, { url =, method = "GET" | "POST", body =,
-- headers = { ["Content-Type"] = ... } }, as silk.fetch (and the crawl)
-- take it. See the module comment.
-- @usage
--   local form = require("silk.form")
--   local req = assert(form.request(res:one("form#login"), { user = "ann", password = "secret" }))
--   crawl:request{ url = req.url, method = req.method, body = req.body, headers = req.headers,
--                  callback = "after_login" }
function M.request(form_node, fields, opts)
  check_form("request", form_node)
  opts = check_opts("request", opts, 3)
  if opts.url ~= nil and type(opts.url) ~= "string" then
    error("bad argument #3 to 'form.request' (opts.url: string expected, got " .. type(opts.url) .. ")", 2)
  end
  local list = controls(form_node)
  local sub = submitter("request", list, opts)
  local entries = apply_fields(entry_list(list, sub), fields)

  local function attr(name, form_name)
    local v = sub and sub:attr(name)
    if v == nil then v = form_node:attr(form_name) end
    return v
  end
  local doc = form_node:document()
  local action = attr("formaction", "action") or ""
  local target, err
  if action == "" then
    target = doc:url() or opts.url
    if not target then
      error("bad argument #3 to 'form.request' (the form has no action and its page no URL: give opts.url)", 2)
    end
  else
    target, err = url.join(doc:base_url() or opts.url, action)
    if not target then
      return nil, setmetatable({ kind = err.kind, message = ("form action %q: %s"):format(action, err.message) },
                               getmetatable(err))
    end
  end
  local method = (attr("formmethod", "method") or ""):lower()
  if method == "dialog" then return nil, "form: method=dialog submits nothing" end
  method = method == "post" and "POST" or "GET"
  if method == "GET" then
    local base, frag = target:match("^([^#]*)(.*)$")
    return { url = base:gsub("%?.*$", "") .. "?" .. urlencoded(entries) .. frag, method = "GET", headers = {} }
  end
  local enctype = (attr("formenctype", "enctype") or ""):lower()
  if not ENCTYPES[enctype] then enctype = "application/x-www-form-urlencoded" end
  local body, ctype
  if enctype == "multipart/form-data" then
    local boundary
    body, boundary = multipart(entries)
    ctype = "multipart/form-data; boundary=" .. boundary
  elseif enctype == "text/plain" then
    body, ctype = text_plain(entries), "text/plain"
  else
    body, ctype = urlencoded(entries), "application/x-www-form-urlencoded"
  end
  return { url = target, method = "POST", body = body, headers = { ["Content-Type"] = ctype } }
end

return M
