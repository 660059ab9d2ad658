# bench/lib.sh - shared by the HTTP benchmarks (sourced, not run): build the release binary,
# start `cct serve` on a free port with a temporary DATA_DIR, sign up and log in one user, and
# stop the server and remove the folder on exit.
# The caller has done `cd` to the repository root and set BUILD.
# shellcheck shell=bash

# bench_init NAME: builds $BUILD, sets bin, tmp (/tmp/cct-bench-NAME.XXXXXX) and a free port,
# and stops the server (if started) and removes tmp on exit.
bench_init() {
    make -s -j"$(nproc)" BUILD="$BUILD" all >/dev/null
    bin=$PWD/$BUILD/cct
    tmp=$(mktemp -d "/tmp/cct-bench-$1.XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    pid=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    rm -rf "$tmp"
}

# bench_serve [VAR=value ...]: starts serve with these settings on top of HOST, PORT, DATA_DIR
# and WORKERS=1 (stderr to $tmp/serve.log), sets pid and url and waits for /healthz.
bench_serve() {
    env HOST=127.0.0.1 PORT="$port" DATA_DIR="$tmp/data" WORKERS=1 "$@" "$bin" serve 2>"$tmp/serve.log" &
    pid=$!
    url=http://127.0.0.1:$port
    for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
    curl -fs "$url/healthz" >/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
}

# bench_login: signs up a new random user and logs in; sets token.
bench_login() {
    local user=bench$RANDOM$RANDOM
    local pass=bench-password-1
    curl -fs -H 'Content-Type: application/json' -o /dev/null \
        -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password1\":\"$pass\",\"password2\":\"$pass\"}" \
        "$url/api/auth/signup"
    # shellcheck disable=SC2034 # read by the caller
    token=$(curl -fs -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$pass\"}" \
        "$url/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}
