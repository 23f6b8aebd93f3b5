#!/bin/sh
# tests/lib/nginx.sh: start/stop Debian's nginx on 127.0.0.1 for the benchmarks, the demo and tests/it.
#
#   tests/lib/nginx.sh start STATE_DIR ROOT PORT [ROOT2 PORT2 ...]   # one server block per ROOT/PORT
#   tests/lib/nginx.sh stop STATE_DIR
#
# worker_processes 1, keep-alive on (unbounded requests per connection),
# sendfile, no gzip, access log off unless NGINX_ACCESS_LOG=1 (then
# STATE_DIR/access.log, format: $msec $connection $connection_requests $status
# $request_time $server_port $bytes_sent "$request" "$http_user_agent").
# Self-stopping: a watchdog in nginx's process group ends it after NGINX_TTL
# seconds (default 1800) or when process OWNER_PID (default: the caller of
# this script) is gone. `stop` sends TERM, waits up to 5 s, then KILLs the group.
# NGINX_CONNECTIONS: worker_connections (default 8192); NGINX_LIMIT_RATE:
# limit_rate of every response (e.g. 16k bytes/s; default none), for
# benchmarks that need requests to wait on the network.
set -eu

alive() { s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }

cmd=${1:-}; state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || { sed -n '2,16p' "$0"; exit 2; }

case "$cmd" in
start)
  shift 2
  [ $# -ge 2 ] || { echo "nginx.sh: start needs ROOT PORT" >&2; exit 2; }
  mkdir -p "$state/tmp"
  state=$(cd "$state" && pwd)
  conf="$state/nginx.conf"
  {
    [ "$(id -u)" = 0 ] && echo "user root;"
    echo "worker_processes 1;"
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536
    echo "worker_rlimit_nofile $nofile;"
    echo "pid $state/nginx.pid;"
    echo "error_log $state/error.log warn;"
    echo "events { worker_connections ${NGINX_CONNECTIONS:-8192}; multi_accept on; }"
    echo "http {"
    echo "  include /etc/nginx/mime.types; default_type application/octet-stream;"
    echo "  log_format silk '\$msec \$connection \$connection_requests \$status \$request_time \$server_port \$bytes_sent \"\$request\" \"\$http_user_agent\"';"
    if [ "${NGINX_ACCESS_LOG:-0}" = 1 ]; then echo "  access_log $state/access.log silk;"; else echo "  access_log off;"; fi
    echo "  sendfile on; tcp_nopush on; tcp_nodelay on; server_tokens off;"
    echo "  keepalive_timeout 65s; keepalive_requests 1000000; open_file_cache max=10000 inactive=60s;"
    if [ -n "${NGINX_LIMIT_RATE:-}" ]; then echo "  limit_rate $NGINX_LIMIT_RATE;"; fi
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $state/tmp/$t;"; done
    while [ $# -ge 2 ]; do
      root=$(cd "$1" && pwd)
      echo "  server { listen 127.0.0.1:$2; server_name localhost; root $root;"
      echo "    location / { try_files \$uri \$uri/ =404; } }"
      shift 2
    done
    echo "}"
  } > "$conf"
  /usr/sbin/nginx -t -q -p "$state" -c "$conf" -g 'daemon off;'
  owner=${OWNER_PID:-$PPID}
  ttl=${NGINX_TTL:-1800}
  rm -f "$state/spawn.pid"
  # own process group (setsid); the watchdog shares it and ignores TERM, so
  # `stop` can always finish with KILL of the whole group
  setsid sh -c '
    echo $$ > "$0/spawn.pid"
    ( trap "" TERM; n=0
      alive() { s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
      while alive "$1" && [ $n -lt "$2" ]; do sleep 1; n=$((n+1)); done
      kill -TERM -$$ 2>/dev/null; sleep 3; kill -KILL -$$ 2>/dev/null ) >/dev/null 2>&1 </dev/null &
    exec /usr/sbin/nginx -p "$0" -c "$0/nginx.conf" -g "daemon off;"
  ' "$state" "$owner" "$ttl" </dev/null >>"$state/stdout.log" 2>&1 &
  i=0
  while [ ! -s "$state/spawn.pid" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
  pid=$(cat "$state/spawn.pid")
  # wait for every port
  grep -o 'listen 127.0.0.1:[0-9]*' "$conf" | cut -d: -f2 | while read -r port; do
    i=0
    until bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; do
      alive "$pid" || { echo "nginx.sh: nginx exited:" >&2; cat "$state/error.log" "$state/stdout.log" >&2; exit 1; }
      i=$((i+1)); [ $i -lt 200 ] || { echo "nginx.sh: port $port not listening" >&2; exit 1; }
      sleep 0.05
    done
  done
  echo "$pid"
  ;;
stop)
  [ -s "$state/spawn.pid" ] || exit 0
  pid=$(cat "$state/spawn.pid")
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while alive "$pid" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL -"$pid" 2>/dev/null || true
  rm -f "$state/spawn.pid"
  ;;
*) echo "nginx.sh: unknown command $cmd" >&2; exit 2 ;;
esac
