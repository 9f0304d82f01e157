# Requests as they leave the client (sourced, not run), for checks that
# must not see the server's own scheduling: a busy machine makes nginx
# read and log late, then catch up, so its log can show a second holding
# a few more requests than were sent in any second. dumpcap keeps the
# segments that carry data to a port on the loopback interface (each
# request of these replays is one such segment), stamped by the kernel
# while the client sends them. Needs dumpcap and tshark (Debian package
# tshark) and the right to capture (root, or CAP_NET_RAW).
#
#   wire_start PORT   starts capturing; returns 1 with the reason on stderr
#                     when it cannot
#   wire_stop [N]     stops it (once it holds N segments, or after 5 s:
#                     the last ones reach the file late, and would be lost
#                     if it stopped at once); prints the send times (unix
#                     seconds), one a line, in order; returns 1 when the
#                     kernel dropped any (the count would be short)
WIRE_PID=

wire_start() {
  local port=$1 i
  if ! command -v dumpcap >/dev/null 2>&1 || ! command -v tshark >/dev/null 2>&1 ||
    ! command -v capinfos >/dev/null 2>&1; then
    echo "wire_start: dumpcap or tshark is not installed (Debian package tshark)" >&2
    return 1
  fi
  : >"$WORK/wire.err"
  # -a duration: it never outlives a test that dies before wire_stop.
  dumpcap -q -i lo -a duration:120 -w "$WORK/wire.pcapng" \
    -f "tcp dst port $port and (tcp[tcpflags] & tcp-push != 0)" \
    2>"$WORK/wire.err" </dev/null &
  WIRE_PID=$!
  for ((i = 0; i < 400; i++)); do
    grep -q '^File:' "$WORK/wire.err" && return 0
    kill -0 "$WIRE_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill "$WIRE_PID" 2>/dev/null || true
  wait "$WIRE_PID" 2>/dev/null || true
  WIRE_PID=
  echo "wire_start: dumpcap cannot capture on lo: $(head -c 300 "$WORK/wire.err")" >&2
  return 1
}

wire_stop() {
  local want=${1:-0} i n
  [ -n "$WIRE_PID" ] || return 1
  for ((i = 0; i < 50; i++)); do
    n=$(capinfos -c -M "$WORK/wire.pcapng" 2>/dev/null |
      awk -F': *' '/^Number of packets/ { print $2 }')
    [ "${n:-0}" -ge "$want" ] && break
    sleep 0.1
  done
  kill -INT "$WIRE_PID" 2>/dev/null || true
  wait "$WIRE_PID" 2>/dev/null || true
  WIRE_PID=
  tshark -r "$WORK/wire.pcapng" -T fields -e frame.time_epoch 2>/dev/null | sort -n
  # "Packets received/dropped on interface 'Loopback: lo': 1661/0 (...)"
  grep -q 'dropped on interface.*: [0-9]*/0 ' "$WORK/wire.err"
}
