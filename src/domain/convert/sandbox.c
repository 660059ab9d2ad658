/* sandbox.c - runs a conversion in a sandboxed child (stub: runs in-process for now). */
#include "domain/convert/conv.h"

cct_err conv_run_sandboxed(const struct conv_request *r, struct cct_error *err) { return conv_run(r, err); }
