#!/usr/bin/env bash
# The round trip (see roundtrip.sh) on the nginx JSON log of
# SpiderStrategies/response-emitter (10,049 requests of a dashboard app in
# 10 hours, 232 sessions, whole-second timestamps with request times),
# against mimic mock (the status mix is gated too).
# --time-scale 50, the most the acceptance test allows: its sessions last
# up to 10 hours (12 minutes replayed) and its long polls and WebSockets
# minutes, so within 2 minutes the longest are cut by the drain; they are
# counted, not hidden. The log begins quietly (one session in its first 46
# minutes): the replay starts at its busiest 25 minutes (--from), which
# 30 s play, and the drain gives the sessions 55 s more. Its 232 sessions make split-half thresholds loose (compare
# says which metrics are weak).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/roundtrip.sh"
trap 'rt_stop_mock; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/nginx.sh"
RT_CUT_OK="sessions of hours cannot finish within 2 minutes at --time-scale 50"
RT_TIMEOUT=10
RT_FROM=busiest
rt_run response-emitter__access.log.gz mock 1 50 30 55
finish
