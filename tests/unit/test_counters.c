/* Unit tests of lib/counters: layout, concurrency, persistence, damage,
 * modes, and the read-only snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counters.h"
#include "reason.h"
#include "t.h"

#define NPROC      8
#define NADD       20000
#define NOBODY_ID  65534

static char root[256];

static void make_spool(const char *name, char out[512])
{
    snprintf(out, 512, "%s/%s", root, name);
    if (mkdir(out, 0700) != 0 && errno != EEXIST) perror("mkdir");
}

static void cnt_path(const char *spool, char out[600])
{
    snprintf(out, 600, "%s/%s", spool, HS_CNT_FILE);
}

static int write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), ok;
    if (fd < 0) return -1;
    ok = write(fd, p, n) == (ssize_t)n;
    if (close(fd) != 0) ok = 0;
    return ok ? 0 : -1;
}

static int read_file(const char *path, unsigned char *p, size_t cap, size_t *n)
{
    int fd = open(path, O_RDONLY);
    ssize_t r;
    if (fd < 0) return -1;
    r = read(fd, p, cap);
    if (close(fd) != 0 || r < 0) return -1;
    *n = (size_t)r;
    return 0;
}

static int is_zero(const hs_counters_snap *s)
{
    static const hs_counters_snap z;
    return memcmp(s, &z, sizeof(z)) == 0;
}

static void test_create_layout(void)
{
    char sp[512], p[600];
    unsigned char raw[HS_CNT_FILE_SIZE + 16];
    size_t n = 0;
    hs_counters *c = NULL;
    hs_counters_snap s;
    struct stat st;

    make_spool("layout", sp);
    cnt_path(sp, p);
    CHECK(hs_counters_open(sp, 077, &c) == 0 && c != NULL);
    CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == HS_CNT_FILE_SIZE);
    CHECK(read_file(p, raw, sizeof(raw), &n) == 0 && n == HS_CNT_FILE_SIZE);
    CHECK(memcmp(raw, "HSCNT001", 8) == 0);
    CHECK(hs_counters_valid(c) == 1);

    hs_counters_add(c, HS_CNT_ACCEPTED, 3);
    hs_counters_add(c, HS_CNT_DUPLICATE, 1);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 2);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_INTERNAL), 5);
    hs_counters_set_last_accepted(c, UINT64_C(1795428000123));
    /* Ignored: out of range, and the time slot through add. */
    hs_counters_add(c, HS_CNT_SLOTS, 7);
    hs_counters_add(c, 1000000u, 7);
    hs_counters_add(c, HS_CNT_LAST_MS, 7);

    CHECK(hs_counters_read(sp, &s) == 0);
    CHECK(s.accepted == 3 && s.duplicate == 1);
    CHECK(s.rejected[HS_R_BAD_SIGNATURE] == 2 && s.rejected[HS_R_INTERNAL] == 5);
    CHECK(s.rejected[HS_R_BAD_JSON] == 0 && s.rejected[HS_R_OK] == 0);
    CHECK(s.last_accepted_ms == UINT64_C(1795428000123));

    /* The slots are where the header says, in host byte order. */
    CHECK(read_file(p, raw, sizeof(raw), &n) == 0);
    {
        uint64_t v;
        memcpy(&v, raw + 8 + 8 * HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 8);
        CHECK(v == 2);
        memcpy(&v, raw + 8 + 8 * HS_CNT_ACCEPTED, 8);
        CHECK(v == 3);
    }
    hs_counters_close(c);

    /* Survives close and reopen (and a second open does not reset). */
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 1);
    hs_counters_close(c);
    CHECK(hs_counters_read(sp, &s) == 0 && s.accepted == 4 && s.duplicate == 1);
    CHECK(s.last_accepted_ms == UINT64_C(1795428000123));
}

/* NPROC processes each open their own mapping and count NADD times;
 * one more child counts through a mapping inherited across fork. */
