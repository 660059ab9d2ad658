/* api_auth.c - POST /api/auth/signup and /api/auth/login: read the JSON body, call the
 * accounts service, answer with the user or the token. */
#include <microhttpd.h>
#include <stdio.h>

#include "domain/accounts.h"
#include "services/api.h"
#include "util/config.h"

int api_signup(struct api_req *r)
{
    int ret = MHD_NO;
    json_t *body = api_body_object(r, &ret);
    if (!body)
        return ret;
    const char *username = api_field_string(r, body, "username", &ret);
    const char *p1 = username ? api_field_string(r, body, "password1", &ret) : NULL;
    const char *p2 = p1 ? api_field_string(r, body, "password2", &ret) : NULL;
    const char *email = p2 ? api_field_string(r, body, "email", &ret) : NULL;
    if (!email)
        goto out;
    struct user u = {0};
    struct cct_error err = {0};
    cct_err e = accounts_signup(r->app, username, p1, p2, email, &u, &err);
    if (e != CCT_OK) {
        ret = api_send_error(r, e, err.msg);
        goto out;
    }
    ret = api_send_json(r, MHD_HTTP_CREATED,
                        json_pack("{s:I,s:s,s:s}", "id", (json_int_t)u.id, "username", u.username,
                                  "email", u.email));
out:
    json_decref(body);
    return ret;
}

int api_login(struct api_req *r)
{
    int ret = MHD_NO;
    json_t *body = api_body_object(r, &ret);
    if (!body)
        return ret;
    const char *username = api_field_string(r, body, "username", &ret);
    const char *password = username ? api_field_string(r, body, "password", &ret) : NULL;
    if (!password)
        goto out;
    char addr[64], token[2048];
    int64_t expires = 0;
    struct cct_error err = {0};
    api_client_addr(r, addr, sizeof addr);
    cct_err e =
        accounts_login(r->app, username, password, addr, token, sizeof token, &expires, &err);
    if (e == CCT_ERATE) {
        char retry[24];
        snprintf(retry, sizeof retry, "%lld", (long long)cfg.login_window);
        ret = api_send_json_h(r, MHD_HTTP_TOO_MANY_REQUESTS,
                              json_pack("{s:{s:s,s:s}}", "error", "code", cct_err_name(e),
                                        "message", err.msg[0] ? err.msg : cct_strerror(e)),
                              MHD_HTTP_HEADER_RETRY_AFTER, retry);
        goto out;
    }
    if (e != CCT_OK) {
        ret = api_send_error(r, e, err.msg);
        goto out;
    }
    ret = api_send_json(r, MHD_HTTP_OK,
                        json_pack("{s:s,s:o}", "token", token, "expiresAt", api_time(expires)));
out:
    json_decref(body);
    return ret;
}
