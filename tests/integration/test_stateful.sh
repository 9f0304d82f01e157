#!/usr/bin/env bash
# Stateful replay against a real REST application: json-server (npm)
# behind nginx on 127.0.0.1, seeded with a few collections. A model learned
# from a log of sessions that create, read (by the new id), update and
# delete is replayed with body templates: no request gets a 404 from a
# wrong id; --cleanup leaves the database as it was; after kill -9 in the
# middle of a run, `mimic cleanup JOURNAL` restores it too (also what was
# sent but never confirmed), and a second cleanup deletes nothing; SIGINT
# still cleans up; --cleanup-interval deletes what ended sessions made
# while the run goes on; what cannot be deleted is listed (exit 3).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
. "$(dirname "$0")/jsonserver.sh"
. "$(dirname "$0")/restlog.sh"
need jq curl sqlite3 awk flock
js_install

cat >"$WORK/seed.json" <<'JSON'
{
  "posts": [
    {"id": 1, "title": "seeded one", "views": 10},
    {"id": 2, "title": "seeded two", "views": 20},
    {"id": 3, "title": "seeded three", "views": 30}
  ],
  "comments": [
    {"id": 1, "postId": 1, "body": "first"},
    {"id": 2, "postId": 2, "body": "second"}
  ],
  "tags": [{"id": 1, "name": "news"}, {"id": 2, "name": "misc"}]
}
JSON
cp "$WORK/seed.json" "$WORK/db.json"
js_start "$WORK/db.json" || { echo "json-server did not start"; exit 1; }
nginx_start "
        location /api/ { proxy_pass http://127.0.0.1:$JS_PORT/; }
        location /locked/ { return 403; }" ||
  { echo "nginx did not start"; exit 1; }

restlog 200 >"$WORK/rest.log"
"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/rest.log"
check "the model has the CRUD endpoints" 8 "$(q "$WORK/m.db" "SELECT count(*) FROM endpoint")"
cat >"$WORK/bodies.json" <<'JSON'
{
  "POST /api/posts": {"title": "{{random.text}}", "views": "{{random.int}}",
                      "author": "{{random.email}}"},
  "PUT /api/posts/{id}": {"title": "{{random.text}}", "views": "{{random.int}}"},
  "POST /api/comments": {"postId": "{{created.posts.id}}",
                         "body": "{{random.text}}"}
}
JSON

# Requests of the replay (not of its cleanup, whose user agent says so)
# answered 404 in nginx's log: json-server answers 404 only for an id it
# does not have. The cleanup may find a comment gone with its post.
not_found() { grep -v '"mimic-cleanup/' "$NGINX_LOG" | awk '$9 == 404' | wc -l; }

# --- a replay with --cleanup ----------------------------------------------
: >"$NGINX_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 20 --min-request-count 20 --max-request-count 40 \
  --delay-min 0 --delay-max 5 --threads 2 --seed 3 \
  --bodies "$WORK/bodies.json" --journal "$WORK/j1.db" --cleanup \
  --report "$WORK/r1.json")
check "replay with --cleanup exits 0" 0 "$rc"
[ "$rc" = 0 ] || cat "$WORK/last.err"
r=$WORK/r1.json
run=$(jq -r .run_id "$r")
check_true "resources were created" test "$(jq .stateful.created "$r")" -ge 50
check_true "created ids were used by later requests" \
  test "$(jq .stateful.ids_bound "$r")" -ge 100
check "no id came from the log's pool" 0 "$(jq .stateful.ids_from_pool "$r")"
check "no request with a created id got a 404" 0 "$(jq .stateful.bound_404 "$r")"
check "no 404 at all in nginx's log" 0 "$(not_found)"
check "no real error" 0 "$(jq '.real.errors + .real.status_classes["4xx"] + .real.status_classes["5xx"]' "$r")"
check "every request answered" "$(jq .requests "$r")" "$(jq .responses "$r")"
check "reads used the created ids (GET /api/posts/N with N created)" 0 \
  "$(awk '$6 == "\"GET" && $7 ~ /^\/api\/posts\/[0-9]+$/ { split($7, a, "/"); if (a[4] <= 3) n++ } END { print n + 0 }' "$NGINX_LOG")"
check "sessions deleted some of what they created" true \
  "$(jq '.stateful.deleted_by_sessions > 10' "$r")"
check "cleanup deleted the rest" "$(q "$WORK/j1.db" "SELECT count(*) FROM resource WHERE run_id = '$run' AND state IN ('deleted', 'gone')")" \
  "$(q "$WORK/j1.db" "SELECT count(*) FROM resource WHERE run_id = '$run' AND resource_id IS NOT NULL")"
check "cleanup: nothing failed" 0 "$(jq .cleanup.failed "$r")"
check_true "cleanup had work" test "$(jq .cleanup.deleted "$r")" -ge 10
check "journal: nothing live or pending" 0 \
  "$(q "$WORK/j1.db" "SELECT count(*) FROM resource WHERE state IN ('live', 'pending')")"
check "made-up values carry the run marker" 0 \
  "$(q "$WORK/j1.db" "SELECT count(*) FROM resource WHERE tag IS NOT NULL AND tag NOT LIKE 'sim_${run}_%'")"
check_true "creates carried a marker" \
  test "$(q "$WORK/j1.db" "SELECT count(*) FROM resource WHERE tag LIKE 'sim_${run}_%'")" -ge 50
# Deletions went in reverse order of creation: in the journal, of two rows
# the cleanup handled (attempts > 0), the newer one was done first. (Ids
# cannot tell: json-server reuses the highest id once it is deleted.)
check "cleanup deleted newest first" 0 "$(q "$WORK/j1.db" "SELECT count(*)
  FROM resource a JOIN resource b ON a.seq > b.seq
  WHERE a.attempts > 0 AND b.attempts > 0 AND a.done_us > b.done_us")"
check_true "the cleanup's requests are in nginx's log" \
  test "$(grep -c '"mimic-cleanup/' "$NGINX_LOG")" -ge 10
check_true "the database is back to its seed" js_wait_db "$WORK/seed.json" 10
rc=$(run_status "$MIMIC" cleanup "$WORK/j1.db")
check "cleanup after --cleanup: exit 0" 0 "$rc"
check "... and says there is nothing to delete" 1 "$(grep -c 'nothing to delete' "$WORK/last.err")"

# --- kill -9 in the middle, then mimic cleanup ----------------------------
: >"$NGINX_LOG"
"$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 30 \
  --min-request-count 400 --max-request-count 400 --delay-min 0 \
  --delay-max 2 --threads 2 --seed 5 --bodies "$WORK/bodies.json" \
  --journal "$WORK/j2.db" --quiet >/dev/null 2>&1 &
pid=$!
# Until creates are journalled and the run is well under way.
for _ in $(seq 100); do
  n=$(q "$WORK/j2.db" "SELECT count(*) FROM resource WHERE state = 'live'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 30 ] && break
  sleep 0.05
done
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
check_true "the run was killed mid-run with live resources" \
  test "$(q "$WORK/j2.db" "SELECT count(*) FROM resource WHERE state = 'live'")" -ge 30
check_false "the database differs from its seed" test "$(js_db)" = "$(jq -S . "$WORK/seed.json")"
echo "journal after kill -9: $(q "$WORK/j2.db" "SELECT group_concat(state || ' ' || n, ', ') FROM (SELECT state, count(*) n FROM resource GROUP BY state)")"
sleep 0.5 # requests still on their way reach json-server
rc=$(run_status "$MIMIC" cleanup "$WORK/j2.db" --report "$WORK/c2.json")
check "mimic cleanup after kill -9: exit 0" 0 "$rc"
[ "$rc" = 0 ] || cat "$WORK/last.err"
check "nothing failed" 0 "$(jq .failed "$WORK/c2.json")"
echo "unconfirmed creates: $(jq '.found' "$WORK/c2.json") found by their marker, $(jq '.unfound' "$WORK/c2.json") never made"
check "journal after cleanup: nothing live or pending" 0 \
  "$(q "$WORK/j2.db" "SELECT count(*) FROM resource WHERE state IN ('live', 'pending')")"
check_true "it deleted what the run left" test "$(jq .deleted "$WORK/c2.json")" -ge 30
check_true "the database is back to its seed after kill -9" js_wait_db "$WORK/seed.json" 10
deletes=$(awk '$6 == "\"DELETE"' "$NGINX_LOG" | wc -l)
rc=$(run_status "$MIMIC" cleanup "$WORK/j2.db" --report "$WORK/c3.json")
check "a second mimic cleanup: exit 0" 0 "$rc"
check "... deletes nothing" 0 "$(jq '.deleted + .gone + .todo' "$WORK/c3.json")"
check "... and says so" 1 "$(grep -c 'nothing to delete' "$WORK/last.err")"
sleep 0.3
check "... and sends no DELETE" "$deletes" "$(awk '$6 == "\"DELETE"' "$NGINX_LOG" | wc -l)"

# --- SIGINT: the run stops, --cleanup still runs ---------------------------
"$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 20 \
  --min-request-count 1000 --max-request-count 1000 --delay-min 0 \
  --delay-max 5 --seed 8 --bodies "$WORK/bodies.json" --cleanup \
  --report "$WORK/r4.json" --quiet >/dev/null 2>"$WORK/r4.err" &
pid=$!
sleep 1.5
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check "SIGINT, then cleanup: exit 0" 0 "$rc"
check "the run was cut short" true "$(jq '.requests < 20000' "$WORK/r4.json")"
check_true "its cleanup deleted what it had created" \
  test "$(jq '.cleanup.deleted + .cleanup.gone' "$WORK/r4.json")" -ge 1
check "cleanup after SIGINT: nothing left" 0 "$(jq '.cleanup.failed + .cleanup.left' "$WORK/r4.json")"
check "the temporary journal is gone" 0 "$(ls "${TMPDIR:-/tmp}"/mimic-journal-"$(jq -r .run_id "$WORK/r4.json")".db* 2>/dev/null | wc -l)"
check_true "the database is back to its seed after SIGINT" js_wait_db "$WORK/seed.json" 10

# --- --cleanup-interval: ended sessions' resources go while the run goes on
: >"$NGINX_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 10 --min-request-count 120 --max-request-count 120 \
  --delay-min 5 --delay-max 25 --seed 9 --bodies "$WORK/bodies.json" \
  --journal "$WORK/j5.db" --cleanup-interval 1s --cleanup \
  --report "$WORK/r5.json")
check "replay with --cleanup-interval: exit 0" 0 "$rc"
check_true "interval cleanups deleted during the run" \
  test "$(jq '.cleanup_interval.deleted // 0' "$WORK/r5.json")" -ge 1
# Had they deleted what a running session still used, it would get 404s.
check "they took nothing from running sessions (no 404, no real error)" 0 \
  "$(jq '.real.status_classes["4xx"] + .real.errors' "$WORK/r5.json")"
[ "$(jq '.real.status_classes["4xx"] + .real.errors' "$WORK/r5.json")" = 0 ] || {
  jq -c '.real' "$WORK/r5.json"
  grep -v '" 20[0-9] ' "$NGINX_LOG" | tail -n 20
}
check "the final cleanup left nothing" 0 "$(jq '.cleanup.failed + .cleanup.left' "$WORK/r5.json")"
check_true "the database is back to its seed after interval cleanups" js_wait_db "$WORK/seed.json" 10

# --- what cannot be deleted is listed (last: it leaves the database dirty)
cat >"$WORK/map.json" <<'JSON'
{"POST /api/posts": "DELETE /locked/posts/{created.id}"}
JSON
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 3 --min-request-count 10 --max-request-count 10 --delay-min 0 \
  --delay-max 0 --seed 6 --bodies "$WORK/bodies.json" --journal "$WORK/j6.db" \
  --cleanup-map "$WORK/map.json" --cleanup --report "$WORK/r6.json")
check "--cleanup that cannot delete: exit 3" 3 "$rc"
check_true "the failures are counted" test "$(jq .cleanup.failed "$WORK/r6.json")" -ge 1
check "... and listed with why" "HTTP 403" "$(jq -r '.cleanup.not_deleted[0].why' "$WORK/r6.json")"
check "... with the --cleanup-map URL" 1 \
  "$(jq -r '.cleanup.not_deleted[0].url' "$WORK/r6.json" | grep -c '/locked/posts/[0-9]')"
check_true "... and named on stderr" grep -q 'not deleted: DELETE .*/locked/posts/' "$WORK/last.err"
rc=$(run_status "$MIMIC" cleanup "$WORK/j6.db" --dry-run)
check "mimic cleanup --dry-run: exit 0" 0 "$rc"
check "... lists what it would delete" "$(jq .cleanup.failed "$WORK/r6.json")" \
  "$(grep -c '^DELETE .*/locked/posts/' "$WORK/last.out")"
rc=$(run_status "$MIMIC" cleanup "$WORK/j6.db" --retries 0)
check "mimic cleanup of what it cannot delete: exit 3" 3 "$rc"

# --- the cleanup in Prometheus metrics -------------------------------------
js_db >"$WORK/before7.json"
"$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" --users 10 \
  --min-request-count 20 --max-request-count 30 --delay-min 0 \
  --delay-max 5 --seed 11 --bodies "$WORK/bodies.json" --cleanup \
  --metrics-addr 127.0.0.1:0 --linger 20s --report "$WORK/r7.json" \
  2>"$WORK/m7.err" &
pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's|.*metrics on http://\([^/]*\)/metrics.*|\1|p' "$WORK/m7.err")
  [ -n "$addr" ] && break
  sleep 0.1
done
scrape=
for _ in $(seq 1 300); do
  scrape=$(curl -s "http://$addr/metrics" || true)
  grep -q '^mimic_run_finished 1' <<<"$scrape" && break
  sleep 0.1
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
metric() { awk -v n="$1" '$1 == n { print $2 + 0 }' <<<"$scrape"; }
check_true "metrics: scraped after the run" grep -q '^mimic_run_finished 1' <<<"$scrape"
check "metrics: mimic_cleanup_journalled_total = creates the target accepted" \
  "$(jq .stateful.created "$WORK/r7.json")" "$(metric mimic_cleanup_journalled_total)"
check "metrics: mimic_cleanup_deleted_total = what the cleanup removed" \
  "$(jq '.cleanup.deleted + .cleanup.gone' "$WORK/r7.json")" \
  "$(metric mimic_cleanup_deleted_total)"
check "metrics: mimic_cleanup_failed_total" "$(jq .cleanup.failed "$WORK/r7.json")" \
  "$(metric mimic_cleanup_failed_total)"
check_true "the database is as before the metrics run" \
  js_wait_db "$WORK/before7.json" 10

finish
