/*
 * handler_bench.c - hookspool's request path in-process, from memory,
 * linked against build/libhookspool.a (as tests/unit/test_handler.c drives
 * it): hs_ctx_config + hs_handle per request, no web server, no socket.
 * Built by bench/run.sh into build/bench/handler_bench.
 *
 *   handler_bench throughput SPOOL BODY SECONDS
 *       One correctly signed body (a file) posted again and again for at
 *       least SECONDS, HOOKSPOOL_FSYNC=never, HOOKSPOOL_DEDUP=off.
 *       Prints "handler ..." (MB/s of body, 1 MB = 10^6 bytes, per second of
 *       wall time and per second of the process's CPU time, user+system) and
 *       "parts ..." (the signature check and the JSON minifier alone over
 *       the same body, for where the time goes).
 *
 *   handler_bench fill SPOOL TEMPLATE LINES
 *       Make SPOOL hold LINES event lines (sealed segments in ready/, of at
 *       most HOOKSPOOL_ROTATE_BYTES) and remember LINES dedup keys in
 *       SPOOL/state.db, as if LINES distinct events had been received over
 *       the last 6 days, without going through the handler: the lines are
 *       built like lib/handler.c's build_line, the keys with the library's
 *       own hs_dedup_key and hs_dedup_hash, the store is created by
 *       hs_store_open (its schema) and filled with plain SQLite inserts, and
 *       the index cursor is set with hs_store_cursor_set. Then it checks
 *       itself: a line made by hs_handle in a scratch spool must equal a
 *       generated one (id and received_at aside), and an event of the fill
 *       posted again must be answered as a duplicate.
 *
 *   handler_bench append SPOOL TEMPLATE N PREFIX
 *       Time N appends of distinct events (resourceId PREFIX + digits) with
 *       dedup on (Caliza's default key, or HOOKSPOOL_DEDUP=$BENCH_DEDUP) and
 *       HOOKSPOOL_FSYNC=never (or $BENCH_FSYNC) after 100 untimed ones. Prints "append ..." with
 *       the mean, p50, p99 and max microseconds per append.
 *
 * TEMPLATE is a body from bench/bodies.py: its resourceId is the 24-byte
 * token @RID@@@@@@@@@@@@@@@@@@@@. The secret is $HOOKSPOOL_SECRET or the
 * demo secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "config.h"
#include "ctx.h"
#include "dedup.h"
#include "handler.h"
#include "json.h"
#include "layout.h"
#include "sig.h"
#include "sign.h"
#include "spool.h"
#include "store.h"

#define DEMO_SECRET "AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro="
#define TOKEN       "@RID@@@@@@@@@@@@@@@@@@@@"
#define TOKEN_LEN   24
#define MAX_BODY    "4194304"
#define ROTATE      67108864LL     /* HOOKSPOOL_ROTATE_BYTES's default */
#define WARMUP      100
#define MAXP        32

static const char *secret;

static void die(const char *what)
{
    fprintf(stderr, "handler_bench: %s\n", what);
    exit(1);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;
    if (f == NULL) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) die("cannot read a body");
    p[n] = '\0';
    *len = (size_t)n;
    fclose(f);
    return p;
}

/* ------------------------------------------------------------ requests */

typedef struct {
    char *p[MAXP + 1];
    int   n;
} params;

static void padd(params *ps, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s == NULL || ps->n >= MAXP) die("params");
    snprintf(s, n, "%s=%s", name, value);
    ps->p[ps->n++] = s;
    ps->p[ps->n] = NULL;
}

static void pfree(params *ps)
{
    int i;
    for (i = 0; i < ps->n; i++) free(ps->p[i]);
    ps->n = 0;
    ps->p[0] = NULL;
}

