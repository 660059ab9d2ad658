/* conv_image.c - the image engine: png, jpg, webp, gif, bmp, tiff, avif and heic into one
 * another through libvips, in-process.
 *
 * The pipeline: check the loader against an allow-list and the pixel count against
 * limits.max_pixels from the header alone (before any pixel is decoded), load (sequential
 * unless an EXIF rotation needs random access), autorotate, downscale for the preset, convert
 * to sRGB (or 8-bit grey), flatten alpha onto white for targets without alpha, cast to 8 bits,
 * drop every metadata item except the ICC profile, save. Animated gif/webp stay animated
 * when the target is gif or webp; every other target gets the first frame.
 *
 * BMP: libvips has no BMP codec of its own; BMP goes through ImageMagick with the coder
 * forced ("BMP:path"), and only after the file was seen to start with "BM". Every other
 * ImageMagick coder, svg, pdf and the rest stay blocked. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <vips/vips.h>

#include "domain/convert/conv.h"
#include "util/log.h"

/* What a preset means for images. max_side 0 = no downscale. */
struct img_preset {
    const char *name;
    int quality;
    int max_side;
};

static const struct img_preset presets[] = {
    {"", 85, 0},
    {"small", 60, 1280},
    {"balanced", 75, 2560},
    {"high", 90, 0},
};

/* Loaders a job may use (GType names as vips_foreign_find_load returns them). */
static const char *const allowed_loaders[] = {
    "VipsForeignLoadPngFile",    "VipsForeignLoadJpegFile", "VipsForeignLoadWebpFile",
    "VipsForeignLoadNsgifFile",  "VipsForeignLoadTiffFile", "VipsForeignLoadHeifFile",
    "VipsForeignLoadMagickFile", /* BMP only: checked below */
};

/* Operation classes left unblocked after every loader was blocked. */
static const char *const unblocked_ops[] = {
    "VipsForeignLoadPng",  "VipsForeignLoadJpeg", "VipsForeignLoadWebp",   "VipsForeignLoadNsgif",
    "VipsForeignLoadTiff", "VipsForeignLoadHeif", "VipsForeignLoadMagick",
};

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_ok;

