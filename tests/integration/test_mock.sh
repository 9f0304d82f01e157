#!/usr/bin/env bash
# `mimic mock`: answers learned endpoints with the learned status mix,
# response times and sizes, unknown paths with 404; keep-alive and
# pipelining keep answers in request order; --time-scale shortens the
# delays; its access log reads back into `mimic capture` with the session
# header as the session key; SIGTERM stops it promptly with the log
# complete; bad options and addresses are refused.
. "$(dirname "$0")/lib.sh"
need curl awk sqlite3 timeout

# A model with known answers: /api/users/{id} 80% 200 (500 bytes) and 20%
# 404 (20 bytes), 50 ms; /slow 200, 2000 bytes, 300 ms.
awk 'BEGIN { srand(3); t = 1700000000
  for (i = 0; i < 400; i++) {
    t++; s = i % 5 == 0 ? 404 : 200
    ts = strftime("%d/%b/%Y:%H:%M:%S", t, 1)
    printf "10.0.0.%d - - [%s +0000] \"GET /api/users/%d HTTP/1.1\" %d %d \"-\" \"ua\" 0.050\n", i % 50, ts, int(rand() * 1000), s, s == 200 ? 500 : 20
    if (i % 4 == 0)
      printf "10.0.0.%d - - [%s +0000] \"GET /slow HTTP/1.1\" 200 2000 \"-\" \"ua\" 0.300\n", i % 50, ts
  } }' >"$WORK/m.log"
"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/m.log"

. "$(dirname "$0")/mock.sh"
trap 'mock_stop; rm -rf "$WORK"' EXIT

# start_mock ARGS...: the mock of m.db; sets URL.
start_mock() {
  mock_start "$WORK/m.db" --max-seconds 120 "$@"
  URL=$MOCK_URL
}

start_mock --log "$WORK/mock.log" --threads 2 --seed 5

# --- answers ------------------------------------------------------------------
check "unknown path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"
check "unknown method on a known path: 404" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/slow")"
out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$URL/slow")
read -r code size secs <<<"$out"
check "/slow: 200" 200 "$code"
check_true "/slow: a learned size, 2000 bytes ($size)" \
  awk -v s="$size" 'BEGIN { exit !(s >= 1980 && s <= 2020) }'
check_true "/slow: the learned 300 ms ($secs s)" \
  awk -v s="$secs" 'BEGIN { exit !(s >= 0.29 && s < 0.6) }'
check "HEAD: no body" 0 "$(curl -s -I -o /dev/null -w '%{size_download}' "$URL/slow")"
check "query strings are not part of the path" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/slow?x=1&y=2")"

# The status mix of /api/users/{id} over 500 requests on keep-alive
# connections: 20% 404 (within 5 points).
# (10 clients at once, 50 requests each on one connection.)
pids=()
for k in $(seq 10); do
  args=()
  for i in $(seq 50); do
    args+=(-o /dev/null "$URL/api/users/$((k * 100 + i))")
  done
  curl -s -w '%{http_code} %{size_download}\n' -H "X-Mimic-Session: $k.1" \
    "${args[@]}" >"$WORK/codes.$k" &
  pids+=($!)
done
wait "${pids[@]}"
cat "$WORK"/codes.* >"$WORK/codes"
n404=$(awk '$1 == 404' "$WORK/codes" | wc -l)
n200=$(awk '$1 == 200' "$WORK/codes" | wc -l)
check "500 answers, 200 or 404 only" 500 $((n404 + n200))
check_true "about 20% 404 ($n404 of 500)" test "$n404" -ge 75 -a "$n404" -le 125
check "/api/users/abc: {id} takes digits only (404)" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/users/abc")"

