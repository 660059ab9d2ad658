/* cmd_formats.c - cct formats (stub: not written yet) */
#include "programs/commands.h"

#include <stdio.h>
int cmd_formats(int argc, char **argv) { fprintf(stderr, "cct formats: not written yet\n"); return 1; }
