/* sqlite_pool.c - per-thread SQLite connections over one file (sqlite_pool.h). A pthread key
 * holds each thread's connection and closes it when the thread exits; the pool also keeps every
 * connection in a list under a mutex so that destroy() closes the ones still open. Connections
 * remember the pid that opened them: after fork() the child opens its own and leaves the
 * parent's alone. */
#include "adapters/sqlite_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000
#define EXEC_BUSY_TRIES 50
#define EXEC_BUSY_SLEEP_US 20000

struct sqlite_pool {
    struct sqlite_pool_config cfg;
    char *path;
    pthread_key_t key;
    pthread_mutex_t mu; /* guards conns */
    struct sqlite_pool_conn *conns;
};

/* One thread's connection and its statements (cfg.nstmts of them). */
struct sqlite_pool_conn {
    sqlite3 *h;
    pid_t pid; /* the process that opened it: a forked child must not use it */
    struct sqlite_pool *pool;
    struct sqlite_pool_conn *next;
    sqlite3_stmt *st[];
};

static void conn_free(struct sqlite_pool_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->pool->cfg.nstmts; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->h);
    free(c);
}

/* Thread-exit destructor: the thread's connection leaves the list and closes. */
static void conn_release(void *arg)
{
    struct sqlite_pool_conn *c = arg;
    struct sqlite_pool *p = c->pool;
    pthread_mutex_lock(&p->mu);
    for (struct sqlite_pool_conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (c->pid == getpid())
        conn_free(c);
}

cct_err sqlite_pool_exec(struct sqlite_pool_conn *c, const char *sql, struct cct_error *err)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(c->h, sql, NULL, NULL, NULL);
        /* switching to WAL needs a moment alone with the file; busy_timeout covers most cases */
        if ((rc & 0xff) != SQLITE_BUSY || tries >= EXEC_BUSY_TRIES)
            break;
        usleep(EXEC_BUSY_SLEEP_US);
    }
    if (rc != SQLITE_OK)
        return cct_error_set(err, c->pool->cfg.code, "%s setup failed: %s", c->pool->cfg.noun,
                             sqlite3_errmsg(c->h));
    return CCT_OK;
}

