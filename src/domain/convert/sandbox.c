/* sandbox.c - conv_run_sandboxed(): every conversion runs in a forked child that has given up
 * what a converter does not need (see sandbox_seccomp.c), in its own process group, under a
 * wall clock. The child reports progress and its result over a pipe as fixed-size messages;
 * the parent forwards progress, cancels, enforces the wall clock, reaps the child and turns a
 * crash, a signal or a limit into a message for the user. On any failure the partial output
 * file is removed.
 *
 * Assumptions and limits:
 * - The caller is single-threaded when it forks (`cct convert`, the worker processes). The
 *   child calls malloc (libseccomp) and the engines before exec-less work; in a process with
 *   other threads a lock held by one of them at fork time would deadlock the child. Detection
 *   in a threaded process (the HTTP server) therefore spawns a fresh `cct detect` instead.
 * - The parent must not have initialised libvips (its thread pool does not survive fork); the
 *   engines initialise their libraries in the child.
 * - SIGCHLD must not be ignored (SIG_IGN reaps children behind our back).
 * - PR_SET_PDEATHSIG fires when the forking *thread* exits, so call this from a thread that
 *   lives as long as the job.
 * - Writes are confined by Landlock (see confine_writes), but the child can still read whatever
 *   this user can: run the service as its own user, with DATA_DIR readable only by it. */
#include "domain/convert/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "domain/formats.h"

enum { MSG_PROGRESS = 1, MSG_DONE = 2, MSG_CRASH = 3 };

/* One message child -> parent. Smaller than PIPE_BUF, so every write is atomic. */
struct sb_msg {
    int32_t type;
    int32_t value; /* percent, or the signal of a crash */
    int32_t code;  /* cct_err of MSG_DONE */
    int32_t pad;
    int64_t vm; /* address-space size at a crash, bytes */
    char msg[512];
};
_Static_assert(sizeof(struct sb_msg) <= PIPE_BUF, "messages must be written atomically");

#define CHILD_FD 3       /* the pipe's write end in the child */
#define HEARTBEAT_MS 500 /* progress is called at least this often, for cancellation */

/* ---- child ------------------------------------------------------------------------------ */

static int child_fd = -1;
static int child_last = -1;
static char altstack[64 * 1024];

/* write() until done; async-signal-safe. */
static void child_send(const struct sb_msg *m)
{
    const char *p = (const char *)m;
    size_t left = sizeof *m;
    while (left > 0) {
        ssize_t n = write(child_fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        left -= (size_t)n;
    }
}

/* The engines' progress callback in the child: only changes go over the pipe. Engines may call
 * it from several threads; the exchange keeps the de-duplication race-free. */
static int child_progress(void *ud, int percent)
{
    (void)ud;
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    if (__atomic_exchange_n(&child_last, percent, __ATOMIC_RELAXED) == percent)
        return 0;
    struct sb_msg m = {.type = MSG_PROGRESS, .value = percent};
    child_send(&m);
    return 0;
}

/* Reads the first number of /proc/self/statm (pages of address space) with async-signal-safe
 * calls only. */
static int64_t child_vm_bytes(void)
{
    char buf[64];
    ssize_t n = sandbox_read_proc("/proc/self/statm", buf, sizeof buf);
    if (n <= 0)
        return -1;
    int64_t pages = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        pages = pages * 10 + (buf[i] - '0');
    return pages * sysconf(_SC_PAGESIZE);
}

/* A fatal signal in the child: tell the parent how big the process was (an allocation that
 * failed at the address-space limit often ends as SIGSEGV or SIGABRT), then die of it. */
static void child_crash(int sig)
{
    struct sb_msg m = {.type = MSG_CRASH, .value = sig, .vm = child_vm_bytes()};
    child_send(&m);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void child_done(cct_err code, const char *msg)
{
    struct sb_msg m = {.type = MSG_DONE, .code = (int32_t)code};
    snprintf(m.msg, sizeof m.msg, "%s", msg ? msg : "");
    child_send(&m);
}

/* Gives the child a clean slate: only stdin/out/err and the pipe (as CHILD_FD) stay open, every
 * signal has its default action and none is blocked. */
static int child_fds_and_signals(int rfd, int wfd)
{
    close(rfd);
    if (wfd != CHILD_FD) {
        if (dup2(wfd, CHILD_FD) < 0)
            return -1;
        if (wfd > 2)
            close(wfd);
    }
    child_fd = CHILD_FD;
    /* A daemon started with 0..2 closed would have had the pipe land there. */
    for (int fd = 0; fd <= 2; fd++)
        if (fd == rfd || fd == wfd || fcntl(fd, F_GETFD) < 0) {
            int nul = open("/dev/null", O_RDWR);
            if (nul >= 0 && nul != fd) {
                dup2(nul, fd);
                close(nul);
            }
        }
    if (close_range(CHILD_FD + 1, ~0U, 0) != 0)
        for (int fd = CHILD_FD + 1; fd < 4096; fd++)
            close(fd);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL); /* fails harmlessly for the real-time signals glibc reserves */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = child_crash, .sa_flags = SA_ONSTACK | SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTRAP};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    return 0;
}

