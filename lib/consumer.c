#include "consumer.h"

#include "dedup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "layout.h"
#include "store.h"

/*
 * Durability: the moves here are not followed by directory flushes. A
 * rename lost to a power cut leaves the segment where it was before the
 * move, and every such "before" state is one the consumers already
 * handle (a segment consumed twice, a requeue undone): delivery stays at
 * least once, which is what consumers are built for (SPEC 6: they use
 * `key` or `id` to be idempotent). Flushing would only narrow the window
 * for duplicates, at a cost per segment.
 */

#define SEG_ENV         "HOOKSPOOL_SEGMENT"

enum { D_READY, D_CLAIMED, D_FAILED, D_MAX };

static const hs_layout_dir dir_of[D_MAX] = { HS_DIR_READY, HS_DIR_CLAIMED, HS_DIR_FAILED };

struct hs_cons {
    char          root[PATH_MAX];
    char          sub[D_MAX][PATH_MAX];   /* canonical paths of the dirs */
    int           fd[D_MAX];
    mode_t        umask;         /* for creating the store: from the spool */
    struct stat   root_st;       /* the spool directory, checked (spool.h) */
    hs_spool_opts opts;
    hs_spool     *sp;            /* opened when sealing, else NULL */
    hs_store     *st;            /* opened when counts are needed */
    int           st_err;        /* the store's open error, tried once */
    int           out_failed;    /* io->path failed: take nothing more */
    long long     timeout;       /* seconds a command may run */
    long long     archive_seconds; /* 0: consumed segments are deleted */
    int           arch_fd;       /* archive/, opened when first needed */
    hs_cons_io    io;
};

typedef hs_layout_names seg_list;

static void warn(hs_cons *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(hs_cons *c, const char *fmt, ...)
{
    char msg[HS_CONS_MSG_MAX];
    va_list ap;

    if (c->io.warn == NULL) return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);   /* a cut message still helps */
    va_end(ap);
    c->io.warn(c->io.arg, msg);
}

/* Close a read-only segment descriptor, releasing its lock. No data is
 * pending on it, and the descriptor (so the lock) is gone even when
 * close reports an error, so there is nothing to act on. */
static void release(int fd)
{
    (void)hs_layout_close(fd);
}

/* Report one result: dir/name. Sets out_failed when it cannot be
 * delivered, so the caller stops taking segments it could not announce. */
static int emit(hs_cons *c, const char *dir, const char *name)
{
    char p[PATH_MAX];

    if (c->io.path == NULL) return 0;
    /* Lengths were checked when the directories were opened. */
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p)) {
        warn(c, "%s/%s: path too long", dir, name);
        return -ENAMETOOLONG;
    }
    if (c->io.path(c->io.arg, p) != 0) {
        if (!c->out_failed) warn(c, "cannot write the output");
        c->out_failed = 1;
        return -EIO;
    }
    return 0;
}

/* Rename from/name to to/name, never replacing a file. 0 or -errno
 * (-ENOENT: someone else moved or deleted it first). */
static int move(hs_cons *c, int from, int to, const char *name)
{
    if (renameat2(c->fd[from], name, c->fd[to], name, RENAME_NOREPLACE) != 0)
        return -errno;
    return 0;
}

/* flock(LOCK_EX|LOCK_NB): 0 locked, 1 another process holds it, or
 * -errno. */
static int lock_nb(int fd)
{
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno == EINTR) continue;
        return errno == EWOULDBLOCK ? 1 : -errno;
    }
}

/* Open dir/name read-only to lock it. 0 with *fd (the caller's), 1 when
 * it is gone or not a regular file (then it is no segment: ignored), or
 * -errno. O_NONBLOCK so a FIFO with a segment's name cannot hang us. */
