/* Unit tests of lib/status: figures, degraded reasons, exact JSON, the
 * brief form, Prometheus text, that the status changes nothing on disk,
 * and the shared cache of the directory figures (at most one scan a
 * second, right after a killed scanner, never trusted when stale). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "handler.h"
#include "status.h"
#include "t.h"

#define NOBODY_ID   65534
#define SNAP_MAX    256
#define PATH_LEN    512
#define OUT_MAX     16384

static char root[256];
static time_t t0;   /* the "now" of every render: 2026-11-22T12:00:00Z */

static void config(hs_config *cfg, const char *spool)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->spool, sizeof(cfg->spool), "%s", spool);
    snprintf(cfg->endpoint, sizeof(cfg->endpoint), "caliza");
    snprintf(cfg->scheme.name, sizeof(cfg->scheme.name), "caliza");
    cfg->max_lag = 3600;
    cfg->min_free = 1;
    cfg->umask = 077;
}

static int write_file(const char *path, size_t n)
{
    char buf[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), ok = 1;
    memset(buf, 'x', sizeof(buf));
    if (fd < 0) return -1;
    while (n > 0 && ok) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        ok = write(fd, buf, k) == (ssize_t)k;
        n -= k;
    }
    if (close(fd) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* A segment name stamped at t ("YYYYMMDDTHHMMSSZ-host-unique.jsonl"). */
static void seg_name(time_t t, int uniq, char out[128])
{
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, 128, "%s-testhost-%06d.jsonl", ts, uniq);
}

static int put_seg(const char *spool, const char *sub, time_t t, int uniq, size_t bytes)
{
    char name[128], p[PATH_LEN + 200];
    seg_name(t, uniq, name);
    snprintf(p, sizeof(p), "%s/%s/%s", spool, sub, name);
    return write_file(p, bytes);
}

static int put_file(const char *spool, const char *rel, size_t bytes)
{
    char p[PATH_LEN + 200];
    snprintf(p, sizeof(p), "%s/%s", spool, rel);
    return write_file(p, bytes);
}

/* A spool tree as the appender makes it: the subdirectories and a lock. */
static void make_spool(const char *name, char out[PATH_LEN])
{
    static const char *const subs[] = { "active", "ready", "claimed", "failed", "invalid" };
    char p[PATH_LEN + 32];
    size_t i;
    snprintf(out, PATH_LEN, "%s/%s", root, name);
    if (mkdir(out, 0700) != 0) perror("mkdir");
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", out, subs[i]);
        if (mkdir(p, 0700) != 0) perror("mkdir");
    }
    snprintf(p, sizeof(p), "%s/lock", out);
    if (write_file(p, 8) != 0) perror("lock");
}

/* Render into out (NUL-terminated); returns *degraded, or -1. */
static int render(const hs_config *cfg, int prom, hs_buf *out)
{
    int deg = -1;
    hs_buf_reset(out);
    if (hs_status_render(cfg, prom ? HS_STATUS_PROMETHEUS : HS_STATUS_FULL, 0, t0, out,
                         &deg) != 0)
        return -1;
    return deg;
}

/* The number after "key": in a JSON text, or UINT64_MAX. */
static uint64_t json_num(const char *s, const char *key)
{
    char k[64];
    const char *p;
    snprintf(k, sizeof(k), "\"%s\":", key);
    p = strstr(s, k);
    if (p == NULL) return UINT64_MAX;
    return strtoull(p + strlen(k), NULL, 10);
}

/* s with the digits after "free_bytes": replaced by "F", into out. */
static void mask_free(const char *s, char *out, size_t cap)
{
    const char *p = strstr(s, "\"free_bytes\":");
    size_t n;
    if (p == NULL) { snprintf(out, cap, "%s", s); return; }
    p += strlen("\"free_bytes\":");
    n = (size_t)(p - s);
    snprintf(out, cap, "%.*sF", (int)n, s);
    while (*p >= '0' && *p <= '9') p++;
    snprintf(out + strlen(out), cap - strlen(out), "%s", p);
}

static uint64_t fs_free(const char *path)
{
    struct statvfs v;
    if (statvfs(path, &v) != 0) return 0;
    return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Close enough: other processes write to the same filesystem meanwhile. */
static int near(uint64_t a, uint64_t b)
{
    uint64_t d = a > b ? a - b : b - a;
    return d <= (UINT64_C(64) << 20) || d <= a / 100;
}

#define REJECTED_ZEROS                                                           \
    "\"rejected\":{\"bad_method\":0,\"unauthorized\":0,\"missing_signature\":0,"  \
    "\"bad_signature\":0,\"expired_timestamp\":0,\"bad_json\":0,\"too_large\":0," \
    "\"spool_full\":0,\"spool_unavailable\":0,\"config_error\":0,"               \
    "\"internal_error\":0,\"bad_handshake\":0,\"handshake_denied\":0,"             \
    "\"address_refused\":0,\"client_cert_refused\":0}"

/* Before the first POST: an empty spool, the parent's free space, ok,
 * and still no spool afterwards. */
static void test_missing_spool(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    char sp[PATH_LEN], masked[OUT_MAX], p[PATH_LEN];
    struct stat st;
    static const char want[] =
        "{\"status\":\"ok\",\"reasons\":[],\"version\":\"1.0.0\",\"endpoint\":\"caliza\","
        "\"scheme\":\"caliza\",\"last_accepted_at\":null,\"counters\":{\"accepted\":0,"
        "\"duplicate\":0,\"handshakes\":0,\"probes\":0," REJECTED_ZEROS "},\"spool\":{\"active_bytes\":0,"
        "\"ready_segments\":0,\"ready_bytes\":0,\"oldest_ready_age_s\":0,"
        "\"claimed_segments\":0,\"failed_segments\":0,\"invalid_bodies\":0,"
        "\"free_bytes\":F,\"archive_bytes\":0}}\n";

    snprintf(sp, sizeof(sp), "%s/not-yet/spool", root);
    config(&cfg, sp);
    CHECK(render(&cfg, 0, &out) == 0);
    mask_free(out.p, masked, sizeof(masked));
    CHECK_STR(masked, want);
    CHECK(out.len == strlen(out.p));
    CHECK(near(json_num(out.p, "free_bytes"), fs_free(root)));
    CHECK(json_num(out.p, "free_bytes") > 0);
    CHECK(stat(sp, &st) != 0 && errno == ENOENT);
    snprintf(p, sizeof(p), "%s/not-yet", root);
    CHECK(stat(p, &st) != 0 && errno == ENOENT);

    /* Prometheus for the same state: nothing created either. */
    CHECK(render(&cfg, 1, &out) == 0);
    CHECK(strstr(out.p, "hookspool_degraded 0\n") != NULL);
    CHECK(stat(p, &st) != 0 && errno == ENOENT);

    /* A trailing slash and a huge min_free: low_free_space only. */
    snprintf(cfg.spool, sizeof(cfg.spool), "%s/not-yet/spool/", root);
    cfg.min_free = HS_CONF_NUM_MAX;
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "\"status\":\"degraded\",\"reasons\":[\"low_free_space\"],") == out.p + 1);
    hs_buf_free(&out);
}

