/* worker.c - the worker loop: takes a task id from the queue, runs the job (domain/jobs.h) in
 * a private folder under DATA_DIR/work, and acks it, until *stop is set. A job interrupted by
 * shutdown (JOB_RETRY) is handed back at once: acked and pushed again, so another worker (or
 * the next start) runs it; if this process dies between the two, serve's recovery queues the
 * task again from the database (tasks_recover), so nothing accepted is lost. */
#include "services/worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "domain/jobs.h"
#include "util/config.h"
#include "util/log.h"

#define POP_TIMEOUT_MS 1000

/* Sleeps about ms milliseconds, returning early when *stop is set (a signal interrupts it). */
static void nap(int ms, volatile sig_atomic_t *stop)
{
    for (int waited = 0; waited < ms && !*stop; waited += 100) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int make_work_root(char *out, size_t n)
{
    int len = snprintf(out, n, "%s/work", cfg.data_dir);
    if (len < 0 || (size_t)len >= n) {
        log_error("worker", "msg=\"DATA_DIR too long for the work folder\"");
        return -1;
    }
    if (mkdir(out, 0700) < 0 && errno != EEXIST) {
        log_error("worker", "msg=\"cannot create work folder\" errno=\"%s\"", strerror(errno));
        return -1;
    }
    return 0;
}

/* The job was interrupted: forget our lease and put the id back at the end of the queue. */
static void hand_back(struct app *app, int64_t id)
{
    cct_err rc = app->queue->ops->ack(app->queue, id);
    if (rc == CCT_OK)
        rc = app->queue->ops->push(app->queue, id);
    if (rc != CCT_OK)
        log_warn("worker", "task=%lld msg=\"could not hand the job back; recovery will\" err=%s",
                 (long long)id, cct_err_name(rc));
    else
        log_info("worker", "task=%lld msg=\"interrupted, job handed back to the queue\"",
                 (long long)id);
}

int worker_loop(struct app *app, volatile sig_atomic_t *stop)
{
    char work_root[1200];
    if (make_work_root(work_root, sizeof work_root) < 0)
        return 1;
    pid_t self = getpid();
    log_info("worker", "msg=\"ready\" work=%s", work_root);

    while (!*stop) {
        int64_t id = 0;
        cct_err rc = app->queue->ops->pop(app->queue, self, POP_TIMEOUT_MS, &id);
        if (rc == CCT_ETIMEOUT)
            continue;
        if (rc != CCT_OK) {
            log_error("worker", "msg=\"queue pop failed\" err=%s", cct_err_name(rc));
            nap(1000, stop);
            continue;
        }
        log_info("worker", "task=%lld msg=\"job taken\"", (long long)id);
        enum job_outcome out = jobs_run(app, id, work_root, stop);
        switch (out) {
        case JOB_DONE:
        case JOB_GONE:
            rc = app->queue->ops->ack(app->queue, id);
            if (rc != CCT_OK)
                log_warn("worker", "task=%lld msg=\"ack failed\" err=%s", (long long)id,
                         cct_err_name(rc));
            log_info("worker", "task=%lld msg=\"job %s\"", (long long)id,
                     out == JOB_DONE ? "finished" : "gone (task deleted)");
            break;
        case JOB_RETRY:
            hand_back(app, id);
            if (!*stop) /* a transient failure, not shutdown: do not spin on it */
                nap(1000, stop);
            break;
        }
    }
    log_info("worker", "msg=\"stopped\"");
    return 0;
}
