#!/usr/bin/env bash
# `mimic capture` on every real capture in $MIMIC_REAL_DATA/pcaps (written by
# others, see SOURCES.md there):
#  - the HTTP requests and responses mimic finds are the ones Wireshark
#    finds: tshark -Y 'tcp && http.request' (and http.response) counts the
#    same on each file;
#  - the same capture rewritten by mimic-pcapmangle (TCP segments split
#    into overlapping pieces, some sent twice, shuffled within windows of a
#    few frames, as raw IP) gives the same model: endpoints and counts,
#    status mix, requests, responses, gaps;
#  - a capture recompressed with gzip and zstd reads the same;
#  - completeness counters are in the model and in `inspect --json`.
. "$(dirname "$0")/lib.sh"
need tshark sqlite3 jq gzip zstd
: "${PCAPMANGLE:?}"
dir="${MIMIC_REAL_DATA:-}/pcaps"
[ -d "$dir" ] || skip "no real captures in $dir"
shopt -s nullglob
files=("$dir"/*.pcap "$dir"/*.pcapng "$dir"/*.pcap.gz)
[ ${#files[@]} -gt 0 ] || skip "no captures in $dir"

# One exception, on purpose. pcapplusplus__example.pcap lost two segments
# in the capture that the server retransmitted later. Wireshark's default
# does not reassemble out-of-order segments, so it never finishes those two
# responses (336); mimic reassembles them (338), and so does Wireshark with
# its out-of-order reassembly on - which is the count used for that file.
# (That option is not used everywhere: on captures with real losses it
# makes Wireshark wait for segments that never come.)
tshark_opts() {
  case "$(basename "$1")" in
    pcapplusplus__example.pcap) echo "-o tcp.reassemble_out_of_order:TRUE" ;;
  esac
}

tshark_count() { # FILE FILTER [options]
  # shellcheck disable=SC2046 # options are words
  tshark -n -r "$1" $(tshark_opts "$1") -Y "$2" 2>/dev/null | wc -l
}

meta() { q "$1" "SELECT value FROM meta WHERE key = '$2'"; }

# What a model says, for comparing two captures of the same traffic.
summary() {
  q "$1" "SELECT method || ' ' || template || ' ' || count FROM endpoint
          ORDER BY method, template"
  q "$1" "SELECT e.method || ' ' || e.template || ' ' || s.status || ' ' ||
          s.count FROM endpoint_status s JOIN endpoint e ON e.id = s.endpoint_id
          ORDER BY e.method, e.template, s.status"
  for k in requests pcap_requests pcap_responses pcap_unanswered \
    pcap_gap_bytes pcap_dropped_requests pcap_dropped_responses \
    pcap_orphan_responses pcap_http_flows; do
    echo "$k $(meta "$1" $k)"
  done
}

total_req=0
for f in "${files[@]}"; do
  name=$(basename "$f")
  rc=$(run_status "$MIMIC" capture -q -o "$WORK/$name.db" "$f")
  check "$name: capture exit" 0 "$rc"
  [ "$rc" = 0 ] || { cat "$WORK/last.err"; continue; }
  want_req=$(tshark_count "$f" 'tcp && http.request')
  want_resp=$(tshark_count "$f" 'tcp && http.response')
  got_req=$(meta "$WORK/$name.db" pcap_requests)
  got_resp=$(meta "$WORK/$name.db" pcap_responses)
  check "$name: requests = tshark's" "$want_req" "$got_req"
  check "$name: responses = tshark's" "$want_resp" "$got_resp"
  total_req=$((total_req + got_req))

  # The same traffic, badly delivered: the same model.
  "$PCAPMANGLE" --seed 7 --window 8 "$f" "$WORK/mangled.pcap"
  rc=$(run_status "$MIMIC" capture -q -o "$WORK/mangled.db" "$WORK/mangled.pcap")
  check "$name mangled: capture exit" 0 "$rc"
  summary "$WORK/$name.db" >"$WORK/a.txt"
  summary "$WORK/mangled.db" >"$WORK/b.txt"
  if diff "$WORK/a.txt" "$WORK/b.txt" >"$WORK/diff.txt"; then
    check "$name: reordered + duplicated + overlapping = original" same same
  else
    check "$name: reordered + duplicated + overlapping = original" same \
      "differs: $(head -c 300 "$WORK/diff.txt" | tr '\n' ' ')"
  fi
  check_true "$name: the rewrite really reordered and duplicated" \
    test "$(meta "$WORK/mangled.db" pcap_out_of_order_segments)" -gt 0 -a \
    "$(meta "$WORK/mangled.db" pcap_retransmitted_bytes)" -gt 0
  rm -f "$WORK/mangled.db" "$WORK/mangled.pcap"
done
check_true "requests were found at all" test "$total_req" -gt 1000

# Compressed captures read the same (content decides, not the name).
f="$dir/zeek__bro.org.pcap"
if [ -f "$f" ]; then
  gzip -c "$f" >"$WORK/c.pcap.gz"
  zstd -q -c "$f" >"$WORK/c.bin"
  "$MIMIC" capture -q -o "$WORK/gz.db" "$WORK/c.pcap.gz"
  "$MIMIC" capture -q -o "$WORK/zst.db" "$WORK/c.bin"
  summary "$WORK/zeek__bro.org.pcap.db" >"$WORK/a.txt"
  check "gzip capture = plain" "$(cat "$WORK/a.txt")" "$(summary "$WORK/gz.db")"
  check "zstd capture = plain" "$(cat "$WORK/a.txt")" "$(summary "$WORK/zst.db")"
  # Standard input too.
  zstd -q -dc "$WORK/c.bin" | "$MIMIC" capture -q -o "$WORK/stdin.db" -
  check "capture from stdin = plain" "$(cat "$WORK/a.txt")" \
    "$(summary "$WORK/stdin.db")"
  # A truncated compressed capture: what came before is learned, exit 3.
  head -c 200000 "$WORK/c.pcap.gz" >"$WORK/cut.pcap.gz"
  rc=$(run_status "$MIMIC" capture -q -o "$WORK/cut.db" "$WORK/cut.pcap.gz")
  check "truncated capture: model written, exit 3" 3 "$rc"
  check_true "truncated capture: some requests learned" \
    test "$(meta "$WORK/cut.db" pcap_requests)" -gt 0
fi

# A BPF filter applies to files too.
f="$dir/zeek__pipelined-requests.pcap"
if [ -f "$f" ]; then
  "$MIMIC" capture -q --filter 'tcp port 80' -o "$WORK/f80.db" "$f"
  check "--filter 'tcp port 80': the 5 requests" 5 "$(meta "$WORK/f80.db" pcap_requests)"
  rc=$(run_status "$MIMIC" capture -q --filter 'tcp port 1' -o "$WORK/f1.db" "$f")
  check "--filter that matches nothing: no model (exit 1)" 1 "$rc"
  rc=$(run_status "$MIMIC" capture -q --filter 'tcp port (' -o "$WORK/fx.db" "$f")
  check "a bad --filter is refused" 1 "$rc"
  check_true "... with libpcap's reason" grep -q -- "--filter" "$WORK/last.err"
fi

# Completeness is visible: the lossy capture says so, in the model and in
# inspect.
f="$dir/zeek__1000-requests-one-dropped-response.pcap.gz"
if [ -f "$f" ]; then
  db="$WORK/$(basename "$f").db"
  check "lossy capture: one request without response" 1 "$(meta "$db" pcap_unanswered)"
  check "lossy capture: the missing bytes counted" 238 "$(meta "$db" pcap_gap_bytes)"
  "$MIMIC" inspect --json "$db" >"$WORK/i.json"
  check "inspect --json: capture.requests" 1000 "$(jq .capture.requests "$WORK/i.json")"
  check "inspect --json: capture.gap_bytes" 238 "$(jq .capture.gap_bytes "$WORK/i.json")"
  "$MIMIC" inspect "$db" >"$WORK/i.txt"
  check_true "inspect: losses line" grep -q "^losses .*238 bytes in 1 gaps" "$WORK/i.txt"
  "$MIMIC" capture -o "$WORK/again.db" "$f" 2>"$WORK/err.txt"
  check_true "capture warns about the loss" grep -q "capture is incomplete" "$WORK/err.txt"
fi
finish
