/* err.c - names and messages for cct_err; the switches have no default so that the compiler
 * flags a code without a message. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *cct_err_name(cct_err e)
{
    switch (e) {
    case CCT_OK: return "ok";
    case CCT_ENOMEM: return "out_of_memory";
    case CCT_EINVAL: return "invalid_request";
    case CCT_ENOTFOUND: return "not_found";
    case CCT_ECONFLICT: return "conflict";
    case CCT_EIO: return "io_error";
    case CCT_EUNSUPPORTED: return "unsupported";
    case CCT_ELIMIT: return "limit_exceeded";
    case CCT_EAUTH: return "unauthorized";
    case CCT_ERATE: return "too_many_requests";
    case CCT_EDB: return "database_error";
    case CCT_EQUEUE: return "queue_error";
    case CCT_ECONVERT: return "conversion_failed";
    case CCT_ECANCELLED: return "cancelled";
    case CCT_ETIMEOUT: return "timeout";
    case CCT_EINTERNAL: return "internal_error";
    }
    return "unknown";
}

const char *cct_strerror(cct_err e)
{
    switch (e) {
    case CCT_OK: return "success";
    case CCT_ENOMEM: return "out of memory";
    case CCT_EINVAL: return "invalid input";
    case CCT_ENOTFOUND: return "not found";
    case CCT_ECONFLICT: return "already exists";
    case CCT_EIO: return "input/output error";
    case CCT_EUNSUPPORTED: return "not supported";
    case CCT_ELIMIT: return "limit exceeded";
    case CCT_EAUTH: return "authentication required";
    case CCT_ERATE: return "too many attempts, try again later";
    case CCT_EDB: return "database error";
    case CCT_EQUEUE: return "queue error";
    case CCT_ECONVERT: return "conversion failed";
    case CCT_ECANCELLED: return "cancelled";
    case CCT_ETIMEOUT: return "timed out";
    case CCT_EINTERNAL: return "internal error";
    }
    return "unknown error";
}

cct_err cct_error_set(struct cct_error *err, cct_err code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
