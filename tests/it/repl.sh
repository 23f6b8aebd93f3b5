#!/bin/sh
# The console and shell REPLs in a real terminal (tmux): line editing,
# multi-line input, history across sessions, and the shell's res/doc/view.
# Usage: sh tests/it/repl.sh path/to/silk
set -u
SILK=${1:?usage: repl.sh path/to/silk}
command -v tmux >/dev/null || { echo "repl.sh: tmux is required (scripts/install-deps installs it)"; exit 1; }
command -v python3 >/dev/null || { echo "repl.sh: python3 not installed: skipped"; exit 0; }

T=$(mktemp -d /tmp/silk-repl.XXXXXX)
chmod 700 "$T"
SOCK=$T/console.sock
TM="tmux -L silk-repl-$$"
SERVER_PID= HTTP_PID=
cleanup() {
    $TM kill-server 2>/dev/null
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "repl.sh: FAIL: $*"; echo "--- screen:"; $TM capture-pane -p -t repl 2>/dev/null; exit 1; }

# `silk console PATH` / `silk shell URL` once main.c has them; until then the
# same Lua entry points through `silk eval`.
if "$SILK" help 2>&1 | grep -q '^  console'; then
    CLIENT="$SILK console $SOCK"
    SHELL_CMD="$SILK shell"
else
    printf 'require("silk.repl").client(arg[1])\n' > "$T/client.lua"
    printf 'require("silk.repl").shell(arg[1])\n' > "$T/shell.lua"
    CLIENT="$SILK eval $T/client.lua $SOCK"
    SHELL_CMD="$SILK eval $T/shell.lua"
fi

# The engine being attached to: a console that runs until we kill it.
cat > "$T/server.lua" <<'EOF'
local silk = require("silk")
local srv = assert(require("silk.core.console").listen(arg[1]))
_G.answer = 42
silk.sleep(120)
srv:close()
EOF
"$SILK" eval "$T/server.lua" "$SOCK" >"$T/server.log" 2>&1 &
SERVER_PID=$!

i=0
while [ ! -S "$SOCK" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$T/server.log"; fail "no console socket"; }
    sleep 0.05
done

# wait_for TEXT: polls the screen for a line containing TEXT (fixed string).
wait_for() {
    i=0
    while ! $TM capture-pane -p -t repl | grep -qF -- "$1"; do
        i=$((i + 1)); [ $i -gt 100 ] && fail "did not see '$1'"
        sleep 0.05
    done
}
# wait_prompt: polls until the screen's last non-blank line is an empty
# prompt: keys typed before that could reach the line editor ahead of a
# Ctrl-C it has not handled yet.
wait_prompt() {
    i=0
    while [ "$($TM capture-pane -p -t repl | sed '/^ *$/d' | tail -n 1 | sed 's/ *$//')" != "silk>" ]; do
        i=$((i + 1)); [ $i -gt 100 ] && fail "no fresh prompt"
        sleep 0.05
    done
}
keys() { $TM send-keys -t repl "$@"; }
start() {
    $TM new-session -d -s repl -x 120 -y 40 \
        "env HOME=$T SILK_HISTORY=$T/history TERM=xterm $1; echo REPL-EXITED; sleep 30"
}

# --- console: evaluation, editing, multi-line, history ---------------------------
start "$CLIENT"
wait_for "silk>"
keys "answer + 1" Enter
wait_for "43"
# editing: a typo fixed with backspace, then a prefix inserted after ^A
keys -l "2 * 9"; keys BSpace; keys -l "4"; keys Enter
wait_for "8"
keys -l "+ 1000"; keys C-a; keys -l "999 "; keys Enter
wait_for "1999"
# cursor movement: insert in the middle with Left
keys -l "'ab'"; keys Left; keys -l "X"; keys Enter
wait_for '"abX"'
# multi-line: the chunk continues while it is incomplete
keys "function twice(x)" Enter
wait_for "..>"
keys "  return x * 2" Enter; keys -l "end"; keys Enter
keys "twice(21)" Enter
wait_for "42"
# errors are shown and the session carries on
keys "error('nope')" Enter
wait_for "error: console:1: nope"
# history: Up recalls the last chunk
keys Up Enter
$TM capture-pane -p -t repl | grep -c "error: console:1: nope" | grep -q 2 || {
    sleep 0.3
    $TM capture-pane -p -t repl | grep -c "error: console:1: nope" | grep -q 2 || fail "Up did not recall the last line"
}
keys C-d
wait_for "REPL-EXITED"
$TM kill-session -t repl
grep -q "twice(21)" "$T/history" || fail "history file lacks twice(21): $(cat "$T/history")"

# a new session finds the history of the last one
start "$CLIENT"
wait_for "silk>"
keys Up Up
wait_for "silk> twice(21)"
keys Enter
wait_for "attempt to call global 'twice'"     # each client starts with fresh globals
keys C-d
wait_for "REPL-EXITED"
$TM kill-session -t repl

# --- shell: fetch, res, doc, view ---------------------------------------------------
mkdir "$T/www"
printf '<html><head><title>Repl page</title></head><body><h1 class="t">Hello shell</h1><p>%s</p></body></html>' \
    "$(head -c 3000 /dev/zero | tr '\0' 'x')" > "$T/www/index.html"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
HTTP_PID=$!
i=0
until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/')" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "no http server"
    sleep 0.05
done

start "$SHELL_CMD http://127.0.0.1:$PORT/"
wait_for "silk>"
wait_for "doc: \"Repl page\""
keys "res.status" Enter
wait_for "200"
keys "doc:one('h1'):text()" Enter
wait_for '"Hello shell"'
keys "view(doc:one('h1'))" Enter
wait_for '<h1 class="t">Hello shell</h1>'
keys "view(doc, 60)" Enter
wait_for "bytes more)"
keys "fetch('http://127.0.0.1:$PORT/').status" Enter
sleep 0.2
# Ctrl-C: cancels the running line, drops what was typed, never exits (^D does)
keys "silk.sleep(30) return 'not cancelled'" Enter
sleep 0.3
keys C-c
wait_for "error: cancelled: interrupted (Ctrl-C)"
keys -l "error('typed, then dropped')"; keys C-c
wait_prompt
keys "function dropped()" Enter
wait_for "..>"
keys C-c
wait_prompt
keys "'still' .. ' here'" Enter
wait_for '"still here"'
$TM capture-pane -p -t repl | grep -q "typed, then dropped" && \
    ! $TM capture-pane -p -t repl | grep -q "error: console:1: typed, then dropped" || \
    fail "the line typed before Ctrl-C was not dropped"
$TM capture-pane -p -t repl | grep -q "REPL-EXITED" && fail "Ctrl-C ended the shell"
keys C-d
wait_for "REPL-EXITED"

kill "$SERVER_PID" 2>/dev/null
echo "repl.sh: ok"
