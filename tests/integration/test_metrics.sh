#!/usr/bin/env bash
# `mimic replay --metrics-addr`: a scrape taken mid-run passes `promtool
# check metrics`; a real Prometheus on 127.0.0.1 scrapes a replay against
# nginx and, once the run is over (seen through mimic_run_finished during
# --linger), sum(mimic_requests_total) in Prometheus equals the report's
# total and nginx's log; endpoint labels are the model's templates, never
# raw paths; every metric of the shipped Grafana dashboard exists in the
# exposition and every dashboard query is valid PromQL; the server's
# other answers (404, 405, HEAD) and a Ctrl-C during --linger.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
need jq awk curl promtool prometheus
: "${GENLOG:?}"
: "${MIMIC_SRC:?}"
DASH=$MIMIC_SRC/tools/grafana/mimic.json

PROM_PID=
stop_prom() {
  [ -n "$PROM_PID" ] || return 0
  kill -TERM "$PROM_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PROM_PID" 2>/dev/null || true
  wait "$PROM_PID" 2>/dev/null || true
  PROM_PID=
}
# nginx.sh composed the EXIT trap; put Prometheus in front of it.
trap "stop_prom; $(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")" EXIT

"$GENLOG" --lines 20000 --seed 5 -o "$WORK/s.log"
"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/s.log"
nginx_start || { echo "nginx did not start"; exit 1; }

# until SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
until_ok() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

MPORT=$(_ngx_pick_port)
PPORT=$(_ngx_pick_port)
while [ "$PPORT" = "$MPORT" ]; do PPORT=$(_ngx_pick_port); done
PROM=http://127.0.0.1:$PPORT
cat >"$WORK/prom.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mimic
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
YML
promtool check config "$WORK/prom.yml" >/dev/null
prometheus --config.file="$WORK/prom.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prom.log" 2>&1 </dev/null &
PROM_PID=$!
prom_ready() { curl -sf "$PROM/-/ready" >/dev/null; }
if ! until_ok 30 prom_ready; then
  echo "prometheus did not start:"; tail -20 "$WORK/prom.log"; exit 1
fi

# promq EXPR: the first value of an instant query ("" when none).
promq() {
  curl -sf "$PROM/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // ""'
}

# --- a replay scraped by Prometheus, and by promtool mid-run ---------------
"$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 30 \
  --delay-min 0 --delay-max 20 --duration 6s --threads 2 \
  --metrics-addr "127.0.0.1:$MPORT" --linger 5s \
  --report "$WORK/r.json" 2>"$WORK/replay.err" &
RPID=$!
scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics" >"$1"; }
until_ok 10 scrape "$WORK/first.txt" || true
sleep 2
scrape "$WORK/mid.txt" || : >"$WORK/mid.txt"
check_true "mid-run scrape has requests" grep -q '^mimic_requests_total{' "$WORK/mid.txt"
check "mid-run: run not finished" "mimic_run_finished 0" "$(grep '^mimic_run_finished' "$WORK/mid.txt")"
if promtool check metrics <"$WORK/mid.txt" >"$WORK/promtool.out" 2>&1; then
  check "promtool check metrics (mid-run)" ok ok
else
  check "promtool check metrics (mid-run)" ok "$(tr '\n' ' ' <"$WORK/promtool.out")"
fi
# Other answers of the server.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "unknown path: 404" 404 "$(code "http://127.0.0.1:$MPORT/nope")"
check "POST: 405" 405 "$(code -X POST "http://127.0.0.1:$MPORT/metrics")"
check "HEAD: 200" 200 "$(code -I "http://127.0.0.1:$MPORT/metrics")"
check "content type of the text format" "text/plain; version=0.0.4; charset=utf-8" \
  "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$MPORT/metrics")"

# The run ends; during --linger the server shows the totals.
until_ok 20 test -s "$WORK/r.json" || true
until_ok 5 grep -q 'serving the final metrics' "$WORK/replay.err" || true
scrape "$WORK/final.txt" || : >"$WORK/final.txt"
check "after the run: finished" "mimic_run_finished 1" "$(grep '^mimic_run_finished' "$WORK/final.txt")"
total=$(jq .requests "$WORK/r.json")
check_true "the run made requests ($total)" test "$total" -gt 100
check "scrape total = report total" "$total" \
  "$(awk '/^mimic_requests_total\{/ { s += $NF } END { print s + 0 }' "$WORK/final.txt")"
check "histogram count = report total" "$total" \
  "$(awk '/^mimic_request_duration_seconds_count\{/ { s += $NF } END { print s + 0 }' "$WORK/final.txt")"
