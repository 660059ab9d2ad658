/* sandbox.h - the pieces behind conv_run_sandboxed() that tests reach directly: entering the
 * sandbox in a freshly forked child (resource limits, no new privileges, the seccomp filter)
 * and turning how a child ended into a message for the user. Internal to the engine. */
#ifndef CCT_SANDBOX_H
#define CCT_SANDBOX_H

#include <sys/resource.h>
#include <sys/types.h>

#include "domain/convert/conv.h"

/* Applies the resource limits of l (CPU, address space, output file size, 64 open files, no
 * core dumps) to the calling process. Only for a child about to convert: limits are set soft
 * and hard, so they can never be raised again. */
cct_err sandbox_apply_limits(const struct conv_limits *l, struct cct_error *err);

/* Sets no-new-privileges and loads the seccomp filter into the calling process: everything is
 * allowed except the network (sockets other than AF_UNIX, connect, bind, listen, accept),
 * starting programs (execve, fork; threads stay allowed), signals to other processes, raising
 * limits, and the kernel's administration and debugging calls (ptrace, mount, modules, bpf,
 * keys, io_uring ...), which fail with EPERM. Foreign system-call ABIs (i386, x32) kill the
 * process with SIGSYS. Irreversible. */
cct_err sandbox_apply_seccomp(struct cct_error *err);

/* Confines every kind of write (create, write, truncate, remove, rename, link) of the calling
 * process to the given folders and files, with Landlock; reading stays allowed. Paths that do
 * not exist are skipped. A kernel without Landlock leaves the process as it was (CCT_OK).
 * Irreversible; sets no-new-privileges. */
cct_err sandbox_apply_landlock(const char *const *writable, size_t n, struct cct_error *err);

/* How the child ended, as the parent saw it. */
struct sandbox_end {
    int wstatus;          /* from waitpid */
    int have_done;        /* the child sent its final message */
    cct_err done_code;    /* ... with this code */
    const char *done_msg; /* ... and this message (may be "") */
    int crash_signal;     /* the child reported a fatal signal (0 = none) */
    int64_t crash_vm;     /* its address-space size at that moment, bytes */
    double cpu_seconds;   /* CPU time the child used (user + system) */
    int64_t out_size;     /* size of the output file, -1 when there is none */
};

/* Maps the end of a child to a code and a message the user can act on (limits named with
 * their values). Returns CCT_OK only for a child that reported success and exited cleanly. */
cct_err sandbox_end_error(const struct sandbox_end *e, const struct conv_limits *l,
                          struct cct_error *err);

/* Reads up to n-1 bytes of a /proc file into buf, NUL-terminated; returns the count or -1.
 * Async-signal-safe (open, read, close only). */
ssize_t sandbox_read_proc(const char *path, char *buf, size_t n);

/* Threads in the calling process (/proc/self/stat), -1 when unknown. */
int sandbox_thread_count(void);

/* Detection for a process with threads: runs `cct detect --machine PATH` (a fresh, single-
 * threaded process doing the sandboxed detection) instead of forking this one. */
cct_err sandbox_detect_spawned(const char *path, char *fmt, size_t n, struct cct_error *err);

#endif
