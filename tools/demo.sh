#!/usr/bin/env bash
# The main job on the bundled default, on one machine with nothing else
# installed: installs the dependencies, builds mimic, writes the project's
# own sample access log (a day of a small shop and API: browsers, API
# clients, a mobile app and crawlers), learns a model from it, serves that
# model with `mimic mock` (a fake target answering as the shop did),
# replays the model against it (an hour of the day in 30 seconds, 16 times
# the traffic), learns a second model from the mock's access log, compares
# the two, and shows the model. The mock is stopped in every case.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
m=build/mimic

build/mimic-genlog --lines 50000 --seed 1 -o build/sample.log
$m capture --force -o build/sample.db build/sample.log

# The replay runs the day's timeline 120 times faster; the mock answers
# 120 times faster than the shop did, to match.
x=120
: >build/mock.err # there before the reader looks
$m mock build/sample.db --listen 127.0.0.1:0 --time-scale "$x" \
  --log build/mock.log --max-seconds 300 2>build/mock.err &
mock_pid=$!
trap 'kill -TERM "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' build/mock.err)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat build/mock.err >&2; exit 1; }
echo "mimic mock: serving build/sample.db on http://127.0.0.1:$port"

$m replay build/sample.db --target "http://127.0.0.1:$port" \
  --time-scale "$x" --scale 16 --duration 30s --drain-timeout 60s \
  --report build/replay.json
kill -TERM "$mock_pid"
wait "$mock_pid" || true
trap - EXIT

$m capture --force -o build/replayed.db \
  --session-key header:X-Mimic-Session build/mock.log
echo
echo "== mimic compare build/sample.db build/replayed.db --time-scale $x"
status=0
$m compare build/sample.db build/replayed.db --time-scale "$x" || status=$?
echo
$m inspect build/sample.db
exit "$status"
