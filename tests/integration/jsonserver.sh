# json-server (npm, 0.17) as a real REST application for integration tests
# (sourced, not run; source lib.sh and nginx.sh first).
#
# json-server is installed once into the build tree ($MIMIC_TEST_TMP, or
# JS_HOME) with npm, under a lock so that parallel tests share one install;
# node and npm come from Debian (nodejs, npm) and are installed with apt-get
# when missing and allowed (root, or sudo without a password). A test that
# cannot have it is skipped (exit 77). The server runs on a free 127.0.0.1
# port, is stopped by PID on js_stop and on the script's exit (composed with
# the EXIT trap already set), and by a watchdog if the script is killed.
#
# API:
#   js_install             makes sure json-server is there (or skips)
#   js_start DB [MIDDLEWARE.js]
#                          starts it on DB (a db.json it rewrites); sets
#                          JS_PORT, JS_URL, JS_PID. Returns once it answers.
#   js_stop                stops it.
#   js_db                  prints the database as it is now (GET /db),
#                          keys sorted (jq -S).
#   js_wait_db FILE [SECONDS]
#                          waits until the database equals FILE (jq -S
#                          forms), in memory and in its file; returns 1
#                          and prints the difference on time-out.

JS_VERSION=0.17.4
JS_HOME=${JS_HOME:-${MIMIC_TEST_TMP:-/tmp}/json-server-$JS_VERSION}
JS_PID=
JS_PORT=
JS_URL=
JS_DB=
_js_watchdog=

_js_trap_cmd() { _js_prev_exit=$2; }
_js_prev_exit=
_js_p=$(trap -p EXIT)
if [ -n "$_js_p" ]; then
  eval "_js_trap_cmd ${_js_p#trap }"
fi
# shellcheck disable=SC2064 # expand the previous command now, on purpose
trap "js_stop >/dev/null 2>&1 || true; $_js_prev_exit" EXIT
unset _js_p

_js_have_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

js_install() {
  if ! _js_have_node; then
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      sudo -n true 2>/dev/null || skip "node/npm missing and no root to install them"
      sudo=(sudo -n)
    fi
    echo "installing nodejs and npm (Debian packages)"
    "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
      --no-install-recommends nodejs npm >/dev/null 2>&1 ||
      skip "could not install nodejs and npm"
    _js_have_node || skip "node/npm still missing"
  fi
  mkdir -p "$JS_HOME"
  (
    flock -w 300 9 || exit 1
    if [ ! -f "$JS_HOME/node_modules/json-server/package.json" ]; then
      echo "installing json-server@$JS_VERSION into $JS_HOME"
      cd "$JS_HOME" &&
        { [ -f package.json ] || echo '{"private": true}' >package.json; } &&
        timeout 300 npm install --no-audit --no-fund --loglevel=error \
          "json-server@$JS_VERSION" >npm.log 2>&1
    fi
  ) 9>"$JS_HOME/.lock" || true
  [ -f "$JS_HOME/node_modules/json-server/package.json" ] ||
    skip "json-server could not be installed with npm (see $JS_HOME/npm.log)"
}

_js_get() { # _js_get PATH: the body of a GET, or nothing
  curl -s --max-time 2 "$JS_URL$1" 2>/dev/null || true
}

js_start() {
  local db=$1 mw=${2:-} deadline attempt args
  JS_DB=$db
  for ((attempt = 1; attempt <= 5; attempt++)); do
    JS_PORT=$(_ngx_pick_port) || return 1
    JS_URL="http://127.0.0.1:$JS_PORT"
    args=(--port "$JS_PORT" --host 127.0.0.1 --quiet)
    [ -n "$mw" ] && args+=(--middlewares "$mw")
    # The source first: --middlewares takes every word after it.
    node "$JS_HOME/node_modules/json-server/lib/cli/bin.js" "$db" \
      "${args[@]}" >"$WORK/json-server.out" 2>&1 </dev/null &
    JS_PID=$!
    _js_start_watchdog
    deadline=$((SECONDS + 20))
    while kill -0 "$JS_PID" 2>/dev/null; do
      if [ -n "$(_js_get /db)" ]; then
        return 0
      fi
      [ "$SECONDS" -lt "$deadline" ] || break
      sleep 0.1
    done
    if grep -q EADDRINUSE "$WORK/json-server.out" 2>/dev/null; then
      js_stop
      continue
    fi
    echo "js_start: json-server did not answer; its output:" >&2
    cat "$WORK/json-server.out" >&2
    js_stop
    return 1
  done
  return 1
}

_js_start_watchdog() {
  local parent=$$ pid=$JS_PID fifo=$WORK/js-watchdog.fifo
  [ -p "$fifo" ] || mkfifo "$fifo"
  (
    trap - EXIT INT TERM
    exec 3<>"$fifo"
    end=$((SECONDS + 1800))
    while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null &&
      [ "$SECONDS" -lt "$end" ]; do
      read -r -t 1 -u 3 _ || :
    done
    kill -TERM "$pid" 2>/dev/null || true
  ) >/dev/null 2>&1 </dev/null &
  _js_watchdog=$!
}

js_stop() {
  if [ -n "$_js_watchdog" ]; then
    kill -KILL "$_js_watchdog" 2>/dev/null || true
    wait "$_js_watchdog" 2>/dev/null || true
    _js_watchdog=
  fi
  [ -n "$JS_PID" ] || return 0
  kill -TERM "$JS_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$JS_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$JS_PID" 2>/dev/null || true
  wait "$JS_PID" 2>/dev/null || true
  JS_PID=
}

js_db() {
  _js_get /db | jq -S . 2>/dev/null
}

js_wait_db() {
  local want end
  want=$(jq -S . "$1")
  end=$((SECONDS + ${2:-10}))
  while :; do
    # json-server writes its file a moment after it answers.
    if [ "$(js_db)" = "$want" ] && [ "$(jq -S . "$JS_DB" 2>/dev/null)" = "$want" ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$end" ]; then
      diff <(echo "$want") <(js_db) | head -20
      return 1
    fi
    sleep 0.2
  done
}
