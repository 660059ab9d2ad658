/* db_sqlite.c - users and tasks in one SQLite file (struct db_ops of db.h). Each thread gets its
 * own connection from sqlite_pool.c, opened lazily (WAL, busy timeout, foreign keys) with its
 * prepared statements cached; close() closes them all. migrate() applies the SQL files embedded in
 * the binary, each once, in a BEGIN IMMEDIATE transaction, so two processes may run it at the same
 * time. SQLite codes stop here: callers see CCT_EDB (with sqlite3_errmsg), CCT_ECONFLICT or
 * CCT_ENOTFOUND. */
#include "adapters/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/sqlite_pool.h"
#include "util/embed.h"
#include "util/log.h"

/* The migrations, in order; a version is applied at most once. */
static const struct migration {
    int version;
    const char *sql;
} migrations[] = {
    {1, embed_sqlite_001},
};

#define TASK_COLS                                                                                  \
    "id, user_id, file_name, original_format, new_format, preset, status, progress, error, "       \
    "original_size, result_size, created_at, started_at, finished_at, original_key, result_key"
#define ACTIVE_STATUSES "('uploaded', 'queued', 'processing')"

/* Every statement a connection caches, by id. */
enum st_id {
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_TASK_INSERT,
    ST_TASK_GET,
    ST_TASK_LIST_USER_DESC,
    ST_TASK_LIST_USER_ASC,
    ST_TASK_LIST_ALL_DESC,
    ST_TASK_LIST_ALL_ASC,
    ST_TASK_BY_FILENAME,
    ST_TASK_UPDATE,
    ST_TASK_TRANSITION,
    ST_TASK_PROGRESS,
    ST_TASK_DELETE,
    ST_TASK_COUNT_ACTIVE_USER,
    ST_TASK_COUNT_ACTIVE_ALL,
    ST_TASK_LIST_BY_STATUS,
    ST_TASK_LIST_EXPIRING,
    ST_TASK_STATS_COUNTS,
    ST_TASK_STATS_TIME,
    ST_COUNT
};

static const char *const st_sql[ST_COUNT] = {
    [ST_USER_INSERT] = "INSERT INTO users (username, email, password_hash, created_at) "
                       "VALUES (?1, ?2, ?3, ?4)",
    [ST_USER_BY_NAME] = "SELECT id, username, email, password_hash, created_at FROM users "
                        "WHERE username = ?1",
    [ST_USER_BY_ID] = "SELECT id, username, email, password_hash, created_at FROM users "
                      "WHERE id = ?1",
    [ST_TASK_INSERT] =
        "INSERT INTO tasks (user_id, file_name, original_format, new_format, preset, "
        "status, progress, error, original_size, result_size, created_at, "
        "started_at, finished_at, original_key, result_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_TASK_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
    [ST_TASK_LIST_USER_DESC] = "SELECT " TASK_COLS " FROM tasks WHERE user_id = ?1 "
                               "ORDER BY id DESC LIMIT ?2",
    [ST_TASK_LIST_USER_ASC] = "SELECT " TASK_COLS " FROM tasks WHERE user_id = ?1 "
                              "ORDER BY id ASC LIMIT ?2",
    [ST_TASK_LIST_ALL_DESC] = "SELECT " TASK_COLS " FROM tasks ORDER BY id DESC LIMIT ?2",
    [ST_TASK_LIST_ALL_ASC] = "SELECT " TASK_COLS " FROM tasks ORDER BY id ASC LIMIT ?2",
    /* candidates: the exact name, or names starting with its stem (checked in C) */
    [ST_TASK_BY_FILENAME] = "SELECT " TASK_COLS " FROM tasks WHERE user_id = ?1 "
                            "AND (file_name = ?2 OR instr(file_name, ?3) = 1) "
                            "ORDER BY id DESC LIMIT 1000",
    [ST_TASK_UPDATE] = "UPDATE tasks SET status = ?2, progress = ?3, error = ?4, "
                       "original_size = ?5, result_size = ?6, started_at = ?7, finished_at = ?8, "
                       "original_key = ?9, result_key = ?10 WHERE id = ?1",
    [ST_TASK_TRANSITION] = "UPDATE tasks SET status = ?3 WHERE id = ?1 AND status = ?2",
    [ST_TASK_PROGRESS] = "UPDATE tasks SET progress = ?2 WHERE id = ?1",
    [ST_TASK_DELETE] = "DELETE FROM tasks WHERE id = ?1",
    [ST_TASK_COUNT_ACTIVE_USER] = "SELECT count(*) FROM tasks WHERE user_id = ?1 "
                                  "AND status IN " ACTIVE_STATUSES,
    [ST_TASK_COUNT_ACTIVE_ALL] = "SELECT count(*) FROM tasks WHERE status IN " ACTIVE_STATUSES,
    [ST_TASK_LIST_BY_STATUS] = "SELECT " TASK_COLS " FROM tasks WHERE status = ?1 "
                               "ORDER BY id ASC LIMIT ?2",
    [ST_TASK_LIST_EXPIRING] = "SELECT " TASK_COLS " FROM tasks WHERE created_at < ?1 "
                              "AND status NOT IN ('expired', 'processing') "
                              "ORDER BY created_at ASC, id ASC LIMIT ?2",
    [ST_TASK_STATS_COUNTS] = "SELECT status, count(*) FROM tasks GROUP BY status",
    [ST_TASK_STATS_TIME] = "SELECT total(finished_at - started_at), count(*) FROM tasks "
                           "WHERE status IN ('processed', 'failed') AND started_at > 0 "
                           "AND finished_at >= started_at",
};

