/* ratelimit.c - the failed-login table behind ratelimit.h. Keys are stored as 16-byte BLAKE2b
 * digests (fixed size whatever the key), in RATELIMIT_SLOTS slots scanned linearly under one
 * mutex: a scan of 4096 slots costs microseconds, next to the milliseconds of an argon2 check. */
#include "domain/ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "util/config.h"

#define DIGEST_LEN 16

struct slot {
    unsigned char digest[DIGEST_LEN];
    bool used;
    int64_t window_start; /* unix s of the first failure of the current window */
    int64_t count;
};

static struct slot slots[RATELIMIT_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t max_attempts(void)
{
    return cfg.login_attempts > 0 ? cfg.login_attempts : 10;
}

static int64_t window_len(void)
{
    return cfg.login_window > 0 ? cfg.login_window : 900;
}

static void digest_of(const char *key, unsigned char out[DIGEST_LEN])
{
    const char *k = key ? key : "";
    crypto_generichash(out, DIGEST_LEN, (const unsigned char *)k, strlen(k), NULL, 0);
}

/* A slot's window is over when now is past it (or the clock went back before its start). */
static bool expired(const struct slot *s, int64_t now)
{
    return now - s->window_start >= window_len() || now < s->window_start;
}

/* Called with lock held. */
static struct slot *find(const unsigned char d[DIGEST_LEN])
{
    for (size_t i = 0; i < RATELIMIT_SLOTS; i++)
        if (slots[i].used && sodium_memcmp(slots[i].digest, d, DIGEST_LEN) == 0)
            return &slots[i];
    return NULL;
}

/* Called with lock held: a free slot, else one whose window is over, else the oldest. */
static struct slot *victim(int64_t now)
{
    struct slot *oldest = &slots[0];
    for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
        struct slot *s = &slots[i];
        if (!s->used || expired(s, now))
            return s;
        if (s->window_start < oldest->window_start)
            oldest = s;
    }
    return oldest;
}

int64_t ratelimit_count(const char *key, int64_t now)
{
    unsigned char d[DIGEST_LEN];
    digest_of(key, d);
    pthread_mutex_lock(&lock);
    const struct slot *s = find(d);
    int64_t n = s && !expired(s, now) ? s->count : 0;
    pthread_mutex_unlock(&lock);
    return n;
}

bool ratelimit_blocked(const char *key, int64_t now)
{
    return ratelimit_count(key, now) >= max_attempts();
}

/* Called with lock held: counts one failure for d; returns the slot. */
static struct slot *count_failure(const unsigned char d[DIGEST_LEN], struct slot *s, int64_t now)
{
    if (!s) {
        s = victim(now);
        memcpy(s->digest, d, DIGEST_LEN);
        s->used = true;
        s->count = 0;
        s->window_start = now;
    } else if (expired(s, now)) {
        s->count = 0;
        s->window_start = now;
    }
    if (s->count < INT64_MAX)
        s->count++;
    return s;
}

void ratelimit_fail(const char *key, int64_t now)
{
    unsigned char d[DIGEST_LEN];
    digest_of(key, d);
    pthread_mutex_lock(&lock);
    count_failure(d, find(d), now);
    pthread_mutex_unlock(&lock);
}

bool ratelimit_take(const char *key, int64_t now)
{
    unsigned char d[DIGEST_LEN];
    digest_of(key, d);
    pthread_mutex_lock(&lock);
    struct slot *s = find(d);
    bool ok = !(s && !expired(s, now) && s->count >= max_attempts());
    if (ok)
        count_failure(d, s, now);
    pthread_mutex_unlock(&lock);
    return ok;
}

void ratelimit_refund(const char *key, int64_t now)
{
    unsigned char d[DIGEST_LEN];
    digest_of(key, d);
    pthread_mutex_lock(&lock);
    struct slot *s = find(d);
    if (s && !expired(s, now) && s->count > 0)
        s->count--;
    pthread_mutex_unlock(&lock);
}

void ratelimit_clear(const char *key)
{
    unsigned char d[DIGEST_LEN];
    digest_of(key, d);
    pthread_mutex_lock(&lock);
    struct slot *s = find(d);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&lock);
}

void ratelimit_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(slots, 0, sizeof slots);
    pthread_mutex_unlock(&lock);
}
