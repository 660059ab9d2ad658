/* accounts.c - sign-up, log-in and tokens. Passwords are hashed with argon2id
 * (crypto_pwhash_str, interactive limits); a login checks the rate limit first, then the hash,
 * spending the same time on an unknown username (a dummy hash) so that timing does not tell
 * which usernames exist. Tokens are HS256 JWTs (libjwt) keyed with cfg.jwt_secret. Passwords
 * and tokens are never logged. */
#include "domain/accounts.h"

#include <ctype.h>
#include <errno.h>
#include <jwt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/ratelimit.h"
#include "util/config.h"
#include "util/log.h"

#define USERNAME_MIN 3
#define USERNAME_MAX 32
#define EMAIL_MAX 254
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define TOKEN_MAX 4096

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int sodium_ok;
static char dummy_hash[crypto_pwhash_STRBYTES];

/* sodium_init, then a hash of a random password that unknown usernames are checked against. */
static void init_crypto(void)
{
    if (sodium_init() < 0)
        return;
    unsigned char pw[24];
    randombytes_buf(pw, sizeof pw);
    if (crypto_pwhash_str(dummy_hash, (const char *)pw, sizeof pw,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return;
    sodium_memzero(pw, sizeof pw);
    sodium_ok = 1;
}

static cct_err crypto_ready(struct cct_error *err)
{
    pthread_once(&init_once, init_crypto);
    if (!sodium_ok)
        return cct_error_set(err, CCT_EINTERNAL, "the password library could not start");
    return CCT_OK;
}

static int username_valid(const char *s)
{
    size_t len = strnlen(s, USERNAME_MAX + 1);
    if (len < USERNAME_MIN || len > USERNAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isascii(c) && (isalnum(c) || c == '_' || c == '.' || c == '-')))
            return 0;
    }
    return 1;
}

/* name@domain.tld: one @ with something before it, a dot in the domain with something on both
 * sides, no spaces, control characters, quotes or angle brackets. */
static int email_valid(const char *s)
{
    size_t len = strnlen(s, EMAIL_MAX + 1);
    if (len < 5 || len > EMAIL_MAX)
        return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\' ||
            *p == ',' || *p == ';')
            return 0;
    const char *domain = at + 1;
    const char *dot = strrchr(domain, '.');
    if (!dot || dot == domain || dot[1] == '\0' || domain[0] == '.' || strstr(domain, ".."))
        return 0;
    return 1;
}

cct_err accounts_signup(struct app *app, const char *username, const char *password1,
                        const char *password2, const char *email, struct user *out,
                        struct cct_error *err)
{
    cct_err rc;
    if (!username || !username_valid(username))
        return cct_error_set(err, CCT_EINVAL,
                             "username must be %d to %d characters of letters, digits, '_', '.' "
                             "and '-'",
                             USERNAME_MIN, USERNAME_MAX);
    if (!email || !email_valid(email))
        return cct_error_set(err, CCT_EINVAL, "email must look like name@example.com");
    size_t plen = password1 ? strnlen(password1, PASSWORD_MAX + 1) : 0;
    if (plen < PASSWORD_MIN || plen > PASSWORD_MAX)
        return cct_error_set(err, CCT_EINVAL, "password1 must be %d to %d bytes long", PASSWORD_MIN,
                             PASSWORD_MAX);
    if (!password2 || strnlen(password2, PASSWORD_MAX + 1) != plen ||
        sodium_memcmp(password1, password2, plen) != 0)
        return cct_error_set(err, CCT_EINVAL, "password2 does not match password1");
    if ((rc = crypto_ready(err)))
        return rc;

    struct user u;
    memset(&u, 0, sizeof u);
    snprintf(u.username, sizeof u.username, "%s", username);
    snprintf(u.email, sizeof u.email, "%s", email);
    if (crypto_pwhash_str(u.password_hash, password1, plen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return cct_error_set(err, CCT_ENOMEM, "not enough memory to hash the password");
    rc = app->db->ops->user_create(app->db, &u, err);
    if (rc == CCT_ECONFLICT)
        cct_error_set(err, CCT_ECONFLICT, "username or email is already taken");
    if (rc)
        return rc;
    char esc[80];
    log_info("accounts", "event=signup user=%lld username=%s", (long long)u.id,
             log_escape(u.username, esc, sizeof esc));
    sodium_memzero(u.password_hash, sizeof u.password_hash); /* callers have no use for it */
    if (out)
        *out = u;
    return CCT_OK;
}

/* "u:" + the username in lower case (bounded), so that Alice and alice share a counter. */
static void user_key(const char *username, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "u:");
    for (const char *p = username; *p && o + 1 < n; p++)
        out[o++] = (char)tolower((unsigned char)*p);
    out[o] = '\0';
}

cct_err accounts_login(struct app *app, const char *username, const char *password,
                       const char *client_addr, char *token, size_t token_len, int64_t *expires_at,
                       struct cct_error *err)
{
    cct_err rc;
    char ukey[80], akey[80];
    int64_t now = (int64_t)time(NULL);
    if (token_len)
        token[0] = '\0';
    if (!username)
        username = "";
    if (!password)
        password = "";
    user_key(username, ukey, sizeof ukey);
    snprintf(akey, sizeof akey, "a:%s", client_addr ? client_addr : "");
    bool by_addr = client_addr && client_addr[0];

