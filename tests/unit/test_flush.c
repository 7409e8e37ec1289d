/* Unit tests of lib/flush: shared flushes, and failures reach every
 * request a failed flush covered. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flush.h"
#include "t.h"

#define THREADS 8
#define EACH    200

struct arg {
    hs_flusher     *f;
    int             fd;
    dev_t           dev;
    ino_t           ino;
    pthread_mutex_t *wmu;   /* stands for the spool lock */
    int             fails;
};

static void *writer(void *p)
{
    struct arg *a = p;
    int i;
    for (i = 0; i < EACH; i++) {
        uint64_t t;
        pthread_mutex_lock(a->wmu);
        if (write(a->fd, "0123456789abcdef\n", 17) != 17) a->fails++;
        t = hs_flusher_written(a->f, a->dev, a->ino);
        pthread_mutex_unlock(a->wmu);
        if (t == 0 || hs_flusher_wait(a->f, a->dev, a->ino, t, a->fd) != 0) a->fails++;
    }
    return NULL;
}

/* Sharing, made certain: every thread takes its ticket, then all wait at
 * a barrier, and only then flush. The first flush started covers every
 * ticket written before it (target = seq at its start), so however the
 * threads are scheduled, THREADS waits cost exactly one fdatasync. A
 * flusher that flushed per ticket would count THREADS. */
struct shared_arg {
    hs_flusher        *f;
    int                fd;
    dev_t              dev;
    ino_t              ino;
    pthread_barrier_t *bar;
    int                rc;
};

static void *ticket_then_wait(void *p)
{
    struct shared_arg *a = p;
    uint64_t t = hs_flusher_written(a->f, a->dev, a->ino);
    pthread_barrier_wait(a->bar);
    a->rc = t == 0 ? -1 : hs_flusher_wait(a->f, a->dev, a->ino, t, a->fd);
    return NULL;
}

