/* accounts.h - sign-up, log-in and tokens: argon2id password hashes (libsodium), HS256 JWTs
 * (libjwt) that expire, and failed-login rate limits per username and per client address. */
#ifndef CCT_ACCOUNTS_H
#define CCT_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/app.h"

/* Validates (username 3-32 of [A-Za-z0-9_.-], e-mail with one @ and a dot after it, password
 * 8-1024 bytes, password1 == password2) and creates the user. CCT_EINVAL with a message
 * naming the field, or CCT_ECONFLICT when the username or e-mail is taken. */
cct_err accounts_signup(struct app *app, const char *username, const char *password1,
                        const char *password2, const char *email, struct user *out,
                        struct cct_error *err);

/* Checks the password; on success writes a token (NUL-terminated) and its expiry (unix s).
 * CCT_EAUTH for a wrong name or password (same message for both), CCT_ERATE when the
 * username or the address has failed too often in LOGIN_WINDOW_SECONDS. */
cct_err accounts_login(struct app *app, const char *username, const char *password,
                       const char *client_addr, char *token, size_t token_len, int64_t *expires_at,
                       struct cct_error *err);

/* Verifies signature and expiry of a token; sets *user_id. CCT_EAUTH otherwise. */
cct_err accounts_verify_token(const char *token, int64_t *user_id, struct cct_error *err);

/* CCT_OK when user_id names an account that exists, CCT_EAUTH when it does not (deleted: its
 * tokens are refused), or the database's error. */
cct_err accounts_user_exists(struct app *app, int64_t user_id);

/* Issues a token for user_id valid until now + ttl (used by login and tests). */
cct_err accounts_issue_token(int64_t user_id, int64_t now, int64_t ttl, char *token, size_t n,
                             int64_t *expires_at);

#endif