    if ((rc = crypto_ready(err)))
        return rc;
    /* Every attempt is counted as a failure up front (check and count in one step, so logins
     * running in parallel cannot get past the limit); a success gives it back. */
    bool user_ok = ratelimit_take(ukey, now);
    bool addr_ok = user_ok && (!by_addr || ratelimit_take(akey, now));
    if (!addr_ok) {
        if (user_ok)
            ratelimit_refund(ukey, now);
        char esc[80];
        log_warn("accounts", "event=login_blocked username=%s",
                 log_escape(username, esc, sizeof esc));
        return cct_error_set(err, CCT_ERATE, "too many failed logins; try again in %lld minutes",
                             (long long)((cfg.login_window + 59) / 60));
    }

    struct user u;
    memset(&u, 0, sizeof u);
    size_t plen = strnlen(password, PASSWORD_MAX + 1);
    int known = 0;
    if (username_valid(username)) {
        rc = app->db->ops->user_by_name(app->db, username, &u);
        if (rc == CCT_OK)
            known = 1;
        else if (rc != CCT_ENOTFOUND) { /* not the caller's failure */
            ratelimit_refund(ukey, now);
            if (by_addr)
                ratelimit_refund(akey, now);
            return cct_error_set(err, rc, "cannot look the user up; try again later");
        }
    }
    /* Unknown users and oversized passwords are checked against the dummy hash: same cost. */
    const char *hash = known ? u.password_hash : dummy_hash;
    int ok = crypto_pwhash_str_verify(hash, password, plen > PASSWORD_MAX ? 0 : plen) == 0;
    ok = ok && known && plen <= PASSWORD_MAX;
    sodium_memzero(u.password_hash, sizeof u.password_hash);
    if (!ok) { /* already counted */
        char esc[80];
        log_info("accounts", "event=login_failed username=%s",
                 log_escape(username, esc, sizeof esc));
        return cct_error_set(err, CCT_EAUTH, "wrong username or password");
    }
    ratelimit_clear(ukey);
    if (by_addr)
        ratelimit_refund(akey, now);
    if ((rc = accounts_issue_token(u.id, now, cfg.token_ttl, token, token_len, expires_at)))
        return cct_error_set(err, rc, "cannot issue a token");
    log_info("accounts", "event=login user=%lld", (long long)u.id);
    return CCT_OK;
}

cct_err accounts_user_exists(struct app *app, int64_t user_id)
{
    struct user u;
    if (user_id <= 0)
        return CCT_EAUTH;
    cct_err rc = app->db->ops->user_by_id(app->db, user_id, &u);
    sodium_memzero(u.password_hash, sizeof u.password_hash);
    return rc == CCT_ENOTFOUND ? CCT_EAUTH : rc;
}

cct_err accounts_issue_token(int64_t user_id, int64_t now, int64_t ttl, char *token, size_t n,
                             int64_t *expires_at)
{
    cct_err rc = CCT_EINTERNAL;
    jwt_t *jwt = NULL;
    char *enc = NULL;
    size_t klen = strnlen(cfg.jwt_secret, sizeof cfg.jwt_secret);
    if (user_id <= 0 || klen == 0 || ttl <= 0 || n == 0)
        goto out;
    char sub[32];
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);
    int64_t exp = now + ttl;
    if (jwt_new(&jwt) != 0) {
        rc = CCT_ENOMEM;
        goto out;
    }
    if (jwt_add_grant(jwt, "sub", sub) || jwt_add_grant_int(jwt, "uid", (long)user_id) ||
        jwt_add_grant_int(jwt, "iat", (long)now) || jwt_add_grant_int(jwt, "exp", (long)exp) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg.jwt_secret, (int)klen))
        goto out;
    enc = jwt_encode_str(jwt);
    if (!enc)
        goto out;
    size_t len = strlen(enc);
    if (len >= n) {
        rc = CCT_ELIMIT;
        goto out;
    }
    memcpy(token, enc, len + 1);
    if (expires_at)
        *expires_at = exp;
    rc = CCT_OK;
