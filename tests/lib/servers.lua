-- tests/lib/servers.lua: real servers on 127.0.0.1 for silk's tests.
--
-- Pure Lua 5.1 / LuaJIT (io.popen and os.execute only, no C), usable from
-- busted specs run inside silk and from plain `luajit`:
--
--   package.path = "tests/lib/?.lua;" .. package.path
--   local servers = require("servers")
--   local web = servers.nginx{root = dir}          -- web.url = "http://127.0.0.1:PORT"
--   ...                                            -- web:entries(), web:connections()
--   web:stop()                                     -- idempotent
--
-- API
--   servers.free_port() -> port              a port the kernel had free just now
--   servers.wait_port(port, timeout[, pid]) -> true | nil, err
--   servers.nginx{root=DIR | roots={DIR,...}, port=, ports={...}, gzip=bool,
--                 http2_tls=bool, conf_extra="...", server_extra="...", echo=bool,
--                 access_log=true, ttl=secs}
--       -> {port, url, ports, urls, tls_port, https_url, access_log, error_log,
--           prefix, pid, stop(), entries(), connections(), reopen()}
--       one nginx master + 1 worker, keep-alive on; one server block per root
--       (K roots = K hosts on K ports, for politeness tests). Access log format
--       "silk": $msec $connection $connection_requests $status $request_time
--       $server_port $bytes_sent "$request" "$http_user_agent" (see entries()).
--   servers.redis{appendonly=bool, requirepass=, port=, ttl=} -> {port, url, dir, pid, stop(), restart{hard=},
--       kill()}                              Debian's redis-server, --save '' --dir TMP
--   servers.badserver{port=, ttl=, robots_fail=N} -> {port, url, stop()}   tests/lib/badserver.py
--       (robots_fail: the first N robots.txt requests get a 503)
--   servers.webapp{port=, ttl=, pages=N, block_after=K} -> {port, url, log(), stop()}
--       tests/lib/webapp.py: login form + session cookie, members-only pages, a JSON
--       API, a bot wall; log() is every request it saw (decoded JSON)
--   servers.fwdproxy{tls=bool, port=, ttl=} -> {port, url, socks5_url, socks5h_url,
--       tls_port, https_url, log(), reset(), stop()}   tests/lib/fwdproxy.py: HTTP
--       forwarding, CONNECT and SOCKS5 on one port (+ the same over TLS with tls=true,
--       certificate from tls_cert()); log() is what it forwarded (decoded JSON)
--   servers.tls_cert() -> {ca=, cert=, key=, dir=}  self-signed CA + server cert for
--       127.0.0.1 / localhost (openssl CLI), made once per process
--   servers.stop_all()                       stop every server this process started
--
-- How processes are guaranteed to die, even if a spec fails or the process is killed:
--   1. every server runs in its own process group (setsid); stop() sends TERM
--      to the group, waits up to 5 s for the main pid, then KILLs the group.
--   2. the module keeps a registry of live servers and a __gc proxy (newproxy)
--      anchored in the module table: when the lua_State is closed (lua_close,
--      os.exit(code, true), the end of `luajit script.lua`) every server still
--      running is stopped and temp dirs are removed.
--   3. a watchdog shell in the same process group polls, once a second, that
--      the Lua process which started the server is alive and that the server's
--      ttl (default 900 s) has not passed; otherwise it TERMs then KILLs the group.
--      So even `kill -9` of the test runner leaves nothing behind for long.
-- Temp dirs (/tmp/silk-*.XXXXXX) live until stop_all()/process exit, so a spec
-- may read logs after stop(). SILK_KEEP_TMP=1 keeps them.

local servers = {}

local live = {}      -- handle -> true
local tmpdirs = {}   -- list of dirs to remove at exit

local function q(s) -- shell-quote
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run a shell command; returns ok(bool), exit code
local function run(cmd)
  local r1, _, r3 = os.execute(cmd)
  if type(r1) == "number" then -- Lua 5.1 / LuaJIT without 5.2 compat: raw wait status
    local code = r1 >= 256 and math.floor(r1 / 256) or r1
    return code == 0, code
  end
  return r1 == true or r1 == 0, r3 or (r1 and 0 or 1)
end

