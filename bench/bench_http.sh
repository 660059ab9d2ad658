#!/usr/bin/env bash
# bench_http.sh - HTTP throughput of the API: builds the release binary, starts `cct serve` on a
# free port with a temporary DATA_DIR, signs up, logs in, uploads one small task, then runs
# `wrk -t2 -c64 -d10s` against GET /api/tasks/{id} (bench/wrk_task.lua adds the token) and
# prints one markdown table row: requests per second and p99 latency.
# Environment: BUILD (build folder, default build), DURATION (default 10s), CONNS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "bench_http: wrk is missing (scripts/install-deps.sh bench)" >&2; exit 1; }

make -s -j"$(nproc)" BUILD="$BUILD" all >/dev/null
bin=$PWD/$BUILD/cct
tmp=$(mktemp -d /tmp/cct-bench-http.XXXXXX)
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

# Logs go to a file as in production (LOG_LEVEL=info: one line per request); LOG_LEVEL=warn
# measures without them.
HOST=127.0.0.1 PORT=$port DATA_DIR=$tmp/data WORKERS=1 LOG_LEVEL=${LOG_LEVEL:-info} "$bin" serve 2>"$tmp/serve.log" &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$url/healthz" >/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }

user=bench$RANDOM$RANDOM
pass=bench-password-1
curl -fs -H 'Content-Type: application/json' -o /dev/null \
    -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password1\":\"$pass\",\"password2\":\"$pass\"}" \
    "$url/api/auth/signup"
token=$(curl -fs -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$pass\"}" \
    "$url/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
ffmpeg -hide_banner -loglevel error -y -f lavfi -i sine=frequency=440:duration=0.5 "$tmp/tone.wav"
id=$(curl -fs -H "Authorization: Bearer $token" -F newFormat=mp3 -F "file=@$tmp/tone.wav" \
    "$url/api/tasks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

out=$(TOKEN=$token TASK_PATH=/api/tasks/$id wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/wrk_task.lua "$url")
echo "$out" >&2
line=$(grep '^CCT_BENCH' <<<"$out")
rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")
errors=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")
threads=$(grep -c ^processor /proc/cpuinfo)
echo "| GET /api/tasks/{id} | wrk -t2 -c$CONNS -d$DURATION | $rps req/s | p99 $p99 ms | errors $errors | $threads cores | $(date -u +%Y-%m-%d) |"
