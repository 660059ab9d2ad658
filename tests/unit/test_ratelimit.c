/* test_ratelimit.c - the failed-login table: blocking after cfg.login_attempts failures, the
 * window, clearing, separate keys, and bounded memory under more keys than slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "domain/ratelimit.h"
#include "util/config.h"

static int setup(void **state)
{
    (void)state;
    cfg.login_attempts = 3;
    cfg.login_window = 60;
    ratelimit_reset();
    return 0;
}

static void blocks_after_n_failures(void **state)
{
    (void)state;
    assert_false(ratelimit_blocked("u:alice", 1000));
    ratelimit_fail("u:alice", 1000);
    ratelimit_fail("u:alice", 1001);
    assert_int_equal(ratelimit_count("u:alice", 1001), 2);
    assert_false(ratelimit_blocked("u:alice", 1002));
    ratelimit_fail("u:alice", 1002);
    assert_true(ratelimit_blocked("u:alice", 1002));
    assert_true(ratelimit_blocked("u:alice", 1059));
    /* other keys are not affected */
    assert_false(ratelimit_blocked("u:bob", 1002));
    assert_false(ratelimit_blocked("a:192.0.2.1", 1002));
}

static void window_ends(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        ratelimit_fail("a:192.0.2.7", 5000);
    assert_true(ratelimit_blocked("a:192.0.2.7", 5059));
    /* the window started at 5000 and lasts 60 s */
    assert_false(ratelimit_blocked("a:192.0.2.7", 5060));
    assert_int_equal(ratelimit_count("a:192.0.2.7", 5060), 0);
    /* a failure after the window starts a new one at 1 */
    ratelimit_fail("a:192.0.2.7", 5061);
    assert_int_equal(ratelimit_count("a:192.0.2.7", 5061), 1);
    /* a clock that went back does not keep a key blocked */
    assert_int_equal(ratelimit_count("a:192.0.2.7", 4000), 0);
}

static void clear_forgets(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        ratelimit_fail("u:carol", 100);
    assert_true(ratelimit_blocked("u:carol", 100));
    ratelimit_clear("u:carol");
    assert_false(ratelimit_blocked("u:carol", 100));
    assert_int_equal(ratelimit_count("u:carol", 100), 0);
    ratelimit_clear("u:never-seen"); /* no-op */
}

static void bounded_table_evicts_oldest(void **state)
{
    (void)state;
    char key[64];
    for (int i = 0; i < 3; i++)
        ratelimit_fail("u:victim", 10);
    /* fill every other slot with newer keys, then one more: the oldest (victim) goes */
    for (int i = 0; i < RATELIMIT_SLOTS; i++) {
        snprintf(key, sizeof key, "a:10.0.%d.%d", i / 256, i % 256);
        ratelimit_fail(key, 20);
    }
    assert_int_equal(ratelimit_count("u:victim", 21), 0);
    /* the newest keys are all still counted */
    snprintf(key, sizeof key, "a:10.0.%d.%d", (RATELIMIT_SLOTS - 1) / 256,
             (RATELIMIT_SLOTS - 1) % 256);
    assert_int_equal(ratelimit_count(key, 21), 1);
    assert_int_equal(ratelimit_count("a:10.0.0.1", 21), 1);
}

static void long_and_empty_keys(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 3; i++)
        ratelimit_fail(big, 1);
    assert_true(ratelimit_blocked(big, 2));
    big[100] = 'y';
    assert_false(ratelimit_blocked(big, 2));
    ratelimit_fail("", 1);
    ratelimit_fail(NULL, 1);
    assert_int_equal(ratelimit_count("", 1), 2);
}

static void take_and_refund(void **state)
{
    (void)state;
    assert_true(ratelimit_take("u:frank", 100));
    assert_true(ratelimit_take("u:frank", 100));
    ratelimit_refund("u:frank", 100); /* the second attempt succeeded */
    assert_int_equal(ratelimit_count("u:frank", 100), 1);
    assert_true(ratelimit_take("u:frank", 101));
    assert_true(ratelimit_take("u:frank", 102));
    assert_false(ratelimit_take("u:frank", 103)); /* three counted: blocked, nothing added */
    assert_int_equal(ratelimit_count("u:frank", 103), 3);
    assert_true(ratelimit_take("u:frank", 160)); /* a new window */
    assert_int_equal(ratelimit_count("u:frank", 160), 1);
    ratelimit_refund("u:frank", 160);
    ratelimit_refund("u:frank", 160); /* never below zero */
    assert_int_equal(ratelimit_count("u:frank", 160), 0);
    ratelimit_refund("u:unknown", 160);
}

static int taken;
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;

static void *taker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        if (ratelimit_take("a:203.0.113.5", 500)) {
            pthread_mutex_lock(&taken_lock);
            taken++;
            pthread_mutex_unlock(&taken_lock);
        }
    return NULL;
}

/* Logins in parallel never get more than login_attempts tries through. */
static void parallel_takes_respect_the_limit(void **state)
{
    (void)state;
    pthread_t th[8];
    taken = 0;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, taker, NULL), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(taken, 3);
    assert_int_equal(ratelimit_count("a:203.0.113.5", 500), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(blocks_after_n_failures, setup),
        cmocka_unit_test_setup(window_ends, setup),
        cmocka_unit_test_setup(clear_forgets, setup),
        cmocka_unit_test_setup(bounded_table_evicts_oldest, setup),
        cmocka_unit_test_setup(long_and_empty_keys, setup),
        cmocka_unit_test_setup(take_and_refund, setup),
        cmocka_unit_test_setup(parallel_takes_respect_the_limit, setup),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
