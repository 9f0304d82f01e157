#!/usr/bin/env bash
# Builds a model from a bundled SQL text model: applies models/schema.sql,
# then the file's INSERTs, with sqlite3.
#
# Usage: tools/make-model.sh [-f] MODEL.sql OUT.db
#   -f, --force   replace OUT.db if it exists (else it is refused)
# Exit: 0 written; 1 sqlite3 failed (OUT.db is left as it was);
#       2 usage error, missing sqlite3, unwritable folder or existing
#         OUT.db without -f.
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

force=0
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -f | --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    -*) echo "make-model.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ ${#args[@]} -ne 2 ]]; then
  usage >&2
  exit 2
fi
sql=${args[0]}
out=${args[1]}
schema=$(cd "$(dirname "$0")/.." && pwd)/models/schema.sql

if ! command -v sqlite3 > /dev/null; then
  echo "make-model.sh: sqlite3 is missing (Debian package sqlite3)" >&2
  exit 2
fi
for f in "$schema" "$sql"; do
  if [[ ! -r $f ]]; then
    echo "make-model.sh: cannot read $f" >&2
    exit 2
  fi
done
if [[ -e $out && $force -eq 0 ]]; then
  echo "make-model.sh: $out already exists; use -f to replace it" >&2
  exit 2
fi

dir=$(dirname -- "$out")
if [[ ! -d $dir || ! -w $dir ]]; then
  echo "make-model.sh: cannot write $out: $dir is not a writable folder" >&2
  exit 2
fi

# Build next to the target and rename, so that a failure leaves no
# half-made model and -f never destroys the old one before success.
tmp=$(mktemp "$dir/.make-model.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
rm -f -- "$tmp" # sqlite3 wants to create the file itself
if ! sqlite3 -bail "$tmp" < "$schema" ||
  ! sqlite3 -bail "$tmp" < "$sql"; then
  echo "make-model.sh: sqlite3 failed on $sql; nothing written" >&2
  exit 1
fi
mv -f -- "$tmp" "$out"
echo "wrote $out"