local function capture(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("*a")
  f:close()
  return (out:gsub("%s+$", ""))
end

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function writefile(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function sleep(s) run("sleep " .. s) end

local function mktemp(kind)
  local d = capture("mktemp -d /tmp/silk-" .. kind .. ".XXXXXX")
  assert(d ~= "", "mktemp failed")
  tmpdirs[#tmpdirs + 1] = d
  return d
end

local my_pid -- pid of this Lua process (parent of the popen shell)
local function self_pid()
  my_pid = my_pid or tonumber(capture("echo $PPID"))
  return my_pid
end

-- shell function: true while pid exists and is not a zombie (orphans are
-- reaped late by some init processes, and kill -0 succeeds on zombies)
local ALIVE = [[alive(){ s=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }; ]]

local lib_dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "tests/lib"

function servers.free_port()
  local p = tonumber(capture([[python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null]]))
  if p then return p end
  -- fallback without python: a random high port nobody listens on
  math.randomseed(os.time() + self_pid())
  for _ = 1, 50 do
    p = math.random(20000, 60000)
    if capture("ss -Htln 'sport = :" .. p .. "' 2>/dev/null") == "" then return p end
  end
  error("servers.free_port: no free port found")
end

-- wait until something accepts TCP connections on 127.0.0.1:port; fails early
-- if pid (optional) dies
function servers.wait_port(port, timeout, pid)
  local n = math.ceil((timeout or 10) / 0.05)
  local ok, code = run("bash -c " .. q(ALIVE .. string.format(
    "for i in $(seq %d); do (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && exit 0; %s sleep 0.05; done; exit 1",
    n, port, pid and ("alive " .. pid .. " || exit 2;") or "")))
  if ok then return true end
  return nil, code == 2 and "process exited" or ("timeout waiting for port " .. port)
end

local function port_busy(port)
  return run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "' 2>/dev/null")
end
local function check_free(what, ports)
  for _, p in pairs(ports) do
    if port_busy(p) then error("servers." .. what .. ": port " .. p .. " is already in use") end
  end
end

-- start `cmd` (a shell string) in its own process group with a watchdog;
-- returns the pid (= pgid) of the process running cmd
local function spawn(cmd, dir, ttl)
  local owner = self_pid()
  local pidfile = dir .. "/spawn.pid"
  local watchdog = string.format(
    ALIVE .. "(trap '' TERM; n=0; while alive %d && [ $n -lt %d ]; do sleep 1; n=$((n+1)); done; " ..
    "kill -TERM -$$ 2>/dev/null; sleep 3; kill -KILL -$$ 2>/dev/null) >/dev/null 2>&1 </dev/null &",
    owner, ttl or 900)
  os.remove(pidfile)
  local inner = "echo $$ > " .. q(pidfile) .. "; " .. watchdog .. " exec " .. cmd
  run("setsid sh -c " .. q(inner) .. " </dev/null >>" .. q(dir .. "/stdout.log") .. " 2>&1 &")
  for _ = 1, 100 do
    local pid = tonumber(readfile(pidfile) or "")
    if pid then return pid end
    sleep(0.02)
  end
  error("servers: could not start: " .. cmd)
end

-- TERM the group, wait for pid, KILL the group (also ends the watchdog)
local function kill_group(pid, hard)
  if not pid then return end
  if not hard then
    run("kill -TERM " .. pid .. " 2>/dev/null")
    run(ALIVE .. string.format("for i in $(seq 100); do alive %d || exit 0; sleep 0.05; done", pid))
  end
  run("kill -KILL -" .. pid .. " 2>/dev/null")
  run(ALIVE .. string.format("for i in $(seq 100); do alive %d || exit 0; sleep 0.02; done", pid))
end

local function register(h)
  live[h] = true
  return h
end

local function stopper(h, fn)
  return function()
    if h.stopped then return end
    h.stopped = true
    live[h] = nil
    fn()
  end
end

---------------------------------------------------------------- TLS
local tls_cache
function servers.tls_cert()
  if tls_cache then return tls_cache end
  local d = mktemp("tls")
  local ext = d .. "/ext.cnf"
  writefile(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n" ..
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
  local cmd = table.concat({
    "cd " .. q(d),
    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key",
    "openssl req -x509 -new -key ca.key -sha256 -days 30 -subj '/CN=silk test CA' -out ca.pem",
    "openssl ecparam -name prime256v1 -genkey -noout -out server.key",
    "openssl req -new -key server.key -subj '/CN=127.0.0.1' -out server.csr",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 -extfile ext.cnf -out server.pem",
  }, " && ") .. " >openssl.log 2>&1"
  assert(run(cmd), "servers.tls_cert: openssl failed, see " .. d .. "/openssl.log")
  tls_cache = { dir = d, ca = d .. "/ca.pem", cert = d .. "/server.pem", key = d .. "/server.key" }
  return tls_cache
end

---------------------------------------------------------------- nginx
local LOG_FORMAT = [[log_format silk '$msec $connection $connection_requests $status $request_time ]] ..
  [[$server_port $bytes_sent "$request" "$http_user_agent"';]]

-- parse the access log: array of {msec, conn, conn_req, status, time, port, bytes, method, path, ua}
local function parse_access(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do
    local msec, conn, creq, status, rt, port, bytes, req, ua =
      line:match('^(%S+) (%d+) (%d+) (%d+) (%S+) (%d+) (%d+) "(.-)" "(.-)"$')
    if msec then
      local method, target = req:match("^(%S+) (%S+)")
      out[#out + 1] = { msec = tonumber(msec), conn = tonumber(conn), conn_req = tonumber(creq),
        status = tonumber(status), time = tonumber(rt), port = tonumber(port), bytes = tonumber(bytes),
        request = req, method = method, path = target, ua = ua }
    end
  end
  f:close()
  return out
end

function servers.nginx(opts)
  opts = opts or {}
  local roots = opts.roots or { opts.root }
  assert(roots[1], "servers.nginx: root= or roots= required")
  local prefix = mktemp("nginx")
  run("mkdir -p " .. q(prefix .. "/tmp") .. " " .. q(prefix .. "/logs"))
  local ports = {}
  for i = 1, #roots do
    ports[i] = (opts.ports and opts.ports[i]) or (i == 1 and opts.port) or servers.free_port()
  end
  local tls, tls_port
  if opts.http2_tls then
    tls = servers.tls_cert()
    tls_port = opts.tls_port or servers.free_port()
  end
  local h = { prefix = prefix, ports = ports, port = ports[1], urls = {},
    access_log = prefix .. "/logs/access.log", error_log = prefix .. "/logs/error.log",
    conf = prefix .. "/nginx.conf" }
  local c = {}
  local function add(s) c[#c + 1] = s end
  if opts.echo then add("load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;") end
  if capture("id -u") == "0" then add("user root;") end -- workers must read root-only temp dirs
  add("worker_processes 1;")
  add("pid " .. prefix .. "/nginx.pid;")
  add("error_log " .. h.error_log .. " " .. (opts.error_level or "warn") .. ";")
  add("events { worker_connections 4096; multi_accept on; }")
  add("http {")
  add("  include /etc/nginx/mime.types; default_type application/octet-stream;")
  add("  " .. LOG_FORMAT)
  if opts.access_log == false then add("  access_log off;")
  else add("  access_log " .. h.access_log .. " silk;") end
  add("  sendfile on; tcp_nopush on; tcp_nodelay on;")
  add("  keepalive_timeout 65s; keepalive_requests 1000000;")
  add("  server_tokens off; etag on;")
  for _, t in ipairs({ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
    add("  " .. t .. "_temp_path " .. prefix .. "/tmp/" .. t .. ";")
  end
  if opts.gzip then
    add("  gzip on; gzip_min_length 256; gzip_comp_level 5; gzip_vary on;")
    add("  gzip_types text/plain text/css text/xml application/xml application/json application/javascript;")
  end
  if opts.conf_extra then add(opts.conf_extra) end
  for i, root in ipairs(roots) do
    add("  server {")
    add("    listen 127.0.0.1:" .. ports[i] .. ";")
    if tls and i == 1 then
      add("    listen 127.0.0.1:" .. tls_port .. " ssl http2;")
      add("    ssl_certificate " .. tls.cert .. "; ssl_certificate_key " .. tls.key .. ";")
      add("    ssl_protocols TLSv1.2 TLSv1.3;")
    end
    add("    server_name localhost 127.0.0.1;")
    add("    root " .. root .. ";")
    add("    location / { try_files $uri $uri/ =404; }")
    if opts.server_extra then add(opts.server_extra) end
    add("  }")
    h.urls[i] = "http://127.0.0.1:" .. ports[i]
  end
  add("}")
  writefile(h.conf, table.concat(c, "\n") .. "\n")
  check_free("nginx", { tls_port, (table.unpack or unpack)(ports) })
  h.url = h.urls[1]
  if tls then h.tls_port = tls_port; h.https_url = "https://127.0.0.1:" .. tls_port; h.tls = tls end

  local ok = run("/usr/sbin/nginx -t -q -p " .. q(prefix) .. " -c " .. q(h.conf) .. " -g 'daemon off;' >" ..
    q(prefix .. "/test.log") .. " 2>&1")
  if not ok then
    error("servers.nginx: bad config: " .. (readfile(prefix .. "/test.log") or "") .. "\n" .. h.conf)
  end
  h.pid = spawn("/usr/sbin/nginx -p " .. q(prefix) .. " -c " .. q(h.conf) .. " -g 'daemon off;'", prefix, opts.ttl)
  h.stop = stopper(h, function() kill_group(h.pid) end)
  register(h)
  for i = 1, #ports + (tls_port and 1 or 0) do
    local okp, err = servers.wait_port(ports[i] or tls_port, opts.timeout or 10, h.pid)
    if not okp then
      h.stop()
      error("servers.nginx: " .. err .. ": " .. (readfile(h.error_log) or "") .. (readfile(prefix .. "/stdout.log") or ""))
    end
  end
  function h:entries() return parse_access(h.access_log) end
  -- number of distinct TCP connections seen in the access log
  function h:connections()
    local seen, n = {}, 0
    for _, e in ipairs(parse_access(h.access_log)) do
      if not seen[e.conn] then seen[e.conn] = true; n = n + 1 end
    end
    return n
  end
  function h:truncate_log() writefile(h.access_log, "") end
  function h:reopen() run("kill -USR1 " .. h.pid) end
  return h
end

---------------------------------------------------------------- redis
function servers.redis(opts)
  opts = opts or {}
  local dir = mktemp("redis")
  local h = { dir = dir, port = opts.port or servers.free_port() }
  h.url = "redis://127.0.0.1:" .. h.port
  local function start()
    check_free("redis", { h.port })
    local cmd = table.concat({ "/usr/bin/redis-server", "--port", h.port, "--bind 127.0.0.1",
      "--save ''", "--dir", q(dir), "--appendonly", opts.appendonly and "yes" or "no",
      "--appendfsync", opts.appendfsync or "everysec", "--daemonize no",
      "--logfile", q(dir .. "/redis.log"), "--protected-mode no",
      opts.requirepass and ("--requirepass " .. q(opts.requirepass)) or "" }, " ")
    h.pid = spawn(cmd, dir, opts.ttl)
    local ok, err = servers.wait_port(h.port, opts.timeout or 10, h.pid)
    if not ok then
      kill_group(h.pid, true)
      error("servers.redis: " .. err .. ": " .. (readfile(dir .. "/redis.log") or ""))
    end
  end
  start()
  h.stop = stopper(h, function() kill_group(h.pid) end)
  -- stop (TERM, or KILL with hard=true) and start again on the same port and dir
  function h.restart(o)
    if type(o) ~= "table" then o = {} end -- allow h:restart() and h.restart()
    if not h.stopped then kill_group(h.pid, o.hard) end
    h.stopped = false
    start()
    register(h)
  end
  function h.kill() -- crash: SIGKILL, no shutdown
    if h.stopped then return end
    h.stopped = true
    live[h] = nil
    kill_group(h.pid, true)
  end
  return register(h)
end

---------------------------------------------------------------- badserver.py
function servers.badserver(opts)
  opts = opts or {}
  local dir = mktemp("bad")
  local h = { dir = dir, port = opts.port or servers.free_port() }
  h.url = "http://127.0.0.1:" .. h.port
  check_free("badserver", { h.port })
  h.pid = spawn("python3 " .. q(lib_dir .. "/badserver.py") .. " --port " .. h.port ..
    (opts.robots_fail and " --robots-fail " .. opts.robots_fail or ""), dir, opts.ttl)
  h.stop = stopper(h, function() kill_group(h.pid) end)
  register(h)
  local ok, err = servers.wait_port(h.port, opts.timeout or 20, h.pid)
  if not ok then
    h.stop()
    error("servers.badserver: " .. err .. ": " .. (readfile(dir .. "/stdout.log") or ""))
  end
  return h
end

---------------------------------------------------------------- webapp.py
function servers.webapp(opts)
  opts = opts or {}
  local dir = mktemp("webapp")
  local h = { dir = dir, port = opts.port or servers.free_port() }
  h.url = "http://127.0.0.1:" .. h.port
  check_free("webapp", { h.port })
  h.pid = spawn("python3 " .. q(lib_dir .. "/webapp.py") .. " --port " .. h.port ..
    (opts.pages and " --pages " .. opts.pages or "") ..
    (opts.block_after and " --block-after " .. opts.block_after or ""), dir, opts.ttl)
  h.stop = stopper(h, function() kill_group(h.pid) end)
  function h.log()
    return require("cjson").decode(capture("curl -sS --noproxy '*' " .. q(h.url .. "/_log")))
  end
  register(h)
  local ok, err = servers.wait_port(h.port, opts.timeout or 20, h.pid)
  if not ok then
    h.stop()
    error("servers.webapp: " .. err .. ": " .. (readfile(dir .. "/stdout.log") or ""))
  end
  return h
end

---------------------------------------------------------------- fwdproxy.py
function servers.fwdproxy(opts)
  opts = opts or {}
  local dir = mktemp("proxy")
  local h = { dir = dir, port = opts.port or servers.free_port() }
  h.url = "http://127.0.0.1:" .. h.port
  h.socks5_url = "socks5://127.0.0.1:" .. h.port
  h.socks5h_url = "socks5h://127.0.0.1:" .. h.port
  local cmd = "python3 " .. q(lib_dir .. "/fwdproxy.py") .. " --port " .. h.port
  local ports = { h.port }
  if opts.tls then
    local tls = servers.tls_cert()
    h.tls_port = servers.free_port()
    h.https_url = "https://127.0.0.1:" .. h.tls_port
    ports[2] = h.tls_port
    cmd = cmd .. " --tls-port " .. h.tls_port .. " --cert " .. q(tls.cert) .. " --key " .. q(tls.key)
  end
  check_free("fwdproxy", ports)
  h.pid = spawn(cmd, dir, opts.ttl)
  h.stop = stopper(h, function() kill_group(h.pid) end)
  -- the proxy's own API (origin-form requests), asked with the curl CLI
  local function api(path)
    local out = capture("curl -sS --noproxy '*' " .. q(h.url .. path))
    return require("cjson").decode(out)
  end
  function h.log() return api("/log") end
  function h.reset() return api("/reset") end
  register(h)
  for _, p in ipairs(ports) do
    local ok, err = servers.wait_port(p, opts.timeout or 20, h.pid)
    if not ok then
      h.stop()
      error("servers.fwdproxy: " .. err .. ": " .. (readfile(dir .. "/stdout.log") or ""))
    end
  end
  return h
end

---------------------------------------------------------------- cleanup
function servers.stop_all()
  for h in pairs(live) do pcall(h.stop) end
end

local function cleanup()
  servers.stop_all()
  if os.getenv("SILK_KEEP_TMP") ~= "1" then
    for _, d in ipairs(tmpdirs) do
      if d:match("^/tmp/silk%-") then run("rm -rf " .. q(d)) end
    end
  end
  tmpdirs = {}
end
servers.cleanup = cleanup

-- finaliser run when the lua_State closes (lua_close / os.exit(c, true) / end of script)
local proxy = newproxy and newproxy(true)
if proxy then
  getmetatable(proxy).__gc = function() pcall(cleanup) end
else -- Lua 5.2+: __gc on tables
  proxy = setmetatable({}, { __gc = function() pcall(cleanup) end })
end
servers._gc_anchor = proxy

return servers
