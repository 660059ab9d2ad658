/* task.c - names of task states and the download name of a result. */
#include "domain/task.h"

#include <stdio.h>
#include <string.h>

#include "domain/formats.h"

static const char *const status_names[TASK_STATUS_COUNT] = {
    "uploaded", "queued", "processing", "processed", "failed", "expired",
};

const char *task_status_name(enum task_status s)
{
    return (unsigned)s < TASK_STATUS_COUNT ? status_names[s] : "failed";
}

int task_status_parse(const char *name)
{
    for (int i = 0; i < TASK_STATUS_COUNT; i++)
        if (strcmp(status_names[i], name) == 0)
            return i;
    return -1;
}

int task_status_active(enum task_status s)
{
    return s == TASK_UPLOADED || s == TASK_QUEUED || s == TASK_PROCESSING;
}

void task_result_name(const struct task *t, char *out, size_t n)
{
    const struct format *f = format_find(t->new_format);
    const char *ext = f ? f->ext : t->new_format;
    const char *dot = strrchr(t->file_name, '.');
    int stem = dot && dot != t->file_name ? (int)(dot - t->file_name) : (int)strlen(t->file_name);
    /* "photo.tar.gz" style names: strip a second ".tar" too */
    if (stem > 4 && strncmp(t->file_name + stem - 4, ".tar", 4) == 0)
        stem -= 4;
    snprintf(out, n, "%.*s.%s", stem, t->file_name, ext);
}
