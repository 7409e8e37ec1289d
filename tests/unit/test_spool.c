/* Unit tests of lib/spool: layout, modes, ids, sealing, cut-backs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool.h"
#include "t.h"

static char root[256];

/* Build a line in the shape the handler makes, with placeholders. */
static size_t make_line(char *buf, size_t cap, const char *payload,
                        size_t *id_off, size_t *ts_off)
{
    int n = snprintf(buf, cap, "{\"id\":\"%*s\",\"received_at\":\"%*s\",\"event\":%s}\n",
                     HS_ID_LEN, "", HS_TS_LEN, "", payload);
    *id_off = 7;
    *ts_off = 7 + HS_ID_LEN + 17;
    return (size_t)n;
}

static int count_in(const char *dir, char names[][128], int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL) return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (names && n < max) snprintf(names[n], 128, "%s", de->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); fclose(f); return NULL; }
    p[n] = 0;
    *len = (size_t)n;
    fclose(f);
    return p;
}

/* Every line of every segment under sub-dirs active and ready: count
 * lines, check each is complete ({...}\n). Returns the count, -1 if torn. */
static int all_lines(const char *spool, char ids[][HS_ID_LEN + 1], int max)
{
    const char *subs[] = { "active", "ready" };
    int total = 0, s, i;
    for (s = 0; s < 2; s++) {
        char dir[512], names[256][128];
        int n;
        snprintf(dir, sizeof(dir), "%s/%s", spool, subs[s]);
        n = count_in(dir, names, 256);
        for (i = 0; i < n && i < 256; i++) {
            char path[700];
            size_t len, pos = 0;
            char *p;
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            p = slurp(path, &len);
            if (!p) return -1;
            while (pos < len) {
                char *nl = memchr(p + pos, '\n', len - pos);
                if (!nl || p[pos] != '{' || nl[-1] != '}') { free(p); return -1; }
                if (ids && total < max) {
                    memcpy(ids[total], p + pos + 7, HS_ID_LEN);
                    ids[total][HS_ID_LEN] = 0;
                }
                total++;
                pos = (size_t)(nl - p) + 1;
            }
            free(p);
        }
    }
    return total;
}

static hs_spool_opts opts(long long bytes, long long secs, mode_t um)
{
    hs_spool_opts o;
    o.rotate_bytes = bytes;
    o.rotate_seconds = secs;
    o.fsync_always = 1;
    o.umask = um;
    return o;
}

static void test_layout_and_modes(void)
{
    char path[512], sub[600];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 007);
    struct stat st;
    const char *subs[] = { "active", "ready", "claimed", "failed", "invalid" };
    int i;

    umask(022);   /* the web server's; must not matter */
    snprintf(path, sizeof(path), "%s/a/b/spool", root);
    CHECK(hs_spool_open(path, &o, 0, &sp) == -ENOENT);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0770);
    for (i = 0; i < 5; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
        CHECK_MSG(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0770, "%s", subs[i]);
    }
    {
        char line[512], id[HS_ID_LEN + 1], names[4][128], seg[800];
        size_t io, to, n = make_line(line, sizeof(line), "{\"a\":1}", &io, &to);
        CHECK(hs_spool_append(sp, &o, line, n, io, to, id, NULL) == 0);
        snprintf(sub, sizeof(sub), "%s/active", path);
        CHECK(count_in(sub, names, 4) == 1);
        snprintf(seg, sizeof(seg), "%s/%s", sub, names[0]);
        CHECK(stat(seg, &st) == 0 && (st.st_mode & 0777) == 0660);
        /* YYYYMMDDTHHMMSSZ-<host>-<unique>.jsonl */
        CHECK(strlen(names[0]) > 24 && names[0][8] == 'T' && names[0][15] == 'Z' &&
              names[0][16] == '-' && strcmp(names[0] + strlen(names[0]) - 6, ".jsonl") == 0);
    }
    hs_spool_close(sp);

    snprintf(path, sizeof(path), "%s/default", root);
    o = opts(1 << 20, 3600, 077);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(sub, sizeof(sub), "%s/lock", path);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0600);
    hs_spool_close(sp);
}

