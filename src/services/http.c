/* http.c - the libmicrohttpd daemon: per-request state, dispatch through the route table,
 * bearer-token check, bounded request bodies, the one-line request log and the metrics
 * observation at completion. The JSON, error and file reply helpers live in http_reply.c. */
#include "services/http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "domain/accounts.h"
#include "services/api.h"
#include "services/metrics.h"
#include "util/config.h"
#include "util/log.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    MHD_socket quiesced_fd;
    _Atomic long in_flight;
};

static _Atomic uint64_t next_req_id;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Checks Authorization: Bearer <token> (the token of an account that still exists); on failure
 * queues the 401 and returns false. */
static bool check_auth(struct api_req *r, int *ret)
{
    const char *h = api_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    struct cct_error err = {0};
    char tok[API_TOKEN_MAX + 1];
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        *ret = api_send_error(r, CCT_EAUTH, "missing bearer token (Authorization: Bearer <token>)");
        return false;
    }
    const char *p = h + 7;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strnlen(p, API_TOKEN_MAX + 1);
    while (len > 0 && len <= API_TOKEN_MAX && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--; /* trailing whitespace is not part of a field value (RFC 9110 5.5) */
    if (len == 0 || len > API_TOKEN_MAX) {
        *ret = api_send_error(r, CCT_EAUTH, "invalid or expired token");
        return false;
    }
    memcpy(tok, p, len);
    tok[len] = '\0';
    if (accounts_verify_token(tok, &r->user_id, &err) != CCT_OK) {
        *ret = api_send_error(r, CCT_EAUTH, "invalid or expired token");
        return false;
    }
    /* A signed token outlives nothing: once its account is deleted it is refused. */
    cct_err rc = accounts_user_exists(r->app, r->user_id);
    if (rc != CCT_OK) {
        r->user_id = 0;
        *ret = api_send_error(r, rc,
                              rc == CCT_EAUTH ? "the account of this token no longer exists"
                                              : "cannot check the token; try again later");
        return false;
    }
    return true;
}

/* Counts the Content-Length and Transfer-Encoding header lines of a request. */
static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    unsigned *n = cls;
    (void)kind, (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        n[0]++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        n[1]++;
    return MHD_YES;
}

/* -1 when absent, -2 when malformed, otherwise the declared body length. */
static int64_t content_length(struct api_req *r)
{
    const char *h = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!h)
        return -1;
    int64_t v = 0;
    if (!*h)
        return -2;
    for (const char *p = h; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return -2;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* First call for a request: headers only. Routes, authenticates and bounds the body; answers
 * at once only with an error (404, 405, 401, 413, 415, 429). */
static int first_call(struct api_req *r)
{
    int ret = MHD_YES;
    switch (route_find(r->method, r->url, &r->match)) {
    case ROUTE_NOT_FOUND:
        r->match.index = METRICS_MAX_ROUTES - 1;
        return api_send_error_status(r, MHD_HTTP_NOT_FOUND, cct_err_name(CCT_ENOTFOUND),
                                     "no such path");
    case ROUTE_BAD_METHOD: {
        r->match.index = METRICS_MAX_ROUTES - 1;
        json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", "method_not_allowed", "message",
                                 "method not allowed on this path");
        return api_send_json_h(r, MHD_HTTP_METHOD_NOT_ALLOWED, body, MHD_HTTP_HEADER_ALLOW,
                               r->match.allow);
    }
    case ROUTE_FOUND: break;
    }
    const struct route *rt = r->match.route;
    if (rt->auth && !check_auth(r, &ret))
        return ret;
    /* Two lengths, or a length and chunking, frame the body two ways (request smuggling
     * through a proxy that picks the other one): refused. */
    unsigned framing[2] = {0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, framing);
    if (framing[0] > 1 || framing[1] > 1 || (framing[0] && framing[1]))
        return api_send_error(r, CCT_EINVAL,
                              "send one Content-Length or Transfer-Encoding: chunked, not both");
    int64_t cl = content_length(r);
    if (cl == -2)
        return api_send_error(r, CCT_EINVAL, "malformed Content-Length");
    if (rt->body == BODY_STREAM)
        return rt->begin(r);
    if (cl > API_JSON_MAX)
        return api_send_error(r, CCT_ELIMIT, "request body too large (at most 65536 bytes)");
    /* The handler runs on the next call, once MHD has the whole request: answering now would
     * make MHD close the connection (it cannot know the body is empty), losing keep-alive. */
    return MHD_YES;
}

