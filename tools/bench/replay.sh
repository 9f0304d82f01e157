#!/usr/bin/env bash
# Benchmark of `mimic replay` against wrk (throughput) and locust (memory of
# thinking users), side by side in one run against one private nginx, plus
# the accuracy of the open model's arrival rate.
#
# Usage: tools/bench/replay.sh [--duration DUR] [--users N] [--skip-locust]
#                              [--skip-autocannon]
#   --duration DUR  length of each throughput run (default 10s)
#   --users N       connections (wrk) and virtual users (mimic) of the
#                   throughput runs (default 50)
#   --skip-locust   do not run (or install) locust
#   --skip-autocannon  do not run autocannon (else, when it is not on the
#                   PATH, it is installed with npm into the scratch folder)
# Environment: MIMIC (default ./build/mimic), GENLOG (default
# ./build/mimic-genlog), CURL_FLOOR (default ./build/mimic-curl-floor: a bare
# libcurl loop, the floor any libcurl-based engine stands on; its row is
# left out when it is missing), TMPDIR (scratch space).
# Exit: 0 every tool ran (targets missed or not); 1 a tool failed to run or
#       `mimic replay` is missing (the other tools are still measured);
#       2 a prerequisite is missing or an argument is wrong.
# It builds nothing; it installs python3-locust (apt) and autocannon (npm,
# into the scratch folder) only when they are missing and not skipped.
# See tools/bench/README.md.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "$0")/../.." && pwd)
duration=10
users=50
skip_locust=0
skip_autocannon=0
mimic=${MIMIC:-./build/mimic}
genlog=${GENLOG:-./build/mimic-genlog}
curl_floor=${CURL_FLOOR:-./build/mimic-curl-floor}
# Memory runs: thinking users of mimic and of locust, and the base runs
# that measure each tool's fixed cost. mimic's base has enough users to
# fill its pool of 1024 request slots (curl handles and their receive
# buffers, a fixed cost of ~20 MiB reached at ~1000 users), so that the
# difference is what each further user costs.
mem_users=(10000 100000)
mem_base_mimic=2000
mem_base=10
locust_users=5000
mem_seconds=20
# Open model: a day of the generated log, 10x, compressed 1440x (one day
# a minute), for 30 s.
open_seconds=30
# Reference from ../shared/research/perf-baseline.md (pinned, GET /).
autocannon_ref=65000

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --duration)
      if [[ $# -lt 2 || ! $2 =~ ^([1-9][0-9]*)(s|m)?$ ]]; then
        echo "replay.sh: --duration needs a time like 10s or 2m" >&2
        exit 2
      fi
      duration=${BASH_REMATCH[1]}
      [[ ${BASH_REMATCH[2]} == m ]] && duration=$((duration * 60))
      shift 2
      ;;
    --users)
      if [[ $# -lt 2 || ! $2 =~ ^[1-9][0-9]*$ ]]; then
        echo "replay.sh: --users needs a positive integer" >&2
        exit 2
      fi
      users=$2
      shift 2
      ;;
    --skip-locust) skip_locust=1; shift ;;
    --skip-autocannon) skip_autocannon=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "replay.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

# ---- prerequisites --------------------------------------------------------
missing=0
need_pkg() { # need_pkg COMMAND PACKAGE
  if ! command -v "$1" > /dev/null 2>&1; then
    echo "replay.sh: $1 is missing: install the Debian package '$2'" >&2
    missing=1
  fi
}
[[ -x /usr/bin/time ]] || {
  echo "replay.sh: /usr/bin/time is missing: install the Debian package" \
    "'time'" >&2
  missing=1
}
need_pkg wrk wrk
need_pkg taskset util-linux
need_pkg timeout coreutils
need_pkg sqlite3 sqlite3
need_pkg jq jq
if ! command -v nginx > /dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  echo "replay.sh: nginx is missing: install the Debian package 'nginx'" >&2
  missing=1
fi
if ! command -v -- "$genlog" > /dev/null; then
  echo "replay.sh: log generator not found at $genlog: build it" \
    "(cmake --build build --target mimic-genlog) or set GENLOG=" >&2
  missing=1
fi
[[ $missing -eq 0 ]] || exit 2

# Tools on CPU 0, nginx on CPU 1, as in the perf baseline.
ncpu=$(nproc)
if [[ $ncpu -ge 2 ]]; then
  pin=(taskset -c 0)
  export NGINX_CPU=1
else
  echo "note: 1 CPU: nothing is pinned; tool and nginx share it" >&2
  pin=()
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic-bench.XXXXXX")
# The EXIT trap is set before sourcing nginx.sh, which composes with it
# (stop nginx, then remove the folder).
trap 'rm -rf -- "$tmp"' EXIT
WORK=$tmp
# shellcheck source=tests/integration/nginx.sh source-path=SCRIPTDIR/../..
. "$root/tests/integration/nginx.sh"

declare -A failed=()
mimic_ok=1
mimic_why=
if ! command -v -- "$mimic" > /dev/null; then
  mimic_ok=0
  mimic_why="$mimic not found (build it, or set MIMIC=)"
elif ! "$mimic" replay --help > "$tmp/replay-help.out" 2> "$tmp/replay-help.err"; then
  mimic_ok=0
  mimic_why="'$mimic replay' is not available ($(head -n 1 "$tmp/replay-help.err"))"
fi
if [[ $mimic_ok -eq 0 ]]; then
  echo "replay.sh: $mimic_why: the mimic rows are not measured" >&2
fi

# ---- helpers --------------------------------------------------------------
# run_timed NAME LIMIT_S CMD...: runs CMD pinned, under /usr/bin/time and a
# time limit, stdout/stderr to $tmp/NAME.out/.err; leaves "user sys wall
# maxrss_kb" in $tmp/NAME.time. On failure, records it and shows the last
# lines of its stderr. timeout runs inside time (its rusage covers the tool)
# and in the foreground process group, so Ctrl-C reaches the tool.
run_timed() {
  local name=$1 limit=$2 rc=0
  shift 2
  "${pin[@]}" /usr/bin/time -f '%U %S %e %M' -o "$tmp/$name.rusage" \
    timeout --foreground -k 5 "$limit" "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    failed[$name]=$rc
    local why="exit $rc"
    [[ $rc -eq 124 ]] && why="still running after ${limit} s; stopped"
    echo "  $name failed ($why); last lines of its stderr:" >&2
    tail -n 5 "$tmp/$name.err" | sed 's/^/    /' >&2
    return "$rc"
  fi
  tail -n 1 "$tmp/$name.rusage" > "$tmp/$name.time"
}

# field NAME N: the Nth field of NAME's rusage line (1 user, 2 sys, 3 wall,
# 4 max RSS KiB).
field() { awk -v n="$2" '{ print $n }' "$tmp/$1.time"; }
cpu_s() { awk '{ printf "%.2f", $1 + $2 }' "$tmp/$1.time"; }

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

# Other work on a 2-CPU box skews both sides: wait (at most 60 s) until the
# machine is under 10 % busy for 2 s in a row, and say so if it never is.
quiet_gate() {
  local ok=0 waited=0 b=0
  while [[ $waited -lt 60 ]]; do
    b=$(busy_pct)
    waited=$((waited + 1))
    if [[ $b -lt 10 ]]; then
      ok=$((ok + 1))
      [[ $ok -ge 2 ]] && return 0
    else
      ok=0
    fi
  done
  echo "  note: the machine stayed busy (${b}% of all CPUs) for 60 s;" \
    "figures may be low" >&2
}

jget() { jq -r "$2 // empty" "$tmp/$1" 2> /dev/null || true; }

# ---- set-up ---------------------------------------------------------------
echo "building the models ..."
"$root/tools/make-model.sh" "$root/models/bench-root.sql" "$tmp/root.db" \
  > /dev/null
"$genlog" --lines 20000 --seed 1 -o "$tmp/open.log"
open_model_ok=1
if [[ $mimic_ok -eq 1 ]]; then
  if ! "$mimic" capture -q -o "$tmp/open.db" "$tmp/open.log" \
    2> "$tmp/capture.err"; then
    echo "  mimic capture failed; last lines:" >&2
    tail -n 5 "$tmp/capture.err" | sed 's/^/    /' >&2
    failed[capture]=1
    open_model_ok=0
  fi
fi

NGINX_ACCESS_LOG=off NGINX_WORKER_CONNECTIONS=16384 nginx_start '' || {
  echo "replay.sh: nginx did not start" >&2
  exit 2
}
url="$NGINX_URL/"
nginx_version=$(nginx -v 2>&1 | sed 's|.*/||') || true
echo "nginx $nginx_version on $url (pid $NGINX_PID${NGINX_CPU:+, CPU $NGINX_CPU})"

# ---- (1) throughput -------------------------------------------------------
limit=$((duration + 30))
echo "(1) throughput: $users connections/users, ${duration} s each ..."
quiet_gate
echo "  wrk -t1 -c$users -d${duration}s"
run_timed wrk "$limit" wrk -t1 -c"$users" -d"${duration}s" "$url" || true
if [[ $mimic_ok -eq 1 ]]; then
  quiet_gate
  echo "  mimic replay --users $users --threads 1 --duration ${duration}s"
  run_timed mimic_tp "$limit" "$mimic" replay "$tmp/root.db" --target "$url" \
    --users "$users" --min-request-count 100000000 \
    --max-request-count 100000000 --delay-min 0 --delay-max 0 \
    --threads 1 --duration "${duration}s" --drain-timeout 0s --quiet \
    --report "$tmp/mimic_tp.json" || true
fi
if command -v -- "$curl_floor" > /dev/null; then
  quiet_gate
  echo "  libcurl floor: $users handles, multi_perform + multi_poll"
  run_timed floor "$limit" "$curl_floor" "$url" "$duration" "$users" || true
fi
ac_measured=0
autocannon=
if [[ $skip_autocannon -eq 0 ]]; then
  if command -v autocannon > /dev/null 2>&1; then
    autocannon=autocannon
  elif command -v npm > /dev/null 2>&1; then
    echo "  installing autocannon with npm into the scratch folder ..."
    if npm install --silent --no-audit --no-fund --prefix "$tmp/npm" \
      autocannon@9 > "$tmp/npm.log" 2>&1; then
      autocannon=$tmp/npm/node_modules/.bin/autocannon
    else
      echo "  autocannon could not be installed (see npm); its row is" \
        "taken from perf-baseline.md" >&2
    fi
  fi
fi
if [[ -n $autocannon ]]; then
  quiet_gate
  echo "  autocannon -c $users -d $duration"
  if run_timed autocannon "$limit" "$autocannon" -c "$users" -d "$duration" -j \
    "$url"; then
    ac_measured=1
  fi
fi

# ---- (2) memory of thinking users -----------------------------------------
mem_limit=$((mem_seconds + 60))
if [[ $mimic_ok -eq 1 ]]; then
  echo "(2) memory: users thinking 30-60 s, ${mem_seconds} s each ..."
  for u in "$mem_base_mimic" "${mem_users[@]}"; do
    echo "  mimic replay --users $u"
    run_timed "mimic_mem_$u" "$mem_limit" "$mimic" replay "$tmp/root.db" \
      --target "$url" --users "$u" --min-request-count 3 \
      --max-request-count 3 --delay-min 30000 --delay-max 60000 \
      --spawn-rate 100000 --duration "${mem_seconds}s" --threads 1 --quiet \
      --report "$tmp/mimic_mem_$u.json" || true
  done
fi

locust_why=
if [[ $skip_locust -eq 1 ]]; then
  locust_why="skipped (--skip-locust)"
elif ! command -v locust > /dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    locust_why="locust is missing (Debian package python3-locust) and this is not root"
  else
    echo "locust is missing: installing the Debian package python3-locust" \
      "(apt-get; pass --skip-locust to avoid this) ..." >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends python3-locust > "$tmp/apt.log" 2>&1; then
      apt-get update -qq > /dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends python3-locust > "$tmp/apt.log" 2>&1 || true
    fi
    command -v locust > /dev/null 2>&1 ||
      locust_why="locust could not be installed (see apt-get install python3-locust)"
  fi
fi
if [[ -z $locust_why ]]; then
  # The perf baseline's idle-user locustfile, with this run's think time.
  cat > "$tmp/locust_idle.py" << 'EOF'
from locust import FastHttpUser, task, between
class U(FastHttpUser):
    wait_time = between(30, 60)
    @task
    def root(self):
        self.client.get("/")
EOF
  echo "(2) memory: locust FastHttpUser, think 30-60 s, ${mem_seconds} s each ..."
  for u in "$mem_base" "$locust_users"; do
    rate=$((u / 5))
    [[ $rate -ge 2 ]] || rate=2
    echo "  locust -u $u -r $rate"
    run_timed "locust_$u" "$mem_limit" locust -f "$tmp/locust_idle.py" \
      --headless -u "$u" -r "$rate" -t "${mem_seconds}s" --host "$NGINX_URL" \
      --only-summary --csv "$tmp/locust_$u" || true
  done
fi

# ---- (3) open-model accuracy ----------------------------------------------
if [[ $mimic_ok -eq 1 && $open_model_ok -eq 1 ]]; then
  echo "(3) open model: --scale 10 --time-scale 1440, ${open_seconds} s ..."
  quiet_gate
  run_timed mimic_open $((open_seconds + 60)) "$mimic" replay "$tmp/open.db" \
    --target "$url" --scale 10 --time-scale 1440 \
    --duration "${open_seconds}s" --quiet --report "$tmp/mimic_open.json" ||
    true
fi

nginx_stop || true

# ---- report ---------------------------------------------------------------
# Numbers are gathered as "key value" lines, then one awk prints the table.
facts=$tmp/facts
: > "$facts"
fact() { echo "$1 ${2:-}" >> "$facts"; }

fact duration "$duration"
fact users "$users"
fact acref "$autocannon_ref"
if [[ -s $tmp/wrk.time ]]; then
  fact wrk_rps "$(awk '$1 == "Requests/sec:" { print $2 }' "$tmp/wrk.out")"
  fact wrk_req "$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$tmp/wrk.out")"
  fact wrk_cpu "$(cpu_s wrk)"
  fact wrk_rss "$(field wrk 4)"
