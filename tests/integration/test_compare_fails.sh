#!/usr/bin/env bash
# `mimic compare` fails (exit 1) when B is replayed from a deliberately
# different model: A is learned from the project's sample log; A' is A with
# its chain flattened (every next step it ever saw from an endpoint
# equally likely: users no longer prefer the usual paths). A and A' are replayed side by side, A to nginx and A' to mimic mock;
# both logs are captured. B (from A) is measured against A, B' (from A')
# fails on the endpoint and transition mixes, far above what B shows; and B
# compared at the wrong time scale fails on think times. A comparison that
# cannot fail would prove nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/roundtrip.sh"
trap 'rt_stop_mock; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/nginx.sh"
need jq sqlite3 awk
: "${GENLOG:?}"

"$GENLOG" --lines 20000 --seed 7 -o "$WORK/g.log"
"$MIMIC" capture -q -o "$WORK/a.db" "$WORK/g.log"
cp "$WORK/a.db" "$WORK/wrong.db"
sqlite3 "$WORK/wrong.db" \
  "UPDATE transition SET count = 1 WHERE from_ep >= 0 AND to_ep >= 0"

# A day in 7 minutes; 8 s of arrivals, about 600 sessions.
x=200
dur=8
lambda=$(rt_expected "$WORK/a.db" $((dur * x)))
scale=$(awk -v l="$lambda" 'BEGIN { printf "%.4g", 600 / l }')
nginx_start || { echo "nginx did not start"; exit 1; }
mock_start "$WORK/wrong.db" --max-seconds 120 --log "$WORK/mock.log" \
  --time-scale $x
replay() { # replay MODEL URL REPORT
  "$MIMIC" replay "$1" --target "$2" --time-scale $x --scale "$scale" \
    --duration ${dur}s --drain-timeout 40s --seed 3 --quiet --report "$3"
}
replay "$WORK/a.db" "$NGINX_URL" "$WORK/right.json" &
p1=$!
replay "$WORK/wrong.db" "$MOCK_URL" "$WORK/wrong.json" &
p2=$!
rc=0
wait $p1 || rc=$?
check "replay of A exit" 0 "$rc"
rc=0
wait $p2 || rc=$?
check "replay of A' exit" 0 "$rc"
nginx_wait_requests "$(jq .responses "$WORK/right.json")" 10 || true
nginx_stop
rt_stop_mock
check_true "about 600 sessions each ($(jq .sessions "$WORK/right.json"), $(jq .sessions "$WORK/wrong.json"))" \
  test "$(jq .sessions "$WORK/right.json")" -ge 400 -a "$(jq .sessions "$WORK/wrong.json")" -ge 400

"$MIMIC" capture -q -o "$WORK/b.db" --log-format "$NGINX_LOG_FORMAT" \
  --session-key header:X-Mimic-Session "$NGINX_LOG"
"$MIMIC" capture -q -o "$WORK/bw.db" --session-key header:X-Mimic-Session \
  "$WORK/mock.log"

# B' against A: fails, on the mixes.
rc=$(run_status "$MIMIC" compare --json "$WORK/a.db" "$WORK/bw.db" \
  --time-scale $x --ignore-status)
cp "$WORK/last.out" "$WORK/wrong-cmp.json"
check "B' (replayed from A') fails against A: exit 1" 1 "$rc"
check "its verdict says so" false "$(jq .pass "$WORK/wrong-cmp.json")"
"$MIMIC" compare --json "$WORK/a.db" "$WORK/b.db" --time-scale $x \
  --ignore-status >"$WORK/right-cmp.json" || true
for m in endpoint_tvd transition_tvd; do
  w=$(jq ".metrics.$m" "$WORK/wrong-cmp.json")
  t=$(jq ".thresholds.$m" "$WORK/wrong-cmp.json")
  r=$(jq ".metrics.$m" "$WORK/right-cmp.json")
  check_true "$m of B' ($w) over its threshold ($t)" \
    awk -v w="$w" -v t="$t" 'BEGIN { exit !(w > t) }'
  check_true "$m of B' ($w) at least 3 x B's ($r)" \
    awk -v w="$w" -v r="$r" 'BEGIN { exit !(w >= 3 * r) }'
done
echo "--- mimic compare A B' (text)"
"$MIMIC" compare "$WORK/a.db" "$WORK/bw.db" --time-scale $x --ignore-status | head -12 || true

# B at the wrong time scale: its think times and durations 200 x too short.
rc=$(run_status "$MIMIC" compare --json "$WORK/a.db" "$WORK/b.db" --ignore-status)
check "B read without its time scale: exit 1" 1 "$rc"
check_true "think_ks over its threshold then ($(jq .metrics.think_ks "$WORK/last.out"))" \
  jq -e '.metrics.think_ks > .thresholds.think_ks' "$WORK/last.out"
finish
