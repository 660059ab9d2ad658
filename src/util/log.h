/* log.h - one line per event on stderr: time, level, module, then key=value fields.
 * The level is checked before anything is formatted. Untrusted strings are escaped by
 * log_escape() before they reach a line; secrets are never passed here. */
#ifndef CCT_LOG_H
#define CCT_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

/* Parses "debug|info|warn|error"; returns -1 on anything else. */
int log_level_parse(const char *s);

void log_write(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...)                                                                        \
    do {                                                                                           \
        if (log_min_level <= LOG_DEBUG)                                                            \
            log_write(LOG_DEBUG, mod, __VA_ARGS__);                                                \
    } while (0)
#define log_info(mod, ...)                                                                         \
    do {                                                                                           \
        if (log_min_level <= LOG_INFO)                                                             \
            log_write(LOG_INFO, mod, __VA_ARGS__);                                                 \
    } while (0)
#define log_warn(mod, ...)                                                                         \
    do {                                                                                           \
        if (log_min_level <= LOG_WARN)                                                             \
            log_write(LOG_WARN, mod, __VA_ARGS__);                                                 \
    } while (0)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

/* Copies s into out (size n) with control characters, quotes, backslashes and non-ASCII
 * escaped as \xNN, truncated to fit; returns out. */
char *log_escape(const char *s, char *out, size_t n);

#endif
