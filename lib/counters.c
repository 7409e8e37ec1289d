#include "counters.h"
#include "layout.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reason.h"

/* Slot i lives in word 1 + i of the mapping; word 0 is the magic. */
#define WORD_MAGIC   0
#define WORD_SLOT(i) (1u + (i))

_Static_assert(HS_CNT_FILE_SIZE == HS_CNT_MAGIC_LEN + HS_CNT_SLOTS * sizeof(uint64_t),
               "the counters file is a magic word then the slots");
_Static_assert(sizeof(HS_CNT_MAGIC) - 1 == HS_CNT_MAGIC_LEN, "magic is one word");
_Static_assert(HS_R_COUNT <= HS_CNT_MAX_REASONS,
               "more reasons than rejected slots: grow the file under a new magic");
_Static_assert(HS_CNT_LAST_MS < HS_CNT_REASON_BASE && HS_CNT_DUPLICATE < HS_CNT_REASON_BASE &&
               HS_CNT_LOG_SUPPRESSED < HS_CNT_REASON_BASE &&
               HS_CNT_HANDSHAKES < HS_CNT_REASON_BASE,
               "fixed slots come before the reasons");
/* Counting through a lock the library emulates would be per process and
 * so wrong across processes: insist on real lock-free 64-bit atomics. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics must be lock-free to be shared between processes");

struct hs_counters {
    uint64_t *map;              /* HS_CNT_FILE_SIZE bytes, MAP_SHARED */
    uint64_t *ring;             /* HS_MIN_FILE_SIZE bytes, or NULL: no ring */
    dev_t     dev;              /* the file mapped, for hs_counters_valid */
    ino_t     ino;
    char      path[PATH_MAX];
};

/* memcpy, not a constant: the bytes on disk read the magic's text
 * whatever the host's byte order. */
static uint64_t magic_of(const char *text);

static uint64_t magic_word(void)
{
    return magic_of(HS_CNT_MAGIC);
}

/* SPOOL "/" name into out[PATH_MAX]; 0 or -EINVAL. */
static int file_path(const char *spool, const char *name, char out[PATH_MAX])
{
    int n;
    if (spool == NULL || spool[0] == '\0') return -EINVAL;
    n = snprintf(out, PATH_MAX, "%s/%s", spool, name);
    return (n < 0 || n >= PATH_MAX) ? -EINVAL : 0;
}

static int counters_path(const char *spool, char out[PATH_MAX])
{
    return file_path(spool, HS_CNT_FILE, out);
}

/* The magic word of a file whose 8-byte magic is text. */
static uint64_t magic_of(const char *text)
{
    uint64_t m;
    memcpy(&m, text, sizeof(m));
    return m;
}

