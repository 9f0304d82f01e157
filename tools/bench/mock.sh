#!/usr/bin/env bash
# Benchmark of `mimic mock` against nginx for small responses: the same wrk
# load on each, side by side in one run, alternating, pinned as in
# tools/bench/replay.sh (servers on CPU 1, wrk on CPU 0), one worker each.
# Both answer GET / with 200 and a 3-byte body ("ok\n"; the mock from a
# model learned from a log of such answers); first without access logs,
# then with them (nginx with the mimic log format, mock with --log).
#
# Usage: tools/bench/mock.sh [--duration DUR] [--connections N] [--rounds R]
#   --duration DUR    length of each wrk run (default 10s)
#   --connections N   wrk connections (default 50)
#   --rounds R        runs per server and case; the median counts (default 3)
# Environment: MIMIC (default ./build/mimic), TMPDIR (scratch space).
# Exit: 0 measured (target met or not; the verdict is printed); 1 a server
#       or wrk failed; 2 a prerequisite is missing or an argument is wrong.
# Target: the mock serves at least as many requests/s as nginx.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "$0")/../.." && pwd)
duration=10
conns=50
rounds=3
mimic=${MIMIC:-./build/mimic}

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --duration)
      if [[ $# -lt 2 || ! $2 =~ ^([1-9][0-9]*)(s|m)?$ ]]; then
        echo "mock.sh: --duration needs a time like 10s or 2m" >&2
        exit 2
      fi
      duration=${BASH_REMATCH[1]}
      [[ ${BASH_REMATCH[2]} == m ]] && duration=$((duration * 60))
      shift 2
      ;;
    --connections | --rounds)
      if [[ $# -lt 2 || ! $2 =~ ^[1-9][0-9]*$ ]]; then
        echo "mock.sh: $1 needs a positive integer" >&2
        exit 2
      fi
      [[ $1 == --rounds ]] && rounds=$2 || conns=$2
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "mock.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

missing=0
for t in wrk taskset awk pgrep; do
  if ! command -v "$t" > /dev/null 2>&1; then
    echo "mock.sh: $t is missing (Debian packages wrk, util-linux, gawk)" >&2
    missing=1
  fi
done
if ! command -v nginx > /dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  echo "mock.sh: nginx is missing: install the Debian package 'nginx'" >&2
  missing=1
fi
if ! "$mimic" mock --help > /dev/null 2>&1; then
  echo "mock.sh: '$mimic mock' is not available: build mimic or set MIMIC=" >&2
  missing=1
fi
[[ $missing -eq 0 ]] || exit 2

ncpu=$(nproc)
if [[ $ncpu -ge 2 ]]; then
  client_pin=(taskset -c 0)
  server_pin=(taskset -c 1)
  export NGINX_CPU=1
else
  echo "note: 1 CPU: nothing is pinned" >&2
  client_pin=()
  server_pin=()
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic-bench-mock.XXXXXX")
mock_pid=
stop_mock() {
  if [[ -n $mock_pid ]]; then
    kill -TERM "$mock_pid" 2> /dev/null || true
    wait "$mock_pid" 2> /dev/null || true
    mock_pid=
  fi
}
trap 'stop_mock; rm -rf -- "$tmp"' EXIT
WORK=$tmp
# shellcheck source=tests/integration/nginx.sh source-path=SCRIPTDIR/../..
. "$root/tests/integration/nginx.sh"

# The mock's model: learned from a log of GET / answered 200 with 3 bytes
# at once, so both servers send the same response body.
for ((i = 0; i < 100; i++)); do
  echo "127.0.0.1 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 3 \"-\" \"wrk\" 0.000"
done > "$tmp/root.log"
"$mimic" capture -q -o "$tmp/root.db" "$tmp/root.log"

# CPU seconds (user + sys) a process has used so far.
cpu_of() {
  awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2> /dev/null ||
    echo 0
}

# The machine's busy share over one second, in percent (from /proc/stat).
busy_pct() {
  local a b
  a=$(head -n 1 /proc/stat)
  sleep 1
  b=$(head -n 1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= 9; i++) { t += y[i] - x[i] }
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%d", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

# Other work on a small box skews the figures: wait (at most 30 s) until
# the machine is under 10 % busy, and say so if it never is.
quiet_gate() {
  local waited=0 b=0
  while [[ $waited -lt 30 ]]; do
    b=$(busy_pct)
    waited=$((waited + 1))
    [[ $b -lt 10 ]] && return 0
  done
  echo "  note: the machine stayed busy (${b}% of all CPUs); figures may" \
    "be low" >&2
}

# bench NAME URL PID: one wrk run; appends "NAME rps server_cpu_s" to
# $tmp/results.
bench() {
  local name=$1 url=$2 pid=$3 c0 c1 rps
  quiet_gate
  c0=$(cpu_of "$pid")
  if ! "${client_pin[@]}" wrk -t1 -c"$conns" -d"${duration}s" "$url" \
    > "$tmp/wrk.out" 2>&1; then
    echo "mock.sh: wrk failed against $name:" >&2
    tail -n 5 "$tmp/wrk.out" >&2
    exit 1
  fi
  c1=$(cpu_of "$pid")
  rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$tmp/wrk.out")
  if grep -q "Non-2xx\|Socket errors" "$tmp/wrk.out"; then
    echo "  note: $name: $(grep "Non-2xx\|Socket errors" "$tmp/wrk.out")" >&2
  fi
  echo "$name $rps $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
    >> "$tmp/results"
  printf '  %-12s %10.0f requests/s\n' "$name" "$rps"
}

start_mock() { # start_mock [--log FILE]
  local port
  : > "$tmp/mock.err" # there before the reader looks
  "${server_pin[@]}" "$mimic" mock "$tmp/root.db" --listen 127.0.0.1:0 \
    --threads 1 "$@" 2> "$tmp/mock.err" &
  mock_pid=$!
  for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' \
      "$tmp/mock.err")
    [[ -n $port ]] && break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    echo "mock.sh: the mock did not start:" >&2
    cat "$tmp/mock.err" >&2
    exit 1
  fi
  mock_url="http://127.0.0.1:$port/"
}

: > "$tmp/results"
for logs in off on; do
  echo "access logs $logs: $rounds rounds of wrk -t1 -c$conns -d${duration}s"
  NGINX_ACCESS_LOG=$logs NGINX_WORKER_CONNECTIONS=16384 nginx_start '' || {
    echo "mock.sh: nginx did not start" >&2
    exit 1
  }
  if [[ $logs == on ]]; then
    start_mock --log "$tmp/mock.log"
  else
    start_mock
  fi
  # nginx's worker does the work; the master only waits.
  ngx_worker=$(pgrep -P "$NGINX_PID" | head -n 1)
  for ((r = 1; r <= rounds; r++)); do
    bench "nginx-$logs" "$NGINX_URL/" "${ngx_worker:-$NGINX_PID}"
    bench "mock-$logs" "$mock_url" "$mock_pid"
  done
  stop_mock
  nginx_stop || true
done

echo
nginx_version=$( (nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1) | sed 's|.*/||')
printf 'mock benchmark: %s CPUs, wrk on %s, servers on %s, one worker each, nginx %s\n' \
  "$ncpu" "${client_pin[*]:-any CPU}" "${server_pin[*]:-any CPU}" \
  "$nginx_version"
awk -v d="$duration" '
function median(arr, n,   i, j, t) {
  for (i = 2; i <= n; i++)
    for (j = i; j > 1 && arr[j - 1] > arr[j]; j--) {
      t = arr[j]; arr[j] = arr[j - 1]; arr[j - 1] = t
    }
  return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{ n[$1]++; rps[$1, n[$1]] = $2; cpu[$1] += $3; req[$1] += $2 }
END {
  printf "%-12s %14s %24s  %s\n", "server", "requests/s", "requests per server CPU-s", "runs"
  for (k = 0; k < 2; k++) {
    logs = k ? "on" : "off"
    for (s = 0; s < 2; s++) {
      name = (s ? "mock-" : "nginx-") logs
      if (!(name in n)) continue
      delete a
      line = ""
      for (i = 1; i <= n[name]; i++) { a[i] = rps[name, i]; line = line sprintf(" %.0f", rps[name, i]) }
      med[name] = median(a, n[name])
      per = "-"
      if (cpu[name] > 0) per = sprintf("%.0f", req[name] * d / cpu[name])
      printf "%-12s %14.0f %24s %s\n", name, med[name], per, line
    }
    r = med["mock-" logs] / med["nginx-" logs]
    printf "mock/nginx, logs %s: %.2fx (target >= 1.00x: %s)\n", logs, r,
      r >= 1 ? "met" : "missed"
  }
}' "$tmp/results"