out:
    if (enc) {
        sodium_memzero(enc, strlen(enc));
        free(enc);
    }
    jwt_free(jwt);
    return rc;
}

/* Verified tokens, remembered per thread so that the HMAC and the JSON parse run once per
 * token and thread rather than on every request (GET /api/tasks/{id} is the hot path). Only
 * tokens that passed every check are stored, keyed by SipHash of the whole string and
 * compared in full, under the same secret; the expiry is checked again on every hit. */
#define TOKEN_CACHE_SLOTS 64
#define TOKEN_CACHE_LEN 512 /* longer tokens are verified every time */

struct token_cache_entry {
    uint64_t hash, secret_tag; /* secret_tag: which key verified it */
    int64_t uid, exp;
    size_t len;
    char token[TOKEN_CACHE_LEN];
};

static _Thread_local struct token_cache_entry token_cache[TOKEN_CACHE_SLOTS];
static unsigned char token_cache_key[crypto_shorthash_KEYBYTES];
static pthread_once_t token_cache_once = PTHREAD_ONCE_INIT;

static void token_cache_init(void)
{
    randombytes_buf(token_cache_key, sizeof token_cache_key);
}

static uint64_t token_hash(const char *token, size_t len)
{
    uint64_t h;
    pthread_once(&token_cache_once, token_cache_init);
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)token, len, token_cache_key);
    return h;
}

/* The cached uid of a token that verified before and has not expired, or 0. */
static int64_t token_cache_get(const char *token, size_t len, uint64_t h, uint64_t tag, int64_t now)
{
    const struct token_cache_entry *e = &token_cache[h % TOKEN_CACHE_SLOTS];
    if (len >= TOKEN_CACHE_LEN || e->hash != h || e->secret_tag != tag || e->len != len ||
        e->exp <= now || memcmp(e->token, token, len) != 0)
        return 0;
    return e->uid;
}

static void token_cache_put(const char *token, size_t len, uint64_t h, uint64_t tag, int64_t uid,
                            int64_t exp)
{
    if (len >= TOKEN_CACHE_LEN)
        return;
    struct token_cache_entry *e = &token_cache[h % TOKEN_CACHE_SLOTS];
    e->hash = h;
    e->secret_tag = tag;
    e->uid = uid;
    e->exp = exp;
    e->len = len;
    memcpy(e->token, token, len);
}

cct_err accounts_verify_token(const char *token, int64_t *user_id, struct cct_error *err)
{
    cct_err rc = CCT_EAUTH;
    const char *why = "invalid token";
    jwt_t *jwt = NULL;
    size_t klen = strnlen(cfg.jwt_secret, sizeof cfg.jwt_secret);
    if (user_id)
        *user_id = 0;
    size_t tlen = token ? strnlen(token, TOKEN_MAX + 1) : 0;
    if (!token || klen == 0 || tlen > TOKEN_MAX)
        goto out;
    int64_t now = (int64_t)time(NULL);
    uint64_t h = token_hash(token, tlen), tag = token_hash(cfg.jwt_secret, klen);
    int64_t cached = token_cache_get(token, tlen, h, tag, now);
    if (cached > 0) {
        if (user_id)
            *user_id = cached;
        return CCT_OK;
    }
    if (jwt_decode(&jwt, token, (const unsigned char *)cfg.jwt_secret, (int)klen) != 0 || !jwt)
        goto out;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out;
    errno = 0;
    long uid = jwt_get_grant_int(jwt, "uid");
    if (errno || uid <= 0)
        goto out;
    const char *sub = jwt_get_grant(jwt, "sub");
    char want[32];
    snprintf(want, sizeof want, "%ld", uid);
    if (!sub || strcmp(sub, want) != 0)
        goto out;
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    if (errno)
        goto out;
    if ((int64_t)exp <= now) {
        why = "token expired";
        goto out;
    }
    if (user_id)
        *user_id = uid;
    token_cache_put(token, tlen, h, tag, uid, exp);
    rc = CCT_OK;
out:
    jwt_free(jwt);
    if (rc)
        cct_error_set(err, rc, "%s", why);
    return rc;
}
