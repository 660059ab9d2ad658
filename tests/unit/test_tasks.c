/* test_tasks.c - the task service and one conversion job against the real SQLite adapter,
 * local queue and local storage in a temporary DATA_DIR: the upload flow with a real tiny WAV,
 * limits, the format matrix, file-name sanitising, ownership, deletion, the retention sweep,
 * recovery after a restart, and jobs_run's outcomes. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "domain/jobs.h"
#include "domain/tasks.h"
#include "util/config.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    struct app app;
    int64_t alice, bob;
};

static int64_t make_user(struct app *app, const char *name)
{
    struct user u;
    struct cct_error err = {0};
    memset(&u, 0, sizeof u);
    snprintf(u.username, sizeof u.username, "%s", name);
    snprintf(u.email, sizeof u.email, "%s@example.com", name);
    snprintf(u.password_hash, sizeof u.password_hash, "$argon2id$not-a-real-hash");
    if (app->db->ops->user_create(app->db, &u, &err) != CCT_OK)
        return -1;
    return u.id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "tasks") < 0 || tu_config_load(f->dir) < 0)
        return -1;
    cfg.max_active_tasks = 5;
    cfg.max_upload_mb = 1;
    cfg.retention_hours = 1;
    if (tu_app_open(&f->app) < 0)
        return -1;
    f->alice = make_user(&f->app, "alice");
    f->bob = make_user(&f->app, "bob");
    if (f->alice <= 0 || f->bob <= 0)
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

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A valid 16-bit mono 8 kHz PCM WAV: 44-byte header + 0.1 s of a square wave. */
static size_t make_wav(unsigned char *buf, size_t cap)
{
    const uint32_t samples = 800, data = samples * 2;
    if (cap < 44 + data)
        return 0;
    memcpy(buf, "RIFF", 4);
    put_le(buf + 4, 36 + data, 4);
    memcpy(buf + 8, "WAVEfmt ", 8);
    put_le(buf + 16, 16, 4);       /* fmt chunk size */
    put_le(buf + 20, 1, 2);        /* PCM */
    put_le(buf + 22, 1, 2);        /* channels */
    put_le(buf + 24, 8000, 4);     /* sample rate */
    put_le(buf + 28, 8000 * 2, 4); /* byte rate */
    put_le(buf + 32, 2, 2);        /* block align */
    put_le(buf + 34, 16, 2);       /* bits per sample */
    memcpy(buf + 36, "data", 4);
    put_le(buf + 40, data, 4);
    for (uint32_t i = 0; i < samples; i++)
        put_le(buf + 44 + 2 * i, (i / 20) % 2 ? 0x2000 : (uint16_t)-0x2000, 2);
    return 44 + data;
}

/* Regular files under the storage folder (the writer's .tmp included): "nothing left". */
static int count_files_in(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[2048];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files_in(p);
        else
            n++;
    }
    closedir(d);
    return n;
}

static int stored_files(void)
{
    return count_files_in(cfg.storage_dir);
}

static int key_exists(struct app *app, const char *key)
{
    int fd = -1;
    uint64_t size = 0;
    if (app->storage->ops->open_read(app->storage, key, &fd, &size) != CCT_OK)
        return 0;
    close(fd);
    return 1;
}

/* Uploads bytes as user and finishes; returns the finish code. */
static cct_err upload(struct app *app, int64_t user, const void *data, size_t len, const char *name,
                      const char *to, const char *preset, struct task *t, struct cct_error *err)
{
    struct upload *u = NULL;
    cct_err rc = tasks_upload_begin(app, user, &u, err);
    if (rc)
        return rc;
    /* in two pieces, like a streamed body */
    if ((rc = tasks_upload_write(u, data, len / 2, err)) ||
        (rc = tasks_upload_write(u, (const char *)data + len / 2, len - len / 2, err))) {
        tasks_upload_abort(&u);
        return rc;
    }
    if (tasks_upload_size(u) != len)
        fail_msg("upload size %llu, wrote %zu", (unsigned long long)tasks_upload_size(u), len);
    return tasks_upload_finish(u, name, to, preset, t, err);
}

