#!/usr/bin/env bash
# Captures every real log in ../shared/data/real/logs (written by others,
# never copied into the repo) and checks, for each: requests + malformed =
# the number of lines (counted independently), ids collapse into templates,
# and `inspect --json` agrees with direct SQL queries of the model.
. "$(dirname "$0")/lib.sh"
need sqlite3 jq awk gzip
LOGS="${MIMIC_REAL_DATA:-}/logs"
[ -d "$LOGS" ] || skip "real logs not found at $LOGS"

n=0
for log in "$LOGS"/*; do
  case "$log" in *.md) continue ;; esac
  n=$((n + 1))
  name=$(basename "$log")
  db="$WORK/$name.db"
  rc=$(run_status "$MIMIC" capture --quiet -o "$db" "$log")
  check "$name: capture exit status" 0 "$rc"
  [ "$rc" = 0 ] || { sed 's/^/    /' "$WORK/last.err"; continue; }
  "$MIMIC" inspect --json "$db" >"$WORK/i.json"

  lines=$(count_lines "$log")
  requests=$(jq .requests "$WORK/i.json")
  malformed=$(jq .malformed "$WORK/i.json")
  check "$name: requests + malformed = lines" "$lines" \
    "$((requests + malformed))"

  # inspect --json against the model read directly.
  check "$name: requests = sum of endpoint counts" \
    "$(q "$db" 'SELECT SUM(count) FROM endpoint')" "$requests"
  check "$name: malformed = sum over source files" \
    "$(q "$db" 'SELECT SUM(malformed) FROM source_file')" "$malformed"
  check "$name: sessions" \
    "$(q "$db" "SELECT value FROM meta WHERE key='sessions'")" \
    "$(jq .sessions "$WORK/i.json")"
  check "$name: sessions = transitions into END" \
    "$(q "$db" 'SELECT SUM(count) FROM transition WHERE to_ep = -2')" \
    "$(jq .sessions "$WORK/i.json")"
  check "$name: schema_version" \
    "$(q "$db" "SELECT value FROM meta WHERE key='schema_version'")" \
    "$(jq .schema_version "$WORK/i.json")"
  check "$name: span_seconds" \
    "$(q "$db" "SELECT value FROM meta WHERE key='span_seconds'")" \
    "$(jq .span_seconds "$WORK/i.json" | awk '{ printf "%.17g", $1 }')"
  q "$db" "SELECT method || ' ' || template || ' ' || count FROM endpoint
           ORDER BY id" >"$WORK/sql.txt"
  jq -r '.endpoints[] | "\(.method) \(.template) \(.count)"' \
    "$WORK/i.json" >"$WORK/json.txt"
  check "$name: endpoint list (method, template, count)" \
    "$(md5sum <"$WORK/sql.txt")" "$(md5sum <"$WORK/json.txt")"

  # No template keeps a pure number as a path segment.
  numeric=$(q "$db" 'SELECT template FROM endpoint' |
    grep -cE '/[0-9]+(/|$|\.)' || true)
  check "$name: templates with a numeric segment" 0 "$numeric"

  # Far fewer endpoints than distinct request paths (when there are many).
  case "$log" in
    *.gz) paths=$(gzip -dc "$log" | jq -r '.request' 2>/dev/null |
      awk '{ sub(/\?.*/, "", $2); print $2 }' | sort -u | wc -l) ;;
    *) paths=$(awk -F'"' 'NF > 2 { split($2, r, " "); sub(/\?.*/, "", r[2]);
      if (r[2] != "") print r[2] }' "$log" | sort -u | wc -l) ;;
  esac
  endpoints=$(jq '.endpoints | length' "$WORK/i.json")
  echo "     $name: $lines lines, $requests requests, $malformed malformed," \
    "$paths distinct paths -> $endpoints endpoints"
  if [ "$paths" -ge 100 ]; then
    check_true "$name: endpoints ($endpoints) < distinct paths ($paths) / 3" \
      test "$endpoints" -lt "$((paths / 3))"
  fi
done
check_true "found real logs" test "$n" -gt 0
finish
