/* test_config.c - the settings table: defaults, environment overrides, bounds, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"
#include "util/err.h"
#include "util/log.h"

static const char *const vars[] = {"PORT",          "DATA_DIR",  "DATABASE_URL", "STORAGE_DIR",
                                   "MAX_UPLOAD_MB", "LOG_LEVEL", "WORKERS"};

static int clear_env(void **state)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

static void defaults(void **state)
{
    char err[256] = "";
    assert_int_equal(config_load(err, sizeof err), 0);
    assert_int_equal(cfg.port, 8000);
    /* relative paths are made absolute: a conversion child runs in its own folder */
    char cwd[4096], want[4200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/data", cwd);
    assert_string_equal(cfg.data_dir, want);
    snprintf(want, sizeof want, "sqlite:%s/data/cct.db", cwd);
    assert_string_equal(cfg.database_url, want);
    snprintf(want, sizeof want, "%s/data/files", cwd);
    assert_string_equal(cfg.storage_dir, want);
    assert_int_equal(cfg.retention_hours, 24);
    assert_true(cfg.workers >= 1);
}

static void overrides(void **state)
{
    char err[256] = "";
    setenv("PORT", "9123", 1);
    setenv("DATA_DIR", "/tmp/x", 1);
    setenv("LOG_LEVEL", "warn", 1);
    assert_int_equal(config_load(err, sizeof err), 0);
    assert_int_equal(cfg.port, 9123);
    assert_string_equal(cfg.storage_dir, "/tmp/x/files");
    assert_int_equal(log_min_level, LOG_WARN);
    log_min_level = LOG_INFO;
}

static void bad_values(void **state)
{
    char err[256] = "";
    setenv("PORT", "99999", 1);
    assert_int_equal(config_load(err, sizeof err), -1);
    assert_non_null(strstr(err, "PORT"));
    assert_non_null(strstr(err, "65535"));
    setenv("PORT", "80x", 1);
    assert_int_equal(config_load(err, sizeof err), -1);
    unsetenv("PORT");
    setenv("MAX_UPLOAD_MB", "0", 1);
    assert_int_equal(config_load(err, sizeof err), -1);
    assert_non_null(strstr(err, "MAX_UPLOAD_MB"));
    unsetenv("MAX_UPLOAD_MB");
    setenv("LOG_LEVEL", "loud", 1);
    assert_int_equal(config_load(err, sizeof err), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));
}

static void errors_have_names(void **state)
{
    struct cct_error e;
    assert_int_equal(cct_error_set(&e, CCT_ENOTFOUND, "task %d", 7), CCT_ENOTFOUND);
    assert_string_equal(e.msg, "task 7");
    assert_string_equal(cct_err_name(CCT_ENOTFOUND), "not_found");
    for (int c = CCT_OK; c <= CCT_EINTERNAL; c++) {
        assert_string_not_equal(cct_err_name((cct_err)c), "unknown");
        assert_string_not_equal(cct_strerror((cct_err)c), "unknown error");
    }
}

static void log_escaping(void **state)
{
    char out[64];
    assert_string_equal(log_escape("a b\"c\n", out, sizeof out), "a\\x20b\\x22c\\x0a");
    assert_string_equal(log_escape(NULL, out, sizeof out), "");
    log_escape("0123456789", out, 5);
    assert_string_equal(out, "0123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, clear_env),
        cmocka_unit_test_setup(overrides, clear_env),
        cmocka_unit_test_setup(bad_values, clear_env),
        cmocka_unit_test(errors_have_names),
        cmocka_unit_test(log_escaping),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
