/* storage_local.c - objects as files under one directory (struct storage_ops of storage.h).
 * A key is a relative path checked against a strict alphabet; writes go to a randomly named
 * file in <dir>/.tmp and are renamed into place on commit, so a reader never sees half an
 * object. Removing an object also removes the folders it leaves empty. */
#include "adapters/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define TMP_DIR ".tmp"
#define TMP_MAX_AGE (24 * 3600)
#define KEY_MAX 512
#define DIR_MAX (PATH_MAX - KEY_MAX - 64)

struct local_storage {
    struct storage base;
    char dir[DIR_MAX];
    char tmp[DIR_MAX + sizeof TMP_DIR + 1];
};

struct storage_writer {
    struct local_storage *s;
    int fd;
    char tmp_path[PATH_MAX];
    char key[KEY_MAX];
};

static const struct storage_ops local_ops;

/* Keys: [A-Za-z0-9._/-], relative, no empty, "." or ".." component, not under .tmp. */
static int key_valid(const char *key)
{
    size_t len = key ? strnlen(key, KEY_MAX) : 0;
    if (len == 0 || len >= KEY_MAX || key[0] == '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = key[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '/' || ch == '-'))
            return 0;
    }
    const char *p = key;
    for (int first = 1;; first = 0) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (first && n == sizeof TMP_DIR - 1 && memcmp(p, TMP_DIR, n) == 0)
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

/* <dir>/<key> into out (PATH_MAX); CCT_EINVAL for a bad key or one too long. */
static cct_err key_path(struct local_storage *s, const char *key, char *out)
{
    if (!key_valid(key))
        return CCT_EINVAL;
    int n = snprintf(out, PATH_MAX, "%s/%s", s->dir, key);
    if (n < 0 || n >= PATH_MAX)
        return CCT_EINVAL;
    return CCT_OK;
}

/* Creates the folders between the root and the object's file. */
static cct_err make_parents(struct local_storage *s, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    size_t root = strlen(s->dir);
    for (char *p = buf + root + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
            log_error("storage", "event=mkdir_failed errno=%d", errno);
            return CCT_EIO;
        }
        *p = '/';
    }
    return CCT_OK;
}

/* Removes the folders above path (under the root) that are now empty, deepest first. */
static void remove_empty_parents(struct local_storage *s, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    size_t root = strlen(s->dir);
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash || (size_t)(slash - buf) <= root)
            return;
        *slash = '\0';
        if (rmdir(buf) < 0)
            return; /* not empty (or gone): stop */
    }
}

static cct_err write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return CCT_EIO;
        }
        p += w;
        len -= (size_t)w;
    }
    return CCT_OK;
}

/* Copies everything from in to out: copy_file_range, or read/write where it cannot. */
static cct_err copy_fd(int in, int out)
{
    int use_cfr = 1;
    char buf[65536];
    for (;;) {
        ssize_t n;
        if (use_cfr) {
            n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                          errno == EOPNOTSUPP || errno == EPERM)) {
                use_cfr = 0;
                continue;
            }
        } else {
            n = read(in, buf, sizeof buf);
            if (n > 0 && write_all(out, buf, (size_t)n))
                return CCT_EIO;
        }
        if (n == 0)
            return CCT_OK;
        if (n < 0 && errno != EINTR)
            return CCT_EIO;
    }
}

/* ---- writers ---- */

static cct_err local_writer_open(struct storage *st, const char *key, struct storage_writer **w)
{
    struct local_storage *s = (struct local_storage *)st;
    char path[PATH_MAX];
    *w = NULL;
    if (key_path(s, key, path))
        return CCT_EINVAL;
    struct storage_writer *nw = calloc(1, sizeof *nw);
    if (!nw)
        return CCT_ENOMEM;
    nw->s = s;
    snprintf(nw->key, sizeof nw->key, "%s", key);
    for (int tries = 0;; tries++) {
        unsigned char rnd[16];
        char hex[sizeof rnd * 2 + 1];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        snprintf(nw->tmp_path, sizeof nw->tmp_path, "%s/%s", s->tmp, hex);
        nw->fd = open(nw->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (nw->fd >= 0)
            break;
        if (errno != EEXIST || tries >= 3) {
            log_error("storage", "event=tmp_open_failed errno=%d", errno);
            free(nw);
            return CCT_EIO;
        }
    }
    *w = nw;
    return CCT_OK;
}

static cct_err local_writer_write(struct storage_writer *w, const void *data, size_t len)
{
    if (write_all(w->fd, data, len)) {
        log_error("storage", "event=write_failed errno=%d", errno);
        return CCT_EIO;
    }
    return CCT_OK;
}

static void local_writer_abort(struct storage_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp_path);
    free(w);
}

/* Renames src into place at path, creating parents (again, if a remove raced us). */
static cct_err place(struct local_storage *s, const char *src, const char *path)
{
    for (int tries = 0;; tries++) {
        cct_err ret = make_parents(s, path);
        if (ret)
            return ret;
        if (rename(src, path) == 0)
            return CCT_OK;
        if (errno == EXDEV)
            return CCT_EUNSUPPORTED;
        if (errno != ENOENT || tries >= 5)
            return CCT_EIO;
    }
}

