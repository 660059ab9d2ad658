/* engines.h - the engines kept in shared objects (cct-av.so, cct-image.so), loaded on first
 * use by engines.c. conv.c calls these instead of conv_av_* / conv_image_* directly. */
#ifndef CCT_ENGINES_H
#define CCT_ENGINES_H

#include "domain/convert/conv.h"

cct_err engine_av_run(const struct conv_request *r, struct cct_error *err);
cct_err engine_av_detect(const char *path, char *fmt, size_t n, struct cct_error *err);
cct_err engine_image_run(const struct conv_request *r, struct cct_error *err);

/* Loads every engine now (a worker does, so that the jobs it forks start warm). */
cct_err engines_preload(struct cct_error *err);

#endif
