/* tasks.c - task service (stub: not written yet) */
#include "domain/tasks.h"

cct_err tasks_upload_begin(struct app *app, int64_t user_id, struct upload **out,
                           struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}
cct_err tasks_upload_write(struct upload *u, const void *data, size_t len, struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}
uint64_t tasks_upload_size(const struct upload *u) { return 0; }
cct_err tasks_upload_finish(struct upload *u, const char *file_name, const char *new_format,
                            const char *preset, struct task *out, struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}
void tasks_upload_abort(struct upload **u) {}
void tasks_sanitize_name(const char *in, char *out, size_t n) { if (n) out[0] = 0; }
cct_err tasks_list(struct app *app, int64_t user_id, int max, int newest_first, struct task *out,
                   int *n) { return CCT_EUNSUPPORTED; }
cct_err tasks_get(struct app *app, int64_t user_id, int64_t id, struct task *out) { return CCT_EUNSUPPORTED; }
cct_err tasks_delete(struct app *app, int64_t user_id, int64_t id) { return CCT_EUNSUPPORTED; }
cct_err tasks_open_file(struct app *app, int64_t user_id, int64_t id, enum task_file which,
                        int *fd, uint64_t *size, char *name, size_t name_len, const char **mime) { return CCT_EUNSUPPORTED; }
cct_err tasks_open_by_filename(struct app *app, int64_t user_id, const char *name, int *fd,
                               uint64_t *size, char *out_name, size_t name_len, const char **mime) { return CCT_EUNSUPPORTED; }
cct_err tasks_recover(struct app *app, int *n) { return CCT_EUNSUPPORTED; }
cct_err tasks_sweep(struct app *app, int64_t now, int *n) { return CCT_EUNSUPPORTED; }
cct_err tasks_stats(struct app *app, struct tasks_stats *out) { return CCT_EUNSUPPORTED; }
