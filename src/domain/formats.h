/* formats.h - the format matrix: every format cct knows, its kind, and which targets each
 * source can become. One table in formats.c feeds /api/formats, `cct formats`, the web page,
 * upload validation and the engine's dispatch. */
#ifndef CCT_FORMATS_H
#define CCT_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

enum fmt_kind { FMT_AUDIO, FMT_VIDEO, FMT_IMAGE, FMT_ARCHIVE, FMT_OTHER };

struct format {
    const char *name; /* "mp3": the name used in the API and as the file extension */
    enum fmt_kind kind;
    const char *mime; /* Content-Type of a file in this format */
    const char *ext;  /* file extension without the dot ("tar.gz") */
    bool writable;    /* can be a target (some formats are only readable) */
};

/* All formats, in display order; *n receives the count. */
const struct format *formats_all(size_t *n);
/* Looks a format up by name, case-insensitively; NULL when unknown. */
const struct format *format_find(const char *name);
const char *fmt_kind_name(enum fmt_kind k);

/* True when a file in format `from` can be converted to `to`. `preset` (NULL, "small",
 * "balanced", "high") allows from == to for audio, video and images (re-encode smaller). */
bool formats_can_convert(const char *from, const char *to, const char *preset);

/* Fills out[] (capacity cap) with the names of every target allowed from `from`, in table
 * order; returns how many. "other" (any file) has only archive targets. */
size_t formats_targets(const char *from, const char **out, size_t cap);

/* Writes why from -> to is refused and what from converts to, for the user:
 * "cannot convert mp3 to png; mp3 converts to: wav, ogg, ...". */
void formats_explain_refusal(const char *from, const char *to, const char *preset, char *out,
                             size_t n);

/* True for NULL, "", "small", "balanced" and "high". */
bool preset_valid(const char *preset);

#endif
