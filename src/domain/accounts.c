/* accounts.c - accounts (stub: not written yet) */
#include "domain/accounts.h"

cct_err accounts_signup(struct app *app, const char *username, const char *password1,
                        const char *password2, const char *email, struct user *out,
                        struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}

cct_err accounts_login(struct app *app, const char *username, const char *password,
                       const char *client_addr, char *token, size_t token_len,
                       int64_t *expires_at, struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}

cct_err accounts_verify_token(const char *token, int64_t *user_id, struct cct_error *err)
{
    return cct_error_set(err, CCT_EUNSUPPORTED, "not written yet");
}

cct_err accounts_issue_token(int64_t user_id, int64_t now, int64_t ttl, char *token, size_t n,
                             int64_t *expires_at)
{
    return CCT_EUNSUPPORTED;
}