static void test_ids_and_size_rotation(void)
{
    char path[512], dir[600], line[512], id[HS_ID_LEN + 1], prev[HS_ID_LEN + 1] = "";
    char names[64][128], ids[200][HS_ID_LEN + 1];
    hs_spool *sp;
    hs_spool_opts o = opts(1000, 3600, 077);
    int i, n, ok_order = 1, ok_width = 1, ok_size = 1;

    snprintf(path, sizeof(path), "%s/rot", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    for (i = 0; i < 100; i++) {
        char payload[64];
        size_t io, to, len;
        snprintf(payload, sizeof(payload), "{\"n\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}", i);
        len = make_line(line, sizeof(line), payload, &io, &to);
        if (hs_spool_append(sp, &o, line, len, io, to, id, NULL) != 0) break;
        if (strlen(id) != HS_ID_LEN) ok_width = 0;
        if (strcmp(id, prev) <= 0) ok_order = 0;
        memcpy(prev, id, sizeof(prev));
        /* the stamp is written into the line too */
        if (memcmp(line + io, id, HS_ID_LEN) != 0) ok_order = 0;
        if (line[to + 4] != '-' || line[to + 10] != 'T' || line[to + 23] != 'Z') ok_width = 0;
    }
    CHECK(i == 100);
    CHECK(ok_width);
    CHECK(ok_order);
    snprintf(dir, sizeof(dir), "%s/ready", path);
    n = count_in(dir, names, 64);
    CHECK_MSG(n >= 10, "ready segments: %d", n);
    for (i = 0; i < n && i < 64; i++) {
        char p[800];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        if (stat(p, &st) != 0 || st.st_size > 1000 || st.st_size == 0) ok_size = 0;
    }
    CHECK(ok_size);
    CHECK(all_lines(path, ids, 200) == 100);
    hs_spool_close(sp);
}

static void test_age_rotation_and_rotate(void)
{
    char path[512], dir[600], a[800], b[800], line[512], id[HS_ID_LEN + 1];
    char names[8][128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 60, 077);
    size_t io, to, len;
    int sealed = -1;

    snprintf(path, sizeof(path), "%s/age", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = make_line(line, sizeof(line), "1", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    /* Not due yet: rotate (not forced) leaves it. */
    CHECK(hs_spool_rotate(sp, &o, 0, &sealed) == 0 && sealed == 0);
    snprintf(dir, sizeof(dir), "%s/active", path);
    CHECK(count_in(dir, names, 8) == 1);
    /* Age it: a segment named an hour ago is due. */
    snprintf(a, sizeof(a), "%s/%s", dir, names[0]);
    snprintf(b, sizeof(b), "%s/20000101T000000Z-old-000001.jsonl", dir);
    CHECK(rename(a, b) == 0);
    CHECK(hs_spool_rotate(sp, &o, 0, &sealed) == 0 && sealed == 1);
    CHECK(count_in(dir, NULL, 0) == 0);
    snprintf(dir, sizeof(dir), "%s/ready", path);
    CHECK(count_in(dir, names, 8) == 1 && strcmp(names[0], "20000101T000000Z-old-000001.jsonl") == 0);
    /* Forced rotate of an empty spool: nothing to do, nothing sealed. */
    CHECK(hs_spool_rotate(sp, &o, 1, &sealed) == 0 && sealed == 0);
    /* Forced rotate seals a fresh segment. */
    len = make_line(line, sizeof(line), "2", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    CHECK(hs_spool_rotate(sp, &o, 1, &sealed) == 0 && sealed == 1);
    CHECK(count_in(dir, NULL, 0) == 2);
    hs_spool_close(sp);
}

static void test_partial_tail_cut(void)
{
    char path[512], dir[600], seg[800], line[512], id[HS_ID_LEN + 1], names[4][128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    size_t io, to, len, flen;
    char *content;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tail", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = make_line(line, sizeof(line), "{\"first\":1}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/active", path);
    CHECK(count_in(dir, names, 4) == 1);
    snprintf(seg, sizeof(seg), "%s/%s", dir, names[0]);
    f = fopen(seg, "ab");
    fputs("{\"id\":\"torn", f);   /* a writer killed mid-append */
    fclose(f);
    len = make_line(line, sizeof(line), "{\"second\":2}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    CHECK(hs_spool_take_repaired(sp) == 11);
    CHECK(hs_spool_take_repaired(sp) == 0);
    content = slurp(seg, &flen);
    CHECK(content && strstr(content, "torn") == NULL && strstr(content, "first") &&
          strstr(content, "second"));
    CHECK(all_lines(path, NULL, 0) == 2);
    free(content);
    hs_spool_close(sp);
}

/* Append the line {"n":N} through sp; 0 or a negative errno. */
static int put_n(hs_spool *sp, const hs_spool_opts *o, int n)
{
    char line[512], payload[32], id[HS_ID_LEN + 1];
    size_t io, to, len;
    snprintf(payload, sizeof(payload), "{\"n\":%d}", n);
    len = make_line(line, sizeof(line), payload, &io, &to);
    return hs_spool_append(sp, o, line, len, io, to, id, NULL);
}

/* The one active segment of spool gets 11 bytes of a line whose writer
 * was killed mid-append. */
static void tear(const char *spool)
{
    char dir[600], seg[800], names[4][128];
    FILE *fp;
    snprintf(dir, sizeof(dir), "%s/active", spool);
    CHECK(count_in(dir, names, 4) == 1);
    snprintf(seg, sizeof(seg), "%s/%s", dir, names[0]);
    fp = fopen(seg, "ab");
    CHECK(fp != NULL && fputs("{\"id\":\"torn", fp) >= 0 && fclose(fp) == 0);
}

/* Handles sharing a flusher (the threads of one FastCGI process) skip
 * reading the tail when their process made the last append; a torn tail
 * left by anyone else, or a segment that is not the one recorded, is
 * still read and cut. */
static void test_tail_record(void)
{
    char path[512];
    hs_spool *a, *b, *other;
    hs_flusher *f = hs_flusher_new();
    hs_spool_opts o = opts(1 << 20, 3600, 077);

    snprintf(path, sizeof(path), "%s/record", root);
    CHECK(f != NULL && hs_spool_open(path, &o, 1, &a) == 0 && hs_spool_open(path, &o, 1, &b) == 0 &&
          hs_spool_open(path, &o, 1, &other) == 0);
    hs_spool_set_flusher(a, f);
    hs_spool_set_flusher(b, f);
    CHECK(put_n(a, &o, 1) == 0);
    CHECK(put_n(b, &o, 2) == 0);            /* the record hits: no tail read */
    tear(path);                             /* another process, killed */
    CHECK(put_n(a, &o, 3) == 0);
    CHECK(hs_spool_take_repaired(a) == 11);
    CHECK(put_n(other, &o, 4) == 0);        /* another process's whole line, */
    tear(path);                             /* then one killed mid-append */
    CHECK(put_n(b, &o, 5) == 0);
    CHECK(hs_spool_take_repaired(b) == 11);
    CHECK(all_lines(path, NULL, 0) == 5);
    /* a new segment (the old one sealed; once consumed its inode may be
     * reused) with a torn tail is read whatever the record says */
    CHECK(hs_spool_rotate(a, &o, 1, NULL) == 0);
    CHECK(put_n(other, &o, 6) == 0);
    tear(path);
    CHECK(put_n(a, &o, 7) == 0);
    CHECK(hs_spool_take_repaired(a) == 11);
    CHECK(all_lines(path, NULL, 0) == 7);
    hs_spool_close(a);
    hs_spool_close(b);
    hs_spool_close(other);
    hs_flusher_free(f);
}

/* RLIMIT_FSIZE makes a real write fail part-way (EFBIG after a short
 * write): the partial line must be cut back to the recorded offset. */
static void test_failed_write_cut_back(void)
{
    char path[512], dir[600], seg[800], line[4096], id[HS_ID_LEN + 1], names[4][128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    struct rlimit old, lim;
    struct stat st;
    size_t io, to, len;
    off_t before;
    int rc;

    signal(SIGXFSZ, SIG_IGN);
    snprintf(path, sizeof(path), "%s/efbig", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = make_line(line, sizeof(line), "{\"ok\":1}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/active", path);
    count_in(dir, names, 4);
    snprintf(seg, sizeof(seg), "%s/%s", dir, names[0]);
    stat(seg, &st);
    before = st.st_size;
    {
        char big[3000];
        memset(big, 'x', sizeof(big));
        big[0] = '"';
        big[sizeof(big) - 1] = 0;
        big[sizeof(big) - 2] = '"';
        len = make_line(line, sizeof(line), big, &io, &to);
    }
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)before + 1000;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rc = hs_spool_append(sp, &o, line, len, io, to, id, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_MSG(rc == -EFBIG, "rc=%d", rc);
    CHECK(stat(seg, &st) == 0 && st.st_size == before);
    len = make_line(line, sizeof(line), "{\"after\":1}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    CHECK(all_lines(path, NULL, 0) == 2);
    CHECK(hs_spool_take_repaired(sp) == 0);
    hs_spool_close(sp);
}


/* Issue 17: a batch is one write. Three lines: a hook skips the middle
 * one, the others land in order with consecutive ids; a batch whose
 * write fails part way (RLIMIT_FSIZE lets only its first line fit) is
 * cut back whole, so no line of it remains. */
static int skip_middle(void *arg, hs_spool *sp)
{
    hs_spool_line *l = arg;
    (void)sp;
    l[1].skip = 1;
    return 0;
}

static size_t batch_of(char *buf, size_t cap, hs_spool_line l[3], const char *pad)
{
    size_t at = 0, i;
    for (i = 0; i < 3; i++) {
        char payload[3200];
        snprintf(payload, sizeof(payload), "{\"n\":%zu,\"pad\":\"%s\"}", i, pad);
        memset(&l[i], 0, sizeof(l[i]));
        l[i].off = at;
        l[i].len = make_line(buf + at, cap - at, payload, &l[i].id_off, &l[i].ts_off);
        at += l[i].len;
    }
    return at;
}

static void test_batch_one_write(void)
{
    char path[512], dir[600], seg[800], buf[12000], pad[3000], names[4][128], *text;
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    hs_spool_hooks h = { .pre = skip_middle };
    hs_spool_line l[3];
    struct rlimit old, lim;
    struct stat st;
    size_t len;
    FILE *f;
    int rc;

    signal(SIGXFSZ, SIG_IGN);
    snprintf(path, sizeof(path), "%s/batch", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = batch_of(buf, sizeof(buf), l, "");
    h.arg = l;
    CHECK(hs_spool_append_many(sp, &o, buf, len, l, 3, &h) == 0);
    CHECK(l[1].skip && l[1].id[0] == '\0' && strcmp(l[0].id, l[2].id) < 0);
    CHECK(all_lines(path, NULL, 0) == 2);
    snprintf(dir, sizeof(dir), "%s/active", path);
    count_in(dir, names, 4);
    snprintf(seg, sizeof(seg), "%s/%s", dir, names[0]);
    text = calloc(1, 8192);
    f = fopen(seg, "r");
    CHECK(f != NULL && text != NULL && fread(text, 1, 8191, f) > 0);
    if (f) fclose(f);
    CHECK(text && strstr(text, "\"n\":0") && !strstr(text, "\"n\":1") && strstr(text, "\"n\":2"));
    CHECK(text && strstr(text, l[0].id) < strstr(text, l[2].id));
    free(text);
    /* Malformed: lines not covering the buffer. */
    len = batch_of(buf, sizeof(buf), l, "");
    l[2].len--;
    CHECK(hs_spool_append_many(sp, &o, buf, len, l, 3, NULL) == -EINVAL);

    stat(seg, &st);
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    len = batch_of(buf, sizeof(buf), l, pad);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + l[0].len + 10;   /* the first line fits */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rc = hs_spool_append_many(sp, &o, buf, len, l, 3, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_MSG(rc == -EFBIG, "rc=%d", rc);
    {
        struct stat after;
        CHECK(stat(seg, &after) == 0 && after.st_size == st.st_size);
    }
    CHECK(all_lines(path, NULL, 0) == 2);
    hs_spool_close(sp);
}

static void test_seal_never_overwrites(void)
{
    char path[512], dir[600], rdir[600], a[800], line[512], id[HS_ID_LEN + 1];
    char names[4][128], rnames[4][128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    size_t io, to, len, flen;
    char *c;
    FILE *f;
    int sealed = 0, n, i, found = 0;

    snprintf(path, sizeof(path), "%s/clash", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = make_line(line, sizeof(line), "{\"mine\":1}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/active", path);
    count_in(dir, names, 4);
    snprintf(a, sizeof(a), "%s/ready/%s", path, names[0]);
    f = fopen(a, "wb");
    fputs("precious\n", f);
    fclose(f);
    CHECK(hs_spool_rotate(sp, &o, 1, &sealed) == 0 && sealed == 1);
    c = slurp(a, &flen);
    CHECK(c && strcmp(c, "precious\n") == 0);
    free(c);
    snprintf(rdir, sizeof(rdir), "%s/ready", path);
    n = count_in(rdir, rnames, 4);
    CHECK(n == 2);
    for (i = 0; i < n; i++) {
        char p[800];
        snprintf(p, sizeof(p), "%s/%s", rdir, rnames[i]);
        c = slurp(p, &flen);
        if (c && strstr(c, "\"mine\"")) found = 1;
        free(c);
    }
    CHECK(found);
    CHECK(count_in(dir, NULL, 0) == 0);
    hs_spool_close(sp);
}

static int lines_of_only(const char *spool, const char *sub, char name[128]);

static void test_crash_leftovers(void)
{
    char path[512], dir[600], a[800], b[800], line[512], id[HS_ID_LEN + 1], names[4][128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    size_t io, to, len;
    FILE *f;

    snprintf(path, sizeof(path), "%s/leftover", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    len = make_line(line, sizeof(line), "{\"x\":1}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/active", path);
    count_in(dir, names, 4);
    /* Sealed by link() with the unlink lost: both names, one inode. */
    snprintf(a, sizeof(a), "%s/%s", dir, names[0]);
    snprintf(b, sizeof(b), "%s/ready/%s", path, names[0]);
    CHECK(link(a, b) == 0);
    /* And a stray older live segment. */
    snprintf(a, sizeof(a), "%s/19990101T000000Z-other-000001.jsonl", dir);
    f = fopen(a, "wb");
    fputs("{\"stray\":1}\n{\"part", f);
    fclose(f);
    hs_spool_close(sp);
    CHECK(hs_spool_open(path, &o, 0, &sp) == 0);
    len = make_line(line, sizeof(line), "{\"y\":2}", &io, &to);
    CHECK(hs_spool_append(sp, &o, line, len, io, to, id, NULL) == 0);
    CHECK(count_in(dir, NULL, 0) == 1);
    snprintf(a, sizeof(a), "%s/ready", path);
    CHECK(count_in(a, NULL, 0) == 2);
    /* x once (not twice through the double link), stray, y: all whole. */
    CHECK(all_lines(path, NULL, 0) == 3);
    hs_spool_close(sp);
}

/* The same leftover seen by a handle that still has that segment cached
 * (another process crashed between sealing's link() and unlink()): a
 * segment with a second name in ready/ is sealed, and is never appended
 * to, whether the handle opens it by name or kept its descriptor. */
static void test_double_link_cached(void)
{
    char path[512], a[800], b[800], name[128];
    hs_spool *sp, *other;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    int round;

    snprintf(path, sizeof(path), "%s/doublelink", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0 && hs_spool_open(path, &o, 1, &other) == 0);
    for (round = 0; round < 2; round++) {
        CHECK(put_n(sp, &o, 10 * round + 1) == 0);
        if (round == 1) hs_spool_idle(sp);      /* not kept: opened by name */
        CHECK(lines_of_only(path, "active", name) == 1);
        snprintf(a, sizeof(a), "%s/active/%s", path, name);
        snprintf(b, sizeof(b), "%s/ready/%s", path, name);
        CHECK(link(a, b) == 0);
        CHECK(put_n(sp, &o, 10 * round + 2) == 0);
        {
            size_t len;
            char *p = slurp(b, &len);
            CHECK_MSG(p != NULL && memchr(p, '\n', len) == p + len - 1,
                      "round %d: the sealed segment got a line after its link", round);
            free(p);
        }
        CHECK_MSG(access(a, F_OK) != 0, "round %d: the sealed segment is still in active/", round);
        CHECK(lines_of_only(path, "active", NULL) == 1);
        CHECK(hs_spool_rotate(other, &o, 1, NULL) == 0);
    }
    CHECK(all_lines(path, NULL, 0) == 4);
    hs_spool_close(sp);
    hs_spool_close(other);
}

/* A second link that is not in ready/ (an operator's `cp -al` backup, a
 * hard-link snapshot) is not a seal: the segment stays active, and no
 * line leaves the spool. */
static void test_foreign_link(void)
{
    char path[512], a[800], b[800], name[128];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    int round;

    snprintf(path, sizeof(path), "%s/foreignlink", root);
    for (round = 0; round < 2; round++) {
        CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
        CHECK(put_n(sp, &o, 10 * round + 1) == 0);
        CHECK(lines_of_only(path, "active", name) == 1 + 3 * round);
        snprintf(a, sizeof(a), "%s/active/%s", path, name);
        snprintf(b, sizeof(b), "%s/backup-%d", root, round);
        CHECK(link(a, b) == 0);
        if (round == 1) {                        /* a fresh handle: load_seg */
            hs_spool_close(sp);
            CHECK(hs_spool_open(path, &o, 0, &sp) == 0);
        }
        CHECK(put_n(sp, &o, 10 * round + 2) == 0);
        CHECK(put_n(sp, &o, 10 * round + 3) == 0);
        CHECK_MSG(all_lines(path, NULL, 0) == 3 + 3 * round, "round %d: %d lines", round,
                  all_lines(path, NULL, 0));
        hs_spool_close(sp);
    }
}

static void test_valid_after_replace(void)
{
    char path[512], moved[600];
    hs_spool *sp;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    snprintf(path, sizeof(path), "%s/replaced", root);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    CHECK(hs_spool_valid(sp) == 1);
    snprintf(moved, sizeof(moved), "%s/replaced.old", root);
    CHECK(rename(path, moved) == 0);
    CHECK(hs_spool_valid(sp) == 0);
    CHECK(mkdir(path, 0700) == 0);                 /* a new directory there */
    CHECK(hs_spool_valid(sp) == 0);
    CHECK(rmdir(path) == 0);
    CHECK(rename(moved, path) == 0);               /* moved back: the same one */
    CHECK(hs_spool_valid(sp) == 1);
    CHECK(hs_spool_valid(sp) == 1);
    hs_spool_close(sp);
    /* a handle whose first question comes after the move */
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    CHECK(rename(path, moved) == 0);
    CHECK(mkdir(path, 0700) == 0);
    CHECK(hs_spool_valid(sp) == 0);
    CHECK(rmdir(path) == 0);
    CHECK(rename(moved, path) == 0);
    hs_spool_close(sp);
}

/* Descriptors of this process open on segments of spool (files in its
 * active/ or ready/), and of those, how many name a deleted file. */
static int fds_under(const char *dir, int *deleted)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;
    size_t dl = strlen(dir);
    *deleted = 0;
    if (d == NULL) return -1;
    while ((de = readdir(d)) != NULL) {
        char link[64], target[1024];
        ssize_t r;
        if (de->d_name[0] == '.') continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        r = readlink(link, target, sizeof(target) - 1);
        if (r <= 0) continue;
        target[r] = '\0';
        if (strncmp(target, dir, dl) != 0 ||
            (strncmp(target + dl, "/active/", 8) != 0 && strncmp(target + dl, "/ready/", 7) != 0))
            continue;
        n++;
        if (strstr(target, " (deleted)") != NULL) (*deleted)++;
    }
    closedir(d);
    return n;
}

/* Lines in the one file of spool/sub (-1 unless exactly one file). */
static int lines_of_only(const char *spool, const char *sub, char name[128])
{
    char dir[600], path[800], names[4][128];
    size_t len, i;
    int n = 0;
    char *p;
    snprintf(dir, sizeof(dir), "%s/%s", spool, sub);
    if (count_in(dir, names, 4) != 1) return -1;
    if (name != NULL) memcpy(name, names[0], 128);
    snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
    if ((p = slurp(path, &len)) == NULL) return -1;
    for (i = 0; i < len; i++) n += p[i] == '\n';
    free(p);
    return n;
}

/*
 * A handle keeps the active segment's descriptor between operations (an
 * open per request cost 4-5 us of a 35 us request) and checks it by name
 * under the lock before each use: a segment another process sealed, one
 * put back under the same name as another file, is never written through
 * the kept descriptor. hs_spool_idle closes it (FastCGI calls it before
 * it waits for a request with none pending), so an idle process pins no
 * segment that a consumer deleted.
 */
static void test_kept_segment(void)
{
    char path[512], sealed[128], active[128], from[800], to[800];
    hs_spool *a, *b;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    int n, del, k;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/kept", root);
    CHECK(hs_spool_open(path, &o, 1, &a) == 0 && hs_spool_open(path, &o, 1, &b) == 0);
    CHECK(put_n(a, &o, 1) == 0);
    n = fds_under(path, &del);
    CHECK_MSG(n == 1 && del == 0, "%d segments open, %d deleted", n, del);
    /* another process seals it: a's next line goes to a new segment */
    CHECK(hs_spool_rotate(b, &o, 1, NULL) == 0);
    CHECK(put_n(a, &o, 2) == 0);
    CHECK(lines_of_only(path, "ready", sealed) == 1);
    CHECK(lines_of_only(path, "active", active) == 1);
    /* sealed again, and consumed: a pins the deleted file until its next
     * operation or hs_spool_idle, never longer */
    CHECK(hs_spool_rotate(b, &o, 1, NULL) == 0);
    snprintf(to, sizeof(to), "%s/ready/%s", path, active);
    CHECK(unlink(to) == 0);
    (void)fds_under(path, &del);
    CHECK(del == 1);
    hs_spool_idle(a);
    (void)fds_under(path, &del);
    CHECK_MSG(del == 0, "%d deleted files still open after hs_spool_idle", del);
    CHECK(put_n(a, &o, 3) == 0);
    CHECK(hs_spool_rotate(b, &o, 1, NULL) == 0);
    CHECK(put_n(b, &o, 4) == 0);
    snprintf(from, sizeof(from), "%s/ready", path);
    CHECK(count_in(from, NULL, 0) == 2);
    CHECK(lines_of_only(path, "active", active) == 1);
    /* a's kept segment was sealed and deleted: its next operation lets
     * it go */
    CHECK(hs_spool_rotate(b, &o, 1, NULL) == 0);
    CHECK(put_n(a, &o, 5) == 0);
    CHECK(lines_of_only(path, "active", active) == 1);
    CHECK(hs_spool_rotate(b, &o, 1, NULL) == 0);
    snprintf(to, sizeof(to), "%s/ready/%s", path, active);
    (void)unlink(to);
    CHECK(lines_of_only(path, "active", NULL) == -1);   /* none active */
    CHECK(put_n(a, &o, 6) == 0);
    (void)fds_under(path, &del);
    CHECK_MSG(del == 0, "%d deleted files open after an append", del);
    /* the active segment put back under its name as another file (a copy
     * restored by hand): a writes to the file at the name, and the old
     * inode, now unlinked, gets nothing */
    CHECK(lines_of_only(path, "active", active) == 1);
    snprintf(from, sizeof(from), "%s/active/.copy", path);
    snprintf(to, sizeof(to), "%s/active/%s", path, active);
    {
        size_t len;
        char *body = slurp(to, &len);
        fp = fopen(from, "wb");
        CHECK(body != NULL && fp != NULL && fwrite(body, 1, len, fp) == len && fclose(fp) == 0);
        free(body);
    }
    CHECK(rename(from, to) == 0);
    CHECK(put_n(a, &o, 7) == 0);
    CHECK(lines_of_only(path, "active", NULL) == 2);
    (void)fds_under(path, &del);
    CHECK(del == 0);
    /* many operations across rotations: at most one segment kept */
    for (k = 0; k < 40; k++) {
        CHECK(put_n(k % 2 ? a : b, &o, 100 + k) == 0);
        if (k % 5 == 0) CHECK(hs_spool_rotate(k % 3 ? a : b, &o, 1, NULL) == 0);
    }
    hs_spool_idle(b);
    n = fds_under(path, &del);
    CHECK_MSG(n == 1 && del == 0, "%d segments open, %d deleted", n, del);
    hs_spool_close(a);
    CHECK(fds_under(path, &del) == 0);
    hs_spool_close(b);
    /* lines 2 and 5 went with the segments deleted above */
    CHECK(all_lines(path, NULL, 0) == 5 + 40);
}

/* Several processes appending at once: every line whole, ids unique. */
static void test_concurrent_processes(void)
{
    enum { PROCS = 4, EACH = 150 };
    static char ids[PROCS * EACH + 10][HS_ID_LEN + 1];
    char path[512];
    hs_spool_opts o = opts(4096, 3600, 077);
    int p, status, ok = 1, n, i, dup = 0;

    snprintf(path, sizeof(path), "%s/conc", root);
    for (p = 0; p < PROCS; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            hs_spool *sp;
            char line[512], id[HS_ID_LEN + 1];
            int k;
            o.fsync_always = p % 2;
            if (hs_spool_open(path, &o, 1, &sp) != 0) _exit(1);
            for (k = 0; k < EACH; k++) {
                char payload[64];
                size_t io, to, len;
                snprintf(payload, sizeof(payload), "{\"p\":%d,\"k\":%d}", p, k);
                len = make_line(line, sizeof(line), payload, &io, &to);
                if (hs_spool_append(sp, &o, line, len, io, to, id, NULL) != 0) _exit(2);
            }
            hs_spool_close(sp);
            _exit(0);
        }
    }
    for (p = 0; p < PROCS; p++) {
        if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = 0;
    }
    CHECK(ok);
    n = all_lines(path, ids, PROCS * EACH + 10);
    CHECK_MSG(n == PROCS * EACH, "lines %d", n);
    qsort(ids, (size_t)(n > 0 ? n : 0), sizeof(ids[0]), (int (*)(const void *, const void *))strcmp);
    for (i = 1; i < n; i++) if (strcmp(ids[i - 1], ids[i]) == 0) dup++;
    CHECK(dup == 0);
}

/* A pre hook that reports the lock held (a byte on fds[0]) and keeps
 * it until a byte comes on fds[1]. */
static int hold_lock(void *arg, hs_spool *sp)
{
    const int *fds = arg;
    char c = 'h';
    (void)sp;
    if (write(fds[0], &c, 1) != 1 || read(fds[1], &c, 1) != 1) return -EIO;
    return 0;
}

/* The waiter count in SPOOL/lock's wake-up words, or -1. */
static long lock_waiters(const char *path)
{
    char lock[600];
    uint32_t w;
    int fd;
    ssize_t r;
    snprintf(lock, sizeof(lock), "%s/lock", path);
    if ((fd = open(lock, O_RDONLY)) < 0) return -1;
    r = pread(fd, &w, sizeof(w), HS_LOCK_WAKE_OFF + 4);
    close(fd);
    return r == (ssize_t)sizeof(w) ? (long)w : -1;
}

/*
 * Issue 18: a writer waiting for the spool lock sleeps on SPOOL/lock's
 * wake-up words and the unlock wakes it, instead of polling with sleeps
 * that left the lock free while the next writer slept. Process A holds
 * the lock (in a pre hook) until process B waits for it, as the waiter
 * count shows; then A lets go. B must have been woken, not have waited
 * out HS_LOCK_WAKE_MS and polled (a slow machine may also make it do
 * that, once, before the wake; it is woken all the same).
 */
static void test_lock_wake(void)
{
    char path[512], c;
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    int held[2], go[2], res[2], fds[2], status, i, ok_a = 0, ok_b = 0;
    pid_t a, b;
    long waiting = 0;
    unsigned long long got[2] = { 0, 0 };

    snprintf(path, sizeof(path), "%s/wake", root);
    if (pipe(held) != 0 || pipe(go) != 0 || pipe(res) != 0) { CHECK(0); return; }
    if ((a = fork()) == 0) {
        hs_spool *sp;
        hs_spool_hooks h = { .pre = hold_lock };
        char line[512], id[HS_ID_LEN + 1];
        size_t io, to, len = make_line(line, sizeof(line), "{\"who\":\"a\"}", &io, &to);
        fds[0] = held[1];
        fds[1] = go[0];
        h.arg = fds;
        if (hs_spool_open(path, &o, 1, &sp) != 0) _exit(1);
        _exit(hs_spool_append(sp, &o, line, len, io, to, id, &h) == 0 ? 0 : 2);
    }
    CHECK_MSG(a > 0 && read(held[0], &c, 1) == 1, "process A holds the lock");
    if ((b = fork()) == 0) {
        hs_spool *sp;
        char line[512], id[HS_ID_LEN + 1];
        size_t io, to, len = make_line(line, sizeof(line), "{\"who\":\"b\"}", &io, &to);
        uint64_t n[2];
        unsigned long long out[2];
        if (hs_spool_open(path, &o, 1, &sp) != 0) _exit(1);
        if (hs_spool_append(sp, &o, line, len, io, to, id, NULL) != 0) _exit(2);
        hs_spool_lock_waits(sp, &n[0], &n[1]);
        out[0] = n[0];
        out[1] = n[1];
        _exit(write(res[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 3);
    }
    /* Until B waits: a bound for liveness only (20 s), not a speed. */
    for (i = 0; i < 20000 && b > 0 && (waiting = lock_waiters(path)) == 0; i++) usleep(1000);
    CHECK_MSG(waiting == 1, "process B waits on the wake-up words (waiters %ld)", waiting);
    c = 'g';
    CHECK(write(go[1], &c, 1) == 1);
    if (a > 0 && waitpid(a, &status, 0) == a) ok_a = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (b > 0 && waitpid(b, &status, 0) == b) ok_b = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    CHECK_MSG(ok_a && ok_b, "both appended (A %d, B %d)", ok_a, ok_b);
    CHECK(ok_b && read(res[0], got, sizeof(got)) == (ssize_t)sizeof(got));
    CHECK_MSG(got[0] >= 1, "B was woken by the unlock (woken %llu, waits that ran out %llu)",
              got[0], got[1]);
    CHECK(all_lines(path, NULL, 0) == 2);
    CHECK_MSG(lock_waiters(path) == 0, "no waiter counted once both are done");
    for (i = 0; i < 2; i++) {
        close(held[i]);
        close(go[i]);
        close(res[i]);
    }
}

/* Descriptors of this process on files that were deleted, below dir. */
static int deleted_fds(const char *dir)
{
    char link[64], target[PATH_MAX];
    struct dirent *e;
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ssize_t r;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        if ((r = readlink(link, target, sizeof(target) - 1)) <= 0) continue;
        target[r] = '\0';
        n += strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "(deleted)") != NULL;
    }
    closedir(d);
    return n;
}

/* In a child with a mount namespace of its own: a 1 MiB tmpfs at mnt.
 * Returns the child's exit status: 0 when every step held, else the
 * number of the first step that failed. */
static int low_room_steps(const char *mnt)
{
    char path[600], fresh[600], fill[600], dir[640], names[4][128], gone[800];
    static char block[65536];
    hs_spool_opts o = opts(1 << 20, 3600, 077);
    hs_spool *a, *b, *c;
    size_t io, to, len;
    char line[2048], id[HS_ID_LEN + 1];
    int fd, sealed = 0;

    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/spool", mnt);
    if (hs_spool_open(path, &o, 1, &a) != 0 || hs_spool_open(path, &o, 1, &b) != 0) return 2;
    len = make_line(line, sizeof(line), "{\"n\":1}", &io, &to);
    if (hs_spool_append(a, &o, line, len, io, to, id, NULL) != 0) return 3;
    /* Another handle seals the segment; a consumer deletes it. */
    if (hs_spool_rotate(b, &o, 1, &sealed) != 0 || !sealed) return 4;
    snprintf(dir, sizeof(dir), "%s/ready", path);
    if (count_in(dir, names, 4) != 1) return 5;
    snprintf(gone, sizeof(gone), "%s/%s", dir, names[0]);
    if (unlink(gone) != 0) return 6;
    /* With so little room, a's descriptor was not kept: the space is back. */
    if (deleted_fds(mnt) != 0) return 7;
    /* Fill the filesystem, then lock a spool made on it since: the lock
     * file's wake-up words must not be a page the full filesystem cannot
     * give (a write to it through the map would be a SIGBUS). */
    snprintf(fill, sizeof(fill), "%s/fill", mnt);
    snprintf(fresh, sizeof(fresh), "%s/fresh", mnt);
    if (hs_spool_open(fresh, &o, 1, &c) != 0) return 8;
    if ((fd = open(fill, O_WRONLY | O_CREAT, 0600)) < 0) return 9;
    while (write(fd, block, sizeof(block)) > 0) {}
    while (write(fd, block, 1) > 0) {}
    close(fd);
    len = make_line(line, sizeof(line), "{\"n\":2}", &io, &to);
    if (hs_spool_append(c, &o, line, len, io, to, id, NULL) != -ENOSPC) return 10;
    /* Whatever it answers on a full disk (a seal may need room), it
     * answers: a SIGBUS would end this child by a signal. */
    (void)hs_spool_rotate(c, &o, 1, &sealed);
    hs_spool_close(a);
    hs_spool_close(b);
    hs_spool_close(c);
    return 0;
}

/*
 * A small filesystem (a private 1 MiB tmpfs; needs root, as make test
 * has). Issue 18: a FastCGI worker that kept the segment's descriptor
 * between requests pinned a sealed segment that a consumer had deleted,
 * and on a full disk the next event was refused (CI, valgrind:
 * test_dedup.py's 1 MiB spool). With little room no descriptor is kept.
 * And the lock's wake-up words on a full filesystem answer ENOSPC, never
 * a SIGBUS.
 */
static void test_low_room(void)
{
    char mnt[512];
    int status = -1;
    pid_t pid;

    snprintf(mnt, sizeof(mnt), "%s/lowroom", root);
    CHECK(mkdir(mnt, 0700) == 0);
    if ((pid = fork()) == 0) _exit(low_room_steps(mnt));
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "low room: %s %d (0 is every step held; see low_room_steps)",
              WIFEXITED(status) ? "step" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static void test_formats(void)
{
    char id[HS_ID_LEN + 1], ts[HS_TS_LEN + 1];
    /* 2026-11-22T10:00:00.123456Z */
    uint64_t st = 1795341600ull * 1000000u + 123456u;
    hs_spool_fmt_id(st, "0123456789ab", id);
    hs_spool_fmt_ts(st, ts);
    CHECK_STR(id, "20261122T100000.123456Z-0123456789ab");
    CHECK_STR(ts, "2026-11-22T10:00:00.123Z");
    /* The calendar arithmetic agrees with gmtime_r over 1970..9999, leap
     * days and century years included (a fixed pseudo-random walk). */
    {
        uint64_t x = 88172645463325252ull;
        int i, bad = 0;
        for (i = 0; i < 20000 && bad < 3; i++) {
            char want[64];
            struct tm tm;
            time_t t;
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            t = (time_t)(x % 253402300800ull);            /* < 10000-01-01 */
            if (i < 8) t = (time_t)(951782400 + 86400 * (i - 4)); /* around 2000-02-29 */
            gmtime_r(&t, &tm);
            strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
            hs_spool_fmt_ts((uint64_t)t * 1000000u, ts);
            if (strcmp(ts, want) != 0) {
                bad++;
                CHECK_MSG(0, "stamp %lld: %s, gmtime_r %s", (long long)t, ts, want);
            }
        }
        CHECK_MSG(bad == 0, "%d stamps formatted unlike gmtime_r", bad);
    }
}

/* The time a received_at ("2026-11-22T10:00:00.123Z") stands for, in
 * seconds, or -1. */
static long long ts_seconds(const char *ts)
{
    int y, mo, d, h, mi, sec, ms;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &sec, &ms) != 7) return -1;
    return (long long)hs_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* Issue 13 item 6: a lock file holding a stamp a day ahead (a clock that
 * was once ahead), or garbage. received_at follows the real clock, a
 * segment whose first line is old seals by age, and ids stay unique and
 * strictly increasing (across two handles, as two processes). */
/* The number of this process' descriptor of spool's lock file, or -1. */
static int lock_fd_of(const char *spool)
{
    char want[600], link[64], got[700];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int fd = -1;
    ssize_t n;

    snprintf(want, sizeof(want), "%s/lock", spool);
    if (d == NULL) return -1;
    while (fd < 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        n = readlink(link, got, sizeof(got) - 1);
        if (n <= 0) continue;
        got[n] = '\0';
        if (strcmp(got, want) == 0) fd = atoi(de->d_name);
    }
    closedir(d);
    return fd;
}

/* A pre hook (the lock is held): make this hold's unlock fail, as
 * flock(LOCK_UN) may (ENOLCK, EBADF). The lock's descriptor number now
 * names an O_PATH descriptor, which flock refuses; the handle must then
 * drop the descriptor and open SPOOL/lock again at its next lock. */
static int break_unlock(void *arg, hs_spool *sp)
{
    const char *spool = arg;
    int fd = lock_fd_of(spool), p = open(spool, O_PATH | O_CLOEXEC), ok;
    (void)sp;
    ok = fd >= 0 && p >= 0 && dup2(p, fd) == fd;
    if (p >= 0) close(p);
    return ok ? 0 : -EIO;
}

/*
 * The lock opened again after a failed unlock is checked as at open:
 * never through a symbolic link (the stamp is written into whatever the
 * lock is: a link would have it written into another file), never a file
 * hs_spool_open would refuse; and a lock file replaced meanwhile is the
 * one read, its stamp included, not the page mapped from the old one.
 */
static void test_lock_reopen(void)
{
    static const char *const cases[] = { "a symbolic link", "world-writable", "replaced" };
    size_t k;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char path[512], lock[600], old[600], victim[600], line[512], id[HS_ID_LEN + 1];
        char want[HS_ID_LEN + 1], tag[HS_TAG_LEN + 1];
        unsigned char b[72], back[72];
        hs_spool *sp;
        hs_spool_opts o = opts(1 << 20, 3600, 077);
        hs_spool_hooks h = { .pre = break_unlock };
        size_t io, to, len, nb = 0, na = 0, i;
        char *before = NULL, *after = NULL;
        uint64_t ahead = ((uint64_t)time(NULL) + 3600u) * 1000000u, got = 0;
        int fd, rc;

        snprintf(path, sizeof(path), "%s/reopen%zu", root, k);
        snprintf(lock, sizeof(lock), "%s/lock", path);
        snprintf(old, sizeof(old), "%s/lock.old", path);
        snprintf(victim, sizeof(victim), "%s/victim%zu", root, k);
        h.arg = path;
        CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
        len = make_line(line, sizeof(line), "1", &io, &to);
        CHECK_MSG(hs_spool_append(sp, &o, line, len, io, to, id, &h) == 0,
                  "%s: the append whose unlock fails is written", cases[k]);
        CHECK(rename(lock, old) == 0);
        if (k == 0) {
            fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            CHECK(fd >= 0 && write(fd, "someone else's file, not a lock\n", 32) == 32 &&
                  close(fd) == 0);
            CHECK(symlink(victim, lock) == 0);
        } else {
            memset(b, 0, sizeof(b));
            for (i = 0; i < 8; i++) b[i] = (unsigned char)(ahead >> (8 * i));
            fd = open(lock, O_RDWR | O_CREAT | O_EXCL, 0600);
            CHECK(fd >= 0 && pwrite(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) && close(fd) == 0);
            if (k == 1) CHECK(chmod(lock, 0666) == 0);
        }
        before = slurp(k == 0 ? victim : old, &nb);
        len = make_line(line, sizeof(line), "2", &io, &to);
        rc = hs_spool_append(sp, &o, line, len, io, to, id, NULL);
        after = slurp(k == 0 ? victim : old, &na);
        CHECK_MSG(before != NULL && after != NULL && nb == na && memcmp(before, after, nb) == 0,
                  "%s: the append after the reopen wrote into %s", cases[k],
                  k == 0 ? "the file the link names" : "the old lock file");
        if (k < 2) {
            CHECK_MSG(rc == -HS_EUNTRUSTED, "%s: the lock opened again is refused (rc %d)",
                      cases[k], rc);
        } else {
            CHECK_MSG(rc == 0, "%s: the append after the reopen (rc %d)", cases[k], rc);
            /* The new file's stamp is read: the id follows it. */
            memset(tag, '0', HS_TAG_LEN);
            tag[HS_TAG_LEN] = '\0';
            hs_spool_fmt_id(ahead, tag, want);
            CHECK_MSG(rc == 0 && strncmp(id, want, HS_ID_LEN - HS_TAG_LEN - 1) > 0,
                      "%s: id %s does not follow the stamp in the lock file (%s)", cases[k], id,
                      want);
            fd = open(lock, O_RDONLY);
            CHECK(fd >= 0 && pread(fd, back, 8, 0) == 8 && close(fd) == 0);
            for (i = 8; i-- > 0;) got = got << 8 | back[i];
            CHECK_MSG(got > ahead, "%s: the stamp is stored in the new lock file", cases[k]);
            CHECK(all_lines(path, NULL, 0) == 2);
        }
        free(before);
        free(after);
        hs_spool_close(sp);
    }
}

/* Under a handle's lock: does it hold the file that SPOOL/lock names
 * now? A fresh descriptor of that file must not get the lock. */
static int holds_named_lock(void *arg, hs_spool *sp)
{
    int *held = arg, fd;
    char lock[600];
    snprintf(lock, sizeof(lock), "%s/lock", hs_spool_path(sp));
    fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    *held = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (fd >= 0) close(fd);
    return 0;
}

/*
 * SPOOL/lock deleted or moved away while handles have it open (an
 * operator clearing what looks like a stale lock file): a handle opened
 * afterwards makes a new file, and each handle must move to the file the
 * name gives at its next lock, or the writers that kept the old file
 * and those with the new one (a cron `rotate`, a new FastCGI process)
 * no longer exclude each other, for good. With nobody to make a new one,
 * the next lock makes it, as hs_spool_open would. The handle that moves
 * carries the old file's stamp into the new one: ids stay ordered after
 * the stamp it had (planted an hour ahead, as a clock stepped back would
 * leave it).
 */
static void test_lock_replaced(void)
{
    static const char *const cases[] = { "deleted", "moved away", "deleted, no new handle" };
    size_t k, i;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char path[512], lock[600], old[600], line[512], id[HS_ID_LEN + 1], id_c[HS_ID_LEN + 1];
        char want[HS_ID_LEN + 1], tag[HS_TAG_LEN + 1];
        hs_spool *a = NULL, *b = NULL;
        hs_spool_opts o = opts(1 << 20, 3600, 077);
        int held = -1, fd;
        hs_spool_hooks h = { .pre = holds_named_lock, .arg = &held };
        uint64_t ahead = ((uint64_t)time(NULL) + 3600u) * 1000000u;
        unsigned char st8[8];
        struct stat st;
        size_t io, to, len;

        snprintf(path, sizeof(path), "%s/replaced%zu", root, k);
        snprintf(lock, sizeof(lock), "%s/lock", path);
        snprintf(old, sizeof(old), "%s/lock.old", path);
        CHECK(hs_spool_open(path, &o, 1, &a) == 0);
        len = make_line(line, sizeof(line), "1", &io, &to);
        CHECK(hs_spool_append(a, &o, line, len, io, to, id, NULL) == 0);
        for (i = 0; i < 8; i++) st8[i] = (unsigned char)(ahead >> (8 * i));
        fd = open(lock, O_RDWR);
        CHECK(fd >= 0 && pwrite(fd, st8, 8, 0) == 8 && close(fd) == 0);
        memset(tag, '0', HS_TAG_LEN);
        tag[HS_TAG_LEN] = '\0';
        hs_spool_fmt_id(ahead, tag, want);
        CHECK(k == 1 ? rename(lock, old) == 0 : unlink(lock) == 0);
        if (k < 2) {
            CHECK(hs_spool_open(path, &o, 1, &b) == 0);
            len = make_line(line, sizeof(line), "2", &io, &to);
            held = -1;
            CHECK(hs_spool_append(b, &o, line, len, io, to, id, &h) == 0);
            CHECK_MSG(held == 1, "%s: the new handle holds the file named lock", cases[k]);
        }
        len = make_line(line, sizeof(line), "3", &io, &to);
        held = -1;
        CHECK_MSG(hs_spool_append(a, &o, line, len, io, to, id_c, &h) == 0,
                  "%s: the old handle appends", cases[k]);
        CHECK_MSG(held == 1, "%s: the old handle holds the file named lock, not the one it had",
                  cases[k]);
        CHECK_MSG(lstat(lock, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
                  "%s: SPOOL/lock is a file of mode 0600 again", cases[k]);
        CHECK_MSG(strncmp(id_c, want, HS_ID_LEN - HS_TAG_LEN - 1) > 0,
                  "%s: id %s follows the old file's stamp (%s)", cases[k], id_c, want);
        CHECK(all_lines(path, NULL, 0) == (k < 2 ? 3 : 2));
        if (b != NULL) {
            len = make_line(line, sizeof(line), "4", &io, &to);
            held = -1;
            CHECK(hs_spool_append(b, &o, line, len, io, to, id, &h) == 0 && held == 1);
            CHECK_MSG(strcmp(id, id_c) > 0, "%s: the new handle's next id %s follows %s",
                      cases[k], id, id_c);
        }
        hs_spool_close(a);
        hs_spool_close(b);
        /* With no handle open, one that only opens (a cron `rotate`, a
         * consumer) makes it again too: before, such a spool opened as
         * missing (ENOENT), and `rotate` sealed nothing and said nothing. */
        a = NULL;
        CHECK(unlink(lock) == 0);
        CHECK_MSG(hs_spool_open(path, &o, 0, &a) == 0 && lstat(lock, &st) == 0 &&
                      S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
                  "%s: a spool without its lock file opens, and has it again", cases[k]);
        if (a != NULL) {
            int sealed = 0;
            CHECK(hs_spool_rotate(a, &o, 1, &sealed) == 0 && sealed == 1);
        }
        hs_spool_close(a);
    }
    {
        /* A directory that is no spool gets no lock file. */
        char path[512], lock[600];
        hs_spool *a = NULL;
        hs_spool_opts o = opts(1 << 20, 3600, 077);
        snprintf(path, sizeof(path), "%s/notaspool", root);
        snprintf(lock, sizeof(lock), "%s/lock", path);
        CHECK(mkdir(path, 0700) == 0);
        CHECK(hs_spool_open(path, &o, 0, &a) == -ENOENT && a == NULL);
        CHECK_MSG(access(lock, F_OK) != 0 && errno == ENOENT,
                  "an empty directory opened as a spool gets no lock file");
    }
}

/* A critical section that is under way when SPOOL/lock goes: held by
 * a thread for HOLD_MS, its start and end on the monotonic clock. */
#define HOLD_MS 300
struct held_section {
    hs_spool        *sp;
    hs_spool_opts    o;
    _Atomic int      inside;
    struct timespec  start, end;
    int              rc;
};

static double ms_of(const struct timespec *t)
{
    return (double)t->tv_sec * 1000.0 + (double)t->tv_nsec / 1e6;
}

static int hold_a_while(void *arg, hs_spool *sp)
{
    struct held_section *h = arg;
    struct timespec d = { HOLD_MS / 1000, (HOLD_MS % 1000) * 1000000L };
    (void)sp;
    clock_gettime(CLOCK_MONOTONIC, &h->start);
    atomic_store(&h->inside, 1);
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &h->end);
    return 0;
}

static void *append_holding(void *arg)
{
    struct held_section *h = arg;
    hs_spool_hooks hk = { .pre = hold_a_while, .arg = h };
    char line[512], id[HS_ID_LEN + 1];
    size_t io, to, len = make_line(line, sizeof(line), "held", &io, &to);
    h->rc = hs_spool_append(h->sp, &h->o, line, len, io, to, id, &hk);
    return NULL;
}

static int note_start(void *arg, hs_spool *sp)
{
    (void)sp;
    clock_gettime(CLOCK_MONOTONIC, (struct timespec *)arg);
    return 0;
}

/*
 * The one overlap a removed lock file leaves: a writer that opens the
 * spool afterwards makes a new lock file and could lock it while a
 * writer with the old file is still inside its critical section (every
 * later holder of the old file moves, lock_moved). The handle that
 * makes the file again in a spool that had one therefore waits
 * HS_LOCK_GRACE_MS in its first hold, before anything else: a section
 * under way on the old file (here HOLD_MS) is over by then, whether
 * the new handle only opens the spool (a cron job) or may create it.
 */
static void test_lock_grace(void)
{
    static const char *const cases[] = { "opened to append (create)", "opened as cron does" };
    size_t k;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char path[512], lock[600], line[512], id[HS_ID_LEN + 1];
        struct held_section h;
        struct timespec b_start = { 0, 0 };
        hs_spool *b = NULL;
        hs_spool_hooks hk = { .pre = note_start, .arg = &b_start };
        pthread_t th;
        size_t io, to, len;
        int sealed = 0;

        memset(&h, 0, sizeof(h));
        h.o = opts(1 << 20, 3600, 077);
        snprintf(path, sizeof(path), "%s/grace%zu", root, k);
        snprintf(lock, sizeof(lock), "%s/lock", path);
        CHECK(hs_spool_open(path, &h.o, 1, &h.sp) == 0);
        CHECK(pthread_create(&th, NULL, append_holding, &h) == 0);
        while (!atomic_load(&h.inside)) sched_yield();
        CHECK(unlink(lock) == 0);
        CHECK(hs_spool_open(path, &h.o, k == 0, &b) == 0);
        if (k == 0) {
            len = make_line(line, sizeof(line), "new", &io, &to);
            CHECK(b != NULL && hs_spool_append(b, &h.o, line, len, io, to, id, &hk) == 0);
        } else {
            hs_spool_hooks rk = { .pre = note_start, .arg = &b_start };
            CHECK(b != NULL && hs_spool_rotate_hooks(b, &h.o, 1, &sealed, &rk) == 0);
        }
        pthread_join(th, NULL);
        CHECK(h.rc == 0);
        CHECK_MSG(ms_of(&b_start) >= ms_of(&h.end),
                  "%s: the new lock file's first section starts after the old one's ends "
                  "(%.1f ms before)", cases[k], ms_of(&h.end) - ms_of(&b_start));
        hs_spool_close(b);
        hs_spool_close(h.sp);
    }
}

static void test_lock_clock(void)
{
    static const struct { const char *label; unsigned char b[8]; int ahead; } plants[] = {
        { "a day ahead", { 0 }, 1 },
        { "all ones", { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 },
        { "text", { 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!' }, 0 },
        { "year 5000", { 0 }, 2 },
    };
    size_t k;

    for (k = 0; k < sizeof(plants) / sizeof(plants[0]); k++) {
        char path[512], lock[600], dir[600], line[512], ts[HS_TS_LEN + 1];
        char prev[HS_ID_LEN + 1] = "", id[HS_ID_LEN + 1];
        unsigned char b[8];
        hs_spool *sp, *sp2;
        hs_spool_opts o = opts(1 << 20, 1, 077);
        size_t io, to, len;
        int fd, i, sealed = 0, increasing = 1, fresh = 1;
        long long now = (long long)time(NULL);

        snprintf(path, sizeof(path), "%s/clock%zu", root, k);
        snprintf(lock, sizeof(lock), "%s/lock", path);
        CHECK(hs_spool_open(path, &o, 1, &sp) == 0 && hs_spool_open(path, &o, 1, &sp2) == 0);
        memcpy(b, plants[k].b, 8);
        if (plants[k].ahead) {
            uint64_t st = ((uint64_t)now + (plants[k].ahead == 1 ? 86400u
                           : (uint64_t)hs_days_from_civil(5000, 1, 1) * 86400u - (uint64_t)now))
                          * 1000000u;
            for (i = 0; i < 8; i++) b[i] = (unsigned char)(st >> (8 * i));
        }
        fd = open(lock, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, b, 8, 0) == 8 && close(fd) == 0);
        for (i = 0; i < 6; i++) {
            len = make_line(line, sizeof(line), "1", &io, &to);
            CHECK(hs_spool_append(i % 2 ? sp2 : sp, &o, line, len, io, to, id, NULL) == 0);
            memcpy(ts, line + to, HS_TS_LEN);
            ts[HS_TS_LEN] = 0;
            if (ts_seconds(ts) < now - 5 || ts_seconds(ts) > (long long)time(NULL) + 5) fresh = 0;
            if (strcmp(prev, id) >= 0) increasing = 0;
            memcpy(prev, id, sizeof(prev));
        }
        CHECK_MSG(fresh, "%s: received_at %s is not the clock's", plants[k].label, ts);
        CHECK_MSG(increasing, "%s: ids not strictly increasing (last %s)", plants[k].label, id);
        /* garbage is not a clock: the ids are the real time again */
        if (!plants[k].ahead)
            CHECK_MSG(strncmp(id, ts, 4) == 0, "%s: id %s, received_at %s", plants[k].label, id, ts);
        /* The first line is old after 2 s: due under rotate_seconds = 1. */
        sleep(2);
        CHECK(hs_spool_rotate(sp, &o, 0, &sealed) == 0);
        CHECK_MSG(sealed == 1, "%s: a segment whose first line is old is not sealed by age",
                  plants[k].label);
        snprintf(dir, sizeof(dir), "%s/active", path);
        CHECK(count_in(dir, NULL, 0) == 0);
        /* and the next append still gets a larger id */
        len = make_line(line, sizeof(line), "2", &io, &to);
        CHECK(hs_spool_append(sp2, &o, line, len, io, to, id, NULL) == 0);
        CHECK_MSG(strcmp(prev, id) < 0, "%s: %s after %s", plants[k].label, id, prev);
        hs_spool_close(sp);
        hs_spool_close(sp2);
    }
}

int main(void)
{
    char cmd[300];
    snprintf(root, sizeof(root), "/tmp/hs-test-spool-XXXXXX");
    if (mkdtemp(root) == NULL) { perror("mkdtemp"); return 1; }
    test_formats();
    test_layout_and_modes();
    test_ids_and_size_rotation();
    test_age_rotation_and_rotate();
    test_lock_clock();
    test_partial_tail_cut();
    test_tail_record();
    test_failed_write_cut_back();
    test_batch_one_write();
    test_seal_never_overwrites();
    test_crash_leftovers();
    test_double_link_cached();
    test_foreign_link();
    test_valid_after_replace();
    test_kept_segment();
    test_concurrent_processes();
    test_lock_wake();
    test_lock_reopen();
    test_lock_replaced();
    test_lock_grace();
    test_low_room();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return T_END();
}
