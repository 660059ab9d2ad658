/* jobs.c - one conversion job, run by a worker: claim the task (queued -> processing), give it
 * a private work folder, convert in the sandbox with progress written back (and cancellation
 * when the task is deleted or the worker is told to stop), store the result next to the
 * original and record the outcome. The work folder is always removed. */
#include "domain/jobs.h"

#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "domain/convert/conv.h"
#include "domain/formats.h"
#include "util/config.h"
#include "util/log.h"

struct job_ctx {
    struct app *app;
    int64_t id;
    volatile sig_atomic_t *stop;
    int64_t last_write_ms, last_check_ms;
    int last_percent;
    int gone, stopped;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Progress from the engine: written at most every 500 ms; the task's existence is checked at
 * most once a second; *stop on every call. Non-zero cancels the conversion. */
static int on_progress(void *ud, int percent)
{
    struct job_ctx *c = ud;
    int64_t now = mono_ms();
    if (c->stop && *c->stop) {
        c->stopped = 1;
        return 1;
    }
    if (now - c->last_check_ms >= 1000) {
        struct task t;
        c->last_check_ms = now;
        if (c->app->db->ops->task_get(c->app->db, c->id, 0, &t) == CCT_ENOTFOUND) {
            c->gone = 1;
            return 1;
        }
    }
    if (percent < 0)
        percent = 0;
    if (percent > 99)
        percent = 99; /* 100 is written with the result */
    if (percent != c->last_percent && now - c->last_write_ms >= 500) {
        c->last_write_ms = now;
        c->last_percent = percent;
        c->app->db->ops->task_set_progress(c->app->db, c->id, percent);
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        log_warn("job", "event=cleanup_failed errno=%d", errno);
    return 0;
}

/* Removes our work folder and everything in it, without following symbolic links. */
static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* "u1/abc.../original" -> "u1/abc.../result.<ext>" */
static int result_key_of(const struct task *t, const char *ext, char *out, size_t n)
{
    const char *slash = strrchr(t->original_key, '/');
    if (!slash)
        return -1;
    int w =
        snprintf(out, n, "%.*s/result.%s", (int)(slash - t->original_key), t->original_key, ext);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* Claims the task: queued -> processing (compare-and-set), or takes over a processing one left
 * by a dead worker. Returns 0 when claimed, else -1 with *why (gone, or finished already). */
static int claim(struct app *app, const struct task *t, enum job_outcome *why)
{
    struct db *db = app->db;
    struct task now;
    *why = JOB_DONE;
    if (t->status == TASK_PROCESSING)
        return 0;
    if (t->status != TASK_QUEUED)
        return -1;
    if (db->ops->task_transition(db, t->id, TASK_QUEUED, TASK_PROCESSING) == CCT_OK)
        return 0;
    if (db->ops->task_get(db, t->id, 0, &now) == CCT_ENOTFOUND)
        *why = JOB_GONE;
    return -1;
}

enum job_outcome jobs_run(struct app *app, int64_t task_id, const char *work_root,
                          volatile sig_atomic_t *stop)
{
    enum job_outcome outcome = JOB_DONE;
    struct db *db = app->db;
    struct storage *st = app->storage;
    struct cct_error err = {0};
    struct task t;
    char dir[1100] = "", in_path[1200], out_path[1200], result_key[256] = "", esc[600];
    int stored = 0;
    int64_t t0 = mono_ms();

    cct_err rc = db->ops->task_get(db, task_id, 0, &t);
    if (rc == CCT_ENOTFOUND)
        return JOB_GONE;
    if (rc) {
        log_error("job", "task=%lld event=load_failed error=%s", (long long)task_id,
                  cct_err_name(rc));
        return JOB_RETRY;
    }
    if (claim(app, &t, &outcome) < 0)
        return outcome;

    t.status = TASK_PROCESSING;
    t.progress = 0;
    t.error[0] = '\0';
    t.started_at = (int64_t)time(NULL);
    t.finished_at = 0;
    t.result_key[0] = '\0';
    t.result_size = 0;
    if ((rc = db->ops->task_update(db, &t))) {
        if (rc == CCT_ENOTFOUND)
            return JOB_GONE;
        log_error("job", "task=%lld event=update_failed error=%s", (long long)t.id,
                  cct_err_name(rc));
        db->ops->task_transition(db, t.id, TASK_PROCESSING, TASK_QUEUED);
        return JOB_RETRY;
    }
    char e_from[64], e_to[64], e_preset[64];
    log_info("job", "task=%lld event=started from=%s to=%s preset=%s", (long long)t.id,
             log_escape(t.original_format, e_from, sizeof e_from),
             log_escape(t.new_format, e_to, sizeof e_to),
             log_escape(t.preset[0] ? t.preset : "-", e_preset, sizeof e_preset));

    const struct format *to = format_find(t.new_format);
    const char *slash = strrchr(t.original_key, '/');
    if (!to || !slash) {
        cct_error_set(&err, CCT_EINTERNAL, "the task names no valid target format");
        rc = CCT_EINTERNAL;
        goto finish;
    }
    char rnd[17];
    unsigned char b[8];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(rnd, sizeof rnd, b, sizeof b);
    int w = snprintf(dir, sizeof dir, "%s/job-%lld-%s", work_root, (long long)t.id, rnd);
    if (w < 0 || (size_t)w >= sizeof dir || mkdir(dir, 0700) < 0) {
        log_error("job", "task=%lld event=workdir_failed errno=%d", (long long)t.id, errno);
        dir[0] = '\0';
        rc = cct_error_set(&err, CCT_EIO, "the server could not prepare the conversion");
        goto finish;
    }
    if (st->ops->local_path(st, t.original_key, in_path, sizeof in_path) != CCT_OK) {
        snprintf(in_path, sizeof in_path, "%s/input", dir);
        if ((rc = st->ops->fetch(st, t.original_key, in_path))) {
            cct_error_set(&err, rc, "the uploaded file could not be read");
            goto finish;
        }
    }
    snprintf(out_path, sizeof out_path, "%s/result.%s", dir, to->ext);

    struct job_ctx ctx = {.app = app, .id = t.id, .stop = stop, .last_percent = 0};
    ctx.last_write_ms = ctx.last_check_ms = mono_ms();
    struct conv_request req = {
        .in_path = in_path,
        .name = t.file_name,
        .out_path = out_path,
        .from = t.original_format,
        .to = to->name,
        .preset = t.preset[0] ? t.preset : NULL,
        .work_dir = dir,
        .progress = on_progress,
        .progress_ud = &ctx,
    };
    conv_limits_default(&req.limits);
    req.limits.wall_seconds = cfg.job_timeout;
    req.limits.cpu_seconds = cfg.job_cpu;
    req.limits.memory_bytes = cfg.job_memory_mb * 1024 * 1024;
    req.limits.output_bytes = cfg.job_output_mb * 1024 * 1024;
    rc = conv_run_sandboxed(&req, &err);

    if (ctx.gone) {
        outcome = JOB_GONE;
        goto finish;
    }
    if (rc && (ctx.stopped || (stop && *stop))) {
        /* shutdown: the task goes back to the queue for the next worker */
        db->ops->task_transition(db, t.id, TASK_PROCESSING, TASK_QUEUED);
        db->ops->task_set_progress(db, t.id, 0);
        log_info("job", "task=%lld event=cancelled reason=shutdown dur_ms=%lld", (long long)t.id,
                 (long long)(mono_ms() - t0));
        outcome = JOB_RETRY;
        goto out;
    }
    if (rc == CCT_OK) {
        struct stat sb;
        if (stat(out_path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            rc = cct_error_set(&err, CCT_ECONVERT, "the conversion produced no file");
            goto finish;
        }
        if (result_key_of(&t, to->ext, result_key, sizeof result_key) < 0) {
            rc = cct_error_set(&err, CCT_EINTERNAL, "the result could not be named");
            goto finish;
        }
        if ((rc = st->ops->put_file(st, result_key, out_path))) {
            cct_error_set(&err, rc, "the result could not be stored");
            goto finish;
        }
        stored = 1;
        t.result_size = (int64_t)sb.st_size;
        snprintf(t.result_key, sizeof t.result_key, "%s", result_key);
    }

finish:
    if (outcome != JOB_GONE) {
        struct task now;
        if (db->ops->task_get(db, t.id, 0, &now) == CCT_ENOTFOUND)
            outcome = JOB_GONE;
    }
    if (outcome == JOB_GONE) {
        if (stored)
            st->ops->remove(st, result_key);
        log_info("job", "task=%lld event=cancelled reason=deleted dur_ms=%lld", (long long)t.id,
                 (long long)(mono_ms() - t0));
        goto out;
    }
    t.finished_at = (int64_t)time(NULL);
    if (rc == CCT_OK) {
        t.status = TASK_PROCESSED;
        t.progress = 100;
        t.error[0] = '\0';
    } else {
        t.status = TASK_FAILED;
        snprintf(t.error, sizeof t.error, "%s", err.msg[0] ? err.msg : cct_strerror(rc));
        t.result_key[0] = '\0';
        t.result_size = 0;
    }
    cct_err urc = db->ops->task_update(db, &t);
    struct task after;
    if (urc == CCT_ENOTFOUND || db->ops->task_get(db, t.id, 0, &after) == CCT_ENOTFOUND) {
        /* deleted while we stored the result: leave nothing behind */
        if (stored)
            st->ops->remove(st, result_key);
        log_info("job", "task=%lld event=cancelled reason=deleted dur_ms=%lld", (long long)t.id,
                 (long long)(mono_ms() - t0));
        outcome = JOB_GONE;
        goto out;
    }
    if (urc)
        log_error("job", "task=%lld event=update_failed error=%s", (long long)t.id,
                  cct_err_name(urc));
    if (rc == CCT_OK)
        log_info("job", "task=%lld event=processed dur_ms=%lld size=%lld", (long long)t.id,
                 (long long)(mono_ms() - t0), (long long)t.result_size);
    else
        log_info("job", "task=%lld event=failed dur_ms=%lld error=%s", (long long)t.id,
                 (long long)(mono_ms() - t0), log_escape(t.error, esc, sizeof esc));
    outcome = JOB_DONE;
out:
    remove_tree(dir);
    return outcome;
}
