/* api_tasks.c - the task endpoints: list, create (multipart upload streamed through
 * MHD_PostProcessor into tasks_upload_write, never held whole), show and delete. */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domain/formats.h"
#include "domain/tasks.h"
#include "services/api.h"
#include "util/config.h"

/* Upload state of one POST /api/tasks. The first error wins; the rest of the body is then
 * read and discarded, and the error is the answer. */
struct upload_state {
    struct MHD_PostProcessor *pp;
    struct upload *u;
    cct_err err;
    char err_msg[512];
    bool file_seen;
    bool file_done;        /* a later "file" part would be a second file */
    char upload_name[256]; /* the part's filename="..." */
    char file_name[256];
    char new_format[32];
    char preset[32];
    bool has_file_name, has_new_format, has_preset;
    uint64_t body_bytes; /* the whole body so far, preamble and ignored fields included */
};

static void fail(struct upload_state *up, cct_err e, const char *msg)
{
    if (up->err != CCT_OK)
        return;
    up->err = e;
    snprintf(up->err_msg, sizeof up->err_msg, "%s", msg && *msg ? msg : cct_strerror(e));
    tasks_upload_abort(&up->u); /* never leave a partial file */
}

/* Appends a chunk of a small text field into a bounded buffer. */
static void field_append(struct upload_state *up, const char *name, char *buf, size_t cap,
                         bool *seen, const char *data, uint64_t off, size_t size)
{
    if (off == 0 && *seen && buf[0]) {
        char msg[96];
        snprintf(msg, sizeof msg, "field \"%s\" must be sent once", name);
        fail(up, CCT_EINVAL, msg);
        return;
    }
    *seen = true;
    if (off + size >= cap || off > strlen(buf)) {
        char msg[96];
        snprintf(msg, sizeof msg, "field \"%s\" is too long", name);
        fail(up, CCT_EINVAL, msg);
        return;
    }
    memcpy(buf + off, data, size);
    buf[off + size] = '\0';
    if (strlen(buf) != off + size)
        fail(up, CCT_EINVAL, "form fields must not contain NUL characters");
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    struct upload_state *up = cls;
    if (up->err != CCT_OK || !key)
        return MHD_YES;
    if (strcmp(key, "file") == 0) {
        if (off == 0 && up->file_seen && (up->file_done || tasks_upload_size(up->u) > 0)) {
            fail(up, CCT_EINVAL, "send exactly one \"file\" part");
            return MHD_YES;
        }
        up->file_seen = true;
        if (filename && !up->upload_name[0])
            snprintf(up->upload_name, sizeof up->upload_name, "%s", filename);
        if (size > 0) {
            struct cct_error err = {0};
            cct_err e = tasks_upload_write(up->u, data, size, &err);
            if (e != CCT_OK)
                fail(up, e, e == CCT_ELIMIT ? "the file is larger than the upload limit" : err.msg);
        }
        return MHD_YES;
    }
    if (up->file_seen)
        up->file_done = true;
    if (strcmp(key, "newFormat") == 0)
        field_append(up, key, up->new_format, sizeof up->new_format, &up->has_new_format, data, off,
                     size);
    else if (strcmp(key, "fileName") == 0)
        field_append(up, key, up->file_name, sizeof up->file_name, &up->has_file_name, data, off,
                     size);
    else if (strcmp(key, "preset") == 0)
        field_append(up, key, up->preset, sizeof up->preset, &up->has_preset, data, off, size);
    return MHD_YES; /* other fields are ignored */
}