int hs_counters_map_fd(int fd, const struct stat *st, size_t size, const char *magic,
                       uint64_t **map)
{
    uint64_t expect = 0, want = magic_of(magic), *m;
    void *p;

    *map = NULL;
    if (!S_ISREG(st->st_mode)) return -EBADMSG;
    /* Size 0: a creator (maybe us) has not sized it yet, or was killed.
     * Sizing to the same length is idempotent, so racing openers agree;
     * ftruncate is atomic, so no one sees a size in between. */
    if (st->st_size == 0) {
        if (ftruncate(fd, (off_t)size) != 0) return -errno;
    } else if (st->st_size != (off_t)size) {
        return -EBADMSG;
    }
    /* Every block now: a write through the mapping to a page that is
     * still a hole allocates it, and on a full filesystem that is a
     * SIGBUS, which kills the process mid-request (every thread's). Once
     * allocated, nothing here allocates again. A file an older version
     * left sparse is filled in the same way; on a full filesystem this
     * fails instead, and the caller goes without (counting is then a
     * no-op). A filesystem that cannot allocate ahead (EOPNOTSUPP) is
     * used as before. fallocate, not posix_fallocate: glibc's emulation
     * writes zero bytes that could cross another process' counting. */
    if (fallocate(fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return -errno;
    m = p;
    /* An all-zero header is a fresh file: stamp it. A racing opener's
     * compare-and-swap fails harmlessly and loads the magic into expect. */
    if (!__atomic_compare_exchange_n(&m[WORD_MAGIC], &expect, want, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
        expect != want) {
        /* munmap fails only for arguments we never got wrong. */
        (void)munmap(m, size);
        return -EBADMSG;
    }
    *map = m;
    return 0;
}

/* counters.h. By path: the counters serve no decision about an event,
 * and the key filter (keyfilter.h) describes a store SQLite opens by
 * path. */
int hs_counters_map_file(const char *spool, const char *name, size_t size, const char *magic,
                         mode_t umask, uint64_t **map, struct stat *st, int *keep)
{
    const mode_t mode = 0666 & ~umask & 07777;
    char path[PATH_MAX];
    int fd = -1, rc;

    *map = NULL;
    if (keep != NULL) *keep = -1;
    if ((rc = file_path(spool, name, path)) != 0) return rc;
    if ((rc = hs_layout_open_rw(AT_FDCWD, path, mode, &fd)) != 0) return rc;
    if (fstat(fd, st) != 0) { rc = -errno; goto out; }
    /* Not a file (a FIFO planted under the name): -EBADMSG, before the
     * trust check's own verdict. */
    if (!S_ISREG(st->st_mode)) { rc = -EBADMSG; goto out; }
    /* Ours, in a spool of ours, not open to others (spool.h, "Trust"). */
    if ((rc = hs_spool_trust_path(spool, name, S_IFREG, umask)) != 0) goto out;
    rc = hs_counters_map_fd(fd, st, size, magic, map);
    if (rc == 0 && keep != NULL) {
        *keep = fd;
        return 0;
    }
out:
    /* The mapping keeps the file; the descriptor is not needed. */
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
        (void)munmap(*map, size);   /* fails only for arguments we never got wrong */
        *map = NULL;
    }
    return rc;
}

int hs_counters_open(const char *spool, mode_t umask, hs_counters **out)
{
    hs_counters *c;
    struct stat st, rst;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) return -ENOMEM;
    c->map = NULL;
    c->ring = NULL;
    if ((rc = counters_path(spool, c->path)) != 0) goto fail;
    rc = hs_counters_map_file(spool, HS_CNT_FILE, HS_CNT_FILE_SIZE, HS_CNT_MAGIC, umask, &c->map,
                              &st, NULL);
    if (rc != 0) goto fail;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    /* The ring is a figure for a page: without it (damaged, planted,
     * unwritable) the counts still count. */
    if (hs_counters_map_file(spool, HS_MIN_FILE, HS_MIN_FILE_SIZE, HS_MIN_MAGIC, umask, &c->ring,
                             &rst, NULL) != 0)
        c->ring = NULL;
    *out = c;
    return 0;
fail:
    hs_counters_close(c);
    return rc;
}

void hs_counters_close(hs_counters *c)
{
    if (c == NULL) return;
    /* munmap fails only for arguments we never got wrong, and nothing is
     * pending on a mapping that is never flushed by design. */
    if (c->map != NULL) (void)munmap(c->map, HS_CNT_FILE_SIZE);
    if (c->ring != NULL) (void)munmap(c->ring, HS_MIN_FILE_SIZE);
    free(c);
}

int hs_counters_valid(const hs_counters *c)
{
    struct stat st;
    if (c == NULL || lstat(c->path, &st) != 0) return 0;
    return S_ISREG(st.st_mode) && st.st_dev == c->dev && st.st_ino == c->ino &&
           st.st_size == HS_CNT_FILE_SIZE;
}

/* The ring's word of minute m, kind k: word 0 is the magic. */
#define RING_WORD(m, k) (1u + (unsigned)((m) % HS_MIN_SPAN) * HS_MIN_KINDS + (unsigned)(k))
#define RING_MINUTE(w)  ((w) >> 32)
#define RING_COUNT(w)   ((w) & UINT64_C(0xffffffff))

_Static_assert(HS_MIN_FILE_SIZE == (1 + HS_MIN_SPAN * HS_MIN_KINDS) * sizeof(uint64_t),
               "the ring is a magic word then its rows");
_Static_assert(sizeof(HS_MIN_MAGIC) - 1 == HS_CNT_MAGIC_LEN, "the ring's magic is one word");

/* Count n in minute m's word of kind k: one compare-and-swap starts the
 * minute (a word of an older minute holds 0 for this one) and adds,
 * saturating at HS_MIN_COUNT_MAX. A word of a later minute (a process
 * whose clock is behind) is left alone: its count is lost, which a
 * chart can bear. */
static void ring_add(uint64_t *ring, uint64_t m, unsigned k, uint64_t n)
{
    uint64_t *w = &ring[RING_WORD(m, k)], old, cnt, nw;

    old = __atomic_load_n(w, __ATOMIC_RELAXED);
    do {
        if (RING_MINUTE(old) > m) return;
        cnt = RING_MINUTE(old) == m ? RING_COUNT(old) : 0;
        cnt = n > HS_MIN_COUNT_MAX - cnt ? HS_MIN_COUNT_MAX : cnt + n;
        nw = (m << 32) | cnt;
    } while (!__atomic_compare_exchange_n(w, &old, nw, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void hs_counters_add_at(hs_counters *c, unsigned slot, uint64_t n, time_t now)
{
    uint64_t m;
    unsigned k;

    if (c == NULL || slot >= HS_CNT_SLOTS || slot == HS_CNT_LAST_MS ||
        slot == HS_CNT_LOG_WINDOW || slot == HS_CNT_LOG_SUPPRESSED) return;
    /* Relaxed: each slot is an independent tally; nothing is ordered
     * against it. */
    (void)__atomic_fetch_add(&c->map[WORD_SLOT(slot)], n, __ATOMIC_RELAXED);
    /* Only what the chart shows: events, duplicates, rejections. */
    if (c->ring == NULL || now < 60 ||
        (slot != HS_CNT_ACCEPTED && slot != HS_CNT_DUPLICATE && slot < HS_CNT_REASON_BASE))
        return;
    k = slot == HS_CNT_ACCEPTED ? HS_MIN_ACCEPTED
      : slot == HS_CNT_DUPLICATE ? HS_MIN_DUPLICATE : HS_MIN_REJECTED;
    m = (uint64_t)now / 60u;
    if (m > UINT32_MAX) return;   /* past the year 10000: the word has no room */
    ring_add(c->ring, m, k, n);
}

void hs_counters_add(hs_counters *c, unsigned slot, uint64_t n)
{
    struct timespec ts;
    /* Coarse: a vDSO read with no system call; a minute needs no more. */
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) ts.tv_sec = 0;
    hs_counters_add_at(c, slot, n, ts.tv_sec);
}

int hs_counters_log_shared(hs_counters *c, hs_log_shared *out)
{
    if (c == NULL) return -1;
    out->window = &c->map[WORD_SLOT(HS_CNT_LOG_WINDOW)];
    out->suppressed = &c->map[WORD_SLOT(HS_CNT_LOG_SUPPRESSED)];
    return 0;
}

void hs_counters_set_last_accepted(hs_counters *c, uint64_t ms)
{
    if (c == NULL) return;
    __atomic_store_n(&c->map[WORD_SLOT(HS_CNT_LAST_MS)], ms, __ATOMIC_RELAXED);
}

/* Open path read-only without touching its access time where the kernel
 * lets us (O_NOATIME needs ownership): the status changes nothing. */
static int open_ro(const char *path)
{
    const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    int fd = open(path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = open(path, flags);
    return fd;
}

/* Read exactly n bytes at offset 0; 0, or a negative errno (-EBADMSG if
 * the file is shorter than it said). */
static int read_all(int fd, unsigned char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -EBADMSG;
        done += (size_t)r;
    }
    return 0;
}

/* The counts of the slot values v[HS_CNT_SLOTS] into *out. */
static void snap_of(const uint64_t *v, hs_counters_snap *out)
{
    unsigned i;
    out->accepted = v[HS_CNT_ACCEPTED];
    out->duplicate = v[HS_CNT_DUPLICATE];
    out->handshakes = v[HS_CNT_HANDSHAKES];
    out->last_accepted_ms = v[HS_CNT_LAST_MS];
    out->probes = v[HS_CNT_PROBES];
    for (i = 0; i < HS_CNT_MAX_REASONS; i++) out->rejected[i] = v[HS_CNT_REASON_BASE + i];
}

int hs_counters_read(const char *spool, hs_counters_snap *out)
{
    static const unsigned char zero[HS_CNT_MAGIC_LEN];
    unsigned char raw[HS_CNT_FILE_SIZE];
    uint64_t v[HS_CNT_SLOTS];
    char path[PATH_MAX];
    struct stat st;
    int fd, rc, crc;

    memset(out, 0, sizeof(*out));
    if ((rc = counters_path(spool, path)) != 0) return rc;
    fd = open_ro(path);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) != 0) rc = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size != HS_CNT_FILE_SIZE) rc = -EBADMSG;
    else rc = read_all(fd, raw, sizeof(raw));
    crc = close(fd) != 0 ? -errno : 0;
    if (rc == 0) rc = crc;
    if (rc != 0) return rc;
    /* A zero header is a file being created: every count is still 0. */
    if (memcmp(raw, zero, HS_CNT_MAGIC_LEN) == 0) return 0;
    if (memcmp(raw, HS_CNT_MAGIC, HS_CNT_MAGIC_LEN) != 0) return -EBADMSG;
    memcpy(v, raw + HS_CNT_MAGIC_LEN, sizeof(v));
    snap_of(v, out);
    return 0;
}

