/* supervisor.c - keeps serve's WORKERS worker processes alive. Each worker is `self worker`,
 * forked and exec'd with a clean signal mask, no inherited descriptors and a parent-death
 * signal. One thread reaps them (waitpid on our own pids only, polled every 200 ms): a worker
 * that exits while serve is running is logged, its leased job is handed back to the queue
 * (queue requeue_stale) and it is restarted, after a growing back-off when it keeps dying
 * young. On stop the same thread sends SIGTERM, waits up to the grace period, SIGKILLs what
 * is left and hands back the jobs of those. */
#include "services/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define POLL_MS 200
#define YOUNG_SECONDS 10 /* a worker that dies sooner than this counts as crashing */
#define MAX_BACKOFF 30

struct slot {
    pid_t pid;            /* 0 = not running */
    struct timespec born; /* CLOCK_MONOTONIC */
    struct timespec next; /* earliest restart */
    int fails;            /* consecutive young deaths */
};

struct supervisor {
    struct app *app;
    char self[1024];
    char argv0[1024]; /* what ps shows: the real path of self when it resolves */
    int n;
    struct slot *slots;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int stopping;
    int grace;
};

static struct timespec now_mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

static double secs_between(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static struct timespec add_ms(struct timespec t, long ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Forks and execs one worker into slot i. Only async-signal-safe calls in the child. */
static int spawn(struct supervisor *s, int i)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("supervisor", "slot=%d msg=\"fork failed\" errno=\"%s\"", i, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        sigaction(SIGTERM, &dfl, NULL);
        /* Ctrl-C in a terminal reaches the whole process group: ignoring SIGINT (which
         * `cct worker` keeps, as shells do for background jobs) lets serve stop its workers
         * in order instead of having them quit under it. */
        struct sigaction ign = dfl;
        ign.sa_handler = SIG_IGN;
        sigaction(SIGINT, &ign, NULL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* serve gone (even by SIGKILL): the worker finishes or hands back its job and exits */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);
        if (close_range(3, ~0U, 0) < 0)
            for (int fd = 3; fd < 4096; fd++)
                close(fd);
        char *argv[] = {s->argv0, (char *)"worker", NULL};
        execv(s->self, argv);
        _exit(127);
    }
    s->slots[i].pid = pid;
    s->slots[i].born = now_mono();
    log_info("supervisor", "slot=%d worker=%d msg=\"worker started\"", i, (int)pid);
    return 0;
}

static void hand_back(struct supervisor *s, pid_t pid)
{
    int n = 0;
    cct_err rc = s->app->queue->ops->requeue_stale(s->app->queue, pid, &n);
    if (rc != CCT_OK)
        log_error("supervisor", "worker=%d msg=\"requeue failed\" err=%s", (int)pid,
                  cct_err_name(rc));
    else if (n > 0)
        log_info("supervisor", "worker=%d requeued=%d msg=\"jobs of the worker handed back\"",
                 (int)pid, n);
}

static void describe(int status, char *out, size_t n)
{
    if (WIFEXITED(status))
        snprintf(out, n, "exit=%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, n, "signal=%d", WTERMSIG(status));
    else
        snprintf(out, n, "status=%d", status);
}

/* Reaps slot i if its worker has ended; schedules the restart. */
static void reap_one(struct supervisor *s, int i)
{
    struct slot *sl = &s->slots[i];
    int status = 0;
    pid_t r = waitpid(sl->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return;
    pid_t pid = sl->pid;
    sl->pid = 0;
    char how[64];
    describe(status, how, sizeof how);
    struct timespec now = now_mono();
    double lived = secs_between(sl->born, now);
    if (r < 0)
        log_error("supervisor", "slot=%d worker=%d msg=\"worker lost\" errno=\"%s\"", i, (int)pid,
                  strerror(errno));
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        log_info("supervisor", "slot=%d worker=%d %s msg=\"worker exited; restarting\"", i,
                 (int)pid, how);
    else
        log_warn("supervisor", "slot=%d worker=%d %s lived=%.1fs msg=\"worker died; restarting\"",
                 i, (int)pid, how, lived);
    hand_back(s, pid);
    sl->fails = lived < YOUNG_SECONDS ? sl->fails + 1 : 0;
    long delay = 0; /* first young death: restart at once; then 2, 4, 8 ... 30 s */
    if (sl->fails > 1) {
        delay = 1L << (sl->fails - 1 > 5 ? 5 : sl->fails - 1);
        if (delay > MAX_BACKOFF)
            delay = MAX_BACKOFF;
        log_warn("supervisor", "slot=%d backoff=%lds msg=\"worker keeps dying\"", i, delay);
    }
    sl->next = add_ms(now, delay * 1000);
}

/* SIGTERM, wait up to grace, SIGKILL the rest; hands back the jobs of every worker. */
static void shutdown_workers(struct supervisor *s)
{
    int live = 0;
    for (int i = 0; i < s->n; i++)
        if (s->slots[i].pid > 0) {
            kill(s->slots[i].pid, SIGTERM);
            live++;
        }
    log_info("supervisor", "workers=%d grace=%ds msg=\"stopping workers\"", live, s->grace);
    struct timespec deadline = add_ms(now_mono(), (long)s->grace * 1000);
    while (live > 0) {
        live = 0;
        for (int i = 0; i < s->n; i++) {
            struct slot *sl = &s->slots[i];
            if (sl->pid <= 0)
                continue;
            int status = 0;
            pid_t r = waitpid(sl->pid, &status, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) {
                live++;
                continue;
            }
            char how[64];
            describe(status, how, sizeof how);
            log_info("supervisor", "slot=%d worker=%d %s msg=\"worker stopped\"", i, (int)sl->pid,
                     how);
            hand_back(s, sl->pid);
            sl->pid = 0;
        }
        if (live == 0 || secs_between(now_mono(), deadline) <= 0)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < s->n; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->pid <= 0)
            continue;
        log_warn("supervisor",
                 "slot=%d worker=%d msg=\"grace period over: killing worker; its "
                 "job is re-queued\"",
                 i, (int)sl->pid);
        kill(sl->pid, SIGKILL);
        int status = 0;
        while (waitpid(sl->pid, &status, 0) < 0 && errno == EINTR)
            ;
        hand_back(s, sl->pid);
        sl->pid = 0;
    }
}

static void *supervise(void *arg)
{
    struct supervisor *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        struct timespec now = now_mono();
        for (int i = 0; i < s->n; i++) {
            struct slot *sl = &s->slots[i];
            if (sl->pid > 0)
                reap_one(s, i);
            if (sl->pid == 0 && secs_between(sl->next, now) >= 0 && spawn(s, i) < 0)
                sl->next = add_ms(now, 1000);
        }
        struct timespec until = add_ms(now_mono(), POLL_MS);
        pthread_mutex_lock(&s->mu);
        if (!s->stopping)
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
    }
    pthread_mutex_unlock(&s->mu);
    shutdown_workers(s);
    return NULL;
}

static void supervisor_free(struct supervisor *s)
{
    if (!s)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s);
}

