/* db_sqlite.c - users and tasks in SQLite (stub: not written yet) */
#include "adapters/db.h"

cct_err db_sqlite_open(const char *path, struct db **out, struct cct_error *err)
{
    *out = 0;
    return cct_error_set(err, CCT_EUNSUPPORTED, "sqlite adapter not written yet (%s)", path);
}
