/* conv.c - engine entry points (stub: not written yet) */
#include "domain/convert/conv.h"

void conv_limits_default(struct conv_limits *l) { (void)l; }
cct_err conv_detect(const char *path, char *fmt, size_t n, struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
cct_err conv_run(const struct conv_request *r, struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
