/* queue.c - picks the queue implementation from QUEUE_URL. */
#include "adapters/queue.h"

#include <stdio.h>
#include <string.h>

cct_err queue_open(const char *url, const char *data_dir, struct queue **out, struct cct_error *err)
{
    *out = NULL;
    if (strcmp(url, "local") == 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s/queue.db", data_dir);
        return queue_local_open(path, out, err);
    }
    return cct_error_set(err, CCT_EINVAL, "QUEUE_URL \"%.100s\" is not supported (use local)", url);
}

void queue_close(struct queue **q)
{
    if (q && *q) {
        (*q)->ops->close(*q);
        *q = NULL;
    }
}
