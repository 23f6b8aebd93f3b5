-- tests/lib/proc.lua: silk in a subprocess, for the specs that run it as a
-- user would.
--   proc.silk(args [, env [, timeout]]) -> exit status, combined output
--     runs `silk ARGS` from the repository's root (the spec's cwd) with the
--     environment assignments env ("NAME=value ..."), under `timeout`
--     seconds (default 240, below ctest's limit for a whole spec). A run
--     still going then gets SIGUSR1 first, so that its task dump is in the
--     output the test fails with, and SIGKILL 5 s later.
local engine = require("silk.core.engine")

local proc = {}
local silk_bin = engine.exe()
local root = io.popen("pwd"):read("*l")

function proc.silk(args, env, timeout)
  local p = io.popen(("cd %s && env %s timeout -s USR1 -k 5 %s %s %s 2>&1; echo \"exit:$?\""):format(
    root, env or "", timeout or 240, silk_bin, args))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), out
end

return proc
