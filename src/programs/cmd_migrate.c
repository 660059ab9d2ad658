/* cmd_migrate.c - `cct migrate`: creates or upgrades the database schema (and the data
 * folders and queue file) named by the configuration, then says what it touched. */
#include "programs/commands.h"

#include <stdio.h>
#include <string.h>

#include "domain/app.h"
#include "util/config.h"
#include "util/log.h"

int cmd_migrate(int argc, char **argv)
{
    if (argc > 1) {
        FILE *out = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? stdout : stderr;
        fprintf(out, "Usage: cct migrate\n\nCreates or upgrades the database schema named by "
                     "DATABASE_URL (default sqlite:DATA_DIR/cct.db).\n`cct serve` does this at "
                     "start too. `cct serve --help` lists the settings.\n");
        return out == stdout ? 0 : 2;
    }
    char msg[1200];
    if (config_load(msg, sizeof msg) < 0) {
        fprintf(stderr, "cct migrate: %s\n", msg);
        return 2;
    }
    struct app app;
    struct cct_error err = {0};
    cct_err rc = app_open(&app, 1, &err);
    if (rc) {
        fprintf(stderr, "cct migrate: %s: %s\n", cct_err_name(rc),
                err.msg[0] ? err.msg : cct_strerror(rc));
        return 1;
    }
    /* Only the scheme of the URL: it may carry a password. */
    const char *colon = strchr(cfg.database_url, ':');
    int scheme = colon ? (int)(colon - cfg.database_url) : (int)strlen(cfg.database_url);
    printf("migrated: database %.*s (%s schema up to date), queue %s, storage %s\n", scheme,
           cfg.database_url, app.db->ops->name, cfg.queue_url, cfg.storage_dir);
    app_close(&app);
    return 0;
}