/* A known state, byte for byte. */
static void test_exact_json(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    hs_counters *c = NULL;
    char sp[PATH_LEN], masked[OUT_MAX], p[PATH_LEN + 64];
    int deg;
    static const char want[] =
        "{\"status\":\"ok\",\"reasons\":[],\"version\":\"1.0.0\",\"endpoint\":\"caliza\","
        "\"scheme\":\"caliza\",\"last_accepted_at\":\"2026-11-22T10:00:00.123Z\","
        "\"counters\":{\"accepted\":4,\"duplicate\":1,\"handshakes\":0,\"probes\":0,\"rejected\":{\"bad_method\":0,"
        "\"unauthorized\":3,\"missing_signature\":0,\"bad_signature\":2,"
        "\"expired_timestamp\":0,\"bad_json\":1,\"too_large\":0,\"spool_full\":0,"
        "\"spool_unavailable\":0,\"config_error\":0,\"internal_error\":9,"
        "\"bad_handshake\":0,\"handshake_denied\":0,"
        "\"address_refused\":0,\"client_cert_refused\":0}},"
        "\"spool\":{\"active_bytes\":1234,\"ready_segments\":2,\"ready_bytes\":4567,"
        "\"oldest_ready_age_s\":7200,\"claimed_segments\":1,\"failed_segments\":0,"
        "\"invalid_bodies\":2,\"free_bytes\":F,\"archive_bytes\":0}}\n";

    make_spool("exact", sp);
    config(&cfg, sp);
    cfg.max_lag = 10000;
    CHECK(put_seg(sp, "active", t0 - 30, 1, 1234) == 0);
    CHECK(put_seg(sp, "ready", t0 - 7200, 2, 4000) == 0);
    CHECK(put_seg(sp, "ready", t0 - 3600, 3, 567) == 0);
    CHECK(put_seg(sp, "claimed", t0 - 9000, 4, 10) == 0);
    CHECK(put_file(sp, "invalid/20261122T100000Z-a.body", 5) == 0);
    CHECK(put_file(sp, "invalid/20261122T100001Z-b.body", 6) == 0);
    /* Not segments: ignored wherever they are. */
    CHECK(put_file(sp, "ready/README.txt", 100) == 0);
    CHECK(put_file(sp, "ready/20200101T000000Z-tmp.jsonl.part", 100) == 0);
    CHECK(put_file(sp, "ready/.jsonl", 100) == 0);
    CHECK(put_file(sp, "active/20200101T000000Z-tmp.json", 100) == 0);
    snprintf(p, sizeof(p), "%s/ready/19990101T000000Z-dir.jsonl", sp);
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof(p), "%s/ready/19990101T000000Z-link.jsonl", sp);
    CHECK(symlink("/etc/passwd", p) == 0);
    snprintf(p, sizeof(p), "%s/invalid/subdir", sp);
    CHECK(mkdir(p, 0700) == 0);

    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 4);
    hs_counters_add(c, HS_CNT_DUPLICATE, 1);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 2);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_BAD_JSON), 1);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_UNAUTHORIZED), 3);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_INTERNAL), 9);
    hs_counters_set_last_accepted(c, UINT64_C(1795341600123));  /* 2026-11-22T10:00:00.123Z */
    hs_counters_close(c);

    deg = render(&cfg, 0, &out);
    CHECK(deg == 0);
    mask_free(out.p, masked, sizeof(masked));
    CHECK_STR(masked, want);
    CHECK(near(json_num(out.p, "free_bytes"), fs_free(sp)));

    /* Every reason is listed, by its own name. */
    {
        int r;
        for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++) {
            char k[64];
            snprintf(k, sizeof(k), "\"%s\":", hs_reason_name((hs_reason)r));
            CHECK_MSG(strstr(out.p, k) != NULL, "reason %s missing", k);
        }
    }

    /* Lag: the oldest is 2 hours old by its name. */
    cfg.max_lag = 3600;
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "{\"status\":\"degraded\",\"reasons\":[\"consumer_lag\"],") == out.p);
    cfg.max_lag = 7200;
    CHECK(render(&cfg, 0, &out) == 0);

    /* A dead letter; then every reason but unwritable, in order. */
    CHECK(put_seg(sp, "failed", t0 - 100, 5, 10) == 0);
    cfg.max_lag = 10000;
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "\"reasons\":[\"dead_letters\"]") != NULL);
    CHECK(json_num(out.p, "failed_segments") == 1);
    cfg.max_lag = 60;
    cfg.min_free = HS_CONF_NUM_MAX;
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "{\"status\":\"degraded\",\"reasons\":[\"low_free_space\","
                 "\"consumer_lag\",\"dead_letters\"],\"version\"") == out.p);
    hs_buf_free(&out);
}

