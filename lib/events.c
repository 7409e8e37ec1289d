#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "layout.h"

#define READ_CHUNK       65536
#define ID_TIME_LEN      23              /* "YYYYMMDDTHHMMSS.uuuuuuZ" */
#define GZIP_WINDOW      (15 + 16)       /* zlib: gzip wrapper only */
#define SECONDS_MAX      (INT64_MAX / 1000000 - 1)

static const char HEAD[] = "{\"id\":\"";
static const char MID[] = "\",\"received_at\":\"";
static const char EP[] = "\",\"endpoint\":";
static const char KEY[] = ",\"key\":";
static const char REPLAYED[] = ",\"" HS_EV_REPLAYED_FIELD "\":\"";

void hs_ev_filter_init(hs_ev_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->since_us = HS_EV_TIME_MIN;
    f->until_us = HS_EV_TIME_MAX;
}

/* Seconds since the epoch of y-mo-d h:mi:s as layout.h's hs_layout_civil
 * reads it, from 1970 on (ids and times before the epoch are refused). */
static int civil_seconds(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s,
                         int64_t *out)
{
    return y < 1970 ? -1 : hs_layout_civil(y, mo, d, h, mi, s, out);
}

int hs_ev_id_time(const char *id, size_t len, int64_t *us)
{
    int64_t sec, frac;
    if (len < ID_TIME_LEN || id[8] != 'T' || id[15] != '.' || id[22] != 'Z') return -1;
    if ((frac = hs_layout_digits(id + 16, 6)) < 0 ||
        civil_seconds(hs_layout_digits(id, 4), hs_layout_digits(id + 4, 2),
                      hs_layout_digits(id + 6, 2), hs_layout_digits(id + 9, 2),
                      hs_layout_digits(id + 11, 2), hs_layout_digits(id + 13, 2), &sec) != 0)
        return -1;
    *us = sec * 1000000 + frac;
    return 0;
}

/* The end of the JSON value starting at p (< end), a value the handler
 * wrote (valid JSON): strings and nesting followed, nothing validated.
 * NULL when it runs past end. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            while (p < end && *p != '"') p += (*p == '\\') ? 2 : 1;
            if (p >= end) return NULL;
            p++;
        } else if (c == '[' || c == '{') {
            depth++;
            continue;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' || c == ':') {
            continue;
        } else {
            /* a number, true, false, null: its letters, digits and signs */
            while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                               (*p >= 'A' && *p <= 'Z') || *p == '+' || *p == '-' || *p == '.'))
                p++;
        }
        if (depth <= 0) return depth == 0 ? p : NULL;
    }
    return NULL;
}

int hs_ev_parse(const char *line, size_t len, hs_ev_line *out)
{
    const char *p = line, *end = line + len, *v;
    const size_t fixed = sizeof(HEAD) - 1 + HS_ID_LEN + sizeof(MID) - 1 + HS_TS_LEN +
                         sizeof(EP) - 1;

    memset(out, 0, sizeof(*out));
    if (len < fixed || memcmp(p, HEAD, sizeof(HEAD) - 1) != 0) return -1;
    p += sizeof(HEAD) - 1;
    out->id = p;
    p += HS_ID_LEN;
    if (memcmp(p, MID, sizeof(MID) - 1) != 0) return -1;
    p += sizeof(MID) - 1;
    out->received_at = p;
    p += HS_TS_LEN;
    if (memcmp(p, EP, sizeof(EP) - 1) != 0) return -1;
    p += sizeof(EP) - 1;
    if (p >= end || *p != '"' || (v = skip_value(p, end)) == NULL) return -1;
    out->endpoint = p;
    out->endpoint_len = (size_t)(v - p);
    p = v;
    if ((size_t)(end - p) > sizeof(KEY) - 1 && memcmp(p, KEY, sizeof(KEY) - 1) == 0) {
        p += sizeof(KEY) - 1;
        if ((v = skip_value(p, end)) == NULL) return -1;
        out->key = p;
        out->key_len = (size_t)(v - p);
        p = v;
    }
    if ((size_t)(end - p) >= sizeof(REPLAYED) - 1 + HS_TS_LEN + 1 &&
        memcmp(p, REPLAYED, sizeof(REPLAYED) - 1) == 0) {
        out->replayed_at = p + sizeof(REPLAYED) - 1;
    }
    return hs_ev_id_time(out->id, HS_ID_LEN, &out->id_us);
}

