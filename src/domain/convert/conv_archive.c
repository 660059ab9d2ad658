/* conv_archive.c - the archive engine through libarchive, in-process: packs any file into a
 * zip, 7z, tar.gz, tar.bz2, tar.xz or tar.zst archive, repacks one archive format into another,
 * and tells a tar inside gzip/bzip2/xz/zstd from a lone compressed file (conv_archive_detect).
 *
 * Packing: one entry named after r->name (the upload's file name in the service) or else the
 * basename of in_path; when that name has no extension and the detected format is not
 * "other", "." + the format's extension is appended. Data is streamed in 64 KiB blocks.
 * Compression levels are libarchive's defaults, which are what bsdtar uses: gzip 6, bzip2 9,
 * xz 6, zstd 3, zip deflate 6, 7z LZMA1 level 6.
 *
 * Repacking: only tar, zip and 7z are read (never archive_read_support_format_all: its mtree
 * reader opens files named inside the archive) through the gzip, bzip2, xz and zstd filters
 * (never filter_all: some of its filters run external programs). Only regular files and
 * directories are copied; names are sanitised (no absolute paths, no "." or "..", no control
 * characters, bounded length); the bytes actually read are counted against
 * limits.max_unpacked, the entry count against ARCHIVE_MAX_ENTRIES. Entries stream from the
 * reader to the writer; nothing is extracted. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain/convert/conv.h"
#include "domain/formats.h"

#define BLOCK (64 * 1024)
#define ARCHIVE_MAX_ENTRIES 100000
#define NAME_MAX_LEN 1024 /* a whole sanitised path */
#define PART_MAX_LEN 255  /* one component */

/* Sets up the writer for a target format name. */
static int writer_setup(struct archive *w, const char *to)
{
    static const struct {
        const char *name;
        int (*filter)(struct archive *);
    } tars[] = {
        {"tar.gz", archive_write_add_filter_gzip}, {"tar.bz2", archive_write_add_filter_bzip2},
        {"tar.xz", archive_write_add_filter_xz},   {"tar.zst", archive_write_add_filter_zstd},
        {"tar", archive_write_add_filter_none},
    };
    if (strcmp(to, "zip") == 0)
        return archive_write_set_format_zip(w) != ARCHIVE_OK ||
               archive_write_set_options(w, "zip:compression=deflate,zip:hdrcharset=UTF-8") !=
                   ARCHIVE_OK;
    if (strcmp(to, "7z") == 0)
        return archive_write_set_format_7zip(w) != ARCHIVE_OK;
    for (size_t i = 0; i < sizeof tars / sizeof tars[0]; i++)
        if (strcmp(to, tars[i].name) == 0)
            return archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
                   tars[i].filter(w) != ARCHIVE_OK;
    archive_set_error(w, EINVAL, "no archive writer for %s", to);
    return 1;
}

/* Readers for repacking and detection: only our formats and filters. */
static struct archive *reader_new(int raw)
{
    struct archive *a = archive_read_new();
    if (!a)
        return NULL;
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    if (raw)
        archive_read_support_format_raw(a);
    return a;
}

static cct_err arc_fail(struct cct_error *err, struct archive *a, const char *what)
{
    const char *m = a ? archive_error_string(a) : NULL;
    return cct_error_set(err, CCT_ECONVERT, "%s%s%s", what, m ? ": " : "", m ? m : "");
}

/* Writes a sanitised copy of an entry path into out: components "", "." and ".." dropped,
 * leading "/" and drive letters gone, backslashes treated as separators, control characters
 * replaced by '_', each component and the whole bounded. Returns the length (0 = nothing
 * left, the entry is skipped). */