static int open_seg(hs_cons *c, int dir, const char *name, int *fd)
{
    struct stat st;
    int rc;

    char what[2 * PATH_MAX];

    snprintf(what, sizeof(what), "%s/%s", c->sub[dir], name);
    *fd = openat(c->fd[dir], name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0 && errno == ELOOP) {
        /* A symlink among the segments was planted: never followed, and
         * the run fails so the operator hears of it. */
        if (fstatat(c->fd[dir], name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 1 : -errno;
        return hs_spool_trust_part(&st, S_IFREG, &c->root_st, c->opts.umask, what);
    }
    if (*fd < 0) return errno == ENOENT ? 1 : -errno;
    if (fstat(*fd, &st) != 0) {
        rc = -errno;
        release(*fd);
        *fd = -1;
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        release(*fd);
        *fd = -1;
        return 1;
    }
    /* A file someone else put there is not a segment of ours. */
    if ((rc = hs_spool_trust_part(&st, S_IFREG, &c->root_st, c->opts.umask, what)) != 0) {
        release(*fd);
        *fd = -1;
        return rc;
    }
    return 0;
}

/* List the segment names of directory dir into *l, sorted. Reports its
 * errors. l is the caller's (hs_layout_names_free). */
static int list_segs(hs_cons *c, int dir, seg_list *l)
{
    int rc = hs_layout_list(c->fd[dir], ".", l);

    if (rc == -EOVERFLOW)
        warn(c, "%s: more than %d segments: the oldest cannot be found", c->sub[dir],
             HS_CONS_SCAN_MAX);
    else if (rc != 0)
        warn(c, "%s: %s", c->sub[dir], hs_spool_strerror(rc));
    return rc;
}

/* Open the store once, creating it with the spool's own permissions
 * (see hs_cons_open). Remembers a failure so it is reported once. */
static int need_store(hs_cons *c)
{
    if (c->st != NULL) return 0;
    if (c->st_err != 0) return c->st_err;
    c->st_err = hs_store_open(c->root, c->umask, 1, &c->st);
    if (c->st_err != 0) c->st = NULL;
    return c->st_err;
}

/*
 * Seal the active segment when it is due, so an event reaches ready/
 * within the rotation time even when no request follows it (SPEC 6,
 * promise 4). The one place the claiming commands seal. A spool without
 * its lock file has never been appended to: nothing to seal.
 */
static int seal_due(hs_cons *c)
{
    int rc, sealed = 0;

    if (c->sp == NULL) {
        rc = hs_spool_open(c->root, &c->opts, 0, &c->sp);
        if (rc == -ENOENT) return 0;
        if (rc != 0) {
            c->sp = NULL;
            warn(c, "cannot seal the active segment: %s", hs_spool_strerror(rc));
            return rc;
        }
    }
    rc = hs_dedup_rotate(c->sp, &c->opts, 0, &sealed);
    if (rc != 0) warn(c, "cannot seal the active segment: %s", hs_spool_strerror(rc));
    return rc;
}

/*
 * Take ready/name: open it, lock it without waiting, move it to claimed/
 * and set its mtime to now. The mtime is set under the lock, so requeue
 * (which locks before it looks at the mtime) can never see the segment
 * claimed with its old mtime and take it back. Returns 0 with the locked
 * descriptor in *lfd (the caller's: closing it releases the lock), 1
 * when another process has it or took it first, or a negative errno
 * (reported).
 */
static int take(hs_cons *c, const char *name, int *lfd)
{
    int fd, rc, urc;

    *lfd = -1;
    if ((rc = open_seg(c, D_READY, name, &fd)) != 0) {
        if (rc < 0) warn(c, "%s/%s: %s", c->sub[D_READY], name, hs_spool_strerror(rc));
        return rc;
    }
    if ((rc = lock_nb(fd)) != 0) {
        if (rc < 0) warn(c, "%s/%s: cannot lock: %s", c->sub[D_READY], name, hs_spool_strerror(rc));
        release(fd);
        return rc;
    }
    if ((rc = move(c, D_READY, D_CLAIMED, name)) != 0) {
        release(fd);
        if (rc == -ENOENT) return 1;
        warn(c, "cannot move %s/%s to %s/: %s", c->sub[D_READY], name,
             c->sub[D_CLAIMED], hs_spool_strerror(rc));
        return rc;
    }
    if (futimens(fd, NULL) != 0) {
        rc = -errno;
        /* Left with its old mtime the claim would look stale to requeue
         * at once: undo it while we still hold the lock. */
        urc = move(c, D_CLAIMED, D_READY, name);
        warn(c, "%s/%s: cannot set the claim time: %s%s", c->sub[D_CLAIMED], name,
             hs_spool_strerror(rc), urc == 0 ? " (put back in ready/)" : "");
        release(fd);
        return rc;
    }
    *lfd = fd;
    return 0;
}

/*
 * Is file a segment in directory dir of this spool? Its directory's real
 * path must be that directory's (so "../spool/claimed/x" and symlinks
 * resolve), its name a segment's and the entry a regular file. Fills
 * name[] and returns 0, or returns a negative errno.
 */
static int in_dir(hs_cons *c, const char *file, int dir, char name[HS_SEG_NAME_MAX])
{
    char d[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(file, '/'), *base = file;
    struct stat st;
    size_t dl;

    if (slash == NULL) {
        memcpy(d, ".", 2);
    } else {
        dl = (size_t)(slash - file);
        if (dl == 0) dl = 1;            /* "/x.jsonl": the root */
        if (dl >= sizeof(d)) return -ENAMETOOLONG;
        memcpy(d, file, dl);
        d[dl] = '\0';
        base = slash + 1;
    }
    if (!hs_layout_is_seg(base)) return -EINVAL;
    if (realpath(d, real) == NULL) return -errno;
    if (strcmp(real, c->sub[dir]) != 0) return -EXDEV;
    if (fstatat(c->fd[dir], base, &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EINVAL;
    memcpy(name, base, strlen(base) + 1);
    return 0;
}

int hs_cons_open(const char *spool, const hs_spool_opts *opts,
                 const hs_cons_io *io, hs_cons **out)
{
    char joined[PATH_MAX];
    hs_cons *c;
    struct stat st;
    int rc = 0, i, rfd;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL) return -ENOMEM;
    for (i = 0; i < D_MAX; i++) c->fd[i] = -1;
    c->arch_fd = -1;
    c->opts = *opts;
    c->io = *io;
    c->timeout = HS_CONS_TIMEOUT_DEF;
    if (realpath(spool, c->root) == NULL) { rc = -errno; goto fail; }
    /* Never through a symlink, and only a spool this user may trust
     * (spool.h, "Trust"), with opts->umask saying what group and others
     * may write. */
    rfd = open(c->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0) { rc = -errno; goto fail; }
    /* A cron job in the web server's group must create the store so the
     * web server can still write it: the spool's own mode says who may
     * (0770 -> umask 007). */
    if (fstat(rfd, &c->root_st) != 0) rc = -errno;
    else {
        c->umask = (mode_t)(~c->root_st.st_mode & 0777);
        rc = hs_spool_trust_root(&c->root_st, opts->umask, c->root);
    }
    for (i = 0; i < D_MAX && rc == 0; i++) {
        const char *dn = hs_layout_dir_name(dir_of[i]);
        char what[2 * PATH_MAX];
        snprintf(what, sizeof(what), "%s/%s", c->root, dn);
        c->fd[i] = openat(rfd, dn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c->fd[i] < 0 && (errno == ELOOP || errno == ENOTDIR) &&
            fstatat(rfd, dn, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            rc = hs_spool_trust_part(&st, S_IFDIR, &c->root_st, opts->umask, what);
            if (rc != 0) break;
        }
        if (c->fd[i] < 0) { rc = -errno; break; }
        if (fstat(c->fd[i], &st) != 0) { rc = -errno; break; }
        if ((rc = hs_spool_trust_part(&st, S_IFDIR, &c->root_st, opts->umask, what)) != 0) break;
        /* Compared with FILE arguments' real directories by done and
         * retry-failed, so it must be canonical too. */
        if (snprintf(joined, sizeof(joined), "%s/%s", c->root, dn) >=
            (int)sizeof(joined)) { rc = -ENAMETOOLONG; break; }
        if (realpath(joined, c->sub[i]) == NULL) { rc = -errno; break; }
        /* Every printed path is sub/name: make sure any name fits. */
        if (strlen(c->sub[i]) + 1 + HS_SEG_NAME_MAX > PATH_MAX) { rc = -ENAMETOOLONG; break; }
    }
    if (hs_layout_close(rfd) != 0 && rc == 0) rc = -EIO;
    if (rc != 0) goto fail;
    *out = c;
    return 0;
fail:
    hs_cons_close(c);
    return rc;
}

void hs_cons_close(hs_cons *c)
{
    int i;

    if (c == NULL) return;
    /* Directory descriptors only: nothing pending to lose. */
    for (i = 0; i < D_MAX; i++) (void)hs_layout_close(c->fd[i]);
    (void)hs_layout_close(c->arch_fd);
    hs_store_close(c->st);
    hs_spool_close(c->sp);
    free(c);
}

void hs_cons_set_archive(hs_cons *c, long long seconds)
{
    c->archive_seconds = seconds > 0 ? seconds : 0;
}

/* archive/ into c->arch_fd, created when missing with `create`. */
static int need_archive(hs_cons *c, int create)
{
    int rfd, rc;

    if (c->arch_fd >= 0) return 0;
    rfd = open(c->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0) return -errno;
    rc = hs_archive_open(rfd, &c->root_st, c->opts.umask, c->root, create, &c->arch_fd);
    (void)hs_layout_close(rfd);   /* a directory: nothing pending */
    if (rc != 0) c->arch_fd = -1;
    return rc;
}

int hs_cons_prune_archive(hs_cons *c)
{
    int rc;

    if (c->archive_seconds <= 0) return 0;
    if ((rc = need_archive(c, 0)) == -ENOENT) return 0;
    if (rc == 0) rc = hs_archive_prune(c->arch_fd, c->archive_seconds, time(NULL), NULL);
    if (rc != 0) warn(c, "%s/%s: cannot delete old archived segments: %s", c->root,
                      hs_layout_dir_name(HS_DIR_ARCHIVE), hs_spool_strerror(rc));
    return rc;
}

/* A consumed claimed/name goes: into the archive first when there is
 * one (an archived copy already there, from a run killed before its
 * deletion, is kept), then deleted. 0 or -errno (-ENOENT: gone). */
static int remove_consumed(hs_cons *c, const char *name)
{
    int rc;

    if (c->archive_seconds > 0) {
        if ((rc = need_archive(c, 1)) != 0) return rc;
        rc = hs_archive_put(c->fd[D_CLAIMED], name, c->arch_fd, c->umask);
        if (rc != 0 && rc != -EEXIST) return rc;
    }
    return unlinkat(c->fd[D_CLAIMED], name, 0) != 0 ? -errno : 0;
}

int hs_cons_claim(hs_cons *c, long long max)
{
    seg_list l;
    long long taken = 0;
    size_t i;
    int rc, fd, failed = 0;

    if (seal_due(c) != 0) failed = 1;   /* the ready ones can still go */
    if (hs_cons_prune_archive(c) != 0) failed = 1;
    if ((rc = list_segs(c, D_READY, &l)) != 0) return rc;
    for (i = 0; i < l.n && (max <= 0 || taken < max); i++) {
        rc = take(c, l.name[i], &fd);
        if (rc == 1) continue;
        if (rc < 0) { failed = 1; continue; }
        release(fd);
        taken++;
        if (emit(c, c->sub[D_CLAIMED], l.name[i]) != 0) break;
    }
    hs_layout_names_free(&l);
    return c->out_failed ? -EIO : failed;
}

int hs_cons_requeue(hs_cons *c, long long older_than)
{
    seg_list l;
    struct stat st;
    time_t now = time(NULL);
    size_t i;
    int rc, fd, failed = 0;
    const char *cl = c->sub[D_CLAIMED];

    if ((rc = list_segs(c, D_CLAIMED, &l)) != 0) return rc;
    for (i = 0; i < l.n && !c->out_failed; i++) {
        const char *name = l.name[i];
        if ((rc = open_seg(c, D_CLAIMED, name, &fd)) != 0) {
            if (rc < 0) { warn(c, "%s/%s: %s", cl, name, hs_spool_strerror(rc)); failed = 1; }
            continue;
        }
        /* Busy: a running consume holds it (or a claim is setting its
         * time right now). Either way it is not abandoned. */
        if ((rc = lock_nb(fd)) != 0) {
            if (rc < 0) { warn(c, "%s/%s: cannot lock: %s", cl, name, hs_spool_strerror(rc)); failed = 1; }
            release(fd);
            continue;
        }
        /* The mtime is read under the lock: a claim sets it under the
         * lock too, so this is the claim time, not the sealing time. */
        if (older_than > 0) {
            if (fstat(fd, &st) != 0) {
                warn(c, "%s/%s: %s", cl, name, strerror(errno));
                failed = 1;
                release(fd);
                continue;
            }
            if ((long long)now - (long long)st.st_mtime < older_than) {
                release(fd);
                continue;
            }
        }
        rc = move(c, D_CLAIMED, D_READY, name);
        release(fd);
        if (rc == -ENOENT) continue;
        if (rc != 0) {
            warn(c, "cannot move %s/%s to %s/: %s", cl, name, c->sub[D_READY], hs_spool_strerror(rc));
            failed = 1;
            continue;
        }
        (void)emit(c, c->sub[D_READY], name);
    }
    hs_layout_names_free(&l);
    return c->out_failed ? -EIO : failed;
}

int hs_cons_done(hs_cons *c, const char *const *files, size_t n,
                 const char *keep_dir)
{
    char kpath[PATH_MAX], name[HS_SEG_NAME_MAX];
    size_t i;
    int kfd = -1, rc, failed = 0, store_warned = 0;

    if (keep_dir != NULL) {
        if (realpath(keep_dir, kpath) == NULL ||
            (kfd = open(kpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            rc = -errno;
            warn(c, "--keep %s: %s", keep_dir, hs_spool_strerror(rc));
            return rc;
        }
        if (strlen(kpath) + 1 + HS_SEG_NAME_MAX > PATH_MAX) {
            warn(c, "--keep %s: path too long", keep_dir);
            (void)hs_layout_close(kfd);
            return -ENAMETOOLONG;
        }
    }
    for (i = 0; i < n && !c->out_failed; i++) {
        if (in_dir(c, files[i], D_CLAIMED, name) != 0) {
            warn(c, "%s: not a segment in %s/", files[i], c->sub[D_CLAIMED]);
            failed = 1;
            continue;
        }
        if (kfd >= 0)
            rc = renameat2(c->fd[D_CLAIMED], name, kfd, name, RENAME_NOREPLACE) != 0 ? -errno : 0;
        else
            rc = remove_consumed(c, name);
        if (rc == -ENOENT) {
            /* Between our look and the act: requeued or done by another. */
            warn(c, "%s: not a segment in %s/ any more", files[i], c->sub[D_CLAIMED]);
            failed = 1;
            continue;
        }
        if (rc != 0) {
            warn(c, "%s: cannot %s: %s", files[i], kfd >= 0 ? "move it to --keep" :
                 c->archive_seconds > 0 ? "archive it" : "delete it",
                 hs_spool_strerror(rc));
            failed = 1;
            continue;
        }
        /* The segment is gone from claimed/ whatever happens to its
         * count: a count left behind is harmless (names are never used
         * again), so it is reported but does not fail the command. */
        if ((rc = need_store(c)) != 0) {
            if (!store_warned)
                warn(c, "cannot open %s/%s to clear attempt counts: %s (done anyway)",
                     c->root, HS_STORE_FILE, hs_spool_strerror(rc));
            store_warned = 1;
        } else if ((rc = hs_store_attempts_clear(c->st, name)) != 0) {
            warn(c, "%s: cannot clear its attempt count: %s (done anyway)", name, hs_spool_strerror(rc));
        }
        if (kfd >= 0) (void)emit(c, kpath, name);
    }
    /* A directory descriptor: nothing pending to lose. */
    if (kfd >= 0) (void)hs_layout_close(kfd);
    return c->out_failed ? -EIO : failed;
}

/* Move failed/name back to ready/ with its count reset. The count is
 * reset first: a segment moved with its old count would go straight
 * back to failed/ on its next failure. Returns 0 moved, 1 gone (someone
 * else retried it), or -errno (reported). */
static int retry_one(hs_cons *c, const char *name)
{
    int rc;

    if ((rc = hs_store_attempts_clear(c->st, name)) != 0) {
        warn(c, "%s/%s: cannot reset its attempt count: %s (left in failed/)",
             c->sub[D_FAILED], name, hs_spool_strerror(rc));
        return rc;
    }
    if ((rc = move(c, D_FAILED, D_READY, name)) == -ENOENT) return 1;
    if (rc != 0) {
        warn(c, "cannot move %s/%s to %s/: %s", c->sub[D_FAILED], name,
             c->sub[D_READY], hs_spool_strerror(rc));
        return rc;
    }
    (void)emit(c, c->sub[D_READY], name);
    return 0;
}

int hs_cons_retry_failed(hs_cons *c, const char *const *files, size_t n)
{
    char name[HS_SEG_NAME_MAX];
    seg_list l;
    size_t i;
    int rc, failed = 0;

    l.name = NULL;
    l.n = l.cap = 0;
    if (n == 0 && (rc = list_segs(c, D_FAILED, &l)) != 0) return rc;
    if (n == 0 && l.n == 0) return 0;   /* nothing to do: no store made */
    if ((rc = need_store(c)) != 0) {
        warn(c, "cannot open %s/%s to reset attempt counts: %s", c->root, HS_STORE_FILE,
             hs_spool_strerror(rc));
        hs_layout_names_free(&l);
        return rc;
    }
    if (n == 0) {
        for (i = 0; i < l.n && !c->out_failed; i++)
            if (retry_one(c, l.name[i]) < 0) failed = 1;
        hs_layout_names_free(&l);
        return c->out_failed ? -EIO : failed;
    }
    for (i = 0; i < n && !c->out_failed; i++) {
        if (in_dir(c, files[i], D_FAILED, name) != 0) {
            warn(c, "%s: not a segment in %s/", files[i], c->sub[D_FAILED]);
            failed = 1;
            continue;
        }
        rc = retry_one(c, name);
        if (rc == 1) warn(c, "%s: not a segment in %s/ any more", files[i], c->sub[D_FAILED]);
        if (rc != 0) failed = 1;
    }
    return c->out_failed ? -EIO : failed;
}

/* The environment for the command: ours without HOOKSPOOL_SEGMENT, plus
 * segvar (which the caller rewrites per segment). The array is the
 * caller's (free); its strings are not copied. */
static char **make_env(char *segvar)
{
    extern char **environ;
    size_t n = 0, k = 0, i, pl = sizeof(SEG_ENV "=") - 1;
    char **e;

    while (environ != NULL && environ[n] != NULL) n++;
    if ((e = calloc(n + 2, sizeof(*e))) == NULL) return NULL;
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], SEG_ENV "=", pl) != 0) e[k++] = environ[i];
    e[k++] = segvar;
    e[k] = NULL;
    return e;
}

void hs_cons_set_timeout(hs_cons *c, long long seconds)
{
    c->timeout = seconds >= 1 ? seconds : 1;
}

int hs_cons_find_command(const char *file)
{
    char dflt[256], cand[PATH_MAX];
    const char *path, *p;
    struct stat st;
    int rc = -ENOENT;
    size_t fl = strlen(file);

    if (fl == 0) return -ENOENT;
    if (strchr(file, '/') != NULL) {
        if (stat(file, &st) != 0) return -errno;
        if (!S_ISREG(st.st_mode) || faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) != 0)
            return -EACCES;
        return 0;
    }
    if ((path = getenv("PATH")) == NULL) {
        size_t n = confstr(_CS_PATH, dflt, sizeof(dflt));
        path = (n > 0 && n <= sizeof(dflt)) ? dflt : "/bin:/usr/bin";
    }
    for (p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t dl = (size_t)(end - p);
        /* An empty element is the working directory. */
        if (dl + 1 + fl < sizeof(cand)) {
            if (dl == 0) snprintf(cand, sizeof(cand), "%s", file);
            else snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, p, file);
            if (stat(cand, &st) == 0) {
                if (S_ISREG(st.st_mode) && faccessat(AT_FDCWD, cand, X_OK, AT_EACCESS) == 0)
                    return 0;
                rc = -EACCES;
            }
        }
        if (*end == '\0') break;
        p = end;
    }
    return rc;
}

/* Start argv with in_fd as its stdin, as the leader of a process group
 * of its own (so a timeout can stop it and everything it started), with
 * the signal mask `mask`. 0 with *pid, or -errno (glibc reports a failed
 * exec, e.g. -ENOENT, here rather than as exit 127). */
static int spawn(char *const argv[], char **envp, int in_fd, const sigset_t *mask, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0) return -rc;
    if ((rc = posix_spawnattr_init(&at)) != 0) {
        (void)posix_spawn_file_actions_destroy(&fa);   /* frees memory only */
        return -rc;
    }
    rc = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    if (rc == 0) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&at, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&at, mask);
    if (rc == 0) rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp);
    (void)posix_spawnattr_destroy(&at);              /* frees memory only */
    (void)posix_spawn_file_actions_destroy(&fa);
    return -rc;
}