/* Does the JSON string lit (quotes included, as the handler wrote it)
 * hold exactly the text s? Escapes are compared as written: the handler
 * writes names and values that need none as they are. */
static int str_is(const char *lit, size_t n, const char *s)
{
    size_t sl = strlen(s);
    return n == sl + 2 && lit[0] == '"' && memcmp(lit + 1, s, sl) == 0 && lit[n - 1] == '"';
}

static int key_matches(const char *key, size_t n, const char *want)
{
    const char *p, *end = key + n, *v;
    size_t wl = strlen(want);

    if (n == wl && memcmp(key, want, n) == 0) return 1;
    if (n < 2 || key[0] != '[') return str_is(key, n, want);
    /* each element of the key's array */
    for (p = key + 1; p < end && *p != ']'; p = v + (v < end && *v == ',')) {
        if ((v = skip_value(p, end)) == NULL) return 0;
        if (str_is(p, (size_t)(v - p), want) ||
            ((size_t)(v - p) == wl && memcmp(p, want, wl) == 0))
            return 1;
    }
    return 0;
}

int hs_ev_match(const hs_ev_filter *f, const hs_ev_line *l)
{
    if (l->id_us < f->since_us || l->id_us > f->until_us) return 0;
    if (f->id != NULL && (strlen(f->id) != HS_ID_LEN || memcmp(f->id, l->id, HS_ID_LEN) != 0))
        return 0;
    if (f->endpoint != NULL && !str_is(l->endpoint, l->endpoint_len, f->endpoint)) return 0;
    if (f->key != NULL && (l->key == NULL || !key_matches(l->key, l->key_len, f->key)))
        return 0;
    return 1;
}

int hs_ev_parse_time(const char *s, int64_t now_s, int64_t *us)
{
    size_t n = strlen(s), i;
    int64_t v = 0, unit, sec, frac = 0;

    if (n >= 2 && strchr("smhd", s[n - 1]) != NULL) {
        unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
        for (i = 0; i + 1 < n; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            if (v > (SECONDS_MAX / unit - (s[i] - '0')) / 10) return -1;
            v = v * 10 + (s[i] - '0');
        }
        v *= unit;
        if (now_s - v < -SECONDS_MAX) return -1;
        *us = (now_s - v) * 1000000;
        return 0;
    }
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00) */
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    if (civil_seconds(hs_layout_digits(s, 4), hs_layout_digits(s + 5, 2),
                      hs_layout_digits(s + 8, 2), hs_layout_digits(s + 11, 2),
                      hs_layout_digits(s + 14, 2), hs_layout_digits(s + 17, 2), &sec) != 0)
        return -1;
    i = 19;
    if (s[i] == '.') {
        int64_t scale = 100000;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (i == 20) return -1;
    }
    if (!(strcmp(s + i, "Z") == 0 || strcmp(s + i, "z") == 0 || strcmp(s + i, "+00:00") == 0))
        return -1;
    *us = sec * 1000000 + frac;
    return 0;
}

int hs_ev_seg_may_match(const char *name, const char *next, int64_t since_us,
                        int64_t until_us)
{
    int64_t lo, hi;

    if (hs_layout_is_replay(name) || hs_layout_name_time(name, &lo) != 0) return 1;
    /* Its first stamp is in second lo: nothing in it is older. */
    if (until_us != HS_EV_TIME_MAX && lo * 1000000 > until_us) return 0;
    /* Everything in it is older than the next segment's first stamp,
     * which is within second hi. */
    if (next != NULL && since_us != HS_EV_TIME_MIN && hs_layout_name_time(next, &hi) == 0 &&
        (hi + 1) * 1000000 <= since_us)
        return 0;
    return 1;
}

/* ------------------------------------------------------------ reading */

/* One segment to read. */
typedef struct seg {
    char          name[HS_SEG_NAME_MAX];
    unsigned char dir;        /* hs_layout_dir */
} seg;

/* The name a segment sorts and is known by: an archive's without ".gz". */
static size_t base_len(const seg *s)
{
    size_t n = strlen(s->name);
    return s->dir == HS_DIR_ARCHIVE ? n - (sizeof(HS_GZ_SUFFIX) - 1) : n;
}

static int cmp_seg(const void *a, const void *b)
{
    const seg *x = a, *y = b;
    size_t xl = base_len(x), yl = base_len(y), m = xl < yl ? xl : yl;
    int c = memcmp(x->name, y->name, m);
    if (c != 0) return c;
    return xl < yl ? -1 : xl > yl;
}

