#!/usr/bin/env bash
# Personas: capture groups the sessions of the project's generator, which
# mixes five kinds of users (browsers, the mobile app, partner API clients,
# search crawlers, scanners), into personas that match those kinds. The
# ground truth comes from the log itself: every line carries its user's
# address and user agent, which tell the kinds apart and which capture
# never looks at for clustering. Also: --personas K, --personas 1 adds up
# to the same totals, the same seed gives the same personas, inspect lists
# them, replay --user-types plays only the named ones, a session's user
# agent comes from its persona (crawlers send crawler user agents, browsing
# personas browser ones; a model without per-persona counts still replays,
# from the one pool), and a temporary file that cannot be written leaves a
# model with one persona and a clear warning.
. "$(dirname "$0")/lib.sh"
need jq awk sqlite3
: "${GENLOG:?}"

"$GENLOG" --lines 60000 --seed 5 --format combined -o "$WORK/g.log"
rc=$(run_status "$MIMIC" capture -o "$WORK/m.db" "$WORK/g.log")
check "capture exit" 0 "$rc"
check_true "capture names the personas it found" \
  grep -q "personas (chosen by BIC): " "$WORK/last.err"

# Requests of each kind of user, from address and user agent.
awk '{
  ua = $0; sub(/^[^"]*"[^"]*"[^"]*"[^"]*"[^"]*"/, "", ua); sub(/".*$/, "", ua)
  split($1, o, ".")
  if (ua ~ /Googlebot|bingbot|AhrefsBot|SemrushBot|YandexBot|GPTBot|Applebot|DuckDuckBot|facebookexternalhit/) k = "crawler"
  else if (ua ~ /^ShopApp/) k = "mobile"
  else if ($1 !~ /:/ && o[1] ~ /^(3|13|18|34|35|52|104)$/) k = "api"
  else if ($1 !~ /:/ && o[1] ~ /^(45|89|103|193|194|209)$/) k = "scanner"
  else k = "browser"
  n[k]++
} END { for (k in n) print k, n[k] }' "$WORK/g.log" >"$WORK/truth.txt"
truth() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/truth.txt"; }

# Requests of persona $1 (an id), all or to endpoints matching SQL LIKE $2.
preq() {
  q "$WORK/m.db" "SELECT coalesce(sum(t.count), 0) FROM transition t
    JOIN endpoint e ON e.id = t.to_ep
    WHERE t.persona_id = $1 AND e.template LIKE '${2:-%}'"
}
# The persona holding the most requests to endpoints matching $1.
holder() {
  q "$WORK/m.db" "SELECT t.persona_id FROM transition t
    JOIN endpoint e ON e.id = t.to_ep WHERE e.template LIKE '$1'
    GROUP BY t.persona_id ORDER BY sum(t.count) DESC, t.persona_id LIMIT 1"
}
# within A B PCT: A is within PCT% of B.
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { exit !(b > 0 && (a - b) / b <= p / 100 && (b - a) / b <= p / 100) }'; }

np=$(q "$WORK/m.db" "SELECT count(*) FROM persona")
check_true "several personas, at most 8 ($np)" test "$np" -ge 3 -a "$np" -le 8
check "persona names are unique and [a-z0-9-]" "$np" \
  "$(q "$WORK/m.db" "SELECT count(DISTINCT name) FROM persona" )"
check "no name outside [a-z0-9-]" "" \
  "$(q "$WORK/m.db" "SELECT name FROM persona" | grep -v '^[a-z0-9][a-z0-9-]*$' || true)"
check "weights add up to 1" 1.0 \
  "$(q "$WORK/m.db" "SELECT round(sum(weight), 6) FROM persona")"

# --- crawlers: one persona, all of them, and nothing else ------------------
c=$(holder /robots.txt)
cname=$(q "$WORK/m.db" "SELECT name FROM persona WHERE id = $c")
check "the persona of robots.txt is named" crawler "$cname"
creq=$(preq "$c")
check_true "crawler persona: $creq requests, crawler user agents made $(truth crawler) (5%)" \
  within "$creq" "$(truth crawler)" 5
# Browsers fetch assets and images, the app and partners call /api/: a
# crawler persona polluted by other users would have them.
other=$(( $(preq "$c" '/static/%') + $(preq "$c" '/images/%') + $(preq "$c" '/api/%') ))
check_true "crawler persona: no assets, images or API calls ($other of $creq)" \
  test $((other * 100)) -lt "$creq"
top=$(q "$WORK/m.db" "SELECT e.template FROM transition t JOIN endpoint e
  ON e.id = t.to_ep WHERE t.persona_id = $c GROUP BY e.id
  ORDER BY sum(t.count) DESC LIMIT 3")
check "crawler persona: its top endpoints are the crawler's pages" "" \
  "$(echo "$top" | grep -Ev '^(/|/products|/products/\{id\}|/categories/.*|/robots.txt|/sitemap.xml|/product.php)$' || true)"

# --- scanners: the persona of errors ----------------------------------------
s=$(q "$WORK/m.db" "SELECT p.id FROM persona p ORDER BY
  (SELECT 1.0 * sum(es.count) FROM transition t
     JOIN endpoint_status es ON es.endpoint_id = t.to_ep
     WHERE t.persona_id = p.id AND es.status >= 400) /
  (SELECT sum(t.count) FROM transition t WHERE t.persona_id = p.id AND t.to_ep >= 0)
  DESC LIMIT 1")
sname=$(q "$WORK/m.db" "SELECT name FROM persona WHERE id = $s")
check_true "the scanners' persona says errors ($sname)" \
  test "${sname%-errors}" != "$sname"
sreq=$(preq "$s")
check_true "scanner persona: $sreq requests, scanner addresses made $(truth scanner) (5%)" \
  within "$sreq" "$(truth scanner)" 5

# --- partners: order sync over the API --------------------------------------
a=$(holder '/api/v1/orders%')
aname=$(q "$WORK/m.db" "SELECT name FROM persona WHERE id = $a")
check_true "the order-sync persona is an API writer ($aname)" \
  test "${aname#api-}" != "$aname" -a "${aname%-writer}" != "$aname"
areq=$(preq "$a")
check_true "order-sync persona: $areq requests, partner addresses made $(truth api) (20%)" \
  within "$areq" "$(truth api)" 20
check_true "order-sync persona: no pages or assets" \
  test "$(preq "$a" '/static/%')" -eq 0 -a "$(preq "$a" '/products/%')" -lt $((areq / 100 + 1))

# --- inspect ----------------------------------------------------------------
"$MIMIC" inspect --json "$WORK/m.db" >"$WORK/m.json"
check "inspect --json lists the personas" "$np" "$(jq '.personas | length' "$WORK/m.json")"
check "inspect --json: the crawler's top endpoint" /products/{id} \
  "$(jq -r '.personas[] | select(.name == "crawler") | .top_endpoints[0].template' "$WORK/m.json")"
check "inspect --json: persona requests add up" "$(jq .requests "$WORK/m.json")" \
  "$(jq '[.personas[].requests] | add' "$WORK/m.json")"
"$MIMIC" inspect "$WORK/m.db" >"$WORK/m.txt"
check_true "inspect text shows the crawler row" grep -Eq '^  crawler +[0-9.]+%' "$WORK/m.txt"

# --- same seed, same personas; --personas K; --personas 1 --------------------
"$MIMIC" capture -q -o "$WORK/m2.db" "$WORK/g.log"
check "same input and seed, same personas" \
  "$(q "$WORK/m.db" "SELECT group_concat(name || ':' || sessions) FROM persona")" \
  "$(q "$WORK/m2.db" "SELECT group_concat(name || ':' || sessions) FROM persona")"
"$MIMIC" capture -q --personas 3 -o "$WORK/m3.db" "$WORK/g.log"
check "--personas 3" 3 "$(q "$WORK/m3.db" "SELECT count(*) FROM persona")"
"$MIMIC" capture -q --personas 1 -o "$WORK/m1.db" "$WORK/g.log"
check "--personas 1: one persona, all" all "$(q "$WORK/m1.db" "SELECT group_concat(name) FROM persona")"
sums="SELECT sum(count), sum(count * (from_ep + 7) * (to_ep + 5)) FROM transition"
check "the personas add up to the one-persona chain" "$(q "$WORK/m1.db" "$sums")" "$(q "$WORK/m.db" "$sums")"
check "... and sessions" "$(q "$WORK/m1.db" "SELECT sum(sessions) FROM persona")" \
  "$(q "$WORK/m.db" "SELECT sum(sessions) FROM persona")"
check "--personas 0 is refused" 2 "$(run_status "$MIMIC" capture --personas 0 -o "$WORK/x.db" "$WORK/g.log")"

# --- replay --user-types --------------------------------------------------------
"$MIMIC" replay "$WORK/m.db" --dry-run --users 20 --min-request-count 100 \
  --max-request-count 100 --delay-min 0 --delay-max 0 --user-types crawler \
  --quiet >"$WORK/plan.txt"
check "replay --user-types crawler: 2000 requests planned" 2000 "$(wc -l <"$WORK/plan.txt")"
# The crawler persona holds a few other users' requests itself ($other of
# $creq, ~0.2%), and a faithful replay plays them too: at most 1% elsewhere
# (a persona mixed with browsers would send a fifth or more).
off=$(awk '{ p = $4; sub(/\?.*/, "", p); print p }' "$WORK/plan.txt" |
  grep -Evc '^(/|/products|/products/[0-9]+|/categories/.*|/robots.txt|/sitemap.xml|/product.php)$' || true)
check_true "... all but $off of them to the crawler's pages (at most 20)" test "$off" -le 20
rc=$(run_status "$MIMIC" replay "$WORK/m.db" --dry-run --users 1 --user-types crawler,nobody)
check "replay --user-types with an unknown name: usage error" 2 "$rc"
check_true "... naming it and listing the personas" \
  grep -q "unknown persona 'nobody'; the model has: .*crawler" "$WORK/last.err"

# --- user agents by persona --------------------------------------------------
# A session's user agent comes from its persona's own: the crawler
# persona's sessions send crawler user agents, the browsing personas'
# sessions browser ones. Kinds as in the truth above: crawlers by family
# name; browsers are the other "Mozilla/5.0 (" agents (not the scanners'
# zgrab or Censys, nor the app's, the partners' or curl).
# uakind DB PERSONAS WANT: "matching total" over the sessions of a dry run
# of PERSONAS, matching when the session's user agent is of kind WANT.
uakind() {
  "$MIMIC" replay "$1" --dry-run --users 40 --min-request-count 200 \
    --max-request-count 200 --delay-min 0 --delay-max 0 --user-types "$2" \
    --seed 7 --quiet | awk -v want="$3" '
    !($2 in seen) {
      seen[$2] = 1; ua = $0; sub(/^[^"]*"/, "", ua); sub(/"[^"]*$/, "", ua)
      if (ua ~ /Googlebot|bingbot|AhrefsBot|SemrushBot|YandexBot|GPTBot|Applebot|DuckDuckBot|facebookexternalhit/) k = "bot"
      else if (ua ~ /^Mozilla\/5\.0 \(/ && ua !~ /zgrab|Censys/) k = "browser"
      else k = "other"
      n++; if (k == want) m++
    }
    END { print m + 0, n + 0 }'
}
browse=$(q "$WORK/m.db" "SELECT group_concat(name) FROM persona WHERE name LIKE 'browse-%'")
check_true "browsing personas found ($browse)" test -n "$browse"
read -r cm cn < <(uakind "$WORK/m.db" crawler bot)
read -r bm bn < <(uakind "$WORK/m.db" "$browse" browser)
check_true "crawler persona: crawler user agents in $cm of $cn sessions (90%)" \
  test "$cn" -ge 100 -a $((cm * 100)) -ge $((cn * 90))
check_true "browsing personas: browser user agents in $bm of $bn sessions (95%)" \
  test "$bn" -ge 100 -a $((bm * 100)) -ge $((bn * 95))
check_true "$((cm + bm)) of $((cn + bn)) sessions send their persona's kind of user agent (95%)" \
  test $(((cm + bm) * 100)) -ge $(((cn + bn) * 95))
check "inspect --json: the crawler's top user agent is a bot" true \
  "$(jq '.personas[] | select(.name == "crawler") | .top_user_agent.bot' "$WORK/m.json")"
check_true "inspect text: each persona's user agent" \
  test "$(grep -c '^    user agent ' "$WORK/m.txt")" -eq "$np"
# A model from before the table (dropped here) still loads and replays,
# from the one pool of every user agent: crawler sessions then mostly send
# browser user agents, which is what the checks above tell apart.
cp "$WORK/m.db" "$WORK/old.db"
q "$WORK/old.db" "DROP TABLE persona_user_agent"
read -r om on < <(uakind "$WORK/old.db" crawler bot)
check_true "without the table: crawler user agents in $om of $on crawler sessions (the pool's share, under 50%)" \
  test "$on" -ge 100 -a $((om * 100)) -lt $((on * 50))
check "without the table: inspect --json has no top user agent" null \
  "$("$MIMIC" inspect --json "$WORK/old.db" | jq '.personas[0].top_user_agent')"

# --- the temporary session file cannot be written ---------------------------
rc=$(run_status env TMPDIR="$WORK/missing" "$MIMIC" capture -o "$WORK/f.db" "$WORK/g.log")
check "no temporary file: the model is still written" 0 "$rc"
check_true "... with a warning naming the folder" \
  grep -q "not grouped into personas: the temporary session file in $WORK/missing failed" "$WORK/last.err"
check "... and one persona" all "$(q "$WORK/f.db" "SELECT group_concat(name) FROM persona")"
check "... noted in the model" 1 \
  "$(q "$WORK/f.db" "SELECT count(*) FROM meta WHERE key = 'persona_note'")"
mnt="$WORK/full"
mkdir -p "$mnt"
if mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  rc=$(run_status env TMPDIR="$mnt" "$MIMIC" capture -o "$WORK/d.db" "$WORK/g.log")
  check "full disk for the temporary file: the model is still written" 0 "$rc"
  check_true "... the warning says the disk is full" grep -q "the disk is full" "$WORK/last.err"
  check "... one persona, as learned from everything" \
    "$(q "$WORK/m1.db" "$sums")" "$(q "$WORK/d.db" "$sums")"
  check "... and nothing is left on that disk" "" "$(ls -A "$mnt")"
  umount "$mnt"
else
  echo "skip full-disk part: cannot mount a tmpfs here"
fi
finish