static void take_body(struct api_req *r, const char *data, size_t len)
{
    const struct route *rt = r->match.route;
    if (rt->body == BODY_STREAM) {
        rt->data(r, data, len);
        return;
    }
    if (r->body_too_big)
        return;
    if (len > API_JSON_MAX - r->body_len) {
        r->body_too_big = true;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return;
    }
    if (rt->body == BODY_NONE) {
        r->body_len += len; /* counted for the bound, not kept */
        return;
    }
    if (!r->body) {
        r->body = malloc(API_JSON_MAX + 1);
        if (!r->body) {
            r->body_too_big = true;
            return;
        }
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct api_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->app = s->app;
        r->conn = c;
        r->method = method;
        r->url = url;
        r->start_ns = now_ns();
        r->id = atomic_fetch_add_explicit(&next_req_id, 1, memory_order_relaxed) + 1;
        *con_cls = r;
        atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed);
        return (enum MHD_Result)first_call(r);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->answered)
            return MHD_YES;
        if (r->match.route->body == BODY_STREAM && api_tasks_upload_failed(r)) {
            /* libmicrohttpd 0.9.75 cannot answer before the body ends: the rest is read and
             * dropped, then the error is the answer. A sender that keeps going (chunked, no
             * length) is cut off after another MAX_UPLOAD_MB. */
            r->discarded += n;
            if (r->discarded > (uint64_t)cfg.max_upload_mb * 1024 * 1024)
                return MHD_NO;
            return MHD_YES;
        }
        take_body(r, upload_data, n);
        if (r->body_too_big) {
            /* Only a chunked body gets here (a declared length is refused up front): the
             * answer has to wait for its end, so one that keeps going is cut off. */
            r->discarded += n;
            if (r->discarded > 16 * (uint64_t)API_JSON_MAX)
                return MHD_NO;
        }
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (r->body_too_big) {
        if (r->match.route->body == BODY_STREAM)
            api_tasks_upload_free(r);
        return (enum MHD_Result)api_send_error(r, CCT_ELIMIT,
                                               "request body too large (at most 65536 bytes)");
    }
    return (enum MHD_Result)r->match.route->handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct api_req *r = *con_cls;
    if (!r)
        return;
    uint64_t dur = now_ns() - r->start_ns;
    if (r->up)
        api_tasks_upload_free(r);
    if (r->status)
        metrics_observe(r->match.index, r->status, dur);
    if (log_min_level <= LOG_INFO) {
        char path[512], method[64];
        log_escape(r->url, path, sizeof path);
        log_escape(r->method, method, sizeof method); /* any token the client sent */
        log_write(LOG_INFO, "http", "req=%llu method=%s path=%s status=%u dur_ms=%.3f bytes=%llu%s",
                  (unsigned long long)r->id, method, path, r->status, (double)dur / 1e6,
                  (unsigned long long)r->bytes,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    }
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
}

cct_err http_start(struct app *app, const char *host, int port, int threads,
                   struct http_server **out, struct cct_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct http_server *s = NULL;
    char portstr[16];
    cct_err ret = CCT_OK;

    *out = NULL;
    if (port < 0 || port > 65535 || threads < 1 || threads > 1024)
        return cct_error_set(err, CCT_EINVAL, "http: bad port %d or thread count %d", port,
                             threads);
    signal(SIGPIPE, SIG_IGN); /* MHD writes to sockets the peer may have closed */
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (gai != 0 || !res) {
        ret = cct_error_set(err, CCT_EINVAL, "http: cannot resolve HOST \"%s\": %s",
                            host ? host : "", gai_strerror(gai));
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        ret = cct_error_set(err, CCT_ENOMEM, "http: out of memory");
        goto out;
    }
    s->app = app;
    s->quiesced_fd = MHD_INVALID_SOCKET;
    /* The connection pool is cleared on every request: keep it small (32 KiB, MHD's default);
     * uploads stream through it in slices anyway. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (res->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, res->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 1 ? threads : 0),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg.http_max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg.http_max_per_ip, MHD_OPTION_END);
    if (!s->daemon) {
        ret = cct_error_set(err, CCT_EIO, "http: cannot listen on %s:%d (in use or not allowed?)",
                            host ? host : "", port);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    log_info("http", "listening host=%s port=%u threads=%d", host ? host : "",
             di ? (unsigned)di->port : (unsigned)port, threads);
    *out = s;
    s = NULL;
out:
    if (res)
        freeaddrinfo(res);
    free(s);
    return ret;
}

void http_quiesce(struct http_server *s)
{
    if (!s || !s->daemon || s->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    s->quiesced_fd = MHD_quiesce_daemon(s->daemon);
}

void http_stop(struct http_server **sp)
{
    if (!sp || !*sp)
        return;
    struct http_server *s = *sp;
    http_quiesce(s);
    /* Requests in flight finish (uploads, downloads) within the grace period. */
    uint64_t deadline = now_ns() + (uint64_t)cfg.shutdown_grace * 1000000000u;
    while (atomic_load(&s->in_flight) > 0 && now_ns() < deadline)
        usleep(20000);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        close(s->quiesced_fd);
    free(s);
    *sp = NULL;
}
