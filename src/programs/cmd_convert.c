/* cmd_convert.c - cct convert (stub: not written yet) */
#include "programs/commands.h"

#include <stdio.h>
int cmd_convert(int argc, char **argv) { fprintf(stderr, "cct convert: not written yet\n"); return 1; }