/* Ages: empty ready/ is 0; a name from the future is 0; a name not in
 * the form falls back to the mtime; the name wins over the mtime. */
static void test_ages(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    char sp[PATH_LEN], p[PATH_LEN + 64], name[128];
    struct timespec ts[2];

    make_spool("ages", sp);
    config(&cfg, sp);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "oldest_ready_age_s") == 0);
    CHECK(json_num(out.p, "ready_segments") == 0);

    CHECK(put_seg(sp, "ready", t0 + 500, 1, 1) == 0);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "oldest_ready_age_s") == 0);

    /* Name says 100 s, mtime says far older: the name wins. */
    CHECK(put_seg(sp, "ready", t0 - 100, 2, 1) == 0);
    seg_name(t0 - 100, 2, name);
    snprintf(p, sizeof(p), "%s/ready/%s", sp, name);
    ts[0].tv_sec = ts[1].tv_sec = t0 - 100000;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "oldest_ready_age_s") == 100);

    /* A hand-named segment: its mtime. Bad dates are not dates. */
    snprintf(p, sizeof(p), "%s/ready/by-hand.jsonl", sp);
    CHECK(write_file(p, 3) == 0);
    ts[0].tv_sec = ts[1].tv_sec = t0 - 500;
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    snprintf(p, sizeof(p), "%s/ready/20261399T000000Z-x-1.jsonl", sp);
    CHECK(write_file(p, 3) == 0);
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "oldest_ready_age_s") == 500);
    CHECK(json_num(out.p, "ready_segments") == 4);
    CHECK(json_num(out.p, "ready_bytes") == 8);
    hs_buf_free(&out);
}

/* Odd spools: a regular file where the spool should be, a missing
 * subdirectory, a damaged counters file. */
static void test_odd_spools(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    char sp[PATH_LEN], p[PATH_LEN + 64];

    snprintf(sp, sizeof(sp), "%s/a-file", root);
    CHECK(write_file(sp, 10) == 0);
    config(&cfg, sp);
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "\"reasons\":[\"spool_unwritable\"]") != NULL);
    snprintf(cfg.spool, sizeof(cfg.spool), "%s/a-file/below", root);
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "\"reasons\":[\"spool_unwritable\"]") != NULL);
    CHECK(json_num(out.p, "free_bytes") > 0);

    /* A spool made by hand, no subdirectories yet: empty and fine. */
    snprintf(sp, sizeof(sp), "%s/bare", root);
    CHECK(mkdir(sp, 0700) == 0);
    config(&cfg, sp);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "ready_segments") == 0);

    /* active/ is a file: the appender could not work. */
    snprintf(p, sizeof(p), "%s/active", sp);
    CHECK(write_file(p, 1) == 0);
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(strstr(out.p, "\"reasons\":[\"spool_unwritable\"]") != NULL);
    CHECK(unlink(p) == 0);

    /* Damaged counters: zeros, still a status. */
    snprintf(p, sizeof(p), "%s/%s", sp, HS_CNT_FILE);
    CHECK(write_file(p, 3) == 0);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(json_num(out.p, "accepted") == 0 && strstr(out.p, "\"last_accepted_at\":null"));
    hs_buf_free(&out);
}

/* The escaping of endpoint and scheme strings. */
static void test_escaping(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    char sp[PATH_LEN];

    snprintf(sp, sizeof(sp), "%s/never", root);
    config(&cfg, sp);
    snprintf(cfg.endpoint, sizeof(cfg.endpoint), "a\"b\\c\nd");
    snprintf(cfg.scheme.name, sizeof(cfg.scheme.name), "hmac-sha256-hex:Signature");
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(strstr(out.p, "\"endpoint\":\"a\\\"b\\\\c\\nd\",\"scheme\":\"hmac-sha256-hex:Signature\",")
          != NULL);
    CHECK(strchr(out.p, '\n') == out.p + out.len - 1);
    CHECK(render(&cfg, 1, &out) == 0);
    CHECK(strstr(out.p, "hookspool_info{version=\"1.0.0\",endpoint=\"a\\\"b\\\\c\\nd\","
                 "scheme=\"hmac-sha256-hex:Signature\"} 1\n") != NULL);
    hs_buf_free(&out);
}

/* Parse a label set "{k="v",...}" at *p; 0 and *p past it, or -1. */
static int parse_labels(const char **p)
{
    const char *s = *p;
    if (*s != '{') return 0;
    s++;
    while (*s != '}') {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return -1;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
               (*s >= '0' && *s <= '9'))
            s++;
        if (*s++ != '=' || *s++ != '"') return -1;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n') return -1;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n') return -1;
            }
            s++;
        }
        s++;
        if (*s == ',') s++;
        else if (*s != '}') return -1;
    }
    *p = s + 1;
    return 0;
}

/* Every line is "# HELP name text", "# TYPE name type" or
 * "name{labels} value"; every sample's name had HELP and TYPE first. */