int hs_counters_read_minutes(const char *spool, time_t now, hs_counters_minutes *out)
{
    static const unsigned char zero[HS_CNT_MAGIC_LEN];
    unsigned char *raw;
    char path[PATH_MAX];
    struct stat st;
    int64_t last = (int64_t)now / 60;
    int fd, rc, crc, i, k;

    memset(out, 0, sizeof(*out));
    out->first = last - (HS_MIN_SPAN - 1);
    if ((rc = file_path(spool, HS_MIN_FILE, path)) != 0) return rc;
    fd = open_ro(path);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    if ((raw = malloc(HS_MIN_FILE_SIZE)) == NULL) {
        (void)close(fd);   /* failing already; read-only */
        return -ENOMEM;
    }
    if (fstat(fd, &st) != 0) rc = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size != HS_MIN_FILE_SIZE) rc = -EBADMSG;
    else rc = read_all(fd, raw, HS_MIN_FILE_SIZE);
    crc = close(fd) != 0 ? -errno : 0;
    if (rc == 0) rc = crc;
    if (rc == 0 && memcmp(raw, zero, HS_CNT_MAGIC_LEN) != 0 &&
        memcmp(raw, HS_MIN_MAGIC, HS_CNT_MAGIC_LEN) != 0)
        rc = -EBADMSG;
    for (i = 0; rc == 0 && i < HS_MIN_SPAN; i++) {
        int64_t m = out->first + i;
        if (m < 0) continue;
        for (k = 0; k < HS_MIN_KINDS; k++) {
            uint64_t w;
            memcpy(&w, raw + HS_CNT_MAGIC_LEN +
                   8 * ((size_t)(m % HS_MIN_SPAN) * HS_MIN_KINDS + (size_t)k), 8);
            /* A row of another minute (older: overwritten since; newer:
             * a clock ahead) is not this minute's. */
            if (RING_MINUTE(w) == (uint64_t)m) out->n[i][k] = (uint32_t)RING_COUNT(w);
        }
    }
    free(raw);
    return rc;
}

