#!/usr/bin/env bash
# Load shapes measured where they land: requests per second in nginx's own
# access log, for replays of a model whose sessions are one request each
# (so requests follow session arrivals), at 300 sessions/s on average.
# Tolerances: a whole second at 300/s has a Poisson spread of ~6%, so
# single seconds are held to +-15% and averages over several seconds to
# +-10%; ratios between levels get the room of both ends.
#   normal   steady at the mean: every second within 15%, the total within 8%
#   peak     (factor 2) rising over the first quarter (last second of it
#            1.2-2.2x the first), a flat middle (2-second blocks within
#            10% of their mean, 1.8-2.2x the start), falling over the last
#            quarter
#   burst    on seconds at about twice the mean (1.7-2.3x), off seconds
#            under a tenth of on ones
#   diurnal  the three levels of the model's day (20:100:50) in its three
#            thirds, compressed into 15 s
#   error-injection  steady, with 15% of requests faulted (12-18%)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
. "$(dirname "$0")/scenario_model.sh"
need jq awk sqlite3
: "${MIMIC_SRC:?}"

scenario_model "$WORK/flat.db" /flat
nginx_start || { echo "nginx did not start"; exit 1; }

# shape NAME SECONDS ARGS...: replays, waits for nginx's log, writes the
# per-second counts since the first request to $WORK/NAME.rates.
shape() {
  local name=$1 secs=$2 t0
  shift 2
  : >"$NGINX_LOG"
  "$MIMIC" replay "$WORK/flat.db" --target "$NGINX_URL" --delay-min 0 \
    --delay-max 0 --report "$WORK/$name.json" "$@" 2>"$WORK/$name.err"
  nginx_wait_requests "$(jq .responses "$WORK/$name.json")" 5 || true
  t0=$(awk 'NR == 1 || $NF < m { m = $NF } END { printf "%.3f", m }' "$NGINX_LOG")
  per_second "$NGINX_LOG" "$t0" "$secs" >"$WORK/$name.rates"
  echo "$name: $(tr '\n' ' ' <"$WORK/$name.rates")"
}

# --- normal ----------------------------------------------------------------
shape normal 8 --scenario normal --time-scale 30 --duration 8s
check "normal: every request answered" "$(jq .requests "$WORK/normal.json")" \
  "$(jq .responses "$WORK/normal.json")"
for s in 1 2 3 4 5 6; do
  v=$(sed -n "$((s + 1))p" "$WORK/normal.rates")
  check_true "normal: second $s at 300/s +-15% ($v)" ratio_in "$v" 300 0.85 1.15
done
total=$(jq .requests "$WORK/normal.json")
check_true "normal: total near 8 s x 300/s ($total)" ratio_in "$total" 2400 0.92 1.08
check "normal: report names it" normal "$(jq -r .scenario.name "$WORK/normal.json")"

# --- peak --------------------------------------------------------------------
shape peak 12 --scenario peak --time-scale 30 --duration 12s
r=$WORK/peak.rates
first=$(mean "$r" 0 0); q1=$(mean "$r" 2 2)
check_true "peak: rising first quarter ($first -> $q1)" ratio_in "$q1" "$first" 1.2 2.2
mid=$(mean "$r" 3 8)
for b in 3 5 7; do
  v=$(mean "$r" "$b" $((b + 1)))
  check_true "peak: flat middle, seconds $b-$((b + 1)) within 10% ($v of $mid)" \
    ratio_in "$v" "$mid" 0.9 1.1
done
check_true "peak: the plateau is twice the mean ($mid)" ratio_in "$mid" 300 1.8 2.2
q4=$(mean "$r" 9 9); last=$(mean "$r" 11 11)
check_true "peak: falling last quarter ($q4 -> $last)" ratio_in "$q4" "$last" 1.2 2.2
check_true "peak: the plateau above both ends" ratio_in "$mid" "$q1" 1.0 2
check "peak: factor in the report" 2 "$(jq .scenario.peak_factor "$WORK/peak.json")"

# --- burst: periods of 2 s, on for the first --------------------------------
shape burst 12 --scenario burst --time-scale 30 --duration 12s
awk 'NR % 2 == 1' "$WORK/burst.rates" >"$WORK/on.txt"
awk 'NR % 2 == 0' "$WORK/burst.rates" >"$WORK/off.txt"
on=$(mean "$WORK/on.txt" 0 5); off=$(mean "$WORK/off.txt" 0 5)
check_true "burst: on seconds at twice the mean ($on)" ratio_in "$on" 300 1.7 2.3
check_true "burst: off seconds near silent ($off vs $on)" ratio_in "$off" "$on" 0 0.1

# --- diurnal: a day in 15 s (scale brings the mean back to 300/s) ------------
shape diurnal 15 --scenario diurnal --time-scale 5760 --scale 0.00520833
r=$WORK/diurnal.rates
night=$(mean "$r" 0 3); day=$(mean "$r" 6 8); evening=$(mean "$r" 11 13)
check_true "diurnal: day / night = 5 ($day / $night)" ratio_in "$day" "$night" 4 6.2
check_true "diurnal: evening / night = 2.5 ($evening / $night)" ratio_in "$evening" "$night" 2 3.1
all=$(mean "$r" 0 14)
check_true "diurnal: the mean kept ($all)" ratio_in "$all" 300 0.88 1.12
e=$(jq .elapsed_seconds "$WORK/diurnal.json")
check_true "diurnal: runs one compressed day ($e s)" ratio_in "$e" 15 0.98 1.1

# --- error-injection ------------------------------------------------------------
shape errors 6 --scenario error-injection --time-scale 30 --duration 6s
# The model's one endpoint takes no id, body or token: only the client
# faults (timeout, abort) can be played, and they are.
inj=$(jq '.injected.requests' "$WORK/errors.json")
req=$(jq '.requests' "$WORK/errors.json")
check_true "error-injection: 15% of requests faulted ($inj of $req)" \
  awk -v a="$inj" -v b="$req" 'BEGIN { exit !(b > 0 && a / b > 0.12 && a / b < 0.18) }'
check "error-injection: only kinds this model can play" "abort timeout" \
  "$(jq -r '.injected.kinds | keys | join(" ")' "$WORK/errors.json")"
check "error-injection: every fault answered as its kind expects" "$inj" \
  "$(jq '.injected.expected' "$WORK/errors.json")"
check "error-injection: no real errors" 0 \
  "$(jq '[.real.status_classes["4xx"], .real.status_classes["5xx"]] | add // 0' "$WORK/errors.json")"
total=$(jq .sessions "$WORK/errors.json")
check_true "error-injection: sessions steady at the mean ($total in 6 s)" ratio_in "$total" 1800 0.9 1.1
finish
