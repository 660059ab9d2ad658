/* test_accounts.c - sign-up validation and conflicts, log-in, the login rate limit and token
 * verification, against the real SQLite adapter in a temporary DATA_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>
#include <jwt.h>

#include "domain/accounts.h"
#include "domain/ratelimit.h"
#include "util/config.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    struct app app;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "acc") < 0 || tu_config_load(f->dir) < 0)
        return -1;
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "test-secret-0123456789abcdef0123456789");
    cfg.login_attempts = 3;
    cfg.login_window = 600;
    ratelimit_reset();
    if (tu_app_open(&f->app) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    app_close(&f->app);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static void expect_inval(struct app *app, const char *user, const char *p1, const char *p2,
                         const char *email, const char *field)
{
    struct cct_error err = {0};
    struct user u;
    assert_int_equal(accounts_signup(app, user, p1, p2, email, &u, &err), CCT_EINVAL);
    assert_int_equal(err.code, CCT_EINVAL);
    if (!strstr(err.msg, field))
        fail_msg("message \"%s\" does not name %s", err.msg, field);
}

static void signup_validation(void **state)
{
    struct fixture *f = *state;
    struct app *a = &f->app;
    const char *pw = "correct horse";
    expect_inval(a, "ab", pw, pw, "a@example.com", "username");
    expect_inval(a, "abcdefghijabcdefghijabcdefghijabc", pw, pw, "a@example.com", "username");
    expect_inval(a, "a b", pw, pw, "a@example.com", "username");
    expect_inval(a, "ali/ce", pw, pw, "a@example.com", "username");
    expect_inval(a, "\xc3\xa4lice", pw, pw, "a@example.com", "username");
    expect_inval(a, NULL, pw, pw, "a@example.com", "username");
    expect_inval(a, "alice", pw, pw, "alice", "email");
    expect_inval(a, "alice", pw, pw, "alice@example", "email");
    expect_inval(a, "alice", pw, pw, "@example.com", "email");
    expect_inval(a, "alice", pw, pw, "alice@example.", "email");
    expect_inval(a, "alice", pw, pw, "a@b@example.com", "email");
    expect_inval(a, "alice", pw, pw, "a lice@example.com", "email");
    expect_inval(a, "alice", "short", "short", "a@example.com", "password1");
    char big[1100];
    memset(big, 'p', 1025);
    big[1025] = '\0';
    expect_inval(a, "alice", big, big, "a@example.com", "password1");
    expect_inval(a, "alice", pw, "correct horsf", "a@example.com", "password2");
    expect_inval(a, "alice", pw, "correct horse ", "a@example.com", "password2");
    expect_inval(a, "alice", pw, NULL, "a@example.com", "password2");
    /* bounds are inclusive */
    struct cct_error err = {0};
    struct user u;
    big[1024] = '\0';
    assert_int_equal(accounts_signup(a, "a.b-c_1", big, big, "x@y.io", &u, &err), CCT_OK);
    assert_int_equal(accounts_signup(a, "abcdefghijabcdefghijabcdefghijab", "12345678", "12345678",
                                     "z@y.io", &u, &err),
                     CCT_OK);
}

static void signup_and_conflict(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    struct user u, u2;
    assert_int_equal(accounts_signup(&f->app, "alice", "correct horse", "correct horse",
                                     "alice@example.com", &u, &err),
                     CCT_OK);
    assert_true(u.id > 0);
    assert_string_equal(u.username, "alice");
    /* only the argon2id hash is stored, never the password */
    struct user stored;
    assert_int_equal(f->app.db->ops->user_by_name(f->app.db, "alice", &stored), CCT_OK);
    assert_int_equal(stored.id, u.id);
    assert_non_null(strstr(stored.password_hash, "$argon2id$"));
    assert_null(strstr(stored.password_hash, "correct horse"));

    assert_int_equal(accounts_signup(&f->app, "alice", "another pw", "another pw",
                                     "other@example.com", &u2, &err),
                     CCT_ECONFLICT);
    assert_int_equal(accounts_signup(&f->app, "alice2", "another pw", "another pw",
                                     "alice@example.com", &u2, &err),
                     CCT_ECONFLICT);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void login_and_verify(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    struct user u;
    char token[1024];
    int64_t exp = 0, uid = 0;
    assert_int_equal(accounts_signup(&f->app, "bob", "hunter2hunter2", "hunter2hunter2",
                                     "bob@example.com", &u, &err),
                     CCT_OK);
    int64_t before = now_s();
    assert_int_equal(accounts_login(&f->app, "bob", "hunter2hunter2", "192.0.2.1", token,
                                    sizeof token, &exp, &err),
                     CCT_OK);
    assert_true(strlen(token) > 20);
    assert_true(exp >= before + cfg.token_ttl && exp <= now_s() + cfg.token_ttl);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK);
    assert_int_equal(uid, u.id);

    /* the claims are what the header promises */
    jwt_t *jwt = NULL;
    assert_int_equal(
        jwt_decode(&jwt, token, (const unsigned char *)cfg.jwt_secret, (int)strlen(cfg.jwt_secret)),
        0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    char sub[32];
    snprintf(sub, sizeof sub, "%lld", (long long)u.id);
    assert_string_equal(jwt_get_grant(jwt, "sub"), sub);
    assert_int_equal(jwt_get_grant_int(jwt, "uid"), u.id);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), exp);
    jwt_free(jwt);

    /* a token buffer too small fails cleanly */
    char tiny[16];
    assert_int_not_equal(accounts_login(&f->app, "bob", "hunter2hunter2", "192.0.2.1", tiny,
                                        sizeof tiny, &exp, &err),
                         CCT_OK);
}

