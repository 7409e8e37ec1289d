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

/* Under lg->mu. */
static void flush_locked(hs_log *lg)
{
    char line[128];
    int n;
    if (lg->suppressed == 0) return;
    n = snprintf(line, sizeof(line),
                 "hookspool: %lu more log lines suppressed (at most %d a second)\n",
                 lg->suppressed, HS_LOG_PER_SECOND);
    if (n > 0) emit(lg->fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
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

void hs_logf(hs_log *lg, time_t now, const char *fmt, ...)
{
    char line[HS_LOG_LINE_MAX];
    va_list ap;
    size_t n;

    pthread_mutex_lock(&lg->mu);
    if (now != lg->window) {
        flush_locked(lg);
        lg->window = now;
        lg->count = 0;
    }
    if (lg->count >= HS_LOG_PER_SECOND) {
        lg->suppressed++;
        pthread_mutex_unlock(&lg->mu);
        return;
    }
    lg->count++;
    pthread_mutex_unlock(&lg->mu);
    va_start(ap, fmt);
    n = format_line(line, fmt, ap);
    va_end(ap);
    emit(lg->fd, line, n);
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