static size_t sanitise_name(const char *in, char *out, size_t n)
{
    size_t o = 0;
    const char *p = in;
    if (n == 0)
        return 0;
    while (*p) {
        while (*p == '/' || *p == '\\')
            p++;
        const char *s = p;
        while (*p && *p != '/' && *p != '\\')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            continue;
        if (len == 2 && s[1] == ':' && o == 0)
            continue; /* "C:" */
        if (len > PART_MAX_LEN)
            len = PART_MAX_LEN;
        if (o + (o ? 1 : 0) + len + 1 > n)
            break;
        if (o)
            out[o++] = '/';
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            out[o++] = (c < 0x20 || c == 0x7f) ? '_' : (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

/* The entry name for a packed single file; see the file comment. */
static void single_name(const struct conv_request *r, char *out, size_t n)
{
    const char *base = r->name && *r->name ? r->name : r->in_path;
    base = strrchr(base, '/') ? strrchr(base, '/') + 1 : base;
    char clean[PART_MAX_LEN + 1];
    if (sanitise_name(base, clean, sizeof clean) == 0 || strchr(clean, '/'))
        snprintf(clean, sizeof clean, "file");
    const struct format *f = format_find(r->from);
    if (!strchr(clean, '.') && f && f->kind != FMT_OTHER)
        snprintf(out, n, "%.200s.%s", clean, f->ext);
    else
        snprintf(out, n, "%s", clean);
}

static int report(const struct conv_request *r, int64_t done, int64_t total, int *last)
{
    if (!r->progress || total <= 0)
        return 0;
    int pct = (int)(done * 99 / total);
    if (pct > 99)
        pct = 99;
    if (pct <= *last)
        return 0;
    *last = pct;
    return r->progress(r->progress_ud, pct);
}

/* Packs one plain file as a single entry. */
static cct_err pack_single(const struct conv_request *r, struct archive *w, struct cct_error *err)
{
    cct_err rc = CCT_OK;
    struct archive_entry *e = NULL;
    char *buf = NULL, name[PART_MAX_LEN + 32];
    int last = -1;
    int fd = open(r->in_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = cct_error_set(err, CCT_EIO, "cannot read the input file");
        goto out;
    }
    if (st.st_size == 0) {
        rc = cct_error_set(err, CCT_EINVAL, "the file is empty");
        goto out;
    }
    buf = malloc(BLOCK);
    e = archive_entry_new();
    if (!buf || !e) {
        rc = cct_error_set(err, CCT_ENOMEM, "out of memory");
        goto out;
    }
    single_name(r, name, sizeof name);
    archive_entry_set_pathname_utf8(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (archive_write_header(w, e) != ARCHIVE_OK) {
        rc = arc_fail(err, w, "cannot write the archive");
        goto out;
    }
    int64_t done = 0;
    while (done < st.st_size) {
        size_t want = st.st_size - done < BLOCK ? (size_t)(st.st_size - done) : BLOCK;
        ssize_t got = read(fd, buf, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = cct_error_set(err, CCT_EIO, "the input file changed while it was read");
            goto out;
        }
        if (archive_write_data(w, buf, (size_t)got) != got) {
            rc = arc_fail(err, w, "cannot write the archive");
            goto out;
        }
        done += got;
        if (report(r, done, st.st_size, &last)) {
            rc = cct_error_set(err, CCT_ECANCELLED, "cancelled");
            goto out;
        }
    }
out:
    archive_entry_free(e);
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Copies one entry's data, counting what is actually read. */
static cct_err copy_data(const struct conv_request *r, struct archive *a, struct archive *w,
                         int64_t declared, int64_t *total, int64_t in_size, char *buf, int *last,
                         struct cct_error *err)
{
    int64_t got_entry = 0;
    for (;;) {
        la_ssize_t got = archive_read_data(a, buf, BLOCK);
        if (got == 0)
            break;
        if (got < 0)
            return arc_fail(err, a, "cannot read the archive");
        got_entry += got;
        *total += got;
        if (*total > r->limits.max_unpacked)
            return cct_error_set(err, CCT_ELIMIT, "archive expands beyond the limit (%lld MiB)",
                                 (long long)(r->limits.max_unpacked >> 20));
        if (got_entry > declared)
            return cct_error_set(err, CCT_ECONVERT,
                                 "an entry holds more data than its header says");
        if (archive_write_data(w, buf, (size_t)got) != got)
            return arc_fail(err, w, "cannot write the archive");
        if (report(r, archive_filter_bytes(a, -1), in_size, last))
            return cct_error_set(err, CCT_ECANCELLED, "cancelled");
    }
    if (got_entry != declared)
        return cct_error_set(err, CCT_ECONVERT, "an entry is shorter than its header says");
    return CCT_OK;
}

/* Repacks every regular file and directory of an archive into w. */
static cct_err repack(const struct conv_request *r, struct archive *w, struct cct_error *err)
{
    cct_err rc = CCT_OK;
    struct archive *a = reader_new(0);
    struct archive_entry *in = NULL, *outent = archive_entry_new();
    char *buf = malloc(BLOCK), name[NAME_MAX_LEN + 1];
    int64_t total = 0, in_size = 0, entries = 0, copied = 0;
    int last = -1;
    struct stat st;
    if (!a || !outent || !buf) {
        rc = cct_error_set(err, CCT_ENOMEM, "out of memory");
        goto out;
    }
    if (stat(r->in_path, &st) == 0)
        in_size = st.st_size;
    if (in_size == 0) {
        rc = cct_error_set(err, CCT_EINVAL, "the file is empty");
        goto out;
    }
    if (archive_read_open_filename(a, r->in_path, BLOCK) != ARCHIVE_OK) {
        rc = arc_fail(err, a, "cannot open the archive");
        goto out;
    }
    for (;;) {
        int st_hdr = archive_read_next_header(a, &in);
        if (st_hdr == ARCHIVE_EOF)
            break;
        if (st_hdr < ARCHIVE_WARN) {
            rc = arc_fail(err, a, "cannot read the archive");
            goto out;
        }
        if (++entries > ARCHIVE_MAX_ENTRIES) {
            rc = cct_error_set(err, CCT_ELIMIT, "the archive has more than %d entries",
                               ARCHIVE_MAX_ENTRIES);
            goto out;
        }
        mode_t type = archive_entry_filetype(in);
        if ((type != AE_IFREG && type != AE_IFDIR) || archive_entry_hardlink(in) ||
            archive_entry_symlink(in))
            continue; /* links, devices, fifos: dropped */
        if (type == AE_IFREG && archive_entry_is_encrypted(in)) {
            rc = cct_error_set(err, CCT_EUNSUPPORTED, "encrypted archives are not supported");
            goto out;
        }
        const char *p = archive_entry_pathname_utf8(in);
        if (!p)
            p = archive_entry_pathname(in);
        if (!p || sanitise_name(p, name, sizeof name) == 0)
            continue;
        int64_t declared = 0;
        if (type == AE_IFREG) {
            if (!archive_entry_size_is_set(in)) {
                rc = cct_error_set(err, CCT_EUNSUPPORTED, "an entry does not say how large it is");
                goto out;
            }
            declared = archive_entry_size(in);
            if (declared < 0 || declared > r->limits.max_unpacked - total) {
                rc = cct_error_set(err, CCT_ELIMIT, "archive expands beyond the limit (%lld MiB)",
                                   (long long)(r->limits.max_unpacked >> 20));
                goto out;
            }
        }
        archive_entry_clear(outent);
        archive_entry_set_pathname_utf8(outent, name);
        archive_entry_set_filetype(outent, type);
        archive_entry_set_perm(outent,
                               (archive_entry_perm(in) & 0755) | (type == AE_IFDIR ? 0700 : 0600));
        archive_entry_set_size(outent, declared);
        if (archive_entry_mtime_is_set(in))
            archive_entry_set_mtime(outent, archive_entry_mtime(in), archive_entry_mtime_nsec(in));
        if (archive_write_header(w, outent) < ARCHIVE_WARN) {
            rc = arc_fail(err, w, "cannot write the archive");
            goto out;
        }
        if (type == AE_IFREG) {
            rc = copy_data(r, a, w, declared, &total, in_size, buf, &last, err);
            if (rc)
                goto out;
        }
        copied++;
    }
    if (copied == 0)
        rc = cct_error_set(err, CCT_ECONVERT, "the archive holds no files or folders to copy");
out:
    if (a) {
        archive_read_close(a);
        archive_read_free(a);
    }
    archive_entry_free(outent);
    free(buf);
    return rc;
}

cct_err conv_archive_run(const struct conv_request *r, struct cct_error *err)
{
    cct_err rc = CCT_OK;
    const struct format *from = format_find(r->from);
    /* Entry names are UTF-8 whatever the process locale: libarchive converts names through
     * the locale, so this thread uses C.UTF-8 for the job (uselocale is per thread). */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t prev = utf8 ? uselocale(utf8) : (locale_t)0;
    struct archive *w = archive_write_new();
    if (!w) {
        rc = cct_error_set(err, CCT_ENOMEM, "out of memory");
        goto out;
    }
    if (r->work_dir && *r->work_dir)
        setenv("TMPDIR", r->work_dir, 1); /* the 7z writer spools through a temporary file */
    if (r->progress && r->progress(r->progress_ud, 0)) {
        rc = cct_error_set(err, CCT_ECANCELLED, "cancelled");
        goto out;
    }
    if (writer_setup(w, r->to)) {
        rc = arc_fail(err, w, "cannot create the archive");
        goto out;
    }
    if (archive_write_open_filename(w, r->out_path) != ARCHIVE_OK) {
        rc = arc_fail(err, w, "cannot create the output file");
        goto out;
    }
    rc = (from && from->kind == FMT_ARCHIVE) ? repack(r, w, err) : pack_single(r, w, err);
    if (rc)
        goto out;
    if (archive_write_close(w) != ARCHIVE_OK) {
        rc = arc_fail(err, w, "cannot finish the archive");
        goto out;
    }
    if (r->progress)
        r->progress(r->progress_ud, 100);
out:
    if (w)
        archive_write_free(w); /* closes when still open */
    if (rc && w)
        unlink(r->out_path);
    if (utf8) {
        uselocale(prev);
        freelocale(utf8);
    }
    return rc;
}

/* The tar.* name for a file that starts with a compressor's magic bytes, or NULL. */
static const char *compressed_tar_name(const char *path)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } magics[] = {
        {"\x1f\x8b", 2, "tar.gz"},
        {"BZh", 3, "tar.bz2"},
        {"\xfd"
         "7zXZ\x00",
         6, "tar.xz"},
        {"\x28\xb5\x2f\xfd", 4, "tar.zst"},
    };
    unsigned char b[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (got >= magics[i].len && memcmp(b, magics[i].magic, magics[i].len) == 0)
            return magics[i].name;
    return NULL;
}

/* Reads the first header. A compressed file libarchive cannot even read the first header of
 * (truncated, damaged) is reported as the tar.* of its compressor, so that converting it fails
 * with libarchive's reason instead of packing the damaged file as it is; everything else that
 * is unreadable is "other". */
cct_err conv_archive_detect(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    static const struct {
        int filter;
        const char *name;
    } tars[] = {
        {ARCHIVE_FILTER_NONE, "tar"},      {ARCHIVE_FILTER_GZIP, "tar.gz"},
        {ARCHIVE_FILTER_BZIP2, "tar.bz2"}, {ARCHIVE_FILTER_XZ, "tar.xz"},
        {ARCHIVE_FILTER_ZSTD, "tar.zst"},
    };
    struct archive_entry *e = NULL;
    snprintf(fmt, n, "other");
    struct archive *a = reader_new(1);
    if (!a)
        return cct_error_set(err, CCT_ENOMEM, "out of memory");
    if (archive_read_open_filename(a, path, BLOCK) != ARCHIVE_OK)
        goto damaged;
    int st = archive_read_next_header(a, &e);
    if (st < ARCHIVE_WARN && st != ARCHIVE_EOF)
        goto damaged;
    int format = archive_format(a) & ARCHIVE_FORMAT_BASE_MASK;
    int filter = archive_filter_code(a, 0);
    if (format == ARCHIVE_FORMAT_TAR) {
        for (size_t i = 0; i < sizeof tars / sizeof tars[0]; i++)
            if (filter == tars[i].filter)
                snprintf(fmt, n, "%s", tars[i].name);
    } else if (filter == ARCHIVE_FILTER_NONE && format == ARCHIVE_FORMAT_ZIP)
        snprintf(fmt, n, "zip");
    else if (filter == ARCHIVE_FILTER_NONE && format == ARCHIVE_FORMAT_7ZIP)
        snprintf(fmt, n, "7z");
    goto out;
damaged:;
    const char *guess = compressed_tar_name(path);
    if (guess)
        snprintf(fmt, n, "%s", guess);
out:
    archive_read_close(a);
    archive_read_free(a);
    return CCT_OK;
}