check "sessions started = report sessions" "$(jq .sessions "$WORK/r.json")" \
  "$(awk '/^mimic_sessions_started_total / { print $2 }' "$WORK/final.txt")"
check "no user left after the run" 0 "$(awk '/^mimic_virtual_users / { print $2 }' "$WORK/final.txt")"
check "nginx saw the report's responses" "$(jq .responses "$WORK/r.json")" "$(nginx_requests)"

# Prometheus: a scrape after the end (finished = 1) carries the totals.
finished_seen() { [ "$(promq 'max(max_over_time(mimic_run_finished[10m]))')" = 1 ]; }
check_true "Prometheus scraped the finished run" until_ok 15 finished_seen
set +e; wait "$RPID"; rc=$?; set -e
check "replay exit" 0 "$rc"
check "Prometheus: sum(mimic_requests_total) = report total" "$total" \
  "$(promq 'sum(last_over_time(mimic_requests_total[10m]))')"
check "Prometheus: histogram count = report total" "$total" \
  "$(promq 'sum(last_over_time(mimic_request_duration_seconds_count[10m]))')"

# Endpoint labels are the model's templates (or "other"), never raw paths.
"$MIMIC" inspect --json "$WORK/m.db" | jq -r '.endpoints[].template' | sort -u >"$WORK/templates.txt"
echo other >>"$WORK/templates.txt"
grep -o 'endpoint="[^"]*"' "$WORK/final.txt" | sed 's/^endpoint="//; s/"$//' | sort -u >"$WORK/labels.txt"
check_true "endpoint labels seen" test -s "$WORK/labels.txt"
check "every endpoint label is a template" "" \
  "$(comm -23 "$WORK/labels.txt" <(sort -u "$WORK/templates.txt") | head -3 | tr '\n' ' ')"
check_true "templates with parameters kept as such" grep -q '{id}' "$WORK/labels.txt"

# --- the dashboard -------------------------------------------------------------
check "dashboard is valid JSON with panels" true "$(jq '.panels | length > 5' "$DASH")"
jq -r '.. | .expr? // empty' "$DASH" >"$WORK/exprs.txt"
check_true "dashboard has queries" test "$(wc -l <"$WORK/exprs.txt")" -gt 10
grep -o 'mimic_[a-z_]*' "$WORK/exprs.txt" | sort -u >"$WORK/used.txt"
awk '!/^#/ { n = $1; sub(/\{.*/, "", n); print n }' "$WORK/final.txt" | sort -u >"$WORK/exposed.txt"
check "every dashboard metric is exposed" "" \
  "$(comm -23 "$WORK/used.txt" "$WORK/exposed.txt" | tr '\n' ' ')"
check_true "dashboard uses the latency histogram" grep -q mimic_request_duration_seconds_bucket "$WORK/used.txt"
# Every query parses and runs in Prometheus (Grafana's variables filled in).
bad=""
while IFS= read -r e; do
  q=${e//\$__rate_interval/1m}
  q=${q//\$job/.*}
  q=${q//\$instance/.*}
  st=$(curl -s "$PROM/api/v1/query" --data-urlencode "query=$q" | jq -r .status)
  [ "$st" = success ] || bad="$bad [$e]"
done <"$WORK/exprs.txt"
check "every dashboard query is valid PromQL" "" "$bad"
check "Prometheus holds the request series" \
  "$(grep -c '^mimic_requests_total{' "$WORK/final.txt")" \
  "$(promq 'count(last_over_time(mimic_requests_total[10m]))')"
stop_prom

# --- Ctrl-C during --linger ends it at once -------------------------------
"$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 2 \
  --min-request-count 3 --max-request-count 3 --delay-min 0 --delay-max 0 \
  --metrics-addr 127.0.0.1:0 --linger 60s --report "$WORK/l.json" 2>"$WORK/l.err" &
LPID=$!
until_ok 10 grep -q 'serving the final metrics' "$WORK/l.err" || true
addr=$(grep -o 'http://[^ ]*/metrics' "$WORK/l.err" | head -1)
check_true "port 0 picks a port and says which ($addr)" curl -sf -o /dev/null "$addr"
t0=$SECONDS
kill -INT "$LPID"
set +e; wait "$LPID"; rc=$?; set -e
check "Ctrl-C in --linger: exit 0" 0 "$rc"
check_true "Ctrl-C in --linger: prompt ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -le 2
check_false "server gone after the run" curl -sf -o /dev/null "$addr"

# A bad address is a usage error before anything is sent.
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 1 --metrics-addr nonsense)
check "bad --metrics-addr: exit 2" 2 "$rc"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 1 --metrics-addr 999.0.0.1:1)
check "unusable --metrics-addr: exit 1" 1 "$rc"
finish
