/* http.h - the HTTP service: libmicrohttpd daemon, the route table (routes.c), thin handlers
 * (api_*.c) that parse the request, call a domain service and write JSON. */
#ifndef CCT_HTTP_H
#define CCT_HTTP_H

#include "domain/app.h"

struct http_server;

/* Starts listening on host:port with `threads` threads. */
cct_err http_start(struct app *app, const char *host, int port, int threads,
                   struct http_server **out, struct cct_error *err);
/* Stops accepting new connections; requests in flight carry on. */
void http_quiesce(struct http_server *s);
/* Waits for requests in flight, stops, frees; sets *s = NULL; safe on NULL. */
void http_stop(struct http_server **s);

#endif