/* A new connection for the calling thread, set up and in the pool's list. */
static cct_err conn_open(struct sqlite_pool *p, struct sqlite_pool_conn **out,
                         struct cct_error *err)
{
    const struct sqlite_pool_config *cfg = &p->cfg;
    cct_err ret = CCT_OK;
    struct sqlite_pool_conn *c =
        calloc(1, sizeof *c + (size_t)cfg->nstmts * sizeof(sqlite3_stmt *));
    if (!c) {
        ret = cct_error_set(err, CCT_ENOMEM, "out of memory opening the %s", cfg->noun);
        goto out;
    }
    c->pool = p;
    c->pid = getpid();
    int rc = sqlite3_open_v2(p->path, &c->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        ret = cct_error_set(err, cfg->code, "cannot open %s %.200s: %s", cfg->noun, p->path,
                            c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(c->h, 1);
    sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS);
    for (const char *const *sql = cfg->setup; sql && *sql; sql++)
        if ((ret = sqlite_pool_exec(c, *sql, err)))
            goto out;
    if (pthread_setspecific(p->key, c) != 0) {
        ret = cct_error_set(err, CCT_ENOMEM, "out of memory opening the %s", cfg->noun);
        goto out;
    }
    pthread_mutex_lock(&p->mu);
    c->next = p->conns;
    p->conns = c;
    pthread_mutex_unlock(&p->mu);
out:
    if (ret) {
        log_error(cfg->module, "event=open_failed msg=\"%s\"", err ? err->msg : "");
        conn_free(c);
        c = NULL;
    }
    *out = c;
    return ret;
}

cct_err sqlite_pool_conn(struct sqlite_pool *p, struct sqlite_pool_conn **out,
                         struct cct_error *err)
{
    struct sqlite_pool_conn *c = pthread_getspecific(p->key);
    if (c && c->pid == getpid()) {
        *out = c;
        return CCT_OK;
    }
    /* none yet, or inherited over fork() (then left alone: it belongs to the parent) */
    return conn_open(p, out, err);
}

sqlite3 *sqlite_pool_handle(const struct sqlite_pool_conn *c)
{
    return c->h;
}

cct_err sqlite_pool_stmt(struct sqlite_pool_conn *c, int i, sqlite3_stmt **out,
                         struct cct_error *err)
{
    const struct sqlite_pool_config *cfg = &c->pool->cfg;
    *out = NULL;
    if (i < 0 || i >= cfg->nstmts)
        return cct_error_set(err, CCT_EINTERNAL, "%s error: no statement %d", cfg->noun, i);
    if (!c->st[i]) {
        int rc =
            sqlite3_prepare_v3(c->h, cfg->stmts[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (rc != SQLITE_OK) {
            c->st[i] = NULL;
            log_error(cfg->module, "event=prepare_failed stmt=%d msg=\"%s\"", i,
                      sqlite3_errmsg(c->h));
            return cct_error_set(err, cfg->code, "%s error: %s", cfg->noun, sqlite3_errmsg(c->h));
        }
    }
    *out = c->st[i];
    return CCT_OK;
}

cct_err sqlite_pool_begin(struct sqlite_pool *p, int i, struct sqlite_pool_conn **c,
                          sqlite3_stmt **s, struct cct_error *err)
{
    cct_err ret = sqlite_pool_conn(p, c, err);
    if (ret)
        return ret;
    return sqlite_pool_stmt(*c, i, s, err);
}

void sqlite_pool_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

cct_err sqlite_pool_fail(struct sqlite_pool_conn *c, const char *what, struct cct_error *err)
{
    const struct sqlite_pool_config *cfg = &c->pool->cfg;
    log_error(cfg->module, "event=query_failed op=%s code=%d msg=\"%s\"", what,
              sqlite3_extended_errcode(c->h), sqlite3_errmsg(c->h));
    return cct_error_set(err, cfg->code, "%s error in %s: %s", cfg->noun, what,
                         sqlite3_errmsg(c->h));
}

cct_err sqlite_pool_step_done(struct sqlite_pool_conn *c, sqlite3_stmt *s, const char *what,
                              struct cct_error *err)
{
    cct_err ret = CCT_OK;
    if (sqlite3_step(s) != SQLITE_DONE)
        ret = sqlite_pool_fail(c, what, err);
    sqlite_pool_done(s);
    return ret;
}

void sqlite_pool_destroy(struct sqlite_pool **pp)
{
    if (!pp || !*pp)
        return;
    struct sqlite_pool *p = *pp;
    pthread_setspecific(p->key, NULL);
    pthread_key_delete(p->key);
    pthread_mutex_lock(&p->mu);
    struct sqlite_pool_conn *c = p->conns;
    p->conns = NULL;
    pthread_mutex_unlock(&p->mu);
    pid_t self = getpid();
    while (c) {
        struct sqlite_pool_conn *next = c->next;
        if (c->pid == self)
            conn_free(c); /* a parent's connection inherited over fork() is left alone */
        c = next;
    }
    pthread_mutex_destroy(&p->mu);
    free(p->path);
    free(p);
    *pp = NULL;
}

cct_err sqlite_pool_create(const char *path, const struct sqlite_pool_config *cfg,
                           struct sqlite_pool **out, struct cct_error *err)
{
    struct sqlite_pool_conn *c;
    *out = NULL;
    struct sqlite_pool *p = calloc(1, sizeof *p);
    if (!p)
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the %s", cfg->noun);
    p->cfg = *cfg;
    p->path = strdup(path);
    if (!p->path || pthread_key_create(&p->key, conn_release) != 0) {
        free(p->path);
        free(p);
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the %s", cfg->noun);
    }
    pthread_mutex_init(&p->mu, NULL);
    cct_err ret = sqlite_pool_conn(p, &c, err);
    if (ret)
        sqlite_pool_destroy(&p);
    *out = p;
    return ret;
}
