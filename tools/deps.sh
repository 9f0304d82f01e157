#!/usr/bin/env bash
# Installs the Debian 12 packages mimic needs: to build (default) or to
# build and test (--test). Uses sudo when not run as root. Installs nothing
# when everything is already there.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
  libuv1-dev libcurl4-openssl-dev libsqlite3-dev libzstd-dev libpcap-dev
  zlib1g-dev libhttp-parser-dev libjansson-dev libpcre2-dev libcmocka-dev)
test_pkgs=(clang clang-format libclang-rt-14-dev sqlite3 jq zstd gzip time gawk)
test_pkgs+=(nginx prometheus curl nodejs npm) # replay metrics and load-shape tests
test_pkgs+=(tshark) # dumpcap: requests as sent (tests/integration/wire.sh)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

# Node.js and npm count as present when their commands are: a machine whose
# Node.js came from elsewhere (NodeSource ships npm inside its nodejs) can't
# take Debian's npm package beside it.
missing=()
for p in "${pkgs[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
