/* formats.c - the format table and the conversion rules between kinds:
 *   audio -> audio; video -> video, gif, audio; image -> image; archive -> archive;
 *   any file (including media) -> archive. With a preset a file may become its own format. */
#include "domain/formats.h"

#include <stdio.h>
#include <strings.h>

static const struct format table[] = {
    /* audio */
    {"mp3", FMT_AUDIO, "audio/mpeg", "mp3", true},
    {"wav", FMT_AUDIO, "audio/wav", "wav", true},
    {"ogg", FMT_AUDIO, "audio/ogg", "ogg", true},
    {"opus", FMT_AUDIO, "audio/opus", "opus", true},
    {"aac", FMT_AUDIO, "audio/aac", "aac", true},
    {"m4a", FMT_AUDIO, "audio/mp4", "m4a", true},
    {"flac", FMT_AUDIO, "audio/flac", "flac", true},
    {"wma", FMT_AUDIO, "audio/x-ms-wma", "wma", true},
    {"aiff", FMT_AUDIO, "audio/aiff", "aiff", true},
    /* video */
    {"mp4", FMT_VIDEO, "video/mp4", "mp4", true},
    {"webm", FMT_VIDEO, "video/webm", "webm", true},
    {"avi", FMT_VIDEO, "video/x-msvideo", "avi", true},
    {"mpeg", FMT_VIDEO, "video/mpeg", "mpeg", true},
    {"wmv", FMT_VIDEO, "video/x-ms-wmv", "wmv", true},
    {"mkv", FMT_VIDEO, "video/x-matroska", "mkv", true},
    {"mov", FMT_VIDEO, "video/quicktime", "mov", true},
    /* images (gif is an image; video -> gif makes an animated one) */
    {"png", FMT_IMAGE, "image/png", "png", true},
    {"jpg", FMT_IMAGE, "image/jpeg", "jpg", true},
    {"webp", FMT_IMAGE, "image/webp", "webp", true},
    {"gif", FMT_IMAGE, "image/gif", "gif", true},
    {"bmp", FMT_IMAGE, "image/bmp", "bmp", true},
    {"tiff", FMT_IMAGE, "image/tiff", "tiff", true},
    {"avif", FMT_IMAGE, "image/avif", "avif", true},
    {"heic", FMT_IMAGE, "image/heic", "heic", true},
    /* archives */
    {"zip", FMT_ARCHIVE, "application/zip", "zip", true},
    {"7z", FMT_ARCHIVE, "application/x-7z-compressed", "7z", true},
    {"tar.gz", FMT_ARCHIVE, "application/gzip", "tar.gz", true},
    {"tar.bz2", FMT_ARCHIVE, "application/x-bzip2", "tar.bz2", true},
    {"tar.xz", FMT_ARCHIVE, "application/x-xz", "tar.xz", true},
    {"tar.zst", FMT_ARCHIVE, "application/zstd", "tar.zst", true},
    {"tar", FMT_ARCHIVE, "application/x-tar", "tar", false},
    /* any other file: it can only be put into an archive */
    {"other", FMT_OTHER, "application/octet-stream", "bin", false},
};

#define NFORMATS (sizeof table / sizeof table[0])

const struct format *formats_all(size_t *n)
{
    *n = NFORMATS;
    return table;
}

const struct format *format_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcasecmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

const char *fmt_kind_name(enum fmt_kind k)
{
    switch (k) {
    case FMT_AUDIO: return "audio";
    case FMT_VIDEO: return "video";
    case FMT_IMAGE: return "image";
    case FMT_ARCHIVE: return "archive";
    case FMT_OTHER: return "other";
    }
    return "other";
}

bool preset_valid(const char *preset)
{
    return !preset || !*preset || strcasecmp(preset, "small") == 0 ||
           strcasecmp(preset, "balanced") == 0 || strcasecmp(preset, "high") == 0;
}

static bool kind_allows(const struct format *f, const struct format *t)
{
    if (t->kind == FMT_ARCHIVE)
        return true; /* any file can be packed; an archive is repacked */
    switch (f->kind) {
    case FMT_AUDIO: return t->kind == FMT_AUDIO;
    case FMT_VIDEO:
        return t->kind == FMT_VIDEO || t->kind == FMT_AUDIO || strcasecmp(t->name, "gif") == 0;
    case FMT_IMAGE: return t->kind == FMT_IMAGE;
    case FMT_ARCHIVE:
    case FMT_OTHER: return false;
    }
    return false;
}

bool formats_can_convert(const char *from, const char *to, const char *preset)
{
    const struct format *f = format_find(from), *t = format_find(to);
    if (!f || !t || !t->writable || !preset_valid(preset))
        return false;
    if (f == t) {
        bool has_preset = preset && *preset;
        /* same format: media only, and only with a preset (re-encode smaller). */
        return has_preset && (f->kind == FMT_AUDIO || f->kind == FMT_VIDEO || f->kind == FMT_IMAGE);
    }
    return kind_allows(f, t);
}

size_t formats_targets(const char *from, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NFORMATS && n < cap; i++)
        if (formats_can_convert(from, table[i].name, NULL))
            out[n++] = table[i].name;
    return n;
}

void formats_explain_refusal(const char *from, const char *to, const char *preset, char *out,
                             size_t n)
{
    const char *targets[64];
    size_t nt = formats_targets(from, targets, sizeof targets / sizeof targets[0]);
    char list[400];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < nt && o < sizeof list; i++) {
        int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", targets[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    const struct format *t = format_find(to);
    if (!t) {
        snprintf(out, n, "unknown target format \"%.16s\"; %s converts to: %s", to, from,
                 nt ? list : "nothing");
        return;
    }
    const char *same = strcasecmp(from, t->name) == 0 && !(preset && *preset)
                           ? " (re-encoding to the same format needs a preset)"
                           : "";
    snprintf(out, n, "cannot convert %s to %s%s; %s converts to: %s", from, t->name, same, from,
             nt ? list : "nothing");
}
