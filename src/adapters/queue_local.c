/* queue_local.c - a durable job queue for one machine, in its own SQLite file (struct
 * queue_ops of queue.h). The serve process pushes from many threads, N worker processes pop:
 * a pop takes the oldest waiting job inside BEGIN IMMEDIATE, so each job goes to exactly one
 * worker. A taken job stays in the file, leased to its worker, until acked or requeued. Each
 * thread gets its own connection (WAL, busy timeout) with cached statements. */
#include "adapters/queue.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000
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

struct local_queue;

struct lq_conn {
    sqlite3 *h;
    pid_t pid; /* a connection inherited over fork() is the parent's: never used */
    struct local_queue *q;
    struct lq_conn *next;
    sqlite3_stmt *st[QST_COUNT];
};

struct local_queue {
    struct queue base;
    char *path;
    pthread_key_t key;
    pthread_mutex_t mu; /* guards conns */
    struct lq_conn *conns;
};

static const struct queue_ops local_ops;

/* ---- connections ---- */

static void conn_free(struct lq_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < QST_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->h);
    free(c);
}

static void conn_release(void *p)
{
    struct lq_conn *c = p;
    struct local_queue *q = c->q;
    pthread_mutex_lock(&q->mu);
    for (struct lq_conn **pp = &q->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (c->pid == getpid())
        conn_free(c);
}

static cct_err conn_exec(sqlite3 *h, const char *sql, struct cct_error *err)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || tries >= 50)
            break;
        usleep(20000);
    }
    if (rc != SQLITE_OK)
        return cct_error_set(err, CCT_EQUEUE, "queue setup failed: %s", sqlite3_errmsg(h));
    return CCT_OK;
}

