#!/usr/bin/env bash
# Replay uses what capture learned from packets: correlation rules and
# request body shapes. A real stateful exchange with json-server behind
# nginx on 127.0.0.1 (a login middleware written here answers a session
# key at $.session.key that later requests must carry as a bearer token;
# neither the path nor the field is one the login heuristic knows) is made
# with curl and captured live on loopback (`mimic capture --iface lo`).
# Then `mimic replay MODEL` without --bodies:
#  - every request carries the key this replay's own login got (no 401),
#    items are read, patched and deleted by the ids this replay's creates
#    got (no 404), lines name in their cartId the cart their session made;
#  - the login body is the learned shape with the user's credentials, and
#    POST bodies follow the learned shapes (nested objects, arrays, types),
#    as json-server stored them;
#  - the same model with its rules removed (sqlite3) gets 401s: the rules,
#    not a heuristic, carried the key.
# Needs root (live capture); skipped otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
. "$(dirname "$0")/jsonserver.sh"
need jq curl sqlite3 awk flock
[ "$(id -u)" -eq 0 ] || skip "live capture needs root"
js_install

# Ids of 3+ digits: capture follows only values that cannot be chance.
cat >"$WORK/seed.json" <<'JSON'
{
  "items": [{"id": 1000, "title": "seeded", "price": 1.5, "stock": 1,
             "tags": ["old"], "owner": {"name": "seed", "city": "Bergen"}}],
  "carts": [{"id": 5000, "note": "seeded"}],
  "lines": [{"id": 9000, "cartId": 5000, "sku": "S-0", "qty": 1}]
}
JSON
cp "$WORK/seed.json" "$WORK/db.json"
printf 'username,password\nalice,secret-a\nbob,secret-b\ncarol,secret-c\n' \
  >"$WORK/creds.csv"
