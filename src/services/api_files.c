/* api_files.c - downloads: a task's original or result, and the by-name path
 * /api/files/{filename}. The tasks service opens the file (ownership, expiry); http_reply.c
 * sends it with Range support through sendfile. */
#include <microhttpd.h>

#include "domain/tasks.h"
#include "services/api.h"

static int send_task_file(struct api_req *r, enum task_file which)
{
    int64_t id = 0;
    if (!api_param_id(r, 0, &id))
        return api_send_error(r, CCT_ENOTFOUND, "no such task");
    int fd = -1;
    uint64_t size = 0;
    char name[512];
    const char *mime = NULL;
    cct_err e =
        tasks_open_file(r->app, r->user_id, id, which, &fd, &size, name, sizeof name, &mime);
    if (e != CCT_OK)
        return api_send_error(r, e,
                              e == CCT_ENOTFOUND ? (which == TASK_FILE_RESULT
                                                        ? "no such task, or its result is not ready"
                                                        : "no such task")
                                                 : NULL);
    return api_send_file(r, fd, size, name, mime);
}

int api_task_original(struct api_req *r)
{
    return send_task_file(r, TASK_FILE_ORIGINAL);
}

int api_task_result(struct api_req *r)
{
    return send_task_file(r, TASK_FILE_RESULT);
}

int api_file_by_name(struct api_req *r)
{
    char want[256], name[512];
    if (!api_param(r, 0, want, sizeof want))
        return api_send_error(r, CCT_ENOTFOUND, "no such file");
    int fd = -1;
    uint64_t size = 0;
    const char *mime = NULL;
    cct_err e =
        tasks_open_by_filename(r->app, r->user_id, want, &fd, &size, name, sizeof name, &mime);
    if (e != CCT_OK)
        return api_send_error(r, e, e == CCT_ENOTFOUND ? "no such file" : NULL);
    return api_send_file(r, fd, size, name, mime);
}