/* The Caliza signature (the header's value) of body[0..len). */
static char *sign(const char *body, size_t len)
{
    hs_scheme sc;
    hs_secret *s = calloc(1, sizeof(*s));
    hs_buf out = HS_BUF_INIT;
    char *v, *nl, *r;

    if (s == NULL || hs_scheme_parse("caliza", 6, &sc) != 0 ||
        hs_secret_decode(&sc, secret, strlen(secret), "bench", s) != 0 ||
        hs_sign_headers(&sc, s, (const unsigned char *)body, len, time(NULL), NULL, &out) != 0)
        die("cannot sign");
    v = strstr(out.p, ": ");
    if (v == NULL) die("unexpected signature header");
    v += 2;
    nl = strchr(v, '\n');
    if (nl) *nl = '\0';
    r = strdup(v);
    hs_buf_free(&out);
    free(s);
    return r;
}

/* A POST's parameters, as lighttpd passes them to hookspool.fcgi. */
static void post_params(params *ps, const char *spool, size_t blen, const char *sig,
                        const char *fsync, const char *dedup)
{
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", blen);
    pfree(ps);
    padd(ps, "REQUEST_METHOD", "POST");
    padd(ps, "CONTENT_TYPE", "application/json");
    padd(ps, "CONTENT_LENGTH", cl);
    padd(ps, "REMOTE_ADDR", "127.0.0.1");
    padd(ps, "SCRIPT_NAME", "/hook");
    padd(ps, "HTTP_HOST", "127.0.0.1");
    padd(ps, "HTTP_X_CALIZA_WEBHOOK_SIGNATURE", sig);
    padd(ps, "HOOKSPOOL_SPOOL", spool);
    padd(ps, "HOOKSPOOL_SECRET", secret);
    padd(ps, "HOOKSPOOL_SCHEME", "caliza");
    padd(ps, "HOOKSPOOL_FSYNC", fsync);
    padd(ps, "HOOKSPOOL_MAX_BODY", MAX_BODY);
    if (dedup != NULL) padd(ps, "HOOKSPOOL_DEDUP", dedup);
}

/* One request through the library, as cgi/hookspool_fcgi.c serves it. */
static int run1(hs_ctx *ctx, params *ps, const char *body, size_t blen, hs_response *resp)
{
    hs_request req;
    char err[HS_CTX_ERR_MAX] = "";
    const hs_config *cfg;

    memset(&req, 0, sizeof(req));
    req.params = ps->p;
    req.now = time(NULL);
    cfg = hs_ctx_config(ctx, ps->p, req.now, err, sizeof(err));
    req.body = (const unsigned char *)body;
    req.body_len = blen;
    hs_response_free(resp);
    hs_response_init(resp);
    hs_handle(ctx, cfg, err, &req, resp);
    hs_ctx_idle(ctx);   /* after the answer, as the FastCGI loop does */
    return resp->status;
}

static int unlink_one(void *arg, int dfd, const char *entry, unsigned char type)
{
    (void)arg;
    (void)type;
    if (entry[0] != '.') (void)unlinkat(dfd, entry, 0);   /* best effort */
    return 0;
}

/* The descriptor of the spool directory (or die). */
static int open_spool_dir(const char *spool)
{
    int fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) die("cannot open the spool");
    return fd;
}

/* Remove the sealed segments of spool/ready (untimed housekeeping). */
static void clear_ready(const char *spool)
{
    int fd = open_spool_dir(spool);
    (void)hs_layout_each(fd, hs_layout_dir_name(HS_DIR_READY), unlink_one, NULL);
    (void)hs_layout_close(fd);
}

/* ---------------------------------------------------------- throughput */

/* Any header is the signature (for hs_sig_verify alone). */
static const char *sig_lookup(void *arg, const char *name)
{
    (void)name;
    return arg;
}

