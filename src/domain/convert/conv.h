/* conv.h - the conversion engine: one file in, one file out, through libav (audio, video,
 * animated gif), libvips (images) and libarchive (archives), in-process. Knows nothing of HTTP,
 * users or queues. conv_run() converts in the calling process; conv_run_sandboxed() runs the
 * same in a forked child with resource limits and seccomp, which is what workers and
 * `cct convert` use. */
#ifndef CCT_CONV_H
#define CCT_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Called with 0..100 as the conversion advances; return non-zero to cancel. */
typedef int (*conv_progress_fn)(void *ud, int percent);

struct conv_limits {
    int64_t cpu_seconds;    /* RLIMIT_CPU */
    int64_t wall_seconds;   /* killed after this long */
    int64_t memory_bytes;   /* RLIMIT_AS */
    int64_t output_bytes;   /* RLIMIT_FSIZE */
    int64_t max_pixels;     /* largest image/frame area accepted (decompression bombs) */
    int64_t max_unpacked;   /* largest total an archive may expand to */
    int64_t max_duration_s; /* longest media accepted */
};

struct conv_request {
    const char *in_path;
    const char *name; /* the file's name as its owner knows it (an archive entry is named after
                       * it); NULL: the last component of in_path */
    const char *out_path;
    const char *from; /* format name (formats.h) from conv_detect(); NULL: conv_run detects it,
                       * only as far as the target needs (an archive target: archive or not) */
    const char *to;
    const char *preset;   /* NULL or "" = default; small | balanced | high */
    const char *work_dir; /* a private temporary folder for this job (may be NULL in-process) */
    conv_progress_fn progress;
    void *progress_ud;
    struct conv_limits limits;
};

/* Sets limits to the defaults (from cfg where they exist). */
void conv_limits_default(struct conv_limits *l);

/* Detects the format of a file from its bytes (libmagic, then the libav probe for media);
 * writes a formats.h name into fmt ("other" for anything unrecognised). */
cct_err conv_detect(const char *path, char *fmt, size_t n, struct cct_error *err);

/* conv_detect() in a sandboxed child (same limits and seccomp as a conversion, at most 60 s):
 * for callers that must not parse untrusted bytes in their own process (the HTTP server).
 * Fork-based: see the assumptions at the top of sandbox.c. */
cct_err conv_detect_sandboxed(const char *path, char *fmt, size_t n, struct cct_error *err);

/* Converts in this process. On failure err->msg says why, for the user. */
cct_err conv_run(const struct conv_request *r, struct cct_error *err);

/* Converts in a forked child with limits and seccomp; progress and the error come back over a
 * pipe. A crash, a signal or a limit becomes an error with a clear reason. */
cct_err conv_run_sandboxed(const struct conv_request *r, struct cct_error *err);

/* Detectors behind conv_detect for what libmagic alone cannot tell apart: the libav probe
 * (mp4/m4a/mov, ogg/opus, webm/mkv, wma/wmv ...) and libarchive (tar.gz vs a lone .gz).
 * Each writes a formats.h name, "other" when the file is not one it knows. */
cct_err conv_av_detect(const char *path, char *fmt, size_t n, struct cct_error *err);
cct_err conv_archive_detect(const char *path, char *fmt, size_t n, struct cct_error *err);

/* The only demuxers a job may open (comma-separated libav names): no playlists, concat lists,
 * image sequences or anything else that refers to other files or to the network. */
extern const char conv_av_demuxers[];

/* The engines behind conv_run, one per kind. conv_av_* and conv_image_run live in the shared
 * objects cct-av.so and cct-image.so; call them through engines.h. */
cct_err conv_av_run(const struct conv_request *r, struct cct_error *err);
cct_err conv_image_run(const struct conv_request *r, struct cct_error *err);
cct_err conv_archive_run(const struct conv_request *r, struct cct_error *err);

#endif
