/* cmd_detect.c - `cct detect [--machine] FILE`: prints the format cct detects from a file's
 * bytes (in the sandbox, as for an upload). --machine answers in one line, "ok FORMAT" or
 * "error CODE MESSAGE"; the HTTP server runs it this way instead of forking itself. */
#include <stdio.h>
#include <string.h>

#include "domain/convert/conv.h"
#include "programs/commands.h"
#include "util/config.h"

int cmd_detect(int argc, char **argv)
{
    int machine = argc == 3 && strcmp(argv[1], "--machine") == 0;
    if (!(argc == 2 && argv[1][0] != '-') && !machine) {
        int help = argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fprintf(help ? stdout : stderr, "Usage: cct detect [--machine] FILE\n"
                                        "Prints the format detected from FILE's bytes.\n");
        return help ? 0 : 2;
    }
    const char *path = argv[argc - 1];
    char cfgerr[256], fmt[32];
    struct cct_error err = {0};
    cct_err rc;
    if (config_load(cfgerr, sizeof cfgerr) < 0)
        rc = cct_error_set(&err, CCT_EINVAL, "%s", cfgerr);
    else
        rc = conv_detect_sandboxed(path, fmt, sizeof fmt, &err);
    if (rc == CCT_OK) {
        printf(machine ? "ok %s\n" : "%s\n", fmt);
        return 0;
    }
    for (char *p = err.msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (machine) {
        printf("error %d %s\n", (int)rc, err.msg[0] ? err.msg : cct_strerror(rc));
        return 0;
    }
    fprintf(stderr, "cct detect: %s: %s\n", path, err.msg[0] ? err.msg : cct_strerror(rc));
    return 1;
}
