/* tasks.c - the task service: streamed uploads into storage, format detection and the matrix
 * check, the task row and its queue entry; listing, downloads and deletion under ownership;
 * recovery after a restart and the retention sweep. Nothing of a failed upload is left behind. */
#include "domain/tasks.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "domain/convert/conv.h"
#include "domain/formats.h"
#include "util/config.h"
#include "util/log.h"

struct upload {
    struct app *app;
    int64_t user_id;
    struct storage_writer *w;
    char key[128];
    uint64_t size, max;
};

/* 32 hex characters of randomness: the private folder of a task's files in storage. */
static void random_hex(char out[33])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b); /* needs no sodium_init: the system generator is the default */
    sodium_bin2hex(out, 33, b, sizeof b);
}

cct_err tasks_upload_begin(struct app *app, int64_t user_id, struct upload **out,
                           struct cct_error *err)
{
    cct_err rc;
    int active = 0;
    *out = NULL;
    if (user_id <= 0)
        return cct_error_set(err, CCT_EAUTH, "log in first");
    if ((rc = app->db->ops->task_count_active(app->db, user_id, &active)))
        return cct_error_set(err, rc, "cannot count your tasks; try again later");
    if (active >= cfg.max_active_tasks)
        return cct_error_set(err, CCT_ELIMIT, "you have %d unfinished tasks; the limit is %lld",
                             active, (long long)cfg.max_active_tasks);
    struct upload *u = calloc(1, sizeof *u);
    if (!u)
        return cct_error_set(err, CCT_ENOMEM, "out of memory");
    char hex[33];
    random_hex(hex);
    u->app = app;
    u->user_id = user_id;
    u->max = (uint64_t)cfg.max_upload_mb * 1024u * 1024u;
    snprintf(u->key, sizeof u->key, "u%lld/%s/original", (long long)user_id, hex);
    if ((rc = app->storage->ops->writer_open(app->storage, u->key, &u->w))) {
        free(u);
        return cct_error_set(err, rc, "cannot store the upload; try again later");
    }
    *out = u;
    return CCT_OK;
}

cct_err tasks_upload_write(struct upload *u, const void *data, size_t len, struct cct_error *err)
{
    cct_err rc;
    if (!u || !u->w)
        return cct_error_set(err, CCT_EINTERNAL, "the upload is not open");
    if (len > u->max || u->size > u->max - len)
        return cct_error_set(err, CCT_ELIMIT, "the file is larger than the limit of %lld MiB",
                             (long long)cfg.max_upload_mb);
    if (len == 0)
        return CCT_OK;
    if ((rc = u->app->storage->ops->writer_write(u->w, data, len)))
        return cct_error_set(err, rc, "cannot store the upload; try again later");
    u->size += len;
    return CCT_OK;
}

uint64_t tasks_upload_size(const struct upload *u)
{
    return u ? u->size : 0;
}

void tasks_upload_abort(struct upload **u)
{
    if (!u || !*u)
        return;
    if ((*u)->w)
        (*u)->app->storage->ops->writer_abort((*u)->w);
    free(*u);
    *u = NULL;
}

/* Detects the stored object's format in a sandboxed child (hostile bytes are parsed there,
 * never in the server): from its local path, or from a temporary copy. */
