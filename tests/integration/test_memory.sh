#!/usr/bin/env bash
# Streaming: memory follows live sessions and distinct endpoints, not the
# input size; an endpoint explosion is capped with a warning, not an OOM.
. "$(dirname "$0")/lib.sh"
need awk
[ -x /usr/bin/time ] || skip "/usr/bin/time (Debian package time) is missing"
: "${GENLOG:?}"

rss_kb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1; }

"$GENLOG" --lines 50000 --seed 3 -o "$WORK/small.log"
"$GENLOG" --lines 400000 --seed 3 -o "$WORK/big.log"
small=$(rss_kb "$MIMIC" capture -q --force -o "$WORK/s.db" "$WORK/small.log")
big=$(rss_kb "$MIMIC" capture -q --force -o "$WORK/b.db" "$WORK/big.log")
echo "     peak RSS: 50k lines ${small} kB, 400k lines ${big} kB"
check_true "8x the input does not take 2x the memory ($small kB -> $big kB)" \
  test "$big" -lt "$((small * 2))"

# A million distinct paths that look like words: collapsed or capped.
awk 'BEGIN { srand(7); for (i = 0; i < 300000; i++) {
  a = ""; b = ""
  for (k = 0; k < 7; k++) { a = a sprintf("%c", 97 + int(rand() * 26)); b = b sprintf("%c", 97 + int(rand() * 26)) }
  printf "10.0.%d.%d - - [02/Nov/2026:10:%02d:%02d +0000] \"GET /%s/%s/%s HTTP/1.1\" 200 10 \"-\" \"x\"\n",
    i % 200, i % 250, int(i / 6000) % 60, int(i / 100) % 60, substr(a, 1, 3), a, b } }' >"$WORK/explode.log"
rss=$(rss_kb "$MIMIC" capture --force -o "$WORK/e.db" --max-endpoints 2000 "$WORK/explode.log")
echo "     endpoint explosion: peak RSS ${rss} kB"
check_true "endpoint explosion stays under 200 MB ($rss kB)" test "$rss" -lt 204800
"$MIMIC" inspect --json "$WORK/e.db" >"$WORK/e.json"
check "explosion: every line learned" 300000 "$(jq .requests "$WORK/e.json")"
eps=$(jq '.endpoints | length' "$WORK/e.json")
check_true "explosion: endpoints bounded ($eps <= 2000 + catch-alls)" test "$eps" -le 2010
finish
