/* http.c - HTTP service (stub: not written yet) */
#include "services/http.h"

cct_err http_start(struct app *app, const char *host, int port, int threads,
                   struct http_server **out, struct cct_error *err) { return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet"); }
void http_quiesce(struct http_server *s) {}
void http_stop(struct http_server **s) {}
