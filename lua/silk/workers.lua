--- silk.workers: `silk run ... --frontier redis://IP:PORT/NAME --workers N`
-- starts N `silk run` processes with the same arguments (minus --workers)
-- sharing the Redis frontier, waits for all of them and exits with the
-- worst status. Worker K writes its items to NAME.wK.EXT and its stats to
-- STATS.wK.EXT; JSON Lines outputs are then concatenated into OUTPUT, added
-- to it unless -O / --overwrite (other formats stay one file per worker).
--
--   require("silk.workers").run(argv, parsed_options)

local engine = require("silk.core.engine")

local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- items.jsonl -> items.w3.jsonl (the sink picks its format by extension)
function M.worker_path(path, k)
  local stem, ext = path:match("^(.*)(%.[%w]+)$")
  if not stem or stem:find("/[^/]*$") == #stem + 1 then return path .. ".w" .. k end
  return stem .. ".w" .. k .. ext
end

-- argv for worker k: --workers dropped, -o/--stats given a per-worker suffix
local function worker_args(argv, k)
  local out, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    if a == "--workers" then
      i = i + 1
    elseif (a == "-o" or a == "-O" or a == "--output" or a == "--stats") and argv[i + 1] then
      out[#out + 1] = a
      out[#out + 1] = M.worker_path(argv[i + 1], k)
      i = i + 1
    else
      out[#out + 1] = a
    end
    i = i + 1
  end
  return out
end

local function concat_into(dst, parts, overwrite)
  local f, err = io.open(dst, overwrite and "wb" or "ab")
  if not f then return nil, err end
  for _, p in ipairs(parts) do
    local src = io.open(p, "rb")
    if src then
      while true do
        local chunk = src:read(1048576)
        if not chunk then break end
        f:write(chunk)
      end
      src:close()
      os.remove(p)
    end
  end
  f:close()
  return true
end

function M.run(argv, o)
  local silk_cmd = q(engine.exe())
  -- of the engine options only the limit of open files applies to each
  -- worker alike (main.c took it out of argv); a --console socket or a
  -- --metrics port cannot be shared
  local max_fds = engine.options().max_fds
  if max_fds > 0 then silk_cmd = silk_cmd .. " --max-fds " .. max_fds end
  local lines = {}
  for k = 1, o.workers do
    local a = {}
    for _, v in ipairs(worker_args(argv, k)) do a[#a + 1] = q(v) end
    lines[#lines + 1] = ("%s run %s 1>&2 & p%d=$!"):format(silk_cmd, table.concat(a, " "), k)
  end
  for k = 1, o.workers do lines[#lines + 1] = ("wait $p%d; echo \"%d $?\""):format(k, k) end
  local p = assert(io.popen(table.concat(lines, "\n")))
  local worst = 0
  for line in p:lines() do
    local k, code = line:match("^(%d+) (%d+)$")
    if k then
      code = tonumber(code)
      if code ~= 0 then io.stderr:write(("silk run: worker %s exited with %d\n"):format(k, code)) end
      if code > worst then worst = code end
    end
  end
  p:close()
  for _, out in ipairs(o.outputs) do
    if out.path:match("%.jsonl$") then
      local parts = {}
      for k = 1, o.workers do parts[k] = M.worker_path(out.path, k) end
      local ok, err = concat_into(out.path, parts, out.overwrite)
      if not ok then
        io.stderr:write(("silk run: cannot merge worker outputs into %s: %s\n"):format(out.path, err))
        if worst == 0 then worst = 1 end
      end
    end
  end
  engine.set_exit_code(worst)
end

return M
