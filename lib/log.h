/*
 * log.h - rejection lines for the web server's error log, rate-limited.
 *
 * At most HS_LOG_PER_SECOND lines per process per second reach the log;
 * the rest are counted and summed up in one line when the next second
 * begins (or at hs_log_flush). Each line goes out in one write(2) so lines
 * of concurrent processes do not interleave. Callers must never pass a
 * secret or a MAC; a path is fine (the log is the operator's).
 *
 * A limit per process limits nothing where each request is a process
 * (plain CGI). hs_logf_shared takes the limiter from memory that every
 * process maps (the spool's counters file, counters.h): at most
 * HS_LOG_PER_SECOND lines a second between all of them, the rest summed
 * up in one line by the first process to log in a later second.
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define HS_LOG_PER_SECOND 10
#define HS_LOG_LINE_MAX   1024   /* longer lines are cut */
#define HS_LOG_ONCE_MAX   32     /* distinct "once" warnings remembered */
#define HS_LOG_SKEW_S     2      /* shared limiter: readings this far behind
                                    its second count in it; further behind,
                                    the clock was set back: a new second */

/* Thread-safe: the threads of a process share one limiter. */
typedef struct hs_log {
    pthread_mutex_t mu;
    int           fd;
    time_t        window;
    unsigned      count;
    unsigned long suppressed;
    uint64_t      once[HS_LOG_ONCE_MAX];   /* hashes of warnings given */
    unsigned      nonce;
} hs_log;

/*
 * A limiter shared between processes: two words of MAP_SHARED memory,
 * all zero at first. window holds (second << 8) | lines let through in
 * that second; suppressed the lines held back since the last summary.
 * Lock-free (atomic compare-and-swap), no system call.
 */
typedef struct hs_log_shared {
    uint64_t *window;
    uint64_t *suppressed;
} hs_log_shared;

void hs_log_init(hs_log *lg, int fd);
void hs_log_destroy(hs_log *lg);
/* Log one line (a newline is added) stamped "hookspool: ". */
void hs_logf(hs_log *lg, time_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log one line under the shared limiter sh (NULL: as hs_logf). A
 * clock reading up to HS_LOG_SKEW_S seconds older than the open window
 * counts in that window, so processes whose readings differ cannot
 * reopen a second; one further behind (the clock was set back) opens a
 * new window. */
void hs_logf_shared(hs_log *lg, const hs_log_shared *sh, time_t now, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Log one line unless this process already logged one for key (a short
 * text), whichever thread it was; not subject to the rate limit, since a
 * warning given once must not be the one a flood suppresses. */
void hs_log_once(hs_log *lg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Emit the summary of suppressed lines, if any. */
void hs_log_flush(hs_log *lg);

#endif
