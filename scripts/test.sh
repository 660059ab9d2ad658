#!/usr/bin/env bash
# test.sh - what `make test` runs: installs the test packages, builds the normal and the
# sanitizer (ASan + UBSan) variants, then runs the unit tests (cmocka) and the integration
# suites (pytest: real `cct serve`, `cct convert`, ffprobe) against each build, and once, against
# the release build, the browser test (tests/browser: Debian's chromium via playwright-core).
# Set CCT_TEST_QUICK=1 to skip the sanitizer pass while developing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything below runs in run_suites, its output also kept in a log so that the last line can
# total every runner's count: "N passed, N failed".
run_suites() {
    set -e
    bash scripts/install-deps.sh test
    jobs=$(nproc)

    make -s format-check
    make -j"$jobs" all
    if [ "${CCT_TEST_QUICK:-0}" != 1 ]; then
        make -j"$jobs" SANITIZE=1 all
    fi

    builds=(build)
    [ "${CCT_TEST_QUICK:-0}" = 1 ] || builds+=(build-asan)

    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # libvips/glib keep process-lifetime caches that LeakSanitizer reports; ours must not leak.
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0

    status=0
    for b in "${builds[@]}"; do
        echo "=== unit tests ($b)"
        if [ "$b" = build-asan ]; then make -j"$jobs" SANITIZE=1 unit || status=1
        else make -j"$jobs" unit || status=1; fi
        echo "=== integration tests ($b)"
        CCT_BIN=$PWD/$b/cct /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration || status=1
    done

    echo "=== browser test (build)"
    # node_modules comes from package-lock.json: reinstalled when missing, or older than the lock, or
    # holding another playwright-core than the lock pins.
    lock_version() { node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version'; }
    have_version() { node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || true; }
    if [ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" != true ]; then
        echo "browser test: needs Node.js 20 or newer, found $(node --version 2>/dev/null || echo none)" >&2
        status=1
    else
        if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
            [ "$(have_version)" != "$(lock_version)" ]; then
            npm ci --no-audit --no-fund || status=1
        fi
        CCT_BIN=$PWD/build/cct node --test tests/browser/ || status=1
    fi
    return $status
}

log=$(mktemp /tmp/cct-test.XXXXXX)
set +e
run_suites 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# pytest "N passed"/"N failed", cmocka "[  PASSED  ] N test(s)"/"[  FAILED  ] N test(s)",
# node --test "# pass N"/"# fail N"
awk '
    /^[0-9]+ [a-z]+(, [0-9]+ [a-z]+)* in [0-9.]+s/ {
        for (i = 1; i < NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/ || $(i+1) ~ /^errors?/) f += $i
        }
    }
    /^\[  PASSED  \] [0-9]+ test/ { p += $4 }
    /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
    /^# pass [0-9]+$/ { p += $3 }
    /^# fail [0-9]+$/ { f += $3 }
    END { printf "%d passed, %d failed\n", p, f }
' "$log"
rm -f "$log"
exit "$status"