/* The segments of dirs, sorted by name. *out the caller's (free). */
static int list_all(int root, unsigned dirs, seg **out, size_t *n)
{
    seg *all = NULL;
    size_t cnt = 0, i;
    int d, rc = 0;

    *out = NULL;
    *n = 0;
    for (d = 0; d < HS_DIR_COUNT; d++) {
        hs_layout_names l;
        void *p;
        if (!(dirs & (1u << d))) continue;
        rc = hs_layout_list_suffix(root, hs_layout_dir_name((hs_layout_dir)d),
                                   d == HS_DIR_ARCHIVE ? HS_ARCH_SUFFIX : HS_SEG_SUFFIX, &l);
        if (rc == -ENOENT) continue;
        if (rc != 0) break;
        if (l.n > 0) {
            if (cnt + l.n < cnt || (p = realloc(all, (cnt + l.n) * sizeof(*all))) == NULL) {
                hs_layout_names_free(&l);
                rc = -ENOMEM;
                break;
            }
            all = p;
            for (i = 0; i < l.n; i++) {
                memcpy(all[cnt].name, l.name[i], HS_SEG_NAME_MAX);
                all[cnt++].dir = (unsigned char)d;
            }
        }
        hs_layout_names_free(&l);
    }
    if (rc != 0) {
        free(all);
        return rc;
    }
    if (cnt > 1) qsort(all, cnt, sizeof(*all), cmp_seg);
    *out = all;
    *n = cnt;
    return 0;
}

/* What the line reader hands each complete line to. */
typedef int (*line_fn)(void *arg, const char *line, size_t len);

/* Hand each complete line of acc to fn, keep the rest. */
static int drain(hs_buf *acc, line_fn fn, void *arg)
{
    size_t start = 0;
    int rc = 0;
    char *nl;

    while (start < acc->len && (nl = memchr(acc->p + start, '\n', acc->len - start)) != NULL) {
        size_t len = (size_t)(nl - (acc->p + start));
        if ((rc = fn(arg, acc->p + start, len)) != 0) break;
        start += len + 1;
    }
    if (start > 0) {
        memmove(acc->p, acc->p + start, acc->len - start);
        acc->len -= start;
    }
    return rc;
}

/* Read fd (gzip when gz) line by line; a last line without its newline
 * (being written, or torn) is left out. */
static int read_lines(int fd, int gz, line_fn fn, void *arg)
{
    unsigned char in[READ_CHUNK];
    hs_buf acc = HS_BUF_INIT;
    z_stream z;
    int rc = 0, zrc = Z_OK;

    memset(&z, 0, sizeof(z));
    if (gz && inflateInit2(&z, GZIP_WINDOW) != Z_OK) return -ENOMEM;
    while (rc == 0) {
        ssize_t r = read(fd, in, sizeof(in));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = -errno; break; }
        if (r == 0) break;
        if (!gz) {
            if (hs_buf_append(&acc, in, (size_t)r) != 0) { rc = -ENOMEM; break; }
        } else {
            z.next_in = in;
            z.avail_in = (uInt)r;
            while (z.avail_in > 0 && zrc != Z_STREAM_END) {
                if (hs_buf_reserve(&acc, READ_CHUNK) != 0) { rc = -ENOMEM; break; }
                z.next_out = (unsigned char *)acc.p + acc.len;
                z.avail_out = READ_CHUNK;
                zrc = inflate(&z, Z_NO_FLUSH);
                if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
                    rc = -EBADMSG;
                    break;
                }
                acc.len += READ_CHUNK - z.avail_out;
                if (zrc == Z_BUF_ERROR && z.avail_out != 0) { rc = -EBADMSG; break; }
            }
        }
        if (rc == 0) rc = drain(&acc, fn, arg);
    }
    if (gz) {
        if (rc == 0 && zrc != Z_STREAM_END) rc = -EBADMSG;   /* cut short */
        (void)inflateEnd(&z);
    }
    hs_buf_free(&acc);
    return rc;
}

/* Open dir/name of the spool read-only as a segment of the spool's own:
 * a regular file, not a symlink, owned as spool.h's trust rules say. */
