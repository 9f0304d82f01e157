#!/usr/bin/env bash
# Benchmark of `mimic capture` on a packet capture against tshark (and
# tcpdump -r / dumpcap's reader as a floor when present), side by side in
# one run, on a capture the script makes itself: a private nginx on
# loopback, loaded by wrk with varied requests (API paths with ids and
# queries, 1 kB files), captured with dumpcap. Nothing is committed.
#
# Usage: tools/bench/pcap.sh [--requests N] [--runs N]
# Environment: MIMIC (default ./build/mimic, use a Release build), TMPDIR.
# Exit: 0 all tools ran; 1 a tool failed; 2 a prerequisite is missing (root
# or CAP_NET_RAW for dumpcap, nginx, wrk, tshark) or bad arguments.
set -euo pipefail
export LC_ALL=C

requests=150000
runs=3
mimic=${MIMIC:-./build/mimic}

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }

need_value() {
  if [[ $# -lt 2 || ! $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "pcap.sh: $1 needs a positive integer" >&2
    exit 2
  fi
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --requests) need_value "$@"; requests=$2; shift 2 ;;
    --runs) need_value "$@"; runs=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "pcap.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

missing=0
for tool in tshark dumpcap wrk nginx capinfos; do
  if ! command -v "$tool" > /dev/null && [[ ! -x /usr/sbin/$tool ]]; then
    echo "pcap.sh: $tool is missing (Debian: tshark, wrk, nginx)" >&2
    missing=1
  fi
done
if [[ ! -x /usr/bin/time ]]; then
  echo "pcap.sh: /usr/bin/time is missing (Debian package 'time')" >&2
  missing=1
fi
if ! command -v -- "$mimic" > /dev/null; then
  echo "pcap.sh: mimic not found at $mimic: build it (Release) or set MIMIC=" >&2
  missing=1
fi
[[ $missing -eq 0 ]] || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic-pcapbench.XXXXXX")
WORK=$tmp
export WORK
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM
# shellcheck source=../../tests/integration/nginx.sh
NGINX_ACCESS_LOG=off . "$(dirname "$0")/../../tests/integration/nginx.sh"
nginx_start || { echo "pcap.sh: nginx did not start" >&2; exit 2; }
pcap=$tmp/http.pcap

# ---- the capture ----------------------------------------------------------
cat > "$tmp/load.lua" << EOF
-- Varied requests: API paths with ids, queries, static files; stops after
-- $requests responses.
local n, counter = 0, 0
request = function()
  n = n + 1
  local k = n % 10
  if k < 3 then return wrk.format("GET", "/1k.txt") end
  if k < 6 then
    return wrk.format("GET", "/api/v1/users/" .. (n % 5000) ..
      "/orders?page=" .. (n % 7) .. "&sort=date")
  end
  if k < 8 then
    return wrk.format("POST", "/api/v1/carts/" .. (n % 900) .. "/items",
      {["Content-Type"] = "application/json"},
      '{"sku":"b-' .. (n % 300) .. '","qty":' .. (n % 4 + 1) .. '}')
  end
  return wrk.format("GET", "/status/" .. (k == 8 and "404" or "200"))
end
response = function(status, headers, body)
  counter = counter + 1
  if counter >= $requests then wrk.thread:stop() end
end
EOF
echo "capturing $requests requests to nginx on loopback with dumpcap ..."
dumpcap -q -i lo -f "tcp port $NGINX_PORT" -B 64 -P -w "$pcap" \
  2> "$tmp/dumpcap.err" &
dc=$!
for _ in $(seq 1 100); do
  grep -q "Capturing on" "$tmp/dumpcap.err" 2> /dev/null && break
  kill -0 "$dc" 2> /dev/null || break
  sleep 0.05
done
if ! kill -0 "$dc" 2> /dev/null; then
  echo "pcap.sh: dumpcap cannot capture here (root or CAP_NET_RAW):" >&2
  cat "$tmp/dumpcap.err" >&2
  exit 2
fi
sleep 0.5
timeout 120 wrk -t1 -c10 -d100s -s "$tmp/load.lua" "$NGINX_URL" > "$tmp/wrk.out"
sleep 0.5
kill -INT "$dc"
wait "$dc" || true
nginx_stop || true
bytes=$(wc -c < "$pcap")
packets=$(capinfos -c -M "$pcap" | awk '/Number of packets/ { print $NF }')
drops=$(grep -o 'Packets dropped[^.]*' "$tmp/dumpcap.err" | head -n 1 || true)
cat "$pcap" > /dev/null
cat "$pcap" > /dev/null

declare -A failed=()
run_timed() { # NAME CMD...
  local name=$1 t0 t1 rc=0
  shift
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%e %M %U %S' -o "$tmp/$name.time" "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
  t1=$EPOCHREALTIME
  if [[ $rc -ne 0 ]]; then
    failed[$name]=$rc
    echo "  $name failed (exit $rc):" >&2
    tail -n 5 "$tmp/$name.err" | sed 's/^/    /' >&2
    return "$rc"
  fi
  awk -v t0="$t0" -v t1="$t1" 'END { printf "%.3f %d %.3f\n", t1 - t0, $2,
    $3 + $4 }' "$tmp/$name.time" >> "$tmp/$name.times"
}