static cct_err conn_get(struct local_queue *q, struct lq_conn **out, struct cct_error *err)
{
    cct_err ret = CCT_OK;
    struct lq_conn *c = pthread_getspecific(q->key);
    if (c && c->pid == getpid()) {
        *out = c;
        return CCT_OK;
    }
    *out = NULL;
    if (!(c = calloc(1, sizeof *c)))
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the queue");
    c->q = q;
    c->pid = getpid();
    int rc = sqlite3_open_v2(q->path, &c->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        ret = cct_error_set(err, CCT_EQUEUE, "cannot open queue %.200s: %s", q->path,
                            c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS);
    /* synchronous FULL: an accepted job survives a power cut */
    if ((ret = conn_exec(c->h, "PRAGMA journal_mode = WAL", err)) ||
        (ret = conn_exec(c->h, "PRAGMA synchronous = FULL", err)) ||
        (ret = conn_exec(c->h, schema_sql, err)))
        goto out;
    if (pthread_setspecific(q->key, c) != 0) {
        ret = cct_error_set(err, CCT_ENOMEM, "out of memory opening the queue");
        goto out;
    }
    pthread_mutex_lock(&q->mu);
    c->next = q->conns;
    q->conns = c;
    pthread_mutex_unlock(&q->mu);
out:
    if (ret) {
        log_error("queue", "event=open_failed msg=\"%s\"", err ? err->msg : "");
        conn_free(c);
        c = NULL;
    }
    *out = c;
    return ret;
}

static cct_err begin(struct queue *queue, enum qst_id id, struct lq_conn **c, sqlite3_stmt **s)
{
    cct_err ret = conn_get((struct local_queue *)queue, c, NULL);
    if (ret)
        return ret;
    if (!(*c)->st[id] && sqlite3_prepare_v3((*c)->h, qst_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                            &(*c)->st[id], NULL) != SQLITE_OK) {
        (*c)->st[id] = NULL;
        log_error("queue", "event=prepare_failed stmt=%d msg=\"%s\"", (int)id,
                  sqlite3_errmsg((*c)->h));
        return CCT_EQUEUE;
    }
    *s = (*c)->st[id];
    return CCT_OK;
}

static void done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

static cct_err fail(struct lq_conn *c, const char *what)
{
    log_error("queue", "event=query_failed op=%s code=%d msg=\"%s\"", what,
              sqlite3_extended_errcode(c->h), sqlite3_errmsg(c->h));
    return CCT_EQUEUE;
}

/* Runs a statement without results (BEGIN, COMMIT, ...). */
static cct_err run(struct queue *queue, enum qst_id id, const char *what)
{
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(queue, id, &c, &s);
    if (ret)
        return ret;
    if (sqlite3_step(s) != SQLITE_DONE)
        ret = fail(c, what);
    done(s);
    return ret;
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
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(queue, QST_PUSH, &c, &s);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, task_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
    if (sqlite3_step(s) != SQLITE_DONE)
        ret = fail(c, "push");
    done(s);
    return ret;
}

/* 1 when some job is waiting: a plain read, so that idle workers do not take the write lock. */
static cct_err any_waiting(struct queue *queue, int *yes)
{
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    *yes = 0;
    cct_err ret = begin(queue, QST_PEEK, &c, &s);
    if (ret)
        return ret;
    if (sqlite3_step(s) == SQLITE_ROW)
        *yes = sqlite3_column_int(s, 0);
    else
        ret = fail(c, "pop");
    done(s);
    return ret;
}

/* One attempt: takes the oldest waiting job for owner; *task_id = 0 when there is none. */
static cct_err take_one(struct queue *queue, pid_t owner, int64_t *task_id)
{
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    int rc;
    *task_id = 0;
    cct_err ret = run(queue, QST_BEGIN, "pop");
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
        ret = fail(c, "pop");
    done(s);
out:
    if (!ret)
        ret = run(queue, QST_COMMIT, "pop");
    if (ret) {
        *task_id = 0;
        run(queue, QST_ROLLBACK, "pop");
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
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    cct_err ret = begin(queue, QST_ACK, &c, &s);
    if (ret)
        return ret;
    sqlite3_bind_int64(s, 1, task_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        ret = fail(c, "ack");
    done(s);
    return ret;
}

static cct_err lq_requeue_stale(struct queue *queue, pid_t dead_owner, int *n)
{
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    *n = 0;
    cct_err ret = begin(queue, dead_owner ? QST_REQUEUE_OWNER : QST_REQUEUE_ALL, &c, &s);
    if (ret)
        return ret;
    if (dead_owner)
        sqlite3_bind_int64(s, 1, (sqlite3_int64)dead_owner);
    if (sqlite3_step(s) != SQLITE_DONE)
        ret = fail(c, "requeue_stale");
    else
        *n = sqlite3_changes(c->h);
    done(s);
    return ret;
}

static cct_err lq_depth(struct queue *queue, int64_t *waiting, int64_t *taken)
{
    struct lq_conn *c;
    sqlite3_stmt *s = NULL;
    *waiting = *taken = 0;
    cct_err ret = begin(queue, QST_DEPTH, &c, &s);
    if (ret)
        return ret;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *waiting = sqlite3_column_int64(s, 0);
        *taken = sqlite3_column_int64(s, 1);
    } else {
        ret = fail(c, "depth");
    }
    done(s);
    return ret;
}

static void lq_close(struct queue *queue)
{
    struct local_queue *q = (struct local_queue *)queue;
    if (!q)
        return;
    pthread_setspecific(q->key, NULL);
    pthread_key_delete(q->key);
    pthread_mutex_lock(&q->mu);
    struct lq_conn *c = q->conns;
    q->conns = NULL;
    pthread_mutex_unlock(&q->mu);
    pid_t self = getpid();
    while (c) {
        struct lq_conn *next = c->next;
        if (c->pid == self)
            conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&q->mu);
    free(q->path);
    free(q);
}

cct_err queue_local_open(const char *path, struct queue **out, struct cct_error *err)
{
    struct lq_conn *c;
    *out = NULL;
    if (!path || !*path || strlen(path) > 4096)
        return cct_error_set(err, CCT_EINVAL, "the queue file path is empty or too long");
    struct local_queue *q = calloc(1, sizeof *q);
    if (!q)
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the queue");
    q->base.ops = &local_ops;
    q->path = strdup(path);
    if (!q->path || pthread_key_create(&q->key, conn_release) != 0) {
        free(q->path);
        free(q);
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening the queue");
    }
    pthread_mutex_init(&q->mu, NULL);
    /* the first connection creates the table, and shows a bad path at start-up */
    cct_err ret = conn_get(q, &c, err);
    if (ret)
        lq_close(&q->base);
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
