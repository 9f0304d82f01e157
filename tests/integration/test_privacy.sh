#!/usr/bin/env bash
# Privacy by default: a model learned from a log with client addresses,
# remote users, secret-looking query values and e-mails in paths holds none
# of them in clear, and `inspect` shows what was redacted.
. "$(dirname "$0")/lib.sh"
need sqlite3 jq awk

awk 'BEGIN {
  for (i = 0; i < 400; i++) {
    t = i * 5; s = t % 60; m = int(t / 60) % 60
    ip = sprintf("198.51.100.%d", 1 + i % 50)
    user = (i % 4 == 0) ? sprintf("alice%d", i % 9) : "-"
    if (i % 3 == 0)
      path = sprintf("/api/v1/items?api_key=SeCrEtKeY%08d&page=%d", i * 7919, i % 5)
    else if (i % 3 == 1)
      path = sprintf("/api/v1/users/person%d@example.org/profile", i % 23)
    else
      path = sprintf("/login?next=/home&password=hunter%d&token=tok_%d_ABCDEFGHIJKLMNOP", i, i % 50)
    printf "%s - %s [02/Nov/2026:10:%02d:%02d +0000] \"GET %s HTTP/1.1\" 200 512 \"-\" \"agent/1.0\"\n", ip, user, m, s, path
  }
}' >"$WORK/private.log"

"$MIMIC" capture -q -o "$WORK/p.db" "$WORK/private.log"
sqlite3 "$WORK/p.db" .dump >"$WORK/dump.sql"

leaks() { grep -c -E "$1" "$WORK/dump.sql" || true; }
check "no client address in the model" 0 "$(leaks '198\.51\.100\.')"
check "no remote user in the model" 0 "$(leaks 'alice[0-9]')"
check "no api_key value in the model" 0 "$(leaks 'SeCrEtKeY')"
check "no password value in the model" 0 "$(leaks 'hunter[0-9]')"
check "no token value in the model" 0 "$(leaks 'tok_[0-9]+_ABCDEFGH')"
check "no e-mail address in the model" 0 "$(leaks 'person[0-9]+@example')"
# Non-secret values are kept for replay.
check_true "page values kept in clear" \
  test "$(q "$WORK/p.db" "SELECT COUNT(*) FROM pool_value v JOIN param p ON p.id = v.param_id WHERE p.name = 'page'")" -eq 5
# Fakes keep the shape: as many distinct fakes as distinct secrets. The
# 50 distinct tokens fit the pool (64 values): counted exactly, and every
# one has its own fake.
check "token fakes stay distinct (counted)" 50 \
  "$(q "$WORK/p.db" "SELECT distinct_values FROM param WHERE name = 'token'")"
check "token pool holds 50 distinct fakes" 50 \
  "$(q "$WORK/p.db" "SELECT COUNT(DISTINCT v.value) FROM pool_value v JOIN param p ON p.id = v.param_id WHERE p.name = 'token'")"
# 134 distinct keys overflow the pool: their count is a HyperLogLog
# estimate over the fakes, whose key is random per capture, so it varies
# from run to run (200 captures: mean 134.8, sd 6.3, 116 to 155). The
# bounds are 5 sd either side: they catch fakes that collapse or multiply
# (the exact check above catches a single collision), not the estimator's
# noise.
distinct=$(q "$WORK/p.db" "SELECT distinct_values FROM param WHERE name = 'api_key'")
check_true "api_key fakes stay distinct ($distinct of 134, estimated)" \
  test "$distinct" -ge 103 -a "$distinct" -le 166
check "api_key param flagged redacted" 1 \
  "$(q "$WORK/p.db" "SELECT redacted FROM param WHERE name = 'api_key'")"

"$MIMIC" inspect "$WORK/p.db" >"$WORK/inspect.txt"
check_true "inspect lists the api_key redaction" \
  grep -q "query api_key: 134 values replaced by format-preserving fakes" "$WORK/inspect.txt"
check_true "inspect lists the password redaction" grep -q "query password" "$WORK/inspect.txt"
check_true "inspect lists the dropped remote users" \
  grep -q "user remote_user: 100 values never stored" "$WORK/inspect.txt"
check_true "inspect lists the e-mail path redaction" grep -q "path {email}" "$WORK/inspect.txt"
"$MIMIC" inspect --json "$WORK/p.db" >"$WORK/inspect.json"
check "inspect --json redactions" 5 "$(jq '.redactions | length' "$WORK/inspect.json")"
finish
