--- silk.test: runs busted inside silk's own lua_State, as the main task,
-- so that specs can spawn tasks, wait and use every silk primitive.
--
-- Used by `silk test [busted options] [paths]` (default path: tests/spec).
-- Two things about embedded busted (RUNTIME-NOTES.md, section 7): its runner
-- calls os.exit unless the caller's chunk name starts with '@' (this file
-- is loaded from disk, so it does), and on failures it calls error() with
-- no value; both end up as the exit status set below.

local engine = require("silk.core.engine")

return function(...)
  -- unbuffered: a spec killed by ctest's timeout still shows how far it got
  io.stdout:setvbuf("no")
  local args = { ... }
  local has_path = false
  for _, a in ipairs(args) do
    if a:sub(1, 1) ~= "-" then has_path = true end
  end
  if not has_path then args[#args + 1] = "tests/spec" end
  arg = args

  local exit_marker = {}
  local real_exit = os.exit
  os.exit = function(code)
    error({ [exit_marker] = true, code = code == true and 0 or tonumber(code) or 1 }, 0)
  end

  local runner = require("busted.runner")
  local ok, err = pcall(runner, { standalone = false, output = nil })
  os.exit = real_exit
  if ok then
    engine.set_exit_code(0)
  elseif err == nil then
    engine.set_exit_code(1)                 -- failures or errors (busted's error())
  elseif type(err) == "table" and err[exit_marker] then
    engine.set_exit_code(err.code)
  else
    error(err, 0)
  end
end
