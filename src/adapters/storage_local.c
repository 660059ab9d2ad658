/* storage_local.c - files in a local directory (stub: not written yet) */
#include "adapters/storage.h"

cct_err storage_local_open(const char *dir, struct storage **out, struct cct_error *err)
{
    *out = 0;
    return cct_error_set(err, CCT_EUNSUPPORTED, "local storage not written yet (%s)", dir);
}

void storage_close(struct storage **s)
{
    if (s && *s) {
        (*s)->ops->close(*s);
        *s = 0;
    }
}
