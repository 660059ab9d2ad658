/* sandbox_spawn.c - format detection for a process that has threads (the HTTP server). Forking
 * such a process and running code in the child can deadlock on a lock another thread held at
 * fork time (seen with ASan's allocator), so the server does not fork: it starts a fresh
 * `cct detect --machine PATH` with posix_spawn, which runs the ordinary sandboxed detection
 * from a single thread and answers on its standard output with one line:
 *   "ok FORMAT"  or  "error CODE MESSAGE". */
#include "domain/convert/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "domain/formats.h"

extern char **environ;

#define SPAWN_ANSWER_MAX 1024
#define SPAWN_TIMEOUT_MS 90000 /* the detection inside has its own 60 s wall clock */

ssize_t sandbox_read_proc(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    return got;
}

int sandbox_thread_count(void)
{
    char buf[1024];
    if (sandbox_read_proc("/proc/self/stat", buf, sizeof buf) <= 0)
        return -1;
    /* field 20 (num_threads), counted after the ")" that ends field 2 (comm) */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p ? (int)strtol(p + 1, NULL, 10) : -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's answer until EOF or the deadline; returns bytes read or -1 on timeout. */
static ssize_t read_answer(int fd, char *buf, size_t cap, int64_t deadline)
{
    size_t got = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) >= cap - 1)
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

cct_err sandbox_detect_spawned(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char answer[SPAWN_ANSWER_MAX];
    char *argv[] = {"cct", "detect", "--machine", (char *)path, NULL};
    pid_t pid = -1;
    cct_err rc = CCT_OK;

    snprintf(fmt, n, "other");
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return cct_error_set(err, CCT_EIO, "cannot start format detection: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    int e = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pipefd[1]);
    if (e != 0) {
        close(pipefd[0]);
        return cct_error_set(err, CCT_EIO, "cannot start format detection: %s", strerror(e));
    }
    ssize_t got = read_answer(pipefd[0], answer, sizeof answer, now_ms() + SPAWN_TIMEOUT_MS);
    close(pipefd[0]);
    if (got < 0)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got < 0)
        return cct_error_set(err, CCT_ETIMEOUT, "format detection took too long");

    /* The answer comes from a process that parsed hostile bytes: trust only its shape. */
    answer[strcspn(answer, "\n")] = '\0';
    if (strncmp(answer, "ok ", 3) == 0) {
        const struct format *f = format_find(answer + 3);
        if (!f)
            return cct_error_set(err, CCT_EINTERNAL, "format detection gave no usable answer");
        snprintf(fmt, n, "%s", f->name);
        return CCT_OK;
    }
    char *end = NULL;
    long code = strncmp(answer, "error ", 6) == 0 ? strtol(answer + 6, &end, 10) : -1;
    if (code <= CCT_OK || code > CCT_EINTERNAL || !end || *end != ' ') {
        rc = cct_error_set(err, CCT_EINTERNAL, "format detection failed (status %d)", status);
        return rc;
    }
    return cct_error_set(err, (cct_err)code, "%.400s", end + 1);
}