cct_err supervisor_start(struct app *app, const char *self, int n, struct supervisor **out,
                         struct cct_error *err)
{
    cct_err rc = CCT_OK;
    struct supervisor *s = NULL;
    *out = NULL;
    if (n < 0 || n > 1024)
        return cct_error_set(err, CCT_EINVAL, "supervisor: %d workers is out of range", n);
    if (strlen(self) >= sizeof s->self)
        return cct_error_set(err, CCT_EINVAL, "supervisor: program path too long");
    s = calloc(1, sizeof *s);
    if (!s)
        return cct_error_set(err, CCT_ENOMEM, "supervisor: out of memory");
    s->slots = calloc((size_t)(n > 0 ? n : 1), sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return cct_error_set(err, CCT_ENOMEM, "supervisor: out of memory");
    }
    s->app = app;
    s->n = n;
    snprintf(s->self, sizeof s->self, "%s", self);
    ssize_t len = readlink(self, s->argv0, sizeof s->argv0 - 1);
    if (len > 0)
        s->argv0[len] = '\0';
    else
        snprintf(s->argv0, sizeof s->argv0, "%s", self);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* The reaper thread forks every worker (PR_SET_PDEATHSIG follows the forking thread,
     * and this one outlives all of them). */
    struct timespec now = now_mono();
    for (int i = 0; i < n; i++)
        s->slots[i].next = now;
    int e = pthread_create(&s->thread, NULL, supervise, s);
    if (e != 0) {
        rc = cct_error_set(err, CCT_EINTERNAL, "supervisor: cannot start thread: %s", strerror(e));
        goto fail;
    }
    s->thread_started = 1;
    *out = s;
    return CCT_OK;
fail:
    supervisor_free(s);
    return rc;
}

void supervisor_stop(struct supervisor **sp, int grace_seconds)
{
    if (!sp || !*sp)
        return;
    struct supervisor *s = *sp;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    s->grace = grace_seconds < 0 ? 0 : grace_seconds;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    supervisor_free(s);
    *sp = NULL;
}