# POST /access checks {login, password} and answers a session key; every
# other request needs a key it gave. Bodies of POST and PATCH are logged.
cat >"$WORK/shop.js" <<'JS'
const fs = require('fs');
const users = {};
for (const line of fs.readFileSync(process.env.CREDS, 'utf8').split('\n').slice(1)) {
  const f = line.split(',');
  if (f.length >= 2) users[f[0]] = f[1];
}
const keys = new Map();
let n = 0;
const log = (s) => fs.appendFileSync(process.env.MW_LOG, s + '\n');
module.exports = (req, res, next) => {
  if (req.method === 'GET' && req.path === '/db') return next();
  if (req.method === 'POST' && req.path === '/access') {
    const b = req.body || {};
    if (users[b.login] !== undefined && users[b.login] === b.password) {
      const k = 'k-' + b.login + '-' + (++n) + '-' + Math.random().toString(36).slice(2);
      keys.set(k, b.login);
      log('access-ok ' + b.login);
      res.status(200).json({session: {key: k, user: b.login}});
    } else {
      log('access-bad ' + JSON.stringify(b));
      res.status(401).json({error: 'bad credentials'});
    }
    return;
  }
  const h = req.headers.authorization || '';
  const k = h.startsWith('Bearer ') ? h.slice(7) : '';
  if (!keys.has(k)) {
    log('denied ' + req.method + ' ' + req.path + ' ' + (k ? 'bad-key' : 'no-key'));
    res.status(401).json({error: 'no valid session key'});
    return;
  }
  if (req.method === 'POST' || req.method === 'PATCH')
    log('body ' + req.method + ' ' + req.path + ' ' + JSON.stringify(req.body));
  next();
};
JS
export CREDS=$WORK/creds.csv MW_LOG=$WORK/mw.log
: >"$MW_LOG"
js_start "$WORK/db.json" "$WORK/shop.js" || { echo "json-server did not start"; exit 1; }
nginx_start "
        location /api/ { proxy_pass http://127.0.0.1:$JS_PORT/; }" ||
  { echo "nginx did not start"; exit 1; }

rc=$(run_status "$MIMIC" capture -q --iface lo --count 1 --duration 1s \
  -o "$WORK/probe.db")
if grep -q "needs root or the CAP_NET_RAW" "$WORK/last.err"; then
  skip "no capture permission: $(head -c 200 "$WORK/last.err")"
fi

# --- the exchange, captured live ------------------------------------------
"$MIMIC" capture --iface lo --filter "tcp port $NGINX_PORT" \
  -o "$WORK/m.db" 2>"$WORK/capture.err" &
cap=$!
for _ in $(seq 1 100); do
  grep -q "capturing on lo" "$WORK/capture.err" && break
  sleep 0.05
done
sleep 0.3

api() { # api UA METHOD PATH [BODY] -> body of the answer
  local ua=$1 m=$2 p=$3 b=${4:-}
  local args=(-s -A "$ua" -X "$m" -H "Authorization: Bearer $key")
  [ -n "$b" ] && args+=(-H 'Content-Type: application/json' -d "$b")
  curl "${args[@]}" "$NGINX_URL/api$p"
}
users=(alice bob carol)
for s in 1 2 3 4 5 6; do
  ua="shop-client/$s"
  u=${users[$(((s - 1) % 3))]}
  key=$(curl -s -A "$ua" -H 'Content-Type: application/json' \
    -d "{\"login\":\"$u\",\"password\":\"secret-${u:0:1}\"}" \
    "$NGINX_URL/api/access" | jq -r .session.key)
  api "$ua" GET /items >/dev/null
  for r in 1 2; do
    id=$(api "$ua" POST /items "{\"title\":\"mug $s$r\",\"price\":1$s.${r}5,
      \"stock\":$((s + r)),\"tags\":[\"red\",\"k$r\"],
      \"owner\":{\"name\":\"$u\",\"city\":\"Oslo\"}}" | jq .id)
    api "$ua" GET "/items/$id" >/dev/null
    api "$ua" PATCH "/items/$id" "{\"price\":2$s.25}" >/dev/null
    api "$ua" DELETE "/items/$id" >/dev/null
  done
  cart=$(api "$ua" POST /carts "{\"note\":\"week $s\"}" | jq .id)
  api "$ua" POST /lines "{\"cartId\":$cart,\"sku\":\"A-$s\",\"qty\":2}" >/dev/null
  api "$ua" POST /lines "{\"cartId\":$cart,\"sku\":\"B-$s\",\"qty\":1}" >/dev/null
  api "$ua" GET "/carts/$cart/lines" >/dev/null
  api "$ua" GET "/carts/$cart" >/dev/null
done
# 6 sessions of 1 + 1 + 2 * 4 + 5 requests.
sent=90
nginx_wait_requests "$sent" 5 || true
sleep 0.5
kill -INT "$cap"
set +e
wait "$cap"
rc=$?
set -e
check "capture exit" 0 "$rc"
check "nginx saw every request" "$sent" "$(nginx_requests)"
check "every request was captured" "$sent" "$(q "$WORK/m.db" "SELECT value FROM meta WHERE key = 'requests'")"
check "no 401 or 404 in the captured exchange" 0 "$(awk '$9 == 401 || $9 == 404' "$NGINX_LOG" | wc -l)"
rules() { q "$WORK/m.db" "SELECT count(*) FROM correlation c
  JOIN endpoint s ON s.id = c.src_endpoint JOIN endpoint d ON d.id = c.dst_endpoint
  WHERE $1"; }
check_true "rule: the key of /api/access is every later Authorization" \
  test "$(rules "s.template = '/api/access' AND c.src_name = '\$.session.key'
    AND c.dst_loc = 'header' AND c.dst_name = 'authorization'")" -ge 5
check_true "rule: a created item's id is the path of later item requests" \
  test "$(rules "s.template LIKE '/api/items%' AND c.src_name = '\$.id'
    AND d.template = '/api/items/{id}' AND c.dst_loc = 'path'")" -ge 3
check "rule: the cart's id is the cartId of lines" 1 \
  "$(rules "s.method = 'POST' AND s.template = '/api/carts' AND c.src_name = '\$.id'
    AND d.template = '/api/lines' AND c.dst_loc = 'json' AND c.dst_name = '\$.cartId'")"
check "shape: items have a nested owner" "string" \
  "$(q "$WORK/m.db" "SELECT f.type FROM body_field f JOIN endpoint e ON e.id = f.endpoint_id
    WHERE e.method = 'POST' AND e.template = '/api/items' AND f.dir = 'request'
    AND f.path = '\$.owner.name'")"
check "shape: items have an array of tags" "string" \
  "$(q "$WORK/m.db" "SELECT f.type FROM body_field f JOIN endpoint e ON e.id = f.endpoint_id
    WHERE e.method = 'POST' AND e.template = '/api/items' AND f.dir = 'request'
    AND f.path = '\$.tags[]'")"
cap_carts=$(js_db | jq '[.carts[].id] | max')
cap_lines=$(js_db | jq '[.lines[].id] | max')
check "the capture made 6 carts" 5006 "$cap_carts"
check_false "no password or key in the model" grep -aqE "secret-[abc]|k-(alice|bob|carol)-" "$WORK/m.db"

# --- replay without --bodies ----------------------------------------------
: >"$NGINX_LOG"
: >"$MW_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --target "$NGINX_URL" \
  --users 6 --min-request-count 20 --max-request-count 30 --delay-min 0 \
  --delay-max 5 --credentials "$WORK/creds.csv" --seed 4 \
  --report "$WORK/r.json")
check "replay exit" 0 "$rc"
[ "$rc" = 0 ] || cat "$WORK/last.err"
r=$WORK/r.json
n=$(jq .requests "$r")
check_true "a real run ($n requests)" test "$n" -ge 120
check "every request answered" "$n" "$(jq .responses "$r")"
check "no 401: every request carried this run's key" 0 "$(awk '$9 == 401' "$NGINX_LOG" | wc -l)"
check "no request was refused by the middleware" 0 "$(grep -c '^denied\|^access-bad' "$MW_LOG" || true)"
check "no 404: ids were this run's" 0 "$(awk '$9 == 404' "$NGINX_LOG" | wc -l)"
check "no real error" 0 "$(jq '.real.errors + .real.status_classes["4xx"] + .real.status_classes["5xx"]' "$r")"
check_true "logins with the users' credentials" test "$(grep -c '^access-ok' "$MW_LOG")" -ge 6
echo "learned: $(jq -c .stateful.learned "$r")"
echo "a body: $(grep -m1 "^body POST /items " "$MW_LOG")"
check_true "rules in use" test "$(jq .stateful.learned.rules "$r")" -ge 10
check_true "values taken from answers" test "$(jq .stateful.learned.values_taken "$r")" -ge 20
check_true "values put into requests" test "$(jq .stateful.learned.values_put "$r")" -ge 100
check "no request with a learned value got a 404" 0 "$(jq .stateful.learned.put_404 "$r")"
check_true "bodies from learned shapes" test "$(jq .stateful.learned.shaped_bodies "$r")" -ge 20
# Items as sent: the learned shape and types.
jq -n '[inputs]' <(grep '^body POST /items ' "$MW_LOG" | cut -d' ' -f4-) >"$WORK/items.json"
check_true "items were created" test "$(jq length "$WORK/items.json")" -ge 5
check "items: title string, price number, stock integer, tags strings, owner.name string" 0 \
  "$(jq '[.[] | select((.title | type) != "string" or (.price | type) != "number"
     or (.stock | type) != "number" or (.stock | floor) != .stock
     or (.tags | type) != "array" or ([.tags[] | type] | unique) != ["string"]
     or (.owner.name | type) != "string" or (.owner.city | type) != "string")] | length' "$WORK/items.json")"
