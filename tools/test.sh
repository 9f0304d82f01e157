#!/usr/bin/env bash
# Builds and runs the whole test suite: unit, integration and fuzz-corpus
# tests with warnings as errors, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer (all but the 10x round trips), then a short
# libFuzzer run of every fuzz target (FUZZ_SECONDS each, default 15). Installs its dependencies first. Usage: tools/test.sh [--quick]
# (--quick: the first pass only).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh --test
jobs=$(nproc)

# The CPU-bound tests a job per core; then the round trips (label
# roundtrip): real minute-long replays that mostly wait, all at once. Under
# the sanitizers, not those that also measure the rate (label load, the 10x
# runs): a sanitized mimic cannot keep 3,500 requests/s on time, so they
# would measure the sanitizer.
run_ctest() {
  ctest --test-dir "$1" --output-on-failure -j "$jobs" -LE roundtrip
  if [ "$2" = all ]; then
    ctest --test-dir "$1" --output-on-failure -j 7 -L roundtrip
  else
    ctest --test-dir "$1" --output-on-failure -j 7 -L roundtrip -LE load
  fi
}

echo "== format (.clang-format)"
git ls-files '*.c' '*.h' | xargs clang-format --style=file --dry-run --Werror

echo "== build with -Wall -Wextra -Werror, run ctest"
cmake -S . -B build-ci -DMIMIC_WERROR=ON >/dev/null
cmake --build build-ci -j "$jobs"
run_ctest build-ci all
[ "${1:-}" = "--quick" ] && exit 0

echo "== build with -fsanitize=address,undefined, run ctest"
cmake -S . -B build-asan -DMIMIC_WERROR=ON -DMIMIC_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan sanitized

echo "== libFuzzer: each target for ${FUZZ_SECONDS:=15} s from its corpus"
CC=clang cmake -S . -B build-fuzz -DMIMIC_FUZZ=ON -DMIMIC_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$jobs"
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  corpus=$(mktemp -d)
  cp tests/fuzz/corpus/"$name"/* "$corpus"/
  build-fuzz/tests/"$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 \
    "$corpus" 2>&1 | tail -n 3
  rm -rf "$corpus"
done
echo "== all tests passed"
