/* test_http_router.c - the route table and path matcher of the HTTP service: literal and
 * placeholder segments, 404 vs 405 with Allow, HEAD on GET routes, and hostile paths. Also the
 * cct_err -> HTTP status table and the Content-Disposition encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "services/api.h"
#include "services/metrics.h"
#include "services/routes.h"

static void param_is(const struct route_match *m, size_t i, const char *want)
{
    assert_true(i < m->nparams);
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)m->params[i].len, m->params[i].ptr);
    assert_string_equal(got, want);
}

static void literal_routes(void **state)
{
    struct route_match m;
    assert_int_equal(route_find("POST", "/api/auth/signup", &m), ROUTE_FOUND);
    assert_string_equal(m.route->pattern, "/api/auth/signup");
    assert_false(m.route->auth);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(route_find("GET", "/healthz", &m), ROUTE_FOUND);
    assert_int_equal(route_find("GET", "/", &m), ROUTE_FOUND);
    assert_string_equal(m.route->pattern, "/");
    assert_int_equal(route_find("GET", "/api/openapi.json", &m), ROUTE_FOUND);
    assert_int_equal(route_find("GET", "/metrics", &m), ROUTE_FOUND);
    assert_int_equal(route_find("GET", "/api/formats", &m), ROUTE_FOUND);
}

static void placeholders(void **state)
{
    struct route_match m;
    assert_int_equal(route_find("GET", "/api/tasks/42", &m), ROUTE_FOUND);
    assert_string_equal(m.route->pattern, "/api/tasks/{id}");
    assert_true(m.route->auth);
    param_is(&m, 0, "42");
    assert_int_equal(route_find("DELETE", "/api/tasks/7", &m), ROUTE_FOUND);
    assert_string_equal(m.route->method, "DELETE");
    param_is(&m, 0, "7");
    assert_int_equal(route_find("GET", "/api/tasks/7/result", &m), ROUTE_FOUND);
    assert_string_equal(m.route->pattern, "/api/tasks/{id}/result");
    param_is(&m, 0, "7");
    assert_int_equal(route_find("GET", "/api/tasks/abc/original", &m), ROUTE_FOUND);
    param_is(&m, 0, "abc"); /* the handler rejects non-numeric ids with 404 */
    assert_int_equal(route_find("GET", "/api/files/photo.tar.gz", &m), ROUTE_FOUND);
    assert_string_equal(m.route->pattern, "/api/files/{filename}");
    param_is(&m, 0, "photo.tar.gz");
    /* the metric label is the pattern, never the raw path */
    assert_string_equal(m.route->label ? m.route->label : m.route->pattern,
                        "/api/files/{filename}");
}

static void not_found(void **state)
{
    struct route_match m;
    const char *paths[] = {"/api/tasks/",
                           "/api/tasks//result",
                           "/api/tasks/1/2",
                           "/api/tasks/1/result/",
                           "/api/taskss",
                           "/api",
                           "",
                           "api/tasks",
                           "/healthz/",
                           "/api/files/",
                           "/api/files/a/b",
                           "//",
                           "/API/TASKS",
                           "/api/tasks/1/resul",
                           "/api/tasks/1/results"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        enum route_result rr = route_find("GET", paths[i], &m);
        if (rr != ROUTE_NOT_FOUND)
            fail_msg("path \"%s\": expected not found, got %d", paths[i], (int)rr);
        assert_null(m.route);
    }
}

