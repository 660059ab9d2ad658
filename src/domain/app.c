/* app.c - opens the adapters named by the configuration. */
#include "domain/app.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util/config.h"

static cct_err make_dir(const char *path, struct cct_error *err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return cct_error_set(err, CCT_EIO, "cannot create %s: %s", path, strerror(errno));
    return CCT_OK;
}

cct_err app_open(struct app *app, int migrate, struct cct_error *err)
{
    cct_err rc;
    memset(app, 0, sizeof *app);
    if ((rc = make_dir(cfg.data_dir, err)) || (rc = make_dir(cfg.storage_dir, err)))
        return rc;
    if ((rc = db_open(cfg.database_url, &app->db, err)))
        goto fail;
    if (migrate && (rc = app->db->ops->migrate(app->db, err)))
        goto fail;
    if ((rc = queue_open(cfg.queue_url, cfg.data_dir, &app->queue, err)))
        goto fail;
    if ((rc = storage_local_open(cfg.storage_dir, &app->storage, err)))
        goto fail;
    return CCT_OK;
fail:
    app_close(app);
    return rc;
}

void app_close(struct app *app)
{
    storage_close(&app->storage);
    queue_close(&app->queue);
    db_close(&app->db);
}