static const char *const setup_sql[] = {
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL",
    NULL,
};

static const struct sqlite_pool_config pool_config = {
    .module = "db",
    .noun = "database",
    .code = CCT_EDB,
    .setup = setup_sql,
    .stmts = st_sql,
    .nstmts = ST_COUNT,
};

struct sq_db {
    struct db base;
    struct sqlite_pool *pool; /* one connection per thread */
};

static const struct db_ops sqlite_ops;

/* This thread's connection and the cached statement id: the start of every call. */
static cct_err begin(struct db *db, enum st_id id, struct sqlite_pool_conn **c, sqlite3_stmt **s,
                     struct cct_error *err)
{
    return sqlite_pool_begin(((struct sq_db *)db)->pool, (int)id, c, s, err);
}

/* ---- rows ---- */

static void bind_str(sqlite3_stmt *s, int i, const char *v, size_t cap)
{
    sqlite3_bind_text(s, i, v, (int)strnlen(v, cap), SQLITE_STATIC);
}

#define BIND_FIELD(s, i, field) bind_str((s), (i), (field), sizeof(field))

static void col_str(sqlite3_stmt *s, int i, char *out, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    snprintf(out, n, "%s", v ? (const char *)v : "");
}

static void row_user(sqlite3_stmt *s, struct user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(s, 0);
    col_str(s, 1, u->username, sizeof u->username);
    col_str(s, 2, u->email, sizeof u->email);
    col_str(s, 3, u->password_hash, sizeof u->password_hash);
    u->created_at = sqlite3_column_int64(s, 4);
}

