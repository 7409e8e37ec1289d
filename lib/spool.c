#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "layout.h"

#define TAIL_CHUNK      4096
#define SEAL_TRIES      4
#define MKDIR_DEPTH_MAX 64

struct hs_spool {
    char     path[PATH_MAX];
    struct stat root_st;           /* the spool directory, as opened */
    mode_t   umask;
    int      root_fd, active_fd, ready_fd, lock_fd;
    int      root_known;           /* root_dev/root_ino read (hs_spool_valid) */
    dev_t    root_dev;
    ino_t    root_ino;
    /* The active segment as this handle last saw it: its name and inode.
     * seg_fd is open only inside one lock hold, once the segment was
     * checked to be active/<seg_name> in that hold; between operations
     * the descriptor waits in kept_fd, and the next hold checks the name
     * with one statx instead of an openat, a statx and a close (4-5 us
     * of a 35 us request, issue 18). An idle process must not pin a
     * sealed segment that a consumer has deleted (on a small quota that
     * space is needed back at once): hs_spool_idle closes kept_fd, and
     * FastCGI calls it when a worker finds no request waiting. */
    int      seg_fd;
    int      kept_fd;
    char     seg_name[HS_SEG_NAME_MAX];
    dev_t    seg_dev;
    ino_t    seg_ino;
    time_t   seg_created;          /* its first line's arrival, wall clock */
    uint64_t now_us;               /* the clock read with the last stamp */
    char     host[HS_HOST_MAX + 1];
    char     tag[HS_TAG_LEN + 1];
    uint64_t repaired;
    hs_flusher *flusher;   /* not owned */
    /* SPOOL/lock's first page, mapped shared, for its wake-up words
     * (HS_LOCK_WAKE_OFF; NULL: not mapped, waiters poll); and how this
     * handle's waits for the lock ended (hs_spool_lock_waits). */
    void    *wake_map;
    size_t   wake_len;
    int      wake_tried;           /* map_wake ran (once, at the first lock) */
    uint64_t waits_woken, waits_timed_out;
    /* The file lock_fd has open (open_lock), and the stamp read from a
     * lock file that was deleted or replaced under us (lock_moved): the
     * next stamps follow it, so ids stay ordered into the new file. */
    dev_t    lock_dev;
    ino_t    lock_ino;
    uint64_t carried_stamp;
    /* This handle made SPOOL/lock again in a spool that had one: its
     * next hold waits HS_LOCK_GRACE_MS first (lock_spool). */
    int      lock_grace;
};

const char *hs_spool_path(const hs_spool *sp) { return sp->path; }

void hs_spool_id(const hs_spool *sp, dev_t *dev, ino_t *ino)
{
    *dev = sp->root_st.st_dev;
    *ino = sp->root_st.st_ino;
}

static _Thread_local char problem[PATH_MAX + 160];

const char *hs_spool_problem(void) { return problem; }

const char *hs_spool_strerror(int neg_errno)
{
    return neg_errno == -HS_EUNTRUSTED && problem[0] ? problem : strerror(-neg_errno);
}

static int untrusted(const char *what, const char *why)
{
    snprintf(problem, sizeof(problem), "%s %s", what, why);
    return -HS_EUNTRUSTED;
}

/* Is gid the effective group or a supplementary one? */
static int in_our_groups(gid_t gid)
{
    gid_t g[256];
    int n, i;
    if (gid == getegid()) return 1;
    n = getgroups((int)(sizeof(g) / sizeof(g[0])), g);
    for (i = 0; i < n; i++)
        if (g[i] == gid) return 1;
    return 0;
}

/* Group and others may write only what the umask allows. */
static int mode_problem(const struct stat *st, mode_t umask, const char *what)
{
    char why[96];
    if ((st->st_mode & 022 & umask) == 0) return 0;
    snprintf(why, sizeof(why), "is writable by %s (mode %04o, HOOKSPOOL_UMASK %03o)",
             (st->st_mode & 002 & umask) ? "others" : "its group",
             (unsigned)(st->st_mode & 07777), (unsigned)umask);
    return untrusted(what, why);
}

int hs_spool_trust_root(const struct stat *st, mode_t umask, const char *path)
{
    char why[96];
    uid_t me = geteuid();
    if (!S_ISDIR(st->st_mode)) return untrusted(path, "is not a directory");
    if (st->st_uid != me && me != 0 && !((umask & 020) == 0 && in_our_groups(st->st_gid))) {
        snprintf(why, sizeof(why), "is owned by uid %ld, not by this user (uid %ld)",
                 (long)st->st_uid, (long)me);
        return untrusted(path, why);
    }
    return mode_problem(st, umask, path);
}

int hs_spool_trust_part(const struct stat *st, mode_t type, const struct stat *root,
                        mode_t umask, const char *what)
{
    char why[128];
    uid_t me = geteuid();
    if (S_ISLNK(st->st_mode)) return untrusted(what, "is a symbolic link");
    if ((st->st_mode & S_IFMT) != type)
        return untrusted(what, type == S_IFDIR ? "is not a directory" : "is not a regular file");
    if (st->st_uid != me && st->st_uid != root->st_uid && st->st_uid != 0 &&
        !((umask & 020) == 0 && st->st_gid == root->st_gid)) {
        snprintf(why, sizeof(why), "is owned by uid %ld, neither this user (uid %ld) nor the "
                 "spool's owner (uid %ld)", (long)st->st_uid, (long)me, (long)root->st_uid);
        return untrusted(what, why);
    }
    return mode_problem(st, umask, what);
}