static cct_err detect_stored(struct app *app, const char *key, char *fmt, size_t n,
                             struct cct_error *err)
{
    char path[1200];
    struct storage *s = app->storage;
    cct_err rc = s->ops->local_path(s, key, path, sizeof path);
    if (rc == CCT_OK)
        return conv_detect_sandboxed(path, fmt, n, err);
    if (rc != CCT_EUNSUPPORTED)
        return cct_error_set(err, rc, "cannot read the upload back; try again later");
    snprintf(path, sizeof path, "%s/detect-XXXXXX", cfg.data_dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return cct_error_set(err, CCT_EIO, "cannot read the upload back; try again later");
    close(fd);
    if ((rc = s->ops->fetch(s, key, path)))
        cct_error_set(err, rc, "cannot read the upload back; try again later");
    else
        rc = conv_detect_sandboxed(path, fmt, n, err);
    unlink(path);
    return rc;
}

/* "cannot convert mp3 to png; mp3 converts to: wav, ogg, ..." */
static cct_err unsupported(const char *from, const char *to, const char *preset,
                           struct cct_error *err)
{
    char why[sizeof err->msg];
    formats_explain_refusal(from, to, preset, why, sizeof why);
    return cct_error_set(err, CCT_EUNSUPPORTED, "%s", why);
}

cct_err tasks_upload_finish(struct upload *u, const char *file_name, const char *new_format,
                            const char *preset, struct task *out, struct cct_error *err)
{
    cct_err rc;
    int stored = 0;
    if (!u)
        return cct_error_set(err, CCT_EINTERNAL, "the upload is not open");
    struct app *app = u->app;
    struct task t;
    memset(&t, 0, sizeof t);
    if (u->size == 0) {
        rc = cct_error_set(err, CCT_EINVAL, "the file is empty");
        goto out;
    }
    if (!preset_valid(preset)) {
        rc = cct_error_set(err, CCT_EINVAL, "preset must be small, balanced or high");
        goto out;
    }
    if (!new_format || !*new_format) {
        rc = cct_error_set(err, CCT_EINVAL, "new_format is required");
        goto out;
    }
    rc = app->storage->ops->writer_commit(u->w);
    u->w = NULL; /* freed by commit, whatever the outcome */
    if (rc) {
        cct_error_set(err, rc, "cannot store the upload; try again later");
        goto out;
    }
    stored = 1;
    if ((rc = detect_stored(app, u->key, t.original_format, sizeof t.original_format, err)))
        goto out;
    if (!formats_can_convert(t.original_format, new_format, preset)) {
        rc = unsupported(t.original_format, new_format, preset, err);
        goto out;
    }
    const struct format *to = format_find(new_format);
    snprintf(t.new_format, sizeof t.new_format, "%s", to->name);
    if (preset && *preset) {
        for (size_t i = 0; preset[i] && i + 1 < sizeof t.preset; i++)
            t.preset[i] = (char)(preset[i] | 0x20); /* small|balanced|high: ASCII letters */
    }
    tasks_sanitize_name(file_name ? file_name : "", t.file_name, sizeof t.file_name);
    t.user_id = u->user_id;
    t.status = TASK_QUEUED;
    t.original_size = (int64_t)u->size;
    snprintf(t.original_key, sizeof t.original_key, "%s", u->key);
    if ((rc = app->db->ops->task_create(app->db, &t, err))) {
        if (rc == CCT_ENOTFOUND) /* the account was deleted during the upload */
            rc = cct_error_set(err, CCT_EAUTH, "the account of this token no longer exists");
        goto out;
    }
    stored = 0; /* the task owns the file now */
    if (app->queue->ops->push(app->queue, t.id) != CCT_OK)
        log_warn("tasks", "task=%lld event=queue_push_failed (recovery will queue it)",
                 (long long)t.id);
    char esc[300];
    log_info("tasks", "task=%lld event=created user=%lld from=%s to=%s size=%lld name=%s",
             (long long)t.id, (long long)t.user_id, t.original_format, t.new_format,
             (long long)t.original_size, log_escape(t.file_name, esc, sizeof esc));
    if (out)
        *out = t;
out:
    if (u->w)
        app->storage->ops->writer_abort(u->w);
    if (stored)
        app->storage->ops->remove(app->storage, u->key);
    free(u);
    return rc;
}

/* Length of the well-formed UTF-8 sequence at p (1..4), writing its code point, or 0. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Characters a file name must not carry: controls (C0, DEL, C1), quotes, backslash, and the
 * invisible ones that reorder or disguise text (bidi controls, line/paragraph separators). */
static int dropped(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == '"' || cp == '\'' || cp == '\\' ||
           cp == '/' || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

void tasks_sanitize_name(const char *in, char *out, size_t n)
{
    if (n == 0)
        return;
    const char *base = in ? in : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const unsigned char *p = (const unsigned char *)base;
    while (*p == ' ')
        p++;
    size_t o = 0;
    while (*p) {
        uint32_t cp;
        size_t len = utf8_seq(p, &cp);
        if (len == 0) { /* not UTF-8: drop the byte */
            p++;
            continue;
        }
        if (!dropped(cp)) {
            if (o + len > n - 1)
                break; /* cut on a character boundary */
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, n, "file");
}

cct_err tasks_list(struct app *app, int64_t user_id, int max, int newest_first, struct task *out,
                   int *n)
{
    *n = 0;
    if (user_id <= 0)
        return CCT_ENOTFOUND;
    if (max <= 0)
        return CCT_OK;
    return app->db->ops->task_list(app->db, user_id, max, newest_first, out, n);
}

cct_err tasks_get(struct app *app, int64_t user_id, int64_t id, struct task *out)
{
    if (user_id <= 0 || id <= 0) /* user 0 means "any owner" to the adapter: never from here */
        return CCT_ENOTFOUND;
    return app->db->ops->task_get(app->db, id, user_id, out);
}

static void remove_files(struct app *app, const struct task *t)
{
    if (t->original_key[0])
        app->storage->ops->remove(app->storage, t->original_key);
    if (t->result_key[0])
        app->storage->ops->remove(app->storage, t->result_key);
}

cct_err tasks_delete(struct app *app, int64_t user_id, int64_t id)
{
    struct task t;
    cct_err rc = tasks_get(app, user_id, id, &t);
    if (rc)
        return rc;
    remove_files(app, &t);
    if ((rc = app->db->ops->task_delete(app->db, id)))
        return rc;
    /* A worker may have stored the result between the two steps: remove it again. The worker
     * itself checks that the row still exists after storing, so nothing is left either way. */
    char key[256];
    const char *slash = strrchr(t.original_key, '/');
    if (slash) {
        const struct format *f = format_find(t.new_format);
        snprintf(key, sizeof key, "%.*s/result.%s", (int)(slash - t.original_key), t.original_key,
                 f ? f->ext : "bin");
        app->storage->ops->remove(app->storage, key);
    }
    log_info("tasks", "task=%lld event=deleted user=%lld", (long long)id, (long long)user_id);
    return CCT_OK;
}

static const char *mime_of(const char *format)
{
    const struct format *f = format_find(format);
    return f ? f->mime : "application/octet-stream";
}

/* Opens one side of t (ownership already checked). */
static cct_err open_side(struct app *app, const struct task *t, enum task_file which, int *fd,
                         uint64_t *size, char *name, size_t name_len, const char **mime)
{
    const char *key;
    if (t->status == TASK_EXPIRED)
        return CCT_ENOTFOUND;
    if (which == TASK_FILE_RESULT) {
        if (t->status != TASK_PROCESSED || !t->result_key[0])
            return CCT_ENOTFOUND;
        key = t->result_key;
        task_result_name(t, name, name_len);
        *mime = mime_of(t->new_format);
    } else {
        if (!t->original_key[0])
            return CCT_ENOTFOUND;
        key = t->original_key;
        snprintf(name, name_len, "%s", t->file_name[0] ? t->file_name : "file");
        *mime = mime_of(t->original_format);
    }
    cct_err rc = app->storage->ops->open_read(app->storage, key, fd, size);
    return rc == CCT_OK ? CCT_OK : CCT_ENOTFOUND;
}

cct_err tasks_open_file(struct app *app, int64_t user_id, int64_t id, enum task_file which, int *fd,
                        uint64_t *size, char *name, size_t name_len, const char **mime)
{
    struct task t;
    *fd = -1;
    cct_err rc = tasks_get(app, user_id, id, &t);
    if (rc)
        return rc;
    return open_side(app, &t, which, fd, size, name, name_len, mime);
}

cct_err tasks_open_by_filename(struct app *app, int64_t user_id, const char *name, int *fd,
                               uint64_t *size, char *out_name, size_t name_len, const char **mime)
{
    struct task t;
    char result_name[300];
    *fd = -1;
    if (user_id <= 0 || !name || !*name || strnlen(name, 256) > 255)
        return CCT_ENOTFOUND;
    cct_err rc = app->db->ops->task_by_filename(app->db, user_id, name, &t);
    if (rc)
        return rc;
    if (t.user_id != user_id)
        return CCT_ENOTFOUND;
    task_result_name(&t, result_name, sizeof result_name);
    if (t.status == TASK_PROCESSED && strcmp(result_name, name) == 0)
        return open_side(app, &t, TASK_FILE_RESULT, fd, size, out_name, name_len, mime);
    if (strcmp(t.file_name, name) == 0)
        return open_side(app, &t, TASK_FILE_ORIGINAL, fd, size, out_name, name_len, mime);
    return CCT_ENOTFOUND;
}

#define BATCH 256
#define RECOVER_MAX 16384

cct_err tasks_recover(struct app *app, int *n)
{
    cct_err rc = CCT_OK;
    struct task *batch = NULL;
    int count = 0, got = 0;
    *n = 0;
    /* uploaded and processing (no worker runs yet) become queued, a batch at a time */
    static const enum task_status stuck[] = {TASK_UPLOADED, TASK_PROCESSING};
    batch = calloc(BATCH, sizeof *batch);
    if (!batch)
        return CCT_ENOMEM;
    for (size_t s = 0; s < sizeof stuck / sizeof stuck[0]; s++) {
        for (int round = 0; round < RECOVER_MAX / BATCH; round++) {
            if ((rc = app->db->ops->task_list_by_status(app->db, stuck[s], BATCH, batch, &got)))
                goto out;
            int moved = 0;
            for (int i = 0; i < got; i++)
                if (app->db->ops->task_transition(app->db, batch[i].id, stuck[s], TASK_QUEUED) ==
                    CCT_OK)
                    moved++;
            if (got < BATCH || moved == 0)
                break;
        }
    }
    free(batch);
    /* then every queued task is pushed (a push of an id already waiting is a no-op) */
    batch = calloc(RECOVER_MAX, sizeof *batch);
    if (!batch)
        return CCT_ENOMEM;
    if ((rc = app->db->ops->task_list_by_status(app->db, TASK_QUEUED, RECOVER_MAX, batch, &got)))
        goto out;
    if (got == RECOVER_MAX)
        log_warn("tasks", "event=recover_truncated max=%d (the rest waits for the next start)",
                 RECOVER_MAX);
    for (int i = 0; i < got; i++) {
        if ((rc = app->queue->ops->push(app->queue, batch[i].id)))
            goto out;
        count++;
    }
    log_info("tasks", "event=recovered count=%d", count);
out:
    free(batch);
    *n = count;
    return rc;
}

cct_err tasks_sweep(struct app *app, int64_t now, int *n)
{
    cct_err rc = CCT_OK;
    int count = 0, got = 0;
    int64_t before = now - cfg.retention_hours * 3600;
    *n = 0;
    struct task *batch = calloc(BATCH, sizeof *batch);
    if (!batch)
        return CCT_ENOMEM;
    for (int round = 0; round < 1000; round++) {
        if ((rc = app->db->ops->task_list_expiring(app->db, before, BATCH, batch, &got)))
            goto out;
        int expired = 0;
        for (int i = 0; i < got; i++) {
            struct task *t = &batch[i];
            if (t->status == TASK_PROCESSING || t->status == TASK_EXPIRED)
                continue; /* a running job finishes first; the next sweep takes it */
            /* mark first (compare-and-set), so a worker cannot start on files being removed */
            if (app->db->ops->task_transition(app->db, t->id, t->status, TASK_EXPIRED) != CCT_OK)
                continue;
            remove_files(app, t);
            expired++;
            log_info("tasks", "task=%lld event=expired", (long long)t->id);
        }
        count += expired;
        if (got < BATCH || expired == 0)
            break;
    }
out:
    free(batch);
    *n = count;
    return rc;
}

cct_err tasks_stats(struct app *app, struct tasks_stats *out)
{
    cct_err rc;
    memset(out, 0, sizeof *out);
    if ((rc = app->db->ops->task_stats(app->db, out->by_status, &out->conversion_seconds,
                                       &out->conversions)))
        return rc;
    return app->queue->ops->depth(app->queue, &out->queue_waiting, &out->queue_taken);
}
