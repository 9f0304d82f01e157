#!/usr/bin/env bash
# The command line: help lists every option, and bad input or bad usage
# gives one clear message naming the file and the right exit status, while
# nothing learned is lost.
. "$(dirname "$0")/lib.sh"
need sqlite3 jq gzip zstd
: "${GENLOG:?}"

# --- help -----------------------------------------------------------------
check "mimic --help exit" 0 "$(run_status "$MIMIC" --help)"
for cmd in capture inspect replay; do
  check_true "mimic --help lists $cmd" grep -q "^  $cmd " "$WORK/last.out"
done
# Every command listed: CMD --help and `mimic help CMD` say the same.
cmds=$(awk '/^Commands:|Commands:$/ { on = 1; next } on && /^  [a-z]/ { print $1 }
            on && /^$/ { on = 0 }' "$WORK/last.out" | grep -vx 'version\|help')
check_true "the command list is read ($(echo $cmds))" test "$(wc -w <<<"$cmds")" -ge 5
for cmd in $cmds; do
  check "mimic $cmd --help exit" 0 "$(run_status "$MIMIC" "$cmd" --help)"
  cp "$WORK/last.out" "$WORK/help1.txt"
  check "mimic help $cmd exit" 0 "$(run_status "$MIMIC" help "$cmd")"
  check_true "mimic help $cmd = mimic $cmd --help" \
    cmp -s "$WORK/help1.txt" "$WORK/last.out"
done
check "mimic help of an unknown command" 2 "$(run_status "$MIMIC" help nope)"
# Every long option a parser accepts must appear in a command's help.
for cmd in $cmds; do "$MIMIC" "$cmd" --help; done >"$WORK/helps.txt"
for opt in $(cat "$MIMIC_SRC"/src/*.c "$MIMIC_SRC"/capture/*.c \
  "$MIMIC_SRC"/replay/*.c | grep -o '{"[a-z0-9-]*", [a-z_]*_argument' |
  sed 's/{"\([a-z0-9-]*\)".*/\1/' | sort -u); do
  grep -q -- "--$opt" "$WORK/helps.txt" ||
    check "option --$opt documented in a --help" yes no
done
check_true "every option documented" test -s "$WORK/helps.txt"
"$MIMIC" capture --help >"$WORK/last.out"
check_true "capture --help names the exit statuses" \
  grep -q "Exit status" "$WORK/last.out"
check "unknown command exit" 2 "$(run_status "$MIMIC" frobnicate)"
check "capture without input exit" 2 "$(run_status "$MIMIC" capture)"
check "capture with unknown option exit" 2 \
  "$(run_status "$MIMIC" capture --no-such-option x.log)"
check "bad --idle-timeout exit" 2 \
  "$(run_status "$MIMIC" capture --idle-timeout soon x.log)"
check_true "bad --idle-timeout message names the option" \
  grep -q -- "--idle-timeout 'soon'" "$WORK/last.err"
check "bad --session-key exit" 2 \
  "$(run_status "$MIMIC" capture --session-key mac x.log)"

# --- a good run -------------------------------------------------------------
"$GENLOG" --lines 3000 --seed 5 -o "$WORK/s.log"
check "capture exit" 0 "$(run_status "$MIMIC" capture -o "$WORK/m.db" "$WORK/s.log")"
check_true "capture says which format it picked" \
  grep -q "format combined" "$WORK/last.err"
check_true "capture names the model it wrote" grep -q "wrote $WORK/m.db" "$WORK/last.err"

# --- existing output, unwritable output -------------------------------------
before=$(md5sum <"$WORK/m.db")
check "existing model without --force exit" 1 \
  "$(run_status "$MIMIC" capture -o "$WORK/m.db" "$WORK/s.log")"
check_true "message names the file and --force" \
  grep -q "$WORK/m.db already exists; use --force" "$WORK/last.err"
check "existing model untouched" "$before" "$(md5sum <"$WORK/m.db")"
check "--force overwrites" 0 \
  "$(run_status "$MIMIC" capture -q --force -o "$WORK/m.db" "$WORK/s.log")"
check "unwritable output exit" 1 \
  "$(run_status "$MIMIC" capture -o "$WORK/no/such/dir/m.db" "$WORK/s.log")"
check_true "unwritable output message names the file" \
  grep -q "cannot write model $WORK/no/such/dir/m.db" "$WORK/last.err"

# --- unreadable / unknown input ---------------------------------------------
check "missing input exit" 1 \
  "$(run_status "$MIMIC" capture -o "$WORK/x.db" "$WORK/nope.log")"
check_true "missing input message names the file" \
  grep -q "cannot open $WORK/nope.log: No such file" "$WORK/last.err"
head -c 20000 /dev/urandom | base64 >"$WORK/noise.txt"
check "undetectable format exit" 1 \
  "$(run_status "$MIMIC" capture -o "$WORK/x.db" "$WORK/noise.txt")"
check_true "undetectable format message" \
  grep -q "cannot determine the format of $WORK/noise.txt" "$WORK/last.err"
check_true "no model written for undetectable input" test ! -e "$WORK/x.db"
: >"$WORK/empty.log"
check "empty input exit" 1 \
  "$(run_status "$MIMIC" capture -o "$WORK/x.db" "$WORK/empty.log")"
check_true "empty input message" grep -q "empty.log is empty" "$WORK/last.err"

# --- malformed lines: counted, shown with file:line, never fatal ------------
{ head -n 100 "$WORK/s.log"; echo 'this is not a log line'; printf '\x00\x01 junk\n'
  sed -n '101,200p' "$WORK/s.log"; } >"$WORK/bad.log"
check "malformed lines are not fatal" 0 \
  "$(run_status "$MIMIC" capture -o "$WORK/bad.db" "$WORK/bad.log")"
check_true "first malformed example with file:line" \
  grep -q "$WORK/bad.log:101: " "$WORK/last.err"
check "malformed counted" 2 "$("$MIMIC" inspect --json "$WORK/bad.db" | jq .malformed)"
check "requests kept" 200 "$("$MIMIC" inspect --json "$WORK/bad.db" | jq .requests)"
check "--max-malformed over the limit exit" 1 \
  "$(run_status "$MIMIC" capture --max-malformed 0.5 -o "$WORK/bad2.db" "$WORK/bad.log")"
check_true "--max-malformed says why" grep -q "over --max-malformed" "$WORK/last.err"
check_true "--max-malformed wrote no model" test ! -e "$WORK/bad2.db"
check "--max-malformed under the limit exit" 0 \
  "$(run_status "$MIMIC" capture --max-malformed 5 -o "$WORK/bad2.db" "$WORK/bad.log")"
# Mostly garbage: still learns from the rest, but says so loudly.
{ sed -n '1,40p' "$WORK/s.log"; for i in $(seq 60); do echo "garbage line $i"; done; } >"$WORK/mostly.log"
check "mostly-bad input still learns" 0 \
  "$(run_status "$MIMIC" capture --format combined -o "$WORK/mostly.db" "$WORK/mostly.log")"
check_true "loud warning for a high malformed share" \
  grep -q "WARNING: 60.0% of the lines (60 of 100)" "$WORK/last.err"

# --- truncated compressed input: named, learned data kept, status 3 --------
gzip -c "$WORK/s.log" >"$WORK/s.log.gz"
size=$(stat -c %s "$WORK/s.log.gz")
head -c $((size / 2)) "$WORK/s.log.gz" >"$WORK/cut.log.gz"
check "truncated gzip exit" 3 \
  "$(run_status "$MIMIC" capture -o "$WORK/cut.db" "$WORK/cut.log.gz")"
check_true "truncated gzip message names the file" \
  grep -q "$WORK/cut.log.gz: truncated gzip stream" "$WORK/last.err"
got=$("$MIMIC" inspect --json "$WORK/cut.db" | jq .requests)
check_true "truncated gzip: the lines before the cut were learned ($got)" \
  test "$got" -gt 500
check_true "truncated gzip: the source records the error" \
  test -n "$(q "$WORK/cut.db" 'SELECT error FROM source_file WHERE error IS NOT NULL')"
zstd -q -c "$WORK/s.log" >"$WORK/s.log.zst"
size=$(stat -c %s "$WORK/s.log.zst")
head -c $((size - 7)) "$WORK/s.log.zst" >"$WORK/cut.log.zst"
check "truncated zstd exit" 3 \
  "$(run_status "$MIMIC" capture -o "$WORK/cutz.db" "$WORK/cut.log.zst")"
check_true "truncated zstd message names the file" \
  grep -q "$WORK/cut.log.zst: truncated zstd stream" "$WORK/last.err"

# --- compressed and stdin inputs learn the same model as plain -------------
summary() {
  "$MIMIC" inspect --json "$1" |
    jq -c '{requests, sessions, clients, malformed, endpoints, think_time_us,
            session_length, arrivals}'
}
plain=$(summary "$WORK/m.db")
"$MIMIC" capture -q -o "$WORK/gz.db" "$WORK/s.log.gz"
check "gzip input = plain input" "$plain" "$(summary "$WORK/gz.db")"
"$MIMIC" capture -q -o "$WORK/zst.db" "$WORK/s.log.zst"
check "zstd input = plain input" "$plain" "$(summary "$WORK/zst.db")"
"$MIMIC" capture -q -o "$WORK/stdin.db" - <"$WORK/s.log"
check "stdin input = plain input" "$plain" "$(summary "$WORK/stdin.db")"

# --- several files, given out of order, are merged in time order -----------
split -n l/3 -d "$WORK/s.log" "$WORK/part."
"$MIMIC" capture -q -o "$WORK/parts.db" "$WORK/part.02" "$WORK/part.00" "$WORK/part.01"
check "three files in any order = one file" "$plain" "$(summary "$WORK/parts.db")"
# Lines shuffled within a small window still give the same sessions.
awk '{ printf "%d\t%s\n", (NR - (NR % 4)) * 10 + (NR * 7919) % 4, $0 }' "$WORK/s.log" |
  sort -n -k1,1 | cut -f2- >"$WORK/shuffled.log"
"$MIMIC" capture -q -o "$WORK/shuf.db" "$WORK/shuffled.log"
check "locally shuffled lines: same sessions" \
  "$(jq -r .sessions <<<"$plain")" \
  "$("$MIMIC" inspect --json "$WORK/shuf.db" | jq .sessions)"

# --- inspect on bad models ----------------------------------------------------
check "inspect missing model exit" 1 "$(run_status "$MIMIC" inspect "$WORK/none.db")"
check_true "inspect names the missing model" grep -q "none.db" "$WORK/last.err"
check "inspect non-model exit" 1 "$(run_status "$MIMIC" inspect "$WORK/s.log")"
check_true "inspect says it is not a model" grep -q "is not a mimic model" "$WORK/last.err"
cp "$WORK/m.db" "$WORK/newer.db"
q "$WORK/newer.db" "UPDATE meta SET value='7' WHERE key='schema_version'"
check "inspect newer model exit" 1 "$(run_status "$MIMIC" inspect "$WORK/newer.db")"
check_true "newer model message" grep -q "schema version 7" "$WORK/last.err"

# --- interruption: SIGINT writes what was learned; SIGKILL leaves no model --
mkfifo "$WORK/fifo"
( "$GENLOG" --lines 2000 --seed 9; exec sleep 30 ) >"$WORK/fifo" 2>/dev/null &
feeder=$!
"$MIMIC" capture -o "$WORK/int.db" "$WORK/fifo" 2>"$WORK/int.err" &
cap=$!
sleep 2
kill -INT "$cap"
set +e; wait "$cap"; rc=$?; set -e
kill "$feeder" 2>/dev/null || true
check "SIGINT: exit status (model written, input cut)" 3 "$rc"
check "SIGINT: learned lines kept" 2000 "$("$MIMIC" inspect --json "$WORK/int.db" | jq .requests)"
( "$GENLOG" --lines 2000 --seed 9; exec sleep 30 ) >"$WORK/fifo" 2>/dev/null &
feeder=$!
"$MIMIC" capture -o "$WORK/kill.db" "$WORK/fifo" 2>/dev/null &
cap=$!
sleep 2
kill -KILL "$cap"
wait "$cap" 2>/dev/null || true
kill "$feeder" 2>/dev/null || true
check_true "SIGKILL: no model file at all" test ! -e "$WORK/kill.db"
finish
