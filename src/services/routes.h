/* routes.h - the HTTP route table: method, path pattern ("/api/tasks/{id}"), handler, whether
 * a bearer token is required, how the body is read, and the metric label. route_find() matches
 * a request line against it without allocating; the daemon in http.c dispatches on the result. */
#ifndef CCT_ROUTES_H
#define CCT_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

struct api_req;

/* Called once the whole body has arrived; queues exactly one response. Returns MHD_YES/MHD_NO
 * (an enum MHD_Result, kept as int so this header stays free of microhttpd.h). */
typedef int (*api_handler)(struct api_req *r);
/* Streamed bodies: begin runs before the first body byte and may answer early (it returns
 * MHD_YES/MHD_NO like a handler); data receives each chunk. */
typedef int (*api_begin_fn)(struct api_req *r);
typedef void (*api_data_fn)(struct api_req *r, const char *data, size_t len);

enum route_body {
    BODY_NONE,   /* a body is read and discarded, bounded like a JSON body */
    BODY_JSON,   /* buffered up to API_JSON_MAX bytes, then 413 */
    BODY_STREAM, /* handed to begin/data chunk by chunk */
};

struct route {
    const char *method;  /* "GET", "POST", "DELETE"; GET routes answer HEAD too */
    const char *pattern; /* literal segments and {name} placeholders matching one segment */
    api_handler handler;
    bool auth; /* Authorization: Bearer required */
    enum route_body body;
    api_begin_fn begin; /* BODY_STREAM only */
    api_data_fn data;   /* BODY_STREAM only */
    const char *label;  /* metric label: the pattern, never the raw path */
};

#define ROUTE_MAX_PARAMS 2

/* A placeholder's value: a slice of the request path (not NUL-terminated). */
struct route_param {
    const char *ptr;
    size_t len;
};

struct route_match {
    const struct route *route; /* NULL unless ROUTE_FOUND */
    size_t index;              /* position in the table (metrics) */
    struct route_param params[ROUTE_MAX_PARAMS];
    size_t nparams;
    char allow[64]; /* for ROUTE_BAD_METHOD: "GET, HEAD, DELETE" */
};

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

/* Matches method and path (no query string) against the table. */
enum route_result route_find(const char *method, const char *path, struct route_match *m);

/* Matches one pattern against a path; fills params (up to ROUTE_MAX_PARAMS). */
bool route_pattern_match(const char *pattern, const char *path, struct route_param *params,
                         size_t *nparams);

/* The table, in order; *n receives the count. */
const struct route *routes_all(size_t *n);

#endif