static void check_prometheus(const char *text)
{
    char helped[64][80], typed[64][80], types[64][16];
    int nh = 0, nt = 0, lines = 0, bad = 0;
    const char *line = text;

    while (*line != '\0') {
        const char *end = strchr(line, '\n'), *s = line;
        char name[80];
        size_t n = 0;
        int i, found = -1;
        if (end == NULL) { bad++; CHECK_MSG(0, "last line without newline"); break; }
        lines++;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            int help = line[2] == 'H';
            s = line + 7;
            while (s < end && *s != ' ' && n < sizeof(name) - 1) name[n++] = *s++;
            name[n] = '\0';
            if (*s != ' ' || s + 1 >= end) bad++;
            if (help && nh < 64) snprintf(helped[nh++], 80, "%s", name);
            if (!help && nt < 64) {
                snprintf(typed[nt], 80, "%s", name);
                snprintf(types[nt++], 16, "%.*s", (int)(end - s - 1), s + 1);
                if (strcmp(types[nt - 1], "counter") != 0 && strcmp(types[nt - 1], "gauge") != 0)
                    bad++;
            }
            CHECK_MSG(strncmp(name, "hookspool_", 10) == 0, "name %s", name);
        } else {
            char *vend;
            double v;
            while (s < end && *s != '{' && *s != ' ' && n < sizeof(name) - 1) name[n++] = *s++;
            name[n] = '\0';
            CHECK_MSG(strncmp(name, "hookspool_", 10) == 0, "name %s", name);
            if (parse_labels(&s) != 0 || *s != ' ') {
                bad++;
                CHECK_MSG(0, "bad labels: %.*s", (int)(end - line), line);
            } else {
                v = strtod(s + 1, &vend);
                /* Exactly one value, no timestamp. */
                CHECK_MSG(vend == end && vend > s + 1 && v >= 0, "bad value: %.*s",
                          (int)(end - line), line);
            }
            for (i = 0; i < nt; i++) if (strcmp(typed[i], name) == 0) found = i;
            CHECK_MSG(found >= 0, "no TYPE before %s", name);
            if (found >= 0) {
                int is_total = n > 6 && strcmp(name + n - 6, "_total") == 0;
                CHECK_MSG(is_total == (strcmp(types[found], "counter") == 0),
                          "counter naming: %s", name);
            }
            found = -1;
            for (i = 0; i < nh; i++) if (strcmp(helped[i], name) == 0) found = i;
            CHECK_MSG(found >= 0, "no HELP before %s", name);
        }
        line = end + 1;
    }
    CHECK(bad == 0);
    CHECK(lines > 20);
    CHECK(nh == nt);
}

static void test_prometheus(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    hs_counters *c = NULL;
    char sp[PATH_LEN], k[128];
    int r;
    static const char *const gauges[] = {
        "hookspool_active_bytes 1234\n", "hookspool_ready_segments 2\n",
        "hookspool_ready_bytes 30\n", "hookspool_oldest_ready_age_seconds 7200\n",
        "hookspool_claimed_segments 0\n", "hookspool_failed_segments 1\n",
        "hookspool_invalid_bodies 0\n", "hookspool_free_bytes ",
        "hookspool_accepted_total 4\n", "hookspool_duplicate_total 1\n",
        "hookspool_last_accepted_timestamp_seconds 1795341600.123\n",
        "hookspool_degraded 1\n",
        "hookspool_degraded_reason{reason=\"spool_unwritable\"} 0\n",
        "hookspool_degraded_reason{reason=\"low_free_space\"} 0\n",
        "hookspool_degraded_reason{reason=\"consumer_lag\"} 1\n",
        "hookspool_degraded_reason{reason=\"dead_letters\"} 1\n",
        "# TYPE hookspool_accepted_total counter\n",
        "# TYPE hookspool_rejected_total counter\n",
        "# TYPE hookspool_free_bytes gauge\n",
    };
    size_t i;

    make_spool("prom", sp);
    config(&cfg, sp);
    CHECK(put_seg(sp, "active", t0, 1, 1234) == 0);
    CHECK(put_seg(sp, "ready", t0 - 7200, 2, 10) == 0);
    CHECK(put_seg(sp, "ready", t0 - 60, 3, 20) == 0);
    CHECK(put_seg(sp, "failed", t0 - 60, 4, 20) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 4);
    hs_counters_add(c, HS_CNT_DUPLICATE, 1);
    hs_counters_add(c, HS_CNT_REJECTED(HS_R_BAD_SIGNATURE), 2);
    hs_counters_set_last_accepted(c, UINT64_C(1795341600123));
    hs_counters_close(c);

    CHECK(render(&cfg, 1, &out) == 1);
    check_prometheus(out.p);
    for (i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
        CHECK_MSG(strstr(out.p, gauges[i]) != NULL, "missing %s", gauges[i]);
    for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++) {
        snprintf(k, sizeof(k), "hookspool_rejected_total{reason=\"%s\"} %d\n",
                 hs_reason_name((hs_reason)r), r == HS_R_BAD_SIGNATURE ? 2 : 0);
        CHECK_MSG(strstr(out.p, k) != NULL, "missing %s", k);
    }
    CHECK(strstr(out.p, "{status") == NULL && out.p[out.len - 1] == '\n');

    /* Before the first event, the timestamp is 0 (never NaN). */
    snprintf(cfg.spool, sizeof(cfg.spool), "%s/prom-missing", root);
    CHECK(render(&cfg, 1, &out) == 0);
    check_prometheus(out.p);
    CHECK(strstr(out.p, "hookspool_last_accepted_timestamp_seconds 0.000\n") != NULL);
    hs_buf_free(&out);
}

/* --- nothing changes ------------------------------------------------ */

typedef struct entry {
    char            path[PATH_LEN];
    off_t           size;
    mode_t          mode;
    ino_t           ino;
    struct timespec mtim, ctim, atim;
} entry;

