/*
 * log.h - rejection lines for the web server's error log, rate-limited.
 *
 * At most HS_LOG_PER_SECOND lines per process per second reach the log;
 * the rest are counted and summed up in one line when the next second
 * begins (or at hs_log_flush). Each line goes out in one write(2) so lines
 * of concurrent processes do not interleave. Callers must never pass a
 * secret or a MAC; a path is fine (the log is the operator's).
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <time.h>

#define HS_LOG_PER_SECOND 10
#define HS_LOG_LINE_MAX   1024   /* longer lines are cut */

typedef struct hs_log {
    int           fd;
    time_t        window;
    unsigned      count;
    unsigned long suppressed;
} hs_log;

void hs_log_init(hs_log *lg, int fd);
/* Log one line (a newline is added) stamped "hookspool: ". */
void hs_logf(hs_log *lg, time_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Emit the summary of suppressed lines, if any. */
void hs_log_flush(hs_log *lg);

#endif
