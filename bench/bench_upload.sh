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

BUILD=${BUILD:-build}
SIZE=${SIZE:-1G}
CONTENT=${CONTENT:-zero}

make -s -j"$(nproc)" BUILD="$BUILD" all >/dev/null
bin=$PWD/$BUILD/cct
tmp=$(mktemp -d /tmp/cct-bench-upload.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

big=$tmp/big.bin
if [ "$CONTENT" = random ]; then
    bytes=$(numfmt --from=iec "$SIZE")
    head -c "$bytes" /dev/urandom >"$big"
else
    truncate -s "$SIZE" "$big"
fi
bytes=$(stat -c %s "$big")

HOST=127.0.0.1 PORT=$port DATA_DIR=$tmp/data WORKERS=1 LOG_LEVEL=warn MAX_UPLOAD_MB=4096 \
    SHUTDOWN_GRACE_SECONDS=5 "$bin" serve 2>"$tmp/serve.log" &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$url/healthz" >/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
at_start=$(hwm)

user=bench$RANDOM$RANDOM
pass=bench-password-1
curl -fs -H 'Content-Type: application/json' -o /dev/null \
    -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password1\":\"$pass\",\"password2\":\"$pass\"}" \
    "$url/api/auth/signup"
token=$(curl -fs -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$pass\"}" \
    "$url/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

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
