-- A link-heavy page: MB megabytes of <li><a href> links, the shape of a
-- category or sitemap page.
--   silk eval tests/lib/linkpage.lua --print MB > page.html
--   local build = dofile("tests/lib/linkpage.lua"); build(MB) -> page, links
local function build(mb)
  local parts, size, i = { "<!doctype html><html><head><title>links</title></head><body><ul>\n" }, 0, 0
  while size < mb * 1048576 do
    i = i + 1
    parts[#parts + 1] = ('<li><a href="/item/%d?ref=list">Item %d</a></li>\n'):format(i, i)
    size = size + #parts[#parts]
  end
  parts[#parts + 1] = "</ul></body></html>\n"
  return table.concat(parts), i
end

local flag, mb = ...
if flag == "--print" then io.write((build(tonumber(mb) or 16))) end
return build