static void upload_wav_flow(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t;
    cct_err rc =
        upload(&f->app, f->alice, wav, len, "C:\\music\\../my song.wav", "mp3", NULL, &t, &err);
    if (rc)
        fail_msg("upload: %s (%s)", cct_err_name(rc), err.msg);
    assert_true(t.id > 0);
    assert_int_equal(t.user_id, f->alice);
    assert_int_equal(t.status, TASK_QUEUED);
    assert_string_equal(t.original_format, "wav");
    assert_string_equal(t.new_format, "mp3");
    assert_string_equal(t.file_name, "my song.wav");
    assert_int_equal(t.original_size, (int64_t)len);
    char want[64];
    snprintf(want, sizeof want, "u%lld/", (long long)f->alice);
    assert_memory_equal(t.original_key, want, strlen(want));
    assert_true(key_exists(&f->app, t.original_key));

    /* the row is there and the id is queued */
    struct task got;
    assert_int_equal(tasks_get(&f->app, f->alice, t.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_QUEUED);
    int64_t id = 0;
    assert_int_equal(f->app.queue->ops->pop(f->app.queue, getpid(), 0, &id), CCT_OK);
    assert_int_equal(id, t.id);

    /* the original downloads under its name; the result is not ready */
    int fd = -1;
    uint64_t size = 0;
    char name[256];
    const char *mime = NULL;
    assert_int_equal(tasks_open_file(&f->app, f->alice, t.id, TASK_FILE_ORIGINAL, &fd, &size, name,
                                     sizeof name, &mime),
                     CCT_OK);
    unsigned char back[2000];
    assert_int_equal(read(fd, back, sizeof back), (ssize_t)len);
    assert_memory_equal(back, wav, len);
    close(fd);
    assert_int_equal(size, len);
    assert_string_equal(name, "my song.wav");
    assert_string_equal(mime, "audio/wav");
    assert_int_equal(tasks_open_file(&f->app, f->alice, t.id, TASK_FILE_RESULT, &fd, &size, name,
                                     sizeof name, &mime),
                     CCT_ENOTFOUND);

    /* same format needs a preset; a preset is accepted in any case and stored lower-case */
    assert_int_equal(upload(&f->app, f->alice, wav, len, "a.wav", "wav", NULL, &t, &err),
                     CCT_EUNSUPPORTED);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "a.wav", "WAV", "Small", &t, &err),
                     CCT_OK);
    assert_string_equal(t.new_format, "wav");
    assert_string_equal(t.preset, "small");
    assert_int_equal(stored_files(), 2);
}

static void upload_rejections_leave_nothing(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t;

    assert_int_equal(upload(&f->app, f->alice, wav, len, "x.wav", "png", NULL, &t, &err),
                     CCT_EUNSUPPORTED);
    if (!strstr(err.msg, "cannot convert wav to png; wav converts to: mp3, ogg"))
        fail_msg("message: %s", err.msg);
    assert_null(strstr(err.msg, "png,"));
    assert_int_equal(upload(&f->app, f->alice, wav, len, "x.wav", "nope", NULL, &t, &err),
                     CCT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "wav converts to: mp3"));
    assert_int_equal(upload(&f->app, f->alice, wav, len, "x.wav", "mp3", "huge", &t, &err),
                     CCT_EINVAL);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "x.wav", "", NULL, &t, &err), CCT_EINVAL);

    /* empty */
    struct upload *u = NULL;
    assert_int_equal(tasks_upload_begin(&f->app, f->alice, &u, &err), CCT_OK);
    assert_int_equal(tasks_upload_finish(u, "e.wav", "mp3", NULL, &t, &err), CCT_EINVAL);
    assert_string_equal(err.msg, "the file is empty");

    /* an unknown kind of file only goes into archives */
    const char junk[] = "\x01\x02\x03 not a media file at all \xff\xfe";
    assert_int_equal(upload(&f->app, f->alice, junk, sizeof junk, "j.bin", "mp3", NULL, &t, &err),
                     CCT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "cannot convert other to mp3; other converts to: zip"));

    /* size limit: 1 MiB fits, one byte more does not */
    static unsigned char mib[1024 * 1024];
    assert_int_equal(tasks_upload_begin(&f->app, f->alice, &u, &err), CCT_OK);
    assert_int_equal(tasks_upload_write(u, mib, sizeof mib, &err), CCT_OK);
    assert_int_equal(tasks_upload_write(u, "x", 1, &err), CCT_ELIMIT);
    assert_non_null(strstr(err.msg, "1 MiB"));
    assert_int_equal(tasks_upload_write(u, "x", SIZE_MAX, &err), CCT_ELIMIT);
    assert_int_equal(tasks_upload_size(u), sizeof mib);
    tasks_upload_abort(&u);
    assert_null(u);
    tasks_upload_abort(&u);
    tasks_upload_abort(NULL);

    assert_int_equal(stored_files(), 0);
    int n = -1;
    struct task list[4];
    assert_int_equal(tasks_list(&f->app, f->alice, 4, 1, list, &n), CCT_OK);
    assert_int_equal(n, 0);
}

