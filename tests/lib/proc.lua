-- tests/lib/proc.lua: silk in a subprocess, for the specs that run it as a
-- user would.
--   proc.silk(args [, env [, timeout]]) -> exit status, combined output
--     runs `silk ARGS` from the repository's root (the spec's cwd) with the
--     environment assignments env ("NAME=value ..."), under `timeout`
--     seconds when given.
local engine = require("silk.core.engine")

local proc = {}
local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

function proc.silk(args, env, timeout)
  local p = io.popen(("cd %s && env %s %s%s %s 2>&1; echo \"exit:$?\""):format(
    root, env or "", timeout and ("timeout " .. timeout .. " ") or "", silk_bin, args))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), out
end

return proc
