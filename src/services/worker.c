/* worker.c - worker loop (stub: not written yet) */
#include "services/worker.h"

int worker_loop(struct app *app, volatile sig_atomic_t *stop) { return 1; }