static void active_limit(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t;
    cfg.max_active_tasks = 2;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "1.wav", "mp3", NULL, &t, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "2.wav", "mp3", NULL, &t, &err), CCT_OK);
    struct upload *u = NULL;
    assert_int_equal(tasks_upload_begin(&f->app, f->alice, &u, &err), CCT_ELIMIT);
    assert_null(u);
    assert_string_equal(err.msg, "you have 2 unfinished tasks; the limit is 2");
    /* bob is not affected; a finished task frees a place */
    assert_int_equal(tasks_upload_begin(&f->app, f->bob, &u, &err), CCT_OK);
    tasks_upload_abort(&u);
    assert_int_equal(f->app.db->ops->task_transition(f->app.db, t.id, TASK_QUEUED, TASK_FAILED),
                     CCT_OK);
    assert_int_equal(tasks_upload_begin(&f->app, f->alice, &u, &err), CCT_OK);
    tasks_upload_abort(&u);
    assert_int_equal(tasks_upload_begin(&f->app, 0, &u, &err), CCT_EAUTH);
}

static void sanitize(const char *in, size_t n, const char *want)
{
    char out[300];
    assert_true(n <= sizeof out);
    memset(out, 'Z', sizeof out);
    tasks_sanitize_name(in, out, n);
    if (strcmp(out, want) != 0)
        fail_msg("sanitize(\"%s\", %zu) = \"%s\", want \"%s\"", in, n, out, want);
}

static void sanitize_names(void **state)
{
    (void)state;
    sanitize("../../etc/passwd", 256, "passwd");
    sanitize("..\\..\\windows\\win.ini", 256, "win.ini");
    sanitize("a\"b", 256, "ab");
    sanitize("it's.mp3", 256, "its.mp3");
    sanitize("名前.mp3", 256, "名前.mp3");
    sanitize("..", 256, "file");
    sanitize(".", 256, "file");
    sanitize("", 256, "file");
    sanitize("dir/", 256, "file");
    sanitize("   ", 256, "file");
    sanitize(NULL, 256, "file");
    sanitize("a\r\nb\tc\x7f.wav", 256, "abc.wav");
    sanitize("evil\xe2\x80\xaegpj.exe", 256, "evilgpj.exe"); /* RIGHT-TO-LEFT OVERRIDE */
    sanitize("bad\xff\xc0\xafutf8.wav", 256, "badutf8.wav"); /* invalid and overlong bytes */
    sanitize("\xc2\x85x", 256, "x");                         /* C1 control NEL */
    sanitize("\xed\xa0\x80x", 256, "x");                     /* a UTF-16 surrogate */
    sanitize("  spaced name.mp3  ", 256, "spaced name.mp3");
    /* cut on a UTF-8 boundary: "名" is 3 bytes, so 7 bytes fit "ab名" (5) but not "ab名前" (8) */
    sanitize("ab名前", 8, "ab名");
    sanitize("ab名前", 9, "ab名前");
    sanitize("ab名前", 4, "ab");
    sanitize("ab名前", 2, "a");
    sanitize("abc", 1, "");
    char out[4] = "xyz";
    tasks_sanitize_name("abc", out, 0); /* n = 0 writes nothing */
    assert_string_equal(out, "xyz");
    /* a long name is cut to fit and stays valid UTF-8 */
    char big[1200];
    for (int i = 0; i < 100; i++)
        memcpy(big + 6 * i, "名前", 6);
    big[600] = '\0';
    char cut[256];
    tasks_sanitize_name(big, cut, sizeof cut);
    assert_int_equal(strlen(cut), 255); /* 85 characters of 3 bytes */
    assert_int_equal((unsigned char)cut[252], 0xe5);
    sanitize("x.wav", 2, "x");
    sanitize("x", 3, "x");
    sanitize("..", 3, "fi");
}

