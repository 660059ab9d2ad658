/* cmd_migrate.c - cct migrate (stub: not written yet) */
#include "programs/commands.h"

#include <stdio.h>
int cmd_migrate(int argc, char **argv) { fprintf(stderr, "cct migrate: not written yet\n"); return 1; }
