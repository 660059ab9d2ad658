/* sandbox_seccomp.c - what a conversion child gives up before it touches user bytes: resource
 * limits (CPU, address space, output size, open files, core dumps) and a seccomp filter that
 * leaves the converters everything they use (files, memory, threads) and takes away the network,
 * starting programs, signalling other processes and the kernel's administrative calls.
 *
 * The filter is default-allow with a deny list: libav, libvips, x264, libvpx and glib make a
 * wide and version-dependent set of system calls, and an allow list that misses one turns into a
 * failed conversion in production. What a compromised decoder could do with the allowed calls is
 * limited to reading this user's files: Landlock (where the kernel has it) confines every kind
 * of write to the job's own folders. */
#include "domain/convert/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, newer than our headers */
#endif

/* System calls that fail with EPERM whatever their arguments. Names unknown to this libseccomp
 * or this architecture are skipped. */
static const char *const denied[] = {
    /* network: a socket is already refused unless AF_UNIX; these refuse reaching anything */
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    /* starting programs; threads go through clone(CLONE_THREAD), see below */
    "execve",
    "execveat",
    "fork",
    "vfork",
    /* other processes and the kernel */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "tkill",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "personality",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register", /* io_uring bypasses this filter */
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "uselib",
    "vhangup",
    "lookup_dcookie",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    /* limits stay where sandbox_apply_limits put them (prlimit64 may still read them) */
    "setrlimit",
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                    const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a system call on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

cct_err sandbox_apply_seccomp(struct cct_error *err)
{
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    const scmp_datum_t self = (scmp_datum_t)getpid();
    cct_err rc = CCT_OK;
    int e = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return cct_error_set(err, CCT_EINTERNAL, "cannot set no-new-privileges: %s",
                             strerror(errno));
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return cct_error_set(err, CCT_ENOMEM, "cannot build the seccomp filter");
    /* i386 (int 0x80) and x32 system calls on x86_64 would dodge every rule below. */
    e = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; !e && i < sizeof denied / sizeof denied[0]; i++)
        e = add_rule(ctx, eperm, denied[i], 0, NULL);
    /* Sockets: only AF_UNIX (socketpair-style plumbing inside a library); with connect, bind
     * and sendto-with-address refused, even those reach nothing outside the process. */
    struct scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
    struct scmp_arg_cmp has_addr = SCMP_A4(SCMP_CMP_NE, 0);
    if (!e)
        e = add_rule(ctx, eperm, "socket", 1, &not_unix);
    if (!e)
        e = add_rule(ctx, eperm, "sendto", 1, &has_addr);
    /* Threads yes, processes no: clone without CLONE_THREAD is a fork. clone3 hides its flags
     * in memory the filter cannot read, so it says ENOSYS and glibc falls back to clone. */
    struct scmp_arg_cmp no_thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
    if (!e)
        e = add_rule(ctx, eperm, "clone", 1, &no_thread);
    if (!e)
        e = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    /* Signals only to ourselves: kill(-1, SIGKILL) would take down every process of this user,
     * the web server included. raise() and abort() use tgkill(getpid(), ...). */
    struct scmp_arg_cmp not_self = SCMP_A0(SCMP_CMP_NE, self);
    const char *const signalling[] = {"kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"};
    for (size_t i = 0; !e && i < sizeof signalling / sizeof signalling[0]; i++)
        e = add_rule(ctx, eperm, signalling[i], 1, &not_self);
    /* prlimit64(pid, res, new, old) with new != NULL raises or lowers a limit. */
    struct scmp_arg_cmp sets_limit = SCMP_A2(SCMP_CMP_NE, 0);
    if (!e)
        e = add_rule(ctx, eperm, "prlimit64", 1, &sets_limit);
    if (e) {
        rc = cct_error_set(err, e == -ENOMEM ? CCT_ENOMEM : CCT_EINTERNAL,
                           "cannot build the seccomp filter: %s", strerror(-e));
        goto out;
    }
    e = seccomp_load(ctx);
    if (e)
        rc = cct_error_set(err, e == -ENOMEM ? CCT_ENOMEM : CCT_EINTERNAL,
                           "cannot load the seccomp filter: %s", strerror(-e));
out:
    seccomp_release(ctx);
    return rc;
}