static void ownership(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t, got;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "mine.wav", "ogg", NULL, &t, &err),
                     CCT_OK);
    assert_int_equal(tasks_get(&f->app, f->bob, t.id, &got), CCT_ENOTFOUND);
    assert_int_equal(tasks_get(&f->app, 0, t.id, &got), CCT_ENOTFOUND);
    assert_int_equal(tasks_get(&f->app, f->alice, t.id + 1000, &got), CCT_ENOTFOUND);
    assert_int_equal(tasks_delete(&f->app, f->bob, t.id), CCT_ENOTFOUND);
    int fd = -1;
    uint64_t size;
    char name[256];
    const char *mime;
    assert_int_equal(tasks_open_file(&f->app, f->bob, t.id, TASK_FILE_ORIGINAL, &fd, &size, name,
                                     sizeof name, &mime),
                     CCT_ENOTFOUND);
    assert_int_equal(
        tasks_open_by_filename(&f->app, f->bob, "mine.wav", &fd, &size, name, sizeof name, &mime),
        CCT_ENOTFOUND);
    assert_int_equal(fd, -1);
    struct task list[4];
    int n = -1;
    assert_int_equal(tasks_list(&f->app, f->bob, 4, 1, list, &n), CCT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tasks_list(&f->app, f->alice, 4, 1, list, &n), CCT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, t.id);
    /* still there for alice */
    assert_int_equal(tasks_get(&f->app, f->alice, t.id, &got), CCT_OK);
    assert_true(key_exists(&f->app, t.original_key));
}

/* Pretends a worker finished t: stores a result file and marks it processed. */
static void fake_result(struct fixture *f, struct task *t, const char *content)
{
    char path[1100], key[256];
    snprintf(path, sizeof path, "%s/fake-result", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    const char *slash = strrchr(t->original_key, '/');
    snprintf(key, sizeof key, "%.*s/result.mp3", (int)(slash - t->original_key), t->original_key);
    assert_int_equal(f->app.storage->ops->put_file(f->app.storage, key, path), CCT_OK);
    snprintf(t->result_key, sizeof t->result_key, "%s", key);
    t->result_size = (int64_t)strlen(content);
    t->status = TASK_PROCESSED;
    t->progress = 100;
    assert_int_equal(f->app.db->ops->task_update(f->app.db, t), CCT_OK);
}

static void downloads_and_delete(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t, got;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "song.wav", "mp3", NULL, &t, &err),
                     CCT_OK);
    fake_result(f, &t, "ID3 fake mp3");
    int fd = -1;
    uint64_t size = 0;
    char name[256];
    const char *mime = NULL;
    assert_int_equal(tasks_open_file(&f->app, f->alice, t.id, TASK_FILE_RESULT, &fd, &size, name,
                                     sizeof name, &mime),
                     CCT_OK);
    close(fd);
    assert_int_equal(size, 12);
    assert_string_equal(name, "song.mp3");
    assert_string_equal(mime, "audio/mpeg");
    /* by file name: the result name gives the result, the upload name the original */
    assert_int_equal(
        tasks_open_by_filename(&f->app, f->alice, "song.mp3", &fd, &size, name, sizeof name, &mime),
        CCT_OK);
    close(fd);
    assert_int_equal(size, 12);
    assert_string_equal(mime, "audio/mpeg");
    assert_int_equal(
        tasks_open_by_filename(&f->app, f->alice, "song.wav", &fd, &size, name, sizeof name, &mime),
        CCT_OK);
    close(fd);
    assert_int_equal(size, len);
    assert_string_equal(name, "song.wav");
    assert_int_equal(tasks_open_by_filename(&f->app, f->alice, "other.wav", &fd, &size, name,
                                            sizeof name, &mime),
                     CCT_ENOTFOUND);
    assert_int_equal(stored_files(), 2);

    assert_int_equal(tasks_delete(&f->app, f->alice, t.id), CCT_OK);
    assert_int_equal(tasks_get(&f->app, f->alice, t.id, &got), CCT_ENOTFOUND);
    assert_false(key_exists(&f->app, t.original_key));
    assert_false(key_exists(&f->app, t.result_key));
    assert_int_equal(stored_files(), 0);
    assert_int_equal(tasks_delete(&f->app, f->alice, t.id), CCT_ENOTFOUND);
}

