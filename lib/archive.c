#include "archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"

#define CHUNK        65536
#define GZIP_WINDOW  (15 + 16)     /* zlib: write the gzip wrapper */
#define MEM_LEVEL    8             /* zlib's default */
#define TMP_NAME_MAX 96

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int hs_archive_open(int root_fd, const struct stat *root_st, mode_t umask, const char *path,
                    int create, int *fd)
{
    const char *name = hs_layout_dir_name(HS_DIR_ARCHIVE);
    const mode_t dmode = 0777 & ~umask & 07777;
    char what[PATH_MAX + 16];
    struct stat st;
    int rc;

    *fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0 && errno == ENOENT && create) {
        if (mkdirat(root_fd, name, dmode) != 0 && errno != EEXIST) return -errno;
        *fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* Set explicitly: the process umask must not matter. Only on a
         * directory of our own (the trust check below says so). */
        if (*fd >= 0 && fstat(*fd, &st) == 0 && st.st_uid == geteuid() &&
            fchmod(*fd, dmode) != 0) {
            rc = -errno;
            (void)hs_layout_close(*fd);
            *fd = -1;
            return rc;
        }
    }
    if (*fd < 0) {
        rc = -errno;
        if (rc == -ELOOP || rc == -ENOTDIR) {
            /* a symlink or a file planted under the name */
            if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                snprintf(what, sizeof(what), "%s/%s", path, name);
                rc = hs_spool_trust_part(&st, S_IFDIR, root_st, umask, what);
                if (rc == 0) rc = -ENOTDIR;
            }
        }
        return rc;
    }
    snprintf(what, sizeof(what), "%s/%s", path, name);
    if (fstat(*fd, &st) != 0) rc = -errno;
    else rc = hs_spool_trust_part(&st, S_IFDIR, root_st, umask, what);
    if (rc != 0) {
        (void)hs_layout_close(*fd);
        *fd = -1;
    }
    return rc;
}

/* A fresh temporary file in dir_fd: *fd and its name in tmp. */
static int tmp_create(int dir_fd, mode_t umask, char tmp[TMP_NAME_MAX], int *fd)
{
    static unsigned seq;
    const mode_t fmode = 0666 & ~umask & 07777;
    struct timespec ts;
    int tries;

    for (tries = 0; tries < HS_ARCHIVE_NAME_TRIES; tries++) {
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -errno;
        snprintf(tmp, TMP_NAME_MAX, HS_ARCHIVE_TMP_PREFIX "%ld-%lld-%ld-%u", (long)getpid(),
                 (long long)ts.tv_sec, ts.tv_nsec, seq++);
        *fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fmode);
        if (*fd >= 0) {
            if (fchmod(*fd, fmode) != 0) {
                int rc = -errno;
                (void)hs_layout_close(*fd);
                (void)unlinkat(dir_fd, tmp, 0);
                return rc;
            }
            return 0;
        }
        if (errno != EEXIST) return -errno;
    }
    return -EEXIST;
}

/* fsync and close fd (a file just written), then link tmp as `name` in
 * to_fd (never replacing: -EEXIST), remove tmp, fsync to_fd. On an
 * error tmp is removed too. */
static int tmp_commit(int fd, int tmp_dir, const char *tmp, int to_fd, const char *name)
{
    int rc = fsync(fd) != 0 ? -errno : 0;
    int crc = hs_layout_close(fd);

    if (rc == 0) rc = crc;
    if (rc == 0 && linkat(tmp_dir, tmp, to_fd, name, 0) != 0) rc = -errno;
    if (unlinkat(tmp_dir, tmp, 0) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && fsync(to_fd) != 0) rc = -errno;
    if (rc == 0 && tmp_dir != to_fd && fsync(tmp_dir) != 0) rc = -errno;
    return rc;
}

/* Drop a temporary file after a failure (already failing: the first
 * error is the one reported). */
static void tmp_abandon(int fd, int dir_fd, const char *tmp)
{
    (void)hs_layout_close(fd);
    (void)unlinkat(dir_fd, tmp, 0);
}