/* Collect the paths under dir (listing a directory may itself update
 * its access time, so nothing is stat'ed until every listing is done). */
static int snap_walk(const char *dir, entry *e, int n, int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d == NULL) return n;
    while ((de = readdir(d)) != NULL && n < max) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        snprintf(e[n].path, PATH_LEN, "%s/%s", dir, de->d_name);
        n++;
        if (de->d_type == DT_DIR) n = snap_walk(e[n - 1].path, e, n, max);
    }
    closedir(d);
    return n;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* Snapshot of every file under dir (and dir itself), sorted. */
static int snap(const char *dir, entry *e, int max)
{
    int n = 1, i, k = 0;
    snprintf(e[0].path, PATH_LEN, "%s", dir);
    n = snap_walk(dir, e, n, max);
    for (i = 0; i < n; i++) {
        struct stat st;
        if (lstat(e[i].path, &st) != 0) continue;
        e[k] = e[i];
        e[k].size = st.st_size;
        e[k].mode = st.st_mode;
        e[k].ino = st.st_ino;
        e[k].mtim = st.st_mtim;
        e[k].ctim = st.st_ctim;
        e[k].atim = st.st_atim;
        k++;
    }
    qsort(e, (size_t)k, sizeof(*e), cmp_entry);
    return k;
}

static int same_ts(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* 1 when both snapshots are identical; with atime, access times too. */
static int same_snap(const entry *a, int na, const entry *b, int nb, int atime)
{
    int i;
    if (na != nb) {
        fprintf(stderr, "snapshot: %d entries before, %d after\n", na, nb);
        return 0;
    }
    for (i = 0; i < na; i++) {
        if (strcmp(a[i].path, b[i].path) != 0 || a[i].size != b[i].size ||
            a[i].mode != b[i].mode || a[i].ino != b[i].ino ||
            !same_ts(a[i].mtim, b[i].mtim) || !same_ts(a[i].ctim, b[i].ctim) ||
            (atime && !same_ts(a[i].atim, b[i].atim))) {
            fprintf(stderr, "snapshot: %s changed\n", a[i].path);
            return 0;
        }
    }
    return 1;
}

static void test_changes_nothing(void)
{
    static entry before[SNAP_MAX], after[SNAP_MAX];
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    hs_counters *c = NULL;
    char sp[PATH_LEN];
    int nb, na;

    make_spool("still", sp);
    config(&cfg, sp);
    CHECK(put_seg(sp, "active", t0, 1, 100) == 0);
    CHECK(put_seg(sp, "ready", t0 - 10, 2, 100) == 0);
    CHECK(put_seg(sp, "claimed", t0 - 20, 3, 100) == 0);
    CHECK(put_seg(sp, "failed", t0 - 30, 4, 100) == 0);
    CHECK(put_file(sp, "invalid/x.body", 7) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 1);
    hs_counters_close(c);

    nb = snap(sp, before, SNAP_MAX);
    CHECK_MSG(nb == 14, "%d", nb);   /* 13, and the minute ring SPOOL/minutes (issue 19) */
    CHECK(render(&cfg, 0, &out) == 1);
    CHECK(render(&cfg, 1, &out) == 1);
    na = snap(sp, after, SNAP_MAX);
    /* Access times too: the status opens with O_NOATIME, which root
     * (the owner here) may use. */
    CHECK(same_snap(before, nb, after, na, 1));

    /* A spool with no counters file and no subdirectories: still none. */
    snprintf(sp, sizeof(sp), "%s/still-bare", root);
    CHECK(mkdir(sp, 0700) == 0);
    config(&cfg, sp);
    nb = snap(sp, before, SNAP_MAX);
    CHECK(render(&cfg, 0, &out) == 0);
    CHECK(render(&cfg, 1, &out) == 0);
    na = snap(sp, after, SNAP_MAX);
    CHECK(nb == 1 && same_snap(before, nb, after, na, 1));
    hs_buf_free(&out);
}

/* --- as another user -------------------------------------------------- */

/* Render as nobody in a child; the JSON into out (cap bytes). Returns
 * the child's degraded flag, or -1. */
static int render_as_nobody(const hs_config *cfg, char *out, size_t cap)
{
    int fds[2], stt;
    ssize_t n, got = 0;
    pid_t pid;

    if (pipe(fds) != 0) return -1;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        hs_buf b = HS_BUF_INIT;
        int deg = 0;
        size_t off = 0;
        if (close(fds[0]) != 0) _exit(10);
        if (setgroups(0, NULL) != 0 || setgid(NOBODY_ID) != 0 || setuid(NOBODY_ID) != 0)
            _exit(11);
        if (hs_status_render(cfg, HS_STATUS_FULL, 0, t0, &b, &deg) != 0) _exit(12);
        while (off < b.len) {
            ssize_t w = write(fds[1], b.p + off, b.len - off);
            if (w <= 0) _exit(13);
            off += (size_t)w;
        }
        _exit(deg);
    }
    if (close(fds[1]) != 0) return -1;
    while ((n = read(fds[0], out + got, cap - 1 - (size_t)got)) > 0) got += n;
    out[got] = '\0';
    if (close(fds[0]) != 0) return -1;
    if (waitpid(pid, &stt, 0) != pid || !WIFEXITED(stt) || WEXITSTATUS(stt) > 1) {
        fprintf(stderr, "nobody child: status %d\n", stt);
        return -1;
    }
    return WEXITSTATUS(stt);
}

