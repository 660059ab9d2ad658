/* supervisor.c - worker supervisor (stub: not written yet) */
#include "services/worker.h"

cct_err supervisor_start(struct app *app, const char *self, int n, struct supervisor **out,
                         struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
void supervisor_stop(struct supervisor **s, int grace_seconds) {}