int api_tasks_upload_begin(struct api_req *r)
{
    const char *ctype = api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0)
        return api_send_error_status(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     cct_err_name(CCT_EUNSUPPORTED),
                                     "send the file as multipart/form-data");
    const char *cl = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t limit = (uint64_t)cfg.max_upload_mb * 1024 * 1024;
    if (cl && strtoull(cl, NULL, 10) > limit) {
        char msg[96];
        snprintf(msg, sizeof msg, "the upload is larger than %" PRId64 " MiB", cfg.max_upload_mb);
        return api_send_error(r, CCT_ELIMIT, msg);
    }
    struct upload_state *up = calloc(1, sizeof *up);
    if (!up)
        return api_send_error(r, CCT_ENOMEM, NULL);
    r->up = up;
    struct cct_error err = {0};
    cct_err e = tasks_upload_begin(r->app, r->user_id, &up->u, &err);
    if (e == CCT_ELIMIT)
        e = CCT_ERATE; /* too many unfinished tasks: come back later */
    if (e != CCT_OK)
        return api_send_error(r, e, err.msg);
    up->pp = MHD_create_post_processor(r->conn, API_POST_BUFFER, on_part, up);
    if (!up->pp)
        return api_send_error(r, CCT_EINVAL, "malformed multipart/form-data (no boundary?)");
    return MHD_YES;
}

void api_tasks_upload_data(struct api_req *r, const char *data, size_t len)
{
    struct upload_state *up = r->up;
    if (!up || up->err != CCT_OK)
        return; /* discard the rest after an error */
    /* The body as a whole is bounded like a declared Content-Length: bytes in a preamble or
     * in fields we ignore would otherwise stream in for ever. */
    up->body_bytes += len;
    if (up->body_bytes > (uint64_t)cfg.max_upload_mb * 1024 * 1024) {
        char msg[96];
        snprintf(msg, sizeof msg, "the upload is larger than %" PRId64 " MiB", cfg.max_upload_mb);
        fail(up, CCT_ELIMIT, msg);
        return;
    }
    if (MHD_post_process(up->pp, data, len) != MHD_YES)
        fail(up, CCT_EINVAL, "malformed multipart/form-data body");
}

bool api_tasks_upload_failed(const struct api_req *r)
{
    return r->up && r->up->err != CCT_OK;
}

void api_tasks_upload_free(struct api_req *r)
{
    struct upload_state *up = r->up;
    if (!up)
        return;
    if (up->pp)
        MHD_destroy_post_processor(up->pp);
    tasks_upload_abort(&up->u);
    free(up);
    r->up = NULL;
}

static json_t *task_json(const struct task *t)
{
    char self[64], orig[80], res[80], name[sizeof t->file_name], error[sizeof t->error];
    api_utf8_clean(t->file_name, name, sizeof name); /* JSON strings must be UTF-8 */
    api_utf8_clean(t->error, error, sizeof error);
    snprintf(self, sizeof self, "/api/tasks/%" PRId64, t->id);
    snprintf(orig, sizeof orig, "%s/original", self);
    snprintf(res, sizeof res, "%s/result", self);
    bool done = t->status == TASK_PROCESSED;
    return json_pack(
        "{s:I,s:s,s:s,s:s,s:s?,s:s,s:i,s:s?,s:I,s:o,s:o,s:o,s:o,s:{s:s,s:s,s:s?}}", "id",
        (json_int_t)t->id, "fileName", name, "originalFormat", t->original_format, "newFormat",
        t->new_format, "preset", t->preset[0] ? t->preset : NULL, "status",
        task_status_name(t->status), "progress", t->progress, "error", error[0] ? error : NULL,
        "originalSize", (json_int_t)t->original_size, "resultSize",
        done ? json_integer(t->result_size) : json_null(), "createdAt", api_time(t->created_at),
        "startedAt", api_time(t->started_at), "finishedAt", api_time(t->finished_at), "links",
        "self", self, "original", orig, "result", done ? res : NULL);
}

