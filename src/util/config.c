/* config.c - the settings table: one row per environment variable with its type, default,
 * bounds and help. Everything that reads configuration goes through here. */
#include "util/config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

struct cct_config cfg;

enum cfg_type { CFG_INT, CFG_STR };

struct cfg_row {
    const char *name;
    enum cfg_type type;
    size_t offset;
    size_t size; /* for strings */
    const char *def;
    int64_t min, max;
    const char *help;
};

/* clang-format off */
#define INT_ROW(n, f, d, lo, hi, h) {n, CFG_INT, offsetof(struct cct_config, f), 0, d, lo, hi, h}
#define STR_ROW(n, f, d, h) \
    {n, CFG_STR, offsetof(struct cct_config, f), sizeof(((struct cct_config *)0)->f), d, 0, 0, h}
/* clang-format on */

static const struct cfg_row rows[] = {
    STR_ROW("HOST", host, "0.0.0.0", "address to listen on"),
    INT_ROW("PORT", port, "8000", 1, 65535, "TCP port of the HTTP API and web page"),
    STR_ROW("DATA_DIR", data_dir, "./data", "folder for the database, the secret and the files"),
    STR_ROW("DATABASE_URL", database_url, "", "sqlite:PATH (default sqlite:DATA_DIR/cct.db)"),
    STR_ROW("QUEUE_URL", queue_url, "local", "local (durable, in DATA_DIR/queue.db)"),
    STR_ROW("STORAGE_DIR", storage_dir, "",
            "where uploads and results live (default DATA_DIR/files)"),
    STR_ROW("JWT_SECRET", jwt_secret, "",
            "HS256 key for tokens (default: generated into DATA_DIR/jwt.secret)"),
    INT_ROW("TOKEN_TTL_SECONDS", token_ttl, "3600", 60, 2592000, "how long a login token is valid"),
    INT_ROW("MAX_UPLOAD_MB", max_upload_mb, "2048", 1, 1048576,
            "largest upload accepted (413 above)"),
    INT_ROW("MAX_ACTIVE_TASKS", max_active_tasks, "10", 1, 100000,
            "unfinished tasks per user (429 above)"),
    INT_ROW("RETENTION_HOURS", retention_hours, "24", 1, 8760,
            "files are deleted this long after upload"),
    INT_ROW("SWEEP_INTERVAL_SECONDS", sweep_seconds, "60", 1, 86400,
            "how often the retention sweeper runs"),
    INT_ROW("WORKERS", workers, "0", 0, 256,
            "conversion worker processes started by serve (0 = one per core)"),
    INT_ROW("HTTP_THREADS", http_threads, "0", 0, 256, "HTTP threads (0 = one per core)"),
    INT_ROW("HTTP_MAX_CONNECTIONS", http_max_conns, "1000", 1, 100000,
            "open connections at most, in all"),
    INT_ROW("HTTP_MAX_CONNECTIONS_PER_IP", http_max_per_ip, "256", 0, 100000,
            "open connections from one address (0 = no limit; behind a proxy set 0)"),
    INT_ROW("LOGIN_MAX_ATTEMPTS", login_attempts, "10", 1, 100000,
            "failed logins per window, per user and per address"),
    INT_ROW("LOGIN_WINDOW_SECONDS", login_window, "900", 1, 86400,
            "window of the login rate limit"),
    INT_ROW("JOB_TIMEOUT_SECONDS", job_timeout, "900", 1, 86400,
            "wall-clock limit of one conversion"),
    INT_ROW("JOB_CPU_SECONDS", job_cpu, "1800", 1, 86400, "CPU-time limit of one conversion"),
    INT_ROW("JOB_MEMORY_MB", job_memory_mb, "2048", 64, 1048576,
            "address-space limit of one conversion (libav and libvips map ~400 MB)"),
    INT_ROW("JOB_OUTPUT_MB", job_output_mb, "4096", 1, 1048576,
            "largest file a conversion may write"),
    INT_ROW("ARCHIVE_MAX_UNPACKED_MB", archive_max_mb, "8192", 1, 1048576,
            "most bytes an archive being repacked may expand to"),
    INT_ROW("SHUTDOWN_GRACE_SECONDS", shutdown_grace, "30", 0, 3600,
            "on SIGTERM, time given to running work"),
    STR_ROW("LOG_LEVEL", log_level, "info", "debug, info, warn or error"),
};

static int set_row(const struct cfg_row *r, const char *val, char *err, size_t errlen)
{
    char *base = (char *)&cfg;
    if (r->type == CFG_STR) {
        size_t len = strlen(val);
        if (len >= r->size) {
            snprintf(err, errlen, "config: %s is too long (%zu bytes, at most %zu)", r->name, len,
                     r->size - 1);
            return -1;
        }
        memcpy(base + r->offset, val, len + 1);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < r->min || v > r->max) {
        snprintf(err, errlen, "config: %s=\"%s\" is not a whole number from %lld to %lld", r->name,
                 val, (long long)r->min, (long long)r->max);
        return -1;
    }
    *(int64_t *)(void *)(base + r->offset) = v;
    return 0;
}

