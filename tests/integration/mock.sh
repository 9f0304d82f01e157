# `mimic mock` for the tests (sourced after lib.sh): started on a free port
# of 127.0.0.1 (it prints the port it got), stopped with SIGTERM.
#
#   mock_start MODEL ARGS...  starts it with ARGS (pass --max-seconds: it
#                             bounds the mock even if the test is killed);
#                             sets MOCK_PID and MOCK_URL; ends the test when
#                             the mock does not start
#   mock_stop                 stops it and waits (nothing when not running)
MOCK_PID=
MOCK_URL=

mock_start() {
  local model=$1 port=
  shift
  : >"$WORK/mock.err" # there before the reader looks
  "$MIMIC" mock "$model" --listen 127.0.0.1:0 "$@" 2>"$WORK/mock.err" &
  MOCK_PID=$!
  for _ in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' \
      "$WORK/mock.err")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "the mock did not start:"; cat "$WORK/mock.err"; exit 1; }
  MOCK_URL="http://127.0.0.1:$port"
}

mock_stop() {
  if [ -n "$MOCK_PID" ]; then
    kill -TERM "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=
  fi
}