int api_tasks_create(struct api_req *r)
{
    struct upload_state *up = r->up;
    int ret = MHD_NO;
    if (!up)
        return api_send_error(r, CCT_EINTERNAL, NULL);
    /* Flushes the last buffered field; MHD_NO when the body ended before the closing
     * boundary: a truncated upload (a short Content-Length, a cut stream) is not a file. */
    enum MHD_Result complete = MHD_destroy_post_processor(up->pp);
    up->pp = NULL;
    if (complete != MHD_YES)
        fail(up, CCT_EINVAL, "the multipart/form-data body ends before its closing boundary");
    if (up->err != CCT_OK) {
        ret = api_send_error(r, up->err, up->err_msg);
        goto out;
    }
    if (!up->file_seen) {
        ret = api_send_error(r, CCT_EINVAL, "field \"file\" is required");
        goto out;
    }
    if (!up->new_format[0]) {
        ret = api_send_error(r, CCT_EINVAL, "field \"newFormat\" is required");
        goto out;
    }
    if (tasks_upload_size(up->u) == 0) {
        ret = api_send_error(r, CCT_EINVAL, "the file is empty");
        goto out;
    }
    if (!preset_valid(up->preset)) {
        ret =
            api_send_error(r, CCT_EINVAL, "field \"preset\" must be one of small, balanced, high");
        goto out;
    }
    char name[256];
    tasks_sanitize_name(up->file_name[0] ? up->file_name : up->upload_name, name, sizeof name);
    if (!name[0])
        snprintf(name, sizeof name, "upload");
    struct task t = {0};
    struct cct_error err = {0};
    struct upload *u = up->u;
    up->u = NULL; /* finish frees it, whatever the outcome */
    cct_err e =
        tasks_upload_finish(u, name, up->new_format, up->preset[0] ? up->preset : NULL, &t, &err);
    if (e == CCT_ELIMIT)
        e = CCT_ERATE;
    if (e != CCT_OK) {
        ret = api_send_error(r, e, err.msg);
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/api/tasks/%" PRId64, t.id);
    ret = api_send_json_h(r, MHD_HTTP_CREATED, task_json(&t), MHD_HTTP_HEADER_LOCATION, loc);
out:
    api_tasks_upload_free(r);
    return ret;
}

/* Parses an optional integer query argument in [lo, hi]; false when present and bad. */
static bool query_int(struct api_req *r, const char *name, long lo, long hi, long *out)
{
    const char *v = api_query(r, name);
    if (!v)
        return true;
    char *end = NULL;
    long n = 0;
    if (*v < '0' || *v > '9')
        return false;
    n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

int api_tasks_list(struct api_req *r)
{
    long max = 100, order = 0;
    if (!query_int(r, "max", 1, 1000, &max))
        return api_send_error(r, CCT_EINVAL, "query \"max\" must be a whole number from 1 to 1000");
    if (!query_int(r, "order", 0, 1, &order))
        return api_send_error(r, CCT_EINVAL,
                              "query \"order\" must be 0 (oldest first) or 1 (newest first)");
    struct task *list = calloc((size_t)max, sizeof *list);
    if (!list)
        return api_send_error(r, CCT_ENOMEM, NULL);
    int n = 0;
    int ret;
    cct_err e = tasks_list(r->app, r->user_id, (int)max, (int)order, list, &n);
    if (e != CCT_OK) {
        ret = api_send_error(r, e, NULL);
        goto out;
    }
    json_t *arr = json_array();
    for (int i = 0; arr && i < n && i < max; i++)
        json_array_append_new(arr, task_json(&list[i]));
    ret = api_send_json(r, MHD_HTTP_OK, arr);
out:
    free(list);
    return ret;
}

int api_task_get(struct api_req *r)
{
    int64_t id = 0;
    struct task t;
    if (!api_param_id(r, 0, &id))
        return api_send_error(r, CCT_ENOTFOUND, "no such task");
    cct_err e = tasks_get(r->app, r->user_id, id, &t);
    if (e != CCT_OK)
        return api_send_error(r, e, e == CCT_ENOTFOUND ? "no such task" : NULL);
    return api_send_json(r, MHD_HTTP_OK, task_json(&t));
}

int api_task_delete(struct api_req *r)
{
    int64_t id = 0;
    if (!api_param_id(r, 0, &id))
        return api_send_error(r, CCT_ENOTFOUND, "no such task");
    cct_err e = tasks_delete(r->app, r->user_id, id);
    if (e != CCT_OK)
        return api_send_error(r, e, e == CCT_ENOTFOUND ? "no such task" : NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return api_queue(r, MHD_HTTP_NO_CONTENT, resp);
}
