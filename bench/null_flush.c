/*
 * null_flush.c - the floor of hookspool.fcgi with HOOKSPOOL_FSYNC=always:
 * a FastCGI responder that reads the whole body, appends it as one line
 * to one file and answers 200 only once that line is on disk, with
 * hookspool's own group commit (lib/flush.c: the waiters of a process
 * share one fdatasync) and as many worker threads as hookspool's default
 * (HS_CONF_THREADS_FLUSH). No signature, no parsing, no spool lock (the
 * file is opened O_APPEND, which orders the processes' writes), no
 * segments, no dedup. Whatever fsync=always costs beyond this row is
 * hookspool's; what this row costs beyond the null responder
 * (bench/null_fcgi.c) is what a durable answer costs on this machine.
 * NULL_FLUSH_ALONE=1 drops the group commit (each request its own
 * fdatasync), to ask whether the sharing itself is the floor;
 * NULL_FLUSH_PREALLOC=<bytes> preallocates the file's blocks past its end
 * (fallocate, FALLOC_FL_KEEP_SIZE), to ask what a flush costs when the
 * appends allocate no blocks of their own.
 *
 * The file is named by the environment's NULL_FLUSH_FILE (lighttpd's
 * bin-environment). Built by bench/run.sh into build/bench/null_flush,
 * linked with the library measured (libhookspool.a).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "config.h"
#include "flush.h"

#define BODY_MAX 65536   /* the bench posts ~1 KiB events */

static const char ok_answer[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "{\"ok\":true}\n";
static const char err_answer[] =
    "Status: 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "{\"ok\":false}\n";

struct shared {
    int          fd;
    dev_t        dev;
    ino_t        ino;
    hs_flusher  *flusher;
    int          alone;   /* NULL_FLUSH_ALONE=1: each request its own fdatasync */
};

/* 0 once the body's line is written and flushed, else -1. */
static int append(struct shared *sh, const char *body, size_t n)
{
    struct iovec iov[2];
    uint64_t ticket;
    ssize_t w;

    iov[0].iov_base = (void *)body;
    iov[0].iov_len = n;
    iov[1].iov_base = (void *)"\n";
    iov[1].iov_len = 1;
    /* One writev of an O_APPEND file: the line lands whole at the end. */
    w = writev(sh->fd, iov, 2);
    if (w < 0 || (size_t)w != n + 1) return -1;
    if (sh->alone) return fdatasync(sh->fd) == 0 ? 0 : -1;
    ticket = hs_flusher_written(sh->flusher, sh->dev, sh->ino);
    return hs_flusher_wait(sh->flusher, sh->dev, sh->ino, ticket, sh->fd) == 0 ? 0 : -1;
}

static void *worker(void *arg)
{
    struct shared *sh = arg;
    char body[BODY_MAX];
    FCGX_Request rq;

    if (FCGX_InitRequest(&rq, 0, 0) != 0) return NULL;
    while (FCGX_Accept_r(&rq) >= 0) {
        size_t n = 0;
        int got, ok;
        while (n < sizeof(body) &&
               (got = FCGX_GetStr(body + n, (int)(sizeof(body) - n), rq.in)) > 0)
            n += (size_t)got;
        /* A newline in a JSON text can only be whitespace: a space keeps
         * the event's meaning and makes it one line, as hookspool's
         * minifying does (and lets the bench count lines against 2xx). */
        for (char *p = memchr(body, '\n', n); p != NULL;
             p = memchr(p + 1, '\n', n - (size_t)(p + 1 - body)))
            *p = ' ';
        ok = n < sizeof(body) && append(sh, body, n) == 0;
        if (ok) FCGX_PutStr(ok_answer, (int)sizeof(ok_answer) - 1, rq.out);
        else FCGX_PutStr(err_answer, (int)sizeof(err_answer) - 1, rq.out);
        FCGX_Finish_r(&rq);
    }
    return NULL;
}

int main(void)
{
    const char *file = getenv("NULL_FLUSH_FILE");
    const char *pre, *alone = getenv("NULL_FLUSH_ALONE");
    pthread_t tid;
    struct shared sh;
    struct stat st;
    sigset_t stop;
    int i, sig, started = 0;

    if (file == NULL || file[0] == '\0') {
        fputs("null_flush: NULL_FLUSH_FILE is not set\n", stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sh.fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (sh.fd < 0 || fstat(sh.fd, &st) != 0) {
        fprintf(stderr, "null_flush: %s: %s\n", file, strerror(errno));
        return 1;
    }
    if ((pre = getenv("NULL_FLUSH_PREALLOC")) != NULL) {
        char *end;
        long long n;
        errno = 0;
        n = strtoll(pre, &end, 10);
        if (errno != 0 || end == pre || *end != '\0' || n <= 0) {
            fputs("null_flush: NULL_FLUSH_PREALLOC must be a positive number of bytes\n", stderr);
            return 2;
        }
        if (fallocate(sh.fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)n) != 0)
            fprintf(stderr, "null_flush: fallocate: %s\n", strerror(errno));
    }
    sh.dev = st.st_dev;
    sh.ino = st.st_ino;
    sh.alone = alone != NULL && strcmp(alone, "1") == 0;
    sh.flusher = hs_flusher_new();
    if (sh.flusher == NULL || FCGX_Init() != 0) {
        fputs("null_flush: cannot initialise\n", stderr);
        return 1;
    }
    /* The workers sit in accept(2), which a signal does not end in every
     * thread: they inherit these signals blocked, and the main thread
     * ends the process when the web server stops it. A request being
     * answered then is simply not answered (the sender would retry). */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) return 1;
    for (i = 0; i < HS_CONF_THREADS_FLUSH; i++)
        if (pthread_create(&tid, NULL, worker, &sh) == 0) started++;
    if (started == 0) {
        fputs("null_flush: no worker started\n", stderr);
        return 1;
    }
    if (sigwait(&stop, &sig) != 0) return 1;
    _exit(0);
}
