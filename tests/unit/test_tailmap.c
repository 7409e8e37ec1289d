/* Unit tests of lib/tailmap: the shared cache of the active segment's
 * last lines. What it answers must be exactly what was put in, and only
 * when it has all of it; a damaged, stale or half-written map answers
 * nothing (the caller then reads the file). The head's byte layout is
 * written by hand here to play a killed writer, an earlier boot and a
 * damaged file: offsets as in lib/tailmap.c's struct map_head. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "tailmap.h"
#include "t.h"

#define OFF_BUSY  8
#define OFF_BOOT  16
#define OFF_SEG   56
#define OFF_FIRST 160
#define OFF_COUNT 168

static char root[] = "/tmp/hs-test-tailmap-XXXXXX";
static hs_spool *sp;   /* the spool the maps are opened through */

/* What a walk saw: the ends of the keyed lines, in order. */
typedef struct seen {
    uint64_t end[HS_TAILMAP_LINES + 16];
    int64_t  t[HS_TAILMAP_LINES + 16];
    size_t   n;
    int      fail_at;    /* return -EIO at this call (-1: never) */
} seen;

static int walk(void *arg, const hs_tailmap_line *l)
{
    seen *s = arg;
    if (s->fail_at >= 0 && (size_t)s->fail_at == s->n) return -EIO;
    if (s->n < sizeof(s->end) / sizeof(s->end[0])) {
        s->end[s->n] = l->end;
        s->t[s->n] = l->t;
    }
    s->n++;
    return 0;
}

static int get(hs_tailmap *m, const char *seg, uint64_t from, uint64_t to, seen *s)
{
    memset(s, 0, sizeof(*s));
    s->fail_at = -1;
    return hs_tailmap_get(m, seg, from, to, walk, s);
}

/* n lines of 100 bytes from offset from, every other one keyed. */
static void lines(hs_tailmap_line *l, size_t n, uint64_t from, int64_t t)
{
    size_t i;
    memset(l, 0, n * sizeof(*l));
    for (i = 0; i < n; i++) {
        l[i].end = from + 100 * (i + 1);
        l[i].t = t + (int64_t)i;
        l[i].has_key = i % 2 == 0;
        memset(l[i].hash, (int)(i & 0xff), sizeof(l[i].hash));
    }
}

static int poke(const char *path, off_t off, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    ssize_t w;
    if (fd < 0) return -1;
    w = pwrite(fd, b, n, off);
    if (close(fd) != 0) return -1;
    return w == (ssize_t)n ? 0 : -1;
}

static void test_basic(void)
{
    hs_tailmap *a = NULL, *b = NULL;
    hs_tailmap_line l[4];
    seen s;

    CHECK(hs_tailmap_open(sp, &a) == 0 && a != NULL);
    CHECK(hs_tailmap_open(sp, &b) == 0 && b != NULL);
    if (a == NULL || b == NULL) goto out;
    /* A new map has nothing, not even an empty span of a segment. */
    CHECK(get(b, "s1.jsonl", 0, 0, &s) == 0);
    lines(l, 4, 0, 1000);
    hs_tailmap_add(a, "s1.jsonl", 0, l, 3);
    hs_tailmap_add(a, "s1.jsonl", 300, l + 3, 1);    /* one more, back to back */
    /* The other handle (another process) sees them: the keyed ones. */
    CHECK(get(b, "s1.jsonl", 0, 400, &s) == 1);
    CHECK(s.n == 2 && s.end[0] == 100 && s.end[1] == 300 && s.t[0] == 1000 && s.t[1] == 1002);
    CHECK(get(b, "s1.jsonl", 100, 400, &s) == 1 && s.n == 1 && s.end[0] == 300);
    CHECK(get(b, "s1.jsonl", 300, 400, &s) == 1 && s.n == 0);
    CHECK(get(b, "s1.jsonl", 400, 400, &s) == 1 && s.n == 0);
    /* Not a line's start, not the segment's end, another segment: no. */
    CHECK(get(b, "s1.jsonl", 50, 400, &s) == 0 && s.n == 0);
    CHECK(get(b, "s1.jsonl", 0, 500, &s) == 0 && s.n == 0);
    CHECK(get(b, "s1.jsonl", 0, 300, &s) == 0 && s.n == 0);
    CHECK(get(b, "s2.jsonl", 0, 400, &s) == 0 && s.n == 0);
    CHECK(get(b, "", 0, 400, &s) == 0);
    /* A walk's error ends it and is returned. */
    memset(&s, 0, sizeof(s));
    s.fail_at = 1;
    CHECK(hs_tailmap_get(b, "s1.jsonl", 0, 400, walk, &s) == -EIO && s.n == 1);
    /* Lines that do not follow on start it over. */
    lines(l, 2, 1000, 2000);
    hs_tailmap_add(b, "s1.jsonl", 1000, l, 2);
    CHECK(get(a, "s1.jsonl", 0, 1200, &s) == 0);
    CHECK(get(a, "s1.jsonl", 1000, 1200, &s) == 1 && s.n == 1 && s.end[0] == 1100);
    /* So do another segment's. */
    lines(l, 1, 0, 3000);
    hs_tailmap_add(a, "s2.jsonl", 0, l, 1);
    CHECK(get(b, "s1.jsonl", 1000, 1200, &s) == 0);
    CHECK(get(b, "s2.jsonl", 0, 100, &s) == 1 && s.n == 1);
    /* Cleared (an append cut back): nothing. */
    hs_tailmap_clear(b);
    CHECK(get(a, "s2.jsonl", 0, 100, &s) == 0);
    /* A name too long for the map clears it. */
    {
        char longname[200];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        lines(l, 1, 0, 1);
        hs_tailmap_add(a, "s3.jsonl", 0, l, 1);
        hs_tailmap_add(a, longname, 100, l, 1);
        CHECK(get(b, "s3.jsonl", 0, 100, &s) == 0);
    }
    /* No map at all: nothing, and adding is a no-op. */
    CHECK(hs_tailmap_get(NULL, "s1.jsonl", 0, 0, walk, &s) == 0);
    hs_tailmap_add(NULL, "s1.jsonl", 0, l, 1);
    hs_tailmap_clear(NULL);
out:
    hs_tailmap_close(a);
    hs_tailmap_close(b);
}

