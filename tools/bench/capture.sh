#!/usr/bin/env bash
# Benchmark of `mimic capture` against goaccess (and gawk as a floor), side by
# side in one run, on a generated combined log of ~1M lines.
#
# Usage: tools/bench/capture.sh [--lines N] [--runs N]
# Environment: MIMIC (default ./build/mimic), GENLOG (default
# ./build/mimic-genlog), TMPDIR (where the log is written).
# Exit: 0 all tools ran; 1 a tool failed to run (or mimic is missing);
#       2 a prerequisite is missing or the arguments are wrong.
# It builds and installs nothing. See tools/bench/README.md.
set -euo pipefail
export LC_ALL=C # one decimal separator for EPOCHREALTIME, awk and sort

lines=1000000
runs=3
mimic=${MIMIC:-./build/mimic}
genlog=${GENLOG:-./build/mimic-genlog}

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

need_value() {
  if [[ $# -lt 2 || ! $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "capture.sh: $1 needs a positive integer" >&2
    exit 2
  fi
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --lines) need_value "$@"; lines=$2; shift 2 ;;
    --runs) need_value "$@"; runs=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "capture.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

# ---- prerequisites --------------------------------------------------------
missing=0
if [[ ! -x /usr/bin/time ]]; then
  echo "capture.sh: /usr/bin/time is missing: install the Debian package" \
    "'time' (apt-get install time)" >&2
  missing=1
fi
if ! command -v goaccess > /dev/null; then
  echo "capture.sh: goaccess is missing: install the Debian package" \
    "'goaccess' (apt-get install goaccess)" >&2
  missing=1
fi
if ! command -v -- "$genlog" > /dev/null; then
  echo "capture.sh: log generator not found at $genlog: build it" \
    "(cmake --build build --target mimic-genlog) or set GENLOG=" >&2
  missing=1
fi
[[ $missing -eq 0 ]] || exit 2

# gawk is the reference the perf baseline used; mawk is a close stand-in.
awk_name=gawk
if ! command -v gawk > /dev/null; then
  echo "note: gawk not found (Debian package 'gawk'); using mawk instead" >&2
  awk_name=mawk
  if ! command -v mawk > /dev/null; then awk_name="awk"; fi
fi

mimic_ok=1
if ! command -v -- "$mimic" > /dev/null; then
  echo "capture.sh: mimic not found at $mimic: build it" \
    "(cmake --build build) or set MIMIC=; measuring the others only" >&2
  mimic_ok=0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic-bench.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM
log=$tmp/access.log

# The log takes ~210 bytes a line; goaccess's JSON and the model add little.
need_kb=$((lines * 260 / 1024 + 10240))
free_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [[ $free_kb -lt $need_kb ]]; then
  echo "capture.sh: $tmp has $((free_kb / 1024)) MiB free, needs about" \
    "$((need_kb / 1024)) MiB; set TMPDIR elsewhere" >&2
  exit 2
fi

# ---- input ----------------------------------------------------------------
echo "generating $lines lines with $genlog ..."
"$genlog" --lines "$lines" --format combined -o "$log"
bytes=$(wc -c < "$log")
nlines=$(wc -l < "$log")
# Warm the page cache so every tool reads from memory, as in the baseline.
cat "$log" > /dev/null
cat "$log" > /dev/null

# ---- timed runs -----------------------------------------------------------
declare -A failed=()

# run_timed NAME CMD...: runs CMD under /usr/bin/time, appends
# "wall_seconds peak_rss_kb" to $tmp/NAME.times. Wall time comes from
# EPOCHREALTIME (ms resolution; time's %e has only 10 ms), peak RSS from
# time's %M. Returns the command's status.
run_timed() {
  local name=$1 t0 t1 rc=0
  shift
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%e %M' -o "$tmp/$name.time" "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
  t1=$EPOCHREALTIME
  if [[ $rc -ne 0 ]]; then
    failed[$name]=$rc
    echo "  $name failed (exit $rc); last lines of its stderr:" >&2
    tail -n 5 "$tmp/$name.err" | sed 's/^/    /' >&2
    return "$rc"
  fi
  # On success the format line is the last line time wrote.
  awk -v t0="$t0" -v t1="$t1" 'END { printf "%.3f %d\n", t1 - t0, $2 }' \
    "$tmp/$name.time" >> "$tmp/$name.times"
}

goaccess_cmd=(goaccess "$log" --log-format=COMBINED --no-progress
  -o "$tmp/report.json")
mimic_cmd=("$mimic" capture "$log" -o "$tmp/model.db" --force --quiet)
# shellcheck disable=SC2016 # an awk program, not a shell expansion
awk_prog='{ c[$7]++ } END { n = 0; for (k in c) n++; print n }'
awk_cmd=("$awk_name" "$awk_prog" "$log")

echo "running $runs alternating rounds (goaccess takes ~25 s a run) ..."
for ((i = 1; i <= runs; i++)); do
  echo " round $i/$runs"
  if [[ -z ${failed[goaccess]:-} ]]; then
    run_timed goaccess "${goaccess_cmd[@]}" || true
  fi
  if [[ $mimic_ok -eq 1 && -z ${failed[mimic]:-} ]]; then
    run_timed mimic "${mimic_cmd[@]}" || true
  fi
  if [[ -z ${failed[awk]:-} ]]; then
    run_timed awk "${awk_cmd[@]}" || true
  fi
done

# ---- report ---------------------------------------------------------------
# summary NAME: "median_s max_rss_kb" of its runs, or nothing.
summary() {
  [[ -s $tmp/$1.times ]] || return 0
  sort -g "$tmp/$1.times" | awk '
    { t[NR] = $1; if ($2 > rss) rss = $2 }
    END {
      m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%.3f %d\n", m, rss
    }'
}

row() { # row LABEL NAME
  local s
  s=$(summary "$2")
  if [[ -z $s ]]; then
    local why="not run"
    [[ -n ${failed[$2]:-} ]] && why="failed (exit ${failed[$2]})"
    [[ $2 == mimic && $mimic_ok -eq 0 ]] && why="not run: $mimic not found"
    printf '%-22s %s\n' "$1" "$why"
    return
  fi
  awk -v label="$1" -v s="$s" -v bytes="$bytes" -v n="$nlines" 'BEGIN {
    split(s, a, " ")
    printf "%-22s %10.3f %9.1f %12.0f %12.1f\n", label, a[1],
      bytes / 1e6 / a[1], n / a[1], a[2] / 1024
  }'
}

