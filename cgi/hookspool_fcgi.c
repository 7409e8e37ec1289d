/*
 * hookspool.fcgi - the FastCGI responder, and the same binary as a plain
 * CGI. Thin on purpose: read the parameters and the body, let
 * lib/handler answer, write the answer. Only this file knows FastCGI.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "buf.h"
#include "ctx.h"
#include "handler.h"
#include "flush.h"
#include "recorder.h"
#include "log.h"
#include "crypto.h"
#include "store.h"

extern char **environ;

#define READ_CHUNK      65536
#define KEEP_BUF_MAX    (256 * 1024)  /* larger body buffers are freed after use */
#define THREAD_STACK    (1024 * 1024) /* the deepest path uses well under 256 KiB */

/* Reading and writing one request, FastCGI or CGI. */
struct io {
    FCGX_Stream *in, *out;     /* NULL in CGI mode: stdin/stdout */
};

/* Read up to `limit` bytes of body until EOF. 0, or -1 on a read error. */
static int read_body(const struct io *io, size_t limit, hs_buf *body)
{
    while (body->len < limit) {
        size_t want = limit - body->len;
        long got;
        if (want > READ_CHUNK) want = READ_CHUNK;
        if (hs_buf_reserve(body, want) != 0) return -1;
        if (io->in != NULL) {
            got = FCGX_GetStr(body->p + body->len, (int)want, io->in);
            if (got < 0) return -1;
        } else {
            got = read(STDIN_FILENO, body->p + body->len, want);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) return -1;
        }
        if (got == 0) break;
        body->len += (size_t)got;
        if (io->in != NULL && (size_t)got < want && FCGX_HasSeenEOF(io->in)) break;
    }
    return 0;
}

