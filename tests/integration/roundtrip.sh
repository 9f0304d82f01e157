# The round trip, the acceptance test of the whole product (sourced by
# test_roundtrip_*.sh after lib.sh):
#
#   real log -> mimic capture -> model A -> mimic replay (open model, a
#   fixed seed) -> a real target on 127.0.0.1 that writes its own access
#   log (nginx, or mimic mock) -> mimic capture of that log, sessions keyed
#   by the session header -> model B -> mimic compare A B --time-scale X
#
# B must pass compare at the default thresholds (each raised to twice A's
# split-half value). --duration stops new sessions and the drain lets the
# started ones finish. The replay's --scale is chosen from A's arrival
# curve so that the run yields the wanted sessions; at 10x the session rate
# must be 10 times that, within 3%.
#
# rt_run NAME TARGET MULT X DURATION DRAIN
#   NAME      file in $MIMIC_REAL_DATA/logs (skipped when absent)
#   TARGET    nginx (status mix not gated: nginx answers 200 to all),
#             mock (status mix gated), or pcap: nginx again, but model B
#             is learned from the packets of the replay (dumpcap on lo
#             writes them to a pcapng file, mimic capture reads it), not
#             from nginx's log; needs the right to capture (root or
#             CAP_NET_RAW), else the test is skipped
#   MULT      1, or 10 for the same run at ten times the session rate
#   X         --time-scale (at most 50)
#   DURATION  --duration in seconds
#   DRAIN     --drain-timeout in seconds
# Environment: RT_SESSIONS (sessions wanted at 1x, default 2300: the
# replay's Poisson count stays above 2000), RT_CUT_OK=REASON (sessions
# longer than the drain are expected and only reported, with the reason),
# RT_TIMEOUT (the replay's --timeout in seconds, default 30: requests still
# in flight when the drain ends are waited for that long), RT_FROM=busiest
# (replay, and compare, from the busiest part of A's arrival curve rather
# than from its start: a log that begins quietly would otherwise make the
# replay one burst).

RT_SEED=11

# Expected sessions in SECONDS of model $1's arrival curve from FROM
# seconds into it ($3, default 0), as `mimic replay` plays it (per-minute
# counts from its first minute on, uniform within a minute).
rt_expected() {
  q "$1" "SELECT minute, SUM(sessions) FROM arrival GROUP BY minute ORDER BY minute" |
    awk -F'|' -v secs="$2" -v from="${3:-0}" '
      NR == 1 { lo = $1 }
      { a = ($1 - lo) * 60; b = a + 60
        if (a < from) a = from
        if (b > from + secs) b = from + secs
        if (b > a) total += $2 * (b - a) / 60 }
      END { printf "%.6f", total }'
}

# The start (whole minutes, in seconds) of the busiest SECONDS-long part
# of model $1's arrival curve.
rt_busiest() {
  q "$1" "SELECT minute, SUM(sessions) FROM arrival GROUP BY minute ORDER BY minute" |
    awk -F'|' -v w="$(($2 / 60))" '
      NR == 1 { lo = $1 }
      { c[$1 - lo] = $2; hi = $1 - lo }
      END { for (s = 0; s <= hi; s++) {
              t = 0; for (m = s; m < s + w; m++) t += c[m]
              if (t > best) { best = t; bs = s } }
            print bs * 60 }'
}

