/* app.h - the parts a running program is wired from, chosen at start-up from the
 * environment and handed to the domain services: data, queue and storage adapters. */
#ifndef CCT_APP_H
#define CCT_APP_H

#include "adapters/db.h"
#include "adapters/queue.h"
#include "adapters/storage.h"

struct app {
    struct db *db;
    struct queue *queue;
    struct storage *storage;
};

/* Opens db, queue and storage from cfg (util/config.h) and creates the data folders;
 * runs migrations when migrate is non-zero. */
cct_err app_open(struct app *app, int migrate, struct cct_error *err);
void app_close(struct app *app);

#endif
