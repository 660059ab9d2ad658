/* cmd_convert.c - `cct convert IN OUT [--to FORMAT] [--preset P]`: one file on the command
 * line through the same sandboxed engine the workers use (detection included), with a progress
 * bar and the elapsed time on a terminal; Ctrl-C cancels cleanly (no partial output). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

/* Ctrl-C or a TERM: the sandbox sees a non-zero progress answer, kills the child and removes
 * the partial output, instead of this process dying and leaving both behind. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

static void catch_interrupts(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt}; /* no SA_RESTART: wake the poll */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

struct bar {
    int tty;
    int last;
    int64_t start_ms; /* for the elapsed time */
    int64_t shown_s;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Redraws "[#####     ]  40%  0:12" when the percentage or the elapsed second changes; the
 * sandbox calls this at least twice a second, so the clock keeps moving on a silent engine. */
static int show_progress(void *ud, int percent)
{
    struct bar *b = ud;
    if (interrupted)
        return 1;
    if (!b->tty)
        return 0;
    int64_t secs = (monotonic_ms() - b->start_ms) / 1000;
    if (percent == b->last && secs == b->shown_s)
        return 0;
    b->last = percent;
    b->shown_s = secs;
    int filled = percent / 4;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRId64 ":%02" PRId64, filled,
            "#########################", 25 - filled, "", percent, secs / 60, secs % 60);
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
    catch_interrupts();
    struct bar bar = {
        .tty = isatty(STDERR_FILENO), .last = -1, .start_ms = monotonic_ms(), .shown_s = -1};
    /* from = NULL: the sandboxed child detects the input (as far as the target needs), checks
     * the pair and converts, all in one process. */
    struct conv_request req = {
        .in_path = in,
        .out_path = out,
        .from = NULL,
        .to = to,
        .preset = preset,
        .progress = show_progress,
        .progress_ud = &bar,
    };
    conv_limits_default(&req.limits);
    cct_err rc = conv_run_sandboxed(&req, &err);
    if (bar.tty && bar.last >= 0)
        fprintf(stderr, "\n");
    if (rc == CCT_ECANCELLED && interrupted) {
        fprintf(stderr, "cct convert: interrupted; %s was not written\n", out);
        return 128 + interrupted;
    }
    if (rc != CCT_OK) {
        fprintf(stderr, "cct convert: %s -> %s: %s\n", in, to,
                err.msg[0] ? err.msg : cct_strerror(rc));
        return 1;
    }
    return 0;
}
