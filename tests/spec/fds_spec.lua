-- fds_spec.lua: the limit of open files. `--max-fds N` sets RLIMIT_NOFILE
-- (an engine option, also a `silk run` flag), refuses a limit above the hard
-- one clearly, and a low limit under many concurrent fetches makes
-- transfers wait for a descriptor instead of failing: every fetch succeeds,
-- none hangs. Each case runs silk in a subprocess, whose limit it may lower.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local engine = require("silk.core.engine")

local silk_bin = engine.exe()
local bad

setup(function() bad = servers.badserver{} end)
teardown(function() if bad then bad:stop() end end)

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit:$?\"")
  local out = p:read("*a")
  p:close()
  local body, code = out:match("^(.-)exit:(%d+)%s*$")
  return body, tonumber(code)
end

local function script(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w")); f:write(body); f:close()
  return path
end

local function hard_limit()
  return tonumber((sh("ulimit -Hn")))
end

describe("--max-fds", function()
  it("sets the soft limit of open files, as an engine option and a silk run flag", function()
    local s = script('io.write(io.popen("ulimit -Sn"):read("*l"))')
    local out, code = sh(silk_bin .. " eval --max-fds 200 " .. s)
    os.remove(s)
    assert.equal(0, code)
    assert.equal("200", out)
  end)

  it("refuses a limit above the hard limit, naming both", function()
    local over = hard_limit() + 1
    local out, code = sh(silk_bin .. " eval --max-fds " .. over .. " /dev/null")
    assert.equal(2, code)
    assert.matches("--max-fds " .. over .. ": " .. over .. " is above the hard limit of open files ("
      .. hard_limit(), out, 1, true)
    out, code = sh(silk_bin .. " run spider.lua --max-fds " .. over)
    assert.equal(2, code)
    assert.matches("is above the hard limit", out, 1, true)
    out, code = sh(silk_bin .. " eval --max-fds many /dev/null")
    assert.equal(2, code)
    assert.matches("--max-fds needs a number", out, 1, true)
  end)

  it("is shown by silk run --help and silk --help", function()
    local out, code = sh(silk_bin .. " run --help")
    assert.equal(0, code)
    assert.matches("--max-fds N", out, 1, true)
    out = sh(silk_bin .. " --help")
    assert.matches("--max-fds N", out, 1, true)
  end)
end)

describe("running out of descriptors", function()
  it("makes transfers wait for one: 300 concurrent fetches under a limit of 64 all succeed", function()
    local s = script(([[
      local silk, F = require("silk"), require("silk.core.fetch")
      F.configure{ max_per_host = 1000, max_total = 1000 }
      local ok, other = 0, {}
      silk.scope(function(sc)
        for _ = 1, 300 do
          sc:spawn(function()
            local res, err = F.fetch{ url = "%s/sleep?ms=300", timeout = 30 }
            if res and res.status == 200 then ok = ok + 1
            else other[#other + 1] = tostring(err or res.status) end
          end)
        end
      end)
      local st = F.stats()
      io.write(ok, " ", st.fd_waits, " ", st.in_flight, " ", table.concat(other, "|"))
    ]]):format(bad.url))
    -- timeout: a hang fails the spec instead of stalling it
    local out, code = sh("timeout 120 " .. silk_bin .. " eval --max-fds 64 " .. s)
    os.remove(s)
    assert.equal(0, code, out)
    local ok, waits, in_flight = out:match("^(%d+) (%d+) (%d+) $")
    assert.equal("300", ok, out)
    assert.is_true(tonumber(waits) > 0, "the limit was never reached: " .. out)
    assert.equal("0", in_flight)
  end)
end)