static int chmod_tree(const char *spool, mode_t dmode, mode_t fmode)
{
    static const char *const subs[] = { "active", "ready", "claimed", "failed", "invalid" };
    char p[PATH_LEN + 32];
    size_t i;
    if (chmod(spool, dmode) != 0) return -1;
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", spool, subs[i]);
        if (chmod(p, dmode) != 0) return -1;
    }
    snprintf(p, sizeof(p), "%s/lock", spool);
    if (chmod(p, fmode) != 0) return -1;
    snprintf(p, sizeof(p), "%s/%s", spool, HS_CNT_FILE);
    return chmod(p, fmode);
}

static int chown_tree(const char *spool, uid_t u)
{
    static const char *const subs[] = { "", "/active", "/ready", "/claimed", "/failed",
                                        "/invalid", "/lock", ("/" HS_CNT_FILE) };
    char p[PATH_LEN + 32];
    size_t i;
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", spool, subs[i]);
        if (chown(p, u, u) != 0) return -1;
    }
    return 0;
}

static void test_unwritable(void)
{
    static entry before[SNAP_MAX], after[SNAP_MAX];
    static char got[OUT_MAX];
    hs_config cfg;
    hs_counters *c = NULL;
    char sp[PATH_LEN], parent[PATH_LEN];
    int nb, na;

    CHECK(chmod(root, 0755) == 0);
    make_spool("ro", sp);
    config(&cfg, sp);
    cfg.max_lag = 100000;
    CHECK(put_seg(sp, "ready", t0 - 10, 1, 50) == 0);
    CHECK(put_file(sp, "invalid/a.body", 2) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 6);
    hs_counters_close(c);

    /* Readable by nobody, not writable: counted, and unwritable. */
    CHECK(chmod_tree(sp, 0555, 0444) == 0);
    nb = snap(sp, before, SNAP_MAX);
    CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 1);
    CHECK_MSG(strstr(got, "\"reasons\":[\"spool_unwritable\"]") != NULL, "%s", got);
    CHECK(json_num(got, "ready_segments") == 1 && json_num(got, "ready_bytes") == 50);
    CHECK(json_num(got, "invalid_bodies") == 1 && json_num(got, "accepted") == 6);
    na = snap(sp, after, SNAP_MAX);
    CHECK(same_snap(before, nb, after, na, 0));

    /* Only the lock not writable: still unwritable. */
    CHECK(chown_tree(sp, NOBODY_ID) == 0);
    CHECK(chmod_tree(sp, 0700, 0600) == 0);
    CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 0);
    CHECK_MSG(strstr(got, "\"reasons\":[]") != NULL, "%s", got);
    {
        char p[PATH_LEN + 16];
        snprintf(p, sizeof(p), "%s/lock", sp);
        CHECK(chmod(p, 0400) == 0);
        CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 1);
        CHECK(strstr(got, "\"reasons\":[\"spool_unwritable\"]") != NULL);
        CHECK(chmod(p, 0600) == 0);
        snprintf(p, sizeof(p), "%s/active", sp);
        CHECK(chmod(p, 0500) == 0);
        CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 1);
        CHECK(strstr(got, "\"reasons\":[\"spool_unwritable\"]") != NULL);
        CHECK(chmod(p, 0700) == 0);
    }
    /* Root bypasses permissions: the same tree is fine for root. */
    CHECK(chmod_tree(sp, 0555, 0444) == 0);
    {
        hs_buf b = HS_BUF_INIT;
        CHECK(render(&cfg, 0, &b) == 0);
        hs_buf_free(&b);
    }

    /* Not created yet under a parent nobody cannot write: unwritable;
     * under one nobody may write: fine. Neither is created. */
    snprintf(parent, sizeof(parent), "%s/ro-parent", root);
    CHECK(mkdir(parent, 0755) == 0);
    snprintf(cfg.spool, sizeof(cfg.spool), "%s/a/b/spool", parent);
    CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 1);
    CHECK_MSG(strstr(got, "\"reasons\":[\"spool_unwritable\"]") != NULL, "%s", got);
    CHECK(json_num(got, "free_bytes") > 0);
    CHECK(chown(parent, NOBODY_ID, NOBODY_ID) == 0);
    CHECK(render_as_nobody(&cfg, got, sizeof(got)) == 0);
    CHECK_MSG(strstr(got, "\"reasons\":[]") != NULL, "%s", got);
    {
        char p[PATH_LEN + 16];
        struct stat st;
        snprintf(p, sizeof(p), "%s/a", parent);
        CHECK(stat(p, &st) != 0 && errno == ENOENT);
    }
    CHECK(chmod(root, 0700) == 0);
}

/* --- who sees what ------------------------------------------------------ */

/* The brief form: only "status" and "reasons", ok or degraded. */
static void test_brief(void)
{
    hs_config cfg;
    hs_buf out = HS_BUF_INIT;
    hs_status st;
    char sp[PATH_LEN];
    int deg = -1;

    make_spool("brief", sp);
    config(&cfg, sp);
    CHECK(put_seg(sp, "ready", t0 - 10, 1, 100) == 0);
    CHECK(hs_status_render(&cfg, HS_STATUS_BRIEF, 0, t0, &out, &deg) == 0 && deg == 0);
    CHECK_MSG(out.len == strlen("{\"status\":\"ok\",\"reasons\":[]}\n") &&
              memcmp(out.p, "{\"status\":\"ok\",\"reasons\":[]}\n", out.len) == 0,
              "%.*s", (int)out.len, out.p);
    CHECK(put_seg(sp, "failed", t0 - 10, 2, 100) == 0);
    cfg.max_lag = 5;
    hs_buf_reset(&out);
    hs_status_collect(&cfg, t0, 0, &st);
    CHECK(hs_status_format(&cfg, &st, HS_STATUS_BRIEF, &out) == 0);
    hs_buf_putc(&out, '\0');
    CHECK_MSG(strcmp(out.p, "{\"status\":\"degraded\",\"reasons\":[\"consumer_lag\","
                     "\"dead_letters\"]}\n") == 0, "%s", out.p);
    hs_buf_free(&out);
}

