/* cmd_serve.c - `cct serve`: reads the configuration, opens the adapters (migrating the
 * database), recovers work left by a previous run, then starts the HTTP API, the worker
 * processes and the retention sweeper, and waits for SIGTERM or SIGINT to shut them down in
 * order: stop accepting, stop the workers (within the grace period), finish requests in
 * flight, stop the sweeper, close. Wiring only. */
#include "programs/commands.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "domain/app.h"
#include "domain/tasks.h"
#include "services/http.h"
#include "services/worker.h"
#include "util/config.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cct serve\n\n"
            "Runs the HTTP API and web page on HOST:PORT, WORKERS conversion worker processes\n"
            "and the retention sweeper. Configured only through the environment.\n"
            "SIGTERM or SIGINT shuts down gracefully (see docs/operations.md).\n\n");
    config_print_help(out);
}

/* Copies a database URL with any user:password@ part replaced by "***@" (never log secrets). */
static void redact_url(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (!scheme || !at || (slash && slash < at)) {
        snprintf(out, n, "%s", url);
        return;
    }
    snprintf(out, n, "%.*s***%s", (int)(scheme + 3 - url), url, at);
}

int cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "cct serve: unknown argument \"%s\"\n\n", argv[i]);
        usage(stderr);
        return 2;
    }

    char msg[1200];
    if (config_load(msg, sizeof msg) < 0) {
        fprintf(stderr, "cct serve: %s\n", msg);
        return 2;
    }

    /* SIGTERM and SIGINT are blocked in every thread (threads inherit the mask) and taken by
     * sigwaitinfo() below; workers get a clean mask in the supervisor's child. */
    sigset_t stopsigs;
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    struct app app;
    struct cct_error err = {0};
    struct http_server *http = NULL;
    struct supervisor *sup = NULL;
    struct sweeper *sweep = NULL;
    int app_opened = 0;
    cct_err rc;

    if ((rc = app_open(&app, 1, &err))) {
        log_error("serve", "msg=\"cannot open the data stores\" err=%s detail=\"%s\"",
                  cct_err_name(rc), err.msg);
        goto out;
    }
    app_opened = 1;
    if (config_ensure_secret(msg, sizeof msg) < 0) {
        log_error("serve", "msg=\"%s\"", msg);
        goto out;
    }

    int requeued = 0, recovered = 0;
    if ((rc = app.queue->ops->requeue_stale(app.queue, 0, &requeued)))
        log_warn("serve", "msg=\"requeue of stale jobs failed\" err=%s", cct_err_name(rc));
    if ((rc = tasks_recover(&app, &recovered)))
        log_warn("serve", "msg=\"task recovery failed\" err=%s", cct_err_name(rc));
    log_info("serve", "requeued=%d recovered=%d msg=\"recovery after start\"", requeued, recovered);

    if ((rc = http_start(&app, cfg.host, (int)cfg.port, (int)cfg.http_threads, &http, &err))) {
        log_error("serve", "msg=\"cannot start HTTP\" err=%s detail=\"%s\"", cct_err_name(rc),
                  err.msg);
        goto out;
    }
    if ((rc = supervisor_start(&app, "/proc/self/exe", (int)cfg.workers, &sup, &err))) {
        log_error("serve", "msg=\"cannot start workers\" err=%s detail=\"%s\"", cct_err_name(rc),
                  err.msg);
        goto out;
    }
    if ((rc = sweeper_start(&app, (int)cfg.sweep_seconds, &sweep, &err))) {
        log_error("serve", "msg=\"cannot start the sweeper\" err=%s detail=\"%s\"",
                  cct_err_name(rc), err.msg);
        goto out;
    }

    char db[1100];
    redact_url(cfg.database_url, db, sizeof db);
    log_info("serve",
             "listen=http://%s:%lld db=%s queue=%s storage=%s workers=%lld "
             "http_threads=%lld msg=\"serving\"",
             cfg.host, (long long)cfg.port, db, cfg.queue_url, cfg.storage_dir,
             (long long)cfg.workers, (long long)cfg.http_threads);

    siginfo_t si;
    int sig;
    while ((sig = sigwaitinfo(&stopsigs, &si)) < 0 && errno == EINTR)
        ;
    log_info("serve", "signal=%d grace=%llds msg=\"shutting down\"", sig,
             (long long)cfg.shutdown_grace);
    status = 0;

out:
    if (http)
        http_quiesce(http);
    supervisor_stop(&sup, (int)cfg.shutdown_grace);
    http_stop(&http);
    sweeper_stop(&sweep);
    if (app_opened)
        app_close(&app);
    if (status == 0)
        log_info("serve", "msg=\"stopped\"");
    return status;
}