static int cmd_throughput(const char *spool, const char *bodyfile, double secs)
{
    size_t blen;
    char *body = slurp(bodyfile, &blen), *sig = sign(body, blen);
    hs_ctx *ctx = hs_ctx_new(NULL, 2);
    params ps = { { 0 }, 0 };
    hs_response resp;
    double t, busy = 0, c0, c1, since_clear = 0, clear_cpu = 0;
    long iters = 0, non200 = 0, i;

    if (ctx == NULL) die("hs_ctx_new");
    hs_response_init(&resp);
    post_params(&ps, spool, blen, sig, "never", "off");
    for (i = 0; i < 3; i++)
        if (run1(ctx, &ps, body, blen, &resp) != 200) die("warm-up request not answered 200");
    c0 = cpu_s();
    while (busy < secs || iters < 5) {
        t = mono();
        if (run1(ctx, &ps, body, blen, &resp) != 200) non200++;
        busy += mono() - t;
        iters++;
        since_clear += (double)blen;
        if (since_clear > 256e6) {
            double cc = cpu_s();
            clear_ready(spool);
            since_clear = 0;
            clear_cpu += cpu_s() - cc;
        }
    }
    c1 = cpu_s();
    c1 -= clear_cpu;      /* housekeeping between requests is not the handler's */
    printf("handler bytes=%zu iters=%ld seconds=%.3f us_per_req=%.2f mb_per_s=%.1f "
           "cpu_s=%.3f cpu_us_per_req=%.2f cpu_mb_per_s=%.1f non200=%ld\n", blen, iters, busy,
           busy / (double)iters * 1e6, (double)blen * (double)iters / busy / 1e6, c1 - c0,
           (c1 - c0) / (double)iters * 1e6, (double)blen * (double)iters / (c1 - c0) / 1e6, non200);

    /* Parts of the path, alone over the same body: the signature check
     * (HMAC-SHA256, Base64, constant-time compare) and the JSON minifier. */
    {
        hs_scheme sc;
        hs_secret *s = calloc(1, sizeof(*s));
        hs_buf ev = HS_BUF_INIT;
        long n = 0;
        double t0, sig_s, min_s;

        if (s == NULL || hs_scheme_parse("caliza", 6, &sc) != 0 ||
            hs_secret_decode(&sc, secret, strlen(secret), "bench", s) != 0)
            die("secret");
        t0 = mono();
        do {
            hs_sig_verdict v = hs_sig_verify(&sc, s, 1, sig_lookup, sig,
                                             (const unsigned char *)body, blen, time(NULL), 300);
            if (v.result != HS_SIG_OK) die("hs_sig_verify does not accept the signature");
            n++;
        } while ((sig_s = mono() - t0) < 0.5 || n < 5);
        sig_s /= (double)n;
        n = 0;
        t0 = mono();
        do {
            hs_buf_reset(&ev);
            if (hs_json_minify((const unsigned char *)body, blen, &ev, NULL) != HS_JSON_OK)
                die("the body is not valid JSON");
            n++;
        } while ((min_s = mono() - t0) < 0.5 || n < 5);
        min_s /= (double)n;
        printf("parts bytes=%zu sig_mb_per_s=%.1f minify_mb_per_s=%.1f sig_us=%.2f "
               "minify_us=%.2f\n", blen, (double)blen / sig_s / 1e6, (double)blen / min_s / 1e6,
               sig_s * 1e6, min_s * 1e6);
        hs_buf_free(&ev);
        free(s);
    }
    hs_response_free(&resp);
    pfree(&ps);
    hs_ctx_free(ctx);
    free(sig);
    free(body);
    return non200 ? 1 : 0;
}

/* ----------------------------------------------------------- the fill */

/* The template with rid (24 bytes) in place of the token. */
static void with_rid(const char *tmpl, size_t len, const char *rid, char *out)
{
    const char *at = strstr(tmpl, TOKEN);
    if (at == NULL) die("no " TOKEN " in the template");
    memcpy(out, tmpl, len + 1);
    memcpy(out + (at - tmpl), rid, TOKEN_LEN);
}

/* The library's host part of a name and the id's tag for spool path. */
static void host_and_tag(const char *path, char host[HS_HOST_MAX + 1], char tag[HS_TAG_LEN + 1])
{
    hs_layout_host(host);
    if (hs_spool_tag(host, path, tag) != 0) die("sha256");
}