static void sweep_expires_old_tasks(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task a, b, c, got;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "a.wav", "mp3", NULL, &a, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "b.wav", "mp3", NULL, &b, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->bob, wav, len, "c.wav", "mp3", NULL, &c, &err), CCT_OK);
    fake_result(f, &a, "done");
    assert_int_equal(f->app.db->ops->task_transition(f->app.db, c.id, TASK_QUEUED, TASK_PROCESSING),
                     CCT_OK);
    int n = -1;
    int64_t now = (int64_t)time(NULL);
    /* nothing is old yet */
    assert_int_equal(tasks_sweep(&f->app, now, &n), CCT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(stored_files(), 4);
    /* an hour and a minute later: a and b expire, c is still being converted */
    assert_int_equal(tasks_sweep(&f->app, now + 3600 + 60, &n), CCT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tasks_get(&f->app, f->alice, a.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_EXPIRED);
    assert_int_equal(tasks_get(&f->app, f->alice, b.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_EXPIRED);
    assert_int_equal(tasks_get(&f->app, f->bob, c.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_PROCESSING);
    assert_false(key_exists(&f->app, a.original_key));
    assert_false(key_exists(&f->app, a.result_key));
    assert_false(key_exists(&f->app, b.original_key));
    assert_true(key_exists(&f->app, c.original_key));
    assert_int_equal(stored_files(), 1);
    int fd = -1;
    uint64_t size;
    char name[256];
    const char *mime;
    assert_int_equal(tasks_open_file(&f->app, f->alice, a.id, TASK_FILE_ORIGINAL, &fd, &size, name,
                                     sizeof name, &mime),
                     CCT_ENOTFOUND);
    /* a second sweep finds nothing new */
    assert_int_equal(tasks_sweep(&f->app, now + 3600 + 60, &n), CCT_OK);
    assert_int_equal(n, 0);
}

static void recover_requeues(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task a, b, c, d, got;
    cfg.max_active_tasks = 10;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "a.wav", "mp3", NULL, &a, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "b.wav", "mp3", NULL, &b, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "c.wav", "mp3", NULL, &c, &err), CCT_OK);
    assert_int_equal(upload(&f->app, f->alice, wav, len, "d.wav", "mp3", NULL, &d, &err), CCT_OK);
    /* drain the queue as if it had been lost, then leave the tasks in various states */
    int64_t id;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f->app.queue->ops->pop(f->app.queue, getpid(), 0, &id), CCT_OK);
        assert_int_equal(f->app.queue->ops->ack(f->app.queue, id), CCT_OK);
    }
    assert_int_equal(f->app.queue->ops->pop(f->app.queue, getpid(), 0, &id), CCT_ETIMEOUT);
    struct db *db = f->app.db;
    assert_int_equal(db->ops->task_transition(db, a.id, TASK_QUEUED, TASK_PROCESSING), CCT_OK);
    assert_int_equal(db->ops->task_transition(db, b.id, TASK_QUEUED, TASK_UPLOADED), CCT_OK);
    assert_int_equal(db->ops->task_transition(db, d.id, TASK_QUEUED, TASK_PROCESSED), CCT_OK);
    int n = -1;
    assert_int_equal(tasks_recover(&f->app, &n), CCT_OK);
    assert_int_equal(n, 3);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->app.queue->ops->pop(f->app.queue, getpid(), 0, &ids[i]), CCT_OK);
    assert_int_equal(f->app.queue->ops->pop(f->app.queue, getpid(), 0, &id), CCT_ETIMEOUT);
    int seen = 0;
    for (int i = 0; i < 3; i++)
        seen |= (ids[i] == a.id) | (ids[i] == b.id) << 1 | (ids[i] == c.id) << 2;
    assert_int_equal(seen, 7);
    const struct task *all[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tasks_get(&f->app, f->alice, all[i]->id, &got), CCT_OK);
        assert_int_equal(got.status, TASK_QUEUED);
    }
    assert_int_equal(tasks_get(&f->app, f->alice, d.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_PROCESSED);

    struct tasks_stats st;
    assert_int_equal(tasks_stats(&f->app, &st), CCT_OK);
    assert_int_equal(st.by_status[TASK_QUEUED], 3);
    assert_int_equal(st.by_status[TASK_PROCESSED], 1);
    assert_int_equal(st.queue_taken, 3);
    assert_int_equal(st.queue_waiting, 0);
}

