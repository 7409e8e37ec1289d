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

void hs_log_flush(hs_log *lg)
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

void hs_logf(hs_log *lg, time_t now, const char *fmt, ...)
{
    char line[HS_LOG_LINE_MAX];
    size_t n = 11;
    va_list ap;
    int r;

    if (now != lg->window) {
        hs_log_flush(lg);
        lg->window = now;
        lg->count = 0;
    }
    if (lg->count >= HS_LOG_PER_SECOND) {
        lg->suppressed++;
        return;
    }
    lg->count++;
    memcpy(line, "hookspool: ", n);
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r < 0) return;
    n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
    /* A log line is one line: fold any newline a value carried. */
    for (size_t i = 11; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    emit(lg->fd, line, n);
}
