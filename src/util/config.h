/* config.h - every setting the programs read from the environment, as one table with a
 * default, bounds and a help line. config_load() fills `struct cct_config`; a bad value stops
 * start-up with one clear line. `cct serve --help` and the README print the same table. */
#ifndef CCT_CONFIG_H
#define CCT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct cct_config {
    char host[128];           /* HOST */
    int64_t port;             /* PORT */
    char data_dir[1024];      /* DATA_DIR */
    char database_url[1024];  /* DATABASE_URL: sqlite:PATH (default DATA_DIR/cct.db) or
                                 postgres://... */
    char queue_url[1024];     /* QUEUE_URL: local (default) or redis://... */
    char storage_dir[1024];   /* STORAGE_DIR (default DATA_DIR/files) */
    char jwt_secret[256];     /* JWT_SECRET (default: generated once into DATA_DIR/jwt.secret) */
    int64_t token_ttl;        /* TOKEN_TTL_SECONDS */
    int64_t max_upload_mb;    /* MAX_UPLOAD_MB */
    int64_t max_active_tasks; /* MAX_ACTIVE_TASKS per user */
    int64_t retention_hours;  /* RETENTION_HOURS */
    int64_t sweep_seconds;    /* SWEEP_INTERVAL_SECONDS */
    int64_t workers;          /* WORKERS (0 = one per core) */
    int64_t http_threads;     /* HTTP_THREADS (0 = one per core) */
    int64_t http_max_conns;   /* HTTP_MAX_CONNECTIONS */
    int64_t http_max_per_ip;  /* HTTP_MAX_CONNECTIONS_PER_IP (0 = no limit) */
    int64_t login_attempts;   /* LOGIN_MAX_ATTEMPTS per window, per username and per address */
    int64_t login_window;     /* LOGIN_WINDOW_SECONDS */
    int64_t job_timeout;      /* JOB_TIMEOUT_SECONDS wall clock per conversion */
    int64_t job_cpu;          /* JOB_CPU_SECONDS */
    int64_t job_memory_mb;    /* JOB_MEMORY_MB address-space limit per conversion */
    int64_t job_output_mb;    /* JOB_OUTPUT_MB largest file a conversion may write */
    int64_t archive_max_mb;   /* ARCHIVE_MAX_UNPACKED_MB most an archive may expand to */
    int64_t shutdown_grace;   /* SHUTDOWN_GRACE_SECONDS */
    char log_level[16];       /* LOG_LEVEL */
};

extern struct cct_config cfg;

/* Fills cfg from the defaults and the environment. On a bad value writes one line naming
 * the variable, the value and the allowed range into err and returns -1. */
int config_load(char *err, size_t errlen);

/* Prints the table (name, default, bounds, help) for --help. */
void config_print_help(FILE *out);

/* Reads DATA_DIR/jwt.secret or creates it (0600) when JWT_SECRET is unset. */
int config_ensure_secret(char *err, size_t errlen);

#endif