/* Sets a limit, never above what the process already has (an administrator's ulimit wins):
 * an unprivileged process may lower a hard limit but not raise it. 0 or less = unlimited. */
static int set_limit(int res, int64_t soft, int64_t hard)
{
    struct rlimit cur, rl = {
                           .rlim_cur = soft > 0 ? (rlim_t)soft : RLIM_INFINITY,
                           .rlim_max = hard > 0 ? (rlim_t)hard : RLIM_INFINITY,
                       };
    if (getrlimit(res, &cur) != 0)
        return -1;
    if (cur.rlim_max != RLIM_INFINITY &&
        (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cur.rlim_max))
        rl.rlim_max = cur.rlim_max;
    if (rl.rlim_max != RLIM_INFINITY && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max))
        rl.rlim_cur = rl.rlim_max;
    return setrlimit(res, &rl);
}

cct_err sandbox_apply_limits(const struct conv_limits *l, struct cct_error *err)
{
    /* CPU: SIGXCPU at the limit, SIGKILL two seconds later if it is ignored. */
    int64_t cpu_hard = l->cpu_seconds > 0 ? l->cpu_seconds + 2 : 0;
    if (set_limit(RLIMIT_CPU, l->cpu_seconds, cpu_hard) != 0)
        goto fail;
#ifndef __SANITIZE_ADDRESS__
    /* Address space, not resident memory: thread stacks and the arenas of libav's and x264's
     * threads count in full. ASan reserves terabytes of shadow at start-up, so the sanitizer
     * build cannot have this limit. */
    if (set_limit(RLIMIT_AS, l->memory_bytes, l->memory_bytes) != 0)
        goto fail;
#endif
    if (set_limit(RLIMIT_FSIZE, l->output_bytes, l->output_bytes) != 0)
        goto fail;
    if (set_limit(RLIMIT_NOFILE, 64, 64) != 0)
        goto fail;
    if (setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}) != 0)
        goto fail;
    return CCT_OK;
fail:
    return cct_error_set(err, CCT_EINTERNAL, "cannot set the resource limits: %s", strerror(errno));
}

cct_err sandbox_apply_landlock(const char *const *writable, size_t n, struct cct_error *err)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return CCT_OK; /* no Landlock in this kernel: seccomp and the limits still apply */
    const uint64_t file_rights =
        LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
    struct landlock_ruleset_attr attr = {
        .handled_access_fs = file_rights | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                             LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                             LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                             LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                             LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM |
                             (abi >= 2 ? LANDLOCK_ACCESS_FS_REFER : 0),
    };
    cct_err rc = CCT_OK;
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0)
        return cct_error_set(err, CCT_EINTERNAL, "cannot create the Landlock rules: %s",
                             strerror(errno));
    for (size_t i = 0; i < n; i++) {
        if (!writable[i] || !writable[i][0])
            continue;
        int fd = open(writable[i], O_PATH | O_CLOEXEC);
        if (fd < 0)
            continue; /* a folder that is not there needs no rule */
        struct stat st;
        struct landlock_path_beneath_attr pb = {.parent_fd = fd};
        /* a file takes only file rights; a folder everything below it */
        pb.allowed_access =
            fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode) ? file_rights : attr.handled_access_fs;
        int e = (int)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        close(fd);
        if (e != 0) {
            rc = cct_error_set(err, CCT_EINTERNAL, "cannot add a Landlock rule for %s: %s",
                               writable[i], strerror(errno));
            goto out;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_landlock_restrict_self, rs, 0) != 0)
        rc = cct_error_set(err, CCT_EINTERNAL, "cannot apply the Landlock rules: %s",
                           strerror(errno));
out:
    close(rs);
    return rc;
}