int hs_spool_trust_path(const char *spool, const char *name, mode_t type, mode_t umask)
{
    char path[PATH_MAX];
    struct stat root, st;
    int rc;

    if (lstat(spool, &root) != 0) return -errno;
    if (S_ISLNK(root.st_mode)) return untrusted(spool, "is a symbolic link");
    if ((rc = hs_spool_trust_root(&root, umask, spool)) != 0) return rc;
    if (snprintf(path, sizeof(path), "%s/%s", spool, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    if (lstat(path, &st) != 0) return -errno;
    return hs_spool_trust_part(&st, type, &root, umask, path);
}

int hs_spool_open_file(hs_spool *sp, const char *name, int *fd, struct stat *st)
{
    char what[PATH_MAX + 16];
    int rc;

    snprintf(what, sizeof(what), "%s/%s", sp->path, name);
    if ((rc = hs_layout_open_rw(sp->root_fd, name, 0666 & ~sp->umask & 07777, fd)) != 0) {
        if (rc == -ELOOP && fstatat(sp->root_fd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
            rc = hs_spool_trust_part(st, S_IFREG, &sp->root_st, sp->umask, what);
        return rc;
    }
    if (fstat(*fd, st) != 0) { rc = -errno; goto fail; }
    if ((rc = hs_spool_trust_part(st, S_IFREG, &sp->root_st, sp->umask, what)) != 0) goto fail;
    return 0;
fail:
    (void)close(*fd);   /* failing already */
    *fd = -1;
    return rc;
}

/* Open dir/name, a directory of the spool, without following a symlink,
 * and check it. Returns the descriptor or a negative errno. */
static int open_part_dir(hs_spool *sp, int dfd, const char *name)
{
    char what[PATH_MAX + 16];
    struct stat st;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc;

    snprintf(what, sizeof(what), "%s/%s", sp->path, name);
    if (fd < 0) {
        rc = -errno;
        if ((rc == -ELOOP || rc == -ENOTDIR) &&
            fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return hs_spool_trust_part(&st, S_IFDIR, &sp->root_st, sp->umask, what);
        return rc;
    }
    if (fstat(fd, &st) != 0) rc = -errno;
    else rc = hs_spool_trust_part(&st, S_IFDIR, &sp->root_st, sp->umask, what);
    if (rc != 0) { (void)close(fd); return rc; }
    return fd;
}

void hs_spool_set_flusher(hs_spool *sp, hs_flusher *f) { sp->flusher = f; }

int hs_spool_valid(hs_spool *sp)
{
    struct stat st;
    if (!sp->root_known) {
        if (fstat(sp->root_fd, &st) != 0) return 0;
        sp->root_dev = st.st_dev;
        sp->root_ino = st.st_ino;
        sp->root_known = 1;
    }
    return stat(sp->path, &st) == 0 && st.st_dev == sp->root_dev && st.st_ino == sp->root_ino;
}

uint64_t hs_spool_take_repaired(hs_spool *sp)
{
    uint64_t r = sp->repaired;
    sp->repaired = 0;
    return r;
}

static int fsync_dir(int dfd) { return fsync(dfd) != 0 ? -errno : 0; }

/* mkdir that reports whether it created; the mode is set explicitly. */
static int mkdir_at(int dfd, const char *name, mode_t mode, int *created)
{
    *created = 0;
    if (mkdirat(dfd, name, mode) == 0) {
        *created = 1;
        if (fchmodat(dfd, name, mode, 0) != 0) return -errno;
        return 0;
    }
    return errno == EEXIST ? 0 : -errno;
}

/* Create path and its missing parents (like mkdir -p), flushing each
 * parent whose entries changed when fsync_always. */
static int mkdir_p(const char *path, mode_t mode, int fsync_always)
{
    char buf[PATH_MAX];
    size_t n = strlen(path), i;
    int created, rc;

    if (n == 0 || n >= sizeof(buf) || path[0] != '/') return -EINVAL;
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        buf[i] = '\0';
        rc = mkdir_at(AT_FDCWD, buf, mode, &created);
        if (rc == 0 && created && fsync_always) {
            char *slash = strrchr(buf, '/');
            char parent[PATH_MAX];
            int pfd;
            size_t pl = (size_t)(slash - buf);
            if (pl == 0) pl = 1;
            memcpy(parent, buf, pl);
            parent[pl] = '\0';
            pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (pfd < 0) rc = -errno;
            else {
                rc = fsync_dir(pfd);
                if (hs_layout_close(pfd) != 0 && rc == 0) rc = -EIO;
            }
        }
        if (i < n) buf[i] = '/';
        if (rc != 0) return rc;
    }
    return 0;
}

int hs_spool_tag(const char *host, const char *path, char tag[HS_TAG_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    const EVP_MD *sha = hs_crypto_sha256();
    int ok, i;

    if (c == NULL) return -ENOMEM;
    ok = sha != NULL && EVP_DigestInit_ex(c, sha, NULL) == 1 &&
         EVP_DigestUpdate(c, host, strlen(host) + 1) == 1 &&
         EVP_DigestUpdate(c, path, strlen(path)) == 1 &&
         EVP_DigestFinal_ex(c, md, &mdlen) == 1;
    EVP_MD_CTX_free(c);
    if (!ok || mdlen < HS_TAG_LEN / 2) return -EIO;
    for (i = 0; i < HS_TAG_LEN / 2; i++) {
        tag[2 * i] = hex[md[i] >> 4];
        tag[2 * i + 1] = hex[md[i] & 15];
    }
    tag[HS_TAG_LEN] = '\0';
    return 0;
}

/*
 * Waiting for the lock. flock has no timeout, and a process stuck
 * holding the lock must not hang every request (HS_LOCK_TIMEOUT_MS), so
 * waiters try flock without blocking. Between tries they sleep on a
 * futex in SPOOL/lock (HS_LOCK_WAKE_OFF: seq, counted up by every
 * unlock, and the number of waiters), and whoever unlocks wakes one
 * when there are waiters. Issue 18: with a back-off of sleeps instead
 * (20 us doubling to 1.3 ms, longer with the timer's slack) the lock sat
 * free while the next writer slept; a blocking flock answered 7-8% more
 * requests a second with fsync=never, which this gets without giving up
 * the timeout. The words decide nothing: a lost wake-up (a holder killed
 * between its unlock and its wake, words a crash left wrong, a lock file
 * replaced) costs a waiter at most HS_LOCK_WAKE_MS before it tries again.
 */
typedef struct lock_wake {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
} lock_wake;

_Static_assert(sizeof(lock_wake) == HS_LOCK_WAKE_END - HS_LOCK_WAKE_OFF, "the words' layout");

static lock_wake *wake_words(const hs_spool *sp)
{
    return sp->wake_map == NULL ? NULL
           : (lock_wake *)(void *)((char *)sp->wake_map + HS_LOCK_WAKE_OFF);
}

/* Map the lock file's first page for its words. A file too short to
 * hold them gets them written (zeros), not a hole made by ftruncate: a
 * write through the map to a page the filesystem has no block for is a
 * SIGBUS when it is full (test_low_room); written, the block is there,
 * or the write fails and nothing is mapped. The file only ever grows (no
 * one truncates it), so the mapping can never fault. At a handle's
 * first lock (and its first after the descriptor was opened again), so
 * what never locks (the status, a consumer) never maps. Best effort: a
 * handle without the map polls, and reads and writes the stamp. */
static void map_wake(hs_spool *sp)
{
    static const unsigned char zeros[HS_LOCK_WAKE_END - HS_LOCK_WAKE_OFF];
    long page = sysconf(_SC_PAGESIZE);
    struct stat st;
    ssize_t r;
    void *m;

    if (page < HS_LOCK_WAKE_END || fstat(sp->lock_fd, &st) != 0) return;
    if (st.st_size < HS_LOCK_WAKE_END) {
        do r = pwrite(sp->lock_fd, zeros, sizeof(zeros), HS_LOCK_WAKE_OFF);
        while (r < 0 && errno == EINTR);
        if (r != (ssize_t)sizeof(zeros)) return;
    }
    m = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, sp->lock_fd, 0);
    if (m == MAP_FAILED) return;
    sp->wake_map = m;
    sp->wake_len = (size_t)page;
}

/* Drop the lock file's page (with its descriptor, or at close); the
 * next lock maps the file it opens. */
static void unmap_wake(hs_spool *sp)
{
    /* Fails only for a range not mapped, which this one is. */
    if (sp->wake_map != NULL) (void)munmap(sp->wake_map, sp->wake_len);
    sp->wake_map = NULL;
    sp->wake_len = 0;
    sp->wake_tried = 0;
}

/* One wait for the lock, at most left_ms: 1 when it took the lock, 0 to
 * try again (woken, or the wait ran out), or a negative errno. */
static int wake_wait(hs_spool *sp, long left_ms)
{
    lock_wake *w = wake_words(sp);
    long ms = left_ms < HS_LOCK_WAKE_MS ? left_ms : HS_LOCK_WAKE_MS;
    struct timespec d;
    uint32_t seq;
    long r;
    int e;

    seq = atomic_load(&w->seq);
    atomic_fetch_add(&w->waiters, 1);
    /* Counted before this try: an unlock after it sees the count and wakes. */
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        atomic_fetch_sub(&w->waiters, 1);
        return 1;
    }
    e = errno;
    if (e != EWOULDBLOCK && e != EINTR) {
        atomic_fetch_sub(&w->waiters, 1);
        return -e;
    }
    d.tv_sec = ms / 1000;
    d.tv_nsec = (ms % 1000) * 1000000L;
    /* Returns at once when seq has moved since it was read. */
    r = syscall(SYS_futex, &w->seq, FUTEX_WAIT, seq, &d, NULL, 0);
    e = errno;
    atomic_fetch_sub(&w->waiters, 1);
    if (r == 0 || e == EAGAIN) sp->waits_woken++;
    else if (e == ETIMEDOUT) sp->waits_timed_out++;
    return 0;
}

/* After the unlock: count it, and wake one waiter if any wait. */
static void wake_one(hs_spool *sp)
{
    lock_wake *w = wake_words(sp);
    if (w == NULL) return;
    atomic_fetch_add(&w->seq, 1);
    /* Nothing to do if it fails: the waiter tries again by itself. */
    if (atomic_load(&w->waiters) != 0) (void)syscall(SYS_futex, &w->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void hs_spool_lock_waits(const hs_spool *sp, uint64_t *woken, uint64_t *timed_out)
{
    *woken = sp->waits_woken;
    *timed_out = sp->waits_timed_out;
}

/* SPOOL/lock into sp->lock_fd (opened unless it is open), checked as
 * every spool file is (hs_spool_trust_part), and never through a
 * symbolic link: the stamp is written into whatever file this is. At
 * hs_spool_open, and at the lock after an unlock failed (unlock_spool
 * dropped the descriptor), so a lock opened again is held to the same
 * rules. 0, or a negative errno (-HS_EUNTRUSTED) with lock_fd -1. */
static int open_lock(hs_spool *sp)
{
    char what[PATH_MAX + 16];
    struct stat st;
    int rc;

    snprintf(what, sizeof(what), "%s/%s", sp->path, HS_LAYOUT_LOCK);
    if (sp->lock_fd < 0) {
        sp->lock_fd = openat(sp->root_fd, HS_LAYOUT_LOCK, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (sp->lock_fd < 0) {
            rc = -errno;
            if (rc == -ELOOP && fstatat(sp->root_fd, HS_LAYOUT_LOCK, &st, AT_SYMLINK_NOFOLLOW) == 0)
                rc = hs_spool_trust_part(&st, S_IFREG, &sp->root_st, sp->umask, what);
            return rc;
        }
    }
    rc = fstat(sp->lock_fd, &st) != 0 ? -errno
         : hs_spool_trust_part(&st, S_IFREG, &sp->root_st, sp->umask, what);
    if (rc != 0) {
        (void)hs_layout_close(sp->lock_fd);
        sp->lock_fd = -1;
        return rc;
    }
    sp->lock_dev = st.st_dev;
    sp->lock_ino = st.st_ino;
    return 0;
}

/* SPOOL/lock made when it is missing (mode 0666 less the umask, never
 * through a symbolic link), into sp->lock_fd; 0 when it was made or
 * another process made it first (lock_fd then still -1: open_lock
 * opens it), or a negative errno. *made says whether this call made it. */
static int make_lock(hs_spool *sp, int *made)
{
    mode_t fmode = 0666 & ~sp->umask;
    *made = 0;
    sp->lock_fd = openat(sp->root_fd, HS_LAYOUT_LOCK,
                         O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fmode);
    if (sp->lock_fd < 0) return errno == EEXIST ? 0 : -errno;
    *made = 1;
    /* Exactly fmode, whatever the process' own umask. */
    return fchmod(sp->lock_fd, fmode) != 0 ? -errno : 0;
}

/* SPOOL/lock of a spool that has lost it (lock_moved, hs_spool_open):
 * made (make_lock) or, when another process made it first, opened
 * (open_lock). A lock file's name need not survive a power cut (the
 * next open makes it again), so the directory is not flushed. 0, or a
 * negative errno with lock_fd -1. */
static int reopen_lock(hs_spool *sp)
{
    int rc, made;

    if ((rc = make_lock(sp, &made)) == 0) {
        sp->lock_grace |= made;
        return open_lock(sp);       /* checks the file made, too */
    }
    (void)hs_layout_close(sp->lock_fd);
    sp->lock_fd = -1;
    return rc;
}

int hs_spool_open(const char *path, const hs_spool_opts *opts, int create,
                  hs_spool **out)
{
    hs_spool *sp;
    mode_t dmode = 0777 & ~opts->umask;
    int rc, created, i, any = 0;
    size_t n = strlen(path);

    *out = NULL;
    if (n == 0 || n >= PATH_MAX || path[0] != '/') return -EINVAL;
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) return -ENOMEM;
    sp->root_fd = sp->active_fd = sp->ready_fd = sp->lock_fd = sp->seg_fd = sp->kept_fd = -1;
    memcpy(sp->path, path, n + 1);
    hs_layout_host(sp->host);
    if ((rc = hs_spool_tag(sp->host, path, sp->tag)) != 0) goto fail;

    /* The directory usually exists: open it first, and walk the path
     * making each component only when it does not (a CGI process opens
     * the spool on every request). Never through a symlink, and only a
     * directory this process may trust (see spool.h). */
    sp->umask = opts->umask;
    problem[0] = '\0';
    sp->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sp->root_fd < 0 && errno == ENOENT && create) {
        if ((rc = mkdir_p(path, dmode, opts->fsync_always)) != 0) goto fail;
        sp->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (sp->root_fd < 0) {
        struct stat lst;
        rc = -errno;
        if ((rc == -ELOOP || rc == -ENOTDIR) && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            rc = untrusted(path, "is a symbolic link");
        goto fail;
    }
    if (fstat(sp->root_fd, &sp->root_st) != 0) { rc = -errno; goto fail; }
    if ((rc = hs_spool_trust_root(&sp->root_st, opts->umask, path)) != 0) goto fail;
    if (create) {
        for (i = 0; i < HS_DIR_COUNT; i++) {
            if ((rc = mkdir_at(sp->root_fd, hs_layout_dir_name((hs_layout_dir)i), dmode,
                               &created)) != 0)
                goto fail;
            any |= created;
        }
        if ((rc = make_lock(sp, &created)) != 0) goto fail;
        /* Every directory there, and no lock file: it was removed. */
        sp->lock_grace = created && !any;
        any |= created;
        if (any && opts->fsync_always && (rc = fsync_dir(sp->root_fd)) != 0) goto fail;
    }
    /* The directories not kept open are checked as they are (a consumer
     * opens them itself, checking again). */
    for (i = 0; i < HS_DIR_COUNT; i++) {
        const char *sub = hs_layout_dir_name((hs_layout_dir)i);
        struct stat st;
        char what[PATH_MAX + 16];
        if ((1u << i) & HS_DIRS_APPEND) continue;   /* opened below */
        if (fstatat(sp->root_fd, sub, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT && !create) continue;
            rc = -errno;
            goto fail;
        }
        snprintf(what, sizeof(what), "%s/%s", path, sub);
        if ((rc = hs_spool_trust_part(&st, S_IFDIR, &sp->root_st, opts->umask, what)) != 0)
            goto fail;
    }
    /* A lock file missing from a spool that has its directories was
     * deleted (lock_moved): made again below, once they are opened, so
     * a directory that is no spool gets none. */
    if ((rc = open_lock(sp)) != 0 && (rc != -ENOENT || create)) goto fail;
    if ((sp->active_fd = open_part_dir(sp, sp->root_fd, hs_layout_dir_name(HS_DIR_ACTIVE))) < 0) {
        rc = sp->active_fd;
        sp->active_fd = -1;
        goto fail;
    }
    if ((sp->ready_fd = open_part_dir(sp, sp->root_fd, hs_layout_dir_name(HS_DIR_READY))) < 0) {
        rc = sp->ready_fd;
        sp->ready_fd = -1;
        goto fail;
    }
    if (sp->lock_fd < 0 && (rc = reopen_lock(sp)) != 0) goto fail;
    *out = sp;
    return 0;
fail:
    hs_spool_close(sp);
    return rc;
}

void hs_spool_close(hs_spool *sp)
{
    if (sp == NULL) return;
    /* Nothing is pending on these descriptors: every write was flushed
     * (or reported) by the request that made it, so close errors here
     * cannot lose an acknowledged event. */
    (void)hs_layout_close(sp->seg_fd);
    (void)hs_layout_close(sp->kept_fd);
    (void)hs_layout_close(sp->lock_fd);
    (void)hs_layout_close(sp->ready_fd);
    (void)hs_layout_close(sp->active_fd);
    (void)hs_layout_close(sp->root_fd);
    unmap_wake(sp);
    free(sp);
}

/* Unlock the file locked. It cannot usefully fail: if flock(LOCK_UN)
 * does, closing the descriptor releases the lock anyway (its open file
 * description is ours alone), and the next operation reopens it
 * (open_lock). So a line already written is never answered 503 for
 * this. Then one waiter is woken, through the page of the file that was
 * locked; that page goes with its descriptor, as the next lock may open
 * another file (the stamp lives there too: next_stamps). */
static void release_lock(hs_spool *sp)
{
    int r;
    do r = flock(sp->lock_fd, LOCK_UN); while (r != 0 && errno == EINTR);
    if (r != 0) {
        (void)hs_layout_close(sp->lock_fd);
        sp->lock_fd = -1;
    }
    wake_one(sp);
    if (sp->lock_fd < 0) unmap_wake(sp);
}

/* The stamp stored in the lock file lock_fd has open (0 when it holds
 * none), read through the mapped page when there is one. Under the lock. */
static int stamp_read(const hs_spool *sp, uint64_t *last)
{
    unsigned char b[8];
    ssize_t r;
    int i;

    *last = 0;
    if (sp->wake_map != NULL) {
        memcpy(b, sp->wake_map, sizeof(b));
        r = (ssize_t)sizeof(b);
    } else {
        do r = pread(sp->lock_fd, b, sizeof(b), 0); while (r < 0 && errno == EINTR);
        if (r < 0) return -errno;
    }
    /* A file shorter than a stamp holds none (a new lock file). */
    if (r == (ssize_t)sizeof(b))
        for (i = 7; i >= 0; i--) *last = (*last << 8) | b[i];
    return 0;
}

/*
 * Just after flock took the lock: is the file locked still the one
 * SPOOL/lock names? An operator may delete the lock file or move it
 * away as if it were stale; a process opened after that makes a new
 * one (hs_spool_open), and the writers with the old file and those with
 * the new would no longer exclude each other, ever: a `rotate` sealing
 * the segment a FastCGI worker is appending to, two appends deciding
 * against the same tail. So every lock looks (one fstatat under the
 * lock), and a handle that finds another file there, or none, lets the
 * old one go (waking a waiter on it, who then moves too), opens or
 * makes the one named, maps it and locks again. Only a critical
 * section under way on the old file when a new handle made the new one
 * could overlap the new file's first: that handle waits it out
 * (lock_grace). The old file's stamp is carried over
 * (carried_stamp, next_stamps), so ids stay ordered. Returns 1 when the
 * lock held is SPOOL/lock's, 0 when the handle moved (lock again), or a
 * negative errno (the old lock released).
 */
static int lock_moved(hs_spool *sp)
{
    struct stat st;
    uint64_t last = 0;
    int rc;

    if (fstatat(sp->root_fd, HS_LAYOUT_LOCK, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (st.st_dev == sp->lock_dev && st.st_ino == sp->lock_ino) return 1;
    } else if (errno != ENOENT) {
        rc = -errno;
        goto release;
    }
    if (stamp_read(sp, &last) == 0 && last > sp->carried_stamp) sp->carried_stamp = last;
    rc = 0;
release:
    release_lock(sp);
    (void)hs_layout_close(sp->lock_fd);     /* -1 already when the unlock failed */
    sp->lock_fd = -1;
    unmap_wake(sp);
    if (rc != 0) return rc;
    if ((rc = reopen_lock(sp)) != 0) return rc;
    sp->wake_tried = 1;
    map_wake(sp);
    return 0;
}

/* The first hold on a lock file this handle made again (reopen_lock,
 * hs_spool_open): a writer that still had the removed file may be
 * inside its critical section, which nothing can exclude; after
 * HS_LOCK_GRACE_MS it is over (sections last milliseconds), and every
 * later holder of the old file moves to this one (lock_moved) and
 * waits behind it. Once per removal, so the one request that waits
 * costs nothing else. */
static void lock_grace(hs_spool *sp)
{
    struct timespec d = { HS_LOCK_GRACE_MS / 1000, (HS_LOCK_GRACE_MS % 1000) * 1000000L };
    sp->lock_grace = 0;
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {}
}

/* Take the spool lock, waiting at most HS_LOCK_TIMEOUT_MS so a process
 * stuck holding it cannot hang every request forever: woken by the
 * unlock (wake_wait), or, without the map, polling with a bounded
 * back-off. The lock taken is SPOOL/lock's (lock_moved). */
static int lock_spool(hs_spool *sp)
{
    struct timespec start, now, d = { 0, 20000 };
    long elapsed_ms;
    int rc, got, moves = 0;

    if (sp->flusher != NULL) {
        struct timespec dl;
        if (clock_gettime(CLOCK_REALTIME, &dl) != 0) return -errno;
        dl.tv_sec += HS_LOCK_TIMEOUT_MS / 1000;
        dl.tv_nsec += (HS_LOCK_TIMEOUT_MS % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
        if ((rc = hs_flusher_gate(sp->flusher, &dl)) != 0) return rc;
    }
    if (sp->lock_fd < 0 && (rc = open_lock(sp)) != 0) goto fail;
    if (!sp->wake_tried) {
        sp->wake_tried = 1;
        map_wake(sp);
    }
    if (clock_gettime(CLOCK_MONOTONIC, &start) != 0) { rc = -errno; goto fail; }
    for (;;) {
        got = 0;
        if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) == 0) {
            got = 1;
        } else {
            if (errno == EINTR) continue;
            if (errno != EWOULDBLOCK) { rc = -errno; goto fail; }
            if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) { rc = -errno; goto fail; }
            elapsed_ms = (now.tv_sec - start.tv_sec) * 1000L +
                         (now.tv_nsec - start.tv_nsec) / 1000000L;
            if (elapsed_ms >= HS_LOCK_TIMEOUT_MS) { rc = -ETIMEDOUT; goto fail; }
            if (sp->wake_map != NULL) {
                if ((got = wake_wait(sp, HS_LOCK_TIMEOUT_MS - elapsed_ms)) < 0) {
                    rc = got;
                    goto fail;
                }
            } else {
                nanosleep(&d, NULL);
                if (d.tv_nsec < 1000000) d.tv_nsec *= 2;
            }
        }
        if (!got) continue;
        if ((rc = lock_moved(sp)) == 1) {
            if (sp->lock_grace) lock_grace(sp);
            return 0;
        }
        if (rc < 0) goto fail;
        if (++moves > HS_LOCK_MOVES_MAX) { rc = -EAGAIN; goto fail; }
    }
fail:
    if (sp->flusher != NULL) hs_flusher_ungate(sp->flusher);
    return rc;
}

/* Release the lock (release_lock), and let the next writer of this
 * process past the flusher's gate. */
static void unlock_spool(hs_spool *sp)
{
    release_lock(sp);
    if (sp->flusher != NULL) hs_flusher_ungate(sp->flusher);
}

/* The next count stamps (a batch takes one per line; *out is the first):
 * now in microseconds, but always past the last one
 * issued in this spool (kept in the lock file), so ids and segment names
 * are unique and ordered even if the clock steps back. The stamp is not
 * the clock: after a step back it runs ahead of it until the clock
 * catches up, so what must follow the real clock (received_at, the age
 * of a segment) uses sp->now_us, the clock read here. A stored stamp
 * more than HS_STAMP_LEAD_MAX_S ahead of the clock is not a clock's
 * (garbage, or a lock file planted or damaged) and is ignored: no stamp
 * was ever issued from it, since it would have been ignored then too.
 * Under the lock. The stamp (bytes 0-7 of SPOOL/lock, little-endian) is
 * read and written through the lock file's mapped page when there is
 * one, as pread and pwrite would see it (one page cache), and only
 * under the lock, whose flock orders it between processes: two system
 * calls fewer under the lock on every append (issue 18). That page is
 * always the locked descriptor's file (unlock_spool). */
static int next_stamps(hs_spool *sp, uint64_t count, uint64_t *out)
{
    unsigned char b[8];
    uint64_t last = 0, now, lead;
    struct timespec ts;
    ssize_t r;
    int i, rc;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -errno;
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    sp->now_us = now;
    lead = now + (uint64_t)HS_STAMP_LEAD_MAX_S * 1000000u;
    if ((rc = stamp_read(sp, &last)) != 0) return rc;
    if (last > lead) last = 0;
    if (sp->carried_stamp <= lead && last < sp->carried_stamp) last = sp->carried_stamp;
    if (now <= last) now = last + 1;
    /* count stamps: now .. now + count - 1; the last is stored. */
    for (i = 0; i < 8; i++) b[i] = (unsigned char)((now + count - 1) >> (8 * i));
    if (sp->wake_map != NULL) {
        memcpy(sp->wake_map, b, sizeof(b));
    } else {
        do r = pwrite(sp->lock_fd, b, sizeof(b), 0); while (r < 0 && errno == EINTR);
        if (r < 0) return -errno;
        if (r != (ssize_t)sizeof(b)) return -EIO;
    }
    sp->carried_stamp = 0;      /* the file holds it now */
    *out = now;
    return 0;
}

static int next_stamp(hs_spool *sp, uint64_t *out)
{
    return next_stamps(sp, 1, out);
}

void hs_spool_fmt_id(uint64_t stamp, const char *tag, char out[HS_ID_LEN + 1])
{
    unsigned us;
    char *p = hs_layout_put_time(out, stamp, 0, &us);
    *p++ = '.';
    p = hs_layout_put_digits(p, us, 6);
    *p++ = 'Z';
    *p++ = '-';
    memcpy(p, tag, HS_TAG_LEN);
    p[HS_TAG_LEN] = '\0';
}

void hs_spool_fmt_ts(uint64_t stamp, char out[HS_TS_LEN + 1])
{
    unsigned us;
    char *p = hs_layout_put_time(out, stamp, 1, &us);
    *p++ = '.';
    p = hs_layout_put_digits(p, us / 1000u, 3);
    *p++ = 'Z';
    *p = '\0';
}

/* The name of a new segment of this host stamped `stamp`. */
static void seg_name(const hs_spool *sp, uint64_t stamp, char out[HS_SEG_NAME_MAX])
{
    hs_layout_name(stamp, sp->host, HS_SEG_SUFFIX, out);
}

/* The time a segment was started, from its name; 0 (long ago) when the
 * name is not ours, so a stray file is sealed rather than grown. */
static time_t seg_time(const char *name)
{
    int64_t t;
    return hs_layout_name_time(name, &t) == 0 ? (time_t)t : 0;
}

/* When a segment's first line arrived: its received_at (the clock, not
 * the stamp), read from the fixed place the handler's lines hold it.
 * -1 when the segment is empty or the line is not in that shape. */
static time_t first_line_time(int fd)
{
    static const char head[] = "{\"id\":\"", mid[] = "\",\"received_at\":\"";
    enum { TS_OFF = sizeof(head) - 1 + HS_ID_LEN + sizeof(mid) - 1 };
    char b[TS_OFF + HS_TS_LEN], name[HS_SEG_TIME_LEN + 1];
    ssize_t r;

    do r = pread(fd, b, sizeof(b), 0); while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(b) || memcmp(b, head, sizeof(head) - 1) != 0 ||
        memcmp(b + sizeof(head) - 1 + HS_ID_LEN, mid, sizeof(mid) - 1) != 0)
        return -1;
    /* "YYYY-MM-DDTHH:MM:SS" to the name form "YYYYMMDDTHHMMSSZ" */
    memcpy(name, b + TS_OFF, 4);
    memcpy(name + 4, b + TS_OFF + 5, 2);
    memcpy(name + 6, b + TS_OFF + 8, 3);
    memcpy(name + 9, b + TS_OFF + 11, 2);
    memcpy(name + 11, b + TS_OFF + 14, 2);
    memcpy(name + 13, b + TS_OFF + 17, 2);
    name[15] = 'Z';
    name[HS_SEG_TIME_LEN] = '\0';
    return b[TS_OFF + 4] == '-' && b[TS_OFF + 10] == 'T' ? seg_time(name) : -1;
}

/*
 * fstat of a segment, asking only for what the spool uses (type, inode,
 * links, size). Since Linux 6.13 a stat that reports a file's times
 * marks them as seen, and the next write must then stamp a fresh
 * fine-grained time into the inode: with a plain fstat before every
 * append, every append dirtied the inode in the journal. Without the
 * times, appends within one clock tick leave it alone. Falls back to
 * fstat where statx is missing.
 */
static int seg_stat_at(int dfd, const char *name, int flags, struct stat *st)
{
#if defined(STATX_INO)
    struct statx sx;
    if (statx(dfd, name, flags, STATX_TYPE | STATX_INO | STATX_NLINK | STATX_SIZE, &sx) == 0) {
        memset(st, 0, sizeof(*st));
        st->st_mode = sx.stx_mode;
        st->st_ino = (ino_t)sx.stx_ino;
        st->st_nlink = (nlink_t)sx.stx_nlink;
        st->st_size = (off_t)sx.stx_size;
        st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        return 0;
    }
    if (errno != ENOSYS) return -1;
#endif
    return fstatat(dfd, name, st, flags);
}

/* The segment open on fd, as seg_stat_at reads it. */
static int seg_stat(int fd, struct stat *st)
{
    return seg_stat_at(fd, "", AT_EMPTY_PATH, st);
}

static void forget_seg(hs_spool *sp)
{
    (void)hs_layout_close(sp->seg_fd);
    (void)hs_layout_close(sp->kept_fd);
    sp->seg_fd = sp->kept_fd = -1;
    sp->seg_name[0] = '\0';
}

/* Cut a partial last line (a writer killed mid-append, or a failed
 * cut-back) back to the last complete line. Under the lock. When this
 * process made the last append and the segment still ends where it left
 * it, the tail is known whole and is not read (see hs_flusher_is_end). */
static int fix_tail(hs_spool *sp, off_t *size)
{
    char buf[TAIL_CHUNK];
    off_t end = *size, pos;
    ssize_t r;

    if (end == 0 ||
        hs_flusher_is_end(sp->flusher, sp->seg_dev, sp->seg_ino, sp->seg_name, end))
        return 0;
    do r = pread(sp->seg_fd, buf, 1, end - 1); while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    if (r == 1 && buf[0] == '\n') return 0;
    pos = end;
    while (pos > 0) {
        size_t n = pos > TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;
        ssize_t k;
        do r = pread(sp->seg_fd, buf, n, pos - (off_t)n); while (r < 0 && errno == EINTR);
        if (r < 0) return -errno;
        if ((size_t)r != n) return -EIO;
        for (k = (ssize_t)n - 1; k >= 0; k--)
            if (buf[k] == '\n') break;
        if (k >= 0) { pos = pos - (off_t)n + k + 1; break; }
        pos -= (off_t)n;
    }
    if (ftruncate(sp->seg_fd, pos) != 0) return -errno;
    sp->repaired += (uint64_t)(end - pos);
    *size = pos;
    return 0;
}

/* Move active/<name> to ready/<name> without ever replacing a file;
 * on a name clash (only after a clock step and a lost lock file) the
 * segment is first renamed within active/ to a fresh stamp. Under the
 * lock; the caller has flushed the data. */
static int seal_file(hs_spool *sp, const char *name, int fsync_always)
{
    char cur[HS_SEG_NAME_MAX], fresh[HS_SEG_NAME_MAX];
    uint64_t st;
    int tries, rc;

    snprintf(cur, sizeof(cur), "%s", name);
    for (tries = 0; tries < SEAL_TRIES; tries++) {
        if (renameat2(sp->active_fd, cur, sp->ready_fd, cur, RENAME_NOREPLACE) == 0)
            goto moved;
        if (errno == EINVAL || errno == ENOSYS) {
            /* No RENAME_NOREPLACE on this filesystem (NFS): link, which
             * refuses to replace, then unlink. A crash between leaves two
             * links; the next writer sees st_nlink > 1 with the same file
             * in ready/ and drops the active one (load_seg). */
            if (linkat(sp->active_fd, cur, sp->ready_fd, cur, 0) == 0) {
                if (fsync_always && (rc = fsync_dir(sp->ready_fd)) != 0) return rc;
                if (unlinkat(sp->active_fd, cur, 0) != 0) return -errno;
                goto unlinked;
            }
        }
        if (errno != EEXIST) return -errno;
        if ((rc = next_stamp(sp, &st)) != 0) return rc;
        seg_name(sp, st, fresh);
        if (renameat2(sp->active_fd, cur, sp->active_fd, fresh, RENAME_NOREPLACE) != 0)
            return -errno;
        memcpy(cur, fresh, sizeof(cur));
    }
    return -EEXIST;
moved:
    if (fsync_always && (rc = fsync_dir(sp->ready_fd)) != 0) return rc;
unlinked:
    if (fsync_always && (rc = fsync_dir(sp->active_fd)) != 0) return rc;
    return 0;
}

/* Seal the cached segment of `size` bytes (flushed first, so ready/
 * only ever holds complete data even after a power cut; then the seal
 * hook, if any, makes what depends on it durable). */
static int seal_current(hs_spool *sp, int fsync_always, off_t size, const hs_spool_hooks *hooks)
{
    int rc;
    if (fsync_always && fdatasync(sp->seg_fd) != 0) return -errno;
    if (hooks != NULL && hooks->seal != NULL &&
        (rc = hooks->seal(hooks->arg, sp->seg_name, (uint64_t)size)) != 0)
        return rc;
    rc = seal_file(sp, sp->seg_name, fsync_always);
    forget_seg(sp);
    return rc;
}

static int create_seg(hs_spool *sp, const hs_spool_opts *opts, uint64_t stamp)
{
    mode_t fmode = 0666 & ~opts->umask;
    struct stat st;
    int rc, tries, fd = -1;
    char name[HS_SEG_NAME_MAX];

    for (tries = 0; tries < SEAL_TRIES; tries++) {
        seg_name(sp, stamp, name);
        fd = openat(sp->active_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, fmode);
        if (fd >= 0) break;
        if (errno != EEXIST) return -errno;
        if ((rc = next_stamp(sp, &stamp)) != 0) return rc;
    }
    if (fd < 0) return -EEXIST;
    if (fchmod(fd, fmode) != 0 || seg_stat(fd, &st) != 0) {
        rc = -errno;
        (void)unlinkat(sp->active_fd, name, 0);
        (void)hs_layout_close(fd);
        return rc;
    }
    if (opts->fsync_always && (rc = fsync_dir(sp->active_fd)) != 0) {
        (void)unlinkat(sp->active_fd, name, 0);
        (void)hs_layout_close(fd);
        return rc;
    }
    sp->seg_fd = fd;
    memcpy(sp->seg_name, name, sizeof(name));
    sp->seg_dev = st.st_dev;
    sp->seg_ino = st.st_ino;
    sp->seg_created = (time_t)(sp->now_us / 1000000u);
    return 0;
}

/* Is the remembered segment still active/<seg_name>? (Another process
 * may have sealed it since.) Leaves it open in seg_fd when it is, and its
 * fstat in *st. Called only under the lock, which every rename in
 * active/ takes. A kept descriptor (kept_fd) holds its inode, so no
 * other file can have that inode number meanwhile: when the name is that
 * inode, the kept descriptor is the current segment. Else the name is
 * opened and must be the remembered inode. Either way the segment must
 * have exactly one link: a second one, in ready/, is a seal by link()
 * whose unlink a crash lost, and load_seg finishes that seal. */
static int cached_is_current(hs_spool *sp, struct stat *st)
{
    int r;
    if (sp->seg_name[0] == '\0') return 0;
    if (sp->seg_fd >= 0) {
        r = seg_stat(sp->seg_fd, st);
    } else if (sp->kept_fd >= 0) {
        r = seg_stat_at(sp->active_fd, sp->seg_name, AT_SYMLINK_NOFOLLOW, st);
    } else {
        sp->seg_fd = openat(sp->active_fd, sp->seg_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        r = sp->seg_fd < 0 ? -1 : seg_stat(sp->seg_fd, st);
    }
    if (r != 0 || !S_ISREG(st->st_mode) || st->st_dev != sp->seg_dev ||
        st->st_ino != sp->seg_ino || st->st_nlink != 1) {
        forget_seg(sp);
        return 0;
    }
    if (sp->seg_fd < 0) {          /* the name is the kept descriptor's inode */
        sp->seg_fd = sp->kept_fd;
        sp->kept_fd = -1;
    }
    return 1;
}

/* End of an operation, after its flush: keep the segment's descriptor
 * for the next one (kept_fd), unchecked until then; but not while the
 * filesystem has less than HS_SPOOL_KEEP_ROOM free. A kept descriptor
 * pins its segment's blocks after another writer seals it and a
 * consumer deletes it, until this handle's next operation or park; on a
 * nearly full disk the next event, taken by another worker, would be
 * refused for want of that space (test_low_room). */
static void release_seg(hs_spool *sp)
{
    if (sp->seg_fd < 0) return;
    (void)hs_layout_close(sp->kept_fd);
    sp->kept_fd = -1;
    if (hs_layout_room_below(sp->seg_fd, HS_SPOOL_KEEP_ROOM)) {
        (void)hs_layout_close(sp->seg_fd);
        sp->seg_fd = -1;
        return;
    }
    sp->kept_fd = sp->seg_fd;
    sp->seg_fd = -1;
}

/* Open active/<name> and make it the cached segment. */
static int adopt(hs_spool *sp, const char *name)
{
    struct stat st;
    int fd = openat(sp->active_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    if (seg_stat(fd, &st) != 0) { int rc = -errno; (void)hs_layout_close(fd); return rc; }
    forget_seg(sp);
    sp->seg_fd = fd;
    snprintf(sp->seg_name, sizeof(sp->seg_name), "%s", name);
    sp->seg_dev = st.st_dev;
    sp->seg_ino = st.st_ino;
    /* The older of its name's time and its first line's arrival: the
     * name is a stamp, which runs ahead of the clock after a step back
     * (the first line's received_at does not); an operator may name a
     * segment older by hand (the name then says so). */
    sp->seg_created = seg_time(name);
    {
        time_t first = first_line_time(fd);
        if (first >= 0 && first < sp->seg_created) sp->seg_created = first;
    }
    return 0;
}

/* Find the active segment on disk and cache it. There is at most one
 * unless a crash interrupted sealing: already-sealed links are dropped,
 * and of several live segments all but the newest are tail-fixed and
 * sealed. Leaves sp->seg_fd = -1 when there is none. Under the lock. */
static int load_seg(hs_spool *sp, int fsync_always)
{
    hs_layout_names l;
    size_t i, live = 0;
    int rc;

    forget_seg(sp);
    if ((rc = hs_layout_list(sp->active_fd, ".", &l)) != 0) return rc;
    /* Keep the live ones, in order, at the front of the list. */
    for (i = 0; i < l.n; i++) {
        struct stat st;
        if (fstatat(sp->active_fd, l.name[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = -errno;
            goto out;
        }
        if (!S_ISREG(st.st_mode)) continue;
        if (st.st_nlink > 1) {
            /* Sealed by link() and the unlink was lost to a crash: the
             * other name is ready/<name>. Any other second link (a
             * backup made with cp -al) leaves the segment live. */
            struct stat rst;
            if (fstatat(sp->ready_fd, l.name[i], &rst, AT_SYMLINK_NOFOLLOW) == 0) {
                if (rst.st_dev == st.st_dev && rst.st_ino == st.st_ino) {
                    if (unlinkat(sp->active_fd, l.name[i], 0) != 0) { rc = -errno; goto out; }
                    continue;
                }
            } else if (errno != ENOENT) {
                rc = -errno;
                goto out;
            }
        }
        if (live != i) memcpy(l.name[live], l.name[i], sizeof(l.name[i]));
        live++;
    }
    for (i = 0; i + 1 < live; i++) {
        off_t size;
        struct stat st;
        if ((rc = adopt(sp, l.name[i])) != 0) goto out;
        if (seg_stat(sp->seg_fd, &st) != 0) { rc = -errno; goto out; }
        size = st.st_size;
        if ((rc = fix_tail(sp, &size)) != 0) goto out;
        if (size == 0) {
            if (unlinkat(sp->active_fd, l.name[i], 0) != 0) { rc = -errno; goto out; }
            forget_seg(sp);
        } else if ((rc = seal_current(sp, fsync_always, size, NULL)) != 0) {
            goto out;
        }
    }
    if (live > 0) rc = adopt(sp, l.name[live - 1]);
out:
    hs_layout_names_free(&l);
    return rc;
}

/* The current segment open in sp->seg_fd with its fstat in *st, or
 * sp->seg_fd -1 when there is none. Under the lock. */
static int open_current(hs_spool *sp, int fsync_always, struct stat *st)
{
    int rc;
    if (cached_is_current(sp, st)) return 0;
    if ((rc = load_seg(sp, fsync_always)) != 0) return rc;
    return (sp->seg_fd >= 0 && seg_stat(sp->seg_fd, st) != 0) ? -errno : 0;
}

/* Make sure a current segment is cached and its tail is whole; seal it
 * first when `want` more bytes would pass rotate_bytes or it is old.
 * *size receives its size. With create, a missing segment is created.
 * Under the lock. */
static int prepare_seg(hs_spool *sp, const hs_spool_opts *opts, uint64_t stamp,
                       size_t want, int force, int create, off_t *size, int *sealed,
                       const hs_spool_hooks *hooks)
{
    struct stat st;
    time_t now = (time_t)(sp->now_us / 1000000u);
    int rc, old;

    if ((rc = open_current(sp, opts->fsync_always, &st)) != 0) return rc;
    if (sp->seg_fd >= 0) {
        *size = st.st_size;
        if ((rc = fix_tail(sp, size)) != 0) return rc;
        /* Due by age on the real clock. A start in the future (a clock
         * stepped back since) is not believed: sealing early is harmless,
         * waiting for the clock to catch up would break promise 4. */
        old = sp->seg_created > now || now - sp->seg_created >= opts->rotate_seconds;
        if (*size > 0 &&
            (force || old ||
             (unsigned long long)*size + want > (unsigned long long)opts->rotate_bytes)) {
            if ((rc = seal_current(sp, opts->fsync_always, *size, hooks)) != 0) return rc;
            if (sealed) *sealed = 1;
        } else if (*size == 0 && old) {
            /* An empty segment left by a crash: its name's time would lie
             * about its first line, so start a fresh one. */
            if (unlinkat(sp->active_fd, sp->seg_name, 0) != 0) return -errno;
            forget_seg(sp);
        }
    }
    if (sp->seg_fd < 0) {
        *size = 0;
        if (create && (rc = create_seg(sp, opts, stamp)) != 0) return rc;
    }
    return 0;
}

int hs_spool_current(hs_spool *sp, char name[HS_SEG_NAME_MAX], int *fd,
                     uint64_t *size)
{
    struct stat st;
    off_t sz;
    int rc;

    name[0] = '\0';
    *fd = -1;
    *size = 0;
    if ((rc = open_current(sp, 1, &st)) != 0) return rc;
    if (sp->seg_fd < 0) return 0;
    sz = st.st_size;
    if ((rc = fix_tail(sp, &sz)) != 0) return rc;
    /* Whole at sz, seen under the lock: the append that follows in this
     * lock hold (prepare_seg) need not read its last byte again. Every
     * later writer starts at or past sz, so the record means what it
     * means after an append of ours (flush.h, hs_flusher_is_end). */
    hs_flusher_set_end(sp->flusher, sp->seg_dev, sp->seg_ino, sp->seg_name, sz);
    memcpy(name, sp->seg_name, HS_SEG_NAME_MAX);
    *fd = sp->seg_fd;
    *size = (uint64_t)sz;
    return 0;
}

int hs_spool_append(hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1], const hs_spool_hooks *hooks)
{
    hs_spool_line one;
    int rc;

    memset(&one, 0, sizeof(one));
    one.len = len;
    one.id_off = id_off;
    one.ts_off = ts_off;
    rc = hs_spool_append_many(sp, opts, line, len, &one, 1, hooks);
    if (rc == 0) memcpy(id_out, one.id, sizeof(one.id));
    return rc;
}

/* Are lines[0..n) back-to-back '\n'-ended lines covering buf[0..len),
 * each with room for its id and received_at? */
static int lines_valid(const char *buf, size_t len, const hs_spool_line *lines, size_t n)
{
    size_t i, at = 0;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
        const hs_spool_line *l = &lines[i];
        if (l->off != at || l->len == 0 || l->len > len - at || buf[at + l->len - 1] != '\n' ||
            l->len < HS_ID_LEN || l->len < HS_TS_LEN ||
            l->id_off > l->len - HS_ID_LEN || l->ts_off > l->len - HS_TS_LEN)
            return 0;
        at += l->len;
    }
    return at == len;
}

/* Move the lines not skipped to the front of buf (in order), stamping
 * each with its id (stamps first, first + 1, ...) and received_at ts.
 * Returns the bytes kept (0: none). */
static size_t pack_lines(hs_spool *sp, char *buf, hs_spool_line *lines, size_t n,
                         uint64_t first, const char *ts)
{
    size_t i, at = 0;
    uint64_t stamp = first;

    for (i = 0; i < n; i++) {
        hs_spool_line *l = &lines[i];
        if (l->skip) { l->id[0] = '\0'; continue; }
        if (l->off != at) memmove(buf + at, buf + l->off, l->len);
        l->off = at;
        hs_spool_fmt_id(stamp++, sp->tag, l->id);
        memcpy(buf + at + l->id_off, l->id, HS_ID_LEN);
        memcpy(buf + at + l->ts_off, ts, HS_TS_LEN);
        at += l->len;
    }
    return at;
}

int hs_spool_append_many(hs_spool *sp, const hs_spool_opts *opts, char *buf, size_t len,
                         hs_spool_line *lines, size_t n, const hs_spool_hooks *hooks)
{
    char ts[HS_TS_LEN + 1];
    uint64_t stamp;
    off_t off = 0;
    size_t done = 0, i;
    uint64_t ticket = 0;
    dev_t dev;
    ino_t ino;
    int rc, frc, fd, began = 0;

    if (!lines_valid(buf, len, lines, n)) return -EINVAL;
    for (i = 0; i < n; i++) lines[i].skip = 0;
    if ((rc = lock_spool(sp)) != 0) return rc;
    /* One stamp per line, reserved whether or not the hook skips some:
     * ids stay unique and in order either way. */
    if ((rc = next_stamps(sp, (uint64_t)n, &stamp)) != 0) goto unlock;
    if (hooks != NULL && hooks->pre != NULL) {
        if ((rc = hooks->pre(hooks->arg, sp)) > 0 && opts->fsync_always && sp->seg_fd >= 0) {
            /* A decision without a line ("duplicate") is acknowledged
             * like one: the line it rests on may be in the active
             * segment, written by a writer still waiting for its flush,
             * and a power cut before that flush would lose the event
             * this answer acknowledges. */
            fd = sp->seg_fd;
            dev = sp->seg_dev;
            ino = sp->seg_ino;
            ticket = hs_flusher_written(sp->flusher, dev, ino);
            unlock_spool(sp);
            frc = hs_flusher_wait(sp->flusher, dev, ino, ticket, fd);
            release_seg(sp);
            if (frc != 0) rc = frc;
            return rc;
        }
        if (rc != 0) goto unlock;
        began = 1;
    }
    /* The id from the stamp (unique, in arrival order), received_at from
     * the clock (true even while the stamp runs ahead of it). */
    hs_spool_fmt_ts(sp->now_us, ts);
    len = pack_lines(sp, buf, lines, n, stamp, ts);
    if (len == 0) { rc = -EINVAL; goto unlock; }
    if ((rc = prepare_seg(sp, opts, stamp, len, 0, 1, &off, NULL, hooks)) != 0) goto unlock;
    if (off == 0 && (time_t)(sp->now_us / 1000000u) < sp->seg_created)
        sp->seg_created = (time_t)(sp->now_us / 1000000u);
    while (done < len) {
        ssize_t w = pwrite(sp->seg_fd, buf + done, len - done, off + (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            goto cut;
        }
        done += (size_t)w;
    }
    if (hooks != NULL && hooks->post != NULL &&
        (rc = hooks->post(hooks->arg, sp->seg_name, (uint64_t)off + len)) != 0)
        goto cut;
    fd = sp->seg_fd;
    dev = sp->seg_dev;
    ino = sp->seg_ino;
    hs_flusher_set_end(sp->flusher, dev, ino, sp->seg_name, off + (off_t)len);
    /* The ticket is taken after the write completed: a flush that covers
     * it started after these bytes were in the file. */
    if (opts->fsync_always) ticket = hs_flusher_written(sp->flusher, dev, ino);
    unlock_spool(sp);
    /* Flush outside the lock: other writers append meanwhile, and one
     * flush (this thread's or another's) covers all of them. */
    if (opts->fsync_always) rc = hs_flusher_wait(sp->flusher, dev, ino, ticket, fd);
    release_seg(sp);
    return rc;
cut:
    /* Cut the partial or refused lines back out before anyone appends
     * after them; if even that fails, the next writer's fix_tail does. */
    if (done > 0 && ftruncate(sp->seg_fd, off) != 0) forget_seg(sp);
unlock:
    if (began && hooks->abort != NULL) hooks->abort(hooks->arg);
    unlock_spool(sp);
    release_seg(sp);
    return rc;
}

int hs_spool_rotate(hs_spool *sp, const hs_spool_opts *opts, int force,
                    int *sealed)
{
    return hs_spool_rotate_hooks(sp, opts, force, sealed, NULL);
}

int hs_spool_rotate_hooks(hs_spool *sp, const hs_spool_opts *opts, int force,
                          int *sealed, const hs_spool_hooks *hooks)
{
    uint64_t stamp;
    off_t size = 0;
    int rc;

    if (sealed) *sealed = 0;
    if ((rc = lock_spool(sp)) != 0) return rc;
    rc = next_stamp(sp, &stamp);
    if (rc == 0 && hooks != NULL && hooks->pre != NULL) rc = hooks->pre(hooks->arg, sp);
    if (rc == 0) rc = prepare_seg(sp, opts, stamp, 0, force, 0, &size, sealed, hooks);
    unlock_spool(sp);
    release_seg(sp);
    return rc;
}

struct kept {
    char  name[HS_SEG_NAME_MAX];
    off_t size;
};

static int cmp_kept(const void *a, const void *b)
{
    return strcmp(((const struct kept *)a)->name, ((const struct kept *)b)->name);
}

/* The kept bodies of a directory: what list_kept gathers. */
typedef struct kept_list {
    struct kept       *v;      /* HS_INVALID_MAX_FILES entries */
    size_t             n;
    unsigned long long total;
} kept_list;

static int kept_one(void *arg, int dfd, const char *entry, unsigned char type)
{
    kept_list *k = arg;
    struct stat st;
    (void)type;
    if (!hs_layout_has_suffix(entry, HS_BODY_SUFFIX) || strlen(entry) >= HS_SEG_NAME_MAX) return 0;
    if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return 0;
    k->total += (unsigned long long)st.st_size;
    if (k->n == HS_INVALID_MAX_FILES) return 0;
    memcpy(k->v[k->n].name, entry, strlen(entry) + 1);
    k->v[k->n].size = st.st_size;
    k->n++;
    return 0;
}

/* The kept bodies in dfd, oldest first: *n entries in a malloc'd array
 * (the caller frees) and their total size. */
static int list_kept(int dfd, struct kept **out, size_t *n, unsigned long long *total)
{
    kept_list k = { NULL, 0, 0 };
    int rc;

    *out = NULL;
    *n = 0;
    *total = 0;
    if ((k.v = calloc(HS_INVALID_MAX_FILES, sizeof(*k.v))) == NULL) return -ENOMEM;
    if ((rc = hs_layout_each(dfd, ".", kept_one, &k)) != 0) { free(k.v); return rc; }
    qsort(k.v, k.n, sizeof(*k.v), cmp_kept);
    *out = k.v;
    *n = k.n;
    *total = k.total;
    return 0;
}

int hs_spool_keep_invalid(hs_spool *sp, const hs_spool_opts *opts,
                          const void *body, size_t len, long long keep)
{
    struct kept *v = NULL;
    size_t n = 0, i = 0, done = 0;
    unsigned long long total = 0;
    char name[HS_SEG_NAME_MAX];
    uint64_t stamp;
    int dfd = -1, fd = -1, rc;
    mode_t fmode = 0666 & ~opts->umask;

    if (keep <= 0 || (unsigned long long)len > (unsigned long long)keep) return 1;
    if ((rc = lock_spool(sp)) != 0) return rc;
    if ((rc = next_stamp(sp, &stamp)) != 0) goto out;
    dfd = open_part_dir(sp, sp->root_fd, hs_layout_dir_name(HS_DIR_INVALID));
    if (dfd < 0) { rc = dfd; dfd = -1; goto out; }
    if ((rc = list_kept(dfd, &v, &n, &total)) != 0) goto out;
    while (total + len > (unsigned long long)keep && i < n) {
        if (unlinkat(dfd, v[i].name, 0) != 0 && errno != ENOENT) { rc = -errno; goto out; }
        total -= (unsigned long long)v[i].size;
        i++;
    }
    if (total + len > (unsigned long long)keep) { rc = 1; goto out; }
    hs_layout_name(stamp, sp->host, HS_BODY_SUFFIX, name);
    fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fmode);
    if (fd < 0) { rc = -errno; goto out; }
    if (fchmod(fd, fmode) != 0) { rc = -errno; goto out; }
    while (done < len) {
        ssize_t w = write(fd, (const char *)body + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = w < 0 ? -errno : -EIO; break; }
        done += (size_t)w;
    }
out:
    if (fd >= 0) {
        if (hs_layout_close(fd) != 0 && rc == 0) rc = -EIO;
        /* A body not kept whole is not kept at all. */
        if (rc != 0) (void)unlinkat(dfd, name, 0);
    }
    if (dfd >= 0) (void)hs_layout_close(dfd);
    free(v);
    unlock_spool(sp);
    return rc;
}

void hs_spool_idle(hs_spool *sp)
{
    if (sp == NULL) return;
    /* Only read since its last flush (or never written): nothing is
     * pending on it, so a close error cannot lose an acknowledged event. */
    (void)hs_layout_close(sp->kept_fd);
    sp->kept_fd = -1;
}