static int count_job_dirs(const char *root)
{
    int n = 0;
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, "job-", 4) == 0;
    if (d)
        closedir(d);
    return n;
}

static void jobs_outcomes(void **state)
{
    struct fixture *f = *state;
    struct cct_error err = {0};
    unsigned char wav[2000];
    size_t len = make_wav(wav, sizeof wav);
    struct task t, got;
    char work[1100];
    snprintf(work, sizeof work, "%s/work", f->dir);
    assert_int_equal(mkdir(work, 0700), 0);
    volatile sig_atomic_t stop = 0;

    assert_int_equal(jobs_run(&f->app, 999999, work, &stop), JOB_GONE);

    /* a real conversion: processed with a stored result, or failed with a reason */
    assert_int_equal(upload(&f->app, f->alice, wav, len, "tone.wav", "ogg", NULL, &t, &err),
                     CCT_OK);
    enum job_outcome o = jobs_run(&f->app, t.id, work, &stop);
    assert_int_equal(o, JOB_DONE);
    assert_int_equal(tasks_get(&f->app, f->alice, t.id, &got), CCT_OK);
    assert_true(got.started_at > 0 && got.finished_at >= got.started_at);
    if (got.status == TASK_PROCESSED) {
        assert_int_equal(got.progress, 100);
        assert_true(got.result_size > 0);
        assert_true(key_exists(&f->app, got.result_key));
        assert_non_null(strstr(got.result_key, "/result.ogg"));
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s",
                 (int)(strrchr(got.original_key, '/') - got.original_key), got.original_key);
        assert_memory_equal(got.result_key, prefix, strlen(prefix));
    } else {
        assert_int_equal(got.status, TASK_FAILED);
        assert_true(got.error[0] != '\0');
        assert_string_equal(got.result_key, "");
        print_message("note: the engine failed this conversion: %s\n", got.error);
    }
    assert_int_equal(count_job_dirs(work), 0);

    /* a finished task is not run again */
    assert_int_equal(jobs_run(&f->app, t.id, work, &stop), JOB_DONE);
    assert_int_equal(tasks_get(&f->app, f->alice, t.id, &got), CCT_OK);
    assert_true(got.status == TASK_PROCESSED || got.status == TASK_FAILED);

    /* stop already set: the job goes back to the queue */
    struct task s;
    assert_int_equal(upload(&f->app, f->alice, wav, len, "s.wav", "ogg", NULL, &s, &err), CCT_OK);
    stop = 1;
    o = jobs_run(&f->app, s.id, work, &stop);
    assert_int_equal(tasks_get(&f->app, f->alice, s.id, &got), CCT_OK);
    if (o == JOB_RETRY)
        assert_int_equal(got.status, TASK_QUEUED);
    else /* the engine finished without asking for progress */
        assert_int_equal(o, JOB_DONE);
    assert_int_equal(count_job_dirs(work), 0);

    /* a task in a state nobody converts (expired) is done */
    struct task e;
    assert_int_equal(upload(&f->app, f->bob, wav, len, "e.wav", "ogg", NULL, &e, &err), CCT_OK);
    assert_int_equal(f->app.db->ops->task_transition(f->app.db, e.id, TASK_QUEUED, TASK_EXPIRED),
                     CCT_OK);
    stop = 0;
    assert_int_equal(jobs_run(&f->app, e.id, work, &stop), JOB_DONE);
    assert_int_equal(tasks_get(&f->app, f->bob, e.id, &got), CCT_OK);
    assert_int_equal(got.status, TASK_EXPIRED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(upload_wav_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(upload_rejections_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(active_limit, setup, teardown),
        cmocka_unit_test(sanitize_names),
        cmocka_unit_test_setup_teardown(ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(downloads_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_expires_old_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(recover_requeues, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_outcomes, setup, teardown),
    };
    return cmocka_run_group_tests_name("tasks", tests, NULL, NULL);
}
