/* test_storage_local.c - the local-directory storage adapter on a temp folder: atomic writes,
 * reads, key validation, put_file, fetch and remove (with the empty folders it leaves). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/storage.h"
#include "testutil.h"

struct fx {
    char dir[64];
    char root[96];
    struct storage *st;
};

/* Number of entries in a folder (without . and ..), -1 if it does not exist. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct cct_error err = {0};
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "test-st") < 0)
        return -1;
    snprintf(f->root, sizeof f->root, "%s/files", f->dir);
    if (storage_local_open(f->root, &f->st, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    storage_close(&f->st);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static void put(struct storage *st, const char *key, const char *data)
{
    struct storage_writer *w = NULL;
    assert_int_equal(st->ops->writer_open(st, key, &w), CCT_OK);
    assert_non_null(w);
    assert_int_equal(st->ops->writer_write(w, data, strlen(data)), CCT_OK);
    assert_int_equal(st->ops->writer_commit(w), CCT_OK);
}

static void read_all(struct storage *st, const char *key, char *buf, size_t n)
{
    int fd = -1;
    uint64_t size = 0;
    assert_int_equal(st->ops->open_read(st, key, &fd, &size), CCT_OK);
    assert_true(fd >= 0);
    assert_true(size < n);
    ssize_t r = read(fd, buf, n - 1);
    assert_int_equal(r, (ssize_t)size);
    buf[r] = '\0';
    int flags = fcntl(fd, F_GETFD);
    assert_true(flags & FD_CLOEXEC);
    close(fd);
}

static void write_commit_read(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    struct storage_writer *w = NULL;
    char buf[256], path[256], expect[256];
    int fd = -1;
    uint64_t size = 0;

    assert_int_equal(st->ops->writer_open(st, "u12/5f3a/original", &w), CCT_OK);
    assert_int_equal(st->ops->writer_write(w, "hello ", 6), CCT_OK);
    /* not visible before commit */
    assert_int_equal(st->ops->open_read(st, "u12/5f3a/original", &fd, &size), CCT_ENOTFOUND);
    assert_int_equal(st->ops->writer_write(w, "world", 5), CCT_OK);
    assert_int_equal(st->ops->writer_write(w, "", 0), CCT_OK);
    assert_int_equal(st->ops->writer_commit(w), CCT_OK);

    read_all(st, "u12/5f3a/original", buf, sizeof buf);
    assert_string_equal(buf, "hello world");
    assert_int_equal(st->ops->local_path(st, "u12/5f3a/original", path, sizeof path), CCT_OK);
    snprintf(expect, sizeof expect, "%s/u12/5f3a/original", f->root);
    assert_string_equal(path, expect);
    assert_int_equal(st->ops->local_path(st, "u12/5f3a/original", path, 8), CCT_EINVAL);
    assert_int_equal(st->ops->local_path(st, "u12/5f3a/none", path, sizeof path), CCT_ENOTFOUND);
    /* a folder is not an object */
    assert_int_equal(st->ops->open_read(st, "u12/5f3a", &fd, &size), CCT_ENOTFOUND);

    /* overwrite replaces atomically */
    put(st, "u12/5f3a/original", "second");
    read_all(st, "u12/5f3a/original", buf, sizeof buf);
    assert_string_equal(buf, "second");

    /* nothing is left in the temp folder */
    snprintf(path, sizeof path, "%s/.tmp", f->root);
    assert_int_equal(count_entries(path), 0);
}

static void big_write(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    struct storage_writer *w = NULL;
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 31 + 7);
    assert_int_equal(st->ops->writer_open(st, "big/blob", &w), CCT_OK);
    assert_int_equal(st->ops->writer_write(w, data, n), CCT_OK);
    assert_int_equal(st->ops->writer_commit(w), CCT_OK);
    int fd = -1;
    uint64_t size = 0;
    assert_int_equal(st->ops->open_read(st, "big/blob", &fd, &size), CCT_OK);
    assert_int_equal(size, n);
    unsigned char *back = malloc(n);
    assert_non_null(back);
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = read(fd, back + got, n - got)) > 0)
        got += (size_t)r;
    close(fd);
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(data);
}

static void abort_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    struct storage_writer *w = NULL;
    char path[256];
    int fd = -1;
    uint64_t size;
    assert_int_equal(st->ops->writer_open(st, "u1/t1/original", &w), CCT_OK);
    assert_int_equal(st->ops->writer_write(w, "partial", 7), CCT_OK);
    st->ops->writer_abort(w);
    st->ops->writer_abort(NULL);
    assert_int_equal(st->ops->open_read(st, "u1/t1/original", &fd, &size), CCT_ENOTFOUND);
    snprintf(path, sizeof path, "%s/.tmp", f->root);
    assert_int_equal(count_entries(path), 0);
    assert_int_equal(count_entries(f->root), 1); /* only .tmp */
}

