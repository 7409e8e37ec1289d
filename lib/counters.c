#include "counters.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handler.h"

/* Slot i lives in word 1 + i of the mapping; word 0 is the magic. */
#define WORD_MAGIC   0
#define WORD_SLOT(i) (1u + (i))

_Static_assert(HS_CNT_FILE_SIZE == HS_CNT_MAGIC_LEN + HS_CNT_SLOTS * sizeof(uint64_t),
               "the counters file is a magic word then the slots");
_Static_assert(sizeof(HS_CNT_MAGIC) - 1 == HS_CNT_MAGIC_LEN, "magic is one word");
_Static_assert(HS_R_COUNT <= HS_CNT_MAX_REASONS,
               "more reasons than rejected slots: grow the file under a new magic");
_Static_assert(HS_CNT_LAST_MS < HS_CNT_REASON_BASE && HS_CNT_DUPLICATE < HS_CNT_REASON_BASE &&
               HS_CNT_HANDSHAKES < HS_CNT_REASON_BASE,
               "fixed slots come before the reasons");
/* Counting through a lock the library emulates would be per process and
 * so wrong across processes: insist on real lock-free 64-bit atomics. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics must be lock-free to be shared between processes");

struct hs_counters {
    uint64_t *map;              /* HS_CNT_FILE_SIZE bytes, MAP_SHARED */
    dev_t     dev;              /* the file mapped, for hs_counters_valid */
    ino_t     ino;
    char      path[PATH_MAX];
};

static uint64_t magic_word(void)
{
    uint64_t m;
    /* memcpy, not a constant: the bytes on disk read "HSCNT001" whatever
     * the host's byte order. */
    memcpy(&m, HS_CNT_MAGIC, sizeof(m));
    return m;
}

/* SPOOL "/" HS_CNT_FILE into out[PATH_MAX]; 0 or -EINVAL. */
static int counters_path(const char *spool, char out[PATH_MAX])
{
    int n;
    if (spool == NULL || spool[0] == '\0') return -EINVAL;
    n = snprintf(out, PATH_MAX, "%s/%s", spool, HS_CNT_FILE);
    return (n < 0 || n >= PATH_MAX) ? -EINVAL : 0;
}

/* Open (creating if missing) path for writing; *fd on success. */
static int open_rw(const char *path, mode_t mode, int *fd)
{
    /* O_NONBLOCK: a FIFO planted under the name must not hang a request;
     * O_NOFOLLOW: nor may a symlink redirect the writes. */
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;

    *fd = open(path, flags | O_CREAT | O_EXCL, mode);
    if (*fd >= 0) {
        if (fchmod(*fd, mode) != 0) {
            int e = errno;
            (void)close(*fd);   /* failing already; the file stays, usable */
            *fd = -1;
            return -e;
        }
        return 0;
    }
    if (errno != EEXIST) return -errno;
    *fd = open(path, flags);
    return *fd >= 0 ? 0 : -errno;
}

int hs_counters_open(const char *spool, mode_t umask, hs_counters **out)
{
    const mode_t mode = 0666 & ~umask & 07777;
    hs_counters *c;
    struct stat st;
    void *m;
    uint64_t expect = 0, magic = magic_word();
    int fd = -1, rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) return -ENOMEM;
    c->map = NULL;
    if ((rc = counters_path(spool, c->path)) != 0) goto fail;
    if ((rc = open_rw(c->path, mode, &fd)) != 0) goto fail;
    if (fstat(fd, &st) != 0) { rc = -errno; goto fail; }
    if (!S_ISREG(st.st_mode)) { rc = -EBADMSG; goto fail; }
    /* Size 0: a creator (maybe us) has not sized it yet, or was killed.
     * Sizing to the same length is idempotent, so racing openers agree;
     * ftruncate is atomic, so no one sees a size in between. */
    if (st.st_size == 0) {
        if (ftruncate(fd, HS_CNT_FILE_SIZE) != 0) { rc = -errno; goto fail; }
    } else if (st.st_size != HS_CNT_FILE_SIZE) {
        rc = -EBADMSG;
        goto fail;
    }
    m = mmap(NULL, HS_CNT_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { rc = -errno; goto fail; }
    c->map = m;
    /* An all-zero header is a fresh file: stamp it. A racing opener's
     * compare-and-swap fails harmlessly and loads the magic into expect. */
    if (!__atomic_compare_exchange_n(&c->map[WORD_MAGIC], &expect, magic, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
        expect != magic) {
        rc = -EBADMSG;
        goto fail;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    /* The mapping keeps the file; the descriptor is not needed. */
    rc = close(fd) != 0 ? -errno : 0;
    fd = -1;
    if (rc != 0) goto fail;
    *out = c;
    return 0;
fail:
    if (fd >= 0) (void)close(fd);   /* failing already */
    hs_counters_close(c);
    return rc;
}

void hs_counters_close(hs_counters *c)
{
    if (c == NULL) return;
    /* munmap fails only for arguments we never got wrong, and nothing is
     * pending on a mapping that is never flushed by design. */
    if (c->map != NULL) (void)munmap(c->map, HS_CNT_FILE_SIZE);
    free(c);
}

int hs_counters_valid(const hs_counters *c)
{
    struct stat st;
    if (c == NULL || lstat(c->path, &st) != 0) return 0;
    return S_ISREG(st.st_mode) && st.st_dev == c->dev && st.st_ino == c->ino &&
           st.st_size == HS_CNT_FILE_SIZE;
}

void hs_counters_add(hs_counters *c, unsigned slot, uint64_t n)
{
    if (c == NULL || slot >= HS_CNT_SLOTS || slot == HS_CNT_LAST_MS) return;
    /* Relaxed: each slot is an independent tally; nothing is ordered
     * against it. */
    (void)__atomic_fetch_add(&c->map[WORD_SLOT(slot)], n, __ATOMIC_RELAXED);
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

int hs_counters_read(const char *spool, hs_counters_snap *out)
{
    static const unsigned char zero[HS_CNT_MAGIC_LEN];
    unsigned char raw[HS_CNT_FILE_SIZE];
    uint64_t v[HS_CNT_SLOTS];
    char path[PATH_MAX];
    struct stat st;
    int fd, rc, crc;
    unsigned i;

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
    out->accepted = v[HS_CNT_ACCEPTED];
    out->duplicate = v[HS_CNT_DUPLICATE];
    out->handshakes = v[HS_CNT_HANDSHAKES];
    out->last_accepted_ms = v[HS_CNT_LAST_MS];
    for (i = 0; i < HS_CNT_MAX_REASONS; i++) out->rejected[i] = v[HS_CNT_REASON_BASE + i];
    return 0;
}