static void test_concurrent(void)
{
    char sp[512];
    hs_counters *c = NULL, *inherited = NULL;
    hs_counters_snap s;
    pid_t pids[NPROC + 1];
    int i, j, ok = 1;

    make_spool("concurrent", sp);
    CHECK(hs_counters_open(sp, 077, &inherited) == 0);
    for (i = 0; i <= NPROC; i++) {
        pids[i] = fork();
        if (pids[i] < 0) { ok = 0; break; }
        if (pids[i] == 0) {
            hs_counters *mine = inherited;
            if (i < NPROC && hs_counters_open(sp, 077, &mine) != 0) _exit(3);
            for (j = 0; j < NADD; j++) {
                hs_counters_add(mine, HS_CNT_ACCEPTED, 1);
                hs_counters_add(mine, HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 1);
                if (j % 2 == 0) hs_counters_add(mine, HS_CNT_DUPLICATE, 2);
                hs_counters_set_last_accepted(mine, (uint64_t)j + 1);
            }
            _exit(0);
        }
    }
    for (i = 0; i <= NPROC; i++) {
        int stt;
        if (waitpid(pids[i], &stt, 0) != pids[i] || !WIFEXITED(stt) || WEXITSTATUS(stt) != 0)
            ok = 0;
    }
    CHECK(ok);
    CHECK(hs_counters_read(sp, &s) == 0);
    CHECK_MSG(s.accepted == (uint64_t)(NPROC + 1) * NADD, "accepted %llu",
              (unsigned long long)s.accepted);
    CHECK(s.rejected[HS_R_BAD_SIGNATURE] == (uint64_t)(NPROC + 1) * NADD);
    CHECK(s.duplicate == (uint64_t)(NPROC + 1) * NADD);
    CHECK(s.last_accepted_ms == NADD);

    /* The parent's handle sees the children's counts too. */
    hs_counters_add(inherited, HS_CNT_ACCEPTED, 1);
    CHECK(hs_counters_read(sp, &s) == 0 && s.accepted == (uint64_t)(NPROC + 1) * NADD + 1);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_close(c);
    hs_counters_close(inherited);
}

static void test_snapshot_missing(void)
{
    char sp[512], p[600];
    hs_counters_snap s;
    struct stat st;

    /* No spool at all: zeros, 0, and nothing created. */
    snprintf(sp, sizeof(sp), "%s/no-such-spool", root);
    memset(&s, 0xff, sizeof(s));
    CHECK(hs_counters_read(sp, &s) == 0 && is_zero(&s));
    CHECK(stat(sp, &st) != 0 && errno == ENOENT);

    /* A spool without the file: the same, and no file appears. */
    make_spool("nofile", sp);
    cnt_path(sp, p);
    memset(&s, 0xff, sizeof(s));
    CHECK(hs_counters_read(sp, &s) == 0 && is_zero(&s));
    CHECK(stat(p, &st) != 0 && errno == ENOENT);

    /* Opening for writing never creates the spool itself. */
    snprintf(sp, sizeof(sp), "%s/no-such-spool", root);
    {
        hs_counters *c = (hs_counters *)1;
        CHECK(hs_counters_open(sp, 077, &c) == -ENOENT && c == NULL);
    }
    CHECK(stat(sp, &st) != 0 && errno == ENOENT);
    CHECK(hs_counters_read("", &s) == -EINVAL && is_zero(&s));
}

/* Damaged files: open fails (counting is then a no-op on NULL), nothing
 * crashes, and the file is left as it was. */
