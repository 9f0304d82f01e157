#!/usr/bin/env bash
# The round trip (see roundtrip.sh) on the Apache log of elastic/examples
# (10,000 requests over 83 hours, whole-second timestamps; one minute of
# each hour was kept, so no session lasts over 60 s), against nginx at ten times the session rate (shapes pass, and the rate is ten times, within 3%).
# --time-scale 3: the log's first minute (the replay's first 20 s) brings
# the sessions, and the longest of them take 40 s replayed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/roundtrip.sh"
trap 'rt_stop_mock; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/nginx.sh"
rt_run elastic-examples__apache_logs nginx 10 3 20 45
finish