/* Writes go only to the job's folder, the output's folder and /dev/null; libraries' temporary
 * files (libvips spills large images to disc) go into the job's folder, or the system's
 * temporary folder when there is none (`cct convert`). */
static cct_err confine_writes(const struct conv_request *r, struct cct_error *err)
{
    char out_dir[4096] = ".";
    const char *tmp = getenv("TMPDIR");
    if (r->work_dir && r->work_dir[0]) {
        setenv("TMPDIR", r->work_dir, 1);
        tmp = r->work_dir;
    } else if (!tmp || !tmp[0])
        tmp = "/tmp";
    if (r->out_path) {
        const char *slash = strrchr(r->out_path, '/');
        if (slash && (size_t)(slash - r->out_path) < sizeof out_dir)
            snprintf(out_dir, sizeof out_dir, "%.*s",
                     slash == r->out_path ? 1 : (int)(slash - r->out_path), r->out_path);
    }
    const char *writable[] = {r->out_path ? out_dir : NULL, r->work_dir, tmp, "/dev/null"};
    return sandbox_apply_landlock(writable, sizeof writable / sizeof writable[0], err);
}

/* What a child does: convert r, or (detect_path set) detect that file's format. */
struct sb_task {
    const struct conv_request *r;
    const char *detect_path;
};

static _Noreturn void child_main(const struct sb_task *task, int rfd, int wfd, pid_t parent)
{
    const struct conv_request *r = task->r;
    struct cct_error err = {0};
    char fmt[32] = "";
    cct_err rc;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before PDEATHSIG was armed */
        _exit(127);
    if (child_fds_and_signals(rfd, wfd) != 0)
        _exit(127);
    if (r->work_dir && r->work_dir[0] && chdir(r->work_dir) != 0) {
        rc = cct_error_set(&err, CCT_EIO, "cannot enter the job's folder");
        goto out;
    }
    rc = sandbox_apply_limits(&r->limits, &err);
    if (rc == CCT_OK)
        rc = confine_writes(r, &err);
    if (rc == CCT_OK)
        rc = sandbox_apply_seccomp(&err);
    if (rc == CCT_OK && task->detect_path) {
        rc = conv_detect(task->detect_path, fmt, sizeof fmt, &err);
        if (rc == CCT_OK) /* the answer travels as the message */
            snprintf(err.msg, sizeof err.msg, "%s", fmt);
    } else if (rc == CCT_OK) {
        struct conv_request cr = *r;
        cr.progress = child_progress;
        cr.progress_ud = NULL;
        rc = conv_run(&cr, &err);
    }
out:
    child_done(rc, err.msg);
    _exit(rc == CCT_OK ? 0 : 1); /* never return into the parent's stack or its atexit */
}

/* ---- parent ----------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mb(int64_t bytes)
{
    return bytes / (1024 * 1024);
}

/* The child's text goes to users and logs: keep printable ASCII only. */
static void clean_text(char *s, size_t n)
{
    s[n - 1] = '\0';
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

static bool looks_like_oom(const char *msg)
{
    static const char *const hints[] = {"Cannot allocate memory", "out of memory", "malloc of size",
                                        "failed to allocate"};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcasestr(msg, hints[i]))
            return true;
    return false;
}

