# A private nginx for integration tests and benchmarks (sourced, not run).
#
# It runs as the current user on a free 127.0.0.1 port, from a config
# written into its own folder (pid file, error log, access log and every
# temp path inside it), so it needs no privileges and never touches
# /etc/nginx or /var. It is always stopped: on nginx_stop, on the script's
# exit (the EXIT trap already set, e.g. lib.sh's `rm -rf "$WORK"`, still
# runs after it), and by a watchdog if the script is killed outright.
# Set your own EXIT trap before sourcing this file (a later `trap ... EXIT`
# replaces the composed one), or call nginx_stop from it.
#
# API:
#   nginx_start [CONFIG]   starts it; CONFIG is extra text inside the
#                          server block (more locations). Sets NGINX_PORT,
#                          NGINX_URL (http://127.0.0.1:PORT, no slash),
#                          NGINX_LOG (access log), NGINX_PID, NGINX_DIR.
#                          Returns once it answers, or 1 with the reason
#                          on stderr (within NGINX_START_TIMEOUT seconds).
#   nginx_stop             stops it by PID and waits until it is gone
#                          (returns 1 if it had to be killed with SIGKILL).
#   nginx_requests         lines in the access log once it stops growing.
#   nginx_wait_requests N [SECONDS]
#                          waits until the log has >= N lines (default 5 s);
#                          returns 1 on time-out.
#   nginx_http PATH [HEADER...]
#                          one GET over bash's /dev/tcp (no curl needed);
#                          prints the status code.
#
# Settings (environment, read by nginx_start):
#   NGINX_BIN          nginx binary (default: nginx on PATH, /usr/sbin/nginx)
#   NGINX_ACCESS_LOG   on (default) | off (benchmarks: no log I/O)
#   NGINX_CPU          CPU list to pin nginx to with taskset (default: none)
#   NGINX_WORKER_CONNECTIONS  default 4096, capped by `ulimit -n`
#   NGINX_START_TIMEOUT       seconds (default 10)
#   NGINX_HTTP_CONFIG  extra text inside the http block (zones such as
#                      limit_req_zone, which a server block cannot hold)
#   NGINX_MAX_SECONDS  the watchdog stops nginx after this long even if the
#                      script forgot to (default 1800)
#   WORK               parent folder (lib.sh sets it; else one is made and
#                      removed on exit)
#
# Locations: / (200 "ok\n" for every method), /status/CODE for CODE in
# 200 201 204 400 401 403 404 429 500 502 503 504 (that status), /session
# (200, echoes the X-Mimic-Session header), /1k.txt (a 1024-byte static
# file), /nginx_status (stub_status), /_ready (the harness's own probe,
# not logged).
#
# The access log format is NGINX_LOG_FORMAT (combined, then $request_time,
# "$http_x_mimic_session" and $msec): pass it to
# `mimic capture --log-format`; with awk, $NF is $msec, $(NF-1) the quoted
# session and $(NF-2) the request time.

# shellcheck disable=SC2016 # nginx variables, not shell expansions
NGINX_LOG_FORMAT='$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time "$http_x_mimic_session" $msec'
NGINX_PID=
NGINX_PORT=
NGINX_URL=
NGINX_LOG=
NGINX_DIR=
_ngx_watchdog=

if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/nginx-XXXXXX")
  _ngx_own_work=1
fi

# Composes with the EXIT trap set before this file was sourced: ours stops
# nginx first, then runs theirs. (`trap -p` inside $( ) shows the caller's
# traps; it prints `trap -- 'CMD' EXIT`, which _ngx_trap_cmd takes apart
# without running CMD.)
_ngx_trap_cmd() { _ngx_prev_exit=$2; }
_ngx_prev_exit=
_ngx_p=$(trap -p EXIT)
if [ -n "$_ngx_p" ]; then
  eval "_ngx_trap_cmd ${_ngx_p#trap }"
fi
if [ -n "${_ngx_own_work:-}" ]; then
  _ngx_prev_exit="rm -rf \"\$WORK\"; $_ngx_prev_exit"
