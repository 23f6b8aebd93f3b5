--- silk.identity: who a crawl's requests say they are: which proxy they go
-- through, which User-Agent they send and which cookie jar they use.
--
--   local id = identity.new(settings, spider)   -- nil when nothing rotates
--   local who = id:pick(session, jarless)       -- { session=, proxy=, user_agent=, pooled= }
--   id:proxy_failed(proxy) / id:proxy_ok(proxy) -- after a request through a rotated proxy
--   id:retire(who)                              -- a pooled session looked blocked
--   id:stats()                                  -- { proxies = {...}, sessions_retired = n }
--
-- Rotation (settings proxies, user_agents): round-robin over the list, one
-- step per request; a request that names a session keeps the proxy and
-- User-Agent that session first got (sticky), as a logged-in browser would.
-- A proxy that fails proxy_failures times in a row (no answer through it)
-- rests for proxy_rest seconds and is skipped meanwhile; when every proxy
-- rests, the one that rests least is used.
--
-- The session pool (setting sessions = N, Crawlee's SessionPool): N
-- sessions, each a cookie jar with its own proxy and User-Agent; a request
-- that names no session takes the next one. A session whose response looks
-- blocked (a status in blocked_statuses, or the spider's blocked(res)) is
-- retired: replaced by a fresh one (a new jar, the next proxy and
-- User-Agent), and the crawl sends the request again on another session.

local M = {}
local Identity = {}
Identity.__index = Identity

-- A round-robin rotation over `list` whose members can rest.
local function rotation(list)
  return { list = list, next = 1, fails = {}, rest_until = {}, uses = {}, failures = {}, rested = {} }
end

local function rotate(r, now)
  local n = #r.list
  local best, best_until
  for step = 0, n - 1 do
    local i = (r.next + step - 1) % n + 1
    local v = r.list[i]
    local until_ = r.rest_until[v] or 0
    if until_ <= now then
      r.next = i % n + 1
      return v
    end
    if not best or until_ < best_until then best, best_until = v, until_ end
  end
  return best
end

--- identity.new(settings, now_fn) -> identity, or nil when the settings
-- rotate nothing and pool no sessions.
-- @local (the crawl's own; spiders use the settings)
function M.new(s, now)
  local proxies = s.proxies and #s.proxies > 0 and rotation(s.proxies)
  local uas = s.user_agents and #s.user_agents > 0 and rotation(s.user_agents)
  if not proxies and not uas and s.sessions == 0 then return nil end
  local self = setmetatable({ settings = s, now = now, proxies = proxies, uas = uas,
                              sticky = {}, pool = nil, made = 0, retired = 0 }, Identity)
  if s.sessions > 0 then
    self.pool = {}
    for i = 1, s.sessions do self.pool[i] = self:fresh() end
    self.pool_next = 1
  end
  return self
end

-- A new pooled session: a jar name never used before, the next proxy and
-- User-Agent.
function Identity:fresh()
  self.made = self.made + 1
  local t = self.now()
  return { session = "pool-" .. self.made, pooled = true,
           proxy = self.proxies and rotate(self.proxies, t),
           user_agent = self.uas and rotate(self.uas, t) }
end

--- id:pick(session, jarless) -> who: the session (jar), proxy and
-- User-Agent for a request naming `session` (nil: none, so a pooled session
-- when there is a pool, unless the request keeps no cookies: `jarless`).
-- proxy and user_agent are nil where nothing rotates.
-- @local
function Identity:pick(session, jarless)
  local t = self.now()
  if not session and self.pool and not jarless then
    local i = self.pool_next
    self.pool_next = i % #self.pool + 1
    local who = self.pool[i]
    -- a pooled session keeps its proxy unless that one rests
    if who.proxy and (self.proxies.rest_until[who.proxy] or 0) > t then
      who.proxy = rotate(self.proxies, t)
    end
    return who
  end
  if not session then
    return { proxy = self.proxies and rotate(self.proxies, t), user_agent = self.uas and rotate(self.uas, t) }
  end
  local who = self.sticky[session]
  if not who then
    who = { session = session, proxy = self.proxies and rotate(self.proxies, t),
            user_agent = self.uas and rotate(self.uas, t) }
    self.sticky[session] = who
  elseif who.proxy and (self.proxies.rest_until[who.proxy] or 0) > t then
    who.proxy = rotate(self.proxies, t)
  end
  return who
end

--- Counts a request through proxy p that got no answer; the proxy rests
-- after proxy_failures of them in a row. Returns true when it now rests.
function Identity:proxy_failed(p)
  local r = self.proxies
  if not r then return false end
  r.uses[p] = (r.uses[p] or 0) + 1
  r.failures[p] = (r.failures[p] or 0) + 1
  r.fails[p] = (r.fails[p] or 0) + 1
  if r.fails[p] >= self.settings.proxy_failures then
    r.fails[p] = 0
    r.rest_until[p] = self.now() + self.settings.proxy_rest
    r.rested[p] = (r.rested[p] or 0) + 1
    return true
  end
  return false
end

--- Counts a request through proxy p that got an answer.
function Identity:proxy_ok(p)
  local r = self.proxies
  if not r then return end
  r.uses[p] = (r.uses[p] or 0) + 1
  r.fails[p] = 0
end

--- Whether the proxies rotate (so that another one may be tried).
function Identity:rotates_proxies()
  return self.proxies ~= nil and #self.proxies.list > 1
end

--- Retires pooled session `who`: its place in the pool goes to a fresh
-- session. Returns the retired jar's name (its cookies are no longer kept).
function Identity:retire(who)
  for i, v in ipairs(self.pool or {}) do
    if v == who then
      self.pool[i] = self:fresh()
      self.retired = self.retired + 1
      return who.session
    end
  end
end

--- Figures for the crawl's stats: per proxy requests, failures and rests;
-- sessions retired.
function Identity:stats()
  local out = { sessions_retired = self.retired }
  local r = self.proxies
  if r then
    out.proxies = {}
    for _, p in ipairs(r.list) do
      out.proxies[p] = { requests = r.uses[p] or 0, failures = r.failures[p] or 0, rested = r.rested[p] or 0 }
    end
  end
  return out
end

return M