static int open_seg(int root, const struct stat *root_st, mode_t umask, const char *path,
                    const seg *s, int *fd)
{
    char rel[HS_SEG_NAME_MAX + 16], what[PATH_MAX + HS_SEG_NAME_MAX + 16];
    struct stat st;
    int rc;

    snprintf(rel, sizeof(rel), "%s/%s", hs_layout_dir_name((hs_layout_dir)s->dir), s->name);
    snprintf(what, sizeof(what), "%s/%s", path, rel);
    *fd = openat(root, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOATIME);
    if (*fd < 0 && errno == EPERM)
        *fd = openat(root, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) return -errno;
    if (fstat(*fd, &st) != 0) rc = -errno;
    else if (!S_ISREG(st.st_mode)) rc = -EINVAL;
    else rc = hs_spool_trust_part(&st, S_IFREG, root_st, umask, what);
    if (rc != 0) {
        (void)hs_layout_close(*fd);   /* read-only: nothing to lose */
        *fd = -1;
    }
    return rc;
}

/* Open the spool directory at path for reading: never through a
 * symlink, and with modes no one else could have written through. Its
 * owner need not be this user: reading is what a user without write
 * access does (its parts must then be the spool owner's, open_seg). */
static int open_root(const char *path, mode_t umask, struct stat *st, int *root)
{
    int rc;
    *root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*root < 0) return -errno;
    if (fstat(*root, st) != 0) rc = -errno;
    else rc = hs_spool_trust_part(st, S_IFDIR, st, umask, path);
    if (rc != 0) {
        (void)hs_layout_close(*root);
        *root = -1;
    }
    return rc;
}

/* The scan's state, for its line callback. */
typedef struct scan_ctx {
    const hs_ev_filter *f;
    hs_ev_fn            fn;
    void               *arg;
    const seg          *s;
    hs_ev_scan_stats   *st;
} scan_ctx;

static int scan_line(void *arg, const char *line, size_t len)
{
    scan_ctx *c = arg;
    hs_ev_line l;
    if (hs_ev_parse(line, len, &l) != 0) {
        c->st->lines_bad++;
        return 0;
    }
    if (!hs_ev_match(c->f, &l)) return 0;
    return c->fn(c->arg, hs_layout_dir_name((hs_layout_dir)c->s->dir), c->s->name, line, len, &l);
}

static void say(hs_ev_warn_fn warn, void *arg, const char *fmt, const char *a, const char *b,
                const char *c)
{
    char msg[PATH_MAX + 512];
    if (warn == NULL) return;
    snprintf(msg, sizeof(msg), fmt, a, b, c);
    warn(arg, msg);
}

int hs_ev_scan(const char *path, mode_t umask, unsigned dirs, const hs_ev_filter *f,
               hs_ev_fn fn, void *arg, hs_ev_warn_fn warn, void *warn_arg,
               hs_ev_scan_stats *stp)
{
    hs_ev_scan_stats dummy;
    struct stat root_st;
    scan_ctx c;
    seg *all;
    size_t n, i, j;
    int root, rc, fd, failed = 0;

    if (stp == NULL) stp = &dummy;
    memset(stp, 0, sizeof(*stp));
    if ((rc = open_root(path, umask, &root_st, &root)) != 0) return rc;
    if ((rc = list_all(root, dirs, &all, &n)) != 0) {
        (void)hs_layout_close(root);
        return rc;
    }
    c.f = f;
    c.fn = fn;
    c.arg = arg;
    c.st = stp;
    for (i = 0; i < n; i++) {
        const char *next = NULL;
        /* The same name twice: it moved between directories while we
         * listed; read it once. */
        if (i > 0 && cmp_seg(&all[i - 1], &all[i]) == 0) continue;
        for (j = i + 1; j < n && next == NULL; j++)
            if (!hs_layout_is_replay(all[j].name)) next = all[j].name;
        if (!hs_ev_seg_may_match(all[i].name, next, f->since_us, f->until_us)) {
            stp->segments_skipped++;
            continue;
        }
        if ((rc = open_seg(root, &root_st, umask, path, &all[i], &fd)) != 0) {
            if (rc == -ENOENT) continue;   /* moved on meanwhile */
            say(warn, warn_arg, "%s/%s: %s", hs_layout_dir_name((hs_layout_dir)all[i].dir),
                all[i].name, hs_spool_strerror(rc));
            failed = 1;
            continue;
        }
        stp->segments_read++;
        c.s = &all[i];
        rc = read_lines(fd, all[i].dir == HS_DIR_ARCHIVE, scan_line, &c);
        (void)hs_layout_close(fd);   /* read-only */
        if (rc > 0) break;            /* fn stopped us */
        if (rc < 0) {
            say(warn, warn_arg, "%s/%s: %s", hs_layout_dir_name((hs_layout_dir)all[i].dir),
                all[i].name, rc == -EBADMSG ? "damaged archive" : strerror(-rc));
            failed = 1;
            rc = 0;
        }
    }
    free(all);
    (void)hs_layout_close(root);
    return rc > 0 ? rc : failed;
}