fi
if [[ -s $tmp/mimic_tp.time ]]; then
  fact mi_req "$(jget mimic_tp.json .requests)"
  fact mi_el "$(jget mimic_tp.json .elapsed_seconds)"
  fact mi_err "$(jget mimic_tp.json .errors)"
  fact mi_cpu "$(cpu_s mimic_tp)"
  fact mi_rss "$(field mimic_tp 4)"
fi
if [[ -s $tmp/floor.time ]]; then
  fact fl_req "$(awk '$1 == "requests" { print $2 }' "$tmp/floor.out")"
  fact fl_cpu "$(cpu_s floor)"
fi
if [[ $ac_measured -eq 1 ]]; then
  fact ac_req "$(jq -r '.requests.total // empty' "$tmp/autocannon.out" 2> /dev/null)"
  fact ac_cpu "$(cpu_s autocannon)"
fi
for u in "$mem_base_mimic" "${mem_users[@]}"; do
  if [[ -s $tmp/mimic_mem_$u.time ]]; then
    fact "mm_rss_$u" "$(field "mimic_mem_$u" 4)"
    fact "mm_req_$u" "$(jget "mimic_mem_$u.json" .requests)"
  fi
done
for u in "$mem_base" "$locust_users"; do
  if [[ -s $tmp/locust_$u.time ]]; then
    fact "lo_rss_$u" "$(field "locust_$u" 4)"
    fact "lo_req_$u" "$(awk -F, '$2 == "Aggregated" { print $3 }' \
      "$tmp/locust_${u}_stats.csv" 2> /dev/null)"
  fi