fi
# shellcheck disable=SC2064 # expand the previous command now, on purpose
trap "nginx_stop >/dev/null 2>&1 || true; $_ngx_prev_exit" EXIT
# Without these, a Ctrl-C or `kill` would end bash without the EXIT trap
# in some shells' modes; keep a trap the caller already set.
[ -n "$(trap -p INT)" ] || trap 'exit 130' INT
[ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
unset _ngx_p

_ngx_find_bin() {
  if [ -n "${NGINX_BIN:-}" ]; then
    echo "$NGINX_BIN"
  elif command -v nginx >/dev/null 2>&1; then
    command -v nginx
  elif [ -x /usr/sbin/nginx ]; then
    echo /usr/sbin/nginx
  else
    return 1
  fi
}

# A random port below the kernel's ephemeral range (so client sockets do not
# take it meanwhile) that nothing listens on. A race with another process is
# still possible: nginx_start retries when the bind fails.
_ngx_pick_port() {
  local lo=20000 hi=32000 range p i
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r range _ </proc/sys/net/ipv4/ip_local_port_range
    [ "$range" -gt 21024 ] && hi=$((range - 1))
  fi
  for ((i = 0; i < 50; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    if command -v ss >/dev/null 2>&1; then
      ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue
    fi
    # Connecting succeeds only if something listens there.
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      continue
    fi
    echo "$p"
    return 0
  done
  return 1
}

# _ngx_write_conf PORT EXTRA: the config for one attempt.
_ngx_write_conf() {
  local port=$1 extra=$2 wc user_line="" log_line codes c
  wc=${NGINX_WORKER_CONNECTIONS:-4096}
  local nofile
  nofile=$(ulimit -n)
  if [ "$nofile" != unlimited ] && [ "$wc" -gt $((nofile - 64)) ]; then
    wc=$((nofile - 64))
  fi
  # Under root the workers would switch to "nobody", who cannot enter the
  # private folder; stay the current user as asked. (For any other user
  # the directive is ignored with a warning, so it is left out.)
  if [ "$(id -u)" -eq 0 ]; then
    user_line="user $(id -un) $(id -gn);"
  fi
  if [ "${NGINX_ACCESS_LOG:-on}" = off ]; then
    log_line="access_log off;"
  else
    log_line="access_log $NGINX_DIR/access.log mimic;"
  fi
  codes=""
  for c in 200 201 204 400 401 403 404 429 500 502 503 504; do
    codes="$codes
        location = /status/$c { return $c \"status $c\\n\"; }"
  done
  cat >"$NGINX_DIR/nginx.conf" <<EOF
# written by tests/integration/nginx.sh
$user_line
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections $wc; }
http {
    log_format mimic '$NGINX_LOG_FORMAT';
    $log_line
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    default_type text/plain;
    ${NGINX_HTTP_CONFIG:-}
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $NGINX_DIR/html;
        location / { return 200 "ok\\n"; }
        location = /session { return 200 "\$http_x_mimic_session\\n"; }
        location = /_ready { access_log off; return 200 "$(basename "$NGINX_DIR")"; }
        location = /1k.txt { }
        location = /nginx_status { stub_status; }$codes
$extra
    }
}
EOF
}

# nginx_http PATH [HEADER...]: prints the status code of one GET, or
# nothing (and returns 1) when there is no answer within 2 s.
nginx_http() {
  local path=$1 h fd line
  shift
  # (A bare `exec ... 2>/dev/null` would silence this shell for good.)
  { exec {fd}<>"/dev/tcp/127.0.0.1/$NGINX_PORT"; } 2>/dev/null || return 1
  {
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' "$path"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
  } >&"$fd"
  if ! IFS= read -r -t 2 line <&"$fd"; then
    exec {fd}>&-
    return 1
  fi
  exec {fd}>&-
  line=${line%$'\r'}
  case $line in
    HTTP/1.[01]\ [0-9][0-9][0-9]*) echo "${line:9:3}" ;;
    *) return 1 ;;
  esac
}

# Whether our nginx answers: /_ready returns the folder's random name, so
# another server that holds the port (nginx retries its bind for a while
# before it gives up) is not taken for ours. It is not logged: the access
# log holds the caller's requests only.
_ngx_ready() {
  local fd reply token
  token=$(basename "$NGINX_DIR")
  # (A bare `exec ... 2>/dev/null` would silence this shell for good.)
  { exec {fd}<>"/dev/tcp/127.0.0.1/$NGINX_PORT"; } 2>/dev/null || return 1
  printf 'GET /_ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
    >&"$fd"
  reply=$(timeout 2 cat <&"$fd" 2>/dev/null) || true
  exec {fd}>&-
  [[ $reply == *"$token"* ]]
}