static void bad_keys_rejected(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    struct storage_writer *w = NULL;
    int fd;
    uint64_t size;
    char path[256];
    const char *bad[] = {
        "",       "/etc/passwd", "..",  "../x", "a/../../x", "a/..", "a//b",
        "a/./b",  "a/",          "a b", "a\\b", "a\nb",      "é",    "a;rm",
        ".tmp/x", ".",           "x/.", "a*",   "%2e%2e",    "a?b",  "~/x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(st->ops->writer_open(st, bad[i], &w), CCT_EINVAL);
        assert_null(w);
        assert_int_equal(st->ops->open_read(st, bad[i], &fd, &size), CCT_EINVAL);
        assert_int_equal(st->ops->local_path(st, bad[i], path, sizeof path), CCT_EINVAL);
        assert_int_equal(st->ops->remove(st, bad[i]), CCT_EINVAL);
        assert_int_equal(st->ops->put_file(st, bad[i], "/tmp/none"), CCT_EINVAL);
        assert_int_equal(st->ops->fetch(st, bad[i], "/tmp/none"), CCT_EINVAL);
    }
    char longkey[1200];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(st->ops->writer_open(st, longkey, &w), CCT_EINVAL);
    /* good ones */
    const char *good[] = {"a", "u12/5f3a-b_c.d/original", "x..y", ".hidden/f", "A-Z_0.9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(st->ops->writer_open(st, good[i], &w), CCT_OK);
        st->ops->writer_abort(w);
        w = NULL;
    }
}

static void put_file_and_fetch(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    char src[128], dst[128], buf[64];
    snprintf(src, sizeof src, "%s/src.bin", f->dir);
    snprintf(dst, sizeof dst, "%s/out.bin", f->dir);
    FILE *fp = fopen(src, "w");
    assert_non_null(fp);
    fputs("payload", fp);
    fclose(fp);

    assert_int_equal(st->ops->put_file(st, "u3/t9/result", src), CCT_OK);
    assert_int_equal(access(src, F_OK), -1); /* moved */
    read_all(st, "u3/t9/result", buf, sizeof buf);
    assert_string_equal(buf, "payload");
    assert_int_equal(st->ops->put_file(st, "u3/t9/other", src), CCT_ENOTFOUND);

    assert_int_equal(st->ops->fetch(st, "u3/t9/result", dst), CCT_OK);
    fp = fopen(dst, "r");
    assert_non_null(fp);
    memset(buf, 0, sizeof buf);
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "payload");
    assert_int_equal(st->ops->fetch(st, "u3/t9/missing", dst), CCT_ENOTFOUND);

    /* across file systems (/dev/shm is tmpfs) put_file copies */
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/cct-test-st-%d", (int)getpid());
    fp = fopen(shm, "w");
    if (fp) {
        fputs("from tmpfs", fp);
        fclose(fp);
        assert_int_equal(st->ops->put_file(st, "u3/t9/shm", shm), CCT_OK);
        read_all(st, "u3/t9/shm", buf, sizeof buf);
        assert_string_equal(buf, "from tmpfs");
        unlink(shm);
    }
}

static void remove_cleans_folders(void **state)
{
    struct fx *f = *state;
    struct storage *st = f->st;
    char path[256];
    int fd;
    uint64_t size;
    put(st, "u5/t1/original", "a");
    put(st, "u5/t1/result", "b");
    put(st, "u5/t2/original", "c");

    assert_int_equal(st->ops->remove(st, "u5/t1/original"), CCT_OK);
    assert_int_equal(st->ops->open_read(st, "u5/t1/original", &fd, &size), CCT_ENOTFOUND);
    snprintf(path, sizeof path, "%s/u5/t1", f->root);
    assert_int_equal(count_entries(path), 1);
    assert_int_equal(st->ops->remove(st, "u5/t1/result"), CCT_OK);
    assert_int_equal(count_entries(path), -1); /* t1 gone */
    snprintf(path, sizeof path, "%s/u5", f->root);
    assert_int_equal(count_entries(path), 1); /* t2 stays */
    assert_int_equal(st->ops->remove(st, "u5/t2/original"), CCT_OK);
    assert_int_equal(count_entries(path), -1);
    assert_int_equal(count_entries(f->root), 1);                     /* the root and .tmp stay */
    assert_int_equal(st->ops->remove(st, "u5/t2/original"), CCT_OK); /* missing is fine */
    assert_int_equal(st->ops->remove(st, "nothing/here"), CCT_OK);
}

/* Opening the storage deletes temp files a crash left behind (older than a day). */
static void stale_tmp_swept(void **state)
{
    struct fx *f = *state;
    struct cct_error err = {0};
    struct storage *again = NULL;
    char old[256], fresh[256];
    snprintf(old, sizeof old, "%s/.tmp/deadbeef", f->root);
    snprintf(fresh, sizeof fresh, "%s/.tmp/cafebabe", f->root);
    FILE *fp = fopen(old, "w");
    assert_non_null(fp);
    fclose(fp);
    fp = fopen(fresh, "w");
    assert_non_null(fp);
    fclose(fp);
    struct timespec ts[2] = {{.tv_sec = time(NULL) - 2 * 86400},
                             {.tv_sec = time(NULL) - 2 * 86400}};
    assert_int_equal(utimensat(AT_FDCWD, old, ts, 0), 0);
    assert_int_equal(storage_local_open(f->root, &again, &err), CCT_OK);
    storage_close(&again);
    assert_int_equal(access(old, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
}

static void open_errors(void **state)
{
    struct storage *st = NULL;
    struct cct_error err = {0};
    assert_int_equal(storage_local_open("", &st, &err), CCT_EINVAL);
    assert_null(st);
    assert_int_equal(storage_local_open("/proc/cct-no/such", &st, &err), CCT_EIO);
    assert_null(st);
    storage_close(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_commit_read, setup, teardown),
        cmocka_unit_test_setup_teardown(big_write, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_keys_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(put_file_and_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_cleans_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_tmp_swept, setup, teardown),
        cmocka_unit_test(open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