ga_version=$(goaccess --version 2> /dev/null | head -n 1 |
  sed -n 's/.*GoAccess - \([0-9.]*[0-9]\).*/\1/p')
awk_version=$("$awk_name" --version 2> /dev/null | head -n 1 |
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9.]+,?$/) {
         sub(/,$/, "", $i); print $i; exit } }') || true

echo
printf 'input: %s lines, %.1f MB (combined, made by mimic-genlog), ' \
  "$nlines" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')"
printf '%s runs each, page cache warm, %s CPUs\n' "$runs" "$(nproc)"
printf '%-22s %10s %9s %12s %12s\n' tool "median s" "MB/s" "lines/s" \
  "peak RSS MiB"
row "goaccess ${ga_version:-?}" goaccess
row "mimic capture" mimic
row "$awk_name ${awk_version:-?} (floor)" awk

if [[ -s $tmp/report.json ]]; then
  valid=$(grep -o '"valid_requests": *[0-9]*' "$tmp/report.json" |
    head -n 1 | grep -o '[0-9]*$') || true
  bad=$(grep -o '"failed_requests": *[0-9]*' "$tmp/report.json" |
    head -n 1 | grep -o '[0-9]*$') || true
  echo "goaccess parsed ${valid:-?} valid and ${bad:-?} failed lines"
fi
if [[ -s $tmp/awk.out ]]; then
  echo "$awk_name counted $(tail -n 1 "$tmp/awk.out") distinct paths"
fi
if [[ -s $tmp/model.db ]]; then
  echo "mimic wrote a model of $(wc -c < "$tmp/model.db") bytes"
fi

ga=$(summary goaccess)
mi=$(summary mimic)
echo
if [[ -n $ga && -n $mi ]]; then
  awk -v ga="$ga" -v mi="$mi" 'BEGIN {
    split(ga, g, " "); split(mi, m, " ")
    ratio = g[1] / m[1]
    rss = m[2] / 1024
    printf "mimic/goaccess throughput: %.1fx (target >= 10x: %s)\n", ratio,
      ratio >= 10 ? "met" : "NOT met"
    printf "mimic peak RSS: %.1f MiB (target < 200 MiB: %s)\n", rss,
      rss < 200 ? "met" : "NOT met"
  }'
else
  echo "targets (>= 10x goaccess, peak RSS < 200 MiB): not measured"
fi

if [[ ${#failed[@]} -gt 0 || $mimic_ok -eq 0 ]]; then
  exit 1
fi
exit 0