/* One event line as lib/handler.c's build_line makes it, with the key's
 * JSON text and its stored hash. 0, or -1 when the event has no key. */
static int gen_line(const hs_config *cfg, const char *body, size_t blen, uint64_t stamp,
                    const char *tag, hs_buf *line, unsigned char hash[HS_STORE_KEY_LEN])
{
    hs_buf ev = HS_BUF_INIT, key = HS_BUF_INIT, ep = HS_BUF_INIT;
    char id[HS_ID_LEN + 1], ts[HS_TS_LEN + 1];
    int rc = -1;

    if (hs_json_minify((const unsigned char *)body, blen, &ev, NULL) != HS_JSON_OK) goto out;
    if (hs_dedup_key(cfg, ev.p, ev.len, NULL, NULL, &key) != 1) goto out;
    hs_buf_json_str(&ep, cfg->endpoint, strlen(cfg->endpoint));
    if (hs_dedup_hash(ep.p, ep.len, key.p, key.len, hash) != 0) goto out;
    hs_spool_fmt_id(stamp, tag, id);
    hs_spool_fmt_ts(stamp, ts);
    hs_buf_reset(line);
    hs_buf_puts(line, "{\"id\":\"");
    hs_buf_puts(line, id);
    hs_buf_puts(line, "\",\"received_at\":\"");
    hs_buf_puts(line, ts);
    hs_buf_puts(line, "\",\"endpoint\":");
    hs_buf_append(line, ep.p, ep.len);
    hs_buf_puts(line, ",\"key\":");
    hs_buf_append(line, key.p, key.len);
    hs_buf_puts(line, ",\"headers\":{},\"event\":");
    hs_buf_append(line, ev.p, ev.len);
    hs_buf_puts(line, "}\n");
    rc = line->oom ? -1 : 0;
out:
    hs_buf_free(&ev);
    hs_buf_free(&key);
    hs_buf_free(&ep);
    return rc;
}

/* The first name of a listing (NUL-terminated into arg, HS_SEG_NAME_MAX). */
static int first_name(void *arg, int dfd, const char *entry, unsigned char type)
{
    (void)dfd;
    (void)type;
    if (entry[0] == '.' || strlen(entry) >= HS_SEG_NAME_MAX) return 0;
    memcpy(arg, entry, strlen(entry) + 1);
    return 1;
}

/* The one line of spool/active/<the only segment>, or NULL. */
static char *active_line(const char *spool)
{
    char name[HS_SEG_NAME_MAX], p[PATH_MAX + HS_SEG_NAME_MAX + 16];
    size_t n;
    int fd = open_spool_dir(spool), rc;

    rc = hs_layout_each(fd, hs_layout_dir_name(HS_DIR_ACTIVE), first_name, name);
    (void)hs_layout_close(fd);
    if (rc != 1) return NULL;
    if (snprintf(p, sizeof(p), "%s/%s/%s", spool, hs_layout_dir_name(HS_DIR_ACTIVE), name) >=
        (int)sizeof(p))
        die("path too long");
    return slurp(p, &n);
}

static void sql(sqlite3 *db, const char *q)
{
    char *err = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "handler_bench: %s: %s\n", q, err ? err : "?");
        exit(1);
    }
}

