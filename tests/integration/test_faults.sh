#!/usr/bin/env bash
# Logins and failure injection against a real REST application: json-server
# behind nginx on 127.0.0.1, with a login endpoint and token checks added
# in front of it by a json-server middleware written here. Good logins get
# tokens (and a session cookie) that later requests carry; bad-login faults
# get 401 and are counted as injected. Over 10,000 requests each fault
# kind's share is within 1.5 points of what was asked and the target's
# answers match the kind; a mix of 85% success, 12% client errors and 3%
# server errors is reached with --error-rate and --faults alone; real
# requests see no error; without credentials, sessions that sign up log in
# with the identity they made; the database ends as it began.
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
    {"id": 2, "title": "seeded two", "views": 20}
  ],
  "comments": [{"id": 1, "postId": 1, "body": "first"}],
  "users": [{"id": 1, "username": "seeded", "password": "x"}]
}
JSON
cp "$WORK/seed.json" "$WORK/db.json"
printf 'username,password,team\nalice,secret-a,red\nbob,secret-b,blue\ncarol,secret-c,red\n' \
  >"$WORK/creds.csv"
# POST /auth/login checks the password (users from the CSV; json-server
# has parsed the body already) and answers a token and a cookie; every other request needs a token it issued and is
# logged with whether its cookie matches the token.
cat >"$WORK/auth.js" <<'JS'
const fs = require('fs');
const users = {};
for (const line of fs.readFileSync(process.env.CREDS, 'utf8').split('\n').slice(1)) {
  const f = line.split(',');
  if (f.length >= 2) users[f[0]] = f[1];
}
const tokens = new Map();
let n = 0;
const log = (s) => fs.appendFileSync(process.env.MW_LOG, s + '\n');
module.exports = (req, res, next) => {
  if (req.method === 'POST' && req.path === '/auth/login') {
    const b = req.body || {}; /* json-server's body parser ran first */
    if (users[b.username] !== undefined && users[b.username] === b.password) {
      const t = 'tok-' + b.username + '-' + (++n);
      tokens.set(t, b.username);
      res.setHeader('Set-Cookie', 'sid=' + t + '; Path=/; HttpOnly');
      log('login-ok ' + b.username);
      res.status(200).json({token: t, user: b.username});
    } else {
      log('login-bad ' + b.username);
      res.status(401).json({error: 'bad credentials'});
    }
    return;
  }
  if (req.method === 'GET' && req.path === '/db') return next(); /* js_db */
  if (req.method === 'POST' && req.path === '/users') { /* sign-up */
    const b = req.body || {};
    if (b.username && b.password) users[b.username] = b.password;
    log('signup ' + b.username);
    return next();
  }
  const h = req.headers.authorization || '';
  const t = h.startsWith('Bearer ') ? h.slice(7) : '';
  const m = /(?:^|; )sid=([^;]*)/.exec(req.headers.cookie || '');
  if (!tokens.has(t)) {
    log('denied ' + req.method + ' ' + (t ? 'bad-token' : 'no-token'));
    res.status(401).json({error: 'no valid token'});
    return;
  }
  log('ok ' + tokens.get(t) + ' cookie-' + (m && m[1] === t ? 'match' : 'mismatch'));
  next();
};
JS
export CREDS=$WORK/creds.csv MW_LOG=$WORK/mw.log
: >"$MW_LOG"
js_start "$WORK/db.json" "$WORK/auth.js" || { echo "json-server did not start"; exit 1; }
nginx_start "
        location /api/ { proxy_pass http://127.0.0.1:$JS_PORT/; }" ||
  { echo "nginx did not start"; exit 1; }

# Sessions of posts only (logins first), so that every fault has one
# collection to aim at.
restlog 200 login | grep -v '/api/comments' >"$WORK/rest.log"
"$MIMIC" capture -q -o "$WORK/m.db" "$WORK/rest.log"
check "the model has a login" 1 "$(q "$WORK/m.db" "SELECT count(*) FROM endpoint WHERE method = 'POST' AND template = '/api/auth/login'")"
cat >"$WORK/bodies.json" <<'JSON'
{
  "POST /api/auth/login": {"username": "{{user.username}}",
                           "password": "{{user.password}}"},
  "POST /api/posts": {"title": "{{random.text}}", "views": "{{random.int}}",
                      "team": "{{user.extra1}}"},
  "PUT /api/posts/{id}": {"title": "{{random.text}}", "views": "{{random.int}}"}
}
JSON

# The plan of a dry run with faults: labelled, and the same for a seed.
for i in 1 2; do
  "$MIMIC" replay "$WORK/m.db" --users 5 --min-request-count 40 \
    --max-request-count 40 --seed 4 --error-rate 25 --dry-run \
    --credentials "$WORK/creds.csv" >"$WORK/plan$i.txt" 2>/dev/null
done
check "dry run with faults: same seed, same plan" "$(md5sum <"$WORK/plan1.txt")" \
  "$(md5sum <"$WORK/plan2.txt")"
check_true "dry run labels the faults" test "$(grep -c ' injected=' "$WORK/plan1.txt")" -ge 20

# --- logins: good ones give tokens that later requests carry ---------------
: >"$MW_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 12 --min-request-count 30 --max-request-count 30 --delay-min 0 \
  --delay-max 2 --seed 2 --credentials "$WORK/creds.csv" \
  --bodies "$WORK/bodies.json" --error-rate 10 --faults bad-login \
  --cleanup --report "$WORK/login.json")
r=$WORK/login.json
check "login run exits 0" 0 "$rc"
[ "$rc" = 0 ] || cat "$WORK/last.err"
check_true "good logins happened" test "$(grep -c '^login-ok' "$MW_LOG")" -ge 12
check "every identity of the CSV logged in" "alice bob carol" \
  "$(grep '^login-ok' "$MW_LOG" | awk '{ print $2 }' | sort -u | xargs)"
check "tokens were taken from their answers" "$(jq .stateful.logins_ok "$r")" "$(jq .stateful.tokens "$r")"
check "no real request was refused" 0 "$(grep -c '^denied' "$MW_LOG" || true)"
check "every authorised request also carried the login's cookie" 0 \
  "$(grep -c 'cookie-mismatch' "$MW_LOG" || true)"
check_true "authorised requests went through" test "$(grep -c '^ok ' "$MW_LOG")" -ge 200
check "bad logins were refused by the target" \
  "$(jq '.injected.kinds["bad-login"].requests' "$r")" "$(grep -c '^login-bad' "$MW_LOG")"
check_true "some logins were bad" test "$(jq '.injected.kinds["bad-login"].requests' "$r")" -ge 10
check "bad logins got 401, counted as injected" \
  "$(jq '.injected.kinds["bad-login"].requests' "$r")" \
  "$(jq '.injected.kinds["bad-login"].status["401"]' "$r")"
check "... as the kind expects" "$(jq '.injected.kinds["bad-login"].requests' "$r")" \
  "$(jq '.injected.kinds["bad-login"].expected' "$r")"
check "real requests: no 4xx" 0 "$(jq '.real.status_classes["4xx"]' "$r")"
check_true "the database is back to its seed" js_wait_db "$WORK/seed.json" 10

# --- without credentials: sessions sign up, then log in as who they made --
awk 'BEGIN { t = 1700000000
  for (s = 1; s <= 40; s++) {
    ip = "10.2.0." s; u = 100 + s; p = 2000 + s
    line("POST", "/api/users", 201); line("POST", "/api/auth/login", 200)
    line("GET", "/api/users/" u, 200); line("POST", "/api/posts", 201)
    line("GET", "/api/posts/" p, 200); line("DELETE", "/api/posts/" p, 200)
  } }
  function line(m, path, st) {
    t += 2
    printf "%s - - [%s] \"%s %s HTTP/1.1\" %d 50 \"-\" \"t/1\" 0.002\n", ip,
      strftime("%d/%b/%Y:%H:%M:%S +0000", t, 1), m, path, st
  }' >"$WORK/signup.log"
