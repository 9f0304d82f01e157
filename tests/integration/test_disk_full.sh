#!/usr/bin/env bash
# A full disk while the model is written: one clear message naming the
# file and the cause, exit 1, and no half-written model or temporary file
# left behind. Needs a tiny tmpfs (root); skipped where mounting is denied.
. "$(dirname "$0")/lib.sh"
: "${GENLOG:?}"
mnt="$WORK/full"
mkdir -p "$mnt"
mount -t tmpfs -o size=48k tmpfs "$mnt" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'umount "$mnt" 2>/dev/null; rm -rf "$WORK"' EXIT

"$GENLOG" --lines 5000 --seed 2 -o "$WORK/s.log"
check "full disk exit" 1 "$(run_status "$MIMIC" capture -o "$mnt/m.db" "$WORK/s.log")"
check_true "message names the model and the cause" \
  grep -q "cannot write model $mnt/m.db: .*full" "$WORK/last.err"
check "nothing left on the full disk" "" "$(ls -A "$mnt")"
finish
