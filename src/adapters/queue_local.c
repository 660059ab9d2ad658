/* queue_local.c - a durable job queue for one machine, in its own SQLite file (struct
 * queue_ops of queue.h). The serve process pushes from many threads, N worker processes pop:
 * a pop takes the oldest waiting job inside BEGIN IMMEDIATE, so each job goes to exactly one
 * worker. A taken job stays in the file, leased to its worker, until acked or requeued. Each
 * thread gets its own connection from sqlite_pool.c (WAL, busy timeout, synchronous FULL) with
 * cached statements. */
#include "adapters/queue.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/sqlite_pool.h"

#define POLL_FIRST_MS 5
#define POLL_MAX_MS 100

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " task_id INTEGER PRIMARY KEY,"
    " state TEXT NOT NULL CHECK (state IN ('waiting', 'taken')),"
    " owner INTEGER NOT NULL DEFAULT 0,"
    " enqueued_at INTEGER NOT NULL,"
    " taken_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (state, enqueued_at, task_id);";

enum qst_id {
    QST_PUSH,
    QST_PEEK,
    QST_BEGIN,
    QST_TAKE,
    QST_COMMIT,
    QST_ROLLBACK,
    QST_ACK,
    QST_REQUEUE_ALL,
    QST_REQUEUE_OWNER,
    QST_DEPTH,
    QST_COUNT
};

static const char *const qst_sql[QST_COUNT] = {
    [QST_PUSH] = "INSERT OR IGNORE INTO jobs (task_id, state, owner, enqueued_at, taken_at) "
                 "VALUES (?1, 'waiting', 0, ?2, 0)",
    [QST_PEEK] = "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'waiting')",
    [QST_BEGIN] = "BEGIN IMMEDIATE",
    [QST_TAKE] = "UPDATE jobs SET state = 'taken', owner = ?1, taken_at = ?2 WHERE task_id = "
                 "(SELECT task_id FROM jobs WHERE state = 'waiting' "
                 "ORDER BY enqueued_at, task_id LIMIT 1) RETURNING task_id",
    [QST_COMMIT] = "COMMIT",
    [QST_ROLLBACK] = "ROLLBACK",
    [QST_ACK] = "DELETE FROM jobs WHERE task_id = ?1",
    [QST_REQUEUE_ALL] = "UPDATE jobs SET state = 'waiting', owner = 0, taken_at = 0 "
                        "WHERE state = 'taken'",
    [QST_REQUEUE_OWNER] = "UPDATE jobs SET state = 'waiting', owner = 0, taken_at = 0 "
                          "WHERE state = 'taken' AND owner = ?1",
    [QST_DEPTH] = "SELECT coalesce(sum(state = 'waiting'), 0), coalesce(sum(state = 'taken'), 0) "
                  "FROM jobs",
};

/* synchronous FULL: an accepted job survives a power cut */
static const char *const setup_sql[] = {
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    schema_sql,
    NULL,
};

static const struct sqlite_pool_config pool_config = {
    .module = "queue",
    .noun = "queue",
    .code = CCT_EQUEUE,
    .setup = setup_sql,
    .stmts = qst_sql,
    .nstmts = QST_COUNT,
};

struct local_queue {
    struct queue base;
    struct sqlite_pool *pool; /* one connection per thread */
};

static const struct queue_ops local_ops;

/* This thread's connection and the cached statement id: the start of every call. */
static cct_err begin(struct queue *queue, enum qst_id id, struct sqlite_pool_conn **c,
                     sqlite3_stmt **s)
{
    return sqlite_pool_begin(((struct local_queue *)queue)->pool, (int)id, c, s, NULL);
}

/* Runs a statement without result rows, ?1..?n bound to the n values of args. */
static cct_err run(struct queue *queue, enum qst_id id, const char *what, int n,
                   const int64_t *args)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(queue, id, &c, &s);
    if (ret)
        return ret;
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(s, i + 1, (sqlite3_int64)args[i]);
    return sqlite_pool_step_done(c, s, what, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- operations ---- */

static cct_err lq_push(struct queue *queue, int64_t task_id)
{
    const int64_t args[] = {task_id, (int64_t)time(NULL)};
    return run(queue, QST_PUSH, "push", 2, args);
}

/* 1 when some job is waiting: a plain read, so that idle workers do not take the write lock. */
static cct_err any_waiting(struct queue *queue, int *yes)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *yes = 0;
    cct_err ret = begin(queue, QST_PEEK, &c, &s);
    if (ret)
        return ret;
    if (sqlite3_step(s) == SQLITE_ROW)
        *yes = sqlite3_column_int(s, 0);
    else
        ret = sqlite_pool_fail(c, "pop", NULL);
    sqlite_pool_done(s);
    return ret;
}

