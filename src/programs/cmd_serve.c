/* cmd_serve.c - cct serve (stub: not written yet) */
#include "programs/commands.h"

#include <stdio.h>
int cmd_serve(int argc, char **argv) { fprintf(stderr, "cct serve: not written yet\n"); return 1; }
