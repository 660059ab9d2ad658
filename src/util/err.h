/* err.h - the one error convention above every library boundary.
 *
 * Functions return cct_err (0 = success). Library codes (AVERROR, ARCHIVE_*, SQLite, libpq,
 * hiredis, errno) are translated at the edge; a human-readable detail, when there is one, goes
 * into a caller-supplied `struct cct_error` whose message a user can act on. */
#ifndef CCT_ERR_H
#define CCT_ERR_H

#include <stddef.h>

typedef enum {
    CCT_OK = 0,
    CCT_ENOMEM,       /* out of memory */
    CCT_EINVAL,       /* bad argument or bad input from the user */
    CCT_ENOTFOUND,    /* no such object (or not the caller's) */
    CCT_ECONFLICT,    /* already exists */
    CCT_EIO,          /* file system or network I/O failed */
    CCT_EUNSUPPORTED, /* format or conversion not supported */
    CCT_ELIMIT,       /* a configured limit was hit (size, count, time, memory) */
    CCT_EAUTH,        /* missing, wrong or expired credentials */
    CCT_ERATE,        /* too many attempts */
    CCT_EDB,          /* database failed */
    CCT_EQUEUE,       /* queue failed */
    CCT_ECONVERT,     /* the conversion failed on this input */
    CCT_ECANCELLED,   /* stopped on request */
    CCT_ETIMEOUT,     /* took too long */
    CCT_EINTERNAL,    /* a bug or an impossible state */
} cct_err;

/* A code plus a message for the user; fixed size, never allocated. */
struct cct_error {
    cct_err code;
    char msg[512];
};

/* Short stable name of a code ("not_found"), used as the JSON error code. */
const char *cct_err_name(cct_err e);
/* Generic English sentence for a code. */
const char *cct_strerror(cct_err e);

/* Sets err (when non-NULL) to code and a printf-formatted message; returns code. */
cct_err cct_error_set(struct cct_error *err, cct_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