/* One attempt: takes the oldest waiting job for owner; *task_id = 0 when there is none. */
static cct_err take_one(struct queue *queue, pid_t owner, int64_t *task_id)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    int rc;
    *task_id = 0;
    cct_err ret = run(queue, QST_BEGIN, "pop", 0, NULL);
    if (ret)
        return ret;
    if ((ret = begin(queue, QST_TAKE, &c, &s)))
        goto out;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)owner);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *task_id = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE)
        ret = sqlite_pool_fail(c, "pop", NULL);
    sqlite_pool_done(s);
out:
    if (!ret)
        ret = run(queue, QST_COMMIT, "pop", 0, NULL);
    if (ret) {
        *task_id = 0;
        run(queue, QST_ROLLBACK, "pop", 0, NULL);
    }
    return ret;
}

static cct_err lq_pop(struct queue *queue, pid_t owner, int timeout_ms, int64_t *task_id)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int delay = POLL_FIRST_MS;
    *task_id = 0;
    for (;;) {
        int waiting;
        cct_err ret = any_waiting(queue, &waiting);
        if (ret)
            return ret;
        if (waiting) {
            if ((ret = take_one(queue, owner, task_id)))
                return ret;
            if (*task_id)
                return CCT_OK;
            continue; /* another worker was faster: look again at once */
        }
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return CCT_ETIMEOUT;
        usleep((useconds_t)(left < delay ? left : delay) * 1000);
        delay = delay * 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 2;
    }
}

static cct_err lq_ack(struct queue *queue, int64_t task_id)
{
    return run(queue, QST_ACK, "ack", 1, &task_id);
}

static cct_err lq_requeue_stale(struct queue *queue, pid_t dead_owner, int *n)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *n = 0;
    cct_err ret = begin(queue, dead_owner ? QST_REQUEUE_OWNER : QST_REQUEUE_ALL, &c, &s);
    if (ret)
        return ret;
    if (dead_owner)
        sqlite3_bind_int64(s, 1, (sqlite3_int64)dead_owner);
    if (!(ret = sqlite_pool_step_done(c, s, "requeue_stale", NULL)))
        *n = sqlite3_changes(sqlite_pool_handle(c));
    return ret;
}

static cct_err lq_depth(struct queue *queue, int64_t *waiting, int64_t *taken)
{
    struct sqlite_pool_conn *c;
    sqlite3_stmt *s = NULL;
    *waiting = *taken = 0;
    cct_err ret = begin(queue, QST_DEPTH, &c, &s);
    if (ret)
        return ret;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *waiting = sqlite3_column_int64(s, 0);
        *taken = sqlite3_column_int64(s, 1);
    } else {
        ret = sqlite_pool_fail(c, "depth", NULL);
    }
    sqlite_pool_done(s);
    return ret;
}

static void lq_close(struct queue *queue)
{
    struct local_queue *q = (struct local_queue *)queue;
    if (!q)
        return;
    sqlite_pool_destroy(&q->pool);
    free(q);
}

cct_err queue_local_open(const char *path, struct queue **out, struct cct_error *err)
{
    *out = NULL;
    if (!path || !*path || strlen(path) > 4096)
        return cct_error_set(err, CCT_EINVAL, "the queue file path is empty or too long");
    struct local_queue *q = calloc(1, sizeof *q);
    if (!q)
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the queue");
    q->base.ops = &local_ops;
    /* the first connection creates the table, and shows a bad path at start-up */
    cct_err ret = sqlite_pool_create(path, &pool_config, &q->pool, err);
    if (ret)
        free(q);
    else
        *out = &q->base;
    return ret;
}

static const struct queue_ops local_ops = {
    .name = "local",
    .push = lq_push,
    .pop = lq_pop,
    .ack = lq_ack,
    .requeue_stale = lq_requeue_stale,
    .depth = lq_depth,
    .close = lq_close,
};
