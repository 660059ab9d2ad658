/* tasks.h - what a user can do with tasks: upload a file to convert (streamed to storage),
 * list, look at, download and delete them; plus the service-side duties of recovery after a
 * restart and the retention sweep. Enforces ownership, limits and the format matrix. */
#ifndef CCT_TASKS_H
#define CCT_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/app.h"

struct upload;

/* Starts an upload for user_id: CCT_ELIMIT if the user has MAX_ACTIVE_TASKS unfinished tasks
 * (the API answers 429). */
cct_err tasks_upload_begin(struct app *app, int64_t user_id, struct upload **out,
                           struct cct_error *err);
/* Appends bytes; CCT_ELIMIT past MAX_UPLOAD_MB (the API answers 413). */
cct_err tasks_upload_write(struct upload *u, const void *data, size_t len, struct cct_error *err);
/* Bytes received so far. */
uint64_t tasks_upload_size(const struct upload *u);
/* Detects the format from the bytes, checks the pair against the matrix (CCT_EUNSUPPORTED with
 * the allowed targets listed in err->msg), creates the task and queues it. Frees u. */
cct_err tasks_upload_finish(struct upload *u, const char *file_name, const char *new_format,
                            const char *preset, struct task *out, struct cct_error *err);
/* Discards a partial upload; safe on NULL; sets *u = NULL. */
void tasks_upload_abort(struct upload **u);

/* Makes a user-supplied file name safe: last path component only, no control characters,
 * no quotes or backslashes, at most n-1 bytes on a UTF-8 boundary, never "", "." or "..". */
void tasks_sanitize_name(const char *in, char *out, size_t n);

cct_err tasks_list(struct app *app, int64_t user_id, int max, int newest_first, struct task *out,
                   int *n);
cct_err tasks_get(struct app *app, int64_t user_id, int64_t id, struct task *out);
/* Removes the task and its files; a running conversion notices and stops. */
cct_err tasks_delete(struct app *app, int64_t user_id, int64_t id);

enum task_file { TASK_FILE_ORIGINAL, TASK_FILE_RESULT };

/* Opens a task's original or result for download: *fd (caller closes), *size, the download
 * name and the MIME type. CCT_ENOTFOUND if missing, not the caller's, expired, or the result
 * is not ready. */
cct_err tasks_open_file(struct app *app, int64_t user_id, int64_t id, enum task_file which, int *fd,
                        uint64_t *size, char *name, size_t name_len, const char **mime);
/* The original download path /api/files/{name}: the caller's newest task whose result name
 * (when processed) or file name is `name`; the result is preferred. */
cct_err tasks_open_by_filename(struct app *app, int64_t user_id, const char *name, int *fd,
                               uint64_t *size, char *out_name, size_t name_len, const char **mime);

/* After a restart: tasks left uploaded, queued or processing are queued again. *n = how many. */
cct_err tasks_recover(struct app *app, int *n);
/* Deletes the files of tasks older than RETENTION_HOURS and marks them expired. */
cct_err tasks_sweep(struct app *app, int64_t now, int *n);

struct tasks_stats {
    int64_t by_status[TASK_STATUS_COUNT];
    double conversion_seconds; /* summed over finished tasks */
    int64_t conversions;       /* finished tasks counted in conversion_seconds */
    int64_t queue_waiting, queue_taken;
};
/* Figures for /metrics. */
cct_err tasks_stats(struct app *app, struct tasks_stats *out);

#endif
