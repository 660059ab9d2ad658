#!/usr/bin/env bash
# run.sh - what `make run` runs after building: the service on http://localhost:8000 with the
# one-machine defaults (SQLite and files in ./data, the local queue, one worker per core).
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./build/cct serve
