#!/usr/bin/env bash
# bench_upload.sh - upload throughput and serve's memory: builds the release binary, starts
# `cct serve` on a free port with a temporary DATA_DIR, uploads a 1 GiB file as multipart
# (curl -F file=@...), measures MB/s and serve's peak resident memory (VmHWM from
# /proc/PID/status) before and after, stops the server and prints one markdown table row.
# The upload streams to storage, so the peak should not grow with the file.
# Environment: BUILD (build folder, default build), SIZE (default 1G, truncate(1) syntax),
# CONTENT (zero: a sparse file of zeros, default; random: bytes from /dev/urandom).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
SIZE=${SIZE:-1G}
CONTENT=${CONTENT:-zero}

bench_init upload

big=$tmp/big.bin
if [ "$CONTENT" = random ]; then
    bytes=$(numfmt --from=iec "$SIZE")
    head -c "$bytes" /dev/urandom >"$big"
else
    truncate -s "$SIZE" "$big"
fi
bytes=$(stat -c %s "$big")

bench_serve LOG_LEVEL=warn MAX_UPLOAD_MB=4096 SHUTDOWN_GRACE_SECONDS=5
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
at_start=$(hwm)

bench_login

before=$(hwm) # after sign-up and log-in: argon2id hashing takes its memory once
# Any file is accepted as "other" and can become an archive: zip is always a valid target.
res=$(curl -s -o "$tmp/resp.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" \
    -F newFormat=zip -F "file=@$big;type=application/octet-stream" "$url/api/tasks")
after=$(hwm)
code=${res%% *}
secs=${res##* }
if [ "$code" != 201 ]; then
    echo "bench_upload: upload answered $code: $(cat "$tmp/resp.json")" >&2
    exit 1
fi
mbs=$(python3 -c "print(f'{$bytes / 1048576 / $secs:.0f}')")
echo "| upload $SIZE ($CONTENT) multipart | curl -F | $mbs MB/s | ${secs}s | serve VmHWM ${at_start} kB at start, ${before} kB after login, ${after} kB after upload | $(date -u +%Y-%m-%d) |"