/* libvips and its codecs warn on stderr; route that to our log at debug level. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
    char esc[256];
    log_debug("conv_image", "vips domain=%s msg=\"%s\"", domain ? domain : "-",
              log_escape(msg ? msg : "", esc, sizeof esc));
}

static void vips_start(void)
{
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                      quiet_log, NULL);
    if (VIPS_INIT("cct") != 0)
        return;
    vips_cache_set_max(0);
    vips_concurrency_set(2);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < sizeof unblocked_ops / sizeof unblocked_ops[0]; i++)
        vips_operation_block_set(unblocked_ops[i], FALSE);
    vips_ok = 1;
}

static const struct img_preset *preset_find(const char *name)
{
    for (size_t i = 1; i < sizeof presets / sizeof presets[0]; i++)
        if (name && strcasecmp(name, presets[i].name) == 0)
            return &presets[i];
    return &presets[0];
}

/* Copies the vips error buffer into err (first line, trimmed) and clears it. */
static cct_err vips_fail(struct cct_error *err, cct_err code, const char *what)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%s", vips_error_buffer());
    vips_error_clear();
    buf[strcspn(buf, "\n")] = '\0';
    return cct_error_set(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static int starts_with_bm(const char *path)
{
    unsigned char b[2] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(b, 1, 2, f);
    fclose(f);
    return got == 2 && b[0] == 'B' && b[1] == 'M';
}

static int target_has_alpha(const char *to)
{
    return strcmp(to, "jpg") != 0 && strcmp(to, "bmp") != 0;
}

static int is_animated_format(const char *fmt)
{
    return strcmp(fmt, "gif") == 0 || strcmp(fmt, "webp") == 0;
}

/* Progress through vips' eval signal; a non-zero answer from the callback kills the
 * computation. */
struct img_progress {
    const struct conv_request *r;
    int last;
    int cancelled;
};

static void on_eval(VipsImage *image, VipsProgress *p, void *ud)
{
    struct img_progress *ip = ud;
    int pct = 50 + p->percent / 2 - 1; /* 50 when loading starts, 99 before the save ends */
    if (pct <= ip->last || !ip->r->progress)
        return;
    ip->last = pct;
    if (ip->r->progress(ip->r->progress_ud, pct) != 0) {
        ip->cancelled = 1;
        vips_image_set_kill(image, TRUE);
    }
}

/* Removes every metadata item but the ICC profile and what animation needs. */
static void strip_metadata(VipsImage *im)
{
    static const char *const prefixes[] = {"exif-",        "xmp-",        "iptc-",   "photoshop-",
                                           "png-comment-", "gif-comment", "heif-",   "orientation",
                                           "jpeg-",        "tiff-",       "magick-", "webp-"};
    gchar **fields = vips_image_get_fields(im);
    for (int i = 0; fields && fields[i]; i++)
        for (size_t j = 0; j < sizeof prefixes / sizeof prefixes[0]; j++)
            if (strncmp(fields[i], prefixes[j], strlen(prefixes[j])) == 0) {
                vips_image_remove(im, fields[i]);
                break;
            }
    g_strfreev(fields);
}

/* Replaces *cur with next (takes the reference), unrefs the old one. */
static void step(VipsImage **cur, VipsImage *next)
{
    g_object_unref(*cur);
    *cur = next;
}

static int save_image(VipsImage *im, const struct conv_request *r, const struct img_preset *p)
{
    const char *to = r->to, *out = r->out_path;
    int q = p->quality, small = p->max_side == 1280;
    if (strcmp(to, "png") == 0)
        return small ? vips_pngsave(im, out, "compression", 9, "palette", TRUE, "Q", q, NULL)
                     : vips_pngsave(im, out, "compression", 6, NULL);
    if (strcmp(to, "jpg") == 0)
        return vips_jpegsave(im, out, "Q", q, "optimize_coding", TRUE, NULL);
    if (strcmp(to, "webp") == 0)
        return vips_webpsave(im, out, "Q", q, "effort", 4, NULL);
    if (strcmp(to, "gif") == 0)
        return vips_gifsave(im, out, "bitdepth", small ? 6 : 8, NULL);
    if (strcmp(to, "tiff") == 0)
        return vips_tiffsave(im, out, "compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE,
                             "predictor", VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL, NULL);
    if (strcmp(to, "avif") == 0)
        return vips_heifsave(im, out, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "Q", q,
                             "effort", 4, NULL);
    if (strcmp(to, "heic") == 0)
        return vips_heifsave(im, out, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, "Q", q,
                             NULL);
    if (strcmp(to, "bmp") == 0)
        return vips_magicksave(im, out, "format", "bmp3", NULL);
    vips_error("cct", "no image writer for %s", to);
    return -1;
}

/* Opens path with the given loader (header only until pixels are asked for). */
static VipsImage *open_image(const char *path, int bmp, int n, VipsAccess access)
{
    if (bmp) {
        char forced[4200];
        if ((size_t)snprintf(forced, sizeof forced, "BMP:%s", path) >= sizeof forced) {
            vips_error("cct", "path too long");
            return NULL;
        }
        VipsImage *im = NULL;
        if (vips_magickload(forced, &im, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, NULL))
            return NULL;
        return im;
    }
    /* random access decodes the whole image up front: into memory, never a temporary file */
    gboolean memory = access == VIPS_ACCESS_RANDOM;
    if (n != 1)
        return vips_image_new_from_file(path, "access", access, "fail_on", VIPS_FAIL_ON_ERROR,
                                        "memory", memory, "n", n, NULL);
    return vips_image_new_from_file(path, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, "memory",
                                    memory, NULL);
}

cct_err conv_image_run(const struct conv_request *r, struct cct_error *err)
{
    cct_err rc = CCT_OK;
    VipsImage *im = NULL, *t = NULL;
    struct img_progress ip = {.r = r, .last = -1};
    const struct img_preset *p = preset_find(r->preset);

    pthread_once(&vips_once, vips_start);
    if (!vips_ok)
        return vips_fail(err, CCT_EINTERNAL, "cannot start libvips");
    if (r->progress && r->progress(r->progress_ud, 0) != 0)
        return cct_error_set(err, CCT_ECANCELLED, "cancelled");

    /* 1. Which loader would vips pick? Refuse anything outside the allow-list. */
    const char *loader = vips_foreign_find_load(r->in_path);
    if (!loader)
        return vips_fail(err, CCT_ECONVERT, "not an image this service can read");
    int allowed = 0;
    for (size_t i = 0; i < sizeof allowed_loaders / sizeof allowed_loaders[0]; i++)
        allowed |= strcmp(loader, allowed_loaders[i]) == 0;
    int bmp = strcmp(loader, "VipsForeignLoadMagickFile") == 0;
    if (!allowed || (bmp && (strcmp(r->from, "bmp") != 0 || !starts_with_bm(r->in_path))))
        return cct_error_set(err, CCT_EUNSUPPORTED,
                             "this kind of image is not accepted (only png, jpeg, webp, gif, "
                             "bmp, tiff, avif and heic)");

    /* 2. The header alone: dimensions, pages, orientation. */
    im = open_image(r->in_path, bmp, 1, VIPS_ACCESS_SEQUENTIAL);
    if (!im) {
        rc = vips_fail(err, CCT_ECONVERT, "cannot read the image");
        goto out;
    }
    int64_t w = vips_image_get_width(im), h = vips_image_get_height(im);
    int pages = vips_image_get_n_pages(im);
    int orientation = vips_image_get_orientation(im);
    int animate = pages > 1 && is_animated_format(r->from) && is_animated_format(r->to) && !bmp;
    if (w <= 0 || h <= 0 || w * h > r->limits.max_pixels ||
        (animate && w * h * pages > r->limits.max_pixels)) {
        rc = cct_error_set(err, CCT_ELIMIT,
                           "the image is too large: %lldx%lld pixels%s (the limit is %lld "
                           "pixels)",
                           (long long)w, (long long)h, animate ? " per frame" : "",
                           (long long)r->limits.max_pixels);
        goto out;
    }

    /* 3. Load for real: rotations read out of order, so they need random access. */
    int rotate = !animate && orientation > 1 && orientation <= 8;
    if (animate || rotate) {
        g_object_unref(im);
        im = open_image(r->in_path, bmp, animate ? -1 : 1,
                        rotate ? VIPS_ACCESS_RANDOM : VIPS_ACCESS_SEQUENTIAL);
        if (!im) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot read the image");
            goto out;
        }
    }
    if (rotate) {
        if (vips_autorot(im, &t, NULL)) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot rotate the image");
            goto out;
        }
        step(&im, t);
    }

    /* 4. Downscale for the preset (single frames only). */
    int side = im->Xsize > im->Ysize ? im->Xsize : im->Ysize;
    if (!animate && p->max_side > 0 && side > p->max_side) {
        if (vips_resize(im, &t, (double)p->max_side / side, NULL)) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot resize the image");
            goto out;
        }
        step(&im, t);
    }

    /* 5. sRGB (grey stays grey), alpha flattened where the target has none, 8 bits. */
    VipsInterpretation space = vips_image_guess_interpretation(im);
    VipsInterpretation want =
        (space == VIPS_INTERPRETATION_B_W || space == VIPS_INTERPRETATION_GREY16)
            ? VIPS_INTERPRETATION_B_W
            : VIPS_INTERPRETATION_sRGB;
    if (space != want && space != VIPS_INTERPRETATION_RGB) {
        if (vips_colourspace(im, &t, want, NULL)) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot convert the colours");
            goto out;
        }
        step(&im, t);
        if (space != VIPS_INTERPRETATION_RGB16 && space != VIPS_INTERPRETATION_GREY16)
            vips_image_remove(im, VIPS_META_ICC_NAME); /* the profile described the old space */
    }
    if (vips_image_hasalpha(im) && !target_has_alpha(r->to)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        int bad = vips_flatten(im, &t, "background", white, NULL);
        vips_area_unref(VIPS_AREA(white));
        if (bad) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot flatten the transparency");
            goto out;
        }
        step(&im, t);
    }
    if (im->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast(im, &t, VIPS_FORMAT_UCHAR, NULL)) {
            rc = vips_fail(err, CCT_ECONVERT, "cannot convert to 8 bits");
            goto out;
        }
        step(&im, t);
    }

    /* 6. Metadata: a private copy without EXIF/XMP/IPTC/comments; the ICC profile stays. */
    if (vips_copy(im, &t, NULL)) {
        rc = vips_fail(err, CCT_ECONVERT, "cannot prepare the image");
        goto out;
    }
    step(&im, t);
    strip_metadata(im);
    if (!animate) {
        vips_image_remove(im, VIPS_META_PAGE_HEIGHT);
        vips_image_remove(im, VIPS_META_N_PAGES);
    }

    if (r->progress && r->progress(r->progress_ud, 50) != 0) {
        rc = cct_error_set(err, CCT_ECANCELLED, "cancelled");
        goto out;
    }
    ip.last = 50;
    vips_image_set_progress(im, TRUE);
    g_signal_connect(im, "eval", G_CALLBACK(on_eval), &ip);
    if (save_image(im, r, p)) {
        if (ip.cancelled) {
            vips_error_clear();
            rc = cct_error_set(err, CCT_ECANCELLED, "cancelled");
        } else
            rc = vips_fail(err, CCT_ECONVERT,
                           "the image could not be converted (damaged or "
                           "truncated?)");
        unlink(r->out_path);
        goto out;
    }
    if (r->progress)
        r->progress(r->progress_ud, 100);
out:
    if (im)
        g_object_unref(im);
    return rc;
}