/* --------------------------------------------------- the status's cache */

_Static_assert(sizeof(hs_counters_scan) == HS_CNT_SCAN_FIGURES * sizeof(uint64_t),
               "the cached figures are whole slots");
_Static_assert(HS_CNT_SCAN_FIRST + HS_CNT_SCAN_FIGURES <= HS_CNT_REASON_BASE &&
               HS_CNT_SCAN_SEQ > HS_CNT_LAST_MS,
               "the cache lives in the reserved slots");

#define SCAN_READ_TRIES 4   /* a store takes microseconds; then give up */

/*
 * Read the cached figures into *out and their second into *at, as one
 * consistent set (a seqlock: the sequence word is odd while a writer
 * stores, and changes with every store). 0, or -1 when there is none or
 * no consistent read was had (a writer busy or killed mid-store).
 */
static int cache_load(uint64_t *map, hs_counters_scan *out, uint64_t *at)
{
    uint64_t w[HS_CNT_SCAN_FIGURES], s1, s2;
    int tries;
    unsigned i;

    for (tries = 0; tries < SCAN_READ_TRIES; tries++) {
        s1 = __atomic_load_n(&map[WORD_SLOT(HS_CNT_SCAN_SEQ)], __ATOMIC_ACQUIRE);
        if (s1 & 1u) continue;
        *at = __atomic_load_n(&map[WORD_SLOT(HS_CNT_SCAN_AT)], __ATOMIC_RELAXED);
        for (i = 0; i < HS_CNT_SCAN_FIGURES; i++)
            w[i] = __atomic_load_n(&map[WORD_SLOT(HS_CNT_SCAN_FIRST + i)], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&map[WORD_SLOT(HS_CNT_SCAN_SEQ)], __ATOMIC_RELAXED);
        if (s1 != s2) continue;
        if (*at == 0) return -1;
        memcpy(out, w, sizeof(*out));
        return 0;
    }
    return -1;
}

/* Store the figures with their second. The caller holds the flock, so
 * there is one writer; a killed one left the word odd, which this moves
 * to the next odd value before writing. */