static void login_failures_same_message(void **state)
{
    struct fixture *f = *state;
    struct cct_error e1 = {0}, e2 = {0}, e3 = {0};
    struct user u;
    char token[1024];
    int64_t exp;
    cfg.login_attempts = 100;
    assert_int_equal(accounts_signup(&f->app, "carol", "password123", "password123",
                                     "carol@example.com", &u, &e1),
                     CCT_OK);
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(accounts_login(&f->app, "carol", "password124", "192.0.2.2", token,
                                    sizeof token, &exp, &e1),
                     CCT_EAUTH);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(accounts_login(&f->app, "nobody", "password123", "192.0.2.2", token,
                                    sizeof token, &exp, &e2),
                     CCT_EAUTH);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    assert_string_equal(e1.msg, e2.msg);
    assert_string_equal(token, "");
    /* an unknown user costs a hash check too (no enumeration by timing) */
    double known = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    double unknown = (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9;
    if (unknown < known * 0.3)
        fail_msg("unknown user took %.3fs, known %.3fs", unknown, known);
    /* invalid names and empty or huge passwords are plain failures */
    assert_int_equal(accounts_login(&f->app, "", "", NULL, token, sizeof token, &exp, &e3),
                     CCT_EAUTH);
    assert_string_equal(e3.msg, e1.msg);
    assert_int_equal(accounts_login(&f->app, NULL, NULL, NULL, token, sizeof token, &exp, &e3),
                     CCT_EAUTH);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(accounts_login(&f->app, big, big, big, token, sizeof token, &exp, &e3),
                     CCT_EAUTH);
}

static void rate_limit_per_user_and_address(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    struct user u;
    char token[1024];
    int64_t exp;
    assert_int_equal(accounts_signup(&f->app, "dave", "password123", "password123",
                                     "dave@example.com", &u, &err),
                     CCT_OK);
    /* a success clears the username's count */
    for (int i = 0; i < 2; i++)
        assert_int_equal(accounts_login(&f->app, "dave", "wrong-pass", "192.0.2.10", token,
                                        sizeof token, &exp, &err),
                         CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "dave", "password123", "192.0.2.11", token,
                                    sizeof token, &exp, &err),
                     CCT_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(accounts_login(&f->app, "DAVE", "wrong-pass", "192.0.2.12", token,
                                        sizeof token, &exp, &err),
                         CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "dave", "password123", "192.0.2.13", token,
                                    sizeof token, &exp, &err),
                     CCT_OK);
    /* three failures (any case of the name, any address) block even the right password */
    assert_int_equal(accounts_login(&f->app, "dave", "wrong-pass", "192.0.2.20", token,
                                    sizeof token, &exp, &err),
                     CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "Dave", "wrong-pass", "192.0.2.21", token,
                                    sizeof token, &exp, &err),
                     CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "dAVE", "wrong-pass", "192.0.2.22", token,
                                    sizeof token, &exp, &err),
                     CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "dave", "password123", "192.0.2.23", token,
                                    sizeof token, &exp, &err),
                     CCT_ERATE);
    assert_int_equal(err.code, CCT_ERATE);

    /* per address: three different unknown names from one address block that address */
    const char *names[] = {"eve1", "eve2", "eve3"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(accounts_login(&f->app, names[i], "whatever1", "198.51.100.9", token,
                                        sizeof token, &exp, &err),
                         CCT_EAUTH);
    assert_int_equal(accounts_login(&f->app, "eve4", "whatever1", "198.51.100.9", token,
                                    sizeof token, &exp, &err),
                     CCT_ERATE);
    assert_int_equal(accounts_login(&f->app, "eve4", "whatever1", "198.51.100.10", token,
                                    sizeof token, &exp, &err),
                     CCT_EAUTH);
}

