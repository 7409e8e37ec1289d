/* Unit tests of lib/consumer: claim, done, requeue, consume, retry-failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "consumer.h"
#include "spool.h"
#include "store.h"
#include "t.h"

#define MAX_OUT   64
#define RACE_SEGS 40

static char root[256];

/* What the commands reported. */
typedef struct out {
    char paths[MAX_OUT][PATH_MAX];
    int  n;
    char warn[HS_CONS_MSG_MAX];
    int  nwarn;
} out;

static int on_path(void *arg, const char *p)
{
    out *o = arg;
    if (o->n < MAX_OUT) snprintf(o->paths[o->n], PATH_MAX, "%s", p);
    o->n++;
    return 0;
}

static void on_warn(void *arg, const char *msg)
{
    out *o = arg;
    snprintf(o->warn, sizeof(o->warn), "%s", msg);
    o->nwarn++;
}

static hs_spool_opts opts(void)
{
    hs_spool_opts o;
    o.rotate_bytes = 1 << 20;
    o.rotate_seconds = 60;
    o.fsync_always = 0;
    o.umask = 007;
    return o;
}

/* A fresh spool (layout made by lib/spool, mode 0770) named name. */
static void new_spool(const char *name, char path[PATH_MAX])
{
    hs_spool_opts o = opts();
    hs_spool *sp;
    snprintf(path, PATH_MAX, "%s/%s", root, name);
    CHECK(hs_spool_open(path, &o, 1, &sp) == 0);
    hs_spool_close(sp);
}

static hs_cons *cons(const char *spool, out *o)
{
    hs_spool_opts so = opts();
    hs_cons_io io;
    hs_cons *c = NULL;
    memset(o, 0, sizeof(*o));
    io.path = on_path;
    io.warn = on_warn;
    io.arg = o;
    CHECK(hs_cons_open(spool, &so, &io, &c) == 0);
    return c;
}

static void put(const char *spool, const char *sub, const char *name, const char *data)
{
    char p[PATH_MAX];
    FILE *f;
    snprintf(p, sizeof(p), "%s/%s/%s", spool, sub, name);
    f = fopen(p, "w");
    CHECK(f != NULL);
    if (f == NULL) return;
    CHECK(fputs(data, f) >= 0);
    CHECK(fclose(f) == 0);
}

static int exists(const char *spool, const char *sub, const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s/%s", spool, sub, name);
    return stat(p, &st) == 0;
}

