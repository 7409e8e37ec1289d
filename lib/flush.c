#include "flush.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct file {
    dev_t    dev;
    ino_t    ino;
    int      used;
    uint64_t last_use;
    uint64_t seq;        /* the last ticket given out */
    uint64_t done;       /* every ticket up to here is flushed (or failed) */
    int      flushing;   /* a flush is running for this file */
    /* Tickets in [bad_lo, bad_hi] were covered by a failed flush. Kept
     * as one growing range: a waiter may wake after a later flush, and
     * must still learn that its own failed; merging two failures across
     * a success makes the requests between them 503 too, which is safe
     * (the sender retries), while the reverse would acknowledge lost data. */
    uint64_t bad_lo, bad_hi;
    int      bad_err;
};

struct hs_flusher {
    pthread_mutex_t gate;   /* hs_flusher_gate: appenders take turns */
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    uint64_t        clock;
    uint64_t        flushes;
    struct file     files[HS_FLUSH_FILES];
    /* hs_flusher_set_end's record; under the gate. */
    int             end_set;
    dev_t           end_dev;
    ino_t           end_ino;
    off_t           end_at;
    char            end_name[HS_FLUSH_NAME_MAX];
};

hs_flusher *hs_flusher_new(void)
{
    hs_flusher *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    if (pthread_mutex_init(&f->mu, NULL) != 0) { free(f); return NULL; }
    if (pthread_cond_init(&f->cv, NULL) != 0) {
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    if (pthread_mutex_init(&f->gate, NULL) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    return f;
}

void hs_flusher_set_end(hs_flusher *f, dev_t dev, ino_t ino, const char *name, off_t end)
{
    size_t n = strlen(name);
    if (f == NULL) return;
    f->end_set = n < sizeof(f->end_name);
    if (!f->end_set) return;
    f->end_dev = dev;
    f->end_ino = ino;
    f->end_at = end;
    memcpy(f->end_name, name, n + 1);
}

int hs_flusher_is_end(const hs_flusher *f, dev_t dev, ino_t ino, const char *name, off_t size)
{
    return f != NULL && f->end_set && f->end_at == size && f->end_dev == dev &&
           f->end_ino == ino && strcmp(f->end_name, name) == 0;
}

void hs_flusher_free(hs_flusher *f)
{
    if (f == NULL) return;
    pthread_mutex_destroy(&f->gate);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* The slot of (dev, ino), or NULL. Under the mutex. */
static struct file *find(hs_flusher *f, dev_t dev, ino_t ino)
{
    int i;
    for (i = 0; i < HS_FLUSH_FILES; i++)
        if (f->files[i].used && f->files[i].dev == dev && f->files[i].ino == ino)
            return &f->files[i];
    return NULL;
}

uint64_t hs_flusher_written(hs_flusher *f, dev_t dev, ino_t ino)
{
    struct file *e, *victim = NULL;
    uint64_t t = 0;
    int i;

    if (f == NULL || pthread_mutex_lock(&f->mu) != 0) return 0;
    e = find(f, dev, ino);
    if (e == NULL) {
        /* A free slot, else the least recently used idle one (all its
         * tickets flushed: nobody can still be waiting on it). */
        for (i = 0; i < HS_FLUSH_FILES; i++) {
            struct file *c = &f->files[i];
            if (!c->used) { victim = c; break; }
            if (!c->flushing && c->done == c->seq &&
                (victim == NULL || c->last_use < victim->last_use))
                victim = c;
        }
        if (victim != NULL) {
            e = victim;
            e->used = 1;
            e->dev = dev;
            e->ino = ino;
            e->seq = e->done = 0;
            e->flushing = 0;
            e->bad_lo = e->bad_hi = 0;
            e->bad_err = 0;
        }
    }
    if (e != NULL) {
        e->last_use = ++f->clock;
        t = ++e->seq;
    }
    pthread_mutex_unlock(&f->mu);
    return t;
}

int hs_flusher_wait(hs_flusher *f, dev_t dev, ino_t ino, uint64_t ticket, int fd)
{
    struct file *e;
    int rc = 0, flushed = 0;

    if (f == NULL || ticket == 0) return fdatasync(fd) != 0 ? -errno : 0;
    if (pthread_mutex_lock(&f->mu) != 0) return fdatasync(fd) != 0 ? -errno : 0;
    e = find(f, dev, ino);
    /* A registered file with waiters is never evicted (see written). */
    while (e != NULL && e->done < ticket) {
        if (!e->flushing) {
            uint64_t target = e->seq;
            int r;
            e->flushing = 1;
            f->flushes++;
            pthread_mutex_unlock(&f->mu);
            r = fdatasync(fd) != 0 ? -errno : 0;
            pthread_mutex_lock(&f->mu);
            e->flushing = 0;
            if (r != 0) {
                if (e->bad_err == 0 || e->bad_lo == 0) e->bad_lo = e->done + 1;
                e->bad_hi = target;
                e->bad_err = r;
            }
            e->done = target;
            /* The waiters are woken once the mutex is free (below): woken
             * while it is held, each would wake only to sleep again on
             * it, a second context switch apiece. */
            flushed = 1;
        } else {
            pthread_cond_wait(&f->cv, &f->mu);
        }
    }
    if (e == NULL) {
        pthread_mutex_unlock(&f->mu);
        return fdatasync(fd) != 0 ? -errno : 0;
    }
    if (e->bad_err != 0 && ticket >= e->bad_lo && ticket <= e->bad_hi) rc = e->bad_err;
    pthread_mutex_unlock(&f->mu);
    if (flushed) pthread_cond_broadcast(&f->cv);
    return rc;
}

uint64_t hs_flusher_count(hs_flusher *f)
{
    uint64_t n;
    pthread_mutex_lock(&f->mu);
    n = f->flushes;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int hs_flusher_gate(hs_flusher *f, const struct timespec *deadline)
{
    int rc = pthread_mutex_timedlock(&f->gate, deadline);
    return rc == 0 ? 0 : -rc;
}

void hs_flusher_ungate(hs_flusher *f)
{
    pthread_mutex_unlock(&f->gate);
}