# --- pipelining: three requests in one write, answers in order ----------------
port=${URL##*:}
exec {fd}<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
got=$(timeout 5 cat <&"$fd" | grep -ao 'HTTP/1.1 [0-9]*' | awk '{ printf "%s ", $2 }')
exec {fd}>&-
check "pipelined answers in request order, slow first" "200 404 200 " "$got"

# --- keep-alive: many requests, one connection -------------------------------
conns=$(curl -s -o /dev/null -w '%{num_connects}\n' "$URL/nope" "$URL/nope" \
  "$URL/nope" | awk '{ n += $1 } END { print n }')
check "curl reused its connection (3 requests, 1 connect)" 1 "$conns"

# A slow answer asked first and a quick one asked meanwhile: the log has
# them in the order they ended, as a server logs requests.
curl -s -o /dev/null "$URL/slow?order=1" &
slow_pid=$!
sleep 0.1
curl -s -o /dev/null "$URL/nope?order=2"
wait "$slow_pid"

# --- the access log reads back into capture -------------------------------------
mock_stop
check "the log is in the order answers ended (quick one first)" "2 1" \
  "$(grep -o 'order=[12]' "$WORK/mock.log" | cut -d= -f2 | paste -sd' ')"
# (Each worker writes its lines in chunks, every 100 ms.)
back=$(awk '{ t = substr($4, 14, 12); split(t, a, ":")
  s = a[1] * 3600 + a[2] * 60 + a[3]; if (s > top) top = s
  if (top - s > worst) worst = top - s } END { printf "%.3f", worst }' "$WORK/mock.log")
check_true "log times go back by little more than the 0.1 s between writes ($back s)" \
  awk -v b="$back" 'BEGIN { exit !(b <= 0.5) }'
# 5 single requests, 500, 1, 3 pipelined, 3 on one connection and 2.
check "SIGTERM: the log holds every request" 514 "$(wc -l <"$WORK/mock.log")"
check_true "log lines carry millisecond times" \
  grep -qE '\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9:]{8}\.[0-9]{3} \+0000\]' "$WORK/mock.log"
"$MIMIC" capture -q -o "$WORK/back.db" --session-key header:X-Mimic-Session \
  "$WORK/mock.log"
check "capture: every line understood" 0 "$(q "$WORK/back.db" "SELECT value FROM meta WHERE key='malformed'")"
check "capture: millisecond resolution" 1000 \
  "$(q "$WORK/back.db" "SELECT value FROM meta WHERE key='time_resolution_us'")"
sessions=$(q "$WORK/back.db" "SELECT value FROM meta WHERE key='sessions'")
missing=$(q "$WORK/back.db" "SELECT value FROM meta WHERE key='session_key_missing'")
check "capture: 14 lines without the header" 14 "$missing"
check_true "capture: the 10 header sessions are told apart ($sessions sessions)" \
  test "$sessions" -ge 10
check "capture: the learned template comes back" 500 \
  "$(q "$WORK/back.db" "SELECT count FROM endpoint WHERE template='/api/users/{id}'")"

# --- --time-scale: delays shrink ---------------------------------------------------
start_mock --time-scale 10 --threads 1 -q
secs=$(curl -s -o /dev/null -w '%{time_total}' "$URL/slow")
check_true "--time-scale 10: /slow in about 30 ms ($secs s)" \
  awk -v s="$secs" 'BEGIN { exit !(s >= 0.025 && s < 0.2) }'
t0=$(date +%s%N)
mock_stop
t1=$(date +%s%N)
check_true "SIGTERM when idle: stopped within 2 s ($(((t1 - t0) / 1000000)) ms)" \
  test $(((t1 - t0) / 1000000)) -lt 2000

# --- refusals ----------------------------------------------------------------------
check "no --listen: usage error" 2 "$(run_status "$MIMIC" mock "$WORK/m.db")"
check "bad --listen: exit 1" 1 "$(run_status "$MIMIC" mock "$WORK/m.db" --listen nowhere:x1)"
check "missing model: exit 1" 1 "$(run_status "$MIMIC" mock "$WORK/none.db" --listen 127.0.0.1:0)"
check "bad --threads: usage error" 2 \
  "$(run_status "$MIMIC" mock "$WORK/m.db" --listen 127.0.0.1:0 --threads 0)"
finish
