/* task.h - a conversion task, its states, and the user account record. Plain data shared by
 * the domain services, the adapters that store them and the API that shows them. */
#ifndef CCT_TASK_H
#define CCT_TASK_H

#include <stddef.h>
#include <stdint.h>

enum task_status {
    TASK_UPLOADED = 0, /* file stored, not yet queued */
    TASK_QUEUED,
    TASK_PROCESSING,
    TASK_PROCESSED,
    TASK_FAILED,
    TASK_EXPIRED, /* files removed by retention */
};
#define TASK_STATUS_COUNT 6

const char *task_status_name(enum task_status s);
/* Returns -1 for an unknown name. */
int task_status_parse(const char *name);
/* uploaded, queued and processing count against MAX_ACTIVE_TASKS. */
int task_status_active(enum task_status s);

struct task {
    int64_t id;
    int64_t user_id;
    char file_name[256];      /* the upload's name, sanitised (no path, no control chars) */
    char original_format[16]; /* detected from the bytes */
    char new_format[16];
    char preset[16]; /* "" or small|balanced|high */
    enum task_status status;
    int progress;    /* 0..100 */
    char error[512]; /* why it failed, for the user */
    int64_t original_size;
    int64_t result_size;
    int64_t created_at; /* unix seconds; 0 = not yet */
    int64_t started_at;
    int64_t finished_at;
    char original_key[256]; /* storage keys */
    char result_key[256];
};

struct user {
    int64_t id;
    char username[64];
    char email[256];
    char password_hash[128]; /* crypto_pwhash_str output */
    int64_t created_at;
};

/* The name the result is downloaded under: file_name's stem + "." + new_format's ext. */
void task_result_name(const struct task *t, char *out, size_t n);

#endif