static void cache_store(uint64_t *map, const hs_counters_scan *s, uint64_t at)
{
    uint64_t w[HS_CNT_SCAN_FIGURES], seq;
    unsigned i;

    memcpy(w, s, sizeof(w));   /* the struct is the slots' words, in order */
    seq = __atomic_load_n(&map[WORD_SLOT(HS_CNT_SCAN_SEQ)], __ATOMIC_RELAXED);
    seq = (seq | 1u) + ((seq & 1u) ? 2u : 0u);
    __atomic_store_n(&map[WORD_SLOT(HS_CNT_SCAN_SEQ)], seq, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&map[WORD_SLOT(HS_CNT_SCAN_AT)], at, __ATOMIC_RELAXED);
    for (i = 0; i < HS_CNT_SCAN_FIGURES; i++)
        __atomic_store_n(&map[WORD_SLOT(HS_CNT_SCAN_FIRST + i)], w[i], __ATOMIC_RELAXED);
    __atomic_store_n(&map[WORD_SLOT(HS_CNT_SCAN_SEQ)], seq + 1u, __ATOMIC_RELEASE);
}

/* A cache of second `at` is current at `now`: stored this second, or the
 * next by a process whose clock was read later. A cache from the future
 * beyond that (the clock was set back) is stale. */
static int cache_current(uint64_t at, uint64_t now)
{
    return at == now || at == now + 1u;
}

/* Current, or from the second before: good enough while another process
 * is scanning. */
static int cache_recent(uint64_t at, uint64_t now)
{
    return cache_current(at, now) || at + 1u == now;
}

/* Open the counters file for the status: read-write when this process
 * may (to keep the cache), else read-only; never created. *rw says which. */
static int open_status(const char *path, int *rw)
{
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    int fd = open(path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = open(path, flags);
    *rw = fd >= 0;
    if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) fd = open_ro(path);
    return fd;
}

int hs_counters_status(const char *spool, time_t now, hs_counters_scan_fn scan, void *arg,
                       hs_counters_snap *counts, hs_counters_scan *out)
{
    uint64_t v[HS_CNT_SLOTS], *map = NULL, head, at = 0;
    uint64_t unow = now > 0 ? (uint64_t)now : 0;
    char path[PATH_MAX];
    struct stat st;
    int fd = -1, rw = 0, rc, have = 0;
    unsigned i;

    memset(counts, 0, sizeof(*counts));
    memset(out, 0, sizeof(*out));
    if ((rc = counters_path(spool, path)) != 0) goto scan_self;
    fd = open_status(path, &rw);
    if (fd < 0) {
        rc = errno == ENOENT ? 0 : -errno;
        goto scan_self;
    }
    if (fstat(fd, &st) != 0) { rc = -errno; goto scan_self; }
    if (!S_ISREG(st.st_mode) || st.st_size != HS_CNT_FILE_SIZE) { rc = -EBADMSG; goto scan_self; }
    map = mmap(NULL, HS_CNT_FILE_SIZE, PROT_READ | (rw ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        rc = -errno;
        goto scan_self;
    }
    head = __atomic_load_n(&map[WORD_MAGIC], __ATOMIC_RELAXED);
    /* A zero header is a file being created: every count is still 0 and
     * nothing is cached (nor stored: the creator stamps it). */
    if (head == 0) goto scan_self;
    if (head != magic_word()) { rc = -EBADMSG; goto scan_self; }
    for (i = 0; i < HS_CNT_SLOTS; i++)
        v[i] = __atomic_load_n(&map[WORD_SLOT(i)], __ATOMIC_RELAXED);
    snap_of(v, counts);

    have = cache_load(map, out, &at) == 0;
    if (have && cache_current(at, unow)) goto done;
    if (rw && unow != 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        /* Ours: unless the holder before us stored this second's set
         * meanwhile, scan and keep the figures for everyone. */
        have = cache_load(map, out, &at) == 0;
        if (!(have && cache_current(at, unow))) {
            memset(out, 0, sizeof(*out));
            if (scan(arg, out) == 0) cache_store(map, out, unow);
        }
        /* LOCK_UN cannot usefully fail; close() below releases it anyway. */
        (void)flock(fd, LOCK_UN);
        goto done;
    }
    if (have && cache_recent(at, unow)) goto done;
scan_self:
    memset(out, 0, sizeof(*out));
    (void)scan(arg, out);
done:
    /* munmap fails only for arguments we never got wrong. */
    if (map != NULL) (void)munmap(map, HS_CNT_FILE_SIZE);
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}
