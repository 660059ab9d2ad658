/* storage.h - where uploads and results live: an interface with a local-directory
 * implementation now (storage_local.c) and S3 later. Keys are relative names made by the
 * domain ("u12/t34/original"), never from user input. Writes are streamed and atomic: a
 * writer's data becomes visible under its key only on commit. */
#ifndef CCT_STORAGE_H
#define CCT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct storage;
struct storage_writer;

struct storage_ops {
    const char *name;
    cct_err (*writer_open)(struct storage *s, const char *key, struct storage_writer **w);
    cct_err (*writer_write)(struct storage_writer *w, const void *data, size_t len);
    /* Makes the data visible under the key and frees w. */
    cct_err (*writer_commit)(struct storage_writer *w);
    /* Discards the data and frees w; safe on NULL. */
    void (*writer_abort)(struct storage_writer *w);
    /* Opens the object for reading: *fd (caller closes) and *size; for sendfile. */
    cct_err (*open_read)(struct storage *s, const char *key, int *fd, uint64_t *size);
    /* A local path the object can be read from directly, or CCT_EUNSUPPORTED (then use fetch). */
    cct_err (*local_path)(struct storage *s, const char *key, char *out, size_t n);
    /* Copies the object into a local file (remote stores). */
    cct_err (*fetch)(struct storage *s, const char *key, const char *path);
    /* Stores a local file under the key (moved when possible). */
    cct_err (*put_file)(struct storage *s, const char *key, const char *path);
    /* Removes the object; a missing one is not an error. */
    cct_err (*remove)(struct storage *s, const char *key);
    void (*close)(struct storage *s);
};

struct storage {
    const struct storage_ops *ops;
};

cct_err storage_local_open(const char *dir, struct storage **out, struct cct_error *err);
void storage_close(struct storage **s);

#endif