static void row_task(sqlite3_stmt *s, struct task *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(s, 0);
    t->user_id = sqlite3_column_int64(s, 1);
    col_str(s, 2, t->file_name, sizeof t->file_name);
    col_str(s, 3, t->original_format, sizeof t->original_format);
    col_str(s, 4, t->new_format, sizeof t->new_format);
    col_str(s, 5, t->preset, sizeof t->preset);
    const unsigned char *st = sqlite3_column_text(s, 6);
    int status = st ? task_status_parse((const char *)st) : -1;
    t->status = status < 0 ? TASK_FAILED : (enum task_status)status;
    t->progress = sqlite3_column_int(s, 7);
    col_str(s, 8, t->error, sizeof t->error);
    t->original_size = sqlite3_column_int64(s, 9);
    t->result_size = sqlite3_column_int64(s, 10);
    t->created_at = sqlite3_column_int64(s, 11);
    t->started_at = sqlite3_column_int64(s, 12);
    t->finished_at = sqlite3_column_int64(s, 13);
    col_str(s, 14, t->original_key, sizeof t->original_key);
    col_str(s, 15, t->result_key, sizeof t->result_key);
}

/* Binds ?2 = max, steps s and writes up to max rows into out (*n = written); resets s. */
static cct_err list_rows(struct sqlite_pool_conn *c, sqlite3_stmt *s, const char *what, int max,
                         struct task *out, int *n)
{
    cct_err ret = CCT_OK;
    int rc = SQLITE_DONE, i = 0;
    sqlite3_bind_int(s, 2, max);
    while (i < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        row_task(s, &out[i++]);
    *n = i;
    if (i < max && rc != SQLITE_DONE)
        ret = sqlite_pool_fail(c, what, NULL);
    sqlite_pool_done(s);
    return ret;
}

static int clamp_progress(int p)
{
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

/* ---- migrations ---- */

static cct_err migrate_one(struct sqlite_pool_conn *c, const struct migration *m,
                           struct cct_error *err)
{
    cct_err ret = CCT_OK;
    sqlite3 *h = sqlite_pool_handle(c);
    sqlite3_stmt *s = NULL;
    int in_tx = 0, rc;

    if ((ret = sqlite_pool_exec(c, "BEGIN IMMEDIATE", err)))
        goto out;
    in_tx = 1;
    if ((ret = sqlite_pool_exec(c,
                                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                                err)))
        goto out;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM schema_migrations WHERE version = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        ret = sqlite_pool_fail(c, "migrate", err);
        goto out;
    }
    sqlite3_bind_int(s, 1, m->version);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        goto out; /* already applied */
    if (rc != SQLITE_DONE) {
        ret = sqlite_pool_fail(c, "migrate", err);
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_exec(h, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
        ret =
            cct_error_set(err, CCT_EDB, "migration %03d failed: %s", m->version, sqlite3_errmsg(h));
        goto out;
    }
    if (sqlite3_prepare_v2(h,
                           "INSERT INTO schema_migrations (version, applied_at) "
                           "VALUES (?1, ?2)",
                           -1, &s, NULL) != SQLITE_OK) {
        ret = sqlite_pool_fail(c, "migrate", err);
        goto out;
    }
    sqlite3_bind_int(s, 1, m->version);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
    if (sqlite3_step(s) != SQLITE_DONE) {
        ret = sqlite_pool_fail(c, "migrate", err);
        goto out;
    }
    log_info("db", "event=migrated version=%d", m->version);
out:
    sqlite3_finalize(s);
    if (in_tx) {
        if (ret)
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        else if ((ret = sqlite_pool_exec(c, "COMMIT", err)))
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    }
    return ret;
}

static cct_err sq_migrate(struct db *db, struct cct_error *err)
{
    struct sqlite_pool_conn *c;
    cct_err ret = sqlite_pool_conn(((struct sq_db *)db)->pool, &c, err);
    for (size_t i = 0; !ret && i < sizeof migrations / sizeof migrations[0]; i++)
        ret = migrate_one(c, &migrations[i], err);
    return ret;
}

/* ---- users ---- */

static cct_err sq_user_create(struct db *db, struct user *u, struct cct_error *err)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_USER_INSERT, &c, &s, err);
    if (ret)
        return ret;
    if (!u->created_at)
        u->created_at = (int64_t)time(NULL);
    BIND_FIELD(s, 1, u->username);
    BIND_FIELD(s, 2, u->email);
    BIND_FIELD(s, 3, u->password_hash);
    sqlite3_bind_int64(s, 4, u->created_at);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        u->id = sqlite3_last_insert_rowid(sqlite_pool_handle(c));
    } else if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        if (strstr(sqlite3_errmsg(sqlite_pool_handle(c)), "users.email"))
            ret = cct_error_set(err, CCT_ECONFLICT, "this e-mail address is already registered");
        else
            ret = cct_error_set(err, CCT_ECONFLICT, "this username is already taken");
    } else {
        ret = sqlite_pool_fail(c, "user_create", err);
    }
    sqlite_pool_done(s);
    return ret;
}

