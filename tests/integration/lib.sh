# Shared helpers of the integration tests (sourced, not run).
# Environment (set by ctest): MIMIC, GENLOG, MIMIC_SRC, MIMIC_REAL_DATA,
# MIMIC_TEST_TMP.
set -euo pipefail

: "${MIMIC:?MIMIC must point at the mimic binary}"
TMP_BASE=${MIMIC_TEST_TMP:-/tmp}
mkdir -p "$TMP_BASE"
WORK=$(mktemp -d "$TMP_BASE/itest-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILS=0
CHECKS=0

skip() { echo "SKIP: $*"; exit 77; }

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
  done
}

# check NAME EXPECTED ACTUAL: one assertion, printing both values.
check() {
  CHECKS=$((CHECKS + 1))
  if [ "$2" = "$3" ]; then
    echo "ok   $1 ($3)"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    FAILS=$((FAILS + 1))
  fi
}

# check_true NAME CONDITION-COMMAND...: passes when the command succeeds.
check_true() {
  local name=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name: '$*' was false"
    FAILS=$((FAILS + 1))
  fi
}

# check_false NAME COMMAND...: passes when the command fails.
check_false() {
  local name=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then
    echo "FAIL $name: '$*' succeeded"
    FAILS=$((FAILS + 1))
  else
    echo "ok   $name"
  fi
}

# run_status CMD...: runs a command, prints nothing, echoes its exit status.
run_status() {
  set +e
  "$@" >"$WORK/last.out" 2>"$WORK/last.err"
  local rc=$?
  set -e
  echo "$rc"
}

# Lines of a possibly compressed file, the last one counted even without a
# final newline: the independent count the tests compare with.
count_lines() {
  case "$1" in
    *.gz) gzip -dc "$1" | awk 'END { print NR }' ;;
    *.zst) zstd -dc "$1" | awk 'END { print NR }' ;;
    *) awk 'END { print NR }' "$1" ;;
  esac
}

q() { sqlite3 -batch -noheader "$1" "$2"; }

finish() {
  echo "$CHECKS checks, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
