#!/usr/bin/env bash
# bench_http.sh - HTTP throughput of the API: builds the release binary, starts `cct serve` on a
# free port with a temporary DATA_DIR, signs up, logs in, uploads one small task, then runs
# `wrk -t2 -c64 -d10s` against GET /api/tasks/{id} (bench/wrk_task.lua adds the token) and
# prints one markdown table row: requests per second and p99 latency.
# Environment: BUILD (build folder, default build), DURATION (default 10s), CONNS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "bench_http: wrk is missing (scripts/install-deps.sh bench)" >&2; exit 1; }

bench_init http

# Logs go to a file as in production (LOG_LEVEL=info: one line per request); LOG_LEVEL=warn
# measures without them.
bench_serve LOG_LEVEL="${LOG_LEVEL:-info}"
bench_login
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