rt_run() {
  local name=$1 target=$2 mult=$3 x=$4 dur=$5 drain=$6
  local want=${RT_SESSIONS:-2300}
  local log="$MIMIC_REAL_DATA/logs/$name"
  [ -f "$log" ] || skip "$log is not there (MIMIC_REAL_DATA)"
  need jq sqlite3 awk
  local t_start=$SECONDS
  "$MIMIC" capture -q -o "$WORK/a.db" "$log"
  local lambda scale from=0
  [ "${RT_FROM:-}" = busiest ] && from=$(rt_busiest "$WORK/a.db" "$((dur * x))")
  lambda=$(rt_expected "$WORK/a.db" "$((dur * x))" "$from")
  scale=$(awk -v w="$want" -v l="$lambda" 'BEGIN { if (l <= 0) exit 1; s = w / l; printf "%.6g", s < 1 ? 1 : s }') ||
    { echo "A has no arrivals in $((dur * x)) s from $from s"; exit 1; }
  local run_scale
  run_scale=$(awk -v s="$scale" -v m="$mult" 'BEGIN { printf "%.6g", s * m }')
  echo "A: $(q "$WORK/a.db" "SELECT value FROM meta WHERE key='requests'") requests," \
    "$(q "$WORK/a.db" "SELECT value FROM meta WHERE key='sessions'") sessions;" \
    "its $((dur * x)) s from ${from} s hold $lambda sessions: --scale $run_scale"

  local url blog capture_args=(--session-key header:X-Mimic-Session)
  local compare_args=(--time-scale "$x" --from "${from}s")
  if [ "$target" = nginx ] || [ "$target" = pcap ]; then
    nginx_start || { echo "nginx did not start"; exit 1; }
    url=$NGINX_URL
    blog=$NGINX_LOG
    capture_args+=(--log-format "$NGINX_LOG_FORMAT")
    compare_args+=(--ignore-status)
    if [ "$target" = pcap ]; then
      rt_start_dumpcap "$NGINX_PORT"
      blog=$WORK/replay.pcapng
      capture_args=(--session-key header:X-Mimic-Session)
    fi
  else
    rt_start_mock --time-scale "$x" --log "$WORK/mock.log"
    url=$RT_MOCK_URL
    blog=$WORK/mock.log
  fi
  [ "$mult" = 1 ] || compare_args+=(--scale "$run_scale")

  local t0=$SECONDS rc
  rc=$(run_status "$MIMIC" replay "$WORK/a.db" --target "$url" \
    --time-scale "$x" --scale "$run_scale" --from "${from}s" \
    --duration "${dur}s" \
    --drain-timeout "${drain}s" --timeout "${RT_TIMEOUT:-30}s" \
    --seed "$RT_SEED" --quiet \
    --report "$WORK/report.json")
  local replay_s=$((SECONDS - t0))
  check "replay exit" 0 "$rc"
  [ "$rc" = 0 ] || cat "$WORK/last.err"
  if [ "$target" = nginx ] || [ "$target" = pcap ]; then
    nginx_wait_requests "$(jq .responses "$WORK/report.json")" 10 || true
    [ "$target" = pcap ] && rt_stop_dumpcap
    nginx_stop
  else
    rt_stop_mock
  fi

  local sessions completed requests errors
  sessions=$(jq .sessions "$WORK/report.json")
  completed=$(jq .sessions_completed "$WORK/report.json")
  requests=$(jq .requests "$WORK/report.json")
  errors=$(jq .errors "$WORK/report.json")
  check_true "at least $((2000 * mult)) sessions ($sessions)" \
    test "$sessions" -ge $((2000 * mult))
  if [ -z "${RT_CUT_OK:-}" ]; then
    check "no session cut short by the drain" "$sessions" "$completed"
  else
    echo "note: $((sessions - completed)) of $sessions sessions were cut by the" \
      "${drain} s drain: $RT_CUT_OK"
  fi
  if [ "$target" != mock ]; then
    check "nginx answered every request" "$requests" "$(jq .responses "$WORK/report.json")"
  fi

  "$MIMIC" capture -q -o "$WORK/b.db" "${capture_args[@]}" "$blog"
  if [ "$target" = pcap ]; then
    check "B: the packets hold every request sent" "$requests" \
      "$(q "$WORK/b.db" "SELECT value FROM meta WHERE key='pcap_requests'")"
    check "B: and every response" "$(jq .responses "$WORK/report.json")" \
      "$(q "$WORK/b.db" "SELECT value FROM meta WHERE key='pcap_responses'")"
    check "B: no bytes lost in gaps" 0 \
      "$(q "$WORK/b.db" "SELECT value FROM meta WHERE key='pcap_gap_bytes'")"
  fi
  check "B: every logged line understood" 0 \
    "$(q "$WORK/b.db" "SELECT value FROM meta WHERE key='malformed'")"
  check "B: every line had the session header" 0 \
    "$(q "$WORK/b.db" "SELECT value FROM meta WHERE key='session_key_missing'")"
  echo "--- mimic compare A B ${compare_args[*]}"
  rc=$(run_status "$MIMIC" compare "$WORK/a.db" "$WORK/b.db" "${compare_args[@]}")
  cat "$WORK/last.out"
  check "compare passes at the default thresholds" 0 "$rc"
  "$MIMIC" compare --json "$WORK/a.db" "$WORK/b.db" "${compare_args[@]}" \
    >"$WORK/compare.json" || true
  if [ "$mult" != 1 ]; then
    local ratio
    ratio=$(jq .rate_ratio "$WORK/compare.json")
    check_true "session rate ${ratio} = ${run_scale} x A's, within 3%" \
      awk -v r="$ratio" -v s="$run_scale" \
      'BEGIN { d = r / s - 1; exit !(d <= 0.03 && d >= -0.03) }'
  fi
  # Every figure, for the record.
  echo "FIGURES $name target=$target mult=$mult time_scale=$x scale=$run_scale" \
    "duration=${dur}s drain=${drain}s sessions=$sessions completed=$completed" \
    "requests=$requests errors=$errors replay_s=$replay_s total_s=$((SECONDS - t_start))" \
    "$(jq -c '{pass, rate_ratio, metrics, thresholds, split_half}' "$WORK/compare.json")"
}