check "items: values from the learned pools" 0 \
  "$(jq '[.[] | select((.title | test("^mug [1-6][12]$") | not) or .owner.city != "Oslo")] | length' "$WORK/items.json")"
# Lines: each names a cart this run made (ids past the capture's).
db=$(js_db)
new_lines() { echo "$db" | jq --argjson l "$cap_lines" "[.lines[] | select(.id > \$l) | $1] | length"; }
check_true "lines were created" test "$(new_lines .)" -ge 5
check "every new line names a cart that exists and that this run made" 0 \
  "$(echo "$db" | jq --argjson cap "$cap_carts" --argjson l "$cap_lines" \
     '[.carts[].id] as $c | [.lines[] | select(.id > $l)
     | select((.cartId | type) != "number" or (.cartId as $x | $c | index($x)) == null
     or .cartId <= $cap)] | length')"
check "new lines: sku string, qty integer" 0 \
  "$(new_lines 'select((.sku | type) != "string" or (.qty | type) != "number")')"

# --- the same model without its rules: the key is not carried -------------
cp "$WORK/m.db" "$WORK/norules.db"
q "$WORK/norules.db" "DELETE FROM correlation"
: >"$NGINX_LOG"
: >"$MW_LOG"
rc=$(run_status "$MIMIC" replay "$WORK/norules.db" --target "$NGINX_URL" \
  --users 6 --min-request-count 20 --max-request-count 30 --delay-min 0 \
  --delay-max 5 --credentials "$WORK/creds.csv" --seed 4 \
  --report "$WORK/r0.json")
check "replay without rules: exit 0" 0 "$rc"
check "without rules: no rule in use" 0 "$(jq .stateful.learned.rules "$WORK/r0.json")"
check_true "without rules: logins still succeed (learned shape)" \
  test "$(grep -c '^access-ok' "$MW_LOG")" -ge 6
denied=$(awk '$9 == 401' "$NGINX_LOG" | wc -l)
check_true "without rules: requests lack the key (401: $denied)" \
  test "$denied" -ge $(($(jq .requests "$WORK/r0.json") / 2))
finish