/* Deflate in[0..n) (flush: Z_FINISH at the end) into fd. */
static int deflate_to(z_stream *z, int fd, const unsigned char *in, size_t n, int flush)
{
    unsigned char out[CHUNK];
    int zrc, rc;

    z->next_in = (unsigned char *)in;
    z->avail_in = (uInt)n;
    do {
        z->next_out = out;
        z->avail_out = sizeof(out);
        zrc = deflate(z, flush);
        if (zrc == Z_STREAM_ERROR) return -EIO;
        if ((rc = write_all(fd, out, sizeof(out) - z->avail_out)) != 0) return rc;
    } while (z->avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    return 0;
}

int hs_archive_put(int from_fd, const char *name, int arch_fd, mode_t umask)
{
    unsigned char in[CHUNK];
    char tmp[TMP_NAME_MAX], gz[HS_SEG_NAME_MAX + sizeof(HS_GZ_SUFFIX)];
    z_stream z;
    int src, dst, rc = 0;

    if (snprintf(gz, sizeof(gz), "%s" HS_GZ_SUFFIX, name) >= (int)sizeof(gz)) return -ENAMETOOLONG;
    if (faccessat(arch_fd, gz, F_OK, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
    src = openat(from_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (src < 0) return -errno;
    if ((rc = tmp_create(arch_fd, umask, tmp, &dst)) != 0) {
        (void)hs_layout_close(src);
        return rc;
    }
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, HS_ARCHIVE_LEVEL, Z_DEFLATED, GZIP_WINDOW, MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        (void)hs_layout_close(src);
        tmp_abandon(dst, arch_fd, tmp);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r = read(src, in, sizeof(in));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = -errno; break; }
        if ((rc = deflate_to(&z, dst, in, (size_t)r, r == 0 ? Z_FINISH : Z_NO_FLUSH)) != 0 ||
            r == 0)
            break;
    }
    (void)deflateEnd(&z);
    (void)hs_layout_close(src);   /* read-only */
    if (rc != 0) {
        tmp_abandon(dst, arch_fd, tmp);
        return rc;
    }
    return tmp_commit(dst, arch_fd, tmp, arch_fd, gz);
}

/* What prune_one needs. */
typedef struct prune_arg {
    time_t    before;
    unsigned  deleted;
    int       err;
} prune_arg;

static int prune_one(void *arg, int dfd, const char *entry, unsigned char type)
{
    prune_arg *a = arg;
    struct stat st;

    (void)type;
    if (!hs_layout_has_suffix(entry, HS_ARCH_SUFFIX) &&
        strncmp(entry, HS_ARCHIVE_TMP_PREFIX, sizeof(HS_ARCHIVE_TMP_PREFIX) - 1) != 0)
        return 0;
    if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (st.st_mtime >= a->before) return 0;
    if (unlinkat(dfd, entry, 0) != 0) {
        if (errno != ENOENT && a->err == 0) a->err = -errno;
        return 0;
    }
    a->deleted++;
    return 0;
}

int hs_archive_prune(int arch_fd, long long keep_seconds, time_t now, unsigned *deleted)
{
    prune_arg a;
    int rc;

    a.before = now - (time_t)keep_seconds;
    a.deleted = 0;
    a.err = 0;
    rc = hs_layout_each(arch_fd, ".", prune_one, &a);
    if (deleted != NULL) *deleted = a.deleted;
    if (rc == 0) rc = a.err;
    /* Deletions need no flush: one lost to a power cut is done again. */
    return rc;
}

/* ------------------------------------------------------------ replay */

/* The replay's output: the temporary segment being written. */
typedef struct replay_ctx {
    int      fd;
    char     ts[HS_TS_LEN + 1];
    uint64_t n;
    hs_buf   out;
} replay_ctx;

static int replay_line(void *arg, const char *dir, const char *seg, const char *line,
                       size_t len, const hs_ev_line *l)
{
    static const char field[] = ",\"" HS_EV_REPLAYED_FIELD "\":\"";
    replay_ctx *r = arg;
    const char *at = l->key != NULL ? l->key + l->key_len : l->endpoint + l->endpoint_len;
    const char *rest = at;
    int rc;

    (void)dir;
    (void)seg;
    /* Replayed before: the old time gives way to the new. */
    if (l->replayed_at != NULL) rest = l->replayed_at + HS_TS_LEN + 1;
    hs_buf_reset(&r->out);
    hs_buf_append(&r->out, line, (size_t)(at - line));
    hs_buf_puts(&r->out, field);
    hs_buf_puts(&r->out, r->ts);
    hs_buf_putc(&r->out, '"');
    hs_buf_append(&r->out, rest, len - (size_t)(rest - line));
    hs_buf_putc(&r->out, '\n');
    if (r->out.oom) return -ENOMEM;
    if ((rc = write_all(r->fd, r->out.p, r->out.len)) != 0) return rc;
    r->n++;
    return 0;
}

int hs_archive_replay(const char *path, mode_t umask, const hs_ev_filter *f, uint64_t now_us,
                      char out_name[HS_SEG_NAME_MAX], uint64_t *events,
                      hs_ev_warn_fn warn, void *warn_arg)
{
    char tmp[TMP_NAME_MAX], host[HS_HOST_MAX + 1];
    struct stat root_st;
    replay_ctx r;
    int root, arch = -1, ready = -1, rc, scan_rc, tries;

    *events = 0;
    out_name[0] = '\0';
    root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0) return -errno;
    if (fstat(root, &root_st) != 0) rc = -errno;
    else rc = hs_spool_trust_root(&root_st, umask, path);
    if (rc == 0) rc = hs_archive_open(root, &root_st, umask, path, 0, &arch);
    if (rc == 0) {
        ready = openat(root, hs_layout_dir_name(HS_DIR_READY),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ready < 0) rc = -errno;
    }
    if (rc != 0) goto out;
    /* The new segment gets the spool's own modes (a cron job in the
     * group may have to read it), as the consumers' files do. */
    if ((rc = tmp_create(arch, (mode_t)(~root_st.st_mode & 0777), tmp, &r.fd)) != 0) goto out;
    hs_spool_fmt_ts(now_us, r.ts);
    r.n = 0;
    hs_buf_init(&r.out);
    /* 1: some archive could not be read (reported); what could be read
     * is still replayed, and the 1 returned. */
    rc = scan_rc = hs_ev_scan(path, umask, 1u << HS_DIR_ARCHIVE, f, replay_line, &r, warn,
                              warn_arg, NULL);
    hs_buf_free(&r.out);
    if (rc < 0 || r.n == 0) {
        tmp_abandon(r.fd, arch, tmp);
        goto out;
    }
    rc = 0;
    /* fsync before the name exists in ready/: a consumer never takes a
     * segment whose data may still be lost. */
    if (fsync(r.fd) != 0) {
        rc = -errno;
        tmp_abandon(r.fd, arch, tmp);
        goto out;
    }
    if ((rc = hs_layout_close(r.fd)) != 0) {
        (void)unlinkat(arch, tmp, 0);
        goto out;
    }
    hs_layout_host(host);
    rc = -EEXIST;
    for (tries = 0; tries < HS_ARCHIVE_NAME_TRIES; tries++) {
        hs_layout_replay_name(now_us + (uint64_t)tries, host, out_name);
        if (linkat(arch, tmp, ready, out_name, 0) == 0) { rc = 0; break; }
        if (errno != EEXIST) { rc = -errno; break; }
    }
    if (rc != 0) {
        out_name[0] = '\0';
        (void)unlinkat(arch, tmp, 0);   /* failing already */
        goto out;
    }
    *events = r.n;
    if (unlinkat(arch, tmp, 0) != 0) rc = -errno;
    if (rc == 0 && fsync(ready) != 0) rc = -errno;
    if (rc == 0 && fsync(arch) != 0) rc = -errno;
    if (rc == 0) rc = scan_rc;
out:
    (void)hs_layout_close(ready);
    (void)hs_layout_close(arch);
    (void)hs_layout_close(root);
    return rc;
}
