/* db.h - the data interface: users and tasks. One implementation per database (db_sqlite.c
 * now, PostgreSQL later), chosen by db_open() from DATABASE_URL. Every call is safe from any
 * thread: implementations keep one connection per thread. Nothing above this file knows SQL. */
#ifndef CCT_DB_H
#define CCT_DB_H

#include <stdint.h>

#include "domain/task.h"
#include "util/err.h"

struct db;

struct db_ops {
    const char *name;
    cct_err (*migrate)(struct db *db, struct cct_error *err);
    void (*close)(struct db *db);

    /* users; user_create fails with CCT_ECONFLICT when username or email is taken */
    cct_err (*user_create)(struct db *db, struct user *u /* in: fields, out: id, created_at */,
                           struct cct_error *err);
    cct_err (*user_by_name)(struct db *db, const char *username, struct user *out);
    cct_err (*user_by_id)(struct db *db, int64_t id, struct user *out);

    /* tasks; t->id and created_at are set on create */
    cct_err (*task_create)(struct db *db, struct task *t, struct cct_error *err);
    /* user_id 0 = any owner; another owner's task is CCT_ENOTFOUND */
    cct_err (*task_get)(struct db *db, int64_t id, int64_t user_id, struct task *out);
    /* newest_first 1 = by id descending; writes at most max into out, *n = written */
    cct_err (*task_list)(struct db *db, int64_t user_id, int max, int newest_first,
                         struct task *out, int *n);
    /* the caller's newest task whose file_name, or result name, is `name` */
    cct_err (*task_by_filename)(struct db *db, int64_t user_id, const char *name, struct task *out);
    /* Writes status, progress, error, sizes, timestamps and keys of t (by t->id). */
    cct_err (*task_update)(struct db *db, const struct task *t);
    /* Moves t to `to` only if it is now in `from` (a compare-and-set); CCT_ENOTFOUND otherwise. */
    cct_err (*task_transition)(struct db *db, int64_t id, enum task_status from,
                               enum task_status to);
    cct_err (*task_set_progress)(struct db *db, int64_t id, int progress);
    cct_err (*task_delete)(struct db *db, int64_t id);
    cct_err (*task_count_active)(struct db *db, int64_t user_id, int *n);
    /* Tasks in `status`, oldest first, at most max (recovery after restart). */
    cct_err (*task_list_by_status)(struct db *db, enum task_status status, int max,
                                   struct task *out, int *n);
    /* Tasks created before `before` (unix s) that still hold files (not expired), at most max. */
    cct_err (*task_list_expiring)(struct db *db, int64_t before, int max, struct task *out, int *n);
    /* counts[s] = number of tasks in each state; conversion seconds summed over finished tasks */
    cct_err (*task_stats)(struct db *db, int64_t counts[TASK_STATUS_COUNT], double *conv_seconds,
                          int64_t *conv_count);
};

struct db {
    const struct db_ops *ops;
};

/* Opens the database named by url ("sqlite:PATH", later "postgres://..."). */
cct_err db_open(const char *url, struct db **out, struct cct_error *err);
/* Closes and sets *db to NULL; safe on NULL. */
void db_close(struct db **db);

/* Per-implementation constructors, called by db_open. */
cct_err db_sqlite_open(const char *path, struct db **out, struct cct_error *err);

#endif
