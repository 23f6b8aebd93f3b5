--- silk.test: runs busted inside silk's own lua_State, as the main task,
-- so that specs can spawn tasks, wait and use every silk primitive.
--
-- Used by `silk test [busted options] [paths]` (default path: tests/spec if
-- there is one, else spec).
-- Two things about embedded busted (docs/design.md, "Testing a spider"): its runner
-- calls os.exit unless the caller's chunk name starts with '@' (this file
-- is loaded from disk, so it does), and on failures it calls error() with
-- no value; both end up as the exit status set below.

local engine = require("silk.core.engine")
local cli = require("silk.cli")

-- Only for --help: busted parses the options, and these are the ones a
-- spider's specs use most.
local spec = {
  name = "test",
  usage = "[busted options] [PATHS...]",
  about = [[Runs busted specs (*_spec.lua under PATHS, default tests/spec, else spec) inside silk's
own engine, as the main task: a spec can fetch, spawn tasks, wait, and use
every silk function; tasks or resources a spec leaves alive fail the run.]],
  options = {
    { "--filter", arg = "PATTERN", help = "only run test names matching the Lua pattern" },
    { "-t", "--tags", arg = "TAGS", help = "only run tests with these #tags" },
    { "-p", "--pattern", arg = "PATTERN", help = "only run test files matching the Lua pattern (default: _spec)" },
    { "-o", "--output", arg = "LIBRARY", help = "busted output handler (utfTerminal, TAP, json, ...)" },
    { "-v", "--verbose", help = "verbose output of errors" },
    { "-l", "--list", help = "list the names of the tests instead of running them" },
  },
  notes = "Every other busted option works too (busted --help lists them).\n",
  example = "silk test spec/ --filter 'book pages'",
}

return function(...)
  local args = { ... }
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then
      io.stdout:write(cli.help(spec))
      return
    end
  end
  -- unbuffered: a spec killed by ctest's timeout still shows how far it got
  io.stdout:setvbuf("no")
  local has_path = false
  for _, a in ipairs(args) do
    if a:sub(1, 1) ~= "-" then has_path = true end
  end
  -- silk's own tree keeps its specs in tests/spec; a project from
  -- `silk new` in spec/, busted's default
  if not has_path then
    args[#args + 1] = require("lfs").attributes("tests/spec", "mode") == "directory" and "tests/spec" or "spec"
  end
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
