-- render_spec.lua: silk.render and page handles against the real
-- chromium-headless-shell and local servers on 127.0.0.1: pages whose
-- content a script writes, waits, the failure paths (a document, a
-- subresource or page JS that never finishes; a renderer and the browser
-- killed) each bounded by the deadline and followed by a working render on
-- the same browser, the pool, the leak report of a page left open.
package.path = "tests/lib/?.lua;" .. package.path
local servers = require("servers")
local silk = require("silk")
local render = require("silk.render")

local BIN = os.getenv("SILK_CHROMIUM") or "/usr/lib/chromium/chromium-headless-shell"
local have_browser = io.open(BIN, "rb") ~= nil
local describe = have_browser and describe or function(name) pending(name .. ": no " .. BIN) end

local web, bad, dir
local asan = (io.open("/proc/self/maps"):read("*a")):find("libasan", 1, true) ~= nil

local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(text)
  f:close()
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

-- pids of the processes of the browser's group whose command line has `what`
local function browser_procs(what)
  local pid = render.stats().browser_pid
  local out = {}
  for line in sh("ps -eo pid=,pgid=,args="):gmatch("[^\n]+") do
    local p, g, args = line:match("^%s*(%d+)%s+(%d+)%s+(.*)$")
    if tonumber(g) == pid and args:find(what, 1, true) then out[#out + 1] = tonumber(p) end
  end
  return out
end

-- each bounded failure is followed by this: the same browser renders again
local function renders_again(pid)
  local res, err = silk.render(web.url .. "/items.html", { wait = { selector = "li.item" }, timeout = 10 })
  assert.is_table(res, tostring(err))
  assert.equal(3, #res:select("li.item"))
  if pid then assert.equal(pid, render.stats().browser_pid, "the browser was restarted") end
end

-- how many requests the web server saw whose line has `marker`
local function requests_with(marker)
  local n = 0
  for _, e in ipairs(web:entries()) do if e.request:find(marker, 1, true) then n = n + 1 end end
  return n
end

local function within(t0, secs, what)
  local took = silk.now() - t0
  assert.is_true(took < secs, ("%s took %.2fs (bound %gs)"):format(what, took, secs))
end

describe("render", function()
  setup(function()
    dir = sh("mktemp -d /tmp/silk-render.XXXXXX"):gsub("%s+$", "")
    bad = servers.badserver{}
    write("items.json", '[{"name":"alpha"},{"name":"beta"},{"name":"gamma"}]')
    write("items.html", [[<!DOCTYPE html><html><head><title>shop</title></head><body>
<ul id="items"></ul>
<script>
fetch('/items.json').then(r => r.json()).then(items => {
  for (const it of items) {
    const li = document.createElement('li'); li.className = 'item'; li.textContent = it.name;
    document.getElementById('items').appendChild(li);
  }
});
</script></body></html>]])
    write("late.html", [[<!DOCTYPE html><body><script>
setTimeout(() => { const d = document.createElement('div'); d.id = 'late'; d.textContent = 'here';
  document.body.appendChild(d) }, 300);
</script></body>]])
    write("slowfill.html", [[<!DOCTYPE html><body><ul id="items"></ul><script>
addEventListener('load', () => setTimeout(() => fetch('/items.json').then(r => r.json()).then(items => {
  for (let i = 0; i < 20; i++) for (const it of items) {
    const li = document.createElement('li'); li.className = 'item'; li.textContent = it.name + ' number ' + i;
    document.getElementById('items').appendChild(li);
  }
}), 300));
</script></body>]])
    write("spin.html", "<!DOCTYPE html><body><p>spin</p><script>while (true) {}</script></body>")
    write("hangsub.html", ('<!DOCTYPE html><body><p id="top">top</p><img src="%s/sleep?ms=600000"></body>')
      :format(bad.url))
    write("form.html", [[<!DOCTYPE html><body>
<button id="b" onclick="document.getElementById('n').textContent = +document.getElementById('n').textContent + 1">+</button>
<span id="n">0</span><input id="q"></body>]])
    write("img.html", '<!DOCTYPE html><body><img id="i" src="/pic.png"></body>')
    write("pic.png", "\137PNG\r\n\26\n")
    web = servers.nginx{ root = dir }
  end)
  teardown(function()
    if web then web:stop() end
    if bad then bad:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("sees the items a script writes after a fetch(), where a static fetch sees none", function()
    local static = assert(silk.fetch(web.url .. "/items.html"))
    assert.equal(0, #static:select("li.item"))
    local res, err = silk.render(web.url .. "/items.html", { wait = "networkidle", timeout = 15 })
    assert.is_table(res, tostring(err))
    assert.equal(200, res.status)
    assert.equal(web.url .. "/items.html", res.url)
    assert.is_true(res.rendered)
    assert.matches("text/html", res.headers["content-type"])
    local names = {}
    for _, li in ipairs(res:select("li.item")) do names[#names + 1] = li:text() end
    assert.same({ "alpha", "beta", "gamma" }, names)
    assert.equal("shop", res:one("title"):text())
  end)

  it("waits for a selector, or a JS condition", function()
    local res = assert(silk.render(web.url .. "/late.html", { wait = { selector = "#late" }, timeout = 10 }))
    assert.equal("here", res:one("#late"):text())
    res = assert(silk.render(web.url .. "/late.html", { wait = { fn = "document.getElementById('late')" } }))
    assert.is_not_nil(res:one("#late"))
    -- with max, a condition that never holds gives the page as it is then
    local t0 = silk.now()
    res = assert(silk.render(web.url .. "/late.html", { wait = { selector = "#never", max = 0.1 } }))
    assert.is_nil(res:one("#late"))
    assert.is_true(silk.now() - t0 < 5, "took " .. (silk.now() - t0))
    assert.has_error(function() silk.render(web.url .. "/late.html", { wait = { selector = "p", max = 0 } }) end,
      "render: option 'wait.max' must be a number of seconds > 0")
    assert.has_error(function() silk.render(web.url .. "/late.html", { wait = { selector = "p", maxx = 1 } }) end,
      "render: option 'wait.maxx' is not a wait field (selector, fn, max)")
  end)

  it("waits in the page: one evaluate waits and takes the HTML, sent after the navigation committed", function()
    write("flag.html", [[<!DOCTYPE html><body><p id="old">old</p><script>
setTimeout(() => { window.ready = 1 }, 200);
</script></body>]])
    write("later.html", [[<!DOCTYPE html><body><p id="new">new</p><script>
setTimeout(() => { const d = document.createElement('div'); d.id = 'old'; document.body.appendChild(d) }, 300);
</script></body>]])
    -- a condition on something other than the DOM is checked too
    local res = assert(silk.render(web.url .. "/flag.html", { wait = { fn = "window.ready" }, timeout = 10 }))
    assert.equal("old", res:one("#old"):text())
    -- the tab still shows flag.html, where #old and window.ready hold: the
    -- wait must run in later.html's document, not in the one it leaves
    local before = render.stats()
    res = assert(silk.render(web.url .. "/later.html", { wait = { selector = "#old" }, timeout = 10 }))
    assert.equal(web.url .. "/later.html", res.url)
    assert.equal("new", res:one("#new"):text())
    assert.is_not_nil(res:one("div#old"))
    res = assert(silk.render(web.url .. "/flag.html", { wait = { fn = "document.getElementById('old')" } }))
    assert.equal(web.url .. "/flag.html", res.url)
    res = assert(silk.render(web.url .. "/later.html", { wait = { fn = "true" } }))
    assert.equal("new", res:one("#new"):text())
    assert.is_nil(res:one("div#old"))
    local st = render.stats()
    assert.equal(before.created, st.created, "the tab was not reused")
    -- per page on a reused tab: Page.navigate, the document's
    -- Fetch.continueRequest, and one Runtime.evaluate that waits and
    -- snapshots (the wait's checks run in the page, not over the pipe)
    assert.equal(3 * 3, st.messages_sent - before.messages_sent)
    -- and what comes back: the replies, the paused document and the Page
    -- domain's events; no lifecycle events (a dozen a page) unless a
    -- page waits for networkidle
    local got = st.messages_received - before.messages_received
    assert.is_true(got <= 3 * 14, got .. " messages received for 3 pages")
  end)

  it("a new tab that the page's options leave as opened is not configured again", function()
    -- a session never used: its own browser context, so a new tab
    local before = render.stats()
    local res = assert(silk.render(web.url .. "/items.html", { wait = { selector = "li.item" },
                                                               session = "fresh-tab-spec" }))
    assert.equal(3, #res:select("li.item"))
    local st = render.stats()
    assert.equal(before.created + 1, st.created)
    -- the context, the target, its session, Fetch.enable and Page.enable
    -- as it opens; then the page's three messages and the session's
    -- cookies read back: no user agent, viewport, Fetch patterns or
    -- lifecycle events set again to what they already are
    assert.equal(9, st.messages_sent - before.messages_sent)
  end)

  it("evaluates JS, takes a screenshot, reuses its tab", function()
    local before = render.stats()
    local res = assert(silk.render(web.url .. "/items.html", {
      wait = { selector = "li.item" }, evaluate = "document.querySelectorAll('li.item').length",
      screenshot = true, viewport = { width = 400, height = 300 } }))
    assert.equal(3, res.evaluate)
    assert.equal("\137PNG", res.screenshot:sub(1, 4))
    for _ = 1, 3 do assert(silk.render(web.url .. "/items.html", { wait = "domcontentloaded" })) end
    local st = render.stats()
    assert.equal(before.leases + 4, st.leases)
    assert.is_true(st.created - before.created <= 1, "tabs were not reused")
  end)

  it("the pool: busy tabs capped, tabs recycled after recycle_after pages, idle tabs closed", function()
    local saved = render.configure()
    render.configure{ max_busy = 2, recycle_after = 2, page_idle_timeout = 0.4 }
    local before = render.stats()
    local most, tasks = 0, {}
    for i = 1, 5 do
      tasks[i] = silk.spawn(function()
        return silk.render(web.url .. "/late.html", { wait = { selector = "#late" }, timeout = 10 })
      end)
    end
    local queued = 0
    for _ = 1, 100 do
      local st = render.stats()
      most = math.max(most, st.busy + st.opening)
      queued = math.max(queued, st.queued)
      silk.sleep(0.01)
    end
    for i = 1, 5 do
      local ok, res = tasks[i]:join()
      assert.is_true(ok and res ~= nil)
    end
    assert.is_true(most <= 2, "busy tabs " .. most)
    assert.is_true(queued > 0, "no lease waited")
    local st = render.stats()
    assert.is_true(st.recycled - before.recycled >= 2, "tabs were not recycled")
    render.configure{ recycle_after = 50 }
    assert(silk.render(web.url .. "/late.html", { wait = "domcontentloaded" }))
    assert.is_true(render.stats().idle >= 1)
    silk.sleep(0.8)
    st = render.stats()
    assert.equal(0, st.idle)
    assert.is_true(st.idle_closed > before.idle_closed)
    -- max_pages: idle tabs past it are closed, least recently used first
    render.configure{ max_busy = 3, max_pages = 1 }
    local evicted = render.stats().evicted
    for i = 1, 3 do
      tasks[i] = silk.spawn(function()
        return silk.render(web.url .. "/late.html", { wait = { selector = "#late" }, timeout = 10 })
      end)
    end
    for i = 1, 3 do assert.is_true((tasks[i]:join())) end
    st = render.stats()
    assert.is_true(st.evicted - evicted >= 2, "evicted " .. (st.evicted - evicted))
    assert.is_true(st.idle <= 1)
    render.configure(saved)
  end)

  it("200 pages through a pool of 16: every page rendered, silk's memory flat", function()
    local saved = render.configure()
    render.configure{ max_busy = 16 }
    local function rss_kb()
      for line in io.lines("/proc/self/status") do
        local v = line:match("^VmRSS:%s*(%d+)")
        if v then return tonumber(v) end
      end
    end
    local function batch(n)
      local next_i, found = 0, 0
      local workers = {}
      for w = 1, 16 do
        workers[w] = silk.spawn(function()
          while next_i < n do
            next_i = next_i + 1
            local res = assert(silk.render(web.url .. "/items.html", { wait = { selector = "li.item" } }))
            local items = #res:select("li.item")
            found = found + items
          end
        end)
      end
      for _, t in ipairs(workers) do assert.is_true((t:join())) end
      return found
    end
    assert.equal(3 * 40, batch(40))           -- warm: tabs open, code loaded
    collectgarbage()
    local before = rss_kb()
    assert.equal(3 * 160, batch(160))
    collectgarbage()
    local grew = rss_kb() - before
    -- AddressSanitizer's quarantine keeps freed memory: RSS says nothing there
    if not asan then
      assert.is_true(grew < 16 * 1024, ("silk's RSS grew by %d kB over 160 pages"):format(grew))
    end
    assert.is_true(render.stats().busy + render.stats().idle <= 16)
    render.configure(saved)
  end)

  it("sends the request's headers, cookies and user agent", function()
    local res = assert(silk.render(bad.url .. "/echo", { headers = { ["X-Silk-Test"] = "yes" },
      cookies = { { name = "flavour", value = "oat" } }, user_agent = "silk-render-test",
      evaluate = "document.body.innerText" }))
    local seen = {}
    for _, h in ipairs(require("cjson").decode(res.evaluate).headers) do seen[h[1]:lower()] = h[2] end
    assert.equal("yes", seen["x-silk-test"])
    assert.equal("flavour=oat", seen["cookie"])
    assert.equal("silk-render-test", seen["user-agent"])
    -- the next page on the same tab goes back to the browser's own
    res = assert(silk.render(bad.url .. "/echo", { evaluate = "document.body.innerText" }))
    seen = {}
    for _, h in ipairs(require("cjson").decode(res.evaluate).headers) do seen[h[1]:lower()] = h[2] end
    assert.is_nil(seen["x-silk-test"])
    assert.matches("HeadlessChrome", seen["user-agent"])
  end)

  it("blocks resource types by URL pattern", function()
    local res = assert(silk.render(web.url .. "/img.html", { block = { "image" },
      evaluate = "new Promise(ok => { const i = document.getElementById('i');" ..
                 " if (i.complete) ok(i.naturalWidth === 0 ? 'failed' : 'loaded');" ..
                 " i.onerror = () => ok('failed'); i.onload = () => ok('loaded'); })" }))
    assert.equal("failed", res.evaluate)
    local n = 0
    for _, e in ipairs(web:entries()) do if e.request:find("pic.png", 1, true) then n = n + 1 end end
    assert.equal(0, n, "the blocked image was fetched")
    assert.is_true(render.stats().filtered >= 1)
  end)

  it("a page's requests stream no events over the pipe (the Network domain stays off)", function()
    local imgs = {}
    for i = 1, 8 do imgs[#imgs + 1] = ('<img src="/pic.png?many=%d">'):format(i) end
    write("many.html", "<!DOCTYPE html><body>" .. table.concat(imgs) .. "</body>")
    assert(silk.render(web.url .. "/form.html"))       -- a tab configured for these options
    local before = render.stats().messages_received
    local res = assert(silk.render(web.url .. "/many.html"))
    assert.equal(200, res.status)
    assert.matches("text/html", res.headers["content-type"])
    local got = render.stats().messages_received - before
    -- some 20 page and lifecycle events and replies; with the Network
    -- domain on, five or six more per image
    assert.is_true(got < 35, got .. " messages for one page of 8 images")
  end)

  it("a document that never answers: render_timeout within the deadline, then renders again", function()
    local pid = render.stats().browser_pid
    local t0 = silk.now()
    local res, err = silk.render(bad.url .. "/sleep?ms=600000", { timeout = 1 })
    within(t0, 2, "a hanging document")
    assert.is_nil(res)
    assert.equal("render_timeout", err.kind)
    renders_again(pid)
  end)

  it("a subresource that never answers: load never comes, domcontentloaded does", function()
    local pid = render.stats().browser_pid
    local t0 = silk.now()
    local res, err = silk.render(web.url .. "/hangsub.html", { wait = "load", timeout = 1 })
    within(t0, 2, "a hanging subresource")
    assert.equal("render_timeout", err and err.kind, tostring(res))
    res = assert(silk.render(web.url .. "/hangsub.html", { wait = "domcontentloaded", timeout = 5 }))
    assert.equal("top", res:one("#top"):text())
    renders_again(pid)
  end)

  it("page JS that never yields: the deadline terminates it, the next page renders", function()
    local pid = render.stats().browser_pid
    local before = render.stats().interrupted
    local t0 = silk.now()
    local res, err = silk.render(web.url .. "/spin.html", { wait = "load", timeout = 1 })
    within(t0, 2, "a spinning page")
    assert.is_nil(res)
    assert.equal("render_timeout", err.kind)
    assert.is_true(render.stats().interrupted > before)
    renders_again(pid)
  end)

  it("a cancelled task's render stops at once", function()
    local t = silk.spawn(function() return silk.render(bad.url .. "/sleep?ms=600000", { timeout = 30 }) end)
    silk.sleep(0.5)
    local t0 = silk.now()
    t:cancel()
    local ok, err = t:join()
    within(t0, 0.5, "cancelling a render")
    assert.is_false(ok)
    assert.equal("cancelled", err.kind)
    renders_again()
  end)

  -- Starts a render that waits forever, runs kill() under it and expects
  -- it to fail with `kind` at once.
  local function killed_mid_render(kill, kind)
    local t = silk.spawn(function()
      return silk.render(web.url .. "/late.html", { wait = { selector = "#never" }, timeout = 20 })
    end)
    silk.sleep(1)
    kill()
    local t0 = silk.now()
    local ok, res, err = t:join()
    within(t0, 2, kind)
    assert.is_true(ok)
    assert.is_nil(res)
    assert.equal(kind, err.kind)
  end

  it("a renderer killed: render_crashed at once, the next page renders on the same browser", function()
    local pid = render.stats().browser_pid
    local crashes = render.stats().renderer_crashes
    killed_mid_render(function()
      local renderers = browser_procs("--type=renderer")
      assert.is_true(#renderers > 0, "no renderer found")
      os.execute("kill -9 " .. table.concat(renderers, " "))
    end, "render_crashed")
    -- Idle tabs on the killed renderers crash too and are closed as their
    -- crash events arrive (within some 20 ms; a page leased before then
    -- may fail: silk.render retries a render_crashed from a pooled tab once).
    silk.sleep(0.5)
    assert.is_true(render.stats().renderer_crashes >= crashes + 1)
    renders_again(pid)
  end)

  it("the browser killed: browser_crashed, counted, and the next page renders on a new one", function()
    local st0 = render.stats()
    killed_mid_render(function() os.execute("kill -9 " .. st0.browser_pid) end, "browser_crashed")
    renders_again()
    local st = render.stats()
    assert.equal(st0.browser_crashes + 1, st.browser_crashes)
    assert.equal(st0.browser_restarts + 1, st.browser_restarts)
    assert.are_not.equal(st0.browser_pid, st.browser_pid)
  end)

  it("a browser that stops answering: Target.closeTarget unanswered for close_timeout ends it", function()
    -- closeTarget is the browser process's to answer (a stopped or
    -- spinning renderer does not delay it): stop the browser itself
    local st0 = render.stats()
    local cfg = render.configure()
    render.configure{ close_timeout = 1, recycle_after = 1 }
    local page = assert(silk.page())
    assert(page:goto(web.url .. "/form.html"))
    local pid = render.stats().browser_pid
    os.execute("kill -STOP " .. pid)
    local t0 = silk.now()
    page:close()                      -- recycle_after = 1: the tab is closed
    while render.stats().close_timeouts == st0.close_timeouts and silk.now() - t0 < 5 do silk.sleep(0.05) end
    within(t0, 1.8, "ending the wedged browser")
    local st = render.stats()
    assert.equal(st0.close_timeouts + 1, st.close_timeouts)
    assert.equal(st0.browser_crashes + 1, st.browser_crashes)
    assert.equal(0, st.closing)
    render.configure{ close_timeout = cfg.close_timeout, recycle_after = cfg.recycle_after }
    renders_again()
    assert.are_not.equal(pid, render.stats().browser_pid)
    os.execute("kill -CONT " .. pid .. " 2>/dev/null")
  end)

  it("a memory budget: over it, no new tab until the busy ones end, then a new browser", function()
    local st0 = render.stats()
    local page = assert(silk.page())
    assert(page:goto(web.url .. "/form.html"))
    local pid = render.stats().browser_pid
    local pss = render.stats(true).browser_pss
    assert.is_true(pss > 10e6, "browser tree PSS " .. pss)
    render.configure{ memory_budget = 1e6, memory_interval = 0.1 }
    silk.sleep(0.3)
    assert.equal(1, render.stats().draining)
    local t = silk.spawn(silk.render, web.url .. "/items.html", { wait = { selector = "li.item" }, timeout = 15 })
    silk.sleep(0.5)
    local st = render.stats()
    assert.equal(1, st.queued, "a tab was leased over the budget")
    assert.equal(pid, st.browser_pid)
    render.configure{ memory_budget = 0 }   -- the next browser is not measured
    page:close()                            -- the last busy tab: the browser goes
    local ok, res = t:join()
    assert.is_true(ok, tostring(res))
    assert.equal(3, #res:select("li.item"))
    st = render.stats()
    assert.equal(st0.budget_recycles + 1, st.budget_recycles)
    assert.are_not.equal(pid, st.browser_pid)
    assert.equal(st0.browser_crashes, st.browser_crashes)
    assert.equal(0, st.draining)
  end)

  it("browsers = 2: pages spread over both; kill -9 of one fails only its pages and restarts it alone", function()
    write("slow.html", [[<!DOCTYPE html><body><script>
setTimeout(() => { const d = document.createElement('div'); d.id = 'done'; document.body.appendChild(d) }, 1500);
</script></body>]])
    local cfg = render.configure()
    render.configure{ browsers = 2, max_busy = 4 }
    local function slow() return silk.render(web.url .. "/slow.html", { wait = { selector = "#done" }, timeout = 20 }) end
    local ts = {}
    for i = 1, 4 do ts[i] = silk.spawn(slow) end
    local st, t0 = render.stats(), silk.now()
    while not (st.browsers[1].busy == 2 and st.browsers[2].busy == 2) and silk.now() - t0 < 10 do
      silk.sleep(0.05)
      st = render.stats()
    end
    assert.equal(2, #st.browsers)
    assert.equal(2, st.browsers[1].busy, "pages not spread over the browsers")
    assert.equal(2, st.browsers[2].busy, "pages not spread over the browsers")
    local first, second = st.browsers[1], st.browsers[2]
    assert.is_true(first.pid > 0 and second.pid > 0 and first.pid ~= second.pid)
    os.execute("kill -9 " .. second.pid)
    local ok, crashed = 0, 0
    for _, t in ipairs(ts) do
      local _, res, err = t:join()
      if res then ok = ok + 1 elseif err.kind == "browser_crashed" then crashed = crashed + 1
      else error("unexpected " .. tostring(err)) end
    end
    assert.equal(2, ok, "a page of the browser left alive failed")
    assert.equal(2, crashed)
    -- both render again: the first browser untouched, the second restarted
    local a, b = silk.spawn(slow), silk.spawn(slow)
    assert.is_table(select(2, a:join()))
    assert.is_table(select(2, b:join()))
    st = render.stats()
    assert.equal(first.pid, st.browsers[1].pid)
    assert.equal(first.crashes, st.browsers[1].crashes)
    assert.equal(first.restarts, st.browsers[1].restarts)
    assert.equal(second.crashes + 1, st.browsers[2].crashes)
    assert.equal(second.restarts + 1, st.browsers[2].restarts)
    assert.are_not.equal(second.pid, st.browsers[2].pid)
    -- fewer browsers only once the ones that go hold no page
    local page = assert(silk.page())
    assert(page:goto(web.url .. "/form.html"))
    local other = assert(silk.page())
    assert(other:goto(web.url .. "/form.html"))
    assert.are_not.equal(page:info().browser, other:info().browser)
    assert.has_error(function() render.configure{ browsers = 1 } end)
    page:close()
    other:close()
    render.configure{ browsers = 1, max_busy = cfg.max_busy }
    assert.equal(1, #render.stats().browsers)
    assert.has_error(function() render.configure{ browsers = 0 } end)
    renders_again(first.pid)
  end)

  it("max_size: a subresource whose Content-Length is over it is refused, one under it loads", function()
    write("big.js", "window.big = 1;\n" .. ("//" .. ("x"):rep(98) .. "\n"):rep(2000))
    write("small.js", "window.small = 1;\n")
    write("capped.html", '<!DOCTYPE html><body><p>capped</p><script src="/small.js"></script>' ..
      '<script src="/big.js"></script></body>')
    local probe = "[window.small || 0, window.big || 0]"
    local st0 = render.stats()
    local res, err = silk.render(web.url .. "/capped.html", { max_size = 100000, evaluate = probe })
    assert.is_table(res, tostring(err))
    assert.same({ 1, 0 }, res.evaluate)
    assert.equal(1, #res:select("p"))
    local st = render.stats()
    assert.equal(st0.oversize + 1, st.oversize)
    assert.is_true(st.oversize_bytes - st0.oversize_bytes > 200000)
    -- without the cap both load, and the responses are not paused (the
    -- messages of an uncapped page stay those of a page without the option)
    res = assert(silk.render(web.url .. "/capped.html", { evaluate = probe }))
    assert.same({ 1, 1 }, res.evaluate)
    -- a document over the cap is refused too
    res, err = silk.render(web.url .. "/capped.html", { max_size = 10 })
    assert.is_nil(res)
    assert.equal("blocked", err.kind)
    assert.has_error(function() silk.render(web.url, { max_size = 0 }) end)
  end)

  it("page handles: click, type, evaluate, wait_for, html, close", function()
    local page = assert(silk.page())
    local res = assert(page:goto(web.url .. "/form.html"))
    assert.equal("0", res:one("#n"):text())
    assert.is_true(page:click("#b"))
    assert.is_true(page:click("#b"))
    assert.equal("2", page:evaluate("document.getElementById('n').textContent"))
    assert.is_true(page:type("#q", "hello"))
    assert.equal("hello", page:evaluate("document.getElementById('q').value"))
    -- a NUL inside a string is kept, and the browser goes on
    local crashes = render.stats().browser_crashes
    assert.equal("a\0b", page:evaluate("'a\\u0000b'"))
    assert.equal(crashes, render.stats().browser_crashes)
    -- values nested deeper than json-c's default limit (32; the browser
    -- itself stops near 200), and numbers at the edges of what JavaScript
    -- prints
    local deep = page:evaluate("(function () { var a = 'in'; for (var i = 0; i < 100; i++) a = [a]; return a })()")
    for _ = 1, 100 do deep = deep[1] end
    assert.equal("in", deep)
    assert.same({ 1e21, 0.1, 2 ^ 53 + 2, 1.5e-300, -7 }, page:evaluate("[1e21, 0.1, 2 ** 53 + 2, 1.5e-300, -7]"))
    -- what cannot be sent as JSON is refused, naming it
    assert.has_error(function() page:cdp("Runtime.evaluate", { expression = "1", x = 0 / 0 }) end,
      "page:cdp: params of Runtime.evaluate: a number that is not finite")
    assert.has_error(function() page:cdp("Runtime.evaluate", { expression = "\255" }) end,
      "page:cdp: params of Runtime.evaluate: a string that is not UTF-8")
    assert.has_error(function() page:cdp("Runtime.evaluate", { ["a\0b"] = 1 }) end,
      "page:cdp: params of Runtime.evaluate: object keys must be UTF-8 strings without NUL")
    local _, err = page:click("#missing")
    assert.equal("javascript", err.kind)
    assert(page:goto(web.url .. "/late.html", { wait = "domcontentloaded" }))
    assert.is_true(page:wait_for("#late", 5))
    assert.matches('<div id="late">here</div>', page:html(), 1, true)
    assert.matches("pages %(1 open%)", silk.dump_tasks())
    page:close()
    page:close()
    assert.has_error(function() page:evaluate("1") end, "attempt to use a closed page")
    assert.equal(0, render.stats().pages_open)
  end)

  it("deny_private: the page's requests to private addresses fail, except allowed hosts", function()
    local port = web.url:match(":(%d+)$")
    write("private.html", ('<!DOCTYPE html><body><img id="i" src="http://localhost:%s/pic.png?private">' ..
      '</body>'):format(port))
    local function hits() return requests_with("?private") end
    local blocked = render.stats().blocked
    local res, err = silk.render(web.url .. "/private.html", { deny_private = true, wait = "load",
      allow = { "127.0.0.1:" .. port } })
    assert.is_table(res, tostring(err))
    assert.equal(0, hits(), "the browser fetched a private address")
    assert.equal(blocked + 1, render.stats().blocked)
    -- the document itself is checked too (127.0.0.1 is not allowed here)
    res, err = silk.render(web.url .. "/private.html", { deny_private = true })
    assert.is_nil(res)
    assert.equal("blocked", err.kind)
    -- and with the option off the same page loads the image
    assert(silk.render(web.url .. "/private.html", { wait = "load" }))
    assert.equal(1, hits())
    local _, ferr = silk.render("file:///etc/passwd")
    assert.equal("blocked", ferr.kind)
  end)

  it("deny_private: a host name that resolves to a private address is refused too", function()
    -- the machine's own name resolves through /etc/hosts, offline
    local host = sh("hostname"):gsub("%s+$", "")
    local addr = sh("getent ahosts '" .. host .. "' 2>/dev/null"):match("^(%S+)")
    if not addr or not (addr:match("^127%.") or addr:match("^10%.") or addr:match("^192%.168%.")
                        or addr:match("^172%.") or addr == "::1") then
      pending("the hostname " .. host .. " does not resolve to a private address here")
      return
    end
    local port = web.url:match(":(%d+)$")
    write("named.html", ('<!DOCTYPE html><body><img src="http://%s:%s/pic.png?named">' ..
      '<img src="http://no-such-host.invalid/pic.png?named"></body>'):format(host, port))
    local function hits() return requests_with("?named") end
    local blocked = render.stats().blocked
    local res, err = silk.render(web.url .. "/named.html", { deny_private = true, wait = "load",
      allow = { "127.0.0.1:" .. port } })
    assert.is_table(res, tostring(err))
    assert.equal(0, hits(), "the browser fetched " .. host .. " (" .. addr .. ")")
    assert.equal(blocked + 1, render.stats().blocked)
    -- the document's own host by name, and allowed by name
    res, err = silk.render(("http://%s:%s/named.html"):format(host, port), { deny_private = true })
    assert.equal("blocked", err and err.kind)
    res, err = silk.render(("http://%s:%s/named.html"):format(host, port), { deny_private = true,
      wait = "load", allow = { host .. ":" .. port } })
    assert.is_table(res, tostring(err))
    assert.equal(1, hits(), "an allowed name was refused")
    -- with the option off the name reaches the server (another URL: the
    -- browser's cache has the one above)
    write("named2.html", ('<!DOCTYPE html><body><img src="http://%s:%s/pic.png?named&2"></body>'):format(host, port))
    assert(silk.render(web.url .. "/named2.html", { wait = "load" }))
    assert.equal(2, hits())
  end)

  describe("sessions: a browser context each, sharing the session's cookie jar", function()
    local app
    local fetch_core = require("silk.core.fetch")
    setup(function() app = servers.webapp{} end)
    teardown(function() if app then app:stop() end end)

    local function jar_has(session, name)
      for _, line in ipairs(fetch_core.cookies(session)) do
        if line:match("\t" .. name .. "\t[^\t]*$") then return true end
      end
      return false
    end
    local function h1(res) local e = res:one("h1"); return e and e:text() end

    it("a login by silk.fetch carries into rendered pages of that session, and no other", function()
      local form = assert(silk.fetch{ url = app.url .. "/login", session = "alice" })
      local csrf = form:one("input[name=csrf]"):attr("value")
      local res = assert(silk.fetch{ url = app.url .. "/login", method = "POST", session = "alice",
        form = { csrf = csrf, user = "alice", password = "secret", go = "in" } })
      assert.equal("Member page 1", h1(res))
      assert.is_true(jar_has("alice", "sid"))
      res = assert(silk.render(app.url .. "/members/2", { session = "alice", timeout = 15 }))
      assert.equal("Member page 2", h1(res))
      -- two pages of the session at once share its context
      local a = silk.spawn(silk.render, app.url .. "/members/3", { session = "alice", timeout = 15 })
      local b = silk.spawn(silk.render, app.url .. "/members/4", { session = "alice", timeout = 15 })
      local _, ra = a:join()
      local _, rb = b:join()
      assert.equal("Member page 3", h1(ra))
      assert.equal("Member page 4", h1(rb))
      -- another session, and no session, are not logged in
      res = assert(silk.render(app.url .. "/members/2", { session = "bob", timeout = 15 }))
      assert.matches("/login$", res.url)
      res = assert(silk.render(app.url .. "/members/2", { timeout = 15 }))
      assert.matches("/login$", res.url)
      assert.is_false(jar_has("bob", "sid"))
      -- the crawl renders in the request's session (fetch_req.session)
      res = assert(render.crawl_fetch({ stats = {}, spider = {} }, { url = app.url .. "/members/5" },
        { render = true }, { url = app.url .. "/members/5", session = "alice", timeout = 15 }))
      assert.equal("Member page 5", h1(res))
    end)

    it("cookies a rendered page sets reach the jar; a login clicked in a page handle too", function()
      local res = assert(silk.render(app.url .. "/wall/1", { session = "dave", timeout = 15 }))
      assert.equal("Wall 1", h1(res))
      assert.is_true(jar_has("dave", "visitor"), "the page's Set-Cookie did not reach the jar")
      local echo = assert(silk.fetch{ url = app.url .. "/api/echo", session = "dave" }):json()
      assert.matches("visitor=", echo.cookie)
      -- a login typed and clicked in the browser, then fetched statically
      local page = assert(silk.page{ session = "carol", timeout = 15 })
      assert(page:goto(app.url .. "/login"))
      assert(page:type("input[name=user]", "alice"))
      assert(page:type("input[name=password]", "secret"))
      assert(page:click("button[value=in]"))
      assert(page:wait_for("h1"))
      page:close()
      res = assert(silk.fetch{ url = app.url .. "/members/2", session = "carol" })
      assert.equal("Member page 2", h1(res))
      assert.has_error(function() silk.page{ session = 7 } end)
      -- contexts are disposed of with their last tab: only open tabs hold one
      render.configure{ page_idle_timeout = 0.2 }
      silk.sleep(0.4)
      assert.equal(0, render.stats().contexts)
      render.configure{ page_idle_timeout = 30 }
    end)
  end)

  describe("in a crawl (render.crawl_fetch)", function()
    local function req_for(path, meta) return { url = web.url .. path, meta = meta } end
    local function fetch_req(path) return { url = web.url .. path, timeout = 10, user_agent = "silk-static" } end
    local function static_hits(path)
      local n = 0
      for _, e in ipairs(web:entries()) do if e.path == path and e.ua == "silk-static" then n = n + 1 end end
      return n
    end

    it("fetches, or renders per spider or per request", function()
      local run = { stats = {}, spider = {} }
      local res = assert(render.crawl_fetch(run, req_for("/items.html"), { render = false }, fetch_req("/items.html")))
      assert.is_nil(res.rendered)
      assert.equal(0, #res:select("li.item"))
      res = assert(render.crawl_fetch(run, req_for("/items.html"), { render = true,
        render_options = { wait = { selector = "li.item" } } }, fetch_req("/items.html")))
      assert.is_true(res.rendered)
      assert.equal(3, #res:select("li.item"))
      res = assert(render.crawl_fetch(run, req_for("/items.html", '{"meta":{"render":{"wait":"networkidle"}}}'),
        { render = false }, fetch_req("/items.html")))
      assert.equal(3, #res:select("li.item"))
      assert.equal(2, run.stats.render.rendered)
      assert.equal(1, run.stats.render.static)
      assert.is_true(run.stats.render.time_p50 > 0 and run.stats.render.time_p99 >= run.stats.render.time_p50)
    end)

    it("silk run: a request's render option renders that page and its callback sees the script's items", function()
      write("start.html", '<!DOCTYPE html><body><a href="items.html">items</a><a href="form.html">form</a></body>')
      local spider = dir .. "/spider.lua"
      write("spider.lua", [[
local silk = require("silk")
return silk.spider{
  name = "rendered", start_urls = { os.getenv("START") .. "/start.html" }, obey_robots = false,
  parse = function(res, crawl)
    crawl:follow("items.html", { callback = "items", render = { wait = { selector = "li.item" } } })
    crawl:follow("form.html", { callback = "items" })
  end,
  items = function(res, crawl)
    for _, li in ipairs(res:select("li.item")) do crawl:emit{ name = li:text(), rendered = res.rendered or false } end
    if not res.rendered then crawl:emit{ name = "static " .. res.url:match("[^/]+$"), rendered = false } end
  end,
}
]])
      local out, stats = dir .. "/items.jsonl", dir .. "/stats.json"
      local engine = require("silk.core.engine")
      local log = sh(("START=%s %s run %s -o %s --stats %s --quiet 2>&1; echo exit:$?"):format(
        web.url, engine.exe(), spider, out, stats))
      assert.matches("exit:0", log, 1, true)
      local names = {}
      for line in io.lines(out) do names[#names + 1] = require("cjson").decode(line).name end
      table.sort(names)
      assert.same({ "alpha", "beta", "gamma", "static form.html" }, names)
      local st = require("cjson").decode(io.open(stats):read("*a"))
      assert.equal(1, st.render.rendered)
      assert.equal(0, st.render.browser_crashes)
      assert.is_true(st.render.tabs_created >= 1)
    end)

    it("kill -9 mid-crawl and resume with --jobdir: every rendered page's items once, the browser gone with silk", function()
      local n = 80
      for i = 0, n - 1 do
        local links = {}
        for _, k in ipairs({ i + 1, i + 2 }) do
          if k < n then links[#links + 1] = ('<a href="j%d.html">next</a>'):format(k) end
        end
        write(("j%d.html"):format(i), ([[<!DOCTYPE html><body><ul></ul>%s<script>
for (const k of [1, 2]) { const li = document.createElement('li'); li.className = 'item';
  li.textContent = 'j%d-' + k; document.querySelector('ul').appendChild(li); }
</script></body>]]):format(table.concat(links), i))
      end
      write("jobspider.lua", [[
local silk = require("silk")
return silk.spider{
  name = "rendered-job", start_urls = { os.getenv("START") .. "/j0.html" }, obey_robots = false,
  concurrency = 4, render = true, render_options = { wait = { selector = "li.item" } },
  parse = function(res, crawl)
    for _, li in ipairs(res:select("li.item")) do crawl:emit{ id = li:text() } end
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
  end,
}
]])
      local exe = require("silk.core.engine").exe()
      local job, out = dir .. "/job", dir .. "/job.jsonl"
      local cmd = ("START=%s %s run %s/jobspider.lua -o %s --jobdir %s -s checkpoint_interval=0.05 --quiet")
        :format(web.url, exe, dir, out, job)
      local killed = 0
      for _ = 1, 3 do
        -- kill -9 after 1 s; count what is left alive of the browser's
        -- process group (zombies aside: here nobody may reap them)
        local r = sh(("%s >/dev/null 2>&1 & pid=$!; sleep 1; " ..
          "b=$(ps -eo pid=,ppid=,args= | awk -v p=$pid '$2==p && /chromium/ {print $1}'); " ..
          "kill -9 $pid 2>/dev/null && echo killed; wait $pid 2>/dev/null; sleep 0.5; " ..
          "[ -n \"$b\" ] && ps -eo pgid=,stat= | awk -v b=$b '$1==b && $2 !~ /^Z/' | wc -l || echo 0"):format(cmd))
        if r:find("killed", 1, true) then killed = killed + 1 end
        assert.equal("0", r:match("(%d+)%s*$"), "the browser outlived silk: " .. r)
      end
      assert.is_true(killed >= 1, "no run was killed mid-crawl")
      local log = sh(cmd .. " 2>&1; echo exit:$?")
      assert.matches("exit:0", log, 1, true)
      local seen, dup, torn = {}, {}, 0
      for line in io.lines(out) do
        local ok, item = pcall(require("cjson").decode, line)
        if not ok then torn = torn + 1
        elseif seen[item.id] then dup[#dup + 1] = item.id
        else seen[item.id] = true end
      end
      assert.equal(0, torn)
      assert.same({}, dup)
      local missing = {}
      for i = 0, n - 1 do
        for k = 1, 2 do
          if not seen[("j%d-%d"):format(i, k)] then missing[#missing + 1] = ("j%d-%d"):format(i, k) end
        end
      end
      assert.same({}, missing)
    end)

    it("browsers = 2 in a crawl: both render its pages, a kill -9 of one fails only its pages, the crawl completes", function()
      local n = 40
      local links = {}
      for i = 0, n - 1 do
        links[#links + 1] = ('<a href="b%d.html">b%d</a>'):format(i, i)
        write(("b%d.html"):format(i), ([[<!DOCTYPE html><body><ul></ul><script>
setTimeout(() => { const li = document.createElement('li'); li.className = 'item'; li.textContent = 'b%d';
  document.querySelector('ul').appendChild(li); }, 300);
</script></body>]]):format(i))
      end
      write("bstart.html", '<!DOCTYPE html><body><li class="item">start</li>' .. table.concat(links) .. "</body>")
      write("twospider.lua", [[
local silk = require("silk")
local render = require("silk.render")
local parsed, killed, on = 0, nil, {}
return silk.spider{
  name = "two-browsers", start_urls = { os.getenv("START") .. "/bstart.html" }, obey_robots = false,
  concurrency = 6, render = true,
  render_options = { browsers = 2, wait = { selector = "li.item" } },
  parse = function(res, crawl)
    for _, a in ipairs(res:select("a[href]")) do crawl:follow(a:attr("href")) end
    for _, li in ipairs(res:select("li.item")) do crawl:emit{ id = li:text() } end
    parsed = parsed + 1
    local st = render.stats()
    for i, b in ipairs(st.browsers) do if b.busy > 0 then on[i] = true end end
    if parsed >= 8 and not killed and st.browsers[2].busy > 0 then
      killed = st.browsers[2]
      os.execute("kill -9 " .. killed.pid)
    elseif killed then
      -- what the browsers went through so far (the last line is the final word)
      crawl:emit{ id = "state", busy_on_killed = killed.busy, both = on[1] and on[2] or false,
        b1 = { crashes = st.browsers[1].crashes, restarts = st.browsers[1].restarts },
        b2 = { crashes = st.browsers[2].crashes, restarts = st.browsers[2].restarts } }
    end
  end,
  on_error = function(err)
    -- the pages the killed browser held: tried again (and so counted in retries)
    if err.kind == "browser_crashed" then return "retry" end
  end,
}
]])
      local out, stats = dir .. "/two.jsonl", dir .. "/two.json"
      local log = sh(("START=%s %s run %s/twospider.lua -o %s --stats %s --quiet 2>&1; echo exit:$?"):format(
        web.url, require("silk.core.engine").exe(), dir, out, stats))
      assert.matches("exit:0", log, 1, true)
      local seen, report = {}, nil
      for line in io.lines(out) do
        local item = require("cjson").decode(line)
        if item.id == "state" then report = item else seen[item.id] = (seen[item.id] or 0) + 1 end
      end
      assert.is_table(report, "no page parsed after the kill: " .. log)
      for i = 0, n - 1 do assert.equal(1, seen["b" .. i], "b" .. i .. " " .. log) end
      assert.is_true(report.both, "one browser rendered every page")
      assert.same({ crashes = 0, restarts = 0 }, report.b1)
      assert.same({ crashes = 1, restarts = 1 }, report.b2)
      local st = require("cjson").decode(io.open(stats):read("*a"))
      assert.equal(1, st.render.browser_crashes)
      assert.equal(1, st.render.browser_restarts)
      -- the pages that failed were the killed browser's (it held
      -- busy_on_killed; a lease placed there before its end was seen may
      -- add one or two), not the other's
      assert.is_true(st.retries >= 1, "no page failed")
      assert.is_true(st.retries <= report.busy_on_killed + 2,
        ("%d pages failed, %d were on the killed browser"):format(st.retries, report.busy_on_killed))
    end)

    it("render = \"auto\": static pages stay static, script-filled ones are rendered, then learned", function()
      local run = { stats = {}, spider = {} }
      local settings = { render = "auto", render_options = { wait = "networkidle", user_agent = "silk-browser" } }
      local res = assert(render.crawl_fetch(run, req_for("/form.html"), settings, fetch_req("/form.html")))
      assert.is_nil(res.rendered)
      local before = static_hits("/items.html")
      for i = 1, 4 do
        res = assert(render.crawl_fetch(run, req_for("/items.html"), settings, fetch_req("/items.html")))
        assert.is_true(res.rendered, "try " .. i)
        assert.equal(3, #res:select("li.item"))
      end
      local st = run.stats.render
      assert.equal(1, st.auto_static)
      assert.equal(4, st.auto_rendered)
      assert.equal(1, st.learned_shapes)
      assert.equal(3, static_hits("/items.html") - before, "the static try was not skipped once learned")
      -- a page its script fills after load, with no wait given: rendered
      -- until it has text (not taken at load, empty)
      res = assert(render.crawl_fetch({ stats = {}, spider = {} }, req_for("/slowfill.html"), { render = "auto" },
                                      fetch_req("/slowfill.html")))
      assert.is_true(res.rendered)
      assert.equal(60, #res:select("li.item"))
      -- a spider's needs_render decides instead of the guess
      run = { stats = {}, spider = { needs_render = function() return false end } }
      res = assert(render.crawl_fetch(run, req_for("/items.html"), settings, fetch_req("/items.html")))
      assert.is_nil(res.rendered)
    end)
  end)

  it("stats and Prometheus metrics: pages by result, time percentiles, tabs, restarts, blocked, PSS", function()
    local metrics = require("silk.metrics")
    local before = render.stats()
    assert(silk.render(web.url .. "/items.html", { wait = { selector = "li.item" } }))
    local _, err = silk.render("http://127.0.0.1:1/", { timeout = 5 })
    assert.is_table(err)
    local st = render.stats()
    assert.equal((before.by_result.ok or 0) + 1, st.by_result.ok)
    assert.equal((before.by_result[err.kind] or 0) + 1, st.by_result[err.kind])
    assert.is_true(st.time_p50 > 0 and st.time_p50 <= st.time_p90 and st.time_p90 <= st.time_p99)
    local text = metrics.render()
    local function value(pattern) return tonumber(text:match(pattern .. " ([%d.e+-]+)\n")) end
    assert.equal(st.by_result.ok, value('silk_render_pages_total{result="ok"}'))
    assert.equal(st.renders, value("silk_render_duration_seconds_count"))
    assert.is_not_nil(value('silk_render_tabs{state="idle"}'))
    assert.equal(st.browser_restarts, value("silk_render_browser_restarts_total"))
    assert.equal(st.renderer_crashes, value("silk_render_renderer_crashes_total"))
    assert.equal(st.blocked, value("silk_render_requests_blocked_total"))
    assert.is_true(value("silk_render_browser_pss_bytes") > 10e6, text)
    assert.matches("# TYPE silk_render_duration_seconds histogram", text, 1, true)
  end)

  it("bad options raise at the caller's line", function()
    assert.has_error(function() silk.render(web.url, { wait = "soon" }) end)
    assert.has_error(function() silk.render(web.url, { timeout = -1 }) end)
    assert.has_error(function() silk.render(42) end)
  end)

  it("the leak report names a page handle its task left open", function()
    local script = dir .. "/leak.lua"
    write("leak.lua", ([[
local silk = require("silk")
local t = silk.spawn{function()
  local page = assert(silk.page())
  assert(page:goto(%q, { wait = "domcontentloaded" }))
end, name = "forgetful"}
t:join()
assert(require("silk.render").stats().pages_open == 0, "not closed at its task's end")
]]):format(web.url .. "/late.html"))
    local out = sh(("%s eval %s 2>&1; echo \"exit:$?\""):format(require("silk.core.engine").exe(), script))
    assert.matches("silk: leak: page 1 %(" .. web.url:gsub("%p", "%%%0") .. "/late.html%) opened by task %d+ forgetful was never closed", out)
    assert.is_not.equal("0", out:match("exit:(%d+)%s*$"), out)
  end)
end)
