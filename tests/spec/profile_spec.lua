-- Profiles: folded stacks and flame graphs from the preemption ticks.
local silk = require("silk")
local engine = require("silk.core.engine")
local core = require("silk.core.profile")
local profile = require("silk.profile")

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

local function tmpbase()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- A spider-like script: a little parsing-ish work, and one hot function
-- that takes most of the time. Profiled over its whole run, as --profile does.
local SCRIPT = [[
local silk = require("silk")
local p = assert(require("silk.core.profile").start())
local function checksum_page(n)          -- the hot one
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end
  return s
end
local function light(n) local t = {} for i = 1, n do t[i] = i end return #t end
-- 0.6 s, and on past it until 80 samples are in: the ticks follow CPU
-- time, which a loaded machine hands out sparingly (at most 10 s)
local workers = {}
for w = 1, 3 do
  workers[w] = silk.spawn(function()
    local t0 = silk.now()
    repeat
      checksum_page(20000) light(100) silk.sleep(0)
      local t = silk.now() - t0
    until (t >= 0.6 and p:samples() >= 80) or t >= 10
  end)
end
for _, w in ipairs(workers) do w:join() end
p:stop()
assert(p:write(arg[1]))
print(p:samples())
p:close()
]]

describe("profiles", function()
  it("name a script's hot function as the top frame of the folded stacks", function()
    local base = tmpbase()
    local script = base .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write(SCRIPT)
    f:close()
    local out = io.popen(engine.exe() .. " eval " .. script .. " " .. base .. ".svg 2>&1")
    local samples = tonumber(out:read("*a"))
    out:close()
    assert.is_true(samples and samples > 50, "samples: " .. tostring(samples))
    local folded = read(base .. ".folded")
    for line in folded:gmatch("[^\n]+") do
      assert.matches("^%S+ %d+$", line)          -- "frame;frame;frame count"
    end
    local top = profile.top(folded, 3)
    assert.matches(":checksum_page$", top[1].frame)
    assert.is_true(top[1].share > 50, "share " .. top[1].share)
    os.remove(script)
    os.remove(base .. ".folded")
    os.remove(base .. ".svg")
  end)

  it("writes an SVG flame graph with a hover title per frame", function()
    local base = tmpbase()
    local p = assert(core.start())
    local function busy_frame() local s = 0 for i = 1, 3e5 do s = s + i % 7 end return s end
    local t0 = silk.now()
    while silk.now() - t0 < 0.3 do busy_frame() silk.sleep(0) end
    p:stop()
    assert(p:write(base .. ".svg"))
    p:close()
    local svg = read(base .. ".svg")
    assert.matches("^<%?xml", svg)
    assert.matches("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg)
    assert.matches("<title>all %(%d+ samples, 100%.00%%%)</title>", svg)
    assert.matches("<title>[^<]*:busy_frame %(%d+ samples?, %d+%.%d%d%%%)</title>", svg)
    assert.matches("</svg>\n$", svg)
    -- well-formed XML
    assert.equal(0, os.execute("python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "
                               .. base .. ".svg"))
    os.remove(base .. ".svg")
    os.remove(base .. ".folded")
  end)

  it("profile.sample(seconds) profiles every task for that long (the console's profile())", function()
    local stop = false
    local worker = silk.spawn(function()
      local function spin_hash() local s = 0 for i = 1, 3e5 do s = (s + i * i) % 65521 end return s end
      while not stop do spin_hash() silk.sleep(0) end
    end)
    local base = tmpbase()
    local r = profile.sample(0.3, base .. ".svg")
    stop = true
    worker:join()
    assert.equal(base .. ".svg", r.svg)
    assert.equal(base .. ".folded", r.folded)
    assert.is_true(r.samples > 10)
    assert.matches(":spin_hash$", r.top[1].frame)
    os.remove(r.svg)
    os.remove(r.folded)
  end)

  it("allows one profile at a time", function()
    local p = assert(core.start())
    local q, err = core.start()
    assert.is_nil(q)
    assert.matches("another profile", err)
    p:close()
    q = assert(core.start())
    q:close()
    assert.has_error(function() q:samples() end, "attempt to use a closed profile")
  end)
end)
