/* api_system.c - the endpoints that are not about one user's data: the format matrix, the
 * health check, Prometheus metrics, the embedded OpenAPI document and the web page. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "domain/formats.h"
#include "domain/tasks.h"
#include "services/api.h"
#include "services/metrics.h"
#include "util/embed.h"

/* The formats document never changes while running: built once, served from memory. */
static char *formats_text;
static size_t formats_len;
static pthread_once_t formats_once = PTHREAD_ONCE_INIT;

static void build_formats(void)
{
    size_t n = 0;
    const struct format *all = formats_all(&n);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        const char *targets[64];
        size_t nt = formats_targets(all[i].name, targets, sizeof targets / sizeof targets[0]);
        json_t *tj = json_array();
        for (size_t k = 0; tj && k < nt; k++)
            json_array_append_new(tj, json_string(targets[k]));
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o}", "name", all[i].name, "kind",
                                              fmt_kind_name(all[i].kind), "mime", all[i].mime,
                                              "targets", tj ? tj : json_array()));
    }
    json_t *doc = json_pack("{s:o,s:[sss]}", "formats", list ? list : json_array(), "presets",
                            "small", "balanced", "high");
    formats_text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    formats_len = formats_text ? strlen(formats_text) : 0;
    json_decref(doc);
}

int api_formats(struct api_req *r)
{
    pthread_once(&formats_once, build_formats);
    if (!formats_text)
        return api_send_error(r, CCT_ENOMEM, NULL);
    return api_send_static(r, MHD_HTTP_OK, "application/json", formats_text, formats_len);
}

int api_openapi(struct api_req *r)
{
    return api_send_static(r, MHD_HTTP_OK, "application/json", embed_openapi_json,
                           strlen(embed_openapi_json));
}

int api_index(struct api_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(embed_index_html), (void *)(uintptr_t)embed_index_html, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src "
                            "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    r->bytes = strlen(embed_index_html);
    return api_queue(r, MHD_HTTP_OK, resp);
}

int api_healthz(struct api_req *r)
{
    /* tasks_stats reads the database and the queue: if it answers, both are up. */
    struct tasks_stats st;
    cct_err e = tasks_stats(r->app, &st);
    if (e != CCT_OK)
        return api_send_json(
            r, MHD_HTTP_SERVICE_UNAVAILABLE,
            json_pack("{s:s,s:s}", "status", "unavailable", "error", cct_err_name(e)));
    return api_send_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

int api_metrics(struct api_req *r)
{
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(r->app, &text, &len) != CCT_OK)
        return api_send_error(r, CCT_ENOMEM, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    r->bytes = len;
    return api_queue(r, MHD_HTTP_OK, resp);
}
