/* metrics.h - Prometheus counters of the HTTP service (requests by route and status, request
 * durations) kept in relaxed atomics so the hot path never takes a lock, and the text
 * exposition that adds task and queue figures from the domain. */
#ifndef CCT_METRICS_H
#define CCT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/app.h"

#define METRICS_MAX_ROUTES 32 /* routes in the table; the last slot counts unmatched paths */

/* Counts one request: route index from the table (or METRICS_MAX_ROUTES - 1 for none),
 * status 100..599 and its duration. */
void metrics_observe(size_t route, unsigned status, uint64_t dur_ns);

/* Renders the exposition text; *out is malloc'd (caller frees), *len its length. */
cct_err metrics_render(struct app *app, char **out, size_t *len);

#endif