cct_err sandbox_end_error(const struct sandbox_end *e, const struct conv_limits *l,
                          struct cct_error *err)
{
    const int64_t mem_mb = mb(l->memory_bytes), out_mb = mb(l->output_bytes);
    bool out_full = l->output_bytes > 0 && e->out_size >= l->output_bytes;
    if (WIFEXITED(e->wstatus) && e->have_done) {
        if (e->done_code == CCT_OK && WEXITSTATUS(e->wstatus) == 0)
            return CCT_OK;
        if (out_full) /* SIGXFSZ ignored by a library: writes failed with EFBIG */
            return cct_error_set(err, CCT_ELIMIT, "the output grew beyond the %" PRId64 " MB limit",
                                 out_mb);
        if (e->done_code == CCT_ENOMEM || looks_like_oom(e->done_msg ? e->done_msg : ""))
            return cct_error_set(err, CCT_ELIMIT,
                                 "the conversion ran out of memory (limit %" PRId64 " MB)", mem_mb);
        if (e->done_code == CCT_OK) /* reported success, then exited non-zero: impossible */
            return cct_error_set(err, CCT_EINTERNAL, "the converter exited with status %d",
                                 WEXITSTATUS(e->wstatus));
        return cct_error_set(err, e->done_code, "%s",
                             e->done_msg && e->done_msg[0] ? e->done_msg
                                                           : cct_strerror(e->done_code));
    }
    if (WIFEXITED(e->wstatus))
        return cct_error_set(err, CCT_ECONVERT,
                             "the converter stopped without a result (exit "
                             "status %d)",
                             WEXITSTATUS(e->wstatus));
    if (!WIFSIGNALED(e->wstatus))
        return cct_error_set(err, CCT_EINTERNAL, "the converter ended in an unknown way");
    int sig = WTERMSIG(e->wstatus);
    switch (sig) {
    case SIGXCPU:
        return cct_error_set(err, CCT_ELIMIT,
                             "the conversion used more than %" PRId64 " s of CPU time",
                             l->cpu_seconds);
    case SIGXFSZ:
        return cct_error_set(err, CCT_ELIMIT, "the output grew beyond the %" PRId64 " MB limit",
                             out_mb);
    case SIGSYS:
        return cct_error_set(err, CCT_ECONVERT, "the converter tried a forbidden operation");
    case SIGKILL: /* not ours (timeouts and cancels are handled before): the hard CPU limit, or
                   * the kernel's OOM killer */
        if (l->cpu_seconds > 0 && e->cpu_seconds + 0.5 >= (double)l->cpu_seconds)
            return cct_error_set(err, CCT_ELIMIT,
                                 "the conversion used more than %" PRId64 " s of CPU time",
                                 l->cpu_seconds);
        return cct_error_set(err, CCT_ECONVERT,
                             "the converter was killed (the machine may be "
                             "short of memory)");
    case SIGSEGV:
    case SIGBUS:
    case SIGABRT:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
        /* An allocation refused at the address-space limit often ends as a crash; a process
         * that was within a quarter of its limit is taken to have run out. */
        if (l->memory_bytes > 0 && e->crash_signal == sig &&
            e->crash_vm >= l->memory_bytes - l->memory_bytes / 4)
            return cct_error_set(err, CCT_ELIMIT,
                                 "the conversion ran out of memory (limit %" PRId64 " MB)", mem_mb);
        if (out_full)
            return cct_error_set(err, CCT_ELIMIT, "the output grew beyond the %" PRId64 " MB limit",
                                 out_mb);
        return cct_error_set(err, CCT_ECONVERT, "the converter crashed on this input (signal %d)",
                             sig);
    default: return cct_error_set(err, CCT_ECONVERT, "the converter was stopped by signal %d", sig);
    }
}

/* waitpid until the child is reaped; SIGKILLs its group at the deadline. Returns the status. */
static int reap(pid_t pid, int64_t deadline, struct rusage *ru, bool *killed)
{
    int status = 0, delay = 1;
    for (;;) {
        pid_t w = wait4(pid, &status, deadline < 0 ? 0 : WNOHANG, ru);
        if (w == pid)
            return status;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) /* ECHILD: SIGCHLD ignored by the caller, the kernel reaped it */
            return W_EXITCODE(127, 0);
        if (now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            *killed = true;
            deadline = -1; /* now wait for good */
            continue;
        }
        struct timespec ts = {0, delay * 1000000L};
        nanosleep(&ts, NULL);
        if (delay < 50)
            delay *= 2;
    }
}

/* Runs task in a sandboxed child and waits for it (see conv_run_sandboxed). On success of a
 * detection, the child's message (its answer) is left in answer[answer_n]. */
static cct_err sandbox_run(const struct sb_task *task, char *answer, size_t answer_n,
                           struct cct_error *err)
{
    const struct conv_request *r = task->r;
    int fds[2] = {-1, -1};
    cct_err rc = CCT_OK;
    struct sb_msg msg;
    size_t have = 0;
    struct sandbox_end end = {.out_size = -1, .done_msg = ""};
    char done_msg[sizeof msg.msg] = "";
    enum { RUNNING, ENDED, TIMED_OUT, CANCELLED, BROKEN } state = RUNNING;
    int percent = 0, told = -1, poll_errno = 0;
    bool killed = false;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return cct_error_set(err, CCT_EINTERNAL, "cannot create a pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        rc = cct_error_set(err, CCT_EINTERNAL, "cannot start the converter: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_main(task, fds[0], fds[1], parent);
    setpgid(pid, pid); /* also done in the child: whichever runs first wins the race */
    close(fds[1]);
    fds[1] = -1;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);

