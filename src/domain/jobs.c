/* jobs.c - one conversion job (stub: not written yet) */
#include "domain/jobs.h"

enum job_outcome jobs_run(struct app *app, int64_t task_id, const char *work_root,
                          volatile sig_atomic_t *stop)
{
    return JOB_RETRY;
}
