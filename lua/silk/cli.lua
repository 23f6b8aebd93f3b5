--- silk.cli: the command line of the commands written in Lua (`silk run`,
-- `silk test`). One table per command parses its arguments, prints its
-- `--help` (which scripts/manpage turns into silk.1, with the C commands'
-- help) and names the closest option for a misspelt one, among the engine
-- options too (main.c takes those out of the arguments before the command
-- sees them).
--
--   local cli = require("silk.cli")
--   local spec = {
--     name = "run",                        -- silk run
--     usage = "SPIDER.lua [options]",      -- after "usage: silk run "
--     about = "Crawls ...",                -- a paragraph
--     options = {                          -- in help order; -h/--help is added
--       { "-o", "--output", arg = "PATH", help = "items to PATH",
--         set = function(o, v) o.output = v end },
--       { "--quiet", help = "no progress line", set = function(o) o.quiet = true end },
--     },
--     positional = function(o, a) ... end, -- a non-option argument; raise to refuse
--     notes = "exit status: ...",          -- optional text after the options
--     example = "silk run spiders/bookshop.lua -o books.jsonl",
--   }
--   cli.help(spec)        --> the help text
--   cli.parse(spec, args, o) --> o (a new table when o is nil; o.help when
--                                -h/--help was given), or raises a message
--                                naming the closest option
--
-- An option's `help` may hold "\n" for continuation lines. `set` receives
-- (o, value, name) and raises (error(msg, 0)) to refuse the value.

local engine = require("silk.core.engine")

local M = {}

local HELP = { "-h", "--help", help = "this text" }

local function rows(spec)
  local all = {}
  for _, opt in ipairs(spec.options) do all[#all + 1] = opt end
  all[#all + 1] = HELP
  return all
end

-- "  -o, --output PATH     items to PATH": the text starts at column 25, or
-- on the next line when the names are longer.
local function help_line(opt)
  local left = table.concat(opt, ", ") .. (opt.arg and " " .. opt.arg or "")
  local text = opt.help:gsub("\n", "\n" .. (" "):rep(24))
  if #left <= 20 then
    return ("  %-22s%s"):format(left, text)
  end
  return ("  %s\n%s%s"):format(left, (" "):rep(24), text)
end

function M.help(spec)
  local out = { ("usage: silk %s %s\n\n%s\n\noptions:"):format(spec.name, spec.usage, spec.about) }
  for _, opt in ipairs(rows(spec)) do out[#out + 1] = help_line(opt) end
  out[#out + 1] = "\n" .. engine.cli_help()
  if spec.notes then out[#out + 1] = spec.notes:match("^(.-)\n*$") .. "\n" end
  out[#out + 1] = "example:\n  " .. spec.example .. "\n"
  return table.concat(out, "\n")
end

local function unknown(spec, a)
  local names = {}
  for _, opt in ipairs(rows(spec)) do
    for _, n in ipairs(opt) do names[#names + 1] = n end
  end
  return ("unknown option %s (did you mean %s?); see silk %s --help"):format(
    a, engine.suggest_option(a, names), spec.name)
end

function M.parse(spec, args, o)
  local by_name = {}
  for _, opt in ipairs(spec.options) do
    for _, n in ipairs(opt) do by_name[n] = opt end
  end
  o = o or {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local opt = by_name[a]
    if a == "-h" or a == "--help" then
      o.help = true
    elseif opt then
      local v
      if opt.arg then
        i = i + 1
        v = args[i]
        if v == nil then error(("%s needs a value (%s)"):format(a, opt.arg), 0) end
      end
      opt.set(o, v, a)
    elseif a:sub(1, 1) == "-" and #a > 1 then
      error(unknown(spec, a), 0)
    else
      spec.positional(o, a)
    end
    i = i + 1
  end
  return o
end

return M