    const int64_t start = now_ms();
    const int64_t deadline =
        r->limits.wall_seconds > 0 ? start + r->limits.wall_seconds * 1000 : INT64_MAX;
    int64_t last_call = start;
    while (state == RUNNING) {
        int64_t now = now_ms();
        if (now >= deadline) {
            state = TIMED_OUT;
            break;
        }
        int64_t wait = deadline - now < HEARTBEAT_MS ? deadline - now : HEARTBEAT_MS;
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)wait);
        if (pr < 0 && errno != EINTR) {
            poll_errno = errno;
            state = BROKEN;
            break;
        }
        if (pr > 0) {
            for (;;) { /* drain what is there */
                ssize_t n = read(fds[0], (char *)&msg + have, sizeof msg - have);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) /* EAGAIN: drained */
                    break;
                if (n == 0) {
                    state = ENDED;
                    break;
                }
                have += (size_t)n;
                if (have < sizeof msg)
                    continue;
                have = 0;
                if (msg.type == MSG_PROGRESS && msg.value >= 0 && msg.value <= 100)
                    percent = msg.value;
                else if (msg.type == MSG_DONE && !end.have_done) {
                    end.have_done = 1;
                    end.done_code = msg.code > CCT_OK && msg.code <= CCT_EINTERNAL
                                        ? (cct_err)msg.code
                                        : (msg.code == CCT_OK ? CCT_OK : CCT_ECONVERT);
                    memcpy(done_msg, msg.msg, sizeof done_msg);
                    clean_text(done_msg, sizeof done_msg);
                    end.done_msg = done_msg;
                } else if (msg.type == MSG_CRASH && !end.crash_signal) {
                    end.crash_signal = msg.value;
                    end.crash_vm = msg.vm;
                }
            }
        }
        /* Call progress on every change and as a heartbeat, so a caller can cancel a job
         * whose engine is silent for a long stretch (and after a signal interrupted poll). */
        now = now_ms();
        if (r->progress && (percent != told || now - last_call >= HEARTBEAT_MS || pr < 0)) {
            told = percent;
            last_call = now;
            if (r->progress(r->progress_ud, percent) != 0)
                state = CANCELLED;
        }
    }

    if (state != ENDED) { /* the child is alive (or a zombie): its group still exists */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        killed = true;
    }
    struct rusage ru = {0};
    /* After EOF a well-behaved child exits at once; one that closed the pipe and lingers is
     * killed at the wall clock all the same. */
    end.wstatus = reap(pid, killed ? -1 : (deadline == INT64_MAX ? now_ms() + 10000 : deadline),
                       &ru, &killed);
    end.cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    struct stat st;
    if (r->out_path && stat(r->out_path, &st) == 0)
        end.out_size = st.st_size;

    switch (state) {
    case CANCELLED: rc = cct_error_set(err, CCT_ECANCELLED, "cancelled"); break;
    case TIMED_OUT:
        rc = cct_error_set(err, CCT_ETIMEOUT, "the conversion took longer than %" PRId64 " s",
                           r->limits.wall_seconds);
        break;
    case BROKEN:
        rc = cct_error_set(err, CCT_EINTERNAL, "lost contact with the converter: %s",
                           strerror(poll_errno));
        break;
    default:
        if (killed) /* closed the pipe but outlived the wall clock */
            rc = cct_error_set(err, CCT_ETIMEOUT, "the conversion took longer than %" PRId64 " s",
                               r->limits.wall_seconds);
        else
            rc = sandbox_end_error(&end, &r->limits, err);
    }
    if (rc == CCT_OK && answer)
        snprintf(answer, answer_n, "%s", done_msg);
out:
    if (rc != CCT_OK && r->out_path)
        unlink(r->out_path);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

cct_err conv_run_sandboxed(const struct conv_request *r, struct cct_error *err)
{
    struct sb_task task = {.r = r};
    return sandbox_run(&task, NULL, 0, err);
}

cct_err conv_detect_sandboxed(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    if (sandbox_thread_count() != 1) /* see sandbox_spawn.c */
        return sandbox_detect_spawned(path, fmt, n, err);
    struct conv_request r = {0};
    char answer[sizeof((struct sb_msg *)0)->msg] = "";
    conv_limits_default(&r.limits);
    r.limits.wall_seconds = r.limits.wall_seconds < 60 ? r.limits.wall_seconds : 60;
    r.limits.cpu_seconds = r.limits.cpu_seconds < 60 ? r.limits.cpu_seconds : 60;
    r.limits.output_bytes = 1024 * 1024; /* detection writes nothing */
    struct sb_task task = {.r = &r, .detect_path = path};
    snprintf(fmt, n, "other");
    cct_err rc = sandbox_run(&task, answer, sizeof answer, err);
    if (rc != CCT_OK)
        return rc;
    /* The child is not trusted: only a name from the format table comes through. */
    const struct format *f = format_find(answer);
    if (!f)
        return cct_error_set(err, CCT_EINTERNAL, "format detection gave no usable answer");
    snprintf(fmt, n, "%s", f->name);
    return CCT_OK;
}
