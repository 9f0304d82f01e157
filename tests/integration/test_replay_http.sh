#!/usr/bin/env bash
# `mimic replay`'s HTTP options and pacing against a real nginx on
# 127.0.0.1: HTTP/2 (h2c and over TLS), TLS with a self-signed certificate
# (refused without --insecure, accepted with it), extra headers, the
# session header's name or its absence, --max-connections, --timeout, and
# the pacing options --spawn-rate, --delay-min/--delay-max, --time-scale
# and --keep-think-time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
need jq awk openssl ss

# One endpoint (GET /), sessions that never end, no think time.
"$MIMIC_SRC/tools/make-model.sh" "$MIMIC_SRC/models/bench-root.sql" \
  "$WORK/root.db" >/dev/null
# A learned model with think times, for the pacing checks.
"$GENLOG" --lines 5000 --seed 9 -o "$WORK/s.log"
"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/s.log"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
H2C_PORT=$(_ngx_pick_port)
TLS_PORT=$(_ngx_pick_port)
[ "$H2C_PORT" != "$TLS_PORT" ] || TLS_PORT=$(_ngx_pick_port)
# Extra listeners on the same server; /need-header answers 200 only with
# the header the test sends, /need-other only with a session header under
# another name; /slow.txt trickles 1 KiB at 16 bytes/s.
nginx_start "
        listen 127.0.0.1:$H2C_PORT http2;
        listen 127.0.0.1:$TLS_PORT ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        location = /need-header {
            if (\$http_x_team != \"blue\") { return 418; }
            return 200 \"ok\\n\";
        }
        location = /slow.txt { limit_rate 16; try_files /1k.txt =404; }" ||
  { echo "nginx did not start"; exit 1; }
head -c 1024 /dev/zero | tr '\0' x >"$NGINX_DIR/html/1k.txt"

# replay MODEL URL [options]: a closed run of 4 users x 50 requests of
# GET / (or of the model's endpoints) into $WORK/r.json.
replay() {
  local model=$1 url=$2
  shift 2
  run_status "$MIMIC" replay "$model" --target "$url" --users 4 \
    --min-request-count 50 --max-request-count 50 --delay-min 0 \
    --delay-max 0 --threads 1 --seed 3 --quiet --report "$WORK/r.json" "$@"
}
# Requests in nginx's log whose protocol is $1 ("HTTP/2.0").
count_proto() { awk -v p="$1\"" '$8 == p' "$NGINX_LOG" | wc -l; }

# --- HTTP/2 --------------------------------------------------------------
: >"$NGINX_LOG"
check "h2c: exit" 0 "$(replay "$WORK/root.db" "http://127.0.0.1:$H2C_PORT" --http2)"
check "h2c: every request answered" 200 "$(jq .responses "$WORK/r.json")"
nginx_wait_requests 200 || true
check "h2c: nginx saw HTTP/2.0 only" 200 "$(count_proto HTTP/2.0)"

: >"$NGINX_LOG"
check "HTTP/1.1 by default" 0 "$(replay "$WORK/root.db" "$NGINX_URL")"
nginx_wait_requests 200 || true
check "HTTP/1.1: nginx saw HTTP/1.1 only" 200 "$(count_proto HTTP/1.1)"

# --- TLS -----------------------------------------------------------------
tls="https://127.0.0.1:$TLS_PORT"
check "self-signed TLS without --insecure: target never answered" 4 \
  "$(replay "$WORK/root.db" "$tls")"
check_true "the failures are TLS errors" \
  test "$(jq '.error_reasons.tls // 0' "$WORK/r.json")" -gt 0
: >"$NGINX_LOG"
check "TLS with --insecure: exit" 0 "$(replay "$WORK/root.db" "$tls" --insecure)"
check "TLS with --insecure: every request answered" 200 \
  "$(jq '.status_classes["2xx"] // 0' "$WORK/r.json")"
: >"$NGINX_LOG"
check "TLS + HTTP/2 (ALPN): exit" 0 \
  "$(replay "$WORK/root.db" "$tls" --insecure --http2)"
nginx_wait_requests 200 || true
check "TLS + HTTP/2: nginx saw HTTP/2.0" 200 "$(count_proto HTTP/2.0)"

# Client faults over HTTP/2 (stream-level: the connection stays): a timeout
# ends at its deadline even with its upload paused, an abort at once.
check "TLS + HTTP/2 with timeout and abort faults: exit" 0 \
  "$(replay "$WORK/root.db" "$tls" --insecure --http2 --error-rate 40 \
    --faults timeout,abort --fault-timeout 100ms --users 8)"
check "HTTP/2 timeout faults all timed out" \
  "$(jq '.injected.kinds.timeout.requests' "$WORK/r.json")" \
  "$(jq '.injected.kinds.timeout.error_reasons.timeout' "$WORK/r.json")"
check "HTTP/2 abort faults all aborted" \
  "$(jq '.injected.kinds.abort.requests' "$WORK/r.json")" \
  "$(jq '.injected.kinds.abort.error_reasons.abort' "$WORK/r.json")"
check "HTTP/2: the real requests all answered" 0 "$(jq .real.errors "$WORK/r.json")"

# --- headers -------------------------------------------------------------
sqlite3 "$WORK/root.db" ".backup '$WORK/hdr.db'"
sqlite3 "$WORK/hdr.db" "UPDATE endpoint SET template = '/need-header'"
check "--header: exit" 0 \
  "$(replay "$WORK/hdr.db" "$NGINX_URL" -H 'X-Team: blue')"
check "--header: sent on every request (no 418)" 200 \
  "$(jq '.status_classes["2xx"] // 0' "$WORK/r.json")"
replay "$WORK/hdr.db" "$NGINX_URL" >/dev/null
check "without it nginx answers 418 (the check can fail)" 200 \
  "$(jq '.status_classes["4xx"] // 0' "$WORK/r.json")"

: >"$NGINX_LOG"
replay "$WORK/root.db" "$NGINX_URL" >/dev/null
nginx_wait_requests 200 || true
check "session header by default: <user>.<session> on every line" 200 \
  "$(awk '$(NF - 1) ~ /^"[0-9]+\.[0-9]+"$/' "$NGINX_LOG" | wc -l)"
: >"$NGINX_LOG"
replay "$WORK/root.db" "$NGINX_URL" --no-session-header >/dev/null
nginx_wait_requests 200 || true
check "--no-session-header: none sent" 200 \
  "$(awk '$(NF - 1) == "\"-\""' "$NGINX_LOG" | wc -l)"
: >"$NGINX_LOG"
replay "$WORK/root.db" "$NGINX_URL" --session-header X-Run-Session >/dev/null
nginx_wait_requests 200 || true
check "--session-header NAME: not under the default name" 200 \
  "$(awk '$(NF - 1) == "\"-\""' "$NGINX_LOG" | wc -l)"
rc=$(run_status "$MIMIC" replay "$WORK/root.db" --target "$NGINX_URL" \
  --users 1 --session-header 'Bad Name' --quiet)
check "a bad session header name is a usage error" 2 "$rc"

# --- connections ---------------------------------------------------------
# 40 users without think time, at most 3 connections: sample the client
# sockets to nginx's port while it runs.
"$MIMIC" replay "$WORK/root.db" --target "$NGINX_URL" --users 40 \
  --min-request-count 100000 --max-request-count 100000 --delay-min 0 \
  --delay-max 0 --threads 1 --max-connections 3 --duration 3s \
  --drain-timeout 0s --quiet --report "$WORK/conn.json" &
pid=$!
most=0
for _ in $(seq 1 20); do
  sleep 0.1
  n=$(ss -Htn state established "dport = :$NGINX_PORT" | wc -l)
  [ "$n" -gt "$most" ] && most=$n
done
wait "$pid" || true
check_true "--max-connections 3: at most 3 open at once (most seen: $most)" \
  test "$most" -le 3 -a "$most" -ge 1
check_true "--max-connections 3: requests still flow" \
  test "$(jq .responses "$WORK/conn.json")" -gt 100
check "--max-connections 3: no errors" 0 "$(jq .errors "$WORK/conn.json")"

# --- timeout -------------------------------------------------------------
sqlite3 "$WORK/root.db" ".backup '$WORK/slow.db'"
sqlite3 "$WORK/slow.db" "UPDATE endpoint SET template = '/slow.txt'"
t0=$(date +%s%N)
rc=$(run_status "$MIMIC" replay "$WORK/slow.db" --target "$NGINX_URL" \
  --users 2 --min-request-count 1 --max-request-count 1 --timeout 500ms \
  --quiet --report "$WORK/slow.json")
t1=$(date +%s%N)
check "--timeout: the target never answered in time (exit)" 4 "$rc"
check "--timeout: counted as timeouts" 2 \
  "$(jq '.error_reasons.timeout // 0' "$WORK/slow.json")"
check_true "--timeout: gave up early ($(((t1 - t0) / 1000000)) ms)" \
  test $(((t1 - t0) / 1000000)) -lt 5000

# --- pacing --------------------------------------------------------------
# --spawn-rate: 12 users at 8/s start over about 1.4 s (first request
# of user k at (k-1)/8 s); all at once otherwise.
: >"$NGINX_LOG"
"$MIMIC" replay "$WORK/root.db" --target "$NGINX_URL" --users 12 \
  --min-request-count 3 --max-request-count 3 --delay-min 0 --delay-max 0 \
  --spawn-rate 8 --quiet --report "$WORK/spawn.json"
nginx_wait_requests 36 || true
spread=$(awk '{ s = $(NF - 1); gsub(/"/, "", s); split(s, p, ".")
               if (!(p[1] in first)) first[p[1]] = $NF }
         END { lo = 1e18; hi = 0
               for (u in first) { if (first[u] < lo) lo = first[u]
                                  if (first[u] > hi) hi = first[u] }
               printf "%d", (hi - lo) * 1000 }' "$NGINX_LOG")
check_true "--spawn-rate 8: 12 users start over ~1375 ms (saw $spread ms)" \
  test "$spread" -ge 1200 -a "$spread" -le 2000

# --delay-min/max: the plan's pauses between a user's requests are drawn
# from [200, 300] ms (the dry run shows intended send times exactly), and
# spread over it.
plan=$("$MIMIC" replay "$WORK/root.db" --target "$NGINX_URL" --users 10 \
  --min-request-count 20 --max-request-count 20 --delay-min 200 \
  --delay-max 300 --seed 4 --dry-run 2>/dev/null |
  awk '{ t = substr($1, 2) * 1000; u = $2; sub(/\..*/, "", u)
         if (u in last) printf "%.3f\n", t - last[u]; last[u] = t }' | sort -n)
check "--delay-min/max: 190 planned pauses" 190 "$(wc -l <<<"$plan")"
lo=$(head -n 1 <<<"$plan"); hi=$(tail -n 1 <<<"$plan")
check_true "--delay-min/max: planned pauses within [200, 300] ms ($lo .. $hi)" \
  awk -v a="$lo" -v b="$hi" 'BEGIN { exit !(a >= 200 && b <= 300) }'
check_true "--delay-min/max: and spread over it ($lo .. $hi)" \
  awk -v a="$lo" -v b="$hi" 'BEGIN { exit !(a < 210 && b > 290) }'
# Live, as nginx sees it (start of one request to start of the next, so
# the previous response time is added; $msec has 1 ms resolution): never
# early, and typically within the range (a loaded machine may add to a
# pause; mimic reports such lateness as latency from the intended time).
: >"$NGINX_LOG"
"$MIMIC" replay "$WORK/root.db" --target "$NGINX_URL" --users 3 \
  --min-request-count 6 --max-request-count 6 --delay-min 200 \
  --delay-max 300 --quiet
nginx_wait_requests 18 || true
gaps=$(awk '{ s = $(NF - 1); gsub(/"/, "", s); split(s, p, ".")
              if (p[1] in last) print int(($NF - last[p[1]]) * 1000 + 0.5)
              last[p[1]] = $NF }' "$NGINX_LOG" | sort -n)
check "--delay-min/max: 15 pauses" 15 "$(wc -l <<<"$gaps")"
check_true "--delay-min/max: shortest pause >= 199 ms ($(head -n 1 <<<"$gaps"))" \
  test "$(head -n 1 <<<"$gaps")" -ge 199
med=$(sed -n 8p <<<"$gaps")
check_true "--delay-min/max: median pause within [200, 310] ms ($med)" \
  test "$med" -ge 200 -a "$med" -le 310

# --time-scale 10 divides the learned think times by 10 (same seed, same
# plan otherwise); --keep-think-time keeps them. Gaps from the dry-run plan.
plan_gaps() {
  "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 5 \
    --min-request-count 20 --max-request-count 20 --seed 5 --dry-run "$@" \
    2>/dev/null |
    awk '{ t = substr($1, 2) + 0; u = $2; sub(/\..*/, "", u)
           if (u in last) s += t - last[u]; last[u] = t } END { printf "%.3f", s }'
}
g1=$(plan_gaps)
g10=$(plan_gaps --time-scale 10)
gk=$(plan_gaps --time-scale 10 --keep-think-time)
check_true "--time-scale 10: pauses 10x shorter ($g1 s vs $g10 s)" \
  awk -v a="$g1" -v b="$g10" 'BEGIN { exit !(b > 0 && a / b > 9.9 && a / b < 10.1) }'
check_true "--keep-think-time: pauses kept ($g1 s vs $gk s)" \
  awk -v a="$g1" -v b="$gk" 'BEGIN { exit !(a > 0 && b / a > 0.999 && b / a < 1.001) }'

finish
