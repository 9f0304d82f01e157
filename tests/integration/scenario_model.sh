# A model for the load-shape tests (sourced, not run): sessions of one
# request each, so that requests per second follow session arrivals
# exactly, arriving at a steady ARRIVALS_PER_MIN over an hour, with a
# time-of-day profile of three levels (00-08h: 20, 08-16h: 100, 16-24h:
# 50) for diurnal. scenario_model OUT.db PATH [SECOND_PATH]: the one
# endpoint is GET PATH; with SECOND_PATH, sessions are PATH then
# SECOND_PATH (two requests).
scenario_model() {
  local out=$1 path=$2 second=${3:-} per_min=${ARRIVALS_PER_MIN:-600} sql b lvl m
  sql=$WORK/model-$$.sql
  {
    cat <<SQL
BEGIN;
INSERT INTO meta (key, value) VALUES
  ('schema_version', '1'), ('tool_version', 'test'),
  ('created_utc', '2026-11-25T00:00:00Z'), ('source_kind', 'test'),
  ('formats', ''), ('time_start_us', '0'), ('time_end_us', '0'),
  ('span_seconds', '3600'), ('lines', '0'), ('requests', '1'),
  ('sessions', '1'), ('clients', '1'), ('endpoints', '1'),
  ('malformed', '0'), ('filtered', '0'), ('directives', '0'),
  ('late_events', '0'), ('capped_requests', '0'),
  ('idle_timeout_s', '1800'), ('session_key', 'ip+ua'),
  ('think_basis', 'end-to-start'), ('time_resolution_us', '1'),
  ('dist_alpha', '0.01'), ('include', ''), ('exclude', ''),
  ('latency_known', '0');
INSERT INTO endpoint (id, method, host, template, count) VALUES (0, 'GET', '', '$path', 1000);
INSERT INTO endpoint_status (endpoint_id, status, count) VALUES (0, 200, 1000);
INSERT INTO persona (id, name, weight, sessions) VALUES (0, 'all', 1.0, 1000);
INSERT INTO user_agent (id, value, count, is_bot) VALUES (0, 'mimic-test', 1, 0);
SQL
    if [ -n "$second" ]; then
      cat <<SQL
INSERT INTO endpoint (id, method, host, template, count) VALUES (1, 'GET', '', '$second', 1000);
INSERT INTO endpoint_status (endpoint_id, status, count) VALUES (1, 200, 1000);
INSERT INTO transition (persona_id, from_ep, to_ep, count, think_dist) VALUES
  (0, -1, 0, 1000, NULL), (0, 0, 1, 1000, NULL), (0, 1, -2, 1000, NULL);
SQL
    else
      echo "INSERT INTO transition (persona_id, from_ep, to_ep, count, think_dist) VALUES (0, -1, 0, 1000, NULL), (0, 0, -2, 1000, NULL);"
    fi
    for ((m = 0; m < 60; m++)); do
      echo "INSERT INTO arrival (persona_id, minute, sessions) VALUES (0, $((29000000 + m)), $per_min);"
    done
    for ((b = 0; b < 96; b++)); do
      if [ $b -lt 32 ]; then lvl=20; elif [ $b -lt 64 ]; then lvl=100; else lvl=50; fi
      echo "INSERT INTO arrival_profile (persona_id, kind, bucket, sessions) VALUES (0, 'tod15', $b, $lvl);"
    done
    echo "COMMIT;"
  } >"$sql"
  rm -f "$out"
  sqlite3 -bail "$out" <"$MIMIC_SRC/models/schema.sql"
  sqlite3 -bail "$out" <"$sql"
}

# per_second LOG T0 SECONDS: requests per whole second since T0 (unix
# seconds with a fraction) in nginx's log ($NF is $msec), one count a
# line, for seconds 0 .. SECONDS-1.
per_second() {
  awk -v t0="$2" -v n="$3" '{ s = int($NF - t0); if (s >= 0 && s < n) c[s]++ }
    END { for (i = 0; i < n; i++) print c[i] + 0 }' "$1"
}

# mean FILE FROM TO: mean of lines FROM..TO (0-based, inclusive).
mean() {
  awk -v a="$2" -v b="$3" 'NR - 1 >= a && NR - 1 <= b { s += $1; n++ }
    END { printf "%.1f\n", n ? s / n : 0 }' "$1"
}

# ratio_in X Y LO HI: whether LO <= X/Y <= HI.
ratio_in() {
  awk -v x="$1" -v y="$2" -v lo="$3" -v hi="$4" \
    'BEGIN { exit !(y > 0 && x / y >= lo && x / y <= hi) }'
}
