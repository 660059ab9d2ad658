/* test_sandbox.c - the conversion sandbox against the real kernel: the seccomp filter, the
 * resource limits and the Landlock write confinement applied in a forked child (what is
 * refused, what still works), how a child's end (crash, SIGSYS, CPU, output size) becomes a
 * message, conv_run_sandboxed() itself on a small archive job (success, cancellation, no
 * partial output) and conv_detect_sandboxed(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain/convert/conv.h"
#include "domain/convert/sandbox.h"
#include "util/config.h"

/* Runs fn in a forked child and returns its wait status; the child exits with fn's result, so
 * a failing check shows up as its own number. */
static int in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20); /* a hung check fails the test instead of the suite */
        const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGSYS};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            signal(fatal[i], SIG_DFL); /* cmocka's handlers would resume the suite here */
        _exit(fn(arg));
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static void assert_exit0(int st)
{
    if (!WIFEXITED(st))
        print_error("child died of signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    else if (WEXITSTATUS(st) != 0)
        print_error("check number %d failed in the child\n", WEXITSTATUS(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void *thread_fn(void *p)
{
    *(int *)p = 42;
    return NULL;
}

static struct conv_limits test_limits(void)
{
    struct conv_limits l;
    conv_limits_default(&l);
    l.cpu_seconds = 30;
    l.memory_bytes = 1024LL * 1024 * 1024;
    l.output_bytes = 1024 * 1024;
    return l;
}

static int enter(void)
{
    struct cct_error err = {0};
    struct conv_limits l = test_limits();
    if (sandbox_apply_limits(&l, &err) != CCT_OK || sandbox_apply_seccomp(&err) != CCT_OK) {
        fprintf(stderr, "cannot enter the sandbox: %s\n", err.msg);
        return -1;
    }
    return 0;
}

#define CHECK(n, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check %d: %s (errno %d)\n", n, #cond, errno);                         \
            return n;                                                                              \
        }                                                                                          \
    } while (0)

static int filter_checks(void *unused)
{
    int p[2];
    CHECK(1, pipe(p) == 0); /* opened before, used after: like the progress pipe */
    CHECK(2, enter() == 0);

    errno = 0;
    CHECK(3, socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM);
    CHECK(4, socket(AF_INET6, SOCK_DGRAM, 0) < 0 && errno == EPERM);
    CHECK(5, socket(AF_NETLINK, SOCK_RAW, 0) < 0 && errno == EPERM);
    CHECK(6, socket(AF_PACKET, SOCK_RAW, 0) < 0 && errno == EPERM);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(7, u >= 0); /* AF_UNIX itself is allowed ... */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/cct-sandbox-test.sock");
    CHECK(8, connect(u, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EPERM); /* ... not */
    CHECK(9, bind(u, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EPERM);
    CHECK(10, listen(u, 1) < 0 && errno == EPERM);
    close(u);

    char *const argv[] = {"/bin/true", NULL};
    CHECK(11, execve("/bin/true", argv, environ) < 0 && errno == EPERM);
    CHECK(12, fork() < 0 && errno == EPERM);
    CHECK(13, syscall(SYS_vfork) < 0 && errno == EPERM);
    CHECK(14, ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 && errno == EPERM);
    CHECK(15, kill(getppid(), 0) < 0 && errno == EPERM);
    CHECK(16, kill(-1, 0) < 0 && errno == EPERM);
    CHECK(17, kill(getpid(), 0) == 0);
    struct rlimit rl;
    CHECK(18, getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max == 64);
    rl.rlim_cur = rl.rlim_max = 32;
    CHECK(19, setrlimit(RLIMIT_NOFILE, &rl) < 0 && errno == EPERM);
    CHECK(20, prlimit(0, RLIMIT_NOFILE, &rl, NULL) < 0 && errno == EPERM);
    CHECK(21, syscall(SYS_io_uring_setup, 8, NULL) < 0 && errno == EPERM);
    CHECK(22, syscall(SYS_unshare, 0) < 0 && errno == EPERM);

    /* What converters need keeps working: threads, files, memory, the pipe. */
    int v = 0;
    pthread_t t;
    CHECK(23, pthread_create(&t, NULL, thread_fn, &v) == 0);
    CHECK(24, pthread_join(t, NULL) == 0 && v == 42);
    CHECK(25, write(p[1], "ok", 2) == 2);
    char buf[2];
    CHECK(26, read(p[0], buf, 2) == 2 && memcmp(buf, "ok", 2) == 0);
    int fd = open("/proc/self/statm", O_RDONLY);
    CHECK(27, fd >= 0 && read(fd, buf, 1) == 1);
    close(fd);
    void *big = malloc(64 * 1024 * 1024);
    CHECK(28, big != NULL);
    memset(big, 1, 64 * 1024 * 1024);
    free(big);
    CHECK(29, raise(0) == 0); /* tgkill to ourselves */
    return 0;
}

static void filter_refuses_and_allows(void **state)
{
    assert_exit0(in_child(filter_checks, NULL));
}

static int limit_checks(void *unused)
{
    CHECK(1, enter() == 0);
    struct rlimit rl;
    CHECK(2, getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0);
    CHECK(3, getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_max == 1024 * 1024);
    CHECK(4, getrlimit(RLIMIT_CPU, &rl) == 0 && rl.rlim_cur == 30 && rl.rlim_max == 32);
#ifndef __SANITIZE_ADDRESS__
    CHECK(5, getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_max == 1024LL * 1024 * 1024);
    void *huge = malloc(1536LL * 1024 * 1024); /* past the 1 GiB address space */
    CHECK(6, huge == NULL);
#endif
    return 0;
}

static void limits_are_applied(void **state)
{
    assert_exit0(in_child(limit_checks, NULL));
}

struct dirs {
    char ok[64], other[64];
};

static int landlock_checks(void *arg)
{
    struct dirs *d = arg;
    char path[128];
    struct cct_error err = {0};
    const char *writable[] = {d->ok, "/nonexistent/is/skipped"};
    snprintf(path, sizeof path, "%s/victim", d->other);
    CHECK(1, close(open(path, O_WRONLY | O_CREAT, 0600)) == 0); /* made before */
    CHECK(2, sandbox_apply_landlock(writable, 2, &err) == CCT_OK);
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return 0; /* kernel without Landlock: nothing more to prove */
    snprintf(path, sizeof path, "%s/out.bin", d->ok);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(3, fd >= 0 && write(fd, "x", 1) == 1);
    close(fd);
    CHECK(4, unlink(path) == 0);
    snprintf(path, sizeof path, "%s/new.bin", d->other);
    CHECK(5, open(path, O_WRONLY | O_CREAT, 0600) < 0 && errno == EACCES);
    snprintf(path, sizeof path, "%s/victim", d->other);
    CHECK(6, open(path, O_WRONLY) < 0 && errno == EACCES);
    CHECK(7, unlink(path) < 0 && errno == EACCES);
    CHECK(8, open(path, O_RDONLY) >= 0); /* reading stays allowed */
    CHECK(9, open("/etc/passwd", O_RDONLY) >= 0);
    return 0;
}

static void landlock_confines_writes(void **state)
{
    struct dirs d = {"/tmp/cct-ll-ok-XXXXXX", "/tmp/cct-ll-other-XXXXXX"};
    assert_non_null(mkdtemp(d.ok));
    assert_non_null(mkdtemp(d.other));
    assert_exit0(in_child(landlock_checks, &d));
    char path[128];
    snprintf(path, sizeof path, "%s/victim", d.other);
    assert_int_equal(unlink(path), 0); /* still there */
    rmdir(d.ok);
    rmdir(d.other);
}

static int write_past_fsize(void *path)
{
    if (enter() != 0)
        return 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char buf[64 * 1024];
    for (int i = 0; fd >= 0 && i < 64; i++) /* 4 MB against a 1 MB limit: SIGXFSZ */
        if (write(fd, buf, sizeof buf) < 0)
            return 3;
    return 2;
}

static int segfault(void *unused)
{
    if (enter() != 0)
        return 1;
    raise(SIGSEGV);
    return 2;
}

#ifdef __x86_64__
static int i386_syscall(void *unused)
{
    if (enter() != 0)
        return 1;
    long ret = 20; /* getpid in the i386 table, through the 32-bit entry point */
    __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
    return 2; /* the filter must have killed us */
}
#endif

static int spin(void *unused)
{
    struct conv_limits l = test_limits();
    struct cct_error err = {0};
    l.cpu_seconds = 1;
    if (sandbox_apply_limits(&l, &err) != CCT_OK)
        return 1;
    for (volatile unsigned long i = 0;; i++)
        ;
    return 2;
}

static cct_err end_of(int st, int64_t out_size, struct cct_error *err)
{
    struct conv_limits l = test_limits();
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
        l.cpu_seconds = 1;
    struct sandbox_end e = {.wstatus = st, .done_msg = "", .out_size = out_size};
    return sandbox_end_error(&e, &l, err);
}

static void ends_become_messages(void **state)
{
    struct cct_error err = {0};
    char path[] = "/tmp/cct-sandbox-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    int st = in_child(write_past_fsize, path);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGXFSZ);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 1024 * 1024); /* stopped exactly at the limit */
    assert_int_equal(end_of(st, sb.st_size, &err), CCT_ELIMIT);
    assert_string_equal(err.msg, "the output grew beyond the 1 MB limit");
    unlink(path);

    st = in_child(segfault, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_int_equal(end_of(st, -1, &err), CCT_ECONVERT);
    assert_string_equal(err.msg, "the converter crashed on this input (signal 11)");

#ifdef __x86_64__
    st = in_child(i386_syscall, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
    assert_int_equal(end_of(st, -1, &err), CCT_ECONVERT);
    assert_string_equal(err.msg, "the converter tried a forbidden operation");
#endif

    st = in_child(spin, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGXCPU);
    assert_int_equal(end_of(st, -1, &err), CCT_ELIMIT);
    assert_string_equal(err.msg, "the conversion used more than 1 s of CPU time");

    /* A crash near the address-space limit reads as running out of memory. */
    struct conv_limits l = test_limits();
    struct sandbox_end e = {.wstatus = W_EXITCODE(0, SIGABRT),
                            .done_msg = "",
                            .crash_signal = SIGABRT,
                            .crash_vm = l.memory_bytes - 1000,
                            .out_size = -1};
    assert_int_equal(sandbox_end_error(&e, &l, &err), CCT_ELIMIT);
    assert_string_equal(err.msg, "the conversion ran out of memory (limit 1024 MB)");
    /* An engine that reports ENOMEM, too. */
    struct sandbox_end e2 = {.wstatus = W_EXITCODE(1, 0),
                             .have_done = 1,
                             .done_code = CCT_ECONVERT,
                             .done_msg = "x: Cannot allocate memory",
                             .out_size = -1};
    assert_int_equal(sandbox_end_error(&e2, &l, &err), CCT_ELIMIT);
    assert_string_equal(err.msg, "the conversion ran out of memory (limit 1024 MB)");
    /* An ordinary failure passes through untouched. */
    struct sandbox_end e3 = {.wstatus = W_EXITCODE(1, 0),
                             .have_done = 1,
                             .done_code = CCT_EUNSUPPORTED,
                             .done_msg = "no such codec",
                             .out_size = -1};
    assert_int_equal(sandbox_end_error(&e3, &l, &err), CCT_EUNSUPPORTED);
    assert_string_equal(err.msg, "no such codec");
    /* Exited without saying anything. */
    struct sandbox_end e4 = {.wstatus = W_EXITCODE(3, 0), .done_msg = "", .out_size = -1};
    assert_int_equal(sandbox_end_error(&e4, &l, &err), CCT_ECONVERT);
}

/* ---- conv_run_sandboxed on a real (archive) job -------------------------------------- */

struct calls {
    int n;
    int last;
    int cancel;
};

static int on_progress(void *ud, int pct)
{
    struct calls *c = ud;
    c->n++;
    c->last = pct;
    return c->cancel;
}

/* n random bytes (incompressible, so the archive is at least as large). */
static void make_input(const char *path, size_t n)
{
    char buf[4096];
    int r = open("/dev/urandom", O_RDONLY), w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(r >= 0 && w >= 0);
    for (size_t done = 0; done < n; done += sizeof buf) {
        assert_int_equal(read(r, buf, sizeof buf), sizeof buf);
        assert_int_equal(write(w, buf, sizeof buf), sizeof buf);
    }
    close(r);
    close(w);
}

static void sandboxed_job(void **state)
{
    char dir[] = "/tmp/cct-sandbox-job-XXXXXX", in[128], out[128];
    assert_non_null(mkdtemp(dir));
    snprintf(in, sizeof in, "%s/in.bin", dir);
    snprintf(out, sizeof out, "%s/out.tar.gz", dir);
    make_input(in, 200 * 1024);
    char cfgerr[256];
    assert_int_equal(config_load(cfgerr, sizeof cfgerr), 0);

    struct calls c = {0};
    struct conv_request r = {.in_path = in,
                             .out_path = out,
                             .from = "other",
                             .to = "tar.gz",
                             .work_dir = dir,
                             .progress = on_progress,
                             .progress_ud = &c};
    conv_limits_default(&r.limits);
    struct cct_error err = {0};
    cct_err rc = conv_run_sandboxed(&r, &err);
    if (rc != CCT_OK)
        print_error("conversion failed: %s\n", err.msg);
    assert_int_equal(rc, CCT_OK);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_true(sb.st_size > 100 * 1024);
    assert_true(c.n >= 1);
    assert_int_equal(c.last, 100);

    /* Cancelled on the first progress call: an error, no output file, no zombie. */
    struct calls cc = {.cancel = 1};
    r.progress_ud = &cc;
    rc = conv_run_sandboxed(&r, &err);
    assert_int_equal(rc, CCT_ECANCELLED);
    assert_string_equal(err.msg, "cancelled");
    assert_int_equal(stat(out, &sb), -1);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* every child reaped */
    assert_int_equal(errno, ECHILD);

    /* An input the engine refuses: its message comes back through the pipe. */
    r.progress_ud = &c;
    r.in_path = "/nonexistent/in.bin";
    rc = conv_run_sandboxed(&r, &err);
    assert_int_not_equal(rc, CCT_OK);
    assert_true(err.msg[0] != '\0');

    unlink(in);
    unlink(out);
    rmdir(dir);
}

/* A 1x1 grey PNG. */
static const unsigned char png1x1[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static void sandboxed_detection(void **state)
{
    char path[] = "/tmp/cct-sandbox-detect-XXXXXX", fmt[32];
    struct cct_error err = {0};
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, png1x1, sizeof png1x1), sizeof png1x1);
    close(fd);
    char cfgerr[256];
    assert_int_equal(config_load(cfgerr, sizeof cfgerr), 0);
    assert_int_equal(conv_detect_sandboxed(path, fmt, sizeof fmt, &err), CCT_OK);
    assert_string_equal(fmt, "png");
    make_input(path, 8192);
    assert_int_equal(conv_detect_sandboxed(path, fmt, sizeof fmt, &err), CCT_OK);
    assert_string_equal(fmt, "other");
    unlink(path);
    assert_int_not_equal(conv_detect_sandboxed(path, fmt, sizeof fmt, &err), CCT_OK);
    assert_string_equal(err.msg, "cannot read the input file");
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filter_refuses_and_allows),
        cmocka_unit_test(limits_are_applied),
        cmocka_unit_test(landlock_confines_writes),
        cmocka_unit_test(ends_become_messages),
        cmocka_unit_test(sandboxed_job),
        cmocka_unit_test(sandboxed_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
