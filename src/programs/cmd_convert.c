/* cmd_convert.c - `cct convert IN OUT [--to FORMAT] [--preset P]`: one file on the command
 * line through the same sandboxed engine the workers use, with a progress bar on a terminal. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "domain/convert/conv.h"
#include "domain/formats.h"
#include "programs/commands.h"
#include "util/config.h"

static void convert_usage(FILE *out)
{
    fprintf(out, "Usage: cct convert IN OUT [--to FORMAT] [--preset small|balanced|high]\n"
                 "The input format is detected from the bytes; the target comes from --to or\n"
                 "OUT's extension. `cct formats` lists what converts to what.\n");
}

/* The format whose extension ends path, longest first ("x.tar.gz" is tar.gz, not gz). */
static const char *format_from_name(const char *path)
{
    size_t n, best_len = 0, plen = strlen(path);
    const struct format *all = formats_all(&n), *best = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t el = strlen(all[i].ext);
        if (!all[i].writable || el + 1 >= plen || el <= best_len)
            continue;
        if (path[plen - el - 1] == '.' && strcasecmp(path + plen - el, all[i].ext) == 0) {
            best = &all[i];
            best_len = el;
        }
    }
    if (!best) { /* common aliases */
        const char *dot = strrchr(path, '.');
        if (dot && (strcasecmp(dot, ".jpeg") == 0))
            return "jpg";
        if (dot && (strcasecmp(dot, ".tif") == 0))
            return "tiff";
        if (dot && (strcasecmp(dot, ".aif") == 0))
            return "aiff";
        return NULL;
    }
    return best->name;
}

struct bar {
    int tty;
    int last;
};

static int show_progress(void *ud, int percent)
{
    struct bar *b = ud;
    if (!b->tty || percent == b->last)
        return 0;
    b->last = percent;
    int filled = percent / 4;
    fprintf(stderr, "\r[%.*s%*s] %3d%%", filled, "#########################", 25 - filled, "",
            percent);
    fflush(stderr);
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *to = NULL, *preset = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            convert_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc)
            preset = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "cct convert: unknown option %s\n", argv[i]);
            convert_usage(stderr);
            return 2;
        } else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else {
            convert_usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        convert_usage(stderr);
        return 2;
    }
    char cfgerr[256];
    if (config_load(cfgerr, sizeof cfgerr) < 0) {
        fprintf(stderr, "cct convert: %s\n", cfgerr);
        return 2;
    }
    if (!to)
        to = format_from_name(out);
    if (!to || !format_find(to)) {
        fprintf(stderr, "cct convert: cannot tell the target format from \"%s\"; use --to\n", out);
        return 2;
    }
    to = format_find(to)->name;
    if (!preset_valid(preset)) {
        fprintf(stderr, "cct convert: preset must be small, balanced or high\n");
        return 2;
    }
    struct cct_error err = {0};
    char from[32];
    if (conv_detect(in, from, sizeof from, &err) != CCT_OK) {
        fprintf(stderr, "cct convert: %s: %s\n", in, err.msg);
        return 1;
    }
    if (!formats_can_convert(from, to, preset)) {
        const char *targets[64];
        size_t nt = formats_targets(from, targets, 64);
        fprintf(stderr, "cct convert: cannot convert %s to %s; %s converts to:", from, to, from);
        for (size_t i = 0; i < nt; i++)
            fprintf(stderr, "%s %s", i ? "," : "", targets[i]);
        fprintf(stderr, "\n");
        return 1;
    }
    struct bar bar = {.tty = isatty(STDERR_FILENO), .last = -1};
    struct conv_request req = {
        .in_path = in, .out_path = out, .from = from, .to = to, .preset = preset,
        .progress = show_progress, .progress_ud = &bar,
    };
    conv_limits_default(&req.limits);
    cct_err rc = conv_run_sandboxed(&req, &err);
    if (bar.tty && bar.last >= 0)
        fprintf(stderr, "\n");
    if (rc != CCT_OK) {
        fprintf(stderr, "cct convert: %s -> %s failed: %s\n", from, to,
                err.msg[0] ? err.msg : cct_strerror(rc));
        return 1;
    }
    return 0;
}
