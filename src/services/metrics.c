/* metrics.c - request counters in relaxed atomics (one slot per route and status, so two
 * threads only meet on the same cache line when they serve the same route and status) and
 * the Prometheus text format for /metrics. */
#include "services/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "domain/tasks.h"
#include "domain/task.h"
#include "services/routes.h"

#define NSTATUS 500 /* 100..599 */

static _Atomic uint64_t requests[METRICS_MAX_ROUTES][NSTATUS];
static _Atomic uint64_t dur_ns_sum[METRICS_MAX_ROUTES];
static _Atomic uint64_t dur_count[METRICS_MAX_ROUTES];

void metrics_observe(size_t route, unsigned status, uint64_t dur_ns)
{
    if (route >= METRICS_MAX_ROUTES)
        route = METRICS_MAX_ROUTES - 1;
    if (status >= 100 && status < 600)
        atomic_fetch_add_explicit(&requests[route][status - 100], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dur_ns_sum[route], dur_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&dur_count[route], 1, memory_order_relaxed);
}

static const char *route_label(size_t i, const struct route *routes, size_t n)
{
    if (i < n)
        return routes[i].label ? routes[i].label : routes[i].pattern;
    return "unmatched";
}

/* GET and DELETE /api/tasks/{id} share a pattern: the method keeps their series apart. */
static const char *route_method(size_t i, const struct route *routes, size_t n)
{
    return i < n ? routes[i].method : "any";
}

cct_err metrics_render(struct app *app, char **out, size_t *len)
{
    size_t n = 0;
    const struct route *routes = routes_all(&n);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return CCT_ENOMEM;

    fputs("# HELP cct_http_requests_total HTTP requests answered, by route pattern and status.\n"
          "# TYPE cct_http_requests_total counter\n",
          f);
    for (size_t i = 0; i < METRICS_MAX_ROUTES; i++) {
        if (i >= n && i != METRICS_MAX_ROUTES - 1)
            continue;
        for (unsigned s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&requests[i][s], memory_order_relaxed);
            if (v)
                fprintf(f,
                        "cct_http_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"} %llu\n",
                        route_method(i, routes, n), route_label(i, routes, n), s + 100,
                        (unsigned long long)v);
        }
    }
    fputs("# HELP cct_http_request_duration_seconds Time from request headers to response "
          "completion.\n# TYPE cct_http_request_duration_seconds summary\n",
          f);
    for (size_t i = 0; i < METRICS_MAX_ROUTES; i++) {
        uint64_t c = atomic_load_explicit(&dur_count[i], memory_order_relaxed);
        if (!c)
            continue;
        uint64_t ns = atomic_load_explicit(&dur_ns_sum[i], memory_order_relaxed);
        const char *label = route_label(i, routes, n), *method = route_method(i, routes, n);
        fprintf(f, "cct_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
                method, label, (double)ns / 1e9);
        fprintf(f, "cct_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
                method, label, (unsigned long long)c);
    }

    struct tasks_stats st = {0};
    cct_err e = app ? tasks_stats(app, &st) : CCT_EINTERNAL;
    fputs("# HELP cct_stats_up 1 when the task figures below could be read.\n"
          "# TYPE cct_stats_up gauge\n",
          f);
    fprintf(f, "cct_stats_up %d\n", e == CCT_OK);
    if (e == CCT_OK) {
        fputs("# HELP cct_tasks Tasks by status.\n# TYPE cct_tasks gauge\n", f);
        for (int s = 0; s < TASK_STATUS_COUNT; s++)
            fprintf(f, "cct_tasks{status=\"%s\"} %lld\n", task_status_name((enum task_status)s),
                    (long long)st.by_status[s]);
        fputs("# HELP cct_conversion_seconds Time spent converting, over finished tasks.\n"
              "# TYPE cct_conversion_seconds summary\n",
              f);
        fprintf(f, "cct_conversion_seconds_sum %.3f\n", st.conversion_seconds);
        fprintf(f, "cct_conversion_seconds_count %lld\n", (long long)st.conversions);
        fputs("# HELP cct_queue_jobs Jobs in the queue.\n# TYPE cct_queue_jobs gauge\n", f);
        fprintf(f, "cct_queue_jobs{state=\"waiting\"} %lld\n", (long long)st.queue_waiting);
        fprintf(f, "cct_queue_jobs{state=\"taken\"} %lld\n", (long long)st.queue_taken);
    }
    if (fclose(f) != 0) {
        free(buf);
        return CCT_ENOMEM;
    }
    *out = buf;
    *len = size;
    return CCT_OK;
}