static void test_shared_flush(void)
{
    char path[] = "/tmp/hs-test-flush-shared-XXXXXX";
    hs_flusher *f = hs_flusher_new();
    pthread_barrier_t bar;
    pthread_t th[THREADS];
    struct shared_arg args[THREADS];
    struct stat st;
    int fd = mkstemp(path), i, fails = 0;

    CHECK(f != NULL && fd >= 0 && fstat(fd, &st) == 0);
    CHECK(pthread_barrier_init(&bar, NULL, THREADS) == 0);
    for (i = 0; i < THREADS; i++) {
        args[i] = (struct shared_arg){ f, fd, st.st_dev, st.st_ino, &bar, 1 };
        CHECK(pthread_create(&th[i], NULL, ticket_then_wait, &args[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].rc != 0) fails++;
    }
    CHECK(fails == 0);
    CHECK_MSG(hs_flusher_count(f) == 1, "%d waits after all tickets: %llu flushes, want 1",
              THREADS, (unsigned long long)hs_flusher_count(f));
    pthread_barrier_destroy(&bar);
    hs_flusher_free(f);
    CHECK(close(fd) == 0);
    unlink(path);
}

int main(void)
{
    char path[] = "/tmp/hs-test-flush-XXXXXX";
    pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
    pthread_t th[THREADS];
    struct arg args[THREADS];
    struct stat st;
    hs_flusher *f = hs_flusher_new();
    uint64_t t1, t2, flushes;
    int fd = mkstemp(path), i, fails = 0, p[2];

    CHECK(f != NULL && fd >= 0 && fstat(fd, &st) == 0);
    /* tickets count up per file */
    t1 = hs_flusher_written(f, st.st_dev, st.st_ino);
    t2 = hs_flusher_written(f, st.st_dev, st.st_ino);
    CHECK(t1 == 1 && t2 == 2);
    CHECK(hs_flusher_wait(f, st.st_dev, st.st_ino, t2, fd) == 0);
    CHECK(hs_flusher_count(f) == 1);                 /* one flush covered both */
    CHECK(hs_flusher_wait(f, st.st_dev, st.st_ino, t1, fd) == 0);
    CHECK(hs_flusher_count(f) == 1);                 /* already covered */

    /* many threads: every wait succeeds, and flushes are shared */
    for (i = 0; i < THREADS; i++) {
        args[i].f = f; args[i].fd = fd; args[i].dev = st.st_dev; args[i].ino = st.st_ino;
        args[i].wmu = &wmu; args[i].fails = 0;
        CHECK(pthread_create(&th[i], NULL, writer, &args[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) { pthread_join(th[i], NULL); fails += args[i].fails; }
    flushes = hs_flusher_count(f) - 1;
    CHECK(fails == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == THREADS * EACH * 17);
    CHECK_MSG(flushes <= (uint64_t)THREADS * EACH, "%llu flushes", (unsigned long long)flushes);
    printf("# %d writes shared %llu flushes\n", THREADS * EACH, (unsigned long long)flushes);
    test_shared_flush();

    /* a failing flush (fdatasync on a pipe is EINVAL): every ticket it
     * covered fails, and a ticket covered by an earlier good flush does not */
    CHECK(pipe(p) == 0);
    {
        struct stat ps;
        uint64_t a, b, c;
        CHECK(fstat(p[1], &ps) == 0);
        a = hs_flusher_written(f, ps.st_dev, ps.st_ino);
        b = hs_flusher_written(f, ps.st_dev, ps.st_ino);
        CHECK(hs_flusher_wait(f, ps.st_dev, ps.st_ino, b, p[1]) == -EINVAL);
        CHECK(hs_flusher_wait(f, ps.st_dev, ps.st_ino, a, p[1]) == -EINVAL);
        c = hs_flusher_written(f, ps.st_dev, ps.st_ino);
        CHECK(hs_flusher_wait(f, ps.st_dev, ps.st_ino, c, p[1]) == -EINVAL);
        /* ticket 0 (untracked): a plain fdatasync */
        CHECK(hs_flusher_wait(f, ps.st_dev, ps.st_ino, 0, fd) == 0);
        CHECK(hs_flusher_wait(NULL, 0, 0, 5, p[1]) == -EINVAL);
    }
    close(p[0]);
    close(p[1]);
    /* more files than slots: the oldest idle ones are reused */
    {
        int k, ok = 1;
        for (k = 0; k < 3 * HS_FLUSH_FILES; k++) {
            uint64_t t = hs_flusher_written(f, 1, (ino_t)(1000 + k));
            if (t != 1) ok = 0;
            if (hs_flusher_wait(f, 1, (ino_t)(1000 + k), t, fd) != 0) ok = 0;
        }
        CHECK(ok);
    }
    /* the last-append record: only the same segment, name and size match */
    {
        char longname[HS_FLUSH_NAME_MAX + 8];
        CHECK(!hs_flusher_is_end(f, 1, 2, "a.jsonl", 0));          /* none yet */
        hs_flusher_set_end(f, 1, 2, "a.jsonl", 100);
        CHECK(hs_flusher_is_end(f, 1, 2, "a.jsonl", 100));
        CHECK(!hs_flusher_is_end(f, 1, 2, "a.jsonl", 101));        /* grown since */
        CHECK(!hs_flusher_is_end(f, 1, 2, "a.jsonl", 99));
        CHECK(!hs_flusher_is_end(f, 1, 3, "a.jsonl", 100));        /* other inode */
        CHECK(!hs_flusher_is_end(f, 9, 2, "a.jsonl", 100));        /* other device */
        CHECK(!hs_flusher_is_end(f, 1, 2, "b.jsonl", 100));        /* inode reused */
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        hs_flusher_set_end(f, 1, 2, longname, 100);                 /* cannot keep it: */
        CHECK(!hs_flusher_is_end(f, 1, 2, longname, 100));         /* cleared */
        CHECK(!hs_flusher_is_end(f, 1, 2, "a.jsonl", 100));
        CHECK(!hs_flusher_is_end(NULL, 1, 2, "a.jsonl", 100));
    }
    hs_flusher_free(f);
    close(fd);
    unlink(path);
    return T_END();
}
