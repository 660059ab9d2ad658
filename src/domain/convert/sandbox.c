/* sandbox.c - sandboxed child (stub: not written yet) */
#include "domain/convert/conv.h"

cct_err conv_run_sandboxed(const struct conv_request *r, struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