done
if [[ -s $tmp/mimic_open.time ]]; then
  fact op_plan "$(jget mimic_open.json .planned_sessions)"
  fact op_sess "$(jget mimic_open.json .sessions)"
  fact op_el "$(jget mimic_open.json .elapsed_seconds)"
  fact op_req "$(jget mimic_open.json .requests)"
  fact op_err "$(jget mimic_open.json .errors)"
fi

wrk_version=$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }') || true
echo
printf 'replay benchmark: %s CPUs, tools on %s, nginx %s (return 200, no access log)%s\n' \
  "$ncpu" "${pin[*]:-any CPU}" "$nginx_version" \
  "${NGINX_CPU:+ on CPU $NGINX_CPU}"
[[ $mimic_ok -eq 1 ]] || echo "mimic: not measured: $mimic_why"
[[ -z $locust_why ]] || echo "locust: not measured: $locust_why"
awk -v mem="${mem_users[*]}" -v base="$mem_base" -v mbase="$mem_base_mimic" \
  -v lu="$locust_users" \
  -v wrkv="${wrk_version:-?}" -v acm="$ac_measured" \
  -v mok="$mimic_ok" -v lok="$([[ -z $locust_why ]] && echo 1 || echo 0)" '
function has(k) { return (k in f) && f[k] != "" }
function num(x) { # 1234567 -> 1,234,567
  x = sprintf("%.0f", x); s = ""
  while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
  return x s
}
function row(what, tool, val, target, res) {
  printf "%-40s %-11s %14s  %-24s %s\n", what, tool, val, target, res
}
function verdict(ok) { return ok ? "met" : "missed" }
{ f[$1] = $2 }
END {
  row("figure", "tool", "value", "target", "result")
  d = f["duration"]; u = f["users"]
  print "(1) throughput, GET /, " u " connections, " d " s"
  if (has("wrk_rps")) {
    wrk_pc = f["wrk_req"] / f["wrk_cpu"]
    row("  requests/s", "wrk " wrkv, num(f["wrk_rps"]), "", "")
  } else row("  requests/s", "wrk", "failed", "", "")
  if (has("mi_req") && has("mi_el") && f["mi_el"] > 0) {
    mi_rps = f["mi_req"] / f["mi_el"]; mi_pc = f["mi_req"] / f["mi_cpu"]
    row("  requests/s", "mimic", num(mi_rps), "", "")
  } else row("  requests/s", "mimic", mok ? "failed" : "not run", "", "")
  if (has("ac_req") && f["ac_cpu"] > 0) {
    ac_pc = f["ac_req"] / f["ac_cpu"]
    row("  requests/s", "autocannon", num(f["ac_req"] / d), "", "")
  }
  if (wrk_pc) row("  requests per client CPU-s", "wrk", num(wrk_pc), "", "")
  if (mi_pc) {
    row("  requests per client CPU-s", "mimic", num(mi_pc), "", "")
    if (wrk_pc)
      row("  mimic/wrk per CPU-s", "mimic", sprintf("%.2fx", mi_pc / wrk_pc),
          ">= 0.5x", verdict(mi_pc >= 0.5 * wrk_pc))
  }
  if (has("fl_req") && f["fl_cpu"] > 0) {
    fl_pc = f["fl_req"] / f["fl_cpu"]
    row("  requests per client CPU-s", "libcurl", num(fl_pc), "(floor)", "")
    if (wrk_pc) row("  libcurl floor/wrk per CPU-s", "libcurl", sprintf("%.2fx", fl_pc / wrk_pc), "", "")
    if (mi_pc) row("  mimic/libcurl floor per CPU-s", "mimic", sprintf("%.2fx", mi_pc / fl_pc), "", "")
  }
  ac = ac_pc ? ac_pc : f["acref"]
  row("  requests per client CPU-s", "autocannon", num(ac),
      ac_pc ? "(measured now)" : "(perf-baseline.md)", "")
  if (mi_pc)
    row("  mimic/autocannon per CPU-s", "mimic", sprintf("%.2fx", mi_pc / ac),
        "> 1x", verdict(mi_pc > ac))
  if (has("wrk_rss")) row("  peak RSS MiB", "wrk", sprintf("%.1f", f["wrk_rss"] / 1024), "", "")
  if (has("mi_rss")) row("  peak RSS MiB", "mimic", sprintf("%.1f", f["mi_rss"] / 1024), "", "")
  if (has("mi_err")) row("  errors", "mimic", num(f["mi_err"]), "0", verdict(f["mi_err"] == 0))

  print "(2) memory of users thinking 30-60 s (peak RSS; KiB/user = (RSS(U) - RSS(base)) / (U - base))"
  n = split(mem, us, " ")
  if (has("mm_rss_" mbase))
    row("  peak RSS MiB, " mbase " users (base)", "mimic", sprintf("%.1f", f["mm_rss_" mbase] / 1024), "", "")
  for (i = 1; i <= n; i++) {
    k = us[i]
    if (has("mm_rss_" k) && has("mm_rss_" mbase)) {
      row("  peak RSS MiB, " k " users", "mimic", sprintf("%.1f", f["mm_rss_" k] / 1024), "", "")
      row("  KiB per user, all in, " k " users", "mimic", sprintf("%.2f", f["mm_rss_" k] / k), "", "")
      kpu = (f["mm_rss_" k] - f["mm_rss_" mbase]) / (k - mbase)
      row("  KiB per user, " k " users", "mimic", sprintf("%.2f", kpu), "<= 2 KiB", verdict(kpu <= 2))
      if (has("mm_req_" k))
        row("  requests sent, " k " users", "mimic", num(f["mm_req_" k]), ">= " k " (1 each)",
            verdict(f["mm_req_" k] >= k))
    } else row("  KiB per user, " k " users", "mimic", mok ? "failed" : "not run", "<= 2 KiB", "")
  }
  if (has("lo_rss_" lu) && has("lo_rss_" base)) {
    row("  peak RSS MiB, " base " users", "locust", sprintf("%.1f", f["lo_rss_" base] / 1024), "", "")
    row("  peak RSS MiB, " lu " users", "locust", sprintf("%.1f", f["lo_rss_" lu] / 1024), "", "")
    row("  KiB per user, " lu " users", "locust", sprintf("%.2f", (f["lo_rss_" lu] - f["lo_rss_" base]) / (lu - base)), "(reference)", "")
    if (has("lo_req_" lu)) row("  requests sent, " lu " users", "locust", num(f["lo_req_" lu]), "", "")
  } else row("  KiB per user, " lu " users", "locust", lok ? "failed" : "not run", "", "")

  print "(3) open model: genlog 20000 lines, --scale 10 --time-scale 1440"
  if (has("op_plan") && has("op_sess") && f["op_el"] > 0) {
    row("  planned sessions/s", "mimic", sprintf("%.2f", f["op_plan"] / f["op_el"]), "", "")
    row("  achieved sessions/s", "mimic", sprintf("%.2f", f["op_sess"] / f["op_el"]), "", "")
    dev = f["op_plan"] > 0 ? (f["op_sess"] - f["op_plan"]) / f["op_plan"] : 1
    row("  achieved vs planned", "mimic", sprintf("%+.2f%%", 100 * dev), "within 1%",
        verdict(dev <= 0.01 && dev >= -0.01))
    row("  sessions / requests / errors", "mimic",
        num(f["op_sess"]) "/" num(f["op_req"]) "/" num(f["op_err"]), "", "")
  } else row("  achieved vs planned", "mimic", mok ? "failed" : "not run", "within 1%", "")
}' "$facts"

if [[ ${#failed[@]} -gt 0 || $mimic_ok -eq 0 ]]; then
  [[ ${#failed[@]} -eq 0 ]] || echo "failed to run: ${!failed[*]}" >&2
  exit 1
fi
exit 0
