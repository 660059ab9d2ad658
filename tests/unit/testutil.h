/* testutil.h - fixtures shared by the unit tests: a fresh temp folder per test, its removal,
 * and the configuration + app of a test DATA_DIR. Static inline, so that every test_*.c builds
 * on its own (the Makefile links each one with the library objects only). */
#ifndef CCT_TESTUTIL_H
#define CCT_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "domain/app.h"
#include "util/config.h"

/* Creates /tmp/cct-<name>-XXXXXX into dir (n bytes); 0, or -1 when it cannot. */
static inline int tu_mkdtemp(char *dir, size_t n, const char *name)
{
    int len = snprintf(dir, n, "/tmp/cct-%s-XXXXXX", name);
    if (len < 0 || (size_t)len >= n)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static inline int tu_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

/* Removes path and everything below it (symbolic links themselves, never their targets). */
static inline void tu_rm_tree(const char *path)
{
    nftw(path, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Loads the configuration for a test DATA_DIR: every path defaults below dir, the queue is
 * local, no JWT secret comes from the environment, only errors are logged. 0 or -1. */
static inline int tu_config_load(const char *dir)
{
    char msg[256];
    setenv("DATA_DIR", dir, 1);
    unsetenv("DATABASE_URL");
    unsetenv("STORAGE_DIR");
    unsetenv("QUEUE_URL");
    unsetenv("JWT_SECRET");
    setenv("LOG_LEVEL", "error", 1);
    if (config_load(msg, sizeof msg) < 0) {
        fprintf(stderr, "config_load: %s\n", msg);
        return -1;
    }
    return 0;
}

/* Opens the app (migrating the database) from the loaded configuration; 0 or -1. */
static inline int tu_app_open(struct app *app)
{
    struct cct_error err = {0};
    if (app_open(app, 1, &err) != CCT_OK) {
        fprintf(stderr, "app_open: %s\n", err.msg);
        return -1;
    }
    return 0;
}

#endif