"$MIMIC" capture -q -o "$WORK/signup.db" "$WORK/signup.log"
: >"$MW_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/signup.db" --target "$NGINX_URL" \
  --users 6 --min-request-count 12 --max-request-count 12 --delay-min 0 \
  --delay-max 2 --seed 5 --cleanup --report "$WORK/signup.json")
check "sign-up run exits 0" 0 "$rc"
check_true "users signed up with made-up identities" \
  test "$(grep -c '^signup sim_' "$MW_LOG")" -ge 6
check "... and logged in as who they made" "$(grep '^signup' "$MW_LOG" | awk '{ print $2 }' | sort -u | xargs)" \
  "$(grep '^login-ok' "$MW_LOG" | awk '{ print $2 }' | sort -u | xargs)"
check "no login was refused" 0 "$(grep -c '^login-bad' "$MW_LOG" || true)"
check "no request was refused" 0 "$(grep -c '^denied' "$MW_LOG" || true)"
check "their profiles were read by the ids the sign-ups returned" 0 \
  "$(jq '.real.status_classes["4xx"]' "$WORK/signup.json")"
check_true "the database is back to its seed after sign-ups" js_wait_db "$WORK/seed.json" 10

# --- every fault kind over 10,000 requests ---------------------------------
: >"$MW_LOG"
mix="bad-login:3,no-auth:3,expired-token:3,invalid-body:4,unknown-id:4,timeout:1,abort:2"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 60 --min-request-count 170 --max-request-count 170 --delay-min 0 \
  --delay-max 0 --seed 11 --credentials "$WORK/creds.csv" \
  --bodies "$WORK/bodies.json" --error-rate 20 --faults "$mix" \
  --fault-timeout 100ms --cleanup --report "$WORK/faults.json")