static int count(const char *spool, const char *sub)
{
    char p[PATH_MAX];
    DIR *d;
    struct dirent *de;
    int n = 0;
    snprintf(p, sizeof(p), "%s/%s", spool, sub);
    if ((d = opendir(p)) == NULL) return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void seg_name(int i, char name[HS_SEG_NAME_MAX])
{
    snprintf(name, HS_SEG_NAME_MAX, "20260101T0000%02dZ-h-%06d.jsonl", i % 60, i);
}

static int64_t attempts(const char *spool, const char *name)
{
    hs_store *st;
    int64_t n = -1;
    if (hs_store_open(spool, opts().umask, 0, &st) != 0) return -1;
    if (hs_store_attempts_get(st, name, &n) != 0) n = -1;
    hs_store_close(st);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[65536];
    size_t n;
    if (f == NULL) return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_claim_order(void)
{
    char sp[PATH_MAX], want[PATH_MAX];
    out o;
    hs_cons *c;
    struct stat st;
    time_t now = time(NULL);

    new_spool("claim", sp);
    put(sp, "ready", "20260101T000003Z-h-000003.jsonl", "{\"c\":3}\n");
    put(sp, "ready", "20260101T000001Z-h-000001.jsonl", "{\"c\":1}\n");
    put(sp, "ready", "20260101T000002Z-h-000002.jsonl", "{\"c\":2}\n");
    put(sp, "ready", "notes.txt", "not a segment\n");
    put(sp, "ready", ".hidden", "x\n");
    snprintf(want, sizeof(want), "%s/ready/dir.jsonl", sp);
    CHECK(mkdir(want, 0700) == 0);

    c = cons(sp, &o);
    CHECK(hs_cons_claim(c, 2) == 0);
    CHECK(o.n == 2 && o.nwarn == 0);
    snprintf(want, sizeof(want), "%s/claimed/20260101T000001Z-h-000001.jsonl", sp);
    CHECK_STR(o.paths[0], want);
    snprintf(want, sizeof(want), "%s/claimed/20260101T000002Z-h-000002.jsonl", sp);
    CHECK_STR(o.paths[1], want);
    /* "claimed at" is the mtime */
    CHECK(stat(o.paths[0], &st) == 0 && st.st_mtime >= now - 1);
    CHECK(exists(sp, "ready", "20260101T000003Z-h-000003.jsonl"));
    hs_cons_close(c);

    c = cons(sp, &o);
    CHECK(hs_cons_claim(c, 0) == 0);
    CHECK(o.n == 1 && o.nwarn == 0);
    snprintf(want, sizeof(want), "%s/claimed/20260101T000003Z-h-000003.jsonl", sp);
    CHECK_STR(o.paths[0], want);
    /* other names are left alone */
    CHECK(exists(sp, "ready", "notes.txt") && exists(sp, "ready", ".hidden") &&
          exists(sp, "ready", "dir.jsonl"));
    CHECK(count(sp, "claimed") == 3);
    /* nothing to do: nothing reported */
    memset(&o, 0, sizeof(o));
    CHECK(hs_cons_claim(c, 0) == 0 && o.n == 0 && o.nwarn == 0);
    hs_cons_close(c);
    /* no store was created by claiming */
    CHECK(!exists(sp, ".", HS_STORE_FILE));
}

static void test_claim_seals_due(void)
{
    char sp[PATH_MAX], want[PATH_MAX];
    const char *name = "20000101T000000Z-h-000001.jsonl";
    out o;
    hs_cons *c;

    new_spool("seal", sp);
    put(sp, "active", name, "{\"old\":true}\n");
    c = cons(sp, &o);
    CHECK(hs_cons_claim(c, 0) == 0);
    CHECK(o.n == 1 && o.nwarn == 0);
    snprintf(want, sizeof(want), "%s/claimed/%s", sp, name);
    CHECK_STR(o.paths[0], want);
    CHECK(count(sp, "active") == 0);
    CHECK_STR(slurp(want), "{\"old\":true}\n");
    hs_cons_close(c);

    /* a fresh active segment (not due) stays where it is */
    {
        char fresh[HS_SEG_NAME_MAX];
        struct tm tm;
        time_t now = time(NULL);
        gmtime_r(&now, &tm);
        strftime(fresh, sizeof(fresh), "%Y%m%dT%H%M%SZ-h-000002.jsonl", &tm);
        put(sp, "active", fresh, "{\"new\":true}\n");
        c = cons(sp, &o);
        CHECK(hs_cons_claim(c, 0) == 0 && o.n == 0);
        CHECK(exists(sp, "active", fresh));
        hs_cons_close(c);
    }
}

static void test_done(void)
{
    char sp[PATH_MAX], keep[PATH_MAX], f1[PATH_MAX], f2[PATH_MAX], bad[PATH_MAX], want[PATH_MAX];
    const char *n1 = "20260101T000001Z-h-000001.jsonl", *n2 = "20260101T000002Z-h-000002.jsonl";
    const char *n3 = "20260101T000003Z-h-000003.jsonl";
    const char *files[3];
    out o;
    hs_cons *c;
    hs_store *st;
    int64_t n;

    new_spool("done", sp);
    put(sp, "claimed", n1, "{\"a\":1}\n");
    put(sp, "claimed", n2, "{\"a\":2}\n");
    put(sp, "ready", n3, "{\"a\":3}\n");
    /* a count to clear */
    CHECK(hs_store_open(sp, 007, 1, &st) == 0);
    CHECK(hs_store_attempts_add(st, n1, &n) == 0 && n == 1);
    hs_store_close(st);

    snprintf(f1, sizeof(f1), "%s/claimed/%s", sp, n1);
    snprintf(bad, sizeof(bad), "%s/ready/%s", sp, n3);
    files[0] = bad;
    files[1] = f1;
    c = cons(sp, &o);
    CHECK(hs_cons_done(c, files, 2, NULL) == 1);   /* bad one failed, f1 done */
    CHECK(o.n == 0 && o.nwarn == 1 && strstr(o.warn, bad) != NULL);
    CHECK(!exists(sp, "claimed", n1));
    CHECK(exists(sp, "ready", n3));
    CHECK(attempts(sp, n1) == 0);
    hs_cons_close(c);

    /* --keep moves, never replacing; relative paths through .. resolve */
    snprintf(keep, sizeof(keep), "%s/archive", root);
    CHECK(mkdir(keep, 0700) == 0);
    snprintf(f2, sizeof(f2), "%s/claimed/../claimed/%s", sp, n2);
    files[0] = f2;
    c = cons(sp, &o);
    CHECK(hs_cons_done(c, files, 1, keep) == 0);
    snprintf(want, sizeof(want), "%s/%s", keep, n2);
    CHECK(o.n == 1 && o.nwarn == 0);
    CHECK_STR(o.paths[0], want);
    CHECK(!exists(sp, "claimed", n2));
    CHECK_STR(slurp(want), "{\"a\":2}\n");
    hs_cons_close(c);

    /* never overwrites: a second segment of that name stays in claimed/ */
    put(sp, "claimed", n2, "{\"a\":22}\n");
    snprintf(f2, sizeof(f2), "%s/claimed/%s", sp, n2);
    c = cons(sp, &o);
    CHECK(hs_cons_done(c, files, 1, keep) == 1);
    CHECK(o.n == 0 && o.nwarn == 1);
    CHECK(exists(sp, "claimed", n2));
    CHECK_STR(slurp(want), "{\"a\":2}\n");
    /* a missing file and a non-segment name are refused too */
    files[0] = f1;
    memset(&o, 0, sizeof(o));
    CHECK(hs_cons_done(c, files, 1, NULL) == 1 && o.nwarn == 1);
    snprintf(bad, sizeof(bad), "%s/claimed", sp);
    files[0] = bad;
    memset(&o, 0, sizeof(o));
    CHECK(hs_cons_done(c, files, 1, NULL) == 1 && o.nwarn == 1);
    hs_cons_close(c);
}

static void test_requeue(void)
{
    char sp[PATH_MAX], p[PATH_MAX], want[PATH_MAX];
    const char *old = "20260101T000001Z-h-000001.jsonl", *fresh = "20260101T000002Z-h-000002.jsonl";
    struct timespec ts[2];
    out o;
    hs_cons *c;
    int fd;

    new_spool("requeue", sp);
    put(sp, "claimed", old, "{\"a\":1}\n");
    put(sp, "claimed", fresh, "{\"a\":2}\n");
    snprintf(p, sizeof(p), "%s/claimed/%s", sp, old);
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 7200;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);

    c = cons(sp, &o);
    CHECK(hs_cons_requeue(c, 3600) == 0);
    CHECK(o.n == 1 && o.nwarn == 0);
    snprintf(want, sizeof(want), "%s/ready/%s", sp, old);
    CHECK_STR(o.paths[0], want);
    CHECK(exists(sp, "claimed", fresh));
    hs_cons_close(c);

    /* a segment whose lock another open file description holds stays */
    snprintf(p, sizeof(p), "%s/claimed/%s", sp, fresh);
    fd = open(p, O_RDONLY);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    c = cons(sp, &o);
    CHECK(hs_cons_requeue(c, 0) == 0);
    CHECK(o.n == 0 && o.nwarn == 0);
    CHECK(exists(sp, "claimed", fresh));
    CHECK(close(fd) == 0);
    /* released: all (no --older-than) goes */
    CHECK(hs_cons_requeue(c, 0) == 0);
    snprintf(want, sizeof(want), "%s/ready/%s", sp, fresh);
    CHECK(o.n == 1);
    CHECK_STR(o.paths[0], want);
    CHECK(count(sp, "claimed") == 0 && count(sp, "ready") == 2);
    hs_cons_close(c);
}

/* A child holds flock on path until told to go; requeue must skip it. */
static void test_requeue_other_process(void)
{
    char sp[PATH_MAX], p[PATH_MAX];
    const char *name = "20260101T000009Z-h-000009.jsonl";
    int held[2], go[2], status;
    char b = 0;
    pid_t pid;
    out o;
    hs_cons *c;

    new_spool("requeue2", sp);
    put(sp, "claimed", name, "{\"a\":9}\n");
    snprintf(p, sizeof(p), "%s/claimed/%s", sp, name);
    CHECK(pipe(held) == 0 && pipe(go) == 0);
    pid = fork();
    if (pid == 0) {
        int fd = open(p, O_RDONLY);
        if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(1);
        if (write(held[1], "h", 1) != 1) _exit(1);
        if (read(go[0], &b, 1) < 0) _exit(1);
        _exit(0);
    }
    CHECK(pid > 0);
    CHECK(read(held[0], &b, 1) == 1 && b == 'h');
    c = cons(sp, &o);
    CHECK(hs_cons_requeue(c, 0) == 0 && o.n == 0 && o.nwarn == 0);
    CHECK(exists(sp, "claimed", name));
    CHECK(write(go[1], "g", 1) == 1);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(hs_cons_requeue(c, 0) == 0 && o.n == 1);
    CHECK(exists(sp, "ready", name));
    hs_cons_close(c);
    close(held[0]); close(held[1]); close(go[0]); close(go[1]);
}

static void test_consume(void)
{
    char sp[PATH_MAX], outf[PATH_MAX], envf[PATH_MAX], cmd[2 * PATH_MAX], want[PATH_MAX];
    const char *n1 = "20260101T000001Z-h-000001.jsonl", *n2 = "20260101T000002Z-h-000002.jsonl";
    char *argv[4] = { "sh", "-c", cmd, NULL };
    struct stat st;
    out o;
    hs_cons *c;
    char *got;

    new_spool("consume", sp);
    /* nothing to do: nothing run, no store made */
    c = cons(sp, &o);
    CHECK(hs_cons_consume(c, 0, 5, argv) == 0 && o.n == 0 && o.nwarn == 0);
    CHECK(hs_cons_retry_failed(c, NULL, 0) == 0 && o.n == 0 && o.nwarn == 0);
    CHECK(!exists(sp, ".", HS_STORE_FILE));
    hs_cons_close(c);
    snprintf(outf, sizeof(outf), "%s/consume.out", root);
    snprintf(envf, sizeof(envf), "%s/consume.env", root);
    put(sp, "ready", n1, "{\"a\":1}\n{\"a\":11}\n");
    put(sp, "ready", n2, "{\"a\":2}\n");
    snprintf(cmd, sizeof(cmd), "cat >> '%s'; echo \"$HOOKSPOOL_SEGMENT\" >> '%s'", outf, envf);

    c = cons(sp, &o);
    CHECK(hs_cons_consume(c, 0, 5, argv) == 0);
    CHECK(o.n == 2 && o.nwarn == 0);
    snprintf(want, sizeof(want), "%s/claimed/%s", sp, n1);
    CHECK_STR(o.paths[0], want);
    CHECK(count(sp, "ready") == 0 && count(sp, "claimed") == 0 && count(sp, "failed") == 0);
    got = slurp(outf);
    CHECK(got != NULL && strcmp(got, "{\"a\":1}\n{\"a\":11}\n{\"a\":2}\n") == 0);
    {
        char envwant[2 * PATH_MAX + 4];
        snprintf(envwant, sizeof(envwant), "%s/claimed/%s\n%s/claimed/%s\n", sp, n1, sp, n2);
        got = slurp(envf);
        CHECK(got != NULL && strcmp(got, envwant) == 0);
    }
    /* the store was created with the spool's own permissions (0770) */
    snprintf(want, sizeof(want), "%s/%s", sp, HS_STORE_FILE);
    CHECK(stat(want, &st) == 0 && (st.st_mode & 0777) == 0660);
    hs_cons_close(c);

    /* -n limits */
    put(sp, "ready", n1, "{\"b\":1}\n");
    put(sp, "ready", n2, "{\"b\":2}\n");
    c = cons(sp, &o);
    CHECK(hs_cons_consume(c, 1, 5, argv) == 0 && o.n == 1);
    CHECK(!exists(sp, "ready", n1) && exists(sp, "ready", n2));
    CHECK(hs_cons_consume(c, 1, 5, argv) == 0 && o.n == 2);
    CHECK(count(sp, "ready") == 0);
    hs_cons_close(c);
}

static void test_consume_failures(void)
{
    char sp[PATH_MAX], outf[PATH_MAX], cmd[2 * PATH_MAX], want[PATH_MAX];
    const char *good1 = "20260101T000001Z-h-000001.jsonl";
    const char *poison = "20260101T000002Z-h-000002.jsonl";
    const char *good2 = "20260101T000003Z-h-000003.jsonl";
    char *fail_argv[] = { "sh", "-c", "cat > /dev/null; exit 3", NULL };
    char *argv[4] = { "sh", "-c", cmd, NULL };
    char *nocmd[] = { "/nonexistent/hookspool-test-cmd", NULL };
    const char *files[1];
    out o;
    hs_cons *c;
    int i;

    new_spool("poison", sp);
    /* exit 3: back in ready/ with count 1, then failed/ at max */
    put(sp, "ready", poison, "{\"p\":1}\n");
    c = cons(sp, &o);
    CHECK(hs_cons_consume(c, 0, 3, fail_argv) == 1);
    CHECK(o.n == 0 && o.nwarn == 1);
    snprintf(want, sizeof(want), "sh exited 3 on %s/claimed/%s (attempt 1 of 3)", sp, poison);
    CHECK_STR(o.warn, want);
    CHECK(exists(sp, "ready", poison) && attempts(sp, poison) == 1);
    hs_cons_close(c);
    for (i = 2; i <= 3; i++) {
        c = cons(sp, &o);
        CHECK(hs_cons_consume(c, 0, 3, fail_argv) == 1);
        hs_cons_close(c);
    }
    CHECK(exists(sp, "failed", poison) && !exists(sp, "ready", poison));
    CHECK(attempts(sp, poison) == 3);
    CHECK(strstr(o.warn, "(attempt 3 of 3)") != NULL);

    /* retry-failed resets the count */
    c = cons(sp, &o);
    CHECK(hs_cons_retry_failed(c, NULL, 0) == 0);
    snprintf(want, sizeof(want), "%s/ready/%s", sp, poison);
    CHECK(o.n == 1);
    CHECK_STR(o.paths[0], want);
    CHECK(attempts(sp, poison) == 0 && count(sp, "failed") == 0);
    hs_cons_close(c);

    /* a poison segment among good ones: the good ones flow in the same run */
    snprintf(outf, sizeof(outf), "%s/poison.out", root);
    snprintf(cmd, sizeof(cmd), "d=$(cat); case \"$d\" in *'\"p\"'*) exit 4;; esac; "
             "printf %%s \"$d\" >> '%s'", outf);
    put(sp, "ready", good1, "{\"g\":1}\n");
    put(sp, "ready", good2, "{\"g\":2}\n");
    c = cons(sp, &o);
    CHECK(hs_cons_consume(c, 0, 2, argv) == 1);
    CHECK(o.n == 2 && o.nwarn == 1);
    CHECK(strstr(o.warn, "exited 4") != NULL && strstr(o.warn, poison) != NULL);
    CHECK(count(sp, "ready") == 1 && exists(sp, "ready", poison));
    CHECK(slurp(outf) != NULL && strcmp(slurp(outf), "{\"g\":1}{\"g\":2}") == 0);
    CHECK(hs_cons_consume(c, 0, 2, argv) == 1);
    CHECK(exists(sp, "failed", poison) && count(sp, "ready") == 0);
    hs_cons_close(c);

    /* retry-failed FILE: only segments of failed/ */
    c = cons(sp, &o);
    snprintf(want, sizeof(want), "%s/ready/%s", sp, poison);
    files[0] = want;
    CHECK(hs_cons_retry_failed(c, files, 1) == 1 && o.n == 0 && o.nwarn == 1);
    snprintf(want, sizeof(want), "%s/failed/%s", sp, poison);
    memset(&o, 0, sizeof(o));
    CHECK(hs_cons_retry_failed(c, files, 1) == 0 && o.n == 1 && attempts(sp, poison) == 0);
    CHECK(exists(sp, "ready", poison));
    /* A command that cannot be run is a configuration error (issue 13,
     * item 8: it used to count as a failure of every segment, which sent
     * them all to failed/ after five runs): it is reported, nothing is
     * taken and no count changes, run after run. */
    for (i = 0; i < 6; i++) {
        memset(&o, 0, sizeof(o));
        CHECK(hs_cons_consume(c, 0, 5, nocmd) == HS_CONS_BAD_COMMAND);
        CHECK_MSG(o.n == 0 && o.nwarn == 1 && strstr(o.warn, nocmd[0]) != NULL &&
                  strstr(o.warn, "nothing taken") != NULL, "%d: %s", o.nwarn, o.warn);
    }
    CHECK(exists(sp, "ready", poison) && attempts(sp, poison) == 0);
    CHECK(count(sp, "claimed") == 0 && count(sp, "failed") == 0);
    /* ... also when it is found but cannot start: a script whose
     * interpreter does not exist fails in exec, after the segment was
     * taken: it goes back to ready/ uncounted and the run stops. */
    {
        char script[PATH_MAX];
        char *badint[2] = { script, NULL };
        FILE *f;
        snprintf(script, sizeof(script), "%s/badint.sh", root);
        f = fopen(script, "w");
        CHECK(f != NULL && fputs("#!/nonexistent/hookspool-test-sh\nexit 0\n", f) >= 0 &&
              fclose(f) == 0);
        CHECK(chmod(script, 0755) == 0);
        put(sp, "ready", good1, "{\"g\":1}\n");
        for (i = 0; i < 6; i++) {
            memset(&o, 0, sizeof(o));
            CHECK(hs_cons_consume(c, 0, 5, badint) == HS_CONS_BAD_COMMAND);
            CHECK_MSG(o.n == 0 && o.nwarn == 1 && strstr(o.warn, "cannot be run") != NULL,
                      "%d: %s", o.nwarn, o.warn);
        }
        CHECK(exists(sp, "ready", poison) && attempts(sp, poison) == 0);
        CHECK(exists(sp, "ready", good1) && attempts(sp, good1) == 0);
        CHECK(count(sp, "claimed") == 0 && count(sp, "failed") == 0);
    }
    /* and on an empty ready/ too: the mistake is reported at once */
    new_spool("badcmd-empty", outf);
    hs_cons_close(c);
    c = cons(outf, &o);
    CHECK(hs_cons_consume(c, 0, 5, nocmd) == HS_CONS_BAD_COMMAND && o.nwarn == 1);
    hs_cons_close(c);
}

/* A command that hangs is killed after the timeout with its whole
 * process group, and the run counts as a failure (issue 13, item 8: it
 * held its segment forever). */
static void test_consume_timeout(void)
{
    char sp[PATH_MAX], pidf[PATH_MAX], cmd[2 * PATH_MAX], buf[64];
    const char *seg = "20260101T000001Z-h-000001.jsonl";
    char *argv[4] = { "sh", "-c", cmd, NULL };
    out o;
    hs_cons *c;
    FILE *f;
    long gpid = 0;

    new_spool("timeout", sp);
    put(sp, "ready", seg, "{\"t\":1}\n");
    snprintf(pidf, sizeof(pidf), "%s/timeout.pid", root);
    /* a background child of the command, which must not outlive it */
    snprintf(cmd, sizeof(cmd), "sleep 300 & echo $! > '%s'; cat > /dev/null; sleep 300", pidf);
    c = cons(sp, &o);
    hs_cons_set_timeout(c, 1);
    CHECK(hs_cons_consume(c, 0, 5, argv) == 1);
    CHECK_MSG(o.n == 0 && o.nwarn == 1 && strstr(o.warn, "--timeout") != NULL &&
              strstr(o.warn, "(attempt 1 of 5)") != NULL, "%d: %s", o.nwarn, o.warn);
    CHECK(exists(sp, "ready", seg) && attempts(sp, seg) == 1 && count(sp, "claimed") == 0);
    f = fopen(pidf, "r");
    CHECK(f != NULL && fgets(buf, sizeof(buf), f) != NULL && (gpid = atol(buf)) > 0);
    if (f) fclose(f);
    /* killed (maybe not yet reaped by init: then a zombie, state Z) */
    if (gpid > 0) {
        char stat[PATH_MAX], line[512];
        FILE *s;
        int gone = 0, tries;
        struct timespec d = { 0, 50 * 1000000L };
        snprintf(stat, sizeof(stat), "/proc/%ld/stat", gpid);
        /* SIGKILL is delivered asynchronously: wait (bounded) for it */
        for (tries = 0; tries < 200 && !gone; tries++) {
            s = fopen(stat, "r");
            gone = s == NULL ||
                   (fgets(line, sizeof(line), s) != NULL && strstr(line, ") Z ") != NULL);
            if (s) fclose(s);
            if (!gone) nanosleep(&d, NULL);
        }
        CHECK_MSG(gone, "the command's background child %ld still runs", gpid);
    }
    hs_cons_close(c);
}

/* A store that cannot be opened: done still deletes (and says so);
 * consume takes nothing, since it could not count a poison segment. */
static void test_no_store(void)
{
    char sp[PATH_MAX], p[PATH_MAX];
    const char *n1 = "20260101T000001Z-h-000001.jsonl", *n2 = "20260101T000002Z-h-000002.jsonl";
    char *argv[] = { "true", NULL };
    const char *files[1];
    out o;
    hs_cons *c;

    new_spool("nostore", sp);
    snprintf(p, sizeof(p), "%s/%s", sp, HS_STORE_FILE);
    CHECK(mkdir(p, 0700) == 0);   /* not a database: cannot be opened */
    put(sp, "claimed", n1, "{\"a\":1}\n");
    put(sp, "ready", n2, "{\"a\":2}\n");
    snprintf(p, sizeof(p), "%s/claimed/%s", sp, n1);
    files[0] = p;
    c = cons(sp, &o);
    CHECK(hs_cons_done(c, files, 1, NULL) == 0);
    CHECK(!exists(sp, "claimed", n1) && o.nwarn == 1 && strstr(o.warn, HS_STORE_FILE) != NULL);
    memset(&o, 0, sizeof(o));
    CHECK(hs_cons_consume(c, 0, 5, argv) < 0);
    /* two warnings: sealing (the dedup catch-up needs the store) and counting */
    CHECK(o.n == 0 && o.nwarn == 2 && exists(sp, "ready", n2));
    memset(&o, 0, sizeof(o));
    /* claim still takes what is ready, and says it could not seal */
    CHECK(hs_cons_claim(c, 0) == 1 && o.n == 1 && o.nwarn == 1);
    hs_cons_close(c);
}

/* Two processes claiming one segment at a time over the same ready/:
 * every segment is claimed exactly once. */
static void test_race(void)
{
    char sp[PATH_MAX], name[HS_SEG_NAME_MAX], outp[2][PATH_MAX];
    int seen[RACE_SEGS], i, k, total = 0, dup = 0, ok = 1;
    pid_t pid[2];

    new_spool("race", sp);
    for (i = 0; i < RACE_SEGS; i++) {
        seg_name(i, name);
        put(sp, "ready", name, "{\"r\":1}\n");
    }
    for (k = 0; k < 2; k++) {
        snprintf(outp[k], sizeof(outp[k]), "%s/race.%d", root, k);
        pid[k] = fork();
        if (pid[k] == 0) {
            FILE *f = fopen(outp[k], "w");
            hs_spool_opts so = opts();
            hs_cons_io io;
            out *o = calloc(1, sizeof(*o));
            hs_cons *c;
            int j;
            if (f == NULL || o == NULL) _exit(1);
            io.path = on_path;
            io.warn = on_warn;
            io.arg = o;
            if (hs_cons_open(sp, &so, &io, &c) != 0) _exit(1);
            for (;;) {
                o->n = 0;
                if (hs_cons_claim(c, 1) != 0 || o->nwarn != 0) _exit(2);
                if (o->n == 0) break;
                for (j = 0; j < o->n; j++) fprintf(f, "%s\n", o->paths[j]);
            }
            hs_cons_close(c);
            _exit(fclose(f) == 0 ? 0 : 1);
        }
    }
    for (k = 0; k < 2; k++) {
        int status;
        CHECK(pid[k] > 0 && waitpid(pid[k], &status, 0) == pid[k] &&
              WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    memset(seen, 0, sizeof(seen));
    for (k = 0; k < 2; k++) {
        FILE *f = fopen(outp[k], "r");
        char line[PATH_MAX + 2];
        CHECK(f != NULL);
        if (f == NULL) continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            char *b = strrchr(line, '/');
            int idx;
            if (b == NULL || sscanf(b + 1, "20260101T0000%*2dZ-h-%6d.jsonl", &idx) != 1 ||
                idx < 0 || idx >= RACE_SEGS) { ok = 0; continue; }
            if (seen[idx]++) dup++;
            total++;
        }
        fclose(f);
    }
    CHECK(ok);
    CHECK_MSG(dup == 0, "%d segments claimed twice", dup);
    CHECK_MSG(total == RACE_SEGS, "claimed %d of %d", total, RACE_SEGS);
    CHECK(count(sp, "claimed") == RACE_SEGS && count(sp, "ready") == 0);
}

static void test_open(void)
{
    char p[PATH_MAX];
    hs_spool_opts so = opts();
    hs_cons_io io = { NULL, NULL, NULL };
    hs_cons *c;

    snprintf(p, sizeof(p), "%s/missing", root);
    CHECK(hs_cons_open(p, &so, &io, &c) == -ENOENT && c == NULL);
    snprintf(p, sizeof(p), "%s/notaspool", root);
    CHECK(mkdir(p, 0700) == 0);
    CHECK(hs_cons_open(p, &so, &io, &c) == -ENOENT);
}

int main(void)
{
    char cmd[512];

    /* mkdtemp's template: the prefix, then six 'X's it replaces */
    snprintf(root, sizeof(root), "/tmp/hs-consumer-%06d", 0);
    memset(root + strlen(root) - 6, 'X', 6);
    if (mkdtemp(root) == NULL) { perror("mkdtemp"); return 1; }
    umask(022);
    test_open();
    test_claim_order();
    test_claim_seals_due();
    test_done();
    test_requeue();
    test_requeue_other_process();
    test_consume();
    test_consume_failures();
    test_consume_timeout();
    test_no_store();
    test_race();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return T_END();
}
