/* queue.h - the job queue interface: task ids go in, workers take them out. Implementations:
 * queue_local.c (a durable SQLite file in DATA_DIR, one machine), later Redis. A job taken is
 * leased to the taking process; it is either acked, or handed back by queue_requeue_stale()
 * when that process is gone (crash, restart), so an accepted task is never lost. */
#ifndef CCT_QUEUE_H
#define CCT_QUEUE_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct queue;

struct queue_ops {
    const char *name;
    /* Adds a job; pushing an id already waiting is a no-op. */
    cct_err (*push)(struct queue *q, int64_t task_id);
    /* Takes the oldest waiting job for worker `owner` (a pid), waiting up to timeout_ms.
     * CCT_OK with *task_id set, or CCT_ETIMEOUT when nothing came. */
    cct_err (*pop)(struct queue *q, pid_t owner, int timeout_ms, int64_t *task_id);
    /* The job is done (succeeded, failed for good, or cancelled): forget it. */
    cct_err (*ack)(struct queue *q, int64_t task_id);
    /* Hands back every job taken by an owner that is not alive (owner 0 = every owner);
     * *n = how many. Called by serve at start and when a worker dies. */
    cct_err (*requeue_stale)(struct queue *q, pid_t dead_owner, int *n);
    /* Number of jobs waiting and taken, for /metrics. */
    cct_err (*depth)(struct queue *q, int64_t *waiting, int64_t *taken);
    void (*close)(struct queue *q);
};

struct queue {
    const struct queue_ops *ops;
};

/* Opens the queue named by url: "local" (file in data_dir), later "redis://...". */
cct_err queue_open(const char *url, const char *data_dir, struct queue **out,
                   struct cct_error *err);
void queue_close(struct queue **q);

cct_err queue_local_open(const char *path, struct queue **out, struct cct_error *err);

#endif