r=$WORK/faults.json
check "fault run exits 0" 0 "$rc"
[ "$rc" = 0 ] || cat "$WORK/last.err"
total=$(jq .requests "$r")
check_true "at least 10,000 requests" test "$total" -ge 10000
echo "injected: $(jq -c '.injected.kinds | map_values({share, asked_share, expected, requests})' "$r")"
for k in bad-login no-auth expired-token invalid-body unknown-id timeout abort; do
  check "$k: share within 1.5 points of asked" true \
    "$(jq --arg k "$k" '.injected.kinds[$k] | ((.share - .asked_share) | fabs) < 0.015 and .requests > 0' "$r")"
done
expect_all() { # KIND: every request of the kind got what it expects
  check "$1: the target's answers match the kind" \
    "$(jq --arg k "$1" '.injected.kinds[$k].requests' "$r")" \
    "$(jq --arg k "$1" '.injected.kinds[$k].expected' "$r")"
}
for k in bad-login no-auth expired-token unknown-id timeout abort; do expect_all "$k"; done
check "unknown-id got 404s" "$(jq '.injected.kinds["unknown-id"].requests' "$r")" \
  "$(jq '.injected.kinds["unknown-id"].status["404"]' "$r")"
check "no-auth and expired-token got 401s" \
  "$(jq '.injected.kinds["no-auth"].requests + .injected.kinds["expired-token"].requests' "$r")" \
  "$(jq '.injected.kinds["no-auth"].status["401"] + .injected.kinds["expired-token"].status["401"]' "$r")"
check "timeout faults timed out on the client" "$(jq '.injected.kinds.timeout.requests' "$r")" \
  "$(jq '.injected.kinds.timeout.error_reasons.timeout' "$r")"
check "abort faults were closed by the client" "$(jq '.injected.kinds.abort.requests' "$r")" \
  "$(jq '.injected.kinds.abort.error_reasons.abort' "$r")"
# Malformed JSON gets 400; the schema-violating object (an id json-server
# already has) gets json-server's 500: half and half, nothing accepted.
check "invalid-body: every answer a 400 or a 500" "$(jq '.injected.kinds["invalid-body"].requests' "$r")" \
  "$(jq '.injected.kinds["invalid-body"].status | (.["400"] // 0) + (.["500"] // 0)' "$r")"
check "invalid-body: the 400s are what the kind expects" \
  "$(jq '.injected.kinds["invalid-body"].status["400"]' "$r")" \
  "$(jq '.injected.kinds["invalid-body"].expected' "$r")"
check "real requests: no error at all" 0 \
  "$(jq '.real.errors + .real.status_classes["4xx"] + .real.status_classes["5xx"]' "$r")"
check "no id the session had came back 404" 0 "$(jq .stateful.bound_404 "$r")"
check "injected requests are counted apart" "$total" \
  "$(jq '.real.requests + .injected.requests' "$r")"
check "settings keep the error rate and mix" "20 7" \
  "$(jq -r '"\(.settings.error_rate) \(.settings.faults | length)"' "$r")"
check "cleanup: nothing left" 0 "$(jq '.cleanup.failed + .cleanup.left' "$r")"
check_true "the database is back to its seed after the faults" js_wait_db "$WORK/seed.json" 10

# --- 85% success, 12% client errors, 3% server errors ----------------------
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 40 --min-request-count 150 --max-request-count 150 --delay-min 0 \
  --delay-max 0 --seed 21 --credentials "$WORK/creds.csv" \
  --bodies "$WORK/bodies.json" --error-rate 15 \
  --faults unknown-id:6,bad-login:3,invalid-body:6 --cleanup \
  --report "$WORK/mix.json")
r=$WORK/mix.json
check "mix run exits 0" 0 "$rc"
echo "status classes: $(jq -c .status_classes "$r") of $(jq .requests "$r")"
share() { jq --arg c "$1" '.status_classes[$c] / .requests * 100' "$r"; }
within() { awk -v v="$1" -v w="$2" 'BEGIN { exit !(v - w < 1.5 && w - v < 1.5) }'; }
check_true "2xx within 1.5 points of 85%" within "$(share 2xx)" 85
check_true "4xx within 1.5 points of 12%" within "$(share 4xx)" 12
check_true "5xx within 1.5 points of 3%" within "$(share 5xx)" 3
check_true "the database is back to its seed after the mix" js_wait_db "$WORK/seed.json" 10

finish