static void wrong_method(void **state)
{
    struct route_match m;
    assert_int_equal(route_find("PUT", "/api/tasks", &m), ROUTE_BAD_METHOD);
    assert_null(m.route);
    assert_string_equal(m.allow, "GET, HEAD, POST");
    assert_int_equal(route_find("POST", "/api/tasks/3", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, DELETE");
    assert_int_equal(route_find("GET", "/api/auth/login", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
    assert_int_equal(route_find("DELETE", "/healthz", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD");
}

static void head_matches_get(void **state)
{
    struct route_match m;
    assert_int_equal(route_find("HEAD", "/api/tasks/9/original", &m), ROUTE_FOUND);
    assert_string_equal(m.route->method, "GET");
    assert_int_equal(route_find("HEAD", "/api/auth/login", &m), ROUTE_BAD_METHOD);
}

static void pattern_matcher(void **state)
{
    struct route_param p[ROUTE_MAX_PARAMS];
    size_t n = 99;
    assert_true(route_pattern_match("/a/{x}/b/{y}", "/a/1/b/22", p, &n));
    assert_int_equal(n, 2);
    assert_int_equal(p[1].len, 2);
    assert_memory_equal(p[1].ptr, "22", 2);
    assert_false(route_pattern_match("/a/{x}/b/{y}/{z}", "/a/1/b/2/3", p, &n)); /* > max params */
    assert_false(route_pattern_match("/a/{x}", "/a/", p, &n));
    assert_false(route_pattern_match("/a", "/a/", NULL, NULL));
    assert_true(route_pattern_match("/", "/", NULL, NULL));
    assert_false(route_pattern_match("/", "", NULL, NULL));
    /* a long hostile segment is still one segment */
    char path[5000] = "/api/files/";
    memset(path + 11, 'x', 4000);
    path[4011] = '\0';
    struct route_match m;
    assert_int_equal(route_find("GET", path, &m), ROUTE_FOUND);
    assert_int_equal(m.params[0].len, 4000);
    char small[16];
    struct api_req r = {.match = m};
    assert_false(api_param(&r, 0, small, sizeof small)); /* too long for the buffer */
}

static void table_is_sane(void **state)
{
    size_t n = 0;
    const struct route *t = routes_all(&n);
    assert_true(n > 0 && n < METRICS_MAX_ROUTES); /* the last metrics slot is "unmatched" */
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].handler);
        if (t[i].body == BODY_STREAM) {
            assert_non_null(t[i].begin);
            assert_non_null(t[i].data);
        }
        /* every /api/tasks and /api/files route requires a token */
        if (strncmp(t[i].pattern, "/api/tasks", 10) == 0 ||
            strncmp(t[i].pattern, "/api/files", 10) == 0)
            assert_true(t[i].auth);
        for (size_t k = 0; k < i; k++)
            assert_false(strcmp(t[i].method, t[k].method) == 0 &&
                         strcmp(t[i].pattern, t[k].pattern) == 0);
    }
}

static void id_parameter(void **state)
{
    struct route_match m;
    struct api_req r;
    int64_t id = 0;
    const char *bad[] = {"/api/tasks/0",
                         "/api/tasks/-1",
                         "/api/tasks/+1",
                         "/api/tasks/1x",
                         "/api/tasks/ 1",
                         "/api/tasks/9223372036854775808",
                         "/api/tasks/99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(route_find("GET", bad[i], &m), ROUTE_FOUND);
        r = (struct api_req){.match = m};
        if (api_param_id(&r, 0, &id))
            fail_msg("\"%s\" parsed as id %lld", bad[i], (long long)id);
    }
    assert_int_equal(route_find("GET", "/api/tasks/9223372036854775807", &m), ROUTE_FOUND);
    r = (struct api_req){.match = m};
    assert_true(api_param_id(&r, 0, &id));
    assert_true(id == INT64_MAX);
}

static void status_table(void **state)
{
    assert_int_equal(api_status_for(CCT_EINVAL), 400);
    assert_int_equal(api_status_for(CCT_ENOTFOUND), 404);
    assert_int_equal(api_status_for(CCT_ECONFLICT), 409);
    assert_int_equal(api_status_for(CCT_ELIMIT), 413);
    assert_int_equal(api_status_for(CCT_EAUTH), 401);
    assert_int_equal(api_status_for(CCT_ERATE), 429);
    assert_int_equal(api_status_for(CCT_EUNSUPPORTED), 400);
    assert_int_equal(api_status_for(CCT_EDB), 503);
    assert_int_equal(api_status_for(CCT_EINTERNAL), 500);
}

static void content_disposition(void **state)
{
    char out[512];
    api_content_disposition("report.pdf", out, sizeof out);
    assert_string_equal(out, "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
    api_content_disposition("caf\xc3\xa9 \"x\".mp3", out, sizeof out);
    assert_string_equal(out, "attachment; filename=\"caf__ _x_.mp3\"; "
                             "filename*=UTF-8''caf%C3%A9%20%22x%22.mp3");
    api_content_disposition("a\r\nb;c\\d", out, sizeof out);
    assert_null(strchr(out, '\r'));
    assert_null(strchr(out, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_routes),   cmocka_unit_test(placeholders),
        cmocka_unit_test(not_found),        cmocka_unit_test(wrong_method),
        cmocka_unit_test(head_matches_get), cmocka_unit_test(pattern_matcher),
        cmocka_unit_test(table_is_sane),    cmocka_unit_test(id_parameter),
        cmocka_unit_test(status_table),     cmocka_unit_test(content_disposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