mimic_cmd=("$mimic" capture "$pcap" -o "$tmp/model.db" --force --quiet)
tshark_cmd=(tshark -n -r "$pcap" -Y http.request -T fields -e http.request.uri)
floor_cmd=()
floor_name=""
if command -v tcpdump > /dev/null; then
  floor_cmd=(tcpdump -nn -r "$pcap")
  floor_name="tcpdump -r"
fi

echo "running $runs alternating rounds (tshark takes ~7 MB/s) ..."
for ((i = 1; i <= runs; i++)); do
  echo " round $i/$runs"
  [[ -n ${failed[tshark]:-} ]] || run_timed tshark "${tshark_cmd[@]}" || true
  [[ -n ${failed[mimic]:-} ]] || run_timed mimic "${mimic_cmd[@]}" || true
  if [[ ${#floor_cmd[@]} -gt 0 && -z ${failed[floor]:-} ]]; then
    run_timed floor "${floor_cmd[@]}" || true
  fi
done

# summary NAME: "median_wall_s max_rss_kb median_cpu_s" of its runs.
summary() {
  [[ -s $tmp/$1.times ]] || return 0
  local cpu
  cpu=$(awk '{ print $3 }' "$tmp/$1.times" | sort -g | awk '
    { c[NR] = $1 }
    END { printf "%.3f", NR % 2 ? c[(NR + 1) / 2] : (c[NR / 2] + c[NR / 2 + 1]) / 2 }')
  sort -g "$tmp/$1.times" | awk -v cpu="$cpu" '
    { t[NR] = $1; if ($2 > rss) rss = $2 }
    END {
      m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%.3f %d %s\n", m, rss, cpu
    }'
}

tshark_req=$(wc -l < "$tmp/tshark.out" 2> /dev/null || echo 0)
mimic_req=$(sqlite3 -batch -noheader "$tmp/model.db" \
  "SELECT value FROM meta WHERE key = 'pcap_requests'" 2> /dev/null || echo "?")

row() { # LABEL NAME REQUESTS
  local s
  s=$(summary "$2")
  if [[ -z $s ]]; then
    printf '%-22s %s\n' "$1" "${failed[$2]:+failed (exit ${failed[$2]})}"
    return
  fi
  awk -v label="$1" -v s="$s" -v bytes="$bytes" -v p="$packets" -v r="$3" '
    BEGIN {
      split(s, a, " ")
      printf "%-22s %9.3f %9.1f %12.0f %12s %8.3f %10.1f %10.1f\n", label,
        a[1], bytes / 1e6 / a[1], p / a[1],
        r ~ /^[0-9]+$/ ? sprintf("%.0f", r / a[1]) : "-", a[3],
        (a[3] > 0 ? bytes / 1e6 / a[3] : 0), a[2] / 1024
    }'
}

echo
printf 'input: %s packets, %.1f MB pcap of %s HTTP requests on loopback ' \
  "$packets" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$mimic_req"
printf '(nginx + wrk, made by this script), %s runs each, %s CPUs%s\n' \
  "$runs" "$(nproc)" "${drops:+, dumpcap: $drops}"
printf '%-22s %9s %9s %12s %12s %8s %10s %10s\n' tool "median s" "MB/s" \
  "packets/s" "requests/s" "CPU s" "MB/CPU-s" "peak MiB"
row "tshark $(tshark --version 2> /dev/null | head -n 1 | awk '{ print $2 }')" \
  tshark "$tshark_req"
row "mimic capture" mimic "$mimic_req"
[[ -n $floor_name ]] && row "$floor_name (floor)" floor "-"
echo "tshark found $tshark_req requests, mimic $mimic_req"
ts=$(summary tshark)
mi=$(summary mimic)
if [[ -n $ts && -n $mi ]]; then
  awk -v ts="$ts" -v mi="$mi" 'BEGIN {
    split(ts, t, " "); split(mi, m, " ")
    ratio = t[1] / m[1]
    printf "mimic/tshark throughput: %.1fx wall, %.1fx per CPU-second " \
      "(target >= 20x: %s)\n", ratio, (m[3] > 0 ? t[3] / m[3] : 0),
      ratio >= 20 ? "met" : "NOT met"
  }'
fi
[[ ${#failed[@]} -eq 0 ]] || exit 1
exit 0