static void token_rejections(void **state)
{
    (void)state;
    struct cct_error err = {0};
    char token[1024];
    int64_t exp, uid = -1;
    int64_t now = now_s();

    assert_int_equal(accounts_issue_token(42, now, 600, token, sizeof token, &exp), CCT_OK);
    assert_int_equal(exp, now + 600);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK);
    assert_int_equal(uid, 42);

    /* tampered payload: flip one character in the middle part */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s", token);
    char *dot = strchr(bad, '.');
    assert_non_null(dot);
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(accounts_verify_token(bad, &uid, &err), CCT_EAUTH);
    assert_int_equal(uid, 0);
    /* tampered signature */
    snprintf(bad, sizeof bad, "%s", token);
    size_t len = strlen(bad);
    bad[len - 2] = bad[len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(accounts_verify_token(bad, &uid, &err), CCT_EAUTH);

    /* expired: issued two hours ago with a one-hour lifetime */
    assert_int_equal(accounts_issue_token(42, now - 7200, 3600, token, sizeof token, &exp), CCT_OK);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_EAUTH);
    assert_string_equal(err.msg, "token expired");

    /* signed with another secret */
    char saved[256];
    snprintf(saved, sizeof saved, "%s", cfg.jwt_secret);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "another-secret-another-secret-0000");
    assert_int_equal(accounts_issue_token(42, now, 600, token, sizeof token, &exp), CCT_OK);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "%s", saved);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_EAUTH);
    assert_string_equal(err.msg, "invalid token");

    /* alg "none", claims otherwise perfect */
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", "42");
    jwt_add_grant_int(jwt, "uid", 42);
    jwt_add_grant_int(jwt, "iat", (long)now);
    jwt_add_grant_int(jwt, "exp", (long)now + 600);
    assert_int_equal(jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0), 0);
    char *none = jwt_encode_str(jwt);
    assert_non_null(none);
    assert_int_equal(accounts_verify_token(none, &uid, &err), CCT_EAUTH);
    assert_int_equal(uid, 0);
    free(none);
    /* HS512 with the right secret is not HS256 */
    assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS512, (const unsigned char *)cfg.jwt_secret,
                                 (int)strlen(cfg.jwt_secret)),
                     0);
    char *hs512 = jwt_encode_str(jwt);
    assert_int_equal(accounts_verify_token(hs512, &uid, &err), CCT_EAUTH);
    free(hs512);
    /* right alg and key but no uid / a sub that disagrees */
    jwt_del_grants(jwt, "uid");
    assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg.jwt_secret,
                                 (int)strlen(cfg.jwt_secret)),
                     0);
    char *nouid = jwt_encode_str(jwt);
    assert_int_equal(accounts_verify_token(nouid, &uid, &err), CCT_EAUTH);
    free(nouid);
    jwt_add_grant_int(jwt, "uid", 43);
    char *mismatch = jwt_encode_str(jwt);
    assert_int_equal(accounts_verify_token(mismatch, &uid, &err), CCT_EAUTH);
    free(mismatch);
    jwt_free(jwt);

    /* garbage */
    assert_int_equal(accounts_verify_token("", &uid, &err), CCT_EAUTH);
    assert_int_equal(accounts_verify_token("a.b.c", &uid, &err), CCT_EAUTH);
    assert_int_equal(accounts_verify_token(NULL, &uid, &err), CCT_EAUTH);
    char huge[9000];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(accounts_verify_token(huge, &uid, &err), CCT_EAUTH);
    /* no secret, no tokens */
    assert_int_not_equal(accounts_issue_token(0, now, 600, token, sizeof token, &exp), CCT_OK);
}

/* A verified token is remembered per thread: the memory must not outlive its expiry nor
 * survive a change of secret. */
static void token_cache_respects_expiry_and_secret(void **state)
{
    (void)state;
    struct cct_error err = {0};
    char token[1024];
    int64_t exp, uid = -1;
    int64_t now = now_s();

    assert_int_equal(accounts_issue_token(7, now - 59, 60, token, sizeof token, &exp), CCT_OK);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK); /* now cached */
    assert_int_equal(uid, 7);
    while (now_s() <= exp)
        usleep(100 * 1000);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_EAUTH);
    assert_string_equal(err.msg, "token expired");

    assert_int_equal(accounts_issue_token(8, now_s(), 600, token, sizeof token, &exp), CCT_OK);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK); /* a cache hit */
    assert_int_equal(uid, 8);
    char saved[sizeof cfg.jwt_secret];
    memcpy(saved, cfg.jwt_secret, sizeof saved);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "%s", "another-secret-another-secret-123456");
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_EAUTH);
    memcpy(cfg.jwt_secret, saved, sizeof saved);
    assert_int_equal(accounts_verify_token(token, &uid, &err), CCT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(signup_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(signup_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(login_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(login_failures_same_message, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limit_per_user_and_address, setup, teardown),
        cmocka_unit_test_setup_teardown(token_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(token_cache_respects_expiry_and_secret, setup, teardown),
    };
    return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
