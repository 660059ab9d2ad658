#!/usr/bin/env bash
# run.sh - what `make run` runs after building: the service on http://localhost:8000 with the
# one-machine defaults (SQLite and files in ./data, the local queue, one worker per core).
# Every setting comes from the environment (`build/cct serve --help` lists them), e.g.
# `PORT=9000 WORKERS=4 make run`. Ctrl-C shuts down gracefully (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "cct: serving on http://${HOST:-0.0.0.0}:${PORT:-8000} (data in ${DATA_DIR:-./data}); Ctrl-C stops" >&2
exec ./build/cct serve
