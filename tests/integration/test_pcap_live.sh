#!/usr/bin/env bash
# Live capture on loopback, then exact replay of what was recorded:
#  - `mimic capture --iface lo --filter ... --record` while curl sends a
#    known mix of requests to a private nginx: the model has exactly the
#    requests sent (and nginx logged), their statuses, the login token's
#    correlation rule; Ctrl-C ends the capture and writes the model;
#  - `mimic replay --exact --scale 2` sends every recorded session twice,
#    each copy its own session id, and the item requests carry the token
#    this run's login returned (nginx refuses any other), so none fails;
#  - without the rights to capture, mimic says what is needed.
# Needs root (or CAP_NET_RAW): skipped otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
need curl sqlite3 jq
[ "$(id -u)" -eq 0 ] || skip "live capture needs root"

# /api/login answers a fresh token; /api/items/ wants one of those.
nginx_start '
        location = /api/login {
          default_type application/json;
          return 200 "{\"token\":\"tok-$request_id\",\"user\":{\"id\":\"$request_id\"}}";
        }
        location /api/items/ {
          if ($http_authorization !~ "^Bearer tok-[0-9a-f]{32}$") { return 401 "no\n"; }
          return 200 "item\n";
        }' || { echo "nginx did not start"; exit 1; }

# Can we capture here at all (containers may deny it even to root)?
rc=$(run_status "$MIMIC" capture -q --iface lo --count 1 --duration 1s \
  -o "$WORK/probe.db")
if grep -q "needs root or the CAP_NET_RAW" "$WORK/last.err"; then
  skip "no capture permission: $(head -c 200 "$WORK/last.err")"
fi

"$MIMIC" capture --iface lo --filter "tcp port $NGINX_PORT" --record \
  -o "$WORK/live.db" 2>"$WORK/capture.err" &
cap=$!
for _ in $(seq 1 100); do
  grep -q "capturing on lo" "$WORK/capture.err" && break
  sleep 0.05
done
sleep 0.3 # the socket is live once the message is printed; let it settle

: >"$NGINX_LOG"
sent=0
send() { curl -s -o /dev/null "$@" && sent=$((sent + 1)); }
for u in 1 2 3 4; do
  ua="mimic-live-test/$u"
  send -A "$ua" "$NGINX_URL/"
  send -A "$ua" "$NGINX_URL/status/404"
  tok=$(curl -s -A "$ua" -H 'Content-Type: application/json' \
    -d "{\"user\":\"user$u@example.com\",\"password\":\"pw-$u-secret\"}" \
    "$NGINX_URL/api/login" | jq -r .token)
  sent=$((sent + 1))
  for i in 1 2 3; do
    send -A "$ua" -H "Authorization: Bearer $tok" "$NGINX_URL/api/items/$((u * 10 + i))"
  done
  send -A "$ua" "$NGINX_URL/status/500"
done
nginx_wait_requests "$sent" 5 || true
sleep 0.5
kill -INT "$cap"
set +e
wait "$cap"
rc=$?
set -e
check "capture exit after Ctrl-C" 0 "$rc"
check "nginx saw what was sent" "$sent" "$(nginx_requests)"
meta() { q "$WORK/live.db" "SELECT value FROM meta WHERE key = '$1'"; }
check "requests found in the packets = requests sent" "$sent" "$(meta pcap_requests)"
check "responses found = requests sent" "$sent" "$(meta pcap_responses)"
check "requests learned = requests sent" "$sent" "$(meta requests)"
check "nothing lost" 0 "$(meta pcap_gap_bytes)"
check "404s" 4 "$(q "$WORK/live.db" "SELECT SUM(count) FROM endpoint_status
  WHERE status = 404")"
check "4 clients (ip + user agent)" 4 "$(meta clients)"
check "the login token's rule" 1 "$(q "$WORK/live.db" "SELECT COUNT(*)
  FROM correlation WHERE src_loc = 'json' AND src_name = '\$.token'
  AND dst_loc = 'header' AND dst_name = 'authorization'")"
check "Host recorded" "127.0.0.1:$NGINX_PORT" "$(q "$WORK/live.db" "SELECT host
  FROM endpoint WHERE template = '/api/login'")"
check "trace recorded" "$sent" "$(meta trace_requests)"
# Privacy: no password, token or e-mail in the model file.
check_false "no secret in the model" grep -aqE "pw-[0-9]-secret|tok-[0-9a-f]{32}|user[0-9]@example.com" "$WORK/live.db"

# --- exact replay, two copies of every session -------------------------------
: >"$NGINX_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/live.db" --exact --target "$NGINX_URL" \
  --speed 20 --scale 2 --report "$WORK/exact.json" --quiet)
check "exact replay exit" 0 "$rc"
nginx_wait_requests $((2 * sent)) 5 || true
check "every request sent twice" $((2 * sent)) "$(nginx_requests)"
check "report counts them" $((2 * sent)) "$(jq .requests "$WORK/exact.json")"
check "items carried this run's tokens (no 401)" 0 \
  "$(awk '$9 == 401' "$NGINX_LOG" | wc -l)"
check "same statuses as recorded: 404s" 8 "$(awk '$9 == 404' "$NGINX_LOG" | wc -l)"
check "same statuses as recorded: 500s" 8 "$(awk '$9 == 500' "$NGINX_LOG" | wc -l)"
check "every copy its own session id" 8 \
  "$(awk '{ s = $(NF - 1); gsub(/"/, "", s); print s }' "$NGINX_LOG" | sort -u | wc -l)"
check "values put in from responses" 24 "$(jq .references_resolved "$WORK/exact.json")"

# A model from logs has no trace to replay exactly.
printf '127.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 2 "-" "x"\n' \
  >"$WORK/a.log"
"$MIMIC" capture -q -o "$WORK/log.db" "$WORK/a.log"
rc=$(run_status "$MIMIC" replay "$WORK/log.db" --exact --target "$NGINX_URL")
check "no trace: exit 1" 1 "$rc"
check_true "no trace: says --record" grep -q -- "--record" "$WORK/last.err"

# Without privileges the message says what is needed.
if command -v setpriv >/dev/null 2>&1; then
  rc=$(run_status setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all "$MIMIC" capture --iface lo --duration 1s -o /tmp/never.db)
  check "unprivileged capture fails" 1 "$rc"
  check_true "it says root or CAP_NET_RAW" grep -q "root or the CAP_NET_RAW" "$WORK/last.err"
fi
finish
