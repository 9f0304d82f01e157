#!/usr/bin/env bash
# The main job on the bundled default: installs the dependencies, builds
# mimic, writes the project's own sample access log (a day of a small shop
# and API: browsers, API clients, a mobile app and crawlers), learns a model
# from it and shows what was learned.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
build/mimic-genlog --lines 50000 --seed 1 -o build/sample.log
build/mimic capture --force -o build/sample.db build/sample.log
build/mimic inspect build/sample.db
