/* http_reply.c - how the handlers answer: the cct_err -> HTTP status table, JSON and error
 * bodies, static documents, files with Range support (sendfile through MHD), plus the
 * request accessors (headers, query, path parameters, client address, JSON body fields). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "services/api.h"

unsigned api_status_for(cct_err e)
{
    switch (e) {
    case CCT_OK: return MHD_HTTP_OK;
    case CCT_ENOMEM: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case CCT_EINVAL: return MHD_HTTP_BAD_REQUEST;
    case CCT_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
    case CCT_ECONFLICT: return MHD_HTTP_CONFLICT;
    case CCT_EIO: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    case CCT_EUNSUPPORTED: return MHD_HTTP_BAD_REQUEST;
    case CCT_ELIMIT: return MHD_HTTP_CONTENT_TOO_LARGE;
    case CCT_EAUTH: return MHD_HTTP_UNAUTHORIZED;
    case CCT_ERATE: return MHD_HTTP_TOO_MANY_REQUESTS;
    case CCT_EDB: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case CCT_EQUEUE: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case CCT_ECONVERT: return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case CCT_ECANCELLED: return MHD_HTTP_CONFLICT;
    case CCT_ETIMEOUT: return MHD_HTTP_GATEWAY_TIMEOUT;
    case CCT_EINTERNAL: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

int api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        r->status = status;
        r->answered = true;
    }
    return ret;
}

int api_send_json_h(struct api_req *r, unsigned status, json_t *body, const char *hname,
                    const char *hvalue)
{
    if (!body)
        return MHD_NO;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    r->bytes = len;
    return api_queue(r, status, resp);
}

int api_send_json(struct api_req *r, unsigned status, json_t *body)
{
    return api_send_json_h(r, status, body, NULL, NULL);
}

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, v = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, v = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    return v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0 : len;
}

void api_utf8_clean(const char *in, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    while (*p) {
        size_t len = utf8_len(p);
        if (o + (len ? len : 1) > n - 1)
            break;
        if (len) {
            memcpy(out + o, p, len);
            o += len;
            p += len;
        } else {
            out[o++] = '?';
            p++;
        }
    }
    out[o] = '\0';
}

int api_send_error_status(struct api_req *r, unsigned status, const char *code, const char *msg)
{
    char clean[600]; /* messages may quote what the client sent: JSON needs UTF-8 */
    api_utf8_clean(msg, clean, sizeof clean);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", clean);
    return api_send_json(r, status, body);
}

int api_send_error(struct api_req *r, cct_err code, const char *msg)
{
    return api_send_error_status(r, api_status_for(code), cct_err_name(code),
                                 msg && *msg ? msg : cct_strerror(code));
}

int api_send_static(struct api_req *r, unsigned status, const char *ctype, const char *data,
                    size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    r->bytes = len;
    return api_queue(r, status, resp);
}

/* Parses decimal digits at *p (no sign, no spaces); false on none or overflow. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

/* As parse_u64, but a number too large for 64 bits reads as UINT64_MAX (a byte position past
 * any file, which Range treats as "to the end" or "unsatisfiable", never as malformed). */
static bool parse_pos(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (parse_u64(p, out))
        return true;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    *p = s;
    *out = UINT64_MAX;
    return true;
}

/* One "bytes=a-b" range: 1 satisfiable (start..end inclusive), -1 unsatisfiable, 0 ignore
 * (absent, malformed or several ranges: the whole file is sent). */
static int parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
    if (!h || strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    while (*p == ' ')
        p++;
    uint64_t a = 0, b = 0;
    if (*p == '-') {
        p++;
        if (!parse_pos(&p, &b) || *p)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *start = b >= size ? 0 : size - b;
        *end = size - 1;
        return 1;
    }
    if (!parse_pos(&p, &a) || *p != '-')
        return 0;
    p++;
    bool has_b = *p != '\0';
    if (has_b && (!parse_pos(&p, &b) || *p || b < a))
        return 0;
    if (a >= size)
        return -1;
    *start = a;
    *end = has_b && b < size ? b : size - 1;
    return 1;
}

void api_content_disposition(const char *name, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char ascii[256], pct[768];
    size_t a = 0, q = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char ch = *p;
        if (a + 1 < sizeof ascii)
            ascii[a++] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '_' : (char)ch;
        bool attr = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("!#$&+-.^_`|~", ch);
        if (attr && ch) {
            if (q + 1 < sizeof pct)
                pct[q++] = (char)ch;
        } else if (q + 3 < sizeof pct) {
            pct[q++] = '%';
            pct[q++] = hex[ch >> 4];
            pct[q++] = hex[ch & 15];
        }
    }
    ascii[a] = '\0';
    pct[q] = '\0';
    if (!a)
        snprintf(ascii, sizeof ascii, "download");
    snprintf(out, n, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, pct);
}

