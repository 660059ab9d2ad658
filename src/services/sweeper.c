/* sweeper.c - retention sweeper (stub: not written yet) */
#include "services/worker.h"

cct_err sweeper_start(struct app *app, int interval_seconds, struct sweeper **out,
                      struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
void sweeper_stop(struct sweeper **s) {}
