/* test_queue_local.c - the SQLite job queue on a temp file: order, duplicates, timeouts,
 * requeue of a dead worker's jobs, and two processes popping each job exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapters/queue.h"
#include "testutil.h"

struct fx {
    char dir[64];
    struct queue *q;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct cct_error err = {0};
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "test-q") < 0)
        return -1;
    /* through queue_open, as serve and worker do: the file is DATA_DIR/queue.db */
    if (queue_open("local", f->dir, &f->q, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    queue_close(&f->q);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void depth_is(struct queue *q, int64_t waiting, int64_t taken)
{
    int64_t w = -1, t = -1;
    assert_int_equal(q->ops->depth(q, &w, &t), CCT_OK);
    assert_int_equal(w, waiting);
    assert_int_equal(t, taken);
}

static void push_pop_ack(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    int64_t id = -1;
    depth_is(q, 0, 0);
    assert_int_equal(q->ops->push(q, 11), CCT_OK);
    assert_int_equal(q->ops->push(q, 12), CCT_OK);
    assert_int_equal(q->ops->push(q, 13), CCT_OK);
    depth_is(q, 3, 0);

    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_OK);
    assert_int_equal(id, 11);
    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_OK);
    assert_int_equal(id, 12);
    depth_is(q, 1, 2);
    assert_int_equal(q->ops->ack(q, 11), CCT_OK);
    depth_is(q, 1, 1);
    assert_int_equal(q->ops->ack(q, 11), CCT_OK); /* again: nothing to forget */
    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_OK);
    assert_int_equal(id, 13);
    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_ETIMEOUT);
    assert_int_equal(id, 0);
    assert_int_equal(q->ops->ack(q, 12), CCT_OK);
    assert_int_equal(q->ops->ack(q, 13), CCT_OK);
    depth_is(q, 0, 0);
}

static void duplicate_push(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    int64_t id = -1;
    assert_int_equal(q->ops->push(q, 5), CCT_OK);
    assert_int_equal(q->ops->push(q, 5), CCT_OK);
    depth_is(q, 1, 0);
    assert_int_equal(q->ops->pop(q, 42, 0, &id), CCT_OK);
    assert_int_equal(id, 5);
    /* pushing a taken job leaves it taken */
    assert_int_equal(q->ops->push(q, 5), CCT_OK);
    depth_is(q, 0, 1);
    assert_int_equal(q->ops->pop(q, 42, 0, &id), CCT_ETIMEOUT);
}

static void pop_times_out(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    int64_t id = -1;
    int64_t t0 = ms_now();
    assert_int_equal(q->ops->pop(q, 1, 120, &id), CCT_ETIMEOUT);
    int64_t took = ms_now() - t0;
    assert_true(took >= 110);
    assert_true(took < 1500);
    t0 = ms_now();
    assert_int_equal(q->ops->pop(q, 1, -5, &id), CCT_ETIMEOUT);
    assert_true(ms_now() - t0 < 500);
}

struct pusher {
    struct queue *q;
    int64_t id;
};

static void *push_later(void *p)
{
    struct pusher *a = p;
    usleep(60 * 1000);
    a->q->ops->push(a->q, a->id);
    return NULL;
}

static void pop_waits_for_push(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    struct pusher a = {.q = q, .id = 77};
    pthread_t th;
    int64_t id = -1;
    assert_int_equal(pthread_create(&th, NULL, push_later, &a), 0);
    int64_t t0 = ms_now();
    assert_int_equal(q->ops->pop(q, 1, 3000, &id), CCT_OK);
    int64_t took = ms_now() - t0;
    pthread_join(th, NULL);
    assert_int_equal(id, 77);
    assert_true(took >= 50);
    assert_true(took < 1000); /* polled, not waited out */
}

static void requeue_stale(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    int64_t id;
    int n = -1;
    for (int64_t i = 1; i <= 4; i++)
        assert_int_equal(q->ops->push(q, i), CCT_OK);
    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_OK); /* 1 */
    assert_int_equal(q->ops->pop(q, 100, 0, &id), CCT_OK); /* 2 */
    assert_int_equal(q->ops->pop(q, 200, 0, &id), CCT_OK); /* 3 */
    depth_is(q, 1, 3);

    assert_int_equal(q->ops->requeue_stale(q, 100, &n), CCT_OK);
    assert_int_equal(n, 2);
    depth_is(q, 3, 1);
    assert_int_equal(q->ops->requeue_stale(q, 100, &n), CCT_OK);
    assert_int_equal(n, 0);
    /* handed-back jobs keep their place: oldest first again */
    assert_int_equal(q->ops->pop(q, 300, 0, &id), CCT_OK);
    assert_int_equal(id, 1);
    assert_int_equal(q->ops->requeue_stale(q, 0, &n), CCT_OK);
    assert_int_equal(n, 2);
    depth_is(q, 4, 0);
}

#define MANY 60

static void child_pop_all(struct queue *q, int fd)
{
    int64_t id;
    /* the handle was inherited: the adapter must open its own connection here */
    while (q->ops->pop(q, getpid(), 500, &id) == CCT_OK) {
        if (write(fd, &id, sizeof id) != (ssize_t)sizeof id)
            _exit(2);
        q->ops->ack(q, id);
    }
    _exit(0);
}

static void two_processes_each_job_once(void **state)
{
    struct fx *f = *state;
    struct queue *q = f->q;
    int fds[2];
    pid_t kids[2];
    int seen[MANY + 1] = {0};
    assert_int_equal(pipe(fds), 0);
    for (int64_t i = 1; i <= MANY / 2; i++)
        assert_int_equal(q->ops->push(q, i), CCT_OK);
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            close(fds[0]);
            child_pop_all(q, fds[1]);
        }
    }
    close(fds[1]);
    /* the rest while the children are already popping */
    for (int64_t i = MANY / 2 + 1; i <= MANY; i++)
        assert_int_equal(q->ops->push(q, i), CCT_OK);
    int64_t id;
    int total = 0;
    while (read(fds[0], &id, sizeof id) == (ssize_t)sizeof id) {
        assert_true(id >= 1 && id <= MANY);
        seen[id]++;
        total++;
    }
    close(fds[0]);
    for (int k = 0; k < 2; k++) {
        int st = -1;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(total, MANY);
    for (int i = 1; i <= MANY; i++)
        assert_int_equal(seen[i], 1);
    depth_is(q, 0, 0);
}

static void bad_open(void **state)
{
    struct queue *q = NULL;
    struct cct_error err = {0};
    assert_int_equal(queue_local_open("/nonexistent-dir/q/queue.db", &q, &err), CCT_EQUEUE);
    assert_null(q);
    assert_int_equal(queue_open("kafka://x", "/tmp", &q, &err), CCT_EINVAL);
    queue_close(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(push_pop_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_push, setup, teardown),
        cmocka_unit_test_setup_teardown(pop_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(pop_waits_for_push, setup, teardown),
        cmocka_unit_test_setup_teardown(requeue_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(two_processes_each_job_once, setup, teardown),
        cmocka_unit_test(bad_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
