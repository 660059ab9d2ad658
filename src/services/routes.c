/* routes.c - the route table of the HTTP API and the matcher over it. Adding an endpoint is
 * one row here, one handler in api_*.c and one path in docs/openapi.json. */
#include "services/routes.h"

#include <stdio.h>
#include <string.h>

#include "services/api.h"

static const struct route table[] = {
    {.method = "POST", .pattern = "/api/auth/signup", .handler = api_signup, .body = BODY_JSON},
    {.method = "POST", .pattern = "/api/auth/login", .handler = api_login, .body = BODY_JSON},
    {.method = "GET", .pattern = "/api/tasks", .handler = api_tasks_list, .auth = true},
    {.method = "POST",
     .pattern = "/api/tasks",
     .handler = api_tasks_create,
     .auth = true,
     .body = BODY_STREAM,
     .begin = api_tasks_upload_begin,
     .data = api_tasks_upload_data},
    {.method = "GET", .pattern = "/api/tasks/{id}", .handler = api_task_get, .auth = true},
    {.method = "DELETE", .pattern = "/api/tasks/{id}", .handler = api_task_delete, .auth = true},
    {.method = "GET",
     .pattern = "/api/tasks/{id}/original",
     .handler = api_task_original,
     .auth = true},
    {.method = "GET",
     .pattern = "/api/tasks/{id}/result",
     .handler = api_task_result,
     .auth = true},
    {.method = "GET",
     .pattern = "/api/files/{filename}",
     .handler = api_file_by_name,
     .auth = true},
    {.method = "GET", .pattern = "/api/formats", .handler = api_formats},
    {.method = "GET", .pattern = "/api/openapi.json", .handler = api_openapi},
    {.method = "GET", .pattern = "/healthz", .handler = api_healthz},
    {.method = "GET", .pattern = "/metrics", .handler = api_metrics},
    {.method = "GET", .pattern = "/", .handler = api_index},
};

#define NROUTES (sizeof table / sizeof table[0])

const struct route *routes_all(size_t *n)
{
    *n = NROUTES;
    return table;
}

bool route_pattern_match(const char *pattern, const char *path, struct route_param *params,
                         size_t *nparams)
{
    const char *p = pattern, *s = path;
    size_t np = 0;
    if (*p != '/' || *s != '/')
        return false;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                return false;
            size_t len = strcspn(s, "/");
            if (len == 0 || np == ROUTE_MAX_PARAMS)
                return false; /* a placeholder never matches an empty segment */
            if (params) {
                params[np].ptr = s;
                params[np].len = len;
            }
            np++;
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    if (nparams)
        *nparams = np;
    return true;
}

static bool method_is(const struct route *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

static void allow_add(char *allow, size_t n, const char *method)
{
    size_t len = strlen(allow);
    snprintf(allow + len, n - len, "%s%s", len ? ", " : "", method);
}

enum route_result route_find(const char *method, const char *path, struct route_match *m)
{
    bool path_known = false;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < NROUTES; i++) {
        struct route_param params[ROUTE_MAX_PARAMS];
        size_t np = 0;
        if (!route_pattern_match(table[i].pattern, path, params, &np))
            continue;
        if (method_is(&table[i], method)) {
            m->route = &table[i];
            m->index = i;
            memcpy(m->params, params, sizeof params);
            m->nparams = np;
            m->allow[0] = '\0';
            return ROUTE_FOUND;
        }
        path_known = true;
        allow_add(m->allow, sizeof m->allow, table[i].method);
        if (strcmp(table[i].method, "GET") == 0)
            allow_add(m->allow, sizeof m->allow, "HEAD");
    }
    return path_known ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
