#!/usr/bin/env bash
# install-deps.sh - installs every Debian package cct needs to build, run, test and benchmark.
# Usage: scripts/install-deps.sh [run|test|bench]   (default: run)
# Only missing packages are installed; apt-get update runs only when something is missing.
set -euo pipefail

what=${1:-run}

build=(build-essential pkg-config
    libmicrohttpd-dev libjansson-dev libsodium-dev libjwt-dev libsqlite3-dev libpq-dev libhiredis-dev
    libavformat-dev libavcodec-dev libavfilter-dev libswresample-dev libswscale-dev libavutil-dev
    libvips-dev libarchive-dev libmagic-dev libcurl4-openssl-dev libseccomp-dev)
testing=(libcmocka-dev clang-format ffmpeg libvips-tools libarchive-tools python3 python3-pytest curl file
    sqlite3 zstd xz-utils bzip2 p7zip-full chromium)
bench=(wrk hyperfine time)

pkgs=("${build[@]}")
case "$what" in
run) ;;
test) pkgs+=("${testing[@]}") ;;
bench) pkgs+=("${testing[@]}" "${bench[@]}") ;;
*) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# The browser test (tests/browser) runs on Node.js with npm: playwright-core drives Debian's
# chromium (listed above; /usr/bin/chromium, no browser download). Our machines come with
# Node.js 20 and its bundled npm (NodeSource's nodejs package, which has no separate npm
# package), so look for the commands, not for Debian package names: only where a command is
# missing are Debian's nodejs / npm installed (Debian 12's nodejs is 18, older than
# playwright-core wants; scripts/test.sh says so if the browser test cannot run on it).
if [ "$what" != run ]; then
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