static cct_err user_one(struct db *db, enum st_id id, const char *name, int64_t uid,
                        struct user *out)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    if (name && strnlen(name, sizeof out->username) >= sizeof out->username)
        return CCT_ENOTFOUND; /* longer than any stored name */
    cct_err ret = begin(db, id, &c, &s, NULL);
    if (ret)
        return ret;
    if (name)
        bind_str(s, 1, name, sizeof out->username);
    else
        sqlite3_bind_int64(s, 1, uid);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        row_user(s, out);
    else if (rc == SQLITE_DONE)
        ret = CCT_ENOTFOUND;
    else
        ret = sqlite_pool_fail(c, "user_get", NULL);
    sqlite_pool_done(s);
    return ret;
}

static cct_err sq_user_by_name(struct db *db, const char *username, struct user *out)
{
    return user_one(db, ST_USER_BY_NAME, username, 0, out);
}

static cct_err sq_user_by_id(struct db *db, int64_t id, struct user *out)
{
    return user_one(db, ST_USER_BY_ID, NULL, id, out);
}

/* ---- tasks ---- */

static cct_err sq_task_create(struct db *db, struct task *t, struct cct_error *err)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_INSERT, &c, &s, err);
    if (ret)
        return ret;
    if (!t->created_at)
        t->created_at = (int64_t)time(NULL);
    t->progress = clamp_progress(t->progress);
    sqlite3_bind_int64(s, 1, t->user_id);
    BIND_FIELD(s, 2, t->file_name);
    BIND_FIELD(s, 3, t->original_format);
    BIND_FIELD(s, 4, t->new_format);
    BIND_FIELD(s, 5, t->preset);
    sqlite3_bind_text(s, 6, task_status_name(t->status), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, t->progress);
    BIND_FIELD(s, 8, t->error);
    sqlite3_bind_int64(s, 9, t->original_size);
    sqlite3_bind_int64(s, 10, t->result_size);
    sqlite3_bind_int64(s, 11, t->created_at);
    sqlite3_bind_int64(s, 12, t->started_at);
    sqlite3_bind_int64(s, 13, t->finished_at);
    BIND_FIELD(s, 14, t->original_key);
    BIND_FIELD(s, 15, t->result_key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        t->id = sqlite3_last_insert_rowid(sqlite_pool_handle(c));
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = cct_error_set(err, CCT_ENOTFOUND, "the task's user does not exist");
    else
        ret = sqlite_pool_fail(c, "task_create", err);
    sqlite_pool_done(s);
    return ret;
}

static cct_err sq_task_get(struct db *db, int64_t id, int64_t user_id, struct task *out)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_GET, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (user_id != 0 && sqlite3_column_int64(s, 1) != user_id)
            ret = CCT_ENOTFOUND;
        else
            row_task(s, out);
    } else if (rc == SQLITE_DONE) {
        ret = CCT_ENOTFOUND;
    } else {
        ret = sqlite_pool_fail(c, "task_get", NULL);
    }
    sqlite_pool_done(s);
    return ret;
}