nginx_start() {
  local extra=${1:-} bin attempt port deadline pin=()
  if [ -n "$NGINX_PID" ]; then
    echo "nginx_start: nginx is already running (pid $NGINX_PID)" >&2
    return 1
  fi
  if ! bin=$(_ngx_find_bin); then
    echo "nginx_start: nginx not found (Debian package nginx)" >&2
    return 1
  fi
  if [ -n "${NGINX_CPU:-}" ]; then
    command -v taskset >/dev/null 2>&1 || {
      echo "nginx_start: NGINX_CPU is set but taskset is missing" >&2
      return 1
    }
    pin=(taskset -c "$NGINX_CPU")
  fi
  NGINX_DIR=$(mktemp -d "$WORK/nginx-XXXXXX")
  mkdir -p "$NGINX_DIR/tmp" "$NGINX_DIR/html"
  head -c 1024 /dev/zero | tr '\0' 'x' >"$NGINX_DIR/html/1k.txt"
  for ((attempt = 1; attempt <= 10; attempt++)); do
    if ! port=$(_ngx_pick_port); then
      echo "nginx_start: no free port found" >&2
      return 1
    fi
    NGINX_PORT=$port
    NGINX_URL="http://127.0.0.1:$port"
    NGINX_LOG="$NGINX_DIR/access.log"
    _ngx_write_conf "$port" "$extra"
    : >"$NGINX_DIR/error.log"
    # -e: the error log before the config is read (else /var/log/nginx).
    # Its own stdout/stderr go to a file so that nothing it inherits keeps
    # the caller's pipes open.
    "${pin[@]}" "$bin" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
      -e "$NGINX_DIR/error.log" >"$NGINX_DIR/stdout" 2>&1 </dev/null &
    NGINX_PID=$!
    _ngx_start_watchdog
    deadline=$((SECONDS + ${NGINX_START_TIMEOUT:-10}))
    while :; do
      if ! kill -0 "$NGINX_PID" 2>/dev/null; then
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
        _ngx_stop_watchdog
        if grep -q "Address already in use" "$NGINX_DIR/error.log" \
          "$NGINX_DIR/stdout" 2>/dev/null; then
          break # someone took the port: try another
        fi
        echo "nginx_start: nginx exited at start; its messages:" >&2
        cat "$NGINX_DIR/error.log" "$NGINX_DIR/stdout" >&2
        return 1
      fi
      if _ngx_ready; then
        return 0
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "nginx_start: no answer on $NGINX_URL within" \
          "${NGINX_START_TIMEOUT:-10} s; its messages:" >&2
        cat "$NGINX_DIR/error.log" >&2
        nginx_stop >/dev/null 2>&1 || true
        return 1
      fi
      sleep 0.05
    done
  done
  echo "nginx_start: the port was taken 10 times in a row" >&2
  return 1
}

# The watchdog stops nginx if this shell disappears without running its
# traps (SIGKILL, e.g. a test runner's time-out) or after NGINX_MAX_SECONDS.
_ngx_start_watchdog() {
  local parent=$$ pid=$NGINX_PID max=${NGINX_MAX_SECONDS:-1800}
  local fifo=$NGINX_DIR/watchdog.fifo
  [ -p "$fifo" ] || mkfifo "$fifo"
  (
    trap - EXIT INT TERM
    # It waits on a FIFO nobody writes to rather than running sleep, so
    # that killing it leaves no child behind.
    exec 3<>"$fifo"
    end=$((SECONDS + max))
    while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null &&
      [ "$SECONDS" -lt "$end" ]; do
      read -r -t 1 -u 3 _ || :
    done
    kill -TERM "$pid" 2>/dev/null || true
  ) >/dev/null 2>&1 </dev/null &
  _ngx_watchdog=$!
}

_ngx_stop_watchdog() {
  if [ -n "$_ngx_watchdog" ]; then
    # SIGKILL: right after the fork the subshell still has this shell's
    # traps, and a TERM caught there would run our EXIT trap (rm -rf WORK)
    # in it. It has no child to leave behind.
    kill -KILL "$_ngx_watchdog" 2>/dev/null || true
    wait "$_ngx_watchdog" 2>/dev/null || true
    _ngx_watchdog=
  fi
}

nginx_stop() {
  local i rc=0
  _ngx_stop_watchdog
  [ -n "$NGINX_PID" ] || return 0
  # SIGQUIT: graceful (finish open requests, workers exit), then the master.
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
  fi
  if kill -0 "$NGINX_PID" 2>/dev/null; then
    echo "nginx_stop: nginx $NGINX_PID did not stop; killing it" >&2
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    rc=1
  fi
  # Reap it (bash has usually done so already); never block on one that
  # somehow survived SIGKILL.
  kill -0 "$NGINX_PID" 2>/dev/null || wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
  return "$rc"
}

# nginx writes each log line with one write() when no buffer= is set, right
# after the response went out, so a client can see the answer a moment
# before its line is there: wait until the count stops moving.
nginx_requests() {
  local n m i
  [ -f "$NGINX_LOG" ] || { echo 0; return 0; }
  n=$(awk 'END { print NR }' "$NGINX_LOG")
  for ((i = 0; i < 40; i++)); do
    sleep 0.05
    m=$(awk 'END { print NR }' "$NGINX_LOG")
    [ "$m" = "$n" ] && break
    n=$m
  done
  echo "$n"
}

nginx_wait_requests() {
  local want=$1 secs=${2:-5} end
  end=$((SECONDS + secs))
  while :; do
    if [ -f "$NGINX_LOG" ] &&
      [ "$(awk 'END { print NR }' "$NGINX_LOG")" -ge "$want" ]; then
      return 0
    fi
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
}