/* --- the shared cache of the directory figures ------------------------ */

static int unlink_seg(const char *spool, const char *sub, time_t t, int uniq)
{
    char name[128], p[PATH_LEN + 200];
    seg_name(t, uniq, name);
    snprintf(p, sizeof(p), "%s/%s/%s", spool, sub, name);
    return unlink(p);
}

/* ready_segments of a cached status collected as nobody, or -1. */
static int ready_as_nobody(const hs_config *cfg, time_t now)
{
    int stt;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        hs_status st;
        if (setgroups(0, NULL) != 0 || setgid(NOBODY_ID) != 0 || setuid(NOBODY_ID) != 0)
            _exit(250);
        hs_status_collect(cfg, now, 1, &st);
        _exit(st.ready_segments < 200 ? (int)st.ready_segments : 251);
    }
    if (waitpid(pid, &stt, 0) != pid || !WIFEXITED(stt) || WEXITSTATUS(stt) >= 200) return -1;
    return WEXITSTATUS(stt);
}

/* The cached figures' second, read from the file as bytes (0: none). */
static uint64_t cached_at(const char *sp)
{
    char p[PATH_LEN + 32];
    uint64_t at = 0;
    int fd;
    snprintf(p, sizeof(p), "%s/%s", sp, HS_CNT_FILE);
    fd = open(p, O_RDONLY);
    if (fd < 0) return UINT64_MAX;
    if (pread(fd, &at, sizeof(at), HS_CNT_MAGIC_LEN + 8 * HS_CNT_SCAN_AT) != sizeof(at))
        at = UINT64_MAX;
    close(fd);
    return at;
}

static uint64_t ready_at(const hs_config *cfg, time_t now, int cached)
{
    hs_status st;
    hs_status_collect(cfg, now, cached, &st);
    return st.ready_segments;
}

/* A scan function for hs_counters_status that counts its calls. */
static int scans;
static int count_scan(void *arg, hs_counters_scan *out)
{
    (void)arg;
    scans++;
    out->ready_segments = 7;
    return 0;
}

/* A scanner killed while it holds the lock: SIGKILL from inside the
 * scan of a real child process. */
static int die_scan(void *arg, hs_counters_scan *out)
{
    (void)arg;
    (void)out;
    raise(SIGKILL);
    return 0;
}

