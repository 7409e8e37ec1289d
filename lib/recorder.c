#include "recorder.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

struct hs_recorder {
    pthread_mutex_t mu;
    pthread_cond_t  wake;       /* a job, or stop */
    pthread_cond_t  done;       /* job went back to 0 */
    int             job;        /* spool and tail hold a copy to record */
    int             stop;
    /* While job is set only the thread reads these; offers change them
     * only while it is clear. */
    char            spool[PATH_MAX];
    mode_t          umask;
    dev_t           dev;        /* the offering worker's store (hs_store_id) */
    ino_t           ino;
    hs_dedup_tail  *tail;
    /* The thread's alone: kept open while it is the worker's file. */
    hs_store       *st;
    /* The workers' shared tails (hs_recorder_tail), under mu. */
    struct {
        char           spool[PATH_MAX];
        hs_dedup_tail *t;
    } shared[HS_RECORDER_TAILS];
};

hs_recorder *hs_recorder_new(void)
{
    hs_recorder *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    if ((r->tail = hs_dedup_tail_new()) == NULL) goto fail_tail;
    if (pthread_mutex_init(&r->mu, NULL) != 0) goto fail_mu;
    if (pthread_cond_init(&r->wake, NULL) != 0) goto fail_wake;
    if (pthread_cond_init(&r->done, NULL) != 0) goto fail_done;
    return r;
fail_done:
    pthread_cond_destroy(&r->wake);
fail_wake:
    pthread_mutex_destroy(&r->mu);
fail_mu:
    hs_dedup_tail_free(r->tail);
fail_tail:
    free(r);
    return NULL;
}

void hs_recorder_free(hs_recorder *r)
{
    size_t i;

    if (r == NULL) return;
    hs_store_close(r->st);
    hs_dedup_tail_free(r->tail);
    for (i = 0; i < HS_RECORDER_TAILS; i++) hs_dedup_tail_free(r->shared[i].t);
    pthread_cond_destroy(&r->done);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Is r->st the file the offering worker has open? */
static int same_store(const hs_recorder *r)
{
    dev_t dev;
    ino_t ino;
    hs_store_id(r->st, &dev, &ino);
    return dev == r->dev && ino == r->ino;
}

/* The job: the worker's store (the connection is kept while jobs name
 * that file, whatever spool path or umask they come with; another file
 * is opened by the job's path and umask), the copy recorded as
 * hs_ctx_idle would, and a checkpoint when the WAL is long. A failure
 * leaves the keys in the workers' tails: they are offered again, or
 * recorded under the lock when the tail gets long. */
static void record(hs_recorder *r)
{
    if (r->st != NULL && !same_store(r)) {
        hs_store_close(r->st);
        r->st = NULL;
    }
    if (r->st == NULL && hs_store_open(r->spool, r->umask, 0, &r->st) != 0) {
        r->st = NULL;
        return;
    }
    /* Replaced since the worker read its tail: these keys are not this
     * store's lines (its cursor could even let them in). */
    if (!same_store(r)) return;
    (void)hs_dedup_idle(r->st, r->tail, (int64_t)time(NULL));
    /* Recorded or not, the next offer copies a whole tail again: the
     * copy's memory (some 200 KiB) is not kept between recordings. */
    hs_dedup_tail_shed(r->tail);
    (void)hs_store_checkpoint_if_due(r->st);
}

void *hs_recorder_main(void *arg)
{
    hs_recorder *r = arg;

    if (pthread_mutex_lock(&r->mu) != 0) return NULL;
    for (;;) {
        while (!r->job && !r->stop) (void)pthread_cond_wait(&r->wake, &r->mu);
        if (r->job) {
            (void)pthread_mutex_unlock(&r->mu);
            record(r);
            (void)pthread_mutex_lock(&r->mu);
            r->job = 0;
            (void)pthread_cond_broadcast(&r->done);
        }
        if (r->stop) break;
    }
    (void)pthread_mutex_unlock(&r->mu);
    hs_store_close(r->st);
    r->st = NULL;
    return NULL;
}

int hs_recorder_offer(hs_recorder *r, const hs_store *st, const char *spool, mode_t umask,
                      hs_dedup_tail *t)
{
    size_t n = strlen(spool);
    int rc;

    if (n >= sizeof(r->spool)) return -ENAMETOOLONG;
    if (pthread_mutex_lock(&r->mu) != 0) return 0;
    if (r->job || r->stop) {
        (void)pthread_mutex_unlock(&r->mu);
        return 0;
    }
    /* What the copy knew of the segment it last held is only the same
     * spool's: another spool's may share a segment name. */
    if (strcmp(r->spool, spool) != 0) {
        hs_dedup_tail *fresh = hs_dedup_tail_new();
        if (fresh == NULL) {
            (void)pthread_mutex_unlock(&r->mu);
            return -ENOMEM;
        }
        hs_dedup_tail_free(r->tail);
        r->tail = fresh;
        memcpy(r->spool, spool, n + 1);
    }
    if ((rc = hs_dedup_tail_take(r->tail, t)) == 1) {
        r->umask = umask;
        hs_store_id(st, &r->dev, &r->ino);
        r->job = 1;
        (void)pthread_cond_signal(&r->wake);
    }
    (void)pthread_mutex_unlock(&r->mu);
    return rc;
}

void hs_recorder_drain(hs_recorder *r)
{
    if (pthread_mutex_lock(&r->mu) != 0) return;
    while (r->job) (void)pthread_cond_wait(&r->done, &r->mu);
    (void)pthread_mutex_unlock(&r->mu);
}

void hs_recorder_stop(hs_recorder *r)
{
    if (pthread_mutex_lock(&r->mu) != 0) return;
    r->stop = 1;
    (void)pthread_cond_broadcast(&r->wake);
    (void)pthread_mutex_unlock(&r->mu);
}

hs_dedup_tail *hs_recorder_tail(hs_recorder *r, const char *spool)
{
    hs_dedup_tail *t = NULL;
    size_t i, n = strlen(spool);

    if (n >= sizeof(r->shared[0].spool) || pthread_mutex_lock(&r->mu) != 0) return NULL;
    for (i = 0; i < HS_RECORDER_TAILS && r->shared[i].t != NULL; i++)
        if (strcmp(r->shared[i].spool, spool) == 0) {
            t = r->shared[i].t;
            goto out;
        }
    if (i < HS_RECORDER_TAILS && (t = hs_dedup_tail_new_shared()) != NULL) {
        memcpy(r->shared[i].spool, spool, n + 1);
        r->shared[i].t = t;
    }
out:
    (void)pthread_mutex_unlock(&r->mu);
    return t;
}
