/* conv.c - the engine's entry points: default limits, format detection from the bytes
 * (libmagic first, then libav or libarchive where the container needs a closer look), and
 * dispatch of a request to the engine for its kind (libav and libvips engines are loaded from
 * shared objects on first use: engines.c). */
#include "domain/convert/conv.h"

#include <errno.h>
#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "domain/convert/engines.h"
#include "domain/formats.h"
#include "util/config.h"

void conv_limits_default(struct conv_limits *l)
{
    l->cpu_seconds = cfg.job_cpu > 0 ? cfg.job_cpu : 1800;
    l->wall_seconds = cfg.job_timeout > 0 ? cfg.job_timeout : 900;
    l->memory_bytes = (cfg.job_memory_mb > 0 ? cfg.job_memory_mb : 2048) * 1024 * 1024;
    l->output_bytes = (cfg.job_output_mb > 0 ? cfg.job_output_mb : 4096) * 1024 * 1024;
    l->max_pixels = 16384LL * 16384; /* 268 Mpx: larger images are refused */
    l->max_unpacked = (cfg.archive_max_mb > 0 ? cfg.archive_max_mb : 8192) * 1024 * 1024;
    l->max_duration_s = 6 * 3600;
}

/* MIME types libmagic settles on its own. */
static const struct {
    const char *mime;
    const char *fmt;
} mime_map[] = {
    {"image/png", "png"},   {"image/jpeg", "jpg"},      {"image/webp", "webp"},
    {"image/gif", "gif"},   {"image/bmp", "bmp"},       {"image/x-ms-bmp", "bmp"},
    {"image/tiff", "tiff"}, {"image/avif", "avif"},     {"image/heic", "heic"},
    {"image/heif", "heic"}, {"application/zip", "zip"}, {"application/x-7z-compressed", "7z"},
};

/* MIME prefixes that send the file to a closer look. */
static const char *const av_prefixes[] = {"audio/", "video/", "application/ogg",
                                          "application/octet-stream", "application/vnd.ms-asf"};
static const char *const archive_mimes[] = {"application/gzip",  "application/x-bzip2",
                                            "application/x-xz",  "application/zstd",
                                            "application/x-tar", "application/x-gtar"};

/* libmagic's failure as our error: ENOMEM stays out-of-memory (the sandbox reports its limit). */
static cct_err magic_failed(magic_t m, cct_err code, const char *what, struct cct_error *err)
{
    int saved = errno; /* libmagic leaves a failed malloc only in errno */
    int e = m && magic_errno(m) ? magic_errno(m) : saved;
    const char *msg = m ? magic_error(m) : NULL;
    if (e == ENOMEM || (!msg && saved == ENOMEM))
        return cct_error_set(err, CCT_ENOMEM, "%s: out of memory", what);
    return cct_error_set(err, code, "%s: %s", what,
                         msg ? msg : (e ? strerror(e) : "unknown error"));
}

static cct_err magic_mime(const char *path, char *mime, size_t n, struct cct_error *err)
{
    magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_CDF | MAGIC_ERROR);
    if (!m)
        return magic_failed(NULL, CCT_EINTERNAL, "cannot start libmagic", err);
    cct_err rc = CCT_OK;
    const char *r = NULL;
    if (magic_load(m, NULL) != 0) {
        rc = magic_failed(m, CCT_EINTERNAL, "cannot load libmagic's database", err);
        goto out;
    }
    errno = 0;
    r = magic_file(m, path);
    if (!r) {
        rc = magic_failed(m, CCT_EIO, "cannot read the file", err);
        goto out;
    }
    snprintf(mime, n, "%s", r);
out:
    magic_close(m);
    return rc;
}

/* deep = 0 is what packing into an archive needs: whether the input is an archive (to repack),
 * and what libmagic alone can name; audio and video, which need the libav probe, stay "other". */
static cct_err detect(const char *path, int deep, char *fmt, size_t n, struct cct_error *err)
{
    char mime[128];
    struct stat st;
    snprintf(fmt, n, "other");
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return cct_error_set(err, CCT_EIO, "cannot read the input file");
    if (st.st_size == 0)
        return cct_error_set(err, CCT_EINVAL, "the file is empty");
    cct_err rc = magic_mime(path, mime, sizeof mime, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof mime_map / sizeof mime_map[0]; i++)
        if (strcmp(mime, mime_map[i].mime) == 0) {
            snprintf(fmt, n, "%s", mime_map[i].fmt);
            return CCT_OK;
        }
    for (size_t i = 0; i < sizeof archive_mimes / sizeof archive_mimes[0]; i++)
        if (strcmp(mime, archive_mimes[i]) == 0)
            return conv_archive_detect(path, fmt, n, err);
    for (size_t i = 0; deep && i < sizeof av_prefixes / sizeof av_prefixes[0]; i++)
        if (strncmp(mime, av_prefixes[i], strlen(av_prefixes[i])) == 0)
            return engine_av_detect(path, fmt, n, err);
    return CCT_OK; /* any other file: "other", which can still be archived */
}

cct_err conv_detect(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    return detect(path, 1, fmt, n, err);
}

cct_err conv_run(const struct conv_request *req, struct cct_error *err)
{
    struct conv_request r = *req;
    char detected[32];
    const struct format *to = format_find(r.to);
    if (!to)
        return cct_error_set(err, CCT_EUNSUPPORTED, "unknown format %s", r.to ? r.to : "(none)");
    if (!r.from || !*r.from) {
        /* Packing into an archive needs to know only whether the input is an archive. */
        cct_err rc = detect(r.in_path, to->kind != FMT_ARCHIVE, detected, sizeof detected, err);
        if (rc)
            return rc;
        r.from = detected;
    }
    const struct format *from = format_find(r.from);
    if (!from)
        return cct_error_set(err, CCT_EUNSUPPORTED, "unknown format %s", r.from);
    if (!formats_can_convert(r.from, r.to, r.preset)) {
        char why[sizeof err->msg];
        formats_explain_refusal(r.from, r.to, r.preset, why, sizeof why);
        return cct_error_set(err, CCT_EUNSUPPORTED, "%s", why);
    }
    if (to->kind == FMT_ARCHIVE)
        return conv_archive_run(&r, err);
    if (from->kind == FMT_IMAGE)
        return engine_image_run(&r, err);
    return engine_av_run(&r, err); /* audio, video, video -> animated gif */
}
