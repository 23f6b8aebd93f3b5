-- The command line as a user meets it: every command's --help and -h, the
-- misspelt option and its suggestion, engine options before and after the
-- command, `silk --version`, and the man page made from the same help.
local engine = require("silk.core.engine")

local silk_bin = engine.exe()

-- Runs `silk <args>` from /tmp; returns exit status, stdout and stderr.
local function silk(args)
  local err = os.tmpname()
  local p = io.popen(("cd /tmp && %s %s 2>%s; echo \"exit:$?\""):format(silk_bin, args, err))
  local out = p:read("*a")
  p:close()
  local f = io.open(err)
  local errout = f:read("*a")
  f:close()
  os.remove(err)
  local status = tonumber(out:match("exit:(%d+)%s*$"))
  return status, (out:gsub("exit:%d+%s*$", "")), errout
end

package.path = "tests/lib/?.lua;" .. package.path
local files = require("files")

-- a Lua file holding body; its path
local function script(body)
  local path = files.tmpdir() .. "/script.lua"
  files.write(path, body)
  return path
end

-- The commands `silk --help` lists, with an option of each its help must name.
local commands = {
  run = "--jobdir DIR", eval = "FILE.lua", test = "--filter PATTERN", new = "--template T", shell = "URL",
  console = "PATH", collect = "--follow", version = "libcurl", help = "COMMAND",
}

describe("silk --help", function()
  it("lists every command and the engine options, on stdout, exit 0", function()
    for _, flag in ipairs({ "--help", "-h", "help" }) do
      local status, out, err = silk(flag)
      assert.equal(0, status)
      assert.equal("", err)
      assert.matches("^usage: silk %[engine options%] COMMAND", out)
      for name in pairs(commands) do assert.matches("\n  " .. name .. " ", out, 1, true) end
      for _, o in ipairs({ "--console PATH", "--metrics ADDR:PORT", "--profile FILE.svg", "--max-fds N",
                           "--gc-budget SECONDS", "--max-memory SIZE", "--no-preempt" }) do
        assert.matches(o, out, 1, true)
      end
    end
  end)

  it("lists exactly the commands that have a --help of their own", function()
    local _, out = silk("--help")
    local listed = {}
    for line in out:match("\ncommands:\n(.-\n)\n"):gmatch("([^\n]*)\n") do listed[line:match("^  (%S+)")] = true end
    for name in pairs(commands) do assert.is_true(listed[name], name) end
    for name in pairs(listed) do assert.is_not_nil(commands[name], "no test for the help of " .. name) end
  end)
end)

describe("silk COMMAND --help", function()
  for name, option in pairs(commands) do
    it("answers for " .. name .. " with -h and --help: usage, its options, an example", function()
      for _, flag in ipairs({ "--help", "-h" }) do
        local status, out, err = silk(name .. " " .. flag)
        assert.equal(0, status, err)
        assert.equal("", err)
        assert.matches("^usage: silk " .. name .. " ", out)
        assert.matches("\noptions:\n", out, 1, true)
        assert.matches("  -h, --help            this text\n", out, 1, true)
        assert.matches(option, out, 1, true)
        assert.matches("\nexample:\n  silk ", out, 1, true)
      end
      local status, out = silk("help " .. name)
      assert.equal(0, status)
      assert.matches("^usage: silk " .. name .. " ", out)
    end)
  end

  it("lists the engine options under the commands that run an engine", function()
    for _, name in ipairs({ "run", "eval", "test", "shell", "console" }) do
      local _, out = silk(name .. " --help")
      assert.matches("\nengine options (before or after the command", out, 1, true)
      assert.matches("--console PATH", out, 1, true)
    end
    local _, out = silk("collect --help")
    assert.not_matches("--console", out, 1, true)
  end)

  it("leaves -h after eval's FILE to the script", function()
    local f = script('print("script got " .. table.concat(arg, ","))')
    local status, out = silk("eval " .. f .. " -h --help")
    os.remove(f)
    assert.equal(0, status)
    assert.matches("script got -h,--help", out, 1, true)
  end)
end)

describe("an unknown option", function()
  it("is refused with the closest valid one named, exit 2", function()
    local cases = {
      { "--consle /tmp/x.sock run x.lua", "silk: unknown option --consle (did you mean --console?)" },
      { "run x.lua --jobdri d", "silk run: unknown option --jobdri (did you mean --jobdir?)" },
      { "run x.lua --metircs 127.0.0.1:0", "silk run: unknown option --metircs (did you mean --metrics?)" },
      { "shell --no-premept", "silk shell: unknown option --no-premept (did you mean --no-preempt?)" },
      { "eval --gc-pase 100 x.lua", "silk eval: unknown option --gc-pase (did you mean --gc-pause?)" },
      { "collect redis://127.0.0.1:1/x -o f --folow", "silk collect: unknown option --folow (did you mean --follow?)" },
      { "console --hlep", "silk console: unknown option --hlep (did you mean --help?)" },
      { "version --verbose", "silk version: unknown option --verbose" },
    }
    for _, c in ipairs(cases) do
      local status, out, err = silk(c[1])
      assert.equal(2, status, c[1])
      assert.equal("", out, c[1])
      assert.matches(c[2], err, 1, true)
    end
  end)

  it("of a command without an engine is not matched against the engine options", function()
    local _, _, err = silk("collect redis://127.0.0.1:1/x -o f --consol")
    assert.not_matches("--console", err, 1, true)
  end)

  it("names the closest command for an unknown one", function()
    local status, _, err = silk("rn x.lua")
    assert.equal(2, status)
    assert.matches("silk: unknown command 'rn' (did you mean run?)", err, 1, true)
  end)
end)