# The replay's packets to and from PORT on lo, in full, to
# $WORK/replay.pcapng (a large kernel buffer: a busy second must not drop
# any). Skips the test when it cannot capture.
RT_DUMPCAP_PID=
rt_start_dumpcap() {
  command -v dumpcap >/dev/null 2>&1 || skip "dumpcap is not installed (Debian package tshark)"
  : >"$WORK/dumpcap.err"
  # -a duration: it never outlives a test that dies before rt_stop_dumpcap.
  dumpcap -q -i lo -B 64 -a duration:300 -f "tcp port $1" \
    -w "$WORK/replay.pcapng" 2>"$WORK/dumpcap.err" </dev/null &
  RT_DUMPCAP_PID=$!
  for _ in $(seq 400); do
    grep -q '^File:' "$WORK/dumpcap.err" && return 0
    kill -0 "$RT_DUMPCAP_PID" 2>/dev/null || break
    sleep 0.05
  done
  rt_stop_dumpcap
  skip "dumpcap cannot capture on lo: $(head -c 300 "$WORK/dumpcap.err")"
}

rt_stop_dumpcap() {
  [ -n "$RT_DUMPCAP_PID" ] || return 0
  sleep 1 # the last segments reach the file a little late
  kill -INT "$RT_DUMPCAP_PID" 2>/dev/null || true
  wait "$RT_DUMPCAP_PID" 2>/dev/null || true
  RT_DUMPCAP_PID=
  # "Packets received/dropped on interface 'Loopback: lo': 1661/0 (...)"
  if grep -q 'dropped on interface' "$WORK/dumpcap.err"; then
    check_true "dumpcap: no packet dropped" \
      grep -q 'dropped on interface.*: [0-9]*/0 ' "$WORK/dumpcap.err"
  fi
  echo "pcap: $(stat -c %s "$WORK/replay.pcapng") bytes;" \
    "$(grep -o 'received/dropped.*' "$WORK/dumpcap.err" | head -1)"
}

# The round trips' mock serves model A (tests/integration/mock.sh).
. "$(dirname "${BASH_SOURCE[0]}")/mock.sh"
RT_MOCK_URL=
rt_start_mock() {
  mock_start "$WORK/a.db" --max-seconds 300 "$@"
  RT_MOCK_URL=$MOCK_URL
}

rt_stop_mock() { mock_stop; }
