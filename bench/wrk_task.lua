-- wrk_task.lua - wrk script for bench/bench_http.sh: GETs one task (TASK_PATH) with a bearer
-- token (TOKEN), both from the environment, and reports req/s, p99 latency and errors on one
-- machine-readable line.
local token = os.getenv("TOKEN") or ""
local path = os.getenv("TASK_PATH") or "/api/tasks/1"

wrk.method = "GET"
wrk.path = path
wrk.headers["Authorization"] = "Bearer " .. token

local non2xx = 0
function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local errs = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.status + summary.errors.timeout
    io.write(string.format("CCT_BENCH rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
        summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, errs))
end
