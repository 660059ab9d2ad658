/* ratelimit.h - failed-login counters for the login rate limit: an in-memory, thread-safe table
 * of a fixed number of slots (bounded memory; the oldest entry is evicted when full), one per
 * key ("u:alice", "a:192.0.2.1"), counting failures in a fixed window of cfg.login_window
 * seconds; a key is blocked once it reaches cfg.login_attempts failures in its window.
 * Per process: every server process keeps its own table. */
#ifndef CCT_RATELIMIT_H
#define CCT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 4096

/* True when key has cfg.login_attempts failures in the window that holds `now` (unix s). */
bool ratelimit_blocked(const char *key, int64_t now);
/* Counts one failure for key at `now`; starts a new window when the last one has ended. */
void ratelimit_fail(const char *key, int64_t now);
/* Check and count in one step, for callers that cannot afford the gap between a check and a
 * later ratelimit_fail (logins running in parallel): false when key is blocked; otherwise
 * counts one failure in advance and returns true. ratelimit_refund() gives it back. */
bool ratelimit_take(const char *key, int64_t now);
/* Takes back one failure counted by ratelimit_take (the attempt succeeded or was not made). */
void ratelimit_refund(const char *key, int64_t now);
/* Forgets key's failures (a successful login). */
void ratelimit_clear(const char *key);
/* Number of failures counted for key in the window that holds `now` (tests, logs). */
int64_t ratelimit_count(const char *key, int64_t now);
/* Forgets every key (tests). */
void ratelimit_reset(void);

#endif