static void test_damage(void)
{
    char sp[512], p[600];
    unsigned char raw[HS_CNT_FILE_SIZE], back[HS_CNT_FILE_SIZE + 16];
    size_t n = 0;
    hs_counters *c = (hs_counters *)1;
    hs_counters_snap s;

    make_spool("damage", sp);
    cnt_path(sp, p);

    /* Short. */
    CHECK(write_file(p, "HSCNT001xx", 10) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == -EBADMSG && c == NULL);
    hs_counters_add(c, HS_CNT_ACCEPTED, 1);
    hs_counters_set_last_accepted(c, 5);
    hs_counters_close(c);
    CHECK(hs_counters_valid(c) == 0);
    CHECK(hs_counters_read(sp, &s) == -EBADMSG && is_zero(&s));
    CHECK(read_file(p, back, sizeof(back), &n) == 0 && n == 10);

    /* Too long. */
    memset(back, 0, sizeof(back));
    memcpy(back, HS_CNT_MAGIC, 8);
    CHECK(write_file(p, back, HS_CNT_FILE_SIZE + 8) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == -EBADMSG && c == NULL);
    CHECK(hs_counters_read(sp, &s) == -EBADMSG && is_zero(&s));

    /* Right size, wrong magic (another layout version). */
    memset(raw, 0x11, sizeof(raw));
    memcpy(raw, "HSCNT999", 8);
    CHECK(write_file(p, raw, sizeof(raw)) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == -EBADMSG && c == NULL);
    CHECK(hs_counters_read(sp, &s) == -EBADMSG && is_zero(&s));
    CHECK(read_file(p, back, sizeof(back), &n) == 0 && n == sizeof(raw) &&
          memcmp(back, raw, sizeof(raw)) == 0);

    /* Empty: a creator killed before sizing it; the next opener finishes. */
    CHECK(write_file(p, "", 0) == 0);
    CHECK(hs_counters_read(sp, &s) == -EBADMSG && is_zero(&s));
    CHECK(hs_counters_open(sp, 077, &c) == 0 && c != NULL);
    hs_counters_add(c, HS_CNT_ACCEPTED, 2);
    hs_counters_close(c);
    CHECK(hs_counters_read(sp, &s) == 0 && s.accepted == 2);

    /* Sized but not stamped: read as zeros, stamped by the next opener. */
    memset(raw, 0, sizeof(raw));
    CHECK(write_file(p, raw, sizeof(raw)) == 0);
    CHECK(hs_counters_read(sp, &s) == 0 && is_zero(&s));
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_close(c);
    CHECK(read_file(p, back, sizeof(back), &n) == 0 && memcmp(back, HS_CNT_MAGIC, 8) == 0);

    /* Not a regular file; a symlink is not followed. */
    CHECK(unlink(p) == 0 && mkdir(p, 0700) == 0);
    CHECK(hs_counters_open(sp, 077, &c) != 0 && c == NULL);
    CHECK(hs_counters_read(sp, &s) != 0 && is_zero(&s));
    CHECK(rmdir(p) == 0);
    {
        char target[700];
        snprintf(target, sizeof(target), "%s/elsewhere", root);
        CHECK(symlink(target, p) == 0);
        CHECK(hs_counters_open(sp, 077, &c) != 0 && c == NULL);
        CHECK(access(target, F_OK) != 0);
        CHECK(unlink(p) == 0);
    }
    /* A FIFO must not hang the snapshot. */
    CHECK(mkfifo(p, 0600) == 0);
    CHECK(hs_counters_read(sp, &s) == -EBADMSG && is_zero(&s));
    CHECK(hs_counters_open(sp, 077, &c) == -EBADMSG && c == NULL);
    CHECK(unlink(p) == 0);
}

/* The file's mode follows the configured umask, whatever the process's. */
static void test_modes(void)
{
    static const struct { mode_t cfg, proc, want; } cases[] = {
        { 077, 0, 0600 }, { 077, 0777, 0600 }, { 007, 0, 0660 },
        { 007, 0777, 0660 }, { 007, 022, 0660 }, { 022, 077, 0644 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32], sp[512], p[600];
        hs_counters *c = NULL;
        struct stat st;
        mode_t old;
        snprintf(name, sizeof(name), "mode%zu", i);
        make_spool(name, sp);
        cnt_path(sp, p);
        old = umask(cases[i].proc);
        CHECK(hs_counters_open(sp, cases[i].cfg, &c) == 0);
        umask(old);
        CHECK_MSG(stat(p, &st) == 0 && (st.st_mode & 07777) == cases[i].want,
                  "case %zu: mode %o want %o", i, (unsigned)(st.st_mode & 07777),
                  (unsigned)cases[i].want);
        hs_counters_close(c);
        /* An existing file's mode is left alone. */
        CHECK(chmod(p, 0640) == 0);
        CHECK(hs_counters_open(sp, 077, &c) == 0);
        CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640);
        hs_counters_close(c);
    }
}

/* Deleting the file (to reset) is noticed by hs_counters_valid; the
 * reopened handle counts from zero in a new file. */
static void test_valid_and_reset(void)
{
    char sp[512], p[600];
    hs_counters *c = NULL, *c2 = NULL;
    hs_counters_snap s;

    make_spool("reset", sp);
    cnt_path(sp, p);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 9);
    CHECK(hs_counters_valid(c) == 1);
    CHECK(unlink(p) == 0);
    CHECK(hs_counters_valid(c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 1);   /* into the orphan: harmless */
    CHECK(hs_counters_read(sp, &s) == 0 && is_zero(&s));
    hs_counters_close(c);
    CHECK(hs_counters_open(sp, 077, &c2) == 0 && hs_counters_valid(c2) == 1);
    hs_counters_add(c2, HS_CNT_ACCEPTED, 1);
    CHECK(hs_counters_read(sp, &s) == 0 && s.accepted == 1);
    hs_counters_close(c2);
}