describe("engine options", function()
  local where = script([[
    local o = require("silk.core.engine").options()
    print(("grace=%g preempt=%s max_fds=%d args=%s"):format(o.grace, tostring(o.preempt), o.max_fds,
      table.concat(arg, ",")))
  ]])

  it("are taken before the command, after it, and not after eval's FILE", function()
    local status, out, err = silk("--grace 7 --no-preempt eval --max-fds 300 " .. where .. " --grace 9 x")
    assert.equal(0, status, err)
    assert.matches("grace=7 preempt=false max_fds=300 args=--grace,9,x", out, 1, true)
  end)

  it("work before `silk run` and after its spider: --console, --max-fds, --grace", function()
    local sock = os.tmpname()
    os.remove(sock)
    -- the spider file runs inside the crawl's engine: it reports what it sees
    local sp = script(([[
      local o = require("silk.core.engine").options()
      io.stderr:write(("console=%%s max_fds=%%d grace=%%g soft=%%s\n"):format(
        tostring(os.execute("test -S %s") == 0), o.max_fds, o.grace, io.popen("ulimit -Sn"):read("*l")))
      return require("silk").spider{ name = "none", start_urls = {}, parse = function() end }
    ]]):format(sock))
    local status, _, err = silk(("--console %s run %s --max-fds 300 --quiet --grace 3"):format(sock, sp))
    os.remove(sp)
    assert.equal(0, status, err)
    assert.matches("console=true max_fds=300 grace=3 soft=300", err, 1, true)
  end)

  it("--log-* go before `silk run` or after its spider", function()
    local sp = script([[
      local log = require("silk.log")
      return require("silk").spider{ name = "none", start_urls = {}, parse = function()
        end, start_requests = function() log.warning({ k = 1 }, "from the spider") end }
    ]])
    local logf = os.tmpname()
    local status, _, err = silk(("--log-format json run %s --log-file %s --quiet"):format(sp, logf))
    assert.equal(0, status, err)
    local line = io.open(logf):read("*l")
    os.remove(sp)
    os.remove(logf)
    assert.matches('"level":"warning"', line, 1, true)
    assert.matches('"msg":"from the spider"', line, 1, true)
    status, _, err = silk("--log-level loud run x.lua")
    assert.equal(2, status)
    assert.matches("--log-level: expected debug, info, warning or error, got 'loud'", err, 1, true)
  end)

  it("refuse a bad value, naming the option, exit 2", function()
    local status, _, err = silk("--gc-budget soon run x.lua")
    assert.equal(2, status)
    assert.matches("--gc-budget needs a positive number", err, 1, true)
    status, _, err = silk("run x.lua --console")
    assert.equal(2, status)
    assert.matches("--console needs a value (PATH)", err, 1, true)
  end)

  it("are refused before or after a command that runs no engine", function()
    local status, _, err = silk("--no-preempt collect redis://127.0.0.1:1/x -o f")
    assert.equal(2, status)
    assert.matches("collect takes no engine options", err, 1, true)
    status, _, err = silk("version --console /tmp/x.sock")
    assert.equal(2, status)
    assert.matches("version takes no engine options", err, 1, true)
  end)
end)

describe("silk --version", function()
  it("prints silk's version and those of LuaJIT, libcurl, gumbo, libev, SQLite and hiredis", function()
    for _, flag in ipairs({ "--version", "version" }) do
      local status, out = silk(flag)
      assert.equal(0, status)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.matches("^silk %d+%.%d+%.%d+$", lines[1])
      assert.matches("^LuaJIT 2%.1", lines[2])
      assert.matches("^libcurl %d+%.%d+%.%d+", lines[3])
      assert.matches("^gumbo %d+%.%d+", lines[4])
      assert.matches("^libev %d+%.%d+$", lines[5])
      assert.matches("^SQLite 3%.%d+%.%d+$", lines[6])
      assert.matches("^hiredis %d+%.%d+%.%d+$", lines[7])
      assert.equal(7, #lines)
    end
  end)
end)

describe("the man page", function()
  it("is made from the help of every command", function()
    local p = io.popen(("sh scripts/manpage %s 2>&1"):format(silk_bin))
    local page = p:read("*a")
    assert.is_true(p:close() ~= false)
    assert.matches('^%.TH SILK 1', page)
    for name in pairs(commands) do assert.matches("\n.SS silk " .. name .. "\n", page, 1, true) end
    for _, s in ipairs({ "SYNOPSIS", "ENGINE OPTIONS", "EXIT STATUS", "ENVIRONMENT" }) do
      assert.matches("\n.SH " .. s .. "\n", page, 1, true)
    end
    assert.matches("\n.B \\-\\-max\\-fds N\n", page, 1, true)
    assert.matches("\n.B \\-o, \\-\\-output PATH\n", page, 1, true)
  end)
end)