static int put(const struct io *io, const char *s, size_t n)
{
    if (io->out != NULL) return FCGX_PutStr(s, (int)n, io->out) == (int)n ? 0 : -1;
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *status_text(int s)
{
    switch (s) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}

/* Serve one request; returns -1 when the answer could not be written
 * (the client went away: nothing more to do for it). */
static int serve(hs_ctx *ctx, char *const *params, const struct io *io, hs_buf *body)
{
    hs_request req;
    hs_response resp;
    hs_buf head = HS_BUF_INIT;
    const hs_config *cfg;
    char err[HS_CTX_ERR_MAX];
    size_t limit;
    int over = 0, rc = 0;

    memset(&req, 0, sizeof(req));
    req.params = params;
    req.now = time(NULL);
    err[0] = '\0';
    cfg = hs_ctx_config(ctx, params, req.now, err, sizeof(err));
    hs_buf_reset(body);
    limit = hs_body_limit(cfg, params, &over);
    if (limit > 0 && read_body(io, limit, body) != 0) {
        /* The sender hung up mid-body: no answer can reach it. */
        return -1;
    }
    req.body = (const unsigned char *)body->p;
    req.body_len = body->len;
    req.body_over = over || (limit > 0 && body->len >= limit);

    hs_response_init(&resp);
    hs_handle(ctx, cfg, err, &req, &resp);
    hs_buf_puts(&head, "Status: ");
    hs_buf_put_u(&head, (unsigned)resp.status);
    hs_buf_putc(&head, ' ');
    hs_buf_puts(&head, status_text(resp.status));
    hs_buf_puts(&head, "\r\nContent-Type: ");
    hs_buf_puts(&head, resp.content_type);
    hs_buf_puts(&head, "\r\nContent-Length: ");
    hs_buf_put_u(&head, resp.body.len);
    hs_buf_puts(&head, "\r\n");
    hs_buf_append(&head, resp.head.p, resp.head.len);
    hs_buf_puts(&head, "\r\n");
    if (head.oom || put(io, head.p, head.len) != 0 ||
        (resp.body.len > 0 && put(io, resp.body.p, resp.body.len) != 0))
        rc = -1;
    hs_buf_free(&head);
    hs_response_free(&resp);
    if (body->cap > KEEP_BUF_MAX) hs_buf_free(body);
    return rc;
}

/* The directory of this program, where hookspool.conf may lie. */
static void program_dir(char *out, size_t n)
{
    char path[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", path, sizeof(path) - 1);
    char *slash;

    out[0] = '\0';
    if (r <= 0) return;
    path[r] = '\0';
    slash = strrchr(path, '/');
    if (slash == NULL) return;
    *slash = '\0';
    snprintf(out, n, "%s", path[0] ? path : "/");
}

/* The FastCGI listening socket, as the web server passes it. */
#define LISTEN_FD 0
/* A worker lets go of what it keeps between requests (hs_ctx_park: the
 * active segment's descriptor) when it finds no request waiting; every
 * PARK_SECONDS the signal thread parks each worker not serving a request,
 * for one that saw a request waiting and then lost it to another. So a
 * segment that a consumer deleted is pinned by a process only until its
 * workers' next request, or that long when they are idle. */
#define PARK_SECONDS 1

/* 1 when a connection waits on the listening socket (another worker may
 * take it: only a hint), else 0. */
static int request_pending(void)
{
    struct pollfd p = { LISTEN_FD, POLLIN, 0 };
    int r;
    do r = poll(&p, 1, 0); while (r < 0 && errno == EINTR);
    return r > 0;
}

/* A worker's context, which the signal thread may park while mu is free:
 * the worker holds mu from the moment it has a request until it is done
 * with it. */
struct slot {
    pthread_mutex_t mu;
    hs_ctx         *ctx;
};

/* What the FastCGI threads of this process share. */
struct shared {
    char            dir[PATH_MAX];
    hs_log          log;         /* one rate limit per process */
    hs_flusher     *flusher;     /* group commit across the threads */
    hs_recorder    *recorder;    /* records dedup tails off the workers; NULL: none */
    struct slot     slots[HS_CONF_THREADS_MAX];
    atomic_int      nslots;      /* slots handed out (workers started) */
    int             workers;     /* HOOKSPOOL_THREADS: the workers meant to start */
    sigset_t        stop;        /* the termination signals */
};

/*
 * One FastCGI worker: its own context (caches, descriptors, SQLite
 * connection), sharing only the log limiter and the flusher. lighttpd and
 * nginx open a connection per request, so several workers serve several
 * requests at once and their flushes are shared; under mod_fcgid, which
 * sends a process one request at a time, the extra workers just wait.
 */
static void *worker(void *arg)
{
    struct shared *sh = arg;
    hs_ctx *ctx = hs_ctx_new_shared(sh->dir[0] ? sh->dir : NULL, &sh->log, sh->flusher);
    hs_buf body = HS_BUF_INIT;
    FCGX_Request rq;
    struct io io;
    struct slot *slot;
    int rc, k;

    if (ctx == NULL || FCGX_InitRequest(&rq, LISTEN_FD, 0) != 0) {
        hs_logf(&sh->log, time(NULL), "cannot start a FastCGI worker: out of memory");
        hs_ctx_free(ctx);
        return NULL;
    }
    hs_ctx_set_recorder(ctx, sh->recorder, sh->workers);
    /* At most HS_CONF_THREADS_MAX workers start (hs_conf_threads). */
    k = atomic_fetch_add(&sh->nslots, 1);
    slot = &sh->slots[k];
    pthread_mutex_lock(&slot->mu);
    slot->ctx = ctx;
    pthread_mutex_unlock(&slot->mu);
    for (;;) {
        /* FCGX_Accept_r is thread-safe, and Linux wakes one thread per
         * connection: no accept mutex (it cost a futex handoff per
         * request). */
        rc = FCGX_Accept_r(&rq);
        if (rc < 0) break;
        pthread_mutex_lock(&slot->mu);
        io.in = rq.in;
        io.out = rq.out;
        (void)serve(ctx, rq.envp, &io, &body);
        /* libfcgi's close shuts the socket down for writing and then
         * waits for the web server to close its side, draining input, so
         * that unread input cannot make a TCP stack reset the connection
         * and lose the answer. Once the request's input has been read to
         * its end nothing more arrives, and a plain close is as safe: the
         * answer is already in the kernel and close() does not discard it.
         * That saves a poll, a read and a sleep per request. With input
         * left unread (a body over the limit), the drain stays.
         * (FCGX_Detach only marks the request so that libfcgi's close
         * skips the drain; FCGX_Attach clears the mark, which would
         * otherwise outlive the request on a kept connection.) */
        if (FCGX_HasSeenEOF(rq.in) == EOF) (void)FCGX_Detach(&rq);
        else (void)FCGX_Attach(&rq);
        FCGX_Finish_r(&rq);
        hs_ctx_idle(ctx);
        /* With no request waiting, let go of the segment before waiting
         * (a worker that finds a request waiting keeps it: its next
         * operation checks it anyway, and the signal thread parks it if
         * another worker took that request). */
        if (!request_pending()) hs_ctx_park(ctx);
        pthread_mutex_unlock(&slot->mu);
    }
    pthread_mutex_lock(&slot->mu);
    slot->ctx = NULL;
    pthread_mutex_unlock(&slot->mu);
    FCGX_Free(&rq, 1);
    hs_buf_free(&body);
    hs_ctx_free(ctx);
    return NULL;
}

/*
 * Termination (SIGTERM from the web server, SIGINT, SIGHUP, SIGUSR1 from
 * mod_fcgid) is taken here, not in whichever worker the kernel picks: shut
 * the listening socket down so every worker's accept() fails, and let
 * each finish the request it is serving. A worker mid-append is never
 * interrupted (and a SIGKILL leaves a partial tail the next writer cuts).
 * While it waits, every PARK_SECONDS, it parks the workers that are not
 * serving a request. serve_fastcgi ends it with a SIGTERM of its own.
 */
static void *signal_thread(void *arg)
{
    struct shared *sh = arg;
    const struct timespec wait = { PARK_SECONDS, 0 };
    int sig, k, n;

    for (;;) {
        sig = sigtimedwait(&sh->stop, NULL, &wait);
        if (sig > 0) break;
        if (errno != EAGAIN) continue;          /* EINTR */
        /* Between signals: park every worker not serving a request. */
        n = atomic_load(&sh->nslots);
        for (k = 0; k < n; k++) {
            struct slot *sl = &sh->slots[k];
            if (pthread_mutex_trylock(&sl->mu) != 0) continue;
            if (sl->ctx != NULL) hs_ctx_park(sl->ctx);
            pthread_mutex_unlock(&sl->mu);
        }
    }
    FCGX_ShutdownPending();
    (void)shutdown(LISTEN_FD, SHUT_RDWR);
    return NULL;
}

static int serve_fastcgi(const char *dir)
{
    static struct shared sh;     /* 3 KiB of slots: not on the stack */
    pthread_t tids[HS_CONF_THREADS_MAX], sigt, rect;
    pthread_attr_t attr;
    int n, i, started = 0;

    memset(&sh, 0, sizeof(sh));
    for (i = 0; i < HS_CONF_THREADS_MAX; i++)
        if (pthread_mutex_init(&sh.slots[i].mu, NULL) != 0) return 1;
    snprintf(sh.dir, sizeof(sh.dir), "%s", dir);
    hs_log_init(&sh.log, STDERR_FILENO);
    /* A process setting: lighttpd's bin-environment, spawn-fcgi's
     * environment; never a request parameter. */
    if (hs_conf_threads(getenv("HOOKSPOOL_THREADS"), getenv("HOOKSPOOL_FSYNC"), &n) != 0) {
        hs_logf(&sh.log, time(NULL), "configuration error: HOOKSPOOL_THREADS: not a "
                "decimal integer from 1 to %d", HS_CONF_THREADS_MAX);
        return 1;
    }
    if ((sh.flusher = hs_flusher_new()) == NULL || FCGX_Init() != 0 ||
        pthread_attr_init(&attr) != 0) {
        hs_logf(&sh.log, time(NULL), "cannot initialise FastCGI");
        return 1;
    }
    (void)pthread_attr_setstacksize(&attr, THREAD_STACK);
    /* One malloc arena for all the threads: each extra arena keeps its
     * own dirty pages, and a request's allocations are small and short. */
    (void)mallopt(M_ARENA_MAX, 1);
    /* Blocks of 128 KiB and more (dedup's tails, the recorder's copy)
     * each get a mapping of their own, given back when freed or shrunk.
     * Set, the threshold stays put: glibc otherwise raises it to the
     * size of the first such block freed, and from then on keeps those
     * blocks' pages in the arena, dirty, for good (issue 18's memory
     * target). */
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    sigemptyset(&sh.stop);
    sigaddset(&sh.stop, SIGTERM);
    sigaddset(&sh.stop, SIGINT);
    sigaddset(&sh.stop, SIGHUP);
    sigaddset(&sh.stop, SIGUSR1);
    /* Blocked in every thread (they inherit the mask); the signal thread
     * waits for them. */
    if (pthread_sigmask(SIG_BLOCK, &sh.stop, NULL) != 0 ||
        pthread_create(&sigt, &attr, signal_thread, &sh) != 0) {
        hs_logf(&sh.log, time(NULL), "cannot start the signal thread");
        return 1;
    }
    /* Without a recorder each worker records after its own answers. */
    sh.workers = n;
    if ((sh.recorder = hs_recorder_new()) != NULL &&
        pthread_create(&rect, &attr, hs_recorder_main, sh.recorder) != 0) {
        hs_recorder_free(sh.recorder);
        sh.recorder = NULL;
    }
    for (i = 1; i < n; i++)
        if (pthread_create(&tids[started], &attr, worker, &sh) == 0) started++;
    (void)pthread_attr_destroy(&attr);
    (void)worker(&sh);           /* this thread is a worker too */
    for (i = 0; i < started; i++) pthread_join(tids[i], NULL);
    if (sh.recorder != NULL) {
        hs_recorder_stop(sh.recorder);
        pthread_join(rect, NULL);
        hs_recorder_free(sh.recorder);
    }
    /* The signal thread parks the workers' contexts: stop it before they
     * are gone (it has already ended if a signal ended the workers). */
    (void)pthread_kill(sigt, SIGTERM);
    pthread_join(sigt, NULL);
    for (i = 0; i < HS_CONF_THREADS_MAX; i++) pthread_mutex_destroy(&sh.slots[i].mu);
    hs_flusher_free(sh.flusher);
    hs_log_destroy(&sh.log);
    return 0;
}

int main(void)
{
    char dir[PATH_MAX];
    hs_ctx *ctx;
    hs_buf body = HS_BUF_INIT;
    struct io io;

    hs_crypto_process_init();
    hs_store_process_init();
    signal(SIGPIPE, SIG_IGN);
    program_dir(dir, sizeof(dir));
    if (!FCGX_IsCGI()) return serve_fastcgi(dir);

    /* Plain CGI: one request from the environment and stdin. */
    ctx = hs_ctx_new(dir[0] ? dir : NULL, STDERR_FILENO);
    if (ctx == NULL) {
        fputs("hookspool: out of memory at start\n", stderr);
        return 1;
    }
    io.in = io.out = NULL;
    (void)serve(ctx, environ, &io, &body);
    hs_buf_free(&body);
    (void)fflush(stdout);
    hs_ctx_idle(ctx);
    hs_ctx_free(ctx);
    return 0;
}
