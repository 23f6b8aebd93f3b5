--- silk.repl: the read-eval-print loop of `silk console PATH` and `silk shell [URL]`.
--
--   repl.client(path)  attach to the console of a running engine (main task)
--   repl.shell([url])  evaluate in this engine; fetch(url), view(node), and,
--                      with url, res and doc bound (main task)
--   repl.incomplete(src) -> true when src only lacks its end ("<eof>" errors)
--
-- Lines are read on the loop (silk.core.console.readline): with libedit's
-- line editing and a history in $SILK_HISTORY or ~/.silk_history when stdin
-- is a terminal, plain lines (no prompt) otherwise. A chunk continues over
-- several lines ("..> ") until it compiles or fails for another reason than
-- its end. Results and errors are written to stdout in input order.
--
-- Ctrl-C (SIGINT) does not end a REPL, ^D (end of input) does: at the
-- prompt it drops what was typed, chunk so far included, and prompts again;
-- while a line of `silk shell` runs, it cancels that line.

local silk = require("silk")
local cc = require("silk.core.console")
local engine = require("silk.core.engine")
local console = require("silk.console")
local pretty = require("silk.pretty")

local repl = {}

function repl.incomplete(src)
  if loadstring("return " .. src) then return false end
  local f, err = loadstring(src)
  if f then return false end
  return err:sub(-7) == "'<eof>'"
end

local function history_path()
  local p = os.getenv("SILK_HISTORY")
  if p and p ~= "" then return p end
  local home = os.getenv("HOME")
  return home and (home .. "/.silk_history") or nil
end

-- Reads chunks and hands them to evaluate(src) -> ok, text | nil, why
-- until end of input (or until evaluate says the other end is gone).
local function loop(evaluate, prompt)
  local tty = cc.tty()
  local hist = tty and history_path()
  if hist then cc.history_load(hist) end
  local buf, last
  while true do
    local line = cc.readline(buf and "..> " or prompt)
    if line == nil then break end
    if line == false then                   -- Ctrl-C at the prompt
      buf = nil
    else
      buf = buf and (buf .. "\n" .. line) or line
    end
    if buf == nil or buf:match("^%s*$") then
      buf = nil
    elseif not repl.incomplete(buf) then
      if tty and buf ~= last then cc.history_add(buf) end   -- no repeated entries
      last = buf
      local ok, text = evaluate(buf)
      buf = nil
      if ok == nil then
        io.stderr:write("silk: console: ", tostring(text), "\n")
        break
      end
      if not ok then text = "error: " .. text end
      if text ~= "" then io.stdout:write(text, "\n") end
      io.stdout:flush()
    end
  end
  if hist then cc.history_save(hist) end
  if tty then io.stdout:write("\n") end
end

--- `silk console PATH`.
function repl.client(path)
  if not path then error("silk console: a socket path is needed", 0) end
  local conn, err = cc.connect(path)
  if not conn then error("silk console: " .. err, 0) end
  if cc.tty() then io.stdout:write("silk console ", path, " (help() for the built-ins, ^D to leave)\n") end
  engine.on_interrupt(cc.interrupt_input)
  loop(function(src) return conn:request(src) end, "silk> ")
  conn:close()
end

local function view(node, max)
  if node == nil then error("bad argument #1 to 'view' (node expected)", 2) end
  max = max or 2000
  local html = type(node) == "string" and node or node:html()
  if #html > max then
    html = html:sub(1, max) .. string.format("... (%d bytes more)", #html - max)
  end
  return pretty.raw(html)
end

--- `silk shell [URL]`.
function repl.shell(url)
  local fetch = silk.fetch
  local timeout = tonumber(os.getenv("SILK_SHELL_TIMEOUT")) or 60
  local extra = { fetch = fetch, view = view }
  local env = console.new_env(extra)
  if url then
    local res, err = fetch(url)
    if not res then
      io.stderr:write("silk shell: ", url, ": ", tostring(err and err.message or err), "\n")
    else
      rawset(env, "res", res)
      local doc, perr = silk.html((res:text()), res.url)
      rawset(env, "doc", doc)
      if cc.tty() or os.getenv("SILK_SHELL_BANNER") then
        io.stdout:write(string.format("res: %d %s (%d bytes)\ndoc: %s\n", res.status, res.url,
                                      #(res.body or ""), doc and pretty.format(doc:title()) or tostring(perr)))
      end
    end
  end
  local running                          -- the line being evaluated, if any
  engine.on_interrupt(function()
    if running then running:cancel("interrupted (Ctrl-C)") else cc.interrupt_input() end
  end)
  loop(function(src)
    local t = silk.spawn{ console.evaluate, src, env, name = "shell", timeout = timeout }
    running = t
    local ok, res = t:join()
    running = nil
    if ok then return true, res or "" end
    return false, console.describe_error(res, timeout)
  end, "silk> ")
end

return repl
