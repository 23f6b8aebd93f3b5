-- form_diff_spec.lua: silk.form against a headless Chromium, replayed
-- offline from tests/diff/forms/expected.lua (recorded by
-- tests/diff/forms/gen.js, whose header lists what is deliberately not
-- generated): for every recorded form and submitter, form.entries must be
-- the entries of new FormData(form, submitter) and form.request the
-- request form.requestSubmit(submitter) sent (method, URL, Content-Type,
-- body; a multipart boundary stands as BOUNDARY on both sides).
local html = require("silk.core.html")
local form = require("silk.form")

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local recorded = dofile(here .. "/../diff/forms/expected.lua")

local fnv32 = dofile(here .. "/../lib/fnv32.lua")

-- The form's submit buttons, numbered as the recording numbers them.
local function form_buttons(f)
  local out = {}
  for _, el in ipairs(f:document():select("input, button")) do
    local t = (el:attr("type") or ""):lower()
    local submit = el.tag == "input" and (t == "submit" or t == "image") or
                   el.tag == "button" and t ~= "reset" and t ~= "button"
    if submit then
      local ok = pcall(form.entries, f, { clicked = el })
      if ok then out[#out + 1] = el end
    end
  end
  return out
end

local function opts_for(k)
  if k == 0 then return { dont_click = true } end
  return { clicked = k }
end

-- The request with its multipart boundary replaced by BOUNDARY.
local function unbound(ctype, body)
  local b = ctype:match("boundary=(.+)$")
  if not b then return ctype, body end
  local esc = b:gsub("%p", "%%%0")
  return (ctype:gsub(esc, "BOUNDARY")), (body:gsub(esc, "BOUNDARY"))
end

local function show(entries)
  local out = {}
  for i, e in ipairs(entries) do
    out[i] = ("{%q, %q%s}"):format(e[1], e[2], e[3] and ", file" or e.file and ", file" or "")
  end
  return table.concat(out, ", ")
end

-- Runs every recorded case through check(doc_number, form_node, case);
-- returns the failures (at most 10 described) and the number of cases.
local function each_case(check)
  local failures, total = {}, 0
  for n, d in ipairs(recorded.docs) do
    local doc = html.parse(d.html, d.url)
    local forms = doc:select("form")
    for fi, cases in ipairs(d.forms) do
      for _, c in ipairs(cases) do
        total = total + 1
        local why = check(forms[fi], c)
        if why and #failures < 10 then
          failures[#failures + 1] = ("doc %d form %d submitter %d: %s\n%s"):format(n, fi, c.submitter, why, d.html)
        end
      end
    end
    doc:free()
  end
  return failures, total
end

describe("silk.form against Chromium", function()
  it("has several hundred recorded cases on trees silk parses as Chromium does", function()
    local _, total = each_case(function() end)
    assert.is_true(total >= 300, "only " .. total .. " cases")
    for n, d in ipairs(recorded.docs) do
      local doc = html.parse(d.html, d.url)
      assert.equal(d.tree, fnv32(doc:one("html"):html()), "doc " .. n .. " parses to another tree")
      doc:free()
    end
  end)

  it("builds the entry list of new FormData(form, submitter)", function()
    local failures = each_case(function(f, c)
      local got = form.entries(f, opts_for(c.submitter))
      local same = #got == #c.entries
      for i = 1, #got do
        local w = c.entries[i]
        same = same and w and got[i][1] == w[1] and got[i][2] == w[2] and (got[i].file or false) == (w[3] or false)
      end
      if not same then
        return ("\n  silk:     %s\n  chromium: %s"):format(show(got), show(c.entries))
      end
    end)
    assert.same({}, failures)
  end)

  -- A GET whose enctype is text/plain: Chromium writes the text/plain
  -- encoding into the query, the standard (and silk) urlencodes it.
  local function chromium_get_text_plain(f, k, req)
    if req.method ~= "GET" then return false end
    local sub = k > 0 and form_buttons(f)[k]
    local enctype = sub and sub:attr("formenctype") or f:attr("enctype")
    return (enctype or ""):lower() == "text/plain"
  end

  it("builds the request form.requestSubmit(submitter) sends", function()
    local skipped = 0
    local failures = each_case(function(f, c)
      local req, err = form.request(f, nil, opts_for(c.submitter))
      if not req then return "no request: " .. tostring(err) end
      if chromium_get_text_plain(f, c.submitter, req) then
        skipped = skipped + 1
        return
      end
      local ctype, body = unbound(req.headers["Content-Type"] or "", req.body or "")
      local wctype, wbody = unbound(c.ctype, c.body)
      if req.method ~= c.method or req.url ~= c.url or ctype ~= wctype or body ~= wbody then
        return ("\n  silk:     %s %s [%s] %q\n  chromium: %s %s [%s] %q"):format(
          req.method, req.url, ctype, body, c.method, c.url, wctype, wbody)
      end
    end)
    assert.same({}, failures)
    assert.is_true(skipped < 40, skipped .. " GET text/plain cases skipped")
  end)
end)
