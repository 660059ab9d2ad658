/* api.h - what the handlers of the HTTP API share: the per-request state that http.c keeps
 * for a connection, the reply helpers (JSON, errors, files) and the handlers themselves
 * (api_auth.c, api_tasks.c, api_files.c, api_system.c). Handlers parse the request, call a
 * domain service and write JSON; they never reach the adapters. */
#ifndef CCT_API_H
#define CCT_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/app.h"
#include "services/routes.h"
#include "util/err.h"

struct MHD_Connection;
struct MHD_Response;
struct upload_state;

#define API_JSON_MAX (64 * 1024)    /* largest JSON request body (413 above) */
#define API_POST_BUFFER (64 * 1024) /* MHD_PostProcessor buffer for uploads */
#define API_TOKEN_MAX 4096          /* longest bearer token we look at */

/* One request in flight; lives from the first access-handler call to NOTIFY_COMPLETED. */
struct api_req {
    struct app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *url; /* path, decoded by MHD, valid for the request's life */
    struct route_match match;
    uint64_t id;       /* request number for the log line */
    uint64_t start_ns; /* CLOCK_MONOTONIC */
    int64_t user_id;   /* set when the route needs auth and the token is good */
    unsigned status;   /* 0 until a response is queued */
    uint64_t bytes;    /* body size of the queued response */
    bool answered;     /* a response is queued; discard the rest of the body */
    bool body_too_big;
    char *body; /* BODY_JSON: malloc'd, NUL-terminated */
    size_t body_len;
    uint64_t discarded;      /* body bytes dropped after an upload failed */
    struct upload_state *up; /* BODY_STREAM (api_tasks.c) */
};

/* The one table from a domain error to an HTTP status. */
unsigned api_status_for(cct_err e);

/* Queues resp with status (destroys resp); records status and size for the log. */
int api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp);
/* Serialises body once and queues it as application/json; takes the reference to body. */
int api_send_json(struct api_req *r, unsigned status, json_t *body);
/* As api_send_json, plus one extra header (name NULL for none). */
int api_send_json_h(struct api_req *r, unsigned status, json_t *body, const char *hname,
                    const char *hvalue);
/* {"error": {"code", "message"}} with the status from api_status_for(code); msg NULL or ""
 * means cct_strerror(code). */
int api_send_error(struct api_req *r, cct_err code, const char *msg);
/* The same with an explicit status and code name (HTTP-level errors: 404 path, 405, 415). */
int api_send_error_status(struct api_req *r, unsigned status, const char *code, const char *msg);
/* Queues a static body with a content type (not copied: must outlive the daemon). */
int api_send_static(struct api_req *r, unsigned status, const char *ctype, const char *data,
                    size_t len);
/* Sends an open file (takes fd) honouring Range, with Content-Disposition for name. */
int api_send_file(struct api_req *r, int fd, uint64_t size, const char *name, const char *mime);

/* Request header / query argument lookups (NULL when absent). */
const char *api_header(struct api_req *r, const char *name);
const char *api_query(struct api_req *r, const char *name);
/* Copies path parameter i into out (NUL-terminated); false when absent or too long. */
bool api_param(const struct api_req *r, size_t i, char *out, size_t n);
/* Parses path parameter i as a positive id; false when not a decimal number in 1..INT64_MAX. */
bool api_param_id(const struct api_req *r, size_t i, int64_t *id);
/* The client address (X-Forwarded-For honoured only from loopback). */
void api_client_addr(struct api_req *r, char *out, size_t n);

/* Parses r->body as a JSON object; on failure queues a 400 and returns NULL with *queued. */
json_t *api_body_object(struct api_req *r, int *queued);
/* Fetches a required string member; on failure queues a 400 naming the field. */
const char *api_field_string(struct api_req *r, json_t *obj, const char *name, int *queued);

/* Copies in to out (n > 0) as valid UTF-8, each byte that is not part of a well-formed sequence
 * replaced by '?'; cut on a character boundary. */
void api_utf8_clean(const char *in, char *out, size_t n);

/* ISO 8601 UTC ("2024-05-01T12:00:00Z") or JSON null for 0. */
json_t *api_time(int64_t unix_s);
/* Formats Content-Disposition for a download name (ASCII fallback + RFC 5987 UTF-8). */
void api_content_disposition(const char *name, char *out, size_t n);

/* Handlers: api_auth.c */
int api_signup(struct api_req *r);
int api_login(struct api_req *r);
/* api_tasks.c */
int api_tasks_list(struct api_req *r);
int api_tasks_create(struct api_req *r);
int api_tasks_upload_begin(struct api_req *r);
void api_tasks_upload_data(struct api_req *r, const char *data, size_t len);
void api_tasks_upload_free(struct api_req *r);
/* True once the upload has failed (the rest of the body is being discarded). */
bool api_tasks_upload_failed(const struct api_req *r);
int api_task_get(struct api_req *r);
int api_task_delete(struct api_req *r);
/* api_files.c */
int api_task_original(struct api_req *r);
int api_task_result(struct api_req *r);
int api_file_by_name(struct api_req *r);
/* api_system.c */
int api_formats(struct api_req *r);
int api_openapi(struct api_req *r);
int api_healthz(struct api_req *r);
int api_metrics(struct api_req *r);
int api_index(struct api_req *r);

#endif
