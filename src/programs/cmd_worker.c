/* cmd_worker.c - `cct worker`: one conversion worker process. Reads the configuration, opens
 * the adapters (no migration: serve or `cct migrate` does that) and runs the worker loop until
 * SIGTERM or SIGINT; a job in progress is cancelled and handed back to the queue. */
#include "programs/commands.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "domain/app.h"
#include "domain/convert/engines.h"
#include "services/worker.h"
#include "util/config.h"
#include "util/log.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int cmd_worker(int argc, char **argv)
{
    if (argc > 1) {
        FILE *out = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? stdout : stderr;
        fprintf(out, "Usage: cct worker\n\nRuns conversion jobs from the queue until SIGTERM or "
                     "SIGINT. serve starts WORKERS of these itself;\nrun more by hand (same "
                     "environment) to add capacity. `cct serve --help` lists the settings.\n");
        return out == stdout ? 0 : 2;
    }
    char msg[1200];
    if (config_load(msg, sizeof msg) < 0) {
        fprintf(stderr, "cct worker: %s\n", msg);
        return 2;
    }
    /* No SA_RESTART: a blocking call returns EINTR so the loop sees the flag soon. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    /* SIGINT ignored on entry (serve's supervisor does that) stays ignored: serve alone
     * decides when its workers stop. */
    struct sigaction old;
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct app app;
    struct cct_error err = {0};
    cct_err rc = app_open(&app, 0, &err);
    if (rc) {
        log_error("worker", "msg=\"cannot open the data stores\" err=%s detail=\"%s\"",
                  cct_err_name(rc), err.msg);
        return 1;
    }
    /* Load the libav and libvips engines once, so that every job forked from here starts warm. */
    if ((rc = engines_preload(&err)) != CCT_OK)
        log_warn("worker", "msg=\"engines not preloaded; jobs will load them\" detail=\"%s\"",
                 err.msg);
    int status = worker_loop(&app, &stop_flag);
    app_close(&app);
    return status;
}
