/* db.c - picks the database implementation from DATABASE_URL. */
#include "adapters/db.h"

#include <stdlib.h>
#include <string.h>

cct_err db_open(const char *url, struct db **out, struct cct_error *err)
{
    *out = NULL;
    if (strncmp(url, "sqlite:", 7) == 0)
        return db_sqlite_open(url + 7, out, err);
    return cct_error_set(err, CCT_EINVAL,
                         "DATABASE_URL \"%.100s\" is not supported (use sqlite:PATH)", url);
}

void db_close(struct db **db)
{
    if (db && *db) {
        (*db)->ops->close(*db);
        *db = NULL;
    }
}