static cct_err sq_task_list(struct db *db, int64_t user_id, int max, int newest_first,
                            struct task *out, int *n)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    enum st_id id = user_id ? (newest_first ? ST_TASK_LIST_USER_DESC : ST_TASK_LIST_USER_ASC)
                            : (newest_first ? ST_TASK_LIST_ALL_DESC : ST_TASK_LIST_ALL_ASC);
    *n = 0;
    if (max <= 0)
        return CCT_OK;
    cct_err ret = begin(db, id, &c, &s, NULL);
    if (ret)
        return ret;
    if (user_id)
        sqlite3_bind_int64(s, 1, user_id);
    return list_rows(c, s, "task_list", max, out, n);
}

static cct_err sq_task_by_filename(struct db *db, int64_t user_id, const char *name,
                                   struct task *out)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    char stem[sizeof out->file_name];
    char result[sizeof out->file_name + sizeof out->new_format + 8];
    size_t len = strnlen(name, sizeof stem);
    if (len == 0 || len >= sizeof stem)
        return CCT_ENOTFOUND;
    const char *dot = strrchr(name, '.');
    /* a result name is <stem of file_name>.<ext>: candidates start with name's stem */
    int stem_len = dot ? (int)(dot - name) : (int)len;
    snprintf(stem, sizeof stem, "%.*s", stem_len, name);

    cct_err ret = begin(db, ST_TASK_BY_FILENAME, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, stem, -1, SQLITE_STATIC);
    int rc;
    ret = CCT_ENOTFOUND;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_task(s, out);
        if (strcmp(out->file_name, name) == 0)
            ret = CCT_OK;
        else if (dot) {
            task_result_name(out, result, sizeof result);
            if (strcmp(result, name) == 0)
                ret = CCT_OK;
        }
        if (ret == CCT_OK)
            break;
    }
    if (ret != CCT_OK) {
        if (rc != SQLITE_DONE)
            ret = sqlite_pool_fail(c, "task_by_filename", NULL);
        memset(out, 0, sizeof *out);
    }
    sqlite_pool_done(s);
    return ret;
}

/* Steps a write statement; CCT_ENOTFOUND when it changed no row. */
static cct_err step_write(struct sqlite_pool_conn *c, sqlite3_stmt *s, const char *what,
                          struct cct_error *err)
{
    cct_err ret = sqlite_pool_step_done(c, s, what, err);
    if (!ret && sqlite3_changes(sqlite_pool_handle(c)) == 0)
        ret = CCT_ENOTFOUND;
    return ret;
}

static cct_err sq_task_update(struct db *db, const struct task *t)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_UPDATE, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, t->id);
    sqlite3_bind_text(s, 2, task_status_name(t->status), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, clamp_progress(t->progress));
    BIND_FIELD(s, 4, t->error);
    sqlite3_bind_int64(s, 5, t->original_size);
    sqlite3_bind_int64(s, 6, t->result_size);
    sqlite3_bind_int64(s, 7, t->started_at);
    sqlite3_bind_int64(s, 8, t->finished_at);
    BIND_FIELD(s, 9, t->original_key);
    BIND_FIELD(s, 10, t->result_key);
    return step_write(c, s, "task_update", NULL);
}

static cct_err sq_task_transition(struct db *db, int64_t id, enum task_status from,
                                  enum task_status to)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_TRANSITION, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, task_status_name(from), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, task_status_name(to), -1, SQLITE_STATIC);
    return step_write(c, s, "task_transition", NULL);
}

static cct_err sq_task_set_progress(struct db *db, int64_t id, int progress)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_PROGRESS, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, clamp_progress(progress));
    return step_write(c, s, "task_set_progress", NULL);
}

static cct_err sq_task_delete(struct db *db, int64_t id)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(db, ST_TASK_DELETE, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, id);
    return step_write(c, s, "task_delete", NULL);
}

