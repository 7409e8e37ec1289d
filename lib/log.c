#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void hs_log_init(hs_log *lg, int fd)
{
    memset(lg, 0, sizeof(*lg));
    lg->fd = fd;
    /* A default mutex cannot fail to initialise on Linux. */
    (void)pthread_mutex_init(&lg->mu, NULL);
}

void hs_log_destroy(hs_log *lg)
{
    hs_log_flush(lg);
    (void)pthread_mutex_destroy(&lg->mu);
}

static void emit(int fd, const char *s, size_t n)
{
    /* A failed log write must not fail the request: nothing to do. */
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* The summary of n suppressed lines; `scope` says whose limit it was. */
static void emit_summary(int fd, unsigned long long n, const char *scope)
{
    char line[160];
    int len;
    len = snprintf(line, sizeof(line),
                   "hookspool: %llu more log lines suppressed (at most %d a second %s)\n",
                   n, HS_LOG_PER_SECOND, scope);
    if (len > 0) emit(fd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
}

/* Under lg->mu. */
static void flush_locked(hs_log *lg)
{
    if (lg->suppressed == 0) return;
    emit_summary(lg->fd, lg->suppressed, "per process");
    lg->suppressed = 0;
}

void hs_log_flush(hs_log *lg)
{
    pthread_mutex_lock(&lg->mu);
    flush_locked(lg);
    pthread_mutex_unlock(&lg->mu);
}

/* Format one line ("hookspool: " prefix, newlines folded, '\n' added)
 * into line[HS_LOG_LINE_MAX]; returns its length. */
static size_t format_line(char *line, const char *fmt, va_list ap)
{
    size_t n = 11, i;
    int r;

    memcpy(line, "hookspool: ", n);
    r = vsnprintf(line + n, HS_LOG_LINE_MAX - n - 1, fmt, ap);
    if (r < 0) r = 0;
    n += (size_t)r < HS_LOG_LINE_MAX - n - 1 ? (size_t)r : HS_LOG_LINE_MAX - n - 2;
    /* A log line is one line: fold any newline a value carried. */
    for (i = 11; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    return n;
}

/* The per-process limiter: 1 when a line may go out now, else 0 (it is
 * counted for the summary). */
static int admit_local(hs_log *lg, time_t now)
{
    int ok;
    pthread_mutex_lock(&lg->mu);
    if (now != lg->window) {
        flush_locked(lg);
        lg->window = now;
        lg->count = 0;
    }
    ok = lg->count < HS_LOG_PER_SECOND;
    if (ok) lg->count++;
    else lg->suppressed++;
    pthread_mutex_unlock(&lg->mu);
    return ok;
}

#define WIN_SHIFT 8                          /* low bits: lines let through */
#define WIN_COUNT(w) ((w) & ((1u << WIN_SHIFT) - 1))
#define WIN_SEC(w)   ((w) >> WIN_SHIFT)
_Static_assert(HS_LOG_PER_SECOND < (1 << WIN_SHIFT), "the count fits under the second");

/* The shared limiter (see hs_log_shared): 1 when a line may go out now,
 * else 0 (counted in sh->suppressed). The process that opens a new
 * second takes the suppressed count and logs its summary first. */
static int admit_shared(hs_log *lg, const hs_log_shared *sh, time_t now)
{
    /* A second fits in 56 bits for the next two billion years. */
    uint64_t sec = now < 0 ? 0 : (uint64_t)now & (UINT64_MAX >> WIN_SHIFT);
    uint64_t w = __atomic_load_n(sh->window, __ATOMIC_ACQUIRE), nw;

    for (;;) {
        /* A later second opens a new window; so does one far behind it
         * (the clock was set back): waiting for the old second to come
         * round again would silence the log meanwhile. */
        if (sec > WIN_SEC(w) || sec + HS_LOG_SKEW_S < WIN_SEC(w)) {
            nw = (sec << WIN_SHIFT) | 1;
            if (__atomic_compare_exchange_n(sh->window, &w, nw, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                uint64_t n = __atomic_exchange_n(sh->suppressed, 0, __ATOMIC_ACQ_REL);
                if (n > 0) emit_summary(lg->fd, (unsigned long long)n, "for this spool");
                return 1;
            }
            continue;   /* w was reloaded: someone else moved first */
        }
        if (WIN_COUNT(w) >= HS_LOG_PER_SECOND) {
            (void)__atomic_fetch_add(sh->suppressed, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (__atomic_compare_exchange_n(sh->window, &w, w + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return 1;
    }
}

static void vlog(hs_log *lg, const hs_log_shared *sh, time_t now, const char *fmt, va_list ap)
{
    char line[HS_LOG_LINE_MAX];
    size_t n;

    if (!(sh != NULL ? admit_shared(lg, sh, now) : admit_local(lg, now))) return;
    n = format_line(line, fmt, ap);
    emit(lg->fd, line, n);
}

void hs_logf(hs_log *lg, time_t now, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lg, NULL, now, fmt, ap);
    va_end(ap);
}

void hs_logf_shared(hs_log *lg, const hs_log_shared *sh, time_t now, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lg, sh, now, fmt, ap);
    va_end(ap);
}

void hs_log_once(hs_log *lg, const char *key, const char *fmt, ...)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a: a key, not a secret */
    char line[HS_LOG_LINE_MAX];
    va_list ap;
    unsigned i;
    size_t n;

    for (; *key; key++) h = (h ^ (unsigned char)*key) * 1099511628211ull;
    pthread_mutex_lock(&lg->mu);
    for (i = 0; i < lg->nonce; i++)
        if (lg->once[i] == h) {
            pthread_mutex_unlock(&lg->mu);
            return;
        }
    if (lg->nonce < HS_LOG_ONCE_MAX) lg->once[lg->nonce++] = h;
    else lg->once[h % HS_LOG_ONCE_MAX] = h;
    pthread_mutex_unlock(&lg->mu);
    va_start(ap, fmt);
    n = format_line(line, fmt, ap);
    va_end(ap);
    emit(lg->fd, line, n);
}