static int cmd_fill(const char *spool, const char *tmplfile, long lines)
{
    size_t tlen;
    char *tmpl = slurp(tmplfile, &tlen), *body = malloc(tlen + 1);
    char host[HS_HOST_MAX + 1], tag[HS_TAG_LEN + 1], name[HS_SEG_NAME_MAX], path[8192];
    char last_name[HS_SEG_NAME_MAX] = "";
    char rid[TOKEN_LEN + 1], dbpath[4096], err[HS_CTX_ERR_MAX];
    hs_ctx *ctx = hs_ctx_new(NULL, 2);
    params ps = { { 0 }, 0 };
    const hs_config *cfg;
    hs_spool_opts opts;
    hs_spool *sp;
    hs_store *st;
    hs_buf line = HS_BUF_INIT;
    unsigned char hash[HS_STORE_KEY_LEN];
    sqlite3 *db;
    sqlite3_stmt *ins;
    FILE *seg = NULL;
    long long seg_size = 0, total = 0;
    uint64_t now_us, start, step, stamp = 0;
    long i, segments = 0;
    double t0 = mono();
    int fd;

    if (body == NULL || ctx == NULL || lines < 1) die("fill: bad arguments");
    post_params(&ps, spool, tlen, "unused", "never", NULL);
    cfg = hs_ctx_config(ctx, ps.p, time(NULL), err, sizeof(err));
    if (cfg == NULL) die(err);
    if (cfg->nkeep != 0 || cfg->dedup != HS_DEDUP_JSON) die("fill: expected Caliza's defaults");
    memset(&opts, 0, sizeof(opts));
    opts.rotate_bytes = ROTATE;
    opts.rotate_seconds = 60;
    opts.umask = 077;
    if (hs_spool_open(spool, &opts, 1, &sp) != 0) die("fill: cannot create the spool");
    hs_spool_close(sp);
    if (hs_store_open(spool, 077, 1, &st) != 0) die("fill: cannot create the store");
    hs_store_close(st);
    host_and_tag(spool, host, tag);

    snprintf(dbpath, sizeof(dbpath), "%s/%s", spool, HS_STORE_FILE);
    if (sqlite3_open(dbpath, &db) != SQLITE_OK) die("fill: sqlite3_open");
    sql(db, "PRAGMA cache_size=-524288; PRAGMA synchronous=OFF; BEGIN");
    if (sqlite3_prepare_v2(db, "INSERT INTO dedup(k, t) VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
        die("fill: prepare");

    /* LINES events over the last 6 days, oldest first. */
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    }
    start = now_us - 6ull * 86400 * 1000000u;
    step = (now_us - start - 60000000u) / (uint64_t)lines;
    if (step == 0) step = 1;
    for (i = 0; i < lines; i++) {
        stamp = start + (uint64_t)i * step;
        snprintf(rid, sizeof(rid), "f%023ld", i);
        with_rid(tmpl, tlen, rid, body);
        if (gen_line(cfg, body, tlen, stamp, tag, &line, hash) != 0) die("fill: gen_line");
        if (seg != NULL && seg_size + (long long)line.len > ROTATE) {
            if (fclose(seg) != 0) die("fill: write");
            seg = NULL;
        }
        if (seg == NULL) {
            hs_layout_name(stamp, host, HS_SEG_SUFFIX, name);
            if (snprintf(path, sizeof(path), "%s/%s/%s", spool, hs_layout_dir_name(HS_DIR_READY),
                         name) >= (int)sizeof(path))
                die("fill: path too long");
            if ((seg = fopen(path, "wx")) == NULL) die("fill: cannot create a segment");
            fchmod(fileno(seg), 0600);
            setvbuf(seg, NULL, _IOFBF, 1 << 20);
            memcpy(last_name, name, sizeof(name));
            seg_size = 0;
            segments++;
        }
        if (fwrite(line.p, 1, line.len, seg) != line.len) die("fill: write");
        seg_size += (long long)line.len;
        total += (long long)line.len;
        sqlite3_bind_blob(ins, 1, hash, HS_STORE_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)(stamp / 1000000u));
        if (sqlite3_step(ins) != SQLITE_DONE) die("fill: insert");
        sqlite3_reset(ins);
    }
    if (seg != NULL && fclose(seg) != 0) die("fill: write");
    sqlite3_finalize(ins);
    sql(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);

    /* The index cursor at the end of the last segment (indexed before it
     * was sealed), the last purge now, the lock file's last stamp. */
    if (hs_store_open(spool, 077, 0, &st) != 0) die("fill: cannot reopen the store");
    if (hs_store_begin(st) != 0 || hs_store_cursor_set(st, last_name, seg_size) != 0 ||
        hs_store_meta_set(st, "last_purge", (int64_t)(now_us / 1000000u)) != 0 ||
        hs_store_commit(st) != 0)
        die("fill: cannot set the cursor");
    /* The key filter of a store that came to hold these keys by appends
     * (keyfilter.h): built now, not by the first timed recording. */
    if (hs_store_begin(st) != 0 || hs_store_keyfilter_build(st) != 1 || hs_store_commit(st) != 0)
        die("fill: cannot build the key filter");
    printf("fill lines=%ld segments=%ld bytes=%lld keys=%lld seconds=%.1f\n", lines, segments,
           total, (long long)hs_store_key_count(st), mono() - t0);
    hs_store_close(st);
    snprintf(path, sizeof(path), "%s/" HS_LAYOUT_LOCK, spool);
    if ((fd = open(path, O_WRONLY)) < 0) die("fill: lock file");
    {
        unsigned char b[8];
        int k;
        for (k = 0; k < 8; k++) b[k] = (unsigned char)(stamp >> (8 * k));
        if (pwrite(fd, b, 8, 0) != 8) die("fill: lock file");
    }
    close(fd);

    /* Check 1: the handler's own line for an event equals ours. */
    {
        char scratch[4096], *hl, *sig;
        char stag[HS_TAG_LEN + 1], shost[HS_HOST_MAX + 1];
        hs_response resp;
        hs_buf mine = HS_BUF_INIT;
        size_t id_off = 7, ts_off = 7 + HS_ID_LEN + 17;
        snprintf(scratch, sizeof(scratch), "%s.check", spool);
        snprintf(rid, sizeof(rid), "c%023d", 1);
        with_rid(tmpl, tlen, rid, body);
        sig = sign(body, tlen);
        post_params(&ps, scratch, tlen, sig, "never", NULL);
        hs_response_init(&resp);
        if (run1(ctx, &ps, body, tlen, &resp) != 200) die("fill check: scratch post not 200");
        hl = active_line(scratch);
        cfg = hs_ctx_config(ctx, ps.p, time(NULL), err, sizeof(err));
        host_and_tag(scratch, shost, stag);
        if (hl == NULL || cfg == NULL || gen_line(cfg, body, tlen, 0, stag, &mine, hash) != 0)
            die("fill check: no line");
        if (strlen(hl) != mine.len || memcmp(hl, mine.p, id_off) != 0 ||
            memcmp(hl + id_off + 24, mine.p + id_off + 24, 12) != 0 ||       /* the tag */
            memcmp(hl + id_off + HS_ID_LEN, mine.p + id_off + HS_ID_LEN, ts_off - id_off - HS_ID_LEN) != 0 ||
            memcmp(hl + ts_off + HS_TS_LEN, mine.p + ts_off + HS_TS_LEN, mine.len - ts_off - HS_TS_LEN) != 0) {
            fprintf(stderr, "handler:   %s\ngenerated: %s", hl, mine.p);
            die("fill check: generated lines differ from the handler's");
        }
        free(hl);
        free(sig);
        hs_buf_free(&mine);

        /* Check 2: an event of the fill is a duplicate now. */
        snprintf(rid, sizeof(rid), "f%023ld", lines / 2);
        with_rid(tmpl, tlen, rid, body);
        sig = sign(body, tlen);
        post_params(&ps, spool, tlen, sig, "never", NULL);
        if (run1(ctx, &ps, body, tlen, &resp) != 200 || resp.body.p == NULL ||
            strstr(resp.body.p, "\"duplicate\":true") == NULL)
            die("fill check: an event of the fill was not taken for a duplicate");
        printf("fill check: generated line == handler's line; filled key seen as duplicate\n");
        free(sig);
        hs_response_free(&resp);
        snprintf(path, sizeof(path), "rm -rf '%s'", scratch);
        if (system(path) != 0) die("cannot remove the scratch spool");
    }
    hs_buf_free(&line);
    pfree(&ps);
    hs_ctx_free(ctx);
    free(body);
    free(tmpl);
    return 0;
}

