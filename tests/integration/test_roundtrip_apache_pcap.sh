#!/usr/bin/env bash
# The round trip (see roundtrip.sh) through packets: the Apache log of
# elastic/examples is learned (model A) and replayed against nginx as in
# test_roundtrip_apache_nginx.sh, while dumpcap writes the replay's packets
# to a pcapng file; model B is learned from that file (sessions by the
# X-Mimic-Session header in the packets) and must pass mimic compare
# against A. The packets must hold every request and response the replay
# counted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/roundtrip.sh"
trap 'rt_stop_dumpcap; rt_stop_mock; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/nginx.sh"
rt_run elastic-examples__apache_logs pcap 1 3 20 45
finish
