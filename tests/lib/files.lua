-- tests/lib/files.lua: the small file helpers the integration specs share.
--   files.tmpdir() -> a fresh directory under /tmp
--   files.write(path, text); files.read(path) -> text | nil
--   files.pages(n) -> a fresh directory with index.html linking p1.html .. pN.html
--   files.sqlite_rows(db, sql) -> every row of a query on a silk.core.sqlite
--       db, each a list of its values (n: the column count)
--   files.sqlite(path, sql) -> the rows as the sqlite3 shell lists them: a
--       line each, values joined by "|", NULL empty (through silk.core.sqlite,
--       so that the specs need no sqlite3 program)
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

function files.sqlite_rows(db, sql)
  local st = assert(db:prepare(sql))
  local out = {}
  while true do
    local row, err = st:step()
    assert(row ~= nil, err)
    if not row then break end
    out[#out + 1] = { n = select("#", st:row()), st:row() }
  end
  st:close()
  return out
end

function files.sqlite(path, sql)
  local db = assert(require("silk.core.sqlite").open(path))
  local out = {}
  for _, vals in ipairs(files.sqlite_rows(db, sql)) do
    for i = 1, vals.n do vals[i] = vals[i] == nil and "" or tostring(vals[i]) end
    out[#out + 1] = table.concat(vals, "|", 1, vals.n) .. "\n"
  end
  db:close()
  return table.concat(out)
end

return files
