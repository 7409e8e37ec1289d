/* Unit tests of lib/layout: names, their parser, what a segment is, the
 * writability answer and the sorted listing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "t.h"

static char root[] = "/tmp/hs-test-layout-XXXXXX";

static void touch(const char *dir, const char *name)
{
    char p[PATH_MAX];
    int fd;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && close(fd) == 0);
}

/* A name written by hs_layout_name reads back to its stamp's second. */
static void test_names(void)
{
    char name[HS_SEG_NAME_MAX], host[HS_HOST_MAX + 1];
    int64_t t = 0;
    /* 2026-11-22T10:00:00.123456Z */
    uint64_t stamp = (uint64_t)hs_days_from_civil(2026, 11, 22) * 86400000000u +
                     10ull * 3600000000ull + 123456u;

    hs_layout_name(stamp, "web-1", HS_SEG_SUFFIX, name);
    CHECK_STR(name, "20261122T100000Z-web-1-123456.jsonl");
    CHECK(hs_layout_is_seg(name));
    CHECK(hs_layout_name_time(name, &t) == 0 && t == (int64_t)(stamp / 1000000u));
    hs_layout_name(stamp, "web-1", HS_BODY_SUFFIX, name);
    CHECK_STR(name, "20261122T100000Z-web-1-123456.body");
    CHECK(!hs_layout_is_seg(name));

    /* Not in the form: -1 and *out untouched; short names never overread. */
    t = 7;
    CHECK(hs_layout_name_time("20261122", &t) == -1 && t == 7);
    CHECK(hs_layout_name_time("20261322T100000Z-x.jsonl", &t) == -1 && t == 7);
    CHECK(hs_layout_name_time("by-hand.jsonl", &t) == -1 && t == 7);

    CHECK(!hs_layout_is_seg(".jsonl"));
    CHECK(!hs_layout_is_seg("a/b.jsonl"));
    CHECK(!hs_layout_is_seg("x.jsonl.part"));
    {
        char longname[HS_SEG_NAME_MAX + 8];
        memset(longname, 'a', sizeof(longname));
        memcpy(longname + HS_SEG_NAME_MAX - 1 - 6, ".jsonl", 7);   /* strlen MAX-1 */
        CHECK(hs_layout_is_seg(longname));
        memset(longname, 'a', sizeof(longname));
        memcpy(longname + HS_SEG_NAME_MAX - 6, ".jsonl", 7);       /* strlen MAX */
        CHECK(!hs_layout_is_seg(longname));
    }

    hs_layout_host(host);
    CHECK(host[0] != '\0' && strlen(host) <= HS_HOST_MAX && strchr(host, '.') == NULL);
}

/* The listing: segments only, sorted, "." and ".." and other names left
 * out; a missing directory is -ENOENT. */
static void test_list(void)
{
    char dir[PATH_MAX];
    hs_layout_names l;
    int dfd;

    snprintf(dir, sizeof(dir), "%s/%s", root, hs_layout_dir_name(HS_DIR_READY));
    CHECK(mkdir(dir, 0700) == 0);
    touch(dir, "20260101T000003Z-h-000003.jsonl");
    touch(dir, "20260101T000001Z-h-000001.jsonl");
    touch(dir, "notes.txt");
    touch(dir, "20260101T000002Z-h-000002.jsonl");
    {
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/dir.jsonl", dir);
        CHECK(mkdir(sub, 0700) == 0);
    }
    dfd = open(root, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK(hs_layout_list(dfd, hs_layout_dir_name(HS_DIR_READY), &l) == 0);
    CHECK(l.n == 3);
    if (l.n == 3) {
        CHECK_STR(l.name[0], "20260101T000001Z-h-000001.jsonl");
        CHECK_STR(l.name[2], "20260101T000003Z-h-000003.jsonl");
    }
    hs_layout_names_free(&l);
    CHECK(hs_layout_list(dfd, "no-such-dir", &l) == -ENOENT && l.n == 0 && l.name == NULL);
    CHECK(hs_layout_close(dfd) == 0);
    CHECK(hs_layout_close(-1) == 0);
}

/* Writability, as this user: a missing spool under a writable directory
 * can be made; one below a file cannot; a file is no spool. */
static void test_unwritable(void)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/new/spool", root);
    CHECK(hs_layout_unwritable(p, HS_DIRS_ALL) == NULL);
    CHECK(hs_layout_unwritable(root, HS_DIRS_ALL) == NULL);
    snprintf(p, sizeof(p), "%s/%s", root, "a-file");
    touch(root, "a-file");
    CHECK(hs_layout_unwritable(p, HS_DIRS_ALL) != NULL &&
          strcmp(hs_layout_unwritable(p, HS_DIRS_ALL), "is not a directory") == 0);
    snprintf(p, sizeof(p), "%s/a-file/below", root);
    CHECK(hs_layout_unwritable(p, HS_DIRS_APPEND) != NULL);
    /* active/ a file: not a spool an appender can use. */
    snprintf(p, sizeof(p), "%s/sp", root);
    CHECK(mkdir(p, 0700) == 0);
    touch(p, hs_layout_dir_name(HS_DIR_ACTIVE));
    CHECK(hs_layout_unwritable(p, HS_DIRS_APPEND) != NULL);
    /* ... but a mask without active/ does not look at it. */
    CHECK(hs_layout_unwritable(p, 1u << HS_DIR_READY) == NULL);
}

int main(void)
{
    char cmd[PATH_MAX + 16];
    if (mkdtemp(root) == NULL) return 1;
    test_names();
    test_list();
    test_unwritable();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return T_END();
}