/* How a supervised command ended. */
enum { CHILD_ENDED, CHILD_TIMED_OUT, CHILD_INTERRUPTED };

/*
 * Wait up to `seconds` for pid to end, without reaping it (its pid, so
 * its process group id, stays reserved until the caller reaps it). The
 * signals of `set` (SIGCHLD and the termination signals) are blocked by
 * the caller and taken here. Returns CHILD_ENDED, CHILD_TIMED_OUT,
 * CHILD_INTERRUPTED with *sig, or -errno.
 */
static int supervise(pid_t pid, long long seconds, const sigset_t *set, int *sig)
{
    struct timespec now, end, left;
    siginfo_t si;
    int s;

    if (clock_gettime(CLOCK_MONOTONIC, &end) != 0) return -errno;
    end.tv_sec += (time_t)seconds;
    for (;;) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (si.si_pid == pid) return CHILD_ENDED;
        if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) return -errno;
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            return CHILD_TIMED_OUT;
        left.tv_sec = end.tv_sec - now.tv_sec;
        left.tv_nsec = end.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) { left.tv_sec--; left.tv_nsec += 1000000000L; }
        s = sigtimedwait(set, NULL, &left);
        if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
            *sig = s;
            return CHILD_INTERRUPTED;
        }
        /* SIGCHLD, the time up (EAGAIN) or EINTR: look again. */
    }
}

