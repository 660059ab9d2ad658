/* jobs.h - running one conversion job for a worker: load the task, mark it processing, fetch
 * the original, convert it in the sandbox with progress written back, store the result and
 * mark the task processed or failed. Stops early when the task is deleted or *stop is set. */
#ifndef CCT_JOBS_H
#define CCT_JOBS_H

#include <signal.h>
#include <stdint.h>

#include "domain/app.h"

enum job_outcome {
    JOB_DONE,  /* processed or failed for good: ack the queue */
    JOB_GONE,  /* the task was deleted: ack */
    JOB_RETRY, /* interrupted by shutdown: leave it for another worker */
};

/* work_root: folder under which the job gets its private temporary directory. */
enum job_outcome jobs_run(struct app *app, int64_t task_id, const char *work_root,
                          volatile sig_atomic_t *stop);

#endif
