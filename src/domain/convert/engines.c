/* engines.c - loads the engines that live in shared objects of their own: cct-av.so (libav:
 * some 170 shared libraries) and cct-image.so (libvips: some 100). Keeping them out of the
 * program means `cct serve` and archive jobs start in milliseconds with a small footprint,
 * and only a job that needs libav or libvips pays for loading it (workers load both once at
 * start, so their forked jobs begin warm). The objects are looked for in $CCT_ENGINE_DIR,
 * then in lib/ beside the program, then in ../lib/ (the unit tests live in build/tests/). */
#include "domain/convert/engines.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct engine {
    const char *file; /* shared object name */
    const char *what; /* for messages */
    void *handle;
};

static struct engine av_engine = {.file = "cct-av.so", .what = "audio/video"};
static struct engine image_engine = {.file = "cct-image.so", .what = "image"};
static pthread_mutex_t engines_mu = PTHREAD_MUTEX_INITIALIZER;

/* Tries dir/file; returns the handle or NULL, keeping the loader's message in why. */
static void *try_open(const char *dir, const char *file, char *why, size_t n)
{
    char path[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return NULL;
    if (access(path, R_OK) != 0)
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(why, n, "%s", dlerror());
    return h;
}

static void *open_engine(const char *file, char *why, size_t n)
{
    char exe[PATH_MAX], dir[PATH_MAX + 8];
    const char *env = getenv("CCT_ENGINE_DIR");
    void *h = NULL;
    if (env && *env && (h = try_open(env, file, why, n)))
        return h;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(dir, sizeof dir, "%s/lib", exe);
    if ((h = try_open(dir, file, why, n)))
        return h;
    snprintf(dir, sizeof dir, "%s/../lib", exe);
    return try_open(dir, file, why, n);
}

/* The address of sym in engine e, loading e on first use. */
static void *engine_sym(struct engine *e, const char *sym, struct cct_error *err)
{
    char why[512] = "";
    void *fn = NULL;
    pthread_mutex_lock(&engines_mu);
    if (!e->handle)
        e->handle = open_engine(e->file, why, sizeof why);
    if (e->handle)
        fn = dlsym(e->handle, sym);
    pthread_mutex_unlock(&engines_mu);
    if (!fn)
        cct_error_set(err, CCT_EINTERNAL,
                      "the %s engine is not available (%s not found beside the program%s%s)",
                      e->what, e->file, why[0] ? ": " : "", why);
    return fn;
}

typedef cct_err (*run_fn)(const struct conv_request *r, struct cct_error *err);
typedef cct_err (*detect_fn)(const char *path, char *fmt, size_t n, struct cct_error *err);

cct_err engine_av_run(const struct conv_request *r, struct cct_error *err)
{
    run_fn fn = (run_fn)engine_sym(&av_engine, "conv_av_run", err);
    return fn ? fn(r, err) : CCT_EINTERNAL;
}

cct_err engine_av_detect(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    detect_fn fn = (detect_fn)engine_sym(&av_engine, "conv_av_detect", err);
    return fn ? fn(path, fmt, n, err) : CCT_EINTERNAL;
}

cct_err engine_image_run(const struct conv_request *r, struct cct_error *err)
{
    run_fn fn = (run_fn)engine_sym(&image_engine, "conv_image_run", err);
    return fn ? fn(r, err) : CCT_EINTERNAL;
}

cct_err engines_preload(struct cct_error *err)
{
    if (!engine_sym(&av_engine, "conv_av_run", err) ||
        !engine_sym(&image_engine, "conv_image_run", err))
        return CCT_EINTERNAL;
    return CCT_OK;
}
