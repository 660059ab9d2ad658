/* main.c - the cct program: finds the subcommand in the table and runs it. */
#include <stdio.h>
#include <string.h>

#include "programs/commands.h"

#define CCT_VERSION "0.1.0"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
};

static const struct command commands[] = {
    {.name = "serve",
     .run = cmd_serve,
     .usage = "serve",
     .help = "run the HTTP API and web page (and the workers)"},
    {.name = "worker", .run = cmd_worker, .usage = "worker", .help = "run one conversion worker"},
    {.name = "convert",
     .run = cmd_convert,
     .usage = "convert IN OUT [--preset small|balanced|high] [--to FORMAT]",
     .help = "convert one file on the command line"},
    {.name = "detect",
     .run = cmd_detect,
     .usage = "detect [--machine] FILE",
     .help = "print the format detected from a file's bytes"},
    {.name = "migrate",
     .run = cmd_migrate,
     .usage = "migrate",
     .help = "create or upgrade the database schema"},
    {.name = "formats",
     .run = cmd_formats,
     .usage = "formats [--json]",
     .help = "list formats and what each converts to"},
};

static void usage(FILE *out)
{
    fprintf(out, "cct %s - Cloud Conversion Tool\n\nUsage: cct COMMAND [ARGS]\n\nCommands:\n",
            CCT_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-62s %s\n", commands[i].usage, commands[i].help);
    fprintf(out, "\n`cct COMMAND --help` for a command's options; `cct serve --help` lists the "
                 "environment settings.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("cct %s\n", CCT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cct: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