/* The snapshot needs no write access and changes nothing: run it as
 * nobody on a read-only spool, and compare the file before and after. */
static void test_snapshot_readonly(void)
{
    char sp[512], p[600];
    hs_counters *c = NULL;
    struct stat a, b;
    int fds[2], stt;
    pid_t pid;
    uint64_t got[2] = { 0, 0 };

    make_spool("readonly", sp);
    cnt_path(sp, p);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 42);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_TOO_LARGE), 7);
    hs_counters_close(c);
    CHECK(chmod(root, 0755) == 0 && chmod(sp, 0555) == 0 && chmod(p, 0444) == 0);
    CHECK(stat(p, &a) == 0);
    CHECK(pipe(fds) == 0);
    pid = fork();
    if (pid == 0) {
        hs_counters_snap s;
        hs_counters *w = NULL;
        uint64_t v[2];
        if (close(fds[0]) != 0) _exit(2);
        if (setgroups(0, NULL) != 0 || setgid(NOBODY_ID) != 0 || setuid(NOBODY_ID) != 0)
            _exit(2);
        if (hs_counters_read(sp, &s) != 0) _exit(3);
        /* and the writer cannot open it, which must not hurt */
        if (hs_counters_open(sp, 077, &w) != -EACCES || w != NULL) _exit(4);
        hs_counters_add(w, HS_CNT_ACCEPTED, 1);
        v[0] = s.accepted;
        v[1] = s.rejected[HS_R_TOO_LARGE];
        if (write(fds[1], v, sizeof(v)) != (ssize_t)sizeof(v)) _exit(5);
        _exit(0);
    }
    CHECK(pid > 0);
    CHECK(close(fds[1]) == 0);
    CHECK(read(fds[0], got, sizeof(got)) == (ssize_t)sizeof(got));
    CHECK(close(fds[0]) == 0);
    CHECK(waitpid(pid, &stt, 0) == pid && WIFEXITED(stt));
    CHECK_MSG(WEXITSTATUS(stt) == 0, "child exit %d", WEXITSTATUS(stt));
    CHECK(got[0] == 42 && got[1] == 7);
    CHECK(stat(p, &b) == 0);
    CHECK(a.st_size == b.st_size && a.st_mode == b.st_mode &&
          a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
          a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec);
    CHECK(chmod(sp, 0700) == 0 && chmod(root, 0700) == 0);
}

/* The handshakes count lives in slot 15 (counters.h's layout): slots 3
 * to 12 hold the status's directory cache and 13, 14 the shared log
 * limiter, which change under a status or a log line and must never be
 * read (nor bumped) as handshakes. */
static void test_handshake_slot(void)
{
    char sp[512], p[600];
    unsigned char raw[HS_CNT_FILE_SIZE];
    hs_counters_snap s;
    hs_counters *c = NULL;
    uint64_t v;
    unsigned i;
    size_t n;

    CHECK(HS_CNT_HANDSHAKES == 15u);
    make_spool("handshake-slot", sp);
    cnt_path(sp, p);
    memset(raw, 0, sizeof(raw));
    memcpy(raw, HS_CNT_MAGIC, HS_CNT_MAGIC_LEN);
    for (i = 3; i <= 14; i++) {
        v = 1000u + i;
        memcpy(raw + 8 + 8 * i, &v, 8);
    }
    v = 5;
    memcpy(raw + 8 + 8 * 15, &v, 8);
    CHECK(write_file(p, raw, sizeof(raw)) == 0);
    CHECK(hs_counters_read(sp, &s) == 0);
    CHECK_MSG(s.handshakes == 5, "handshakes %llu", (unsigned long long)s.handshakes);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_HANDSHAKES, 2);
    hs_counters_close(c);
    CHECK(read_file(p, raw, sizeof(raw), &n) == 0 && n == HS_CNT_FILE_SIZE);
    for (i = 3; i <= 14; i++) {
        memcpy(&v, raw + 8 + 8 * i, 8);
        CHECK_MSG(v == 1000u + i, "slot %u is %llu", i, (unsigned long long)v);
    }
    memcpy(&v, raw + 8 + 8 * 15, 8);
    CHECK(v == 7);
}

/* The per-minute ring: a known series lands in its minutes, a row of
 * an older day reads as zero, kinds follow the slots, and a minute's
 * count is exact across processes sharing it. */
