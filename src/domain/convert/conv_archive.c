/* conv_archive.c - archive engine (stub: not written yet) */
#include <stdio.h>

#include "domain/convert/conv.h"

cct_err conv_archive_run(const struct conv_request *r, struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
cct_err conv_archive_detect(const char *path, char *fmt, size_t n, struct cct_error *err) { snprintf(fmt, n, "other"); return CCT_OK; }
