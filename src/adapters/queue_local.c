/* queue_local.c - durable local queue (stub: not written yet) */
#include "adapters/queue.h"

cct_err queue_local_open(const char *path, struct queue **out, struct cct_error *err)
{
    *out = 0;
    return cct_error_set(err, CCT_EUNSUPPORTED, "local queue not written yet (%s)", path);
}
