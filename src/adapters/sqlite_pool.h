/* sqlite_pool.h - one SQLite file used from many threads: each thread gets its own connection,
 * opened on first use (WAL and the rest come from the owner's setup SQL) with its own cache of
 * prepared statements; a connection inherited over fork() is never used by the child. Shared by
 * db_sqlite.c and queue_local.c. SQLite codes stop here: a failure becomes the owner's cct_err
 * code (CCT_EDB, CCT_EQUEUE) with sqlite3_errmsg in the message and one log line. */
#ifndef CCT_SQLITE_POOL_H
#define CCT_SQLITE_POOL_H

#include <sqlite3.h>

#include "util/err.h"

struct sqlite_pool;
struct sqlite_pool_conn;

/* What an owner brings; every pointer must outlive the pool (static tables). */
struct sqlite_pool_config {
    const char *module;       /* log module: "db", "queue" */
    const char *noun;         /* in messages: "cannot open <noun> ...", "<noun> error in ..." */
    cct_err code;             /* what a SQLite failure becomes */
    const char *const *setup; /* SQL run on each new connection in order (pragmas); NULL ends */
    const char *const *stmts; /* SQL of the cached statements, by index */
    int nstmts;
};

/* Creates the pool for the file at path and opens the calling thread's connection at once, so
 * that a bad path fails here. *out is NULL on failure. */
cct_err sqlite_pool_create(const char *path, const struct sqlite_pool_config *cfg,
                           struct sqlite_pool **out, struct cct_error *err);
/* Closes every connection this process opened and frees the pool; NULL-safe, sets *p = NULL. */
void sqlite_pool_destroy(struct sqlite_pool **p);

/* The calling thread's connection, opened on first use; owned by the pool. */
cct_err sqlite_pool_conn(struct sqlite_pool *p, struct sqlite_pool_conn **out,
                         struct cct_error *err);
/* The SQLite handle of c (for sqlite3_changes, sqlite3_last_insert_rowid, ...). */
sqlite3 *sqlite_pool_handle(const struct sqlite_pool_conn *c);
/* The cached statement i of c, prepared on first use; owned by c. */
cct_err sqlite_pool_stmt(struct sqlite_pool_conn *c, int i, sqlite3_stmt **out,
                         struct cct_error *err);
/* Connection + statement in one step: the start of every query. */
cct_err sqlite_pool_begin(struct sqlite_pool *p, int i, struct sqlite_pool_conn **c,
                          sqlite3_stmt **s, struct cct_error *err);
/* Resets s and clears its bindings for the next use; NULL-safe. */
void sqlite_pool_done(sqlite3_stmt *s);

/* Runs sql (no results) and retries while the file is busy: setup and transaction control. */
cct_err sqlite_pool_exec(struct sqlite_pool_conn *c, const char *sql, struct cct_error *err);
/* Logs the connection's last error for operation `what` and returns the owner's code. */
cct_err sqlite_pool_fail(struct sqlite_pool_conn *c, const char *what, struct cct_error *err);
/* Steps s once, expecting no row (a write, BEGIN, COMMIT ...), then sqlite_pool_done(s). */
cct_err sqlite_pool_step_done(struct sqlite_pool_conn *c, sqlite3_stmt *s, const char *what,
                              struct cct_error *err);

#endif