/* Stop pid's process group: `first` (SIGTERM, or the signal passed on),
 * then SIGKILL after HS_CONS_KILL_GRACE_S seconds or once pid ended, so
 * what it left running dies too; pid is not reaped yet, so its group id
 * is still its own. */
static void stop_group(pid_t pid, int first, const sigset_t *set)
{
    int sig;
    (void)kill(-pid, first);            /* ESRCH: gone already */
    (void)supervise(pid, HS_CONS_KILL_GRACE_S, set, &sig);
    (void)kill(-pid, SIGKILL);
}

static int wait_for(pid_t pid, int *status)
{
    for (;;) {
        if (waitpid(pid, status, 0) == pid) return 0;
        if (errno != EINTR) return -errno;
    }
}

/* An exec error that says the command itself cannot be run. */
static int bad_command_errno(int e)
{
    return e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR || e == ELOOP ||
           e == EISDIR || e == ENAMETOOLONG || e == EPERM || e == ETXTBSY;
}

/* The command succeeded on claimed/name: delete it, clear its count,
 * report it. Under the segment's lock. */
static int finish_ok(hs_cons *c, const char *name, const char *path)
{
    int rc;

    /* ENOENT: an operator ran `done` on it meanwhile; it is gone either way. */
    if ((rc = remove_consumed(c, name)) != 0 && rc != -ENOENT) {
        warn(c, "%s: consumed, but cannot %s it: %s", path,
             c->archive_seconds > 0 ? "archive" : "delete", hs_spool_strerror(rc));
        return rc;
    }
    if ((rc = hs_store_attempts_clear(c->st, name)) != 0)
        warn(c, "%s: cannot clear its attempt count: %s (consumed anyway)", name, hs_spool_strerror(rc));
    (void)emit(c, c->sub[D_CLAIMED], name);
    return 0;
}