static cct_err sq_task_count_active(struct db *db, int64_t user_id, int *n)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *n = 0;
    cct_err ret =
        begin(db, user_id ? ST_TASK_COUNT_ACTIVE_USER : ST_TASK_COUNT_ACTIVE_ALL, &c, &s, NULL);
    if (ret)
        return ret;
    if (user_id)
        sqlite3_bind_int64(s, 1, user_id);
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = sqlite3_column_int(s, 0);
    else
        ret = sqlite_pool_fail(c, "task_count_active", NULL);
    sqlite_pool_done(s);
    return ret;
}

static cct_err sq_task_list_by_status(struct db *db, enum task_status status, int max,
                                      struct task *out, int *n)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *n = 0;
    if (max <= 0)
        return CCT_OK;
    cct_err ret = begin(db, ST_TASK_LIST_BY_STATUS, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_text(s, 1, task_status_name(status), -1, SQLITE_STATIC);
    return list_rows(c, s, "task_list_by_status", max, out, n);
}

static cct_err sq_task_list_expiring(struct db *db, int64_t before, int max, struct task *out,
                                     int *n)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *n = 0;
    if (max <= 0)
        return CCT_OK;
    cct_err ret = begin(db, ST_TASK_LIST_EXPIRING, &c, &s, NULL);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, before);
    return list_rows(c, s, "task_list_expiring", max, out, n);
}

static cct_err sq_task_stats(struct db *db, int64_t counts[TASK_STATUS_COUNT], double *conv_seconds,
                             int64_t *conv_count)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    int rc;
    memset(counts, 0, sizeof(int64_t) * TASK_STATUS_COUNT);
    *conv_seconds = 0;
    *conv_count = 0;
    cct_err ret = begin(db, ST_TASK_STATS_COUNTS, &c, &s, NULL);
    if (ret)
        return ret;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(s, 0);
        int st = name ? task_status_parse((const char *)name) : -1;
        if (st >= 0)
            counts[st] = sqlite3_column_int64(s, 1);
    }
    if (rc != SQLITE_DONE)
        ret = sqlite_pool_fail(c, "task_stats", NULL);
    sqlite_pool_done(s);
    if (ret || (ret = sqlite_pool_stmt(c, ST_TASK_STATS_TIME, &s, NULL)))
        return ret;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *conv_seconds = sqlite3_column_double(s, 0);
        *conv_count = sqlite3_column_int64(s, 1);
    } else {
        ret = sqlite_pool_fail(c, "task_stats", NULL);
    }
    sqlite_pool_done(s);
    return ret;
}

/* ---- open / close ---- */

static void sq_close(struct db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    if (!d)
        return;
    sqlite_pool_destroy(&d->pool);
    free(d);
}

cct_err db_sqlite_open(const char *path, struct db **out, struct cct_error *err)
{
    *out = NULL;
    if (!path || !*path || strlen(path) > 4096)
        return cct_error_set(err, CCT_EINVAL, "the SQLite database path is empty or too long");
    struct sq_db *d = calloc(1, sizeof *d);
    if (!d)
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the database");
    d->base.ops = &sqlite_ops;
    /* opens this thread's connection now so that a bad path fails at start-up */
    cct_err ret = sqlite_pool_create(path, &pool_config, &d->pool, err);
    if (ret)
        free(d);
    else
        *out = &d->base;
    return ret;
}

static const struct db_ops sqlite_ops = {
    .name = "sqlite",
    .migrate = sq_migrate,
    .close = sq_close,
    .user_create = sq_user_create,
    .user_by_name = sq_user_by_name,
    .user_by_id = sq_user_by_id,
    .task_create = sq_task_create,
    .task_get = sq_task_get,
    .task_list = sq_task_list,
    .task_by_filename = sq_task_by_filename,
    .task_update = sq_task_update,
    .task_transition = sq_task_transition,
    .task_set_progress = sq_task_set_progress,
    .task_delete = sq_task_delete,
    .task_count_active = sq_task_count_active,
    .task_list_by_status = sq_task_list_by_status,
    .task_list_expiring = sq_task_list_expiring,
    .task_stats = sq_task_stats,
};
