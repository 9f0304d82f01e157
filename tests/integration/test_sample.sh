#!/usr/bin/env bash
# The bundled default: the project's own generator writes a realistic log
# (user kinds, sessions, diurnal arrivals, heavy-tailed pauses), capture
# learns it, and the model shows that structure.
. "$(dirname "$0")/lib.sh"
need jq sqlite3
: "${GENLOG:?}"

"$GENLOG" --lines 20000 --seed 1 -o "$WORK/a.log"
"$GENLOG" --lines 20000 --seed 1 -o "$WORK/b.log"
check "generator is deterministic" "$(md5sum <"$WORK/a.log")" "$(md5sum <"$WORK/b.log")"
check "generator wrote the lines asked for" 20000 "$(count_lines "$WORK/a.log")"

"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/a.log"
"$MIMIC" inspect --json "$WORK/m.db" >"$WORK/m.json"
check "all lines learned" 20000 "$(jq '.requests + .malformed' "$WORK/m.json")"
check "no malformed lines" 0 "$(jq .malformed "$WORK/m.json")"
check "latency learned from the request time" true \
  "$(jq '.endpoints[0].latency_us != null' "$WORK/m.json")"
check_true "ids templated" test "$(jq '[.endpoints[] | select(.template | test("\\{id\\}"))] | length' "$WORK/m.json")" -ge 2
eps=$(jq '.endpoints | length' "$WORK/m.json")
check_true "a realistic number of endpoints ($eps)" test "$eps" -ge 10 -a "$eps" -le 80
sessions=$(jq .sessions "$WORK/m.json")
clients=$(jq .clients "$WORK/m.json")
check_true "several sessions per client on average ($sessions / $clients)" \
  test "$sessions" -gt "$clients"
# Heavy-tailed think time: p99 far above the median.
p50=$(jq .think_time_us.p50 "$WORK/m.json")
p99=$(jq .think_time_us.p99 "$WORK/m.json")
check_true "think time heavy-tailed (p99 $p99 >= 10 x p50 $p50)" test "$p99" -ge "$((p50 * 10))"
# Diurnal arrivals: busiest hour at least 3x the quietest.
hours=$(q "$WORK/m.db" "SELECT SUM(sessions) FROM arrival GROUP BY (minute / 60) % 24")
max=$(sort -n <<<"$hours" | tail -n1)
min=$(sort -n <<<"$hours" | head -n1)
check_true "diurnal curve (busiest hour $max >= 3 x quietest $min)" test "$max" -ge "$((min * 3))"
# Several user kinds: bots and browsers among the user agents.
check_true "bot user agents recognised" test "$(jq '[.user_agents[] | select(.bot)] | length' "$WORK/m.json")" -ge 1
check_true "browser user agents too" test "$(jq '[.user_agents[] | select(.bot | not)] | length' "$WORK/m.json")" -ge 1
# The Markov chain: every session starts and ends; rows are consistent.
check "START count = sessions" "$sessions" \
  "$(q "$WORK/m.db" 'SELECT SUM(count) FROM transition WHERE from_ep = -1')"
check "every request is a transition target once" \
  "$(jq .requests "$WORK/m.json")" \
  "$(q "$WORK/m.db" 'SELECT SUM(count) FROM transition WHERE to_ep >= 0')"
"$MIMIC" inspect "$WORK/m.db" >"$WORK/inspect.txt"
for what in "top endpoints" "status mix" "think time" "session length" \
  "session duration" "arrivals" "redactions"; do
  check_true "inspect shows $what" grep -q "$what" "$WORK/inspect.txt"
done
finish