static cct_err local_writer_commit(struct storage_writer *w)
{
    char path[PATH_MAX];
    cct_err ret = key_path(w->s, w->key, path);
    if (ret)
        goto out;
    int synced = fsync(w->fd), closed = close(w->fd);
    w->fd = -1;
    if (synced < 0 || closed < 0) {
        log_error("storage", "event=fsync_failed errno=%d", errno);
        ret = CCT_EIO;
        goto out;
    }
    if ((ret = place(w->s, w->tmp_path, path)))
        log_error("storage", "event=commit_failed errno=%d", errno);
out:
    local_writer_abort(w); /* after a successful rename the unlink finds nothing */
    return ret;
}

/* ---- objects ---- */

static cct_err local_open_read(struct storage *st, const char *key, int *fd, uint64_t *size)
{
    struct local_storage *s = (struct local_storage *)st;
    char path[PATH_MAX];
    struct stat sb;
    *fd = -1;
    *size = 0;
    if (key_path(s, key, path))
        return CCT_EINVAL;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOENT || errno == ENOTDIR ? CCT_ENOTFOUND : CCT_EIO;
    if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return CCT_ENOTFOUND;
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return CCT_OK;
}

static cct_err local_local_path(struct storage *st, const char *key, char *out, size_t n)
{
    struct local_storage *s = (struct local_storage *)st;
    char path[PATH_MAX];
    struct stat sb;
    if (key_path(s, key, path))
        return CCT_EINVAL;
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return CCT_ENOTFOUND;
    int len = snprintf(out, n, "%s", path);
    if (len < 0 || (size_t)len >= n)
        return CCT_EINVAL;
    return CCT_OK;
}

static cct_err local_fetch(struct storage *st, const char *key, const char *dst)
{
    uint64_t size;
    int in = -1, out = -1;
    cct_err ret = local_open_read(st, key, &in, &size);
    if (ret)
        goto done;
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        ret = CCT_EIO;
        goto done;
    }
    ret = copy_fd(in, out);
    if (close(out) < 0 && !ret)
        ret = CCT_EIO;
    out = -1;
    if (ret)
        unlink(dst);
done:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return ret;
}

/* Moves the file at src under key; across file systems copies it (atomically) and removes
 * src, so src is gone afterwards either way. */
static cct_err local_put_file(struct storage *st, const char *key, const char *src)
{
    struct local_storage *s = (struct local_storage *)st;
    char path[PATH_MAX];
    struct storage_writer *w = NULL;
    int in = -1;
    if (key_path(s, key, path))
        return CCT_EINVAL;
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? CCT_ENOTFOUND : CCT_EIO;
    cct_err ret = fsync(in) < 0 ? CCT_EIO : CCT_OK;
    if (!ret)
        ret = place(s, src, path);
    if (ret == CCT_EUNSUPPORTED) { /* another file system: copy */
        if ((ret = local_writer_open(st, key, &w)) || (ret = copy_fd(in, w->fd)))
            goto out;
        ret = local_writer_commit(w);
        w = NULL;
        if (!ret)
            unlink(src);
    }
out:
    local_writer_abort(w);
    close(in);
    return ret;
}

static cct_err local_remove(struct storage *st, const char *key)
{
    struct local_storage *s = (struct local_storage *)st;
    char path[PATH_MAX];
    if (key_path(s, key, path))
        return CCT_EINVAL;
    if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
        return CCT_EIO;
    remove_empty_parents(s, path);
    return CCT_OK;
}

/* Deletes temp files older than a day: writes cut short by a crash. Newer ones may belong to a
 * writer in another process right now. */
static void sweep_tmp(struct local_storage *s)
{
    DIR *d = opendir(s->tmp);
    struct dirent *e;
    time_t old = time(NULL) - TMP_MAX_AGE;
    if (!d)
        return;
    while ((e = readdir(d))) {
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
            sb.st_mtime < old)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void local_close(struct storage *st)
{
    free(st);
}

cct_err storage_local_open(const char *dir, struct storage **out, struct cct_error *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return cct_error_set(err, CCT_EINTERNAL, "libsodium failed to start");
    size_t len = dir ? strlen(dir) : 0;
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || len >= DIR_MAX)
        return cct_error_set(err, CCT_EINVAL, "STORAGE_DIR is empty or too long");
    struct local_storage *s = calloc(1, sizeof *s);
    if (!s)
        return cct_error_set(err, CCT_ENOMEM, "out of memory opening storage");
    s->base.ops = &local_ops;
    snprintf(s->dir, sizeof s->dir, "%.*s", (int)len, dir);
    snprintf(s->tmp, sizeof s->tmp, "%s/" TMP_DIR, s->dir);
    if ((mkdir(s->dir, 0700) < 0 && errno != EEXIST) ||
        (mkdir(s->tmp, 0700) < 0 && errno != EEXIST)) {
        int e = errno;
        free(s);
        return cct_error_set(err, CCT_EIO, "cannot create storage folder %.300s: %s", dir,
                             strerror(e));
    }
    sweep_tmp(s);
    *out = &s->base;
    return CCT_OK;
}

void storage_close(struct storage **s)
{
    if (s && *s) {
        (*s)->ops->close(*s);
        *s = 0;
    }
}

static const struct storage_ops local_ops = {
    .name = "local",
    .writer_open = local_writer_open,
    .writer_write = local_writer_write,
    .writer_commit = local_writer_commit,
    .writer_abort = local_writer_abort,
    .open_read = local_open_read,
    .local_path = local_local_path,
    .fetch = local_fetch,
    .put_file = local_put_file,
    .remove = local_remove,
    .close = local_close,
};
