/* cmd_worker.c - cct worker (stub: not written yet) */
#include "programs/commands.h"

#include <stdio.h>
int cmd_worker(int argc, char **argv) { fprintf(stderr, "cct worker: not written yet\n"); return 1; }