/* A ring: the oldest lines go, the newest HS_TAILMAP_LINES stay. */
static void test_ring(void)
{
    const size_t n = HS_TAILMAP_LINES + 10;
    hs_tailmap *m = NULL;
    hs_tailmap_line *l = calloc(n, sizeof(*l));
    seen *s = calloc(1, sizeof(*s));
    size_t i;

    CHECK(l != NULL && s != NULL && hs_tailmap_open(sp, &m) == 0);
    if (l == NULL || s == NULL || m == NULL) goto out;
    lines(l, n, 0, 0);
    for (i = 0; i < n; i += 7)
        hs_tailmap_add(m, "r.jsonl", 100 * i, l + i, i + 7 > n ? n - i : 7);
    CHECK(get(m, "r.jsonl", 0, 100 * n, s) == 0);
    CHECK(get(m, "r.jsonl", 100 * 9, 100 * n, s) == 0);
    CHECK(get(m, "r.jsonl", 100 * 10, 100 * n, s) == 1);
    CHECK_MSG(s->n == HS_TAILMAP_LINES / 2, "%zu keyed lines", s->n);
    CHECK(s->end[0] == 100 * 11 && s->end[s->n - 1] == 100 * (n - 1));
    CHECK(get(m, "r.jsonl", 100 * (n - 1), 100 * n, s) == 1 && s->n == 0);
out:
    hs_tailmap_close(m);
    free(l);
    free(s);
}

/* What no writer of this boot left complete is not believed: a writer
 * killed while changing it, a map from before a reboot, a damaged head.
 * The next add starts it over. */
static void test_untrusted(const char *spool)
{
    char path[256];
    const uint64_t one = 1, big = HS_TAILMAP_LINES + 1;
    hs_tailmap *m = NULL;
    hs_tailmap_line l[2];
    seen s;

    snprintf(path, sizeof(path), "%s/%s", spool, HS_TAILMAP_FILE);
    CHECK(hs_tailmap_open(sp, &m) == 0);
    if (m == NULL) return;
    lines(l, 2, 0, 0);
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 1 && s.n == 1);
    /* Killed while busy. */
    CHECK(poke(path, OFF_BUSY, &one, sizeof(one)) == 0);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    hs_tailmap_add(m, "u.jsonl", 200, l, 0);           /* starts over at 200 */
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    CHECK(get(m, "u.jsonl", 200, 200, &s) == 1);
    /* Another boot's. */
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 1);
    CHECK(poke(path, OFF_BOOT, "00000000-0000-0000-0000-000000000000", 36) == 0);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    /* Damaged: counts out of range, a name without its end. */
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    CHECK(poke(path, OFF_COUNT, &big, sizeof(big)) == 0);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    CHECK(poke(path, OFF_FIRST, &big, sizeof(big)) == 0);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    {
        char x[96];           /* the name field, all of it */
        memset(x, 'x', sizeof(x));
        CHECK(poke(path, OFF_SEG, x, sizeof(x)) == 0);
    }
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    /* Lines out of order (damage inside the ring): not believed. */
    hs_tailmap_add(m, "u.jsonl", 0, l, 2);
    {
        uint64_t back = 50;
        CHECK(poke(path, 176 + sizeof(hs_tailmap_line), &back, sizeof(back)) == 0);
    }
    CHECK(get(m, "u.jsonl", 0, 50, &s) == 0);
    CHECK(get(m, "u.jsonl", 0, 200, &s) == 0);
    /* Another size or magic is not ours: not opened. */
    hs_tailmap_close(m);
    m = NULL;
    CHECK(truncate(path, 4096) == 0);
    CHECK(hs_tailmap_open(sp, &m) == -EBADMSG && m == NULL);
    hs_tailmap_close(m);
}

int main(void)
{
    char spool[256];
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(spool, sizeof(spool), "%s/spool", root);
    if (mkdir(spool, 0700) != 0) {
        perror("mkdir");
        return 1;
    }
    {
        hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
        if (hs_spool_open(spool, &o, 1, &sp) != 0) {
            fprintf(stderr, "cannot open the spool\n");
            return 1;
        }
    }
    test_basic();
    test_ring();
    test_untrusted(spool);
    hs_spool_close(sp);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    }
    return T_END();
}
