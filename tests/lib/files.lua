-- tests/lib/files.lua: the small file helpers the integration specs share.
--   files.tmpdir() -> a fresh directory under /tmp
--   files.write(path, text); files.read(path) -> text | nil
--   files.pages(n) -> a fresh directory with index.html linking p1.html .. pN.html
local files = {}

function files.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  os.execute("mkdir -p " .. d)
  return d
end

function files.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function files.read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function files.pages(n)
  local dir = files.tmpdir()
  local links = {}
  for p = 1, n do
    files.write(("%s/p%d.html"):format(dir, p), ("<p>page %d</p>"):format(p))
    links[#links + 1] = ('<a href="p%d.html">%d</a>'):format(p, p)
  end
  files.write(dir .. "/index.html", table.concat(links, "\n"))
  return dir
end

return files