/* Makes a relative path absolute against the working directory, so that it still names the
 * same place after a conversion child changes into its job folder. */
static int absolute_path(char *path, size_t size, const char *name, char *err, size_t errlen)
{
    char cwd[4096], tmp[sizeof cwd + 1024 + 2];
    if (!path[0] || path[0] == '/')
        return 0;
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(err, errlen, "config: cannot resolve %s=\"%s\": %s", name, path, strerror(errno));
        return -1;
    }
    const char *rel = strncmp(path, "./", 2) == 0 ? path + 2 : path;
    int n = snprintf(tmp, sizeof tmp, "%s/%s", cwd, rel);
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, errlen, "config: %s is too long once made absolute", name);
        return -1;
    }
    memcpy(path, tmp, (size_t)n + 1);
    return 0;
}

int config_load(char *err, size_t errlen)
{
    memset(&cfg, 0, sizeof cfg);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *env = getenv(rows[i].name);
        if (set_row(&rows[i], rows[i].def, err, errlen) < 0)
            return -1;
        if (env && *env && set_row(&rows[i], env, err, errlen) < 0)
            return -1;
    }
    int lvl = log_level_parse(cfg.log_level);
    if (lvl < 0) {
        snprintf(err, errlen, "config: LOG_LEVEL=\"%s\" is not one of debug, info, warn, error",
                 cfg.log_level);
        return -1;
    }
    log_min_level = (enum log_level)lvl;
    if (absolute_path(cfg.data_dir, sizeof cfg.data_dir, "DATA_DIR", err, errlen) < 0 ||
        absolute_path(cfg.storage_dir, sizeof cfg.storage_dir, "STORAGE_DIR", err, errlen) < 0)
        return -1;
    if (strncmp(cfg.database_url, "sqlite:", 7) == 0 && cfg.database_url[7] != '/' &&
        cfg.database_url[7] != '\0') {
        char file[sizeof cfg.database_url];
        memcpy(file, cfg.database_url + 7, strlen(cfg.database_url + 7) + 1);
        if (absolute_path(file, sizeof file - 7, "DATABASE_URL", err, errlen) < 0)
            return -1;
        memcpy(cfg.database_url + 7, file, strlen(file) + 1);
    }
    if (!cfg.database_url[0] &&
        snprintf(cfg.database_url, sizeof cfg.database_url, "sqlite:%s/cct.db", cfg.data_dir) >=
            (int)sizeof cfg.database_url) {
        snprintf(err, errlen, "config: DATA_DIR is too long");
        return -1;
    }
    if (!cfg.storage_dir[0] && snprintf(cfg.storage_dir, sizeof cfg.storage_dir, "%s/files",
                                        cfg.data_dir) >= (int)sizeof cfg.storage_dir) {
        snprintf(err, errlen, "config: DATA_DIR is too long");
        return -1;
    }
    if (cfg.workers == 0)
        cfg.workers = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    if (cfg.http_threads == 0)
        cfg.http_threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    return 0;
}

void config_print_help(FILE *out)
{
    fprintf(out, "Environment (name, default, bounds: meaning):\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct cfg_row *r = &rows[i];
        if (r->type == CFG_INT)
            fprintf(out, "  %-24s %-8s [%lld..%lld]  %s\n", r->name, r->def, (long long)r->min,
                    (long long)r->max, r->help);
        else
            fprintf(out, "  %-24s %-8s %s\n", r->name, r->def[0] ? r->def : "\"\"", r->help);
    }
}

int config_ensure_secret(char *err, size_t errlen)
{
    if (cfg.jwt_secret[0])
        return 0;
    char path[1100];
    snprintf(path, sizeof path, "%s/jwt.secret", cfg.data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char key[32];
        char hex[65];
        randombytes_buf(key, sizeof key);
        sodium_bin2hex(hex, sizeof hex, key, sizeof key);
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
        int w = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w < 0 || write(w, hex, 64) != 64 || close(w) < 0) {
            snprintf(err, errlen, "config: cannot write %s: %s", tmp, strerror(errno));
            return -1;
        }
        /* link() fails if another process created it first: then read theirs. */
        if (link(tmp, path) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "config: cannot create %s: %s", path, strerror(errno));
            unlink(tmp);
            return -1;
        }
        unlink(tmp);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "config: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, cfg.jwt_secret, sizeof cfg.jwt_secret - 1);
    close(fd);
    if (n < 32) {
        snprintf(err, errlen, "config: %s holds fewer than 32 bytes", path);
        return -1;
    }
    cfg.jwt_secret[n] = '\0';
    return 0;
}
