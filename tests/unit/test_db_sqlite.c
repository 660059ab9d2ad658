/* test_db_sqlite.c - the SQLite data adapter against a real database file in a temp folder:
 * migrations, users, tasks (ownership, order, compare-and-set, lists, stats) and threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapters/db.h"
#include "testutil.h"

struct fx {
    char dir[64];
    char path[128];
    char url[160];
    struct db *db;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct cct_error err = {0};
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "test-db") < 0)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/cct.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    if (db_open(f->url, &f->db, &err) || f->db->ops->migrate(f->db, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    db_close(&f->db);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static int64_t make_user(struct db *db, const char *name, const char *email)
{
    struct user u = {0};
    struct cct_error err = {0};
    snprintf(u.username, sizeof u.username, "%s", name);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.password_hash, sizeof u.password_hash, "$argon2id$hash-of-%s", name);
    assert_int_equal(db->ops->user_create(db, &u, &err), CCT_OK);
    assert_true(u.id > 0);
    return u.id;
}

static int64_t make_task(struct db *db, int64_t uid, const char *file, enum task_status st,
                         int64_t created)
{
    struct task t = {0};
    struct cct_error err = {0};
    t.user_id = uid;
    snprintf(t.file_name, sizeof t.file_name, "%s", file);
    snprintf(t.original_format, sizeof t.original_format, "jpg");
    snprintf(t.new_format, sizeof t.new_format, "png");
    t.status = st;
    t.created_at = created;
    t.original_size = 1234;
    snprintf(t.original_key, sizeof t.original_key, "u%lld/%s", (long long)uid, file);
    assert_int_equal(db->ops->task_create(db, &t, &err), CCT_OK);
    assert_true(t.id > 0);
    return t.id;
}

static void migrations_idempotent(void **state)
{
    struct fx *f = *state;
    struct cct_error err = {0};
    struct db *other = NULL;
    assert_int_equal(f->db->ops->migrate(f->db, &err), CCT_OK);
    assert_int_equal(db_sqlite_open(f->path, &other, &err), CCT_OK);
    assert_int_equal(other->ops->migrate(other, &err), CCT_OK);
    db_close(&other);
    assert_null(other);

    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT count(*), max(version) FROM schema_migrations", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    assert_int_equal(sqlite3_column_int(s, 1), 1);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(h);
}

/* Two processes migrating one new file at once: both succeed, the migration runs once. */
static void migrations_concurrent(void **state)
{
    struct fx *f = *state;
    char path[160];
    pid_t kids[2];
    snprintf(path, sizeof path, "%s/fresh.db", f->dir);
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct db *db = NULL;
            struct cct_error err = {0};
            cct_err rc = db_sqlite_open(path, &db, &err);
            if (!rc)
                rc = db->ops->migrate(db, &err);
            if (rc)
                fprintf(stderr, "child: %s\n", err.msg);
            db_close(&db);
            _exit(rc == CCT_OK ? 0 : 1);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st = -1;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM schema_migrations", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(h);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[200];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static void users_create_and_conflict(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct cct_error err = {0};
    struct user u = {0}, got;
    int64_t id = make_user(db, "Alice", "alice@example.com");

    snprintf(u.username, sizeof u.username, "aLICE");
    snprintf(u.email, sizeof u.email, "other@example.com");
    snprintf(u.password_hash, sizeof u.password_hash, "h");
    assert_int_equal(db->ops->user_create(db, &u, &err), CCT_ECONFLICT);
    assert_int_equal(err.code, CCT_ECONFLICT);
    assert_non_null(strstr(err.msg, "username"));

    snprintf(u.username, sizeof u.username, "bob");
    snprintf(u.email, sizeof u.email, "ALICE@example.COM");
    assert_int_equal(db->ops->user_create(db, &u, &err), CCT_ECONFLICT);
    assert_non_null(strstr(err.msg, "e-mail"));

    assert_int_equal(db->ops->user_by_name(db, "ALICE", &got), CCT_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.username, "Alice");
    assert_string_equal(got.email, "alice@example.com");
    assert_string_equal(got.password_hash, "$argon2id$hash-of-Alice");
    assert_true(got.created_at > 1600000000);
    assert_int_equal(db->ops->user_by_id(db, id, &got), CCT_OK);
    assert_string_equal(got.username, "Alice");
    assert_int_equal(db->ops->user_by_id(db, id + 100, &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->user_by_name(db, "nobody", &got), CCT_ENOTFOUND);
    /* hostile names are data, not SQL */
    assert_int_equal(db->ops->user_by_name(db, "' OR 1=1 --", &got), CCT_ENOTFOUND);
}

static void tasks_create_get_ownership(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct task t = {0}, got;
    struct cct_error err = {0};
    int64_t u1 = make_user(db, "u1", "u1@x.org"), u2 = make_user(db, "u2", "u2@x.org");

    t.user_id = u1;
    snprintf(t.file_name, sizeof t.file_name, "My Photo 'quoted\".jpg");
    snprintf(t.original_format, sizeof t.original_format, "jpg");
    snprintf(t.new_format, sizeof t.new_format, "webp");
    snprintf(t.preset, sizeof t.preset, "small");
    t.status = TASK_UPLOADED;
    t.original_size = 1 << 20;
    snprintf(t.original_key, sizeof t.original_key, "u1/abc/original");
    assert_int_equal(db->ops->task_create(db, &t, &err), CCT_OK);
    assert_true(t.id > 0);
    assert_true(t.created_at > 1600000000);

    assert_int_equal(db->ops->task_get(db, t.id, u1, &got), CCT_OK);
    assert_int_equal(got.id, t.id);
    assert_int_equal(got.user_id, u1);
    assert_string_equal(got.file_name, t.file_name);
    assert_string_equal(got.original_format, "jpg");
    assert_string_equal(got.new_format, "webp");
    assert_string_equal(got.preset, "small");
    assert_int_equal(got.status, TASK_UPLOADED);
    assert_int_equal(got.progress, 0);
    assert_string_equal(got.error, "");
    assert_int_equal(got.original_size, 1 << 20);
    assert_int_equal(got.created_at, t.created_at);
    assert_string_equal(got.original_key, "u1/abc/original");
    assert_string_equal(got.result_key, "");

    assert_int_equal(db->ops->task_get(db, t.id, 0, &got), CCT_OK);
    assert_int_equal(db->ops->task_get(db, t.id, u2, &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_get(db, t.id + 1000, 0, &got), CCT_ENOTFOUND);

    /* a task for a user that does not exist is refused by the foreign key */
    t.user_id = u2 + 1000;
    assert_int_not_equal(db->ops->task_create(db, &t, &err), CCT_OK);
}

static void tasks_list_order_and_max(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct task out[10];
    int n = -1;
    int64_t u1 = make_user(db, "u1", "u1@x.org"), u2 = make_user(db, "u2", "u2@x.org");
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d.jpg", i);
        ids[i] = make_task(db, u1, name, TASK_UPLOADED, 0);
    }
    make_task(db, u2, "other.jpg", TASK_UPLOADED, 0);

    assert_int_equal(db->ops->task_list(db, u1, 3, 1, out, &n), CCT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, ids[4]);
    assert_int_equal(out[1].id, ids[3]);
    assert_int_equal(out[2].id, ids[2]);
    assert_string_equal(out[0].file_name, "f4.jpg");

    assert_int_equal(db->ops->task_list(db, u1, 10, 0, out, &n), CCT_OK);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out[i].id, ids[i]);
        assert_int_equal(out[i].user_id, u1);
    }
    assert_int_equal(db->ops->task_list(db, u2, 10, 1, out, &n), CCT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(db->ops->task_list(db, u1, 0, 1, out, &n), CCT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(db->ops->task_list(db, u2 + 99, 10, 1, out, &n), CCT_OK);
    assert_int_equal(n, 0);
}

static void tasks_transition_progress_update_delete(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct task got;
    int64_t u = make_user(db, "u", "u@x.org");
    int64_t id = make_task(db, u, "a.jpg", TASK_UPLOADED, 0);

    assert_int_equal(db->ops->task_transition(db, id, TASK_UPLOADED, TASK_QUEUED), CCT_OK);
    assert_int_equal(db->ops->task_transition(db, id, TASK_UPLOADED, TASK_QUEUED), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_transition(db, id + 5, TASK_QUEUED, TASK_PROCESSING),
                     CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_get(db, id, u, &got), CCT_OK);
    assert_int_equal(got.status, TASK_QUEUED);
    assert_int_equal(db->ops->task_transition(db, id, TASK_QUEUED, TASK_PROCESSING), CCT_OK);

    assert_int_equal(db->ops->task_set_progress(db, id, 42), CCT_OK);
    assert_int_equal(db->ops->task_get(db, id, u, &got), CCT_OK);
    assert_int_equal(got.progress, 42);
    assert_int_equal(db->ops->task_set_progress(db, id, 250), CCT_OK);
    assert_int_equal(db->ops->task_get(db, id, u, &got), CCT_OK);
    assert_int_equal(got.progress, 100);
    assert_int_equal(db->ops->task_set_progress(db, id + 5, 1), CCT_ENOTFOUND);

    got.status = TASK_FAILED;
    got.progress = 100;
    snprintf(got.error, sizeof got.error, "the input is not a valid JPEG");
    got.result_size = 777;
    got.started_at = 1000;
    got.finished_at = 1010;
    snprintf(got.result_key, sizeof got.result_key, "u/a/result");
    assert_int_equal(db->ops->task_update(db, &got), CCT_OK);
    struct task again;
    assert_int_equal(db->ops->task_get(db, id, 0, &again), CCT_OK);
    assert_int_equal(again.status, TASK_FAILED);
    assert_string_equal(again.error, "the input is not a valid JPEG");
    assert_int_equal(again.result_size, 777);
    assert_int_equal(again.started_at, 1000);
    assert_int_equal(again.finished_at, 1010);
    assert_string_equal(again.result_key, "u/a/result");
    assert_string_equal(again.file_name, "a.jpg");
    again.id += 100;
    assert_int_equal(db->ops->task_update(db, &again), CCT_ENOTFOUND);

    assert_int_equal(db->ops->task_delete(db, id), CCT_OK);
    assert_int_equal(db->ops->task_get(db, id, 0, &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_delete(db, id), CCT_ENOTFOUND);
}

static void tasks_by_filename(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct task got;
    int64_t u = make_user(db, "u", "u@x.org"), v = make_user(db, "v", "v@x.org");
    make_task(db, u, "photo.jpg", TASK_PROCESSED, 0);
    int64_t newer = make_task(db, u, "photo.jpg", TASK_PROCESSED, 0);
    make_task(db, u, "photograph.jpg", TASK_PROCESSED, 0);
    make_task(db, v, "mine.jpg", TASK_PROCESSED, 0);

    assert_int_equal(db->ops->task_by_filename(db, u, "photo.jpg", &got), CCT_OK);
    assert_int_equal(got.id, newer);
    assert_int_equal(db->ops->task_by_filename(db, u, "photo.png", &got), CCT_OK); /* result */
    assert_int_equal(got.id, newer);
    assert_int_equal(db->ops->task_by_filename(db, u, "photo.gif", &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_by_filename(db, u, "mine.jpg", &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_by_filename(db, v, "mine.png", &got), CCT_OK);
    assert_int_equal(db->ops->task_by_filename(db, u, "", &got), CCT_ENOTFOUND);
    assert_int_equal(db->ops->task_by_filename(db, u, "%", &got), CCT_ENOTFOUND);
}

static void tasks_counts_lists_stats(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    struct task out[10], t;
    int n = -1;
    int64_t u = make_user(db, "u", "u@x.org"), v = make_user(db, "v", "v@x.org");
    int64_t a = make_task(db, u, "a.jpg", TASK_UPLOADED, 100);
    int64_t b = make_task(db, u, "b.jpg", TASK_QUEUED, 200);
    int64_t c = make_task(db, u, "c.jpg", TASK_PROCESSING, 300);
    int64_t d = make_task(db, u, "d.jpg", TASK_PROCESSED, 400);
    int64_t e = make_task(db, v, "e.jpg", TASK_FAILED, 500);
    make_task(db, v, "f.jpg", TASK_EXPIRED, 600);
    int64_t g = make_task(db, v, "g.jpg", TASK_QUEUED, 700);

    assert_int_equal(db->ops->task_count_active(db, u, &n), CCT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(db->ops->task_count_active(db, v, &n), CCT_OK);
    assert_int_equal(n, 1);

    assert_int_equal(db->ops->task_list_by_status(db, TASK_QUEUED, 10, out, &n), CCT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].id, b);
    assert_int_equal(out[1].id, g);
    assert_int_equal(db->ops->task_list_by_status(db, TASK_QUEUED, 1, out, &n), CCT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, b);

    /* before 650: a, b, d, e (c is processing, f expired, g too new) */
    assert_int_equal(db->ops->task_list_expiring(db, 650, 10, out, &n), CCT_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].id, a);
    assert_int_equal(out[1].id, b);
    assert_int_equal(out[2].id, d);
    assert_int_equal(out[3].id, e);
    assert_int_equal(db->ops->task_list_expiring(db, 650, 2, out, &n), CCT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(db->ops->task_list_expiring(db, 100, 10, out, &n), CCT_OK);
    assert_int_equal(n, 0);
    (void)c;

    /* d ran 10 s, e 5 s; a processed task without started_at is not counted */
    assert_int_equal(db->ops->task_get(db, d, 0, &t), CCT_OK);
    t.started_at = 1000;
    t.finished_at = 1010;
    assert_int_equal(db->ops->task_update(db, &t), CCT_OK);
    assert_int_equal(db->ops->task_get(db, e, 0, &t), CCT_OK);
    t.started_at = 2000;
    t.finished_at = 2005;
    assert_int_equal(db->ops->task_update(db, &t), CCT_OK);
    make_task(db, v, "h.jpg", TASK_PROCESSED, 800);

    int64_t counts[TASK_STATUS_COUNT];
    double secs = -1;
    int64_t cnt = -1;
    assert_int_equal(db->ops->task_stats(db, counts, &secs, &cnt), CCT_OK);
    assert_int_equal(counts[TASK_UPLOADED], 1);
    assert_int_equal(counts[TASK_QUEUED], 2);
    assert_int_equal(counts[TASK_PROCESSING], 1);
    assert_int_equal(counts[TASK_PROCESSED], 2);
    assert_int_equal(counts[TASK_FAILED], 1);
    assert_int_equal(counts[TASK_EXPIRED], 1);
    assert_int_equal(cnt, 2);
    assert_int_equal((int64_t)(secs * 1000), 15000);
}

struct thread_arg {
    struct db *db;
    int64_t id, uid;
    int ok;
};

static void *reader(void *p)
{
    struct thread_arg *a = p;
    struct task t;
    a->ok = 0;
    for (int i = 0; i < 500; i++) {
        if (a->db->ops->task_get(a->db, a->id, a->uid, &t) == CCT_OK && t.id == a->id)
            a->ok++;
        if (i % 50 == 0)
            a->db->ops->task_set_progress(a->db, a->id, i / 5);
    }
    return NULL;
}

static void threads_and_speed(void **state)
{
    struct fx *f = *state;
    struct db *db = f->db;
    int64_t u = make_user(db, "u", "u@x.org");
    int64_t id = make_task(db, u, "a.jpg", TASK_UPLOADED, 0);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.db = db, .id = id, .uid = u};
        assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 500);
    }

    /* the cached statement makes an authenticated task_get cheap */
    struct timespec t0, t1;
    struct task t;
    int calls = 10000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < calls; i++)
        assert_int_equal(db->ops->task_get(db, id, u, &t), CCT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double rate = calls / (s > 0 ? s : 1e-9);
    printf("task_get: %.0f calls/s\n", rate);
    assert_true(rate > 3000); /* >15k/s in a release build; loose for sanitizers and a busy box */
}

static void bad_path(void **state)
{
    struct db *db = NULL;
    struct cct_error err = {0};
    assert_int_equal(db_sqlite_open("/nonexistent-dir/x/cct.db", &db, &err), CCT_EDB);
    assert_null(db);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(db_open("mysql://x", &db, &err), CCT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(migrations_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(users_create_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_create_get_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_list_order_and_max, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_transition_progress_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_by_filename, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_counts_lists_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_and_speed, setup, teardown),
        cmocka_unit_test(bad_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
