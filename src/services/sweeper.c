/* sweeper.c - the retention sweeper: a thread in serve that calls tasks_sweep() at start and
 * then every SWEEP_INTERVAL_SECONDS, deleting the files of tasks older than RETENTION_HOURS.
 * It sleeps on a condition variable (CLOCK_MONOTONIC), so sweeper_stop() wakes it at once. */
#include "services/worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/tasks.h"
#include "util/log.h"

struct sweeper {
    struct app *app;
    int interval;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
};

static void *sweep_loop(void *arg)
{
    struct sweeper *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        int n = 0;
        cct_err rc = tasks_sweep(s->app, (int64_t)time(NULL), &n);
        if (rc != CCT_OK)
            log_error("sweeper", "msg=\"retention sweep failed\" err=%s", cct_err_name(rc));
        else if (n > 0)
            log_info("sweeper", "expired=%d msg=\"files of old tasks deleted\"", n);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->interval;
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
            ; /* woken without a stop (spurious): keep waiting until the deadline */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

cct_err sweeper_start(struct app *app, int interval_seconds, struct sweeper **out,
                      struct cct_error *err)
{
    *out = NULL;
    if (interval_seconds < 1)
        return cct_error_set(err, CCT_EINVAL, "sweeper: interval must be at least 1 second");
    struct sweeper *s = calloc(1, sizeof *s);
    if (!s)
        return cct_error_set(err, CCT_ENOMEM, "sweeper: out of memory");
    s->app = app;
    s->interval = interval_seconds;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&s->thread, NULL, sweep_loop, s);
    if (e != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return cct_error_set(err, CCT_EINTERNAL, "sweeper: cannot start thread: %s", strerror(e));
    }
    log_info("sweeper", "interval=%ds msg=\"retention sweeper started\"", interval_seconds);
    *out = s;
    return CCT_OK;
}

void sweeper_stop(struct sweeper **sp)
{
    if (!sp || !*sp)
        return;
    struct sweeper *s = *sp;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *sp = NULL;
}