/* The command failed on claimed/name (how: "exited 3", ...): count the
 * attempt, move the segment back to ready/ or, at max_attempts, to
 * failed/, report it. Under the segment's lock. */
static void finish_failed(hs_cons *c, const char *name, const char *path,
                          const char *cmd, const char *how, long long max_attempts)
{
    int64_t n = 0;
    int rc, dest = D_READY;

    rc = hs_store_attempts_add(c->st, name, &n);
    if (rc != 0) {
        /* Uncounted, it goes back to ready/: dead-lettering it needs a
         * count, and holding it in claimed/ would only delay the retry. */
        warn(c, "%s %s on %s (attempt not counted: %s)", cmd, how, path, hs_spool_strerror(rc));
    } else if (n >= max_attempts) {
        dest = D_FAILED;
    }
    rc = move(c, D_CLAIMED, dest, name);
    if (n > 0 && dest == D_FAILED && rc == 0)
        warn(c, "%s %s on %s (attempt %lld of %lld): moved to %s/", cmd, how, path,
             (long long)n, max_attempts, c->sub[D_FAILED]);
    else if (n > 0)
        warn(c, "%s %s on %s (attempt %lld of %lld)", cmd, how, path,
             (long long)n, max_attempts);
    /* ENOENT: an operator's `done` removed it meanwhile; nothing to move. */
    if (rc != 0 && rc != -ENOENT)
        warn(c, "cannot move %s to %s/: %s (left in claimed/)", path, c->sub[dest],
             hs_spool_strerror(rc));
}