static void test_cache(void)
{
    static entry before[SNAP_MAX], after[SNAP_MAX];
    hs_config cfg;
    hs_counters *c = NULL;
    hs_counters_snap cs;
    hs_counters_scan fig;
    hs_status st;
    char sp[PATH_LEN], p[PATH_LEN + 32];
    int nb, na, fd, stt;
    pid_t pid;

    make_spool("cache", sp);
    config(&cfg, sp);
    CHECK(put_seg(sp, "ready", t0 - 10, 1, 100) == 0);

    /* No counters file (before the first POST): scanned every time,
     * nothing created. */
    CHECK(ready_at(&cfg, t0, 1) == 1);
    CHECK(put_seg(sp, "ready", t0 - 9, 2, 100) == 0);
    nb = snap(sp, before, SNAP_MAX);
    CHECK(ready_at(&cfg, t0, 1) == 2);
    na = snap(sp, after, SNAP_MAX);
    CHECK(same_snap(before, nb, after, na, 0));
    CHECK(unlink_seg(sp, "ready", t0 - 9, 2) == 0);

    /* With one: scanned once in second t0, for everyone. */
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_add(c, HS_CNT_ACCEPTED, 3);
    CHECK(cached_at(sp) == 0);
    CHECK(ready_at(&cfg, t0, 1) == 1);
    CHECK(cached_at(sp) == (uint64_t)t0);
    CHECK(put_seg(sp, "ready", t0 - 9, 2, 100) == 0);     /* behind its back */
    CHECK(ready_at(&cfg, t0, 1) == 1);                    /* the cache */
    CHECK(ready_at(&cfg, t0, 0) == 2);                    /* uncached: now */
    CHECK(ready_at(&cfg, t0 + 1, 1) == 2);                /* the next second */
    CHECK(cached_at(sp) == (uint64_t)t0 + 1);
    /* The ages follow the clock, not the cache. */
    hs_status_collect(&cfg, t0 + 1, 1, &st);
    CHECK(st.oldest_ready_age_s == 11 && st.ready_bytes == 200);
    hs_status_collect(&cfg, t0 + 1000, 1, &st);
    CHECK(st.oldest_ready_age_s == 1010);
    /* Caching never touches a count. */
    CHECK(hs_counters_read(sp, &cs) == 0 && cs.accepted == 3);
    CHECK(st.counters.accepted == 3);

    /* The clock set back: a cache "from the future" is stale. */
    CHECK(put_seg(sp, "ready", t0 - 8, 3, 100) == 0);
    CHECK(ready_at(&cfg, t0, 1) == 3 && cached_at(sp) == (uint64_t)t0);

    /* At most one scan a second through hs_counters_status itself. */
    scans = 0;
    CHECK(hs_counters_status(sp, t0 + 5000, count_scan, NULL, &cs, &fig) == 0);
    CHECK(hs_counters_status(sp, t0 + 5000, count_scan, NULL, &cs, &fig) == 0);
    CHECK(scans == 1 && fig.ready_segments == 7 && cs.accepted == 3);
    CHECK(hs_counters_status(sp, t0 + 5001, count_scan, NULL, &cs, &fig) == 0);
    CHECK(scans == 2);

    /* Another process holds the lock (it is scanning): a cache from the
     * second before is used, an older one is not trusted (scanned here,
     * not stored). */
    snprintf(p, sizeof(p), "%s/%s", sp, HS_CNT_FILE);
    CHECK(ready_at(&cfg, t0 + 6000, 1) == 3);
    CHECK(put_seg(sp, "ready", t0 - 7, 4, 100) == 0);
    {
        int go[2];
        char b;
        CHECK(pipe(go) == 0);
        pid = fork();
        if (pid == 0) {
            int lfd = open(p, O_RDWR);
            if (lfd < 0 || flock(lfd, LOCK_EX) != 0) _exit(1);
            if (write(go[1], "x", 1) != 1) _exit(2);
            pause();
            _exit(0);
        }
        CHECK(read(go[0], &b, 1) == 1);
        CHECK(ready_at(&cfg, t0 + 6001, 1) == 3);         /* recent: used */
        CHECK(ready_at(&cfg, t0 + 6002, 1) == 4);         /* older: scanned */
        CHECK(cached_at(sp) == (uint64_t)t0 + 6000);      /* but not stored */
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &stt, 0) == pid);
        close(go[0]);
        close(go[1]);
    }

    /* A scanner killed mid-scan releases the lock by dying: the next
     * status of the same second scans and stores. */
    pid = fork();
    if (pid == 0) {
        (void)hs_counters_status(sp, t0 + 7000, die_scan, NULL, &cs, &fig);
        _exit(0);
    }
    CHECK(waitpid(pid, &stt, 0) == pid && WIFSIGNALED(stt) && WTERMSIG(stt) == SIGKILL);
    CHECK(cached_at(sp) == (uint64_t)t0 + 6000);
    CHECK(ready_at(&cfg, t0 + 7000, 1) == 4 && cached_at(sp) == (uint64_t)t0 + 7000);

    /* One killed mid-store leaves the sequence word odd: no reader takes
     * that set; the next scanner (even in the same second) stores anew. */
    fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    {
        uint64_t seq = 0, bogus = 999;
        CHECK(pread(fd, &seq, 8, HS_CNT_MAGIC_LEN + 8 * HS_CNT_SCAN_SEQ) == 8);
        seq |= 1u;
        CHECK(pwrite(fd, &seq, 8, HS_CNT_MAGIC_LEN + 8 * HS_CNT_SCAN_SEQ) == 8);
        CHECK(pwrite(fd, &bogus, 8, HS_CNT_MAGIC_LEN + 8 * (HS_CNT_SCAN_FIRST + 1)) == 8);
        CHECK(ready_at(&cfg, t0 + 7000, 1) == 4);
        CHECK(pread(fd, &seq, 8, HS_CNT_MAGIC_LEN + 8 * HS_CNT_SCAN_SEQ) == 8);
        CHECK(seq % 2 == 0);
        CHECK(ready_at(&cfg, t0 + 7000, 1) == 4);
    }
    CHECK(close(fd) == 0);
    hs_counters_close(c);
}

/* A process that may read but not write the counters file uses a cache
 * from this second or the one before and otherwise scans for itself,
 * writing nothing. */
static void test_cache_read_only(void)
{
    static entry before[SNAP_MAX], after[SNAP_MAX];
    hs_config cfg;
    hs_counters *c = NULL;
    char sp[PATH_LEN];
    int nb, na;

    if (geteuid() != 0) {
        fprintf(stderr, "skip test_cache_read_only: needs root to become nobody\n");
        return;
    }
    CHECK(chmod(root, 0755) == 0);
    make_spool("cache-ro", sp);
    config(&cfg, sp);
    cfg.max_lag = 100000000;
    CHECK(put_seg(sp, "ready", t0 - 10, 1, 100) == 0);
    CHECK(hs_counters_open(sp, 077, &c) == 0);
    hs_counters_close(c);
    CHECK(chmod_tree(sp, 0755, 0644) == 0);
    CHECK(ready_at(&cfg, t0, 1) == 1 && cached_at(sp) == (uint64_t)t0);
    CHECK(put_seg(sp, "ready", t0 - 9, 2, 100) == 0);
    CHECK(chmod_tree(sp, 0755, 0644) == 0);
    nb = snap(sp, before, SNAP_MAX);
    CHECK(ready_as_nobody(&cfg, t0) == 1);          /* the current cache */
    CHECK(ready_as_nobody(&cfg, t0 + 1) == 1);      /* from the second before */
    CHECK(ready_as_nobody(&cfg, t0 + 2) == 2);      /* older: its own scan */
    CHECK(cached_at(sp) == (uint64_t)t0);           /* ... not stored */
    na = snap(sp, after, SNAP_MAX);
    CHECK(same_snap(before, nb, after, na, 0));
    CHECK(chmod(root, 0700) == 0);
}

int main(void)
{
    char cmd[300];
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 22;
    tm.tm_hour = 12;
    t0 = timegm(&tm);
    snprintf(root, sizeof(root), "/tmp/hs-test-status-XXXXXX");
    if (mkdtemp(root) == NULL) { perror("mkdtemp"); return 1; }
    test_missing_spool();
    test_exact_json();
    test_ages();
    test_odd_spools();
    test_escaping();
    test_prometheus();
    test_changes_nothing();
    test_brief();
    test_cache();
    test_cache_read_only();
    if (geteuid() == 0) test_unwritable();
    else fprintf(stderr, "skip test_unwritable: needs root to become nobody\n");
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwX '%s'; rm -rf '%s'", root, root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return T_END();
}