int api_send_file(struct api_req *r, int fd, uint64_t size, const char *name, const char *mime)
{
    uint64_t start = 0, end = 0;
    int rng = parse_range(api_header(r, MHD_HTTP_HEADER_RANGE), size, &start, &end);
    char buf[128];
    if (rng < 0) {
        close(fd);
        snprintf(buf, sizeof buf, "bytes */%" PRIu64, size);
        json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", "range_not_satisfiable",
                                 "message", "the requested range is outside the file");
        return api_send_json_h(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, body,
                               MHD_HTTP_HEADER_CONTENT_RANGE, buf);
    }
    uint64_t len = rng > 0 ? end - start + 1 : size;
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64(len, fd, rng > 0 ? start : 0);
    if (!resp) {
        close(fd);
        return api_send_error(r, CCT_ENOMEM, NULL);
    }
    char disp[1200];
    api_content_disposition(name, disp, sizeof disp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            mime ? mime : "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rng > 0) {
        snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, buf);
    }
    r->bytes = len;
    return api_queue(r, rng > 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
}

const char *api_header(struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *api_query(struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool api_param(const struct api_req *r, size_t i, char *out, size_t n)
{
    if (i >= r->match.nparams || r->match.params[i].len >= n)
        return false;
    memcpy(out, r->match.params[i].ptr, r->match.params[i].len);
    out[r->match.params[i].len] = '\0';
    return true;
}

bool api_param_id(const struct api_req *r, size_t i, int64_t *id)
{
    char buf[24];
    if (!api_param(r, i, buf, sizeof buf))
        return false;
    const char *p = buf;
    uint64_t v = 0;
    if (!parse_u64(&p, &v) || *p || v == 0 || v > INT64_MAX)
        return false;
    *id = (int64_t)v;
    return true;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr ==
               htonl(INADDR_LOOPBACK);
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        static const unsigned char v4lo[16] = {0, 0, 0,    0,    0,   0, 0, 0,
                                               0, 0, 0xff, 0xff, 127, 0, 0, 1};
        return IN6_IS_ADDR_LOOPBACK(a) || memcmp(a->s6_addr, v4lo, 16) == 0;
    }
    return false;
}

void api_client_addr(struct api_req *r, char *out, size_t n)
{
    snprintf(out, n, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
    if (!is_loopback(sa))
        return;
    /* Behind NGINX on the same host: the last X-Forwarded-For entry is the one it added. */
    const char *xff = api_header(r, "X-Forwarded-For");
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char cand[INET6_ADDRSTRLEN];
    size_t len = strcspn(last, " \t");
    if (len == 0 || len >= sizeof cand)
        return;
    memcpy(cand, last, len);
    cand[len] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, cand, bin) == 1 || inet_pton(AF_INET6, cand, bin) == 1)
        snprintf(out, n, "%s", cand);
}

json_t *api_body_object(struct api_req *r, int *queued)
{
    json_error_t jerr;
    char msg[300];
    if (!r->body || r->body_len == 0) {
        *queued = api_send_error(r, CCT_EINVAL, "the request body must be a JSON object");
        return NULL;
    }
    json_t *obj = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        *queued = api_send_error(r, CCT_EINVAL, msg);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        *queued = api_send_error(r, CCT_EINVAL, "the request body must be a JSON object");
        return NULL;
    }
    return obj;
}

const char *api_field_string(struct api_req *r, json_t *obj, const char *name, int *queued)
{
    char msg[128];
    json_t *v = json_object_get(obj, name);
    if (!v)
        snprintf(msg, sizeof msg, "field \"%s\" is required", name);
    else if (!json_is_string(v))
        snprintf(msg, sizeof msg, "field \"%s\" must be a string", name);
    else if (strlen(json_string_value(v)) != json_string_length(v))
        snprintf(msg, sizeof msg, "field \"%s\" must not contain NUL characters", name);
    else
        return json_string_value(v);
    *queued = api_send_error(r, CCT_EINVAL, msg);
    return NULL;
}

json_t *api_time(int64_t unix_s)
{
    if (unix_s <= 0)
        return json_null();
    char buf[32];
    struct tm tm;
    time_t t = (time_t)unix_s;
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}