/* ------------------------------------------------------------- appends */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_append(const char *spool, const char *tmplfile, long n, const char *prefix)
{
    size_t tlen;
    char *tmpl = slurp(tmplfile, &tlen);
    const char *fsync = getenv("BENCH_FSYNC") ? getenv("BENCH_FSYNC") : "never";
    const char *dedup = getenv("BENCH_DEDUP");   /* NULL: the scheme's default */
    long total = n + WARMUP, i, bad = 0, dup = 0;
    char **bodies = calloc((size_t)total, sizeof(char *)), **sigs = calloc((size_t)total, sizeof(char *));
    double *lat = calloc((size_t)n, sizeof(double)), sum = 0, c0 = 0, c1, w0 = 0, w1;
    hs_ctx *ctx = hs_ctx_new(NULL, 2);
    params ps = { { 0 }, 0 };
    hs_response resp;
    char rid[TOKEN_LEN + 1];

    if (bodies == NULL || sigs == NULL || lat == NULL || ctx == NULL || strlen(prefix) > 8)
        die("append: bad arguments");
    for (i = 0; i < total; i++) {
        bodies[i] = malloc(tlen + 1);
        snprintf(rid, sizeof(rid), "%s%0*ld", prefix, (int)(TOKEN_LEN - strlen(prefix)), i);
        with_rid(tmpl, tlen, rid, bodies[i]);
        sigs[i] = sign(bodies[i], tlen);
    }
    hs_response_init(&resp);
    for (i = 0; i < total; i++) {
        double t;
        int st;
        if (i == WARMUP) { c0 = cpu_s(); w0 = mono(); }
        post_params(&ps, spool, tlen, sigs[i], fsync, dedup);
        t = mono();
        st = run1(ctx, &ps, bodies[i], tlen, &resp);
        t = mono() - t;
        if (st != 200) bad++;
        else if (resp.body.p && strstr(resp.body.p, "\"duplicate\":true")) dup++;
        if (i >= WARMUP) { lat[i - WARMUP] = t; sum += t; }
    }
    c1 = cpu_s();
    w1 = mono();
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("append n=%ld us_mean=%.2f us_p50=%.2f us_p99=%.2f us_max=%.1f cpu_us=%.2f "
           "wall_s=%.3f non200=%ld duplicates=%ld\n", n, sum / (double)n * 1e6,
           lat[n / 2] * 1e6, lat[(n * 99) / 100] * 1e6, lat[n - 1] * 1e6,
           (c1 - c0) / (double)n * 1e6, w1 - w0, bad, dup);
    hs_response_free(&resp);
    pfree(&ps);
    hs_ctx_free(ctx);
    for (i = 0; i < total; i++) { free(bodies[i]); free(sigs[i]); }
    free(bodies);
    free(sigs);
    free(lat);
    free(tmpl);
    return bad || dup ? 1 : 0;
}

int main(int argc, char **argv)
{
    secret = getenv("HOOKSPOOL_SECRET") ? getenv("HOOKSPOOL_SECRET") : DEMO_SECRET;
    if (argc == 5 && strcmp(argv[1], "throughput") == 0)
        return cmd_throughput(argv[2], argv[3], atof(argv[4]));
    if (argc == 5 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argv[2], argv[3], atol(argv[4]));
    if (argc == 6 && strcmp(argv[1], "append") == 0)
        return cmd_append(argv[2], argv[3], atol(argv[4]), argv[5]);
    fprintf(stderr, "usage: handler_bench throughput SPOOL BODY SECONDS\n"
                    "       handler_bench fill SPOOL TEMPLATE LINES\n"
                    "       handler_bench append SPOOL TEMPLATE N PREFIX\n");
    return 2;
}
