#!/usr/bin/env bash
# The private nginx of nginx.sh, which the replay tests stand on: it starts
# on a free port, answers, logs every request with the session header in a
# format that awk and `mimic capture --log-format` read, retries when its
# port is taken, reports a broken config, and leaves no process behind
# however the script ends.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nginx.sh
. "$HERE/nginx.sh"
need curl jq
_ngx_find_bin >/dev/null || skip "nginx is not installed (Debian package nginx)"

# alive PID: the process exists and is not a zombie.
alive() {
  [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# procs_in DIR: nginx masters whose command line names DIR (every nginx of
# the harness has its own folder there; its workers are checked by PID).
procs_in() { pgrep -a nginx | grep -cF -- "$1" || true; }
# none_alive PID...: none of them exists any more.
none_alive() {
  local p
  for p in "$@"; do ! alive "$p" || return 1; done
}

# --- start ------------------------------------------------------------------
# (Started in this shell, never inside $( ): a subshell could not reap it.)
rc=0
nginx_start || rc=$?
check "nginx_start exit" 0 "$rc"
[ "$rc" -eq 0 ] || { finish; exit 1; }
check_true "NGINX_PORT is a port ($NGINX_PORT)" \
  test "$NGINX_PORT" -gt 1023 -a "$NGINX_PORT" -lt 65536
check "NGINX_URL" "http://127.0.0.1:$NGINX_PORT" "$NGINX_URL"
check_true "nginx $NGINX_PID is running" alive "$NGINX_PID"
mapfile -t workers < <(pgrep -P "$NGINX_PID")
check "one worker process" 1 "${#workers[@]}"
check_true "it listens on its port" listening "$NGINX_PORT"
check_true "config lives in its own folder" test -f "$NGINX_DIR/nginx.conf"
check_true "config keeps everything in its folder (no /var, /etc)" \
  bash -c "! grep -Eq '/(var|etc)/' '$NGINX_DIR/nginx.conf'"
check "log empty before any request" 0 "$(nginx_requests)"

# --- requests, log --------------------------------------------------------------
check "GET / body" "ok" "$(curl -sS -H 'X-Mimic-Session: 3.2' "$NGINX_URL/")"
check "GET /session echoes the header" "3.2" \
  "$(curl -sS -H 'X-Mimic-Session: 3.2' "$NGINX_URL/session")"
check "GET /status/503 status" 503 "$(curl -sS -o /dev/null -w '%{http_code}' \
  -H 'X-Mimic-Session: 3.3' "$NGINX_URL/status/503")"
check "POST / status" 200 "$(curl -sS -o /dev/null -w '%{http_code}' \
  -H 'X-Mimic-Session: 3.2' -d 'a=1' "$NGINX_URL/")"
check "GET /1k.txt size" 1024 "$(curl -sS "$NGINX_URL/1k.txt" | wc -c)"
check "nginx_http status" 404 "$(nginx_http /status/404 'X-Mimic-Session: 7.1')"
check "nginx_requests counts every request" 6 "$(nginx_requests)"

# awk reads the fields from the end of the line: $NF = $msec,
# $(NF-1) = "session", $(NF-2) = $request_time.
check "lines with session 3.2" 3 \
  "$(awk '$(NF-1) == "\"3.2\"" { n++ } END { print n + 0 }' "$NGINX_LOG")"
check "the 503 line: session and status" '"3.3" 503' \
  "$(awk '$7 == "/status/503" { print $(NF-1), $9 }' "$NGINX_LOG")"
check "the 1k line: no session" '"-" 1024' \
  "$(awk '$7 == "/1k.txt" { print $(NF-1), $10 }' "$NGINX_LOG")"
now=$(date +%s)
check "every line has a request time and a current \$msec" 6 "$(
  awk -v now="$now" '$(NF-2) ~ /^[0-9]+\.[0-9]{3}$/ &&
    $NF ~ /^[0-9]+\.[0-9]{3}$/ && $NF > now - 60 && $NF < now + 5 { n++ }
    END { print n + 0 }' "$NGINX_LOG"
)"

if command -v wrk >/dev/null 2>&1; then
  before=$(nginx_requests)
  timeout 20 wrk -t1 -c4 -d1s -H 'X-Mimic-Session: 9.1' "$NGINX_URL/" \
    >"$WORK/wrk.out" 2>&1
  done_wrk=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$WORK/wrk.out")
  after=$(nginx_requests)
  # wrk does not count requests still in flight when it stops; nginx may
  # log them: at most one per connection more.
  check_true "wrk's $done_wrk requests are in the log ($((after - before)))" \
    test "$((after - before))" -ge "${done_wrk:-1}" -a \
    "$((after - before))" -le "$((${done_wrk:-0} + 4))"
  check "wrk lines carry its session header" "$((after - before))" \
    "$(awk '$(NF-1) == "\"9.1\"" { n++ } END { print n + 0 }' "$NGINX_LOG")"
else
  echo "note: wrk not installed; its checks skipped"
fi

# mimic capture reads the log with the format the harness exports.
lines=$(nginx_requests)
check "capture reads nginx's log" 0 "$(run_status "$MIMIC" capture -q \
  --log-format "$NGINX_LOG_FORMAT" --session-key header:X-Mimic-Session \
  -o "$WORK/n.db" "$NGINX_LOG")"
"$MIMIC" inspect --json "$WORK/n.db" >"$WORK/n.json"
check "capture learned every line" "$lines" "$(jq .requests "$WORK/n.json")"
check "capture found no malformed line" 0 "$(jq .malformed "$WORK/n.json")"

# --- stop -----------------------------------------------------------------------
pid=$NGINX_PID port=$NGINX_PORT dir=$NGINX_DIR
rc=0
nginx_stop || rc=$?
check "nginx_stop exit" 0 "$rc"
check_true "master $pid is gone" none_alive "$pid"
check_true "its worker ${workers[*]} is gone" none_alive "${workers[@]}"
check "no process of its folder" 0 "$(procs_in "$dir")"
check_true "port $port no longer listens" bash -c \
  "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null"
check "NGINX_PID cleared" "" "$NGINX_PID"
rc=0
nginx_stop || rc=$?
check "nginx_stop twice is harmless" 0 "$rc"

# --- a broken config: a clear error, nothing left -------------------------------
rc=0
nginx_start 'location /x { no_such_directive; }' 2>"$WORK/bad.err" || rc=$?
check "broken config: nginx_start fails" 1 "$rc"
check_true "its message names the directive" \
  grep -q 'unknown directive "no_such_directive"' "$WORK/bad.err"
check "broken config: NGINX_PID stays empty" "" "$NGINX_PID"
check "broken config: nothing running" 0 "$(procs_in "$NGINX_DIR")"

# --- a taken port: the next one is tried ----------------------------------------
nginx_start
busy=$NGINX_PORT
cat >"$WORK/second.sh" <<EOF
set -euo pipefail
WORK=$WORK
. "$HERE/nginx.sh"
# The first port offered is the busy one, then the real choice.
# (It runs in \$( ), so the count of offers goes through a file.)
eval "\$(declare -f _ngx_pick_port | sed '1s/_ngx_pick_port/_ngx_real_pick/')"
_ngx_pick_port() {
  echo x >>"$WORK/offers"
  if [ "\$(wc -l <"$WORK/offers")" -eq 1 ]; then echo $busy; else _ngx_real_pick; fi
}
nginx_start
echo "\$(wc -l <"$WORK/offers") \$NGINX_PORT \$(nginx_http /)"
nginx_stop
EOF
out=$(timeout 60 bash "$WORK/second.sh" 2>"$WORK/second.err") || true
read -r offered port2 status2 <<<"$out" || true
check "taken port: a second port was offered" 2 "${offered:-?}"
check_true "taken port: it runs elsewhere (${port2:-?} != $busy)" \
  test "${port2:-$busy}" != "$busy"
check "taken port: the second nginx answers" 200 "${status2:-?}"
check "taken port: the first still answers" 200 "$(nginx_http /)"
nginx_stop

# --- however a script ends, its nginx ends --------------------------------------
# (1) exit without nginx_stop, with an EXIT trap set before sourcing: both run.
cat >"$WORK/forget.sh" <<EOF
set -euo pipefail
WORK=\$(mktemp -d "$WORK/forget-XXXXXX")
trap 'touch "$WORK/their-trap-ran"; rm -rf "\$WORK"' EXIT
. "$HERE/nginx.sh"
nginx_start
echo "\$NGINX_PID \$NGINX_DIR" \$(pgrep -P "\$NGINX_PID")
false # set -e ends the script here
EOF
timeout 60 bash "$WORK/forget.sh" >"$WORK/forget.out" 2>&1 || true
read -r fpid fdir fworkers <"$WORK/forget.out" || true
# shellcheck disable=SC2086 # a list of PIDs
check_true "exit without stop: nginx ${fpid:-?} ${fworkers:-?} is gone" \
  none_alive "${fpid:-$$}" ${fworkers:-$$}
check "exit without stop: no process of its folder" 0 "$(procs_in "${fdir:-/nonexistent}")"
check_true "exit without stop: the earlier EXIT trap ran too" \
  test -e "$WORK/their-trap-ran"
# (2) SIGKILL: no trap can run; the watchdog stops nginx within ~1 s.
mkfifo "$WORK/killed.fifo"
cat >"$WORK/killed.sh" <<EOF
set -euo pipefail
WORK=$WORK
. "$HERE/nginx.sh"
nginx_start
echo "\$NGINX_PID \$NGINX_DIR" \$(pgrep -P "\$NGINX_PID") >"$WORK/killed.pids"
exec 3<>"$WORK/killed.fifo" # waits there, without a sleep child
read -r -t 60 -u 3 _ || :
EOF
bash "$WORK/killed.sh" >/dev/null 2>&1 &
kpid=$!
for ((i = 0; i < 200; i++)); do
  [ -s "$WORK/killed.pids" ] && break
  sleep 0.05
done
read -r knginx kdir kworkers <"$WORK/killed.pids" || true
kill -KILL "$kpid" 2>/dev/null || true
wait "$kpid" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
  alive "${knginx:-0}" || break
  sleep 0.05
done
# shellcheck disable=SC2086 # a list of PIDs
check_true "SIGKILLed script: nginx ${knginx:-?} ${kworkers:-?} stopped by the watchdog" \
  none_alive "${knginx:-$$}" ${kworkers:-$$}
check "SIGKILLed script: no process of its folder" 0 \
  "$(procs_in "${kdir:-/nonexistent}")"
rm -rf "${kdir:-/nonexistent}"
finish
