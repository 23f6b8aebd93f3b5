-- tests/lib/files.lua: the small file helpers the integration specs share.
--   files.tmpdir() -> a fresh directory under /tmp
--   files.write(path, text); files.read(path) -> text | nil
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

return files
