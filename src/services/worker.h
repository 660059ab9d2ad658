/* worker.h - the worker loop: take a task id from the queue, run the job (domain/jobs.h),
 * ack it; until *stop is set. Also the supervisor that serve uses to keep WORKERS worker
 * processes alive and hand back the jobs of one that died, and the retention sweeper thread. */
#ifndef CCT_WORKER_H
#define CCT_WORKER_H

#include <signal.h>

#include "domain/app.h"

/* Runs jobs until *stop; returns 0 on a clean stop. */
int worker_loop(struct app *app, volatile sig_atomic_t *stop);

struct supervisor;
/* Forks and execs `self worker` n times and restarts any that exit early. */
cct_err supervisor_start(struct app *app, const char *self, int n, struct supervisor **out,
                         struct cct_error *err);
/* SIGTERM to every worker, waits up to grace_seconds, then SIGKILL and requeue; frees. */
void supervisor_stop(struct supervisor **s, int grace_seconds);

struct sweeper;
cct_err sweeper_start(struct app *app, int interval_seconds, struct sweeper **out,
                      struct cct_error *err);
void sweeper_stop(struct sweeper **s);

#endif