#define T0 ((time_t)1795428000)   /* a whole minute */
static void test_minutes(void)
{
    char sp[512], p[600];
    unsigned char raw[16];
    size_t n = 0;
    hs_counters *c = NULL;
    hs_counters_minutes *m = calloc(1, sizeof(*m));
    int i, st;
    uint64_t tot;

    make_spool("minutes", sp);
    snprintf(p, sizeof(p), "%s/%s", sp, HS_MIN_FILE);
    CHECK(m != NULL);
    if (m == NULL) return;
    CHECK(hs_counters_read_minutes(sp, T0, m) == 0 && m->n[HS_MIN_SPAN - 1][0] == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    {
        struct stat sb;
        CHECK(stat(p, &sb) == 0 && sb.st_size == HS_MIN_FILE_SIZE &&
              (sb.st_mode & 0777) == 0600);
        CHECK(read_file(p, raw, sizeof(raw), &n) == 0 && memcmp(raw, HS_MIN_MAGIC, 8) == 0);
    }
    /* Minute T0-2: 3 accepted; T0-1: 1 duplicate, 2 rejections of two
     * reasons; T0: 5 accepted over two seconds of the minute. */
    hs_counters_add_at(c, HS_CNT_ACCEPTED, 3, T0 - 120 + 59);
    hs_counters_add_at(c, HS_CNT_DUPLICATE, 1, T0 - 60);
    hs_counters_add_at(c, HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 1, T0 - 30);
    hs_counters_add_at(c, HS_CNT_REJECTED(HS_R_TOO_LARGE), 1, T0 - 1);
    hs_counters_add_at(c, HS_CNT_ACCEPTED, 2, T0);
    hs_counters_add_at(c, HS_CNT_ACCEPTED, 3, T0 + 59);
    /* Not counts: never in the ring. */
    hs_counters_add_at(c, HS_CNT_LAST_MS, 9, T0);
    hs_counters_add_at(c, HS_CNT_LOG_WINDOW, 9, T0);
    hs_counters_add_at(c, HS_CNT_SLOTS, 9, T0);
    CHECK(hs_counters_read_minutes(sp, T0 + 30, m) == 0);
    CHECK(m->first == (int64_t)T0 / 60 - (HS_MIN_SPAN - 1));
    CHECK(m->n[HS_MIN_SPAN - 1][HS_MIN_ACCEPTED] == 5);
    CHECK(m->n[HS_MIN_SPAN - 2][HS_MIN_DUPLICATE] == 1);
    CHECK(m->n[HS_MIN_SPAN - 2][HS_MIN_REJECTED] == 2);
    CHECK(m->n[HS_MIN_SPAN - 2][HS_MIN_ACCEPTED] == 0);
    CHECK(m->n[HS_MIN_SPAN - 3][HS_MIN_ACCEPTED] == 3);
    for (tot = 0, i = 0; i < HS_MIN_SPAN; i++) tot += m->n[i][0] + m->n[i][1] + m->n[i][2];
    CHECK(tot == 11);
    /* A day later the same rows hold another day: they read as zero,
     * and counting there starts the minute afresh. */
    CHECK(hs_counters_read_minutes(sp, T0 + 86400, m) == 0);
    for (tot = 0, i = 0; i < HS_MIN_SPAN; i++) tot += m->n[i][0] + m->n[i][1] + m->n[i][2];
    CHECK(tot == 0);
    hs_counters_add_at(c, HS_CNT_ACCEPTED, 1, T0 + 86400);
    CHECK(hs_counters_read_minutes(sp, T0 + 86400, m) == 0 &&
          m->n[HS_MIN_SPAN - 1][HS_MIN_ACCEPTED] == 1);
    /* Read 23 h 59 min later: the T0 - 2 min row is out of the window,
     * T0 - 1 min is the oldest row. */
    CHECK(hs_counters_read_minutes(sp, T0 - 60 + (HS_MIN_SPAN - 1) * 60, m) == 0 &&
          m->n[0][HS_MIN_REJECTED] == 2);
    hs_counters_close(c);

    /* NPROC processes count in one minute at once: nothing lost. */
    for (i = 0; i < NPROC; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            hs_counters *w = NULL;
            int k;
            if (hs_counters_open(sp, 077, &w) != 0) _exit(1);
            for (k = 0; k < NADD; k++) hs_counters_add_at(w, HS_CNT_DUPLICATE, 1, T0 + 7200);
            hs_counters_close(w);
            _exit(0);
        }
    }
    for (i = 0; i < NPROC; i++) CHECK(wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(hs_counters_read_minutes(sp, T0 + 7200, m) == 0);
    CHECK_MSG(m->n[HS_MIN_SPAN - 1][HS_MIN_DUPLICATE] == NPROC * NADD, "%u",
              m->n[HS_MIN_SPAN - 1][HS_MIN_DUPLICATE]);

    /* A damaged ring counts nothing, reads as an error, and the counts
     * go on. */
    CHECK(write_file(p, "junk", 4) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add_at(c, HS_CNT_ACCEPTED, 1, T0);
    hs_counters_close(c);
    CHECK(hs_counters_read_minutes(sp, T0, m) == -EBADMSG);
    {
        hs_counters_snap s;
        CHECK(hs_counters_read(sp, &s) == 0 && s.accepted == 3 + 5 + 1 + 1);
        CHECK(read_file(p, raw, sizeof(raw), &n) == 0 && n == 4);
    }
    free(m);
}

/* Does path have every block of its size allocated (no hole)? */
static int allocated(const char *path, off_t size)
{
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size != size) return 0;
    return (off_t)st.st_blocks * 512 >= size;
}

/*
 * The two files are written through shared mappings. A page that is a
 * hole in the file gets its block when it is first written, and on a
 * full filesystem that write is a SIGBUS that kills the process (seen in
 * CI under valgrind: a full tmpfs, the minute's row of the ring on a page
 * never written, the request answered 500 instead of 503). Opening
 * allocates every block, for a new spool and for a sparse file an older
 * version made.
 */
static void test_allocated(void)
{
    char spool[512], path[600], rpath[600];
    hs_counters *c = NULL;
    hs_counters_snap s;
    int fd;

    make_spool("alloc", spool);
    CHECK(hs_counters_open(spool, 077, &c) == 0);
    cnt_path(spool, path);
    snprintf(rpath, sizeof(rpath), "%s/%s", spool, HS_MIN_FILE);
    CHECK_MSG(allocated(path, HS_CNT_FILE_SIZE), "%s has a hole", path);
    CHECK_MSG(allocated(rpath, HS_MIN_FILE_SIZE), "%s has a hole", rpath);
    hs_counters_add(c, HS_CNT_ACCEPTED, 3);
    hs_counters_close(c);
    c = NULL;

    /* Made sparse, as ftruncate alone made them: the magic, the rest holes. */
    make_spool("sparse", spool);
    cnt_path(spool, path);
    snprintf(rpath, sizeof(rpath), "%s/%s", spool, HS_MIN_FILE);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && pwrite(fd, HS_CNT_MAGIC, HS_CNT_MAGIC_LEN, 0) == HS_CNT_MAGIC_LEN &&
          ftruncate(fd, HS_CNT_FILE_SIZE) == 0);
    if (fd >= 0) CHECK(close(fd) == 0);
    fd = open(rpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && pwrite(fd, HS_MIN_MAGIC, HS_CNT_MAGIC_LEN, 0) == HS_CNT_MAGIC_LEN &&
          ftruncate(fd, HS_MIN_FILE_SIZE) == 0);
    if (fd >= 0) CHECK(close(fd) == 0);
    CHECK(!allocated(rpath, HS_MIN_FILE_SIZE));   /* the test's premise */
    CHECK(hs_counters_open(spool, 077, &c) == 0);
    CHECK_MSG(allocated(path, HS_CNT_FILE_SIZE), "%s still has a hole", path);
    CHECK_MSG(allocated(rpath, HS_MIN_FILE_SIZE), "%s still has a hole", rpath);
    hs_counters_add(c, HS_CNT_ACCEPTED, 2);
    hs_counters_close(c);
    CHECK(hs_counters_read(spool, &s) == 0 && s.accepted == 2);
}

int main(void)
{
    char cmd[300];
    snprintf(root, sizeof(root), "/tmp/hs-test-counters-XXXXXX");
    if (mkdtemp(root) == NULL) { perror("mkdtemp"); return 1; }
    test_create_layout();
    test_concurrent();
    test_minutes();
    test_snapshot_missing();
    test_damage();
    test_modes();
    test_valid_and_reset();
    test_handshake_slot();
    test_allocated();
    if (geteuid() == 0) test_snapshot_readonly();
    else fprintf(stderr, "skip test_snapshot_readonly: needs root to become nobody\n");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return T_END();
}