/* ------------------------------------------------------ the last events */

/* The events of one segment's tail, oldest first, for hs_ev_last. */
typedef struct tail_ctx {
    hs_ev_brief *b;
    size_t       cap, n;       /* a ring of the last cap lines */
    size_t       total;
} tail_ctx;

static int tail_line(void *arg, const char *line, size_t len)
{
    tail_ctx *t = arg;
    hs_ev_line l;
    hs_ev_brief *b;
    size_t k;

    if (hs_ev_parse(line, len, &l) != 0) return 0;
    b = &t->b[t->total % t->cap];
    t->total++;
    memcpy(b->id, l.id, HS_ID_LEN);
    b->id[HS_ID_LEN] = '\0';
    memcpy(b->received_at, l.received_at, HS_TS_LEN);
    b->received_at[HS_TS_LEN] = '\0';
    k = l.key == NULL ? 0 : l.key_len > HS_EV_KEY_SHOWN ? HS_EV_KEY_SHOWN : l.key_len;
    if (k > 0) memcpy(b->key, l.key, k);
    b->key[k] = '\0';
    b->key_cut = l.key != NULL && l.key_len > k;
    return 0;
}

/* Read the last at most HS_EV_TAIL_BYTES of fd from its first whole line. */
static int read_tail(int fd, tail_ctx *t)
{
    hs_buf acc = HS_BUF_INIT;
    struct stat st;
    off_t from;
    size_t skip = 0;
    int rc = 0;

    if (fstat(fd, &st) != 0) return -errno;
    from = st.st_size > (off_t)HS_EV_TAIL_BYTES ? st.st_size - (off_t)HS_EV_TAIL_BYTES : 0;
    if (hs_buf_reserve(&acc, (size_t)(st.st_size - from)) != 0) return -ENOMEM;
    while (acc.len < (size_t)(st.st_size - from)) {
        ssize_t r = pread(fd, acc.p + acc.len, (size_t)(st.st_size - from) - acc.len,
                          from + (off_t)acc.len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = -errno; break; }
        if (r == 0) break;
        acc.len += (size_t)r;
    }
    if (rc == 0 && from > 0) {
        /* Started inside a line: from the next one. */
        char *nl = memchr(acc.p, '\n', acc.len);
        skip = nl == NULL ? acc.len : (size_t)(nl - acc.p) + 1;
        memmove(acc.p, acc.p + skip, acc.len - skip);
        acc.len -= skip;
    }
    if (rc == 0) rc = drain(&acc, tail_line, t);
    hs_buf_free(&acc);
    return rc;
}

int hs_ev_last(const char *path, mode_t umask, size_t n, hs_ev_brief *out, size_t *got)
{
    const unsigned dirs = (1u << HS_DIR_ACTIVE) | (1u << HS_DIR_READY) |
                          (1u << HS_DIR_CLAIMED) | (1u << HS_DIR_FAILED);
    struct stat root_st;
    hs_ev_brief *ring;
    seg *all;
    size_t cnt, i, k;
    int root, rc, fd;

    *got = 0;
    if (n > HS_EV_LAST_MAX) n = HS_EV_LAST_MAX;
    if (n == 0) return 0;
    if ((rc = open_root(path, umask, &root_st, &root)) != 0) return rc;
    if ((rc = list_all(root, dirs, &all, &cnt)) != 0) {
        (void)hs_layout_close(root);
        return rc;
    }
    if ((ring = calloc(n, sizeof(*ring))) == NULL) {
        free(all);
        (void)hs_layout_close(root);
        return -ENOMEM;
    }
    /* Newest segment first; its newest events first. */
    for (i = cnt; i-- > 0 && *got < n;) {
        tail_ctx t;
        if (hs_layout_is_replay(all[i].name)) continue;
        if (open_seg(root, &root_st, umask, path, &all[i], &fd) != 0) continue;
        t.b = ring;
        t.cap = n - *got;
        t.n = 0;
        t.total = 0;
        rc = read_tail(fd, &t);
        (void)hs_layout_close(fd);
        if (rc != 0) continue;
        for (k = 0; k < t.total && k < t.cap; k++)
            out[(*got)++] = ring[(t.total - 1 - k) % t.cap];
    }
    free(ring);
    free(all);
    (void)hs_layout_close(root);
    return 0;
}