/* Put claimed/name back in ready/ untouched: no count, since the
 * segment was not at fault. Under the segment's lock. */
static void put_back(hs_cons *c, const char *name, const char *path)
{
    int rc = move(c, D_CLAIMED, D_READY, name);
    if (rc != 0 && rc != -ENOENT)
        warn(c, "cannot move %s back to %s/: %s (left in claimed/)", path, c->sub[D_READY],
             strerror(-rc));
}

/*
 * Run argv on claimed/name, which the caller has taken and whose lock
 * lfd holds, and settle the segment. The command gets a descriptor of
 * its own (a fresh open file description at offset 0): sharing ours
 * would share the lock, which a command's stray background child could
 * then keep past our release. 0 consumed, 1 failed (counted), or, with
 * the segment put back uncounted, HS_CONS_BAD_COMMAND, -EINTR or -errno.
 */
static int run_one(hs_cons *c, const char *name, int lfd, char *const argv[],
                   char **envp, char *segvar, size_t segvar_len, long long max_attempts)
{
    char path[PATH_MAX], how[HS_CONS_MSG_MAX];
    struct stat a, b;
    sigset_t set, old;
    pid_t pid;
    int ifd, rc, end, sig = 0, status = 0;

    if (snprintf(path, sizeof(path), "%s/%s", c->sub[D_CLAIMED], name) >= (int)sizeof(path) ||
        snprintf(segvar, segvar_len, SEG_ENV "=%s", path) >= (int)segvar_len) {
        warn(c, "%s/%s: path too long", c->sub[D_CLAIMED], name);
        return -ENAMETOOLONG;
    }
    ifd = openat(c->fd[D_CLAIMED], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (ifd < 0 || fstat(ifd, &a) != 0 || fstat(lfd, &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        /* Deleted or replaced under us (an operator's `done`): there is
         * nothing left to run the command on. */
        rc = ifd < 0 ? -errno : -ESTALE;
        warn(c, "%s: gone from claimed/ before the command ran: %s", path, hs_spool_strerror(rc));
        if (ifd >= 0) release(ifd);
        return rc;
    }
    /* SIGCHLD and the termination signals are taken by supervise() while
     * the command runs; the command starts with the mask we had. */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if ((rc = sigprocmask(SIG_BLOCK, &set, &old)) != 0) {
        rc = -errno;
        release(ifd);
        warn(c, "cannot block signals: %s", strerror(-rc));
        put_back(c, name, path);
        return rc;
    }
    rc = spawn(argv, envp, ifd, &old, &pid);
    release(ifd);
    if (rc != 0) {
        /* The command never started: the segment is not at fault. */
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        if (bad_command_errno(-rc)) {
            warn(c, "%s cannot be run: %s (nothing taken: %s put back in ready/)", argv[0],
                 strerror(-rc), name);
            rc = HS_CONS_BAD_COMMAND;
        } else {
            warn(c, "%s could not be started: %s (%s put back in ready/)", argv[0],
                 strerror(-rc), name);
        }
        put_back(c, name, path);
        return rc;
    }
    end = supervise(pid, c->timeout, &set, &sig);
    if (end == CHILD_TIMED_OUT) stop_group(pid, SIGTERM, &set);
    else if (end == CHILD_INTERRUPTED) stop_group(pid, sig, &set);
    else if (end < 0) stop_group(pid, SIGKILL, &set);   /* cannot watch it: end it */
    rc = wait_for(pid, &status);
    (void)sigprocmask(SIG_SETMASK, &old, NULL);   /* a pending signal acts now */
    if (end == CHILD_INTERRUPTED) {
        warn(c, "interrupted by signal %d: %s stopped, %s put back in ready/", sig, argv[0],
             path);
        put_back(c, name, path);
        return -EINTR;
    }
    if (rc != 0) {
        /* Cannot happen unless SIGCHLD is ignored; the outcome is unknown,
         * so the segment is treated as failed and retried. */
        snprintf(how, sizeof(how), "was not waited for (%s)", hs_spool_strerror(rc));
    } else if (end == CHILD_TIMED_OUT) {
        snprintf(how, sizeof(how), "ran longer than --timeout %lld s and was killed", c->timeout);
    } else if (end < 0) {
        snprintf(how, sizeof(how), "could not be watched (%s) and was killed", strerror(-end));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return finish_ok(c, name, path);
    } else if (WIFEXITED(status)) {
        snprintf(how, sizeof(how), "exited %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(how, sizeof(how), "ended with status 0x%x", (unsigned)status);
    }
    finish_failed(c, name, path, argv[0], how, max_attempts);
    return 1;
}

int hs_cons_consume(hs_cons *c, long long max, long long max_attempts,
                    char *const argv[])
{
    char segvar[sizeof(SEG_ENV "=") + PATH_MAX];
    char **envp;
    seg_list l;
    long long taken = 0;
    size_t i;
    int rc, fd, failed = 0, stop = 0;

    if (argv == NULL || argv[0] == NULL || max_attempts < 1) {
        warn(c, "no command, or --max-attempts below 1");
        return -EINVAL;
    }
    /* A command that is not there is the operator's mistake, not the
     * segments': say so before taking anything, even with nothing to do. */
    if ((rc = hs_cons_find_command(argv[0])) != 0) {
        warn(c, "%s cannot be run: %s (nothing taken)", argv[0], strerror(-rc));
        return HS_CONS_BAD_COMMAND;
    }
    if (seal_due(c) != 0) failed = 1;   /* the ready ones can still go */
    if ((rc = list_segs(c, D_READY, &l)) != 0) return rc;
    if (l.n == 0) {
        hs_layout_names_free(&l);     /* nothing to do: not even the store is made */
        return failed;
    }
    if ((rc = need_store(c)) != 0) {
        warn(c, "cannot open %s/%s to count attempts: %s (nothing taken)", c->root,
             HS_STORE_FILE, hs_spool_strerror(rc));
        hs_layout_names_free(&l);
        return rc;
    }
    segvar[0] = '\0';
    if ((envp = make_env(segvar)) == NULL) {
        warn(c, "out of memory");
        hs_layout_names_free(&l);
        return -ENOMEM;
    }
    for (i = 0; i < l.n && (max <= 0 || taken < max) && !c->out_failed; i++) {
        rc = take(c, l.name[i], &fd);
        if (rc == 1) continue;
        if (rc < 0) { failed = 1; continue; }
        taken++;
        rc = run_one(c, l.name[i], fd, argv, envp, segvar, sizeof(segvar), max_attempts);
        release(fd);   /* only now: after the final move or deletion */
        if (rc == HS_CONS_BAD_COMMAND || rc == -EINTR) {
            stop = rc;   /* take nothing more */
            break;
        }
        if (rc != 0) failed = 1;
    }
    hs_layout_names_free(&l);
    free(envp);
    if (stop != 0) return stop;
    return c->out_failed ? -EIO : failed;
}
