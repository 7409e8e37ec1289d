/* The whole request path from memory: hs_handle with a real spool. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "dedup.h"
#include "recorder.h"
#include "handler.h"
#include "version.h"
#include "sign.h"
#include "counters.h"
#include "t.h"

#define SECRET "AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro="
#define MAXP 32

static char root[] = "/tmp/hs-test-handler-XXXXXX";
static char logpath[300];
static int logfd;
static hs_ctx *ctx;
/* Each request is a second apart unless a test freezes the clock, so the
 * log limiter (10 lines a second) keeps every line the tests look for. */
static time_t clock_now;
static int clock_frozen;

typedef struct {
    char *p[MAXP];
    int   n;
} params;

static void padd(params *ps, const char *fmt, const char *a, const char *b)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), fmt, a, b);
    ps->p[ps->n++] = strdup(buf);
    ps->p[ps->n] = NULL;
}

static void pfree(params *ps)
{
    int i;
    for (i = 0; i < ps->n; i++) free(ps->p[i]);
    ps->n = 0;
}

/* Turn "Name: value\n" lines into HTTP_NAME=value parameters. */
static void add_headers(params *ps, const char *lines)
{
    while (*lines) {
        const char *nl = strchr(lines, '\n'), *colon = strchr(lines, ':');
        char name[128], val[2048];
        size_t i, nlen = (size_t)(colon - lines), vlen;
        for (i = 0; i < nlen; i++)
            name[i] = lines[i] == '-' ? '_' : (char)(lines[i] >= 'a' && lines[i] <= 'z' ? lines[i] - 32 : lines[i]);
        name[nlen] = 0;
        colon++;
        while (*colon == ' ') colon++;
        vlen = (size_t)(nl - colon);
        memcpy(val, colon, vlen);
        val[vlen] = 0;
        padd(ps, "HTTP_%s=%s", name, val);
        lines = nl + 1;
    }
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
    if (fread(p, 1, (size_t)n, f) != (size_t)n) n = 0;
    p[n] = 0;
    *len = (size_t)n;
    fclose(f);
    return p;
}

/* Run one request; returns the status. resp is left for inspection. */
static int run(params *ps, const char *body, size_t blen, int over, hs_response *resp)
{
    hs_request req;
    char err[HS_CTX_ERR_MAX] = "";
    const hs_config *cfg;
    if (!clock_frozen) clock_now++;
    cfg = hs_ctx_config(ctx, ps->p, clock_now, err, sizeof(err));
    memset(&req, 0, sizeof(req));
    req.params = ps->p;
    req.body = (const unsigned char *)body;
    req.body_len = blen;
    req.body_over = over;
    req.now = clock_now;
    hs_response_free(resp);
    hs_response_init(resp);
    hs_handle(ctx, cfg, err, &req, resp);
    return resp->status;
}

static void base(params *ps, const char *method, const char *spool)
{
    pfree(ps);
    padd(ps, "REQUEST_METHOD=%s%s", method, "");
    padd(ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(ps, "HOOKSPOOL_SECRET=%s%s", SECRET, "");
    padd(ps, "REMOTE_ADDR=%s%s", "127.0.0.1", "");
}

static void sign_into(params *ps, const char *scheme, const char *secret, const char *body, size_t len)
{
    hs_scheme sc;
    hs_secret *s = calloc(1, sizeof(*s));
    hs_buf out = HS_BUF_INIT;
    hs_scheme_parse(scheme, strlen(scheme), &sc);
    hs_secret_decode(&sc, secret, strlen(secret), "T", s);
    hs_sign_headers(&sc, s, (const unsigned char *)body, len, time(NULL), NULL, &out);
    add_headers(ps, out.p);
    hs_buf_free(&out);
    free(s);
}

static int has(const hs_buf *b, const char *s) { return b->p && strstr(b->p, s) != NULL; }

static char *log_text(void)
{
    size_t n;
    return slurp(logpath, &n);
}

static void test_post_ok(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], *body, *seg_text = NULL;
    size_t blen;
    FILE *ls;
    char cmd[600], segpath[600];

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/spool", root);
    body = slurp("tests/data/caliza/TRANSACTION_COMPLETED.json", &blen);
    CHECK(body != NULL && blen > 100);
    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", SECRET, body, blen);
    CHECK(run(&ps, body, blen, 0, &r) == 200);
    CHECK(has(&r.body, "{\"ok\":true,\"id\":\"") && strcmp(r.content_type, "application/json") == 0);
    snprintf(cmd, sizeof(cmd), "ls %s/active/*.jsonl", spool);
    ls = popen(cmd, "r");
    if (ls && fgets(segpath, sizeof(segpath), ls)) {
        size_t n;
        segpath[strcspn(segpath, "\n")] = 0;
        seg_text = slurp(segpath, &n);
    }
    if (ls) pclose(ls);
    CHECK(seg_text != NULL);
    if (seg_text) {
        CHECK(strstr(seg_text, "\"endpoint\":\"caliza\",\"key\":[\"TRANSACTION_COMPLETED\","
                               "\"632a208b806bd70097197367\"],\"headers\":{},\"event\":"
                               "{\"operation\":\"TRANSACTION_COMPLETED\",") != NULL);
        CHECK(strstr(seg_text, "\"from\":{\"currencyCode\":\"BRL\",\"value\":500.00}") != NULL);
        CHECK(strstr(seg_text, "\"totalFees\":{\"currencyCode\":\"BRL\",\"value\":14.80}") != NULL);
        CHECK(strchr(seg_text, '\n') == seg_text + strlen(seg_text) - 1);
        /* the answered id is the line's id */
        CHECK(strncmp(seg_text + 7, r.body.p + 17, HS_ID_LEN) == 0);
        free(seg_text);
    }
    /* no secret, MAC or path in the answer */
    CHECK(!has(&r.body, SECRET) && !has(&r.body, root));
    free(body);
    pfree(&ps);
    hs_response_free(&r);
}

static void test_rejections(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], *lt;
    const char *body = "{\"operation\":\"X\",\"resourceId\":\"1\"}";
    const char *bad = "{\"a\":1,}";
    int i;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/rej", root);

    base(&ps, "POST", spool);
    CHECK(run(&ps, body, strlen(body), 0, &r) == 401 && has(&r.body, "missing_signature"));

    base(&ps, "POST", spool);
    padd(&ps, "HTTP_X_CALIZA_WEBHOOK_SIGNATURE=%s%s", "AAAA", "");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 401 &&
          strcmp(r.body.p, "{\"ok\":false,\"error\":\"bad_signature\"}\n") == 0);

    /* authenticated before parsing: a bad body with a bad signature is 401 */
    CHECK(run(&ps, bad, strlen(bad), 0, &r) == 401);

    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", SECRET, bad, strlen(bad));
    CHECK(run(&ps, bad, strlen(bad), 0, &r) == 400 && has(&r.body, "bad_json"));

    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", SECRET, "", 0);
    CHECK(run(&ps, "", 0, 0, &r) == 400);

    base(&ps, "POST", spool);
    CHECK(run(&ps, body, strlen(body), 1, &r) == 413 && has(&r.body, "too_large"));
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_MAX_BODY=%s%s", "10", "");
    sign_into(&ps, "caliza", SECRET, body, strlen(body));
    CHECK(run(&ps, body, strlen(body), 0, &r) == 413);

    base(&ps, "PUT", spool);
    CHECK(run(&ps, body, strlen(body), 0, &r) == 405 && has(&r.head, "Allow: POST, GET, HEAD\r\n"));
    base(&ps, "DELETE", spool);
    CHECK(run(&ps, NULL, 0, 0, &r) == 405);

    /* the hint: signed with the secret Base64-decoded, configured literal */
    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", "base64:" SECRET, body, strlen(body));
    CHECK(run(&ps, body, strlen(body), 0, &r) == 401);

    /* configuration errors: 500, logged with the setting's name */
    pfree(&ps);
    padd(&ps, "REQUEST_METHOD=%s%s", "POST", "");
    padd(&ps, "HOOKSPOOL_SECRET=%s%s", "x", "");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 500 && has(&r.body, "config_error"));
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "sha999", "");
    /* (params first-match: the scheme is looked up by name; add it before) */
    pfree(&ps);
    padd(&ps, "REQUEST_METHOD=%s%s", "GET", "");
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "sha999", "");
    padd(&ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(&ps, "HOOKSPOOL_SECRET=%s%s", "x", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 500);

    /* an unusable spool: 503 with Retry-After, no path in the answer */
    {
        char file[400], sp2[500];
        snprintf(file, sizeof(file), "%s/plainfile", root);
        close(open(file, O_CREAT | O_WRONLY, 0600));
        snprintf(sp2, sizeof(sp2), "%s/sub", file);
        base(&ps, "POST", sp2);
        sign_into(&ps, "caliza", SECRET, body, strlen(body));
        CHECK(run(&ps, body, strlen(body), 0, &r) == 503 && has(&r.head, "Retry-After: ") &&
              has(&r.body, "spool_unavailable") && !has(&r.body, root));
    }

    lt = log_text();
    CHECK(lt && strstr(lt, "reason=missing_signature") && strstr(lt, "reason=bad_signature"));
    CHECK(lt && strstr(lt, "reason=bad_json") && strstr(lt, "reason=too_large"));
    CHECK(lt && strstr(lt, "base64:"));           /* the hint */
    CHECK(lt && strstr(lt, "HOOKSPOOL_SPOOL"));   /* the setting at fault */
    CHECK(lt && strstr(lt, "HOOKSPOOL_SCHEME"));
    CHECK(lt && !strstr(lt, SECRET));
    free(lt);

    /* rate limit: a flood in one second logs at most 10 lines, then a sum */
    {
        int before = 0, after = 0;
        char *p;
        lt = log_text();
        for (p = lt; p && (p = strchr(p, '\n')); p++) before++;
        free(lt);
        base(&ps, "PUT", spool);
        clock_now++;
        clock_frozen = 1;
        for (i = 0; i < 50; i++) run(&ps, NULL, 0, 0, &r);
        clock_frozen = 0;
        lt = log_text();
        for (p = lt; p && (p = strchr(p, '\n')); p++) after++;
        free(lt);
        CHECK_MSG(after - before == HS_LOG_PER_SECOND, "%d lines", after - before);
        run(&ps, NULL, 0, 0, &r);   /* the next second: the sum, then the line */
        lt = log_text();
        CHECK(lt && strstr(lt, "40 more log lines suppressed"));
        free(lt);
    }
    pfree(&ps);
    hs_response_free(&r);
}

static void test_status_and_headers(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400];
    struct stat st;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/st", root);
    /* No HOOKSPOOL_STATUS_TOKEN: only "status" and "reasons", and no
     * Prometheus at all (SPEC 5). */
    base(&ps, "GET", spool);
    CHECK(run(&ps, NULL, 0, 0, &r) == 200 &&
          r.body.len == strlen("{\"status\":\"ok\",\"reasons\":[]}\n") &&
          has(&r.body, "{\"status\":\"ok\",\"reasons\":[]}\n"));
    CHECK(!has(&r.body, "caliza") && !has(&r.body, "counters"));
    CHECK(stat(spool, &st) != 0);   /* the status creates nothing */
    base(&ps, "HEAD", spool);
    CHECK(run(&ps, NULL, 0, 0, &r) == 200 && r.body.len == 0);
    base(&ps, "GET", spool);
    padd(&ps, "QUERY_STRING=%s%s", "format=prometheus", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 401 && has(&r.head, "WWW-Authenticate: Bearer\r\n") &&
          !has(&r.body, "hookspool_"));
    /* With the token: the whole document. */
    base(&ps, "GET", spool);
    padd(&ps, "HOOKSPOOL_STATUS_TOKEN=%s%s", "s3cret-token", "");
    padd(&ps, "HTTP_AUTHORIZATION=%s%s", "Bearer s3cret-token", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 200 && has(&r.body, "\"status\":\"ok\",\"reasons\":[],"
          "\"version\":\"" HS_VERSION "\",\"endpoint\":\"caliza\",\"scheme\":\"caliza\""));
    CHECK(stat(spool, &st) != 0);
    padd(&ps, "QUERY_STRING=%s%s", "format=prometheus", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 200 && has(&r.body, "hookspool_accepted_total"));

    base(&ps, "GET", spool);
    padd(&ps, "HOOKSPOOL_STATUS_TOKEN=%s%s", "s3cret-token", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 401 && has(&r.head, "WWW-Authenticate: Bearer\r\n"));
    padd(&ps, "HTTP_AUTHORIZATION=%s%s", "Bearer wrong", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 401 && !has(&r.body, "s3cret"));
    base(&ps, "GET", spool);
    padd(&ps, "HOOKSPOOL_STATUS_TOKEN=%s%s", "s3cret-token", "");
    padd(&ps, "HTTP_AUTHORIZATION=%s%s", "Bearer s3cret-token", "");
    CHECK(run(&ps, NULL, 0, 0, &r) == 200);

    /* github keeps its headers, escaped as JSON */
    {
        const char *body = "{\"zen\":\"Keep it simple\"}";
        char *seg = NULL, cmd[600], path[600];
        FILE *ls;
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "github", "");
        padd(&ps, "HTTP_X_GITHUB_EVENT=%s%s", "ping\"\x01", "");
        padd(&ps, "HTTP_X_GITHUB_DELIVERY=%s%s", "72d3162e", "");
        sign_into(&ps, "github", SECRET, body, strlen(body));
        CHECK(run(&ps, body, strlen(body), 0, &r) == 200);
        snprintf(cmd, sizeof(cmd), "ls %s/active/*.jsonl", spool);
        ls = popen(cmd, "r");
        if (ls && fgets(path, sizeof(path), ls)) {
            size_t n;
            path[strcspn(path, "\n")] = 0;
            seg = slurp(path, &n);
        }
        if (ls) pclose(ls);
        CHECK(seg && strstr(seg, "\"endpoint\":\"github\",\"key\":[\"72d3162e\"],"
                                 "\"headers\":{\"X-GitHub-Event\":"
                                 "\"ping\\\"\\u0001\",\"X-GitHub-Delivery\":\"72d3162e\"},"
                                 "\"event\":{\"zen\":\"Keep it simple\"}}\n"));
        free(seg);
    }
    /* A refused status request is counted as `unauthorized` (issue 13,
     * item 8: the counter never counted), in a spool that exists; where
     * there is none, it creates nothing. */
    {
        hs_counters_snap snap;
        char none[450];
        const char *auth[] = { NULL, "Bearer wrong", "Basic czNjcmV0LXRva2Vu" };
        int i;
        for (i = 0; i < 3; i++) {
            base(&ps, i == 2 ? "HEAD" : "GET", spool);
            padd(&ps, "HOOKSPOOL_STATUS_TOKEN=%s%s", "s3cret-token", "");
            if (auth[i]) padd(&ps, "HTTP_AUTHORIZATION=%s%s", auth[i], "");
            CHECK(run(&ps, NULL, 0, 0, &r) == 401);
        }
        CHECK(hs_counters_read(spool, &snap) == 0);
        CHECK_MSG(snap.rejected[HS_R_UNAUTHORIZED] == 3, "unauthorized=%llu",
                  (unsigned long long)snap.rejected[HS_R_UNAUTHORIZED]);
        snprintf(none, sizeof(none), "%s-none", spool);
        base(&ps, "GET", none);
        padd(&ps, "HOOKSPOOL_STATUS_TOKEN=%s%s", "s3cret-token", "");
        CHECK(run(&ps, NULL, 0, 0, &r) == 401 && stat(none, &st) != 0);
    }
    pfree(&ps);
    hs_response_free(&r);
}

/* Count the lines of every segment under spool/active and spool/ready. */
static int spool_lines(const char *spool, const char *needle)
{
    char cmd[700];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof(cmd), "cat %s/active/*.jsonl %s/ready/*.jsonl 2>/dev/null | grep -c -F -- '%s'",
             spool, spool, needle);
    p = popen(cmd, "r");
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* received_at as a writer appending now would stamp it (a killed
 * writer's line is recent: an old stamp is an expired key). */
static const char *ts_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return out;
}

static void test_dedup(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400];
    const char *b1 = "{\"operation\":\"TRANSACTION_COMPLETED\",\"resourceId\":\"r-1\",\"n\":1}";
    const char *b2 = "{\"operation\":\"TRANSACTION_COMPLETED\",\"resourceId\":\"r-1\",\"n\":2}";
    const char *b3 = "{\"operation\":\"TRANSACTION_FAILED\",\"resourceId\":\"r-1\"}";
    const char *b4 = "{\"nothing\":true}";
    const char *b5 = "{\"operation\":\"X\"}";

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/dedup", root);
#define POST(body) (base(&ps, "POST", spool), sign_into(&ps, "caliza", SECRET, body, strlen(body)), \
                    run(&ps, body, strlen(body), 0, &r))
    CHECK(POST(b1) == 200 && has(&r.body, "\"id\":"));
    /* same operation + resourceId: a duplicate, nothing appended */
    CHECK(POST(b2) == 200 && strcmp(r.body.p, "{\"ok\":true,\"duplicate\":true}\n") == 0);
    CHECK(spool_lines(spool, "\"resourceId\":\"r-1\",\"n\"") == 1);
    CHECK(POST(b3) == 200 && has(&r.body, "\"id\":"));
    /* every value missing: no key, not deduplicated */
    CHECK(POST(b4) == 200 && POST(b4) == 200);
    CHECK(spool_lines(spool, "{\"nothing\":true}") == 2);
    CHECK(spool_lines(spool, "\"key\":[null,null]") == 0);
    /* explicit nulls identify nothing: not deduplicated either */
    {
        const char *bn = "{\"operation\":null,\"resourceId\":null,\"n\":\"nulls\"}";
        CHECK(POST(bn) == 200 && POST(bn) == 200 && spool_lines(spool, "\"nulls\"") == 2);
        CHECK(spool_lines(spool, "\"key\":[null,null]") == 0);
    }
    /* one missing: null in the key */
    CHECK(POST(b5) == 200 && spool_lines(spool, "\"key\":[\"X\",null]") == 1);
    CHECK(POST(b5) == 200 && has(&r.body, "duplicate"));

    /* a killed writer: its line is on disk but its key never recorded;
     * the next writer indexes it before deciding */
    {
        char cmd[800], ts[32];
        const char *b6 = "{\"operation\":\"K\",\"resourceId\":\"killed\"}";
        snprintf(cmd, sizeof(cmd),
                 "f=$(ls %s/active/*.jsonl) && printf '%%s\\n' "
                 "'{\"id\":\"20261122T100000.000000Z-000000000000\",\"received_at\":\"%s\","
                 "\"endpoint\":\"caliza\",\"key\":[\"K\",\"killed\"],\"headers\":{},\"event\":{}}' >> $f",
                 spool, ts_now(ts));
        CHECK(system(cmd) == 0);
        CHECK(POST(b6) == 200 && has(&r.body, "duplicate"));
        CHECK(spool_lines(spool, "\"killed\"") == 1);
    }
    /* dedup off: the same body twice is two lines */
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_DEDUP=%s%s", "off", "");
    sign_into(&ps, "caliza", SECRET, b1, strlen(b1));
    CHECK(run(&ps, b1, strlen(b1), 0, &r) == 200 && run(&ps, b1, strlen(b1), 0, &r) == 200);
    CHECK(spool_lines(spool, "\"resourceId\":\"r-1\",\"n\":1") == 3);
    /* forgotten after HOOKSPOOL_DEDUP_SECONDS */
    {
        const char *b7 = "{\"operation\":\"T\",\"resourceId\":\"ttl\"}";
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_DEDUP_SECONDS=%s%s", "5", "");
        sign_into(&ps, "caliza", SECRET, b7, strlen(b7));
        CHECK(run(&ps, b7, strlen(b7), 0, &r) == 200 && has(&r.body, "\"id\""));
        CHECK(run(&ps, b7, strlen(b7), 0, &r) == 200 && has(&r.body, "duplicate"));
        clock_now += 10;
        CHECK(run(&ps, b7, strlen(b7), 0, &r) == 200 && has(&r.body, "\"id\""));
        CHECK(spool_lines(spool, "\"ttl\"") == 2);
    }
    /* header keys: github's delivery id */
    {
        const char *g = "{\"zen\":\"x\"}";
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "github", "");
        padd(&ps, "HTTP_X_GITHUB_DELIVERY=%s%s", "d-1", "");
        sign_into(&ps, "github", SECRET, g, strlen(g));
        CHECK(run(&ps, g, strlen(g), 0, &r) == 200 && has(&r.body, "\"id\""));
        CHECK(run(&ps, g, strlen(g), 0, &r) == 200 && has(&r.body, "duplicate"));
    }
#undef POST
    {
        /* counted in the spool's shared counters */
        hs_counters_snap snap;
        CHECK(hs_counters_read(spool, &snap) == 0);
        CHECK_MSG(snap.accepted == 12 && snap.duplicate == 5, "%llu %llu",
                  (unsigned long long)snap.accepted, (unsigned long long)snap.duplicate);
        CHECK(snap.last_accepted_ms > 0);
    }
    {
        hs_counters_snap snap;
        char rej[400];
        snprintf(rej, sizeof(rej), "%s/rej", root);
        CHECK(hs_counters_read(rej, &snap) == 0);
        CHECK(snap.rejected[HS_R_BAD_SIGNATURE] >= 3 && snap.rejected[HS_R_MISSING_SIGNATURE] == 1);
        CHECK(snap.rejected[HS_R_BAD_JSON] == 2 && snap.rejected[HS_R_TOO_LARGE] == 2);
        CHECK(snap.rejected[HS_R_BAD_METHOD] >= 2 && snap.accepted == 0);
    }
    pfree(&ps);
    hs_response_free(&r);
}


/* Issue 13 item 1: a writer stopped between its append and recording its
 * key (its line is on disk, its key not in state.db), then an event
 * WITHOUT a key appends and seals that segment (a keyless event on the
 * same endpoint, or an endpoint with dedup off sharing the spool). The
 * keyless append must index the stopped writer's line before it seals,
 * so the sender's retry of the first event is a duplicate. */
static void stop_writer_after_append(const char *spool, const char *rid)
{
    char cmd[900], ts[32];
    snprintf(cmd, sizeof(cmd),
             "f=$(ls %s/active/*.jsonl) && printf '%%s\\n' "
             "'{\"id\":\"20261122T100000.000000Z-000000000000\",\"received_at\":\"%s\","
             "\"endpoint\":\"caliza\",\"key\":[\"STOPPED\",\"%s\"],\"headers\":{},\"event\":{}}' >> $f",
             spool, ts_now(ts), rid);
    CHECK(system(cmd) == 0);
}

static void test_keyless_catches_up(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], body[200], ready[500], needle[100];
    int round;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/keyless", root);
    for (round = 0; round < 2; round++) {
        const char *rid = round == 0 ? "keyless-same-endpoint" : "keyless-dedup-off";
        const char *k = "{\"first\":\"a keyed event starts a segment\",\"operation\":\"S\",\"resourceId\":\"%s-%d\"}";
        snprintf(needle, sizeof(needle), "\"key\":[\"STOPPED\",\"%s\"]", rid);
        const char *nokey = "{\"padding\":\"......................................................"
                            "........................................................................"
                            "......................................................................\"}";
        /* a keyed event: the store exists and a segment is active */
        snprintf(body, sizeof(body), k, rid, round);
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_ROTATE_BYTES=%s%s", "700", "");
        sign_into(&ps, "caliza", SECRET, body, strlen(body));
        CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"id\""));
        stop_writer_after_append(spool, rid);
        /* the keyless event: its line would pass 700 bytes, so its append
         * seals the segment holding the stopped writer's line first */
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_ROTATE_BYTES=%s%s", "700", "");
        if (round == 1) padd(&ps, "HOOKSPOOL_DEDUP=%s%s", "off", "");
        sign_into(&ps, "caliza", SECRET, nokey, strlen(nokey));
        CHECK(run(&ps, nokey, strlen(nokey), 0, &r) == 200 && has(&r.body, "\"id\""));
        CHECK_MSG(spool_lines(spool, needle) == 1, "%s: %d lines", rid, spool_lines(spool, needle));
        /* ... and it did seal it: the stopped writer's line is in ready/ */
        snprintf(ready, sizeof(ready), "cat %s/ready/*.jsonl | grep -q -F -- '%s'", spool, needle);
        CHECK_MSG(system(ready) == 0, "%s: not sealed", rid);
        /* the retry of the stopped writer's event */
        snprintf(body, sizeof(body), "{\"operation\":\"STOPPED\",\"resourceId\":\"%s\"}", rid);
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_ROTATE_BYTES=%s%s", "700", "");
        sign_into(&ps, "caliza", SECRET, body, strlen(body));
        CHECK_MSG(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "duplicate"),
                  "%s: %s", rid, r.body.p ? r.body.p : "");
        CHECK_MSG(spool_lines(spool, needle) == 1, "%s: %d lines", rid, spool_lines(spool, needle));
    }
    pfree(&ps);
    hs_response_free(&r);
}

/* Header keys are lossless: different bytes never make one key, even
 * when they are not UTF-8 (issue 13, item 2: \xe9 and \xe8 were both
 * turned into \ufffd and the second event answered as a duplicate). */
static void test_header_key_lossless(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400];

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/hdrkey", root);
    {
        static const char *const ids[] = {
            "evt-\xe9", "evt-\xe8", "evt-\xef\xbf\xbd" /* a real U+FFFD */,
            "evt-\\ufffd" /* the escape's text */, "evt-\xc3\xa9" /* U+00E9 */,
            "evt-\\u00e9", "evt-\xe9\xe9", "evt-",
        };
        const char *g = "{\"zen\":\"lossless\"}";
        size_t i, round;
        /* each a new event, then the same bytes again each a duplicate */
        for (round = 0; round < 2; round++)
            for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                base(&ps, "POST", spool);
                padd(&ps, "HOOKSPOOL_DEDUP=%s%s", "header:X-Request-Id", "");
                padd(&ps, "HTTP_X_REQUEST_ID=%s%s", ids[i], "");
                sign_into(&ps, "caliza", SECRET, g, strlen(g));
                CHECK_MSG(run(&ps, g, strlen(g), 0, &r) == 200 &&
                          has(&r.body, round == 0 ? "\"id\"" : "duplicate"),
                          "round %zu, id %zu: %s", round, i, r.body.p);
            }
        CHECK(spool_lines(spool, "\"zen\":\"lossless\"") == (int)(sizeof(ids) / sizeof(ids[0])));
        /* valid UTF-8 stays a string; other bytes are spelled in hex */
        CHECK(spool_lines(spool, "\"key\":[{\"hex\":\"6576742de9\"}]") == 1);
        CHECK(spool_lines(spool, "\"key\":[{\"hex\":\"6576742de8\"}]") == 1);
        CHECK(spool_lines(spool, "\"key\":[\"evt-\xc3\xa9\"]") == 1);
        CHECK(spool_lines(spool, "\"key\":[\"evt-\\\\ufffd\"]") == 1);
    }
    pfree(&ps);
    hs_response_free(&r);
}

static void test_invalid_kept(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], cmd[600];
    const char *bad = "{\"amount\": 500.00,}";
    int i;
    FILE *p;
    long total = -1;
    int files = -1;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/inv", root);
    for (i = 0; i < 5; i++) {
        base(&ps, "POST", spool);
        padd(&ps, "HOOKSPOOL_INVALID_KEEP=%s%s", "60", "");
        sign_into(&ps, "caliza", SECRET, bad, strlen(bad));
        CHECK(run(&ps, bad, strlen(bad), 0, &r) == 400);
    }
    /* 19 bytes each, 60 kept at most: the newest three */
    snprintf(cmd, sizeof(cmd), "ls %s/invalid | wc -l; cat %s/invalid/* | wc -c", spool, spool);
    p = popen(cmd, "r");
    if (p && fscanf(p, "%d %ld", &files, &total) != 2) files = -1;
    if (p) pclose(p);
    CHECK_MSG(files == 3 && total == 57, "%d files, %ld bytes", files, total);
    snprintf(cmd, sizeof(cmd), "cat %s/invalid/* | head -c 19 | grep -q -F -- '%s'", spool, bad);
    CHECK(system(cmd) == 0);   /* kept as sent */
    /* an unsigned invalid body is not kept */
    base(&ps, "POST", spool);
    padd(&ps, "HTTP_X_CALIZA_WEBHOOK_SIGNATURE=%s%s", "AAAA", "");
    CHECK(run(&ps, bad, strlen(bad), 0, &r) == 401);
    /* HOOKSPOOL_INVALID_KEEP=0 keeps none */
    snprintf(spool, sizeof(spool), "%s/inv0", root);
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_INVALID_KEEP=%s%s", "0", "");
    sign_into(&ps, "caliza", SECRET, bad, strlen(bad));
    CHECK(run(&ps, bad, strlen(bad), 0, &r) == 400);
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls %s/invalid 2>/dev/null)\"", spool);
    CHECK(system(cmd) == 0);
    pfree(&ps);
    hs_response_free(&r);
}

static void test_docroot_warning(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], *lt;
    int i, n = 0;
    const char *p;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/www", root);
    mkdir(spool, 0755);
    snprintf(spool, sizeof(spool), "%s/www/spool", root);
    for (i = 0; i < 3; i++) {
        base(&ps, "GET", spool);
        padd(&ps, "DOCUMENT_ROOT=%s/%s", root, "www");
        padd(&ps, "HOOKSPOOL_MIN_FREE=%s%s", "1", "");
        run(&ps, NULL, 0, 0, &r);
    }
    lt = log_text();
    for (p = lt; p && (p = strstr(p, "lies inside DOCUMENT_ROOT")); p++) n++;
    CHECK_MSG(n == 1, "%d warnings", n);   /* once, not per request */
    free(lt);
    pfree(&ps);
    hs_response_free(&r);
}

/* A kept header whose name is as long as the configuration allows
 * (HS_CONF_MAX_ITEM bytes) is still found and copied into the line; the
 * lookup buffer once held only 127 bytes of name and dropped it. */
static void test_keep_longest_header(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], name[HS_CONF_MAX_ITEM + 1], var[HS_CONF_MAX_ITEM + 8], cmd[600];
    static const char body[] = "{\"a\":1}";
    char line[2048] = "";
    FILE *p;

    memset(name, 'x', HS_CONF_MAX_ITEM);
    name[HS_CONF_MAX_ITEM] = 0;
    memcpy(var, "HTTP_", 5);
    memset(var + 5, 'X', HS_CONF_MAX_ITEM);
    var[5 + HS_CONF_MAX_ITEM] = 0;
    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/spool-keep", root);
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "github", "");
    padd(&ps, "HOOKSPOOL_DEDUP=%s%s", "off", "");
    padd(&ps, "HOOKSPOOL_KEEP_HEADERS=%s%s", name, "");
    padd(&ps, "%s=%s", var, "kept-value");
    sign_into(&ps, "github", SECRET, body, sizeof(body) - 1);
    CHECK(run(&ps, body, sizeof(body) - 1, 0, &r) == 200);
    snprintf(cmd, sizeof(cmd), "cat %s/active/*.jsonl", spool);
    p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof(line), p)) line[0] = 0;
        pclose(p);
    }
    snprintf(cmd, sizeof(cmd), "\"%s\":\"kept-value\"", name);
    CHECK_MSG(strstr(line, cmd) != NULL, "line: %s", line);
    pfree(&ps);
    hs_response_free(&r);
}


/* The spec's two example payments (../shared/seeds/pix-bacen.md). */
#define PIX1 "{\"endToEndId\":\"E12345678202009091221kkkkkkkkkkk\",\"txid\":\"c3e0e7a4e7f1469a9f782d3d4999343c\",\"valor\":\"110.00\",\"horario\":\"2020-09-09T20:15:00.358Z\",\"infoPagador\":\"0123456789\",\"devolucoes\":{\"id\":\"123ABC\",\"rtrId\":\"D12345678202009091221abcdf098765\",\"valor\":\"10.00\",\"horario\":{\"solicitacao\":\"2020-09-09T20:15:00.358Z\"},\"status\":\"%s\"}}"
#define PIX2 "{\"endToEndId\":\"E87654321202009091221dfghi123456\",\"txid\":\"971122d8f37211eaadc10242ac120002\",\"valor\":\"110.00\",\"horario\":\"2020-09-09T20:15:00.358Z\",\"infoPagador\":\"0123456789\"}"

/* A PIX endpoint's parameters: the preset, an address list. */
static void pix_base(params *ps, const char *spool, const char *path_info)
{
    pfree(ps);
    padd(ps, "REQUEST_METHOD=%s%s", "POST", "");
    padd(ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(ps, "HOOKSPOOL_PRESET=%s%s", "pix", "");
    padd(ps, "HOOKSPOOL_ALLOW_FROM=%s%s", "192.0.2.0/24,2001:db8::/32", "");
    padd(ps, "REMOTE_ADDR=%s%s", "192.0.2.10", "");
    if (path_info) padd(ps, "PATH_INFO=%s%s", path_info, "");
}

/* Every line of the spool (an empty needle matches each). */
static int count_all_lines(const char *spool) { return spool_lines(spool, ""); }

/* A handshake the provider does not sign (Meta's GET) is still held to
 * HOOKSPOOL_ALLOW_FROM and mTLS: they restrict the whole endpoint, so
 * one from outside the list is refused (403) and nothing is answered
 * (issue 15 meets issue 17 in the merge). */
static void test_handshake_source(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400];

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/hsk-src", root);
    padd(&ps, "REQUEST_METHOD=%s%s", "GET", "");
    padd(&ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "meta", "");
    padd(&ps, "HOOKSPOOL_SECRET=%s%s", "meta-app-secret-0123", "");
    padd(&ps, "HOOKSPOOL_VERIFY_TOKEN=%s%s", "vt-42", "");
    padd(&ps, "HOOKSPOOL_ALLOW_FROM=%s%s", "192.0.2.0/24", "");
    padd(&ps, "QUERY_STRING=%s%s", "hub.mode=subscribe&hub.verify_token=vt-42&hub.challenge=",
         "8675309");
    padd(&ps, "REMOTE_ADDR=%s%s", "192.0.2.9", "");
    CHECK(run(&ps, "", 0, 0, &r) == 200 && has(&r.body, "8675309"));
    free(ps.p[ps.n - 1]);
    ps.p[ps.n - 1] = strdup("REMOTE_ADDR=198.51.100.9");
    CHECK(run(&ps, "", 0, 0, &r) == 403 && has(&r.body, "address_refused") &&
          !has(&r.body, "8675309"));
    padd(&ps, "HOOKSPOOL_MTLS_SUBJECT=%s%s", "CN=bank", "");
    free(ps.p[ps.n - 2]);
    ps.p[ps.n - 2] = strdup("REMOTE_ADDR=192.0.2.9");
    CHECK(run(&ps, "", 0, 0, &r) == 403 && has(&r.body, "client_cert_refused") &&
          !has(&r.body, "8675309"));
    pfree(&ps);
    hs_response_free(&r);
}

static void test_pix(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], body[4096], e1[1024], e1r[1024], err[512];
    hs_counters_snap snap;

    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/pix", root);
    snprintf(e1, sizeof(e1), PIX1, "EM_PROCESSAMENTO");
    snprintf(e1r, sizeof(e1r), PIX1, "DEVOLVIDO");

    /* The probe: an empty POST, authenticated by the address list. */
    pix_base(&ps, spool, NULL);
    CHECK(run(&ps, "", 0, 0, &r) == 200 && has(&r.body, "{\"ok\":true,\"probe\":true}"));
    CHECK(count_all_lines(spool) == 0);
    CHECK(hs_counters_read(spool, &snap) == 0 && snap.probes == 1 && snap.accepted == 0);
    /* ... and from an address outside the list: 403. */
    pix_base(&ps, spool, "/pix");
    free(ps.p[4]);
    ps.p[4] = strdup("REMOTE_ADDR=192.0.3.10");
    CHECK(run(&ps, "", 0, 0, &r) == 403 && has(&r.body, "address_refused"));
    CHECK(run(&ps, PIX2, strlen(PIX2), 0, &r) == 403);
    free(ps.p[4]);
    ps.p[4] = strdup("REMOTE_ADDR=::ffff:192.0.2.77");
    CHECK(run(&ps, "", 0, 0, &r) == 200);

    /* The two example payments in one batch: two lines, each its element
     * byte for byte, with its position and the suffix. */
    pix_base(&ps, spool, "/pix");
    snprintf(body, sizeof(body), "{\"pix\":[%s,\n  %s]}", e1, PIX2);
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"ids\":[\"") &&
          has(&r.body, "\"duplicates\":0"));
    CHECK(count_all_lines(spool) == 2);
    CHECK(spool_lines(spool, "\"endpoint\":\"pix\",\"path\":\"/pix\"") == 2);
    CHECK(spool_lines(spool, "\"batch\":{\"index\":0,\"count\":2}") == 1);
    CHECK(spool_lines(spool, "\"batch\":{\"index\":1,\"count\":2}") == 1);
    snprintf(body, sizeof(body), ",\"event\":%s}", e1);
    CHECK(spool_lines(spool, body) == 1);
    snprintf(body, sizeof(body), ",\"event\":%s}", PIX2);
    CHECK(spool_lines(spool, body) == 1);

    /* The same batch retried: all duplicates, nothing appended. */
    snprintf(body, sizeof(body), "{\"pix\":[%s,%s]}", e1, PIX2);
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"ids\":[]") &&
          has(&r.body, "\"duplicates\":2"));
    CHECK(count_all_lines(spool) == 2);

    /* The re-notice of the first payment, its refund settled, beside
     * the second again: only the re-notice is new. */
    snprintf(body, sizeof(body), "{\"pix\":[%s,%s]}", PIX2, e1r);
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"duplicates\":1"));
    CHECK(count_all_lines(spool) == 3);
    CHECK(spool_lines(spool, "\"status\":\"DEVOLVIDO\"") == 1);
    CHECK(spool_lines(spool, "\"batch\":{\"index\":1,\"count\":2}") == 2);

    /* Two equal elements in one batch: one line. */
    snprintf(body, sizeof(body), "{\"pix\":[%s,%s]}",
             "{\"endToEndId\":\"E3\",\"valor\":\"1.00\"}", "{\"endToEndId\":\"E3\",\"valor\":\"1.00\"}");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"duplicates\":1"));
    CHECK(count_all_lines(spool) == 4);

    /* A bare array (some banks), /rec and /cobr bodies. */
    snprintf(body, sizeof(body), "[%s]", "{\"endToEndId\":\"E4\",\"valor\":\"2.00\"}");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"duplicates\":0"));
    CHECK(spool_lines(spool, "\"event\":{\"endToEndId\":\"E4\",\"valor\":\"2.00\"}}") == 1);
    pix_base(&ps, spool, "/rec");
    snprintf(body, sizeof(body), "{\"recs\":[{\"idRec\":\"RR1\",\"status\":\"APROVADA\"},"
             "{\"idRec\":\"RR2\",\"status\":\"CANCELADA\"}]}");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200);
    CHECK(spool_lines(spool, "\"path\":\"/rec\"") == 2);
    CHECK(spool_lines(spool, "\"event\":{\"idRec\":\"RR2\",\"status\":\"CANCELADA\"}}") == 1);
    pix_base(&ps, spool, "/cobr");
    snprintf(body, sizeof(body), "{\"cobsr\":[{\"idRec\":\"RR1\",\"txid\":\"T1\",\"status\":\"ATIVA\","
             "\"tentativas\":[{\"endToEndId\":\"E9\"}]}]}");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200);
    CHECK(spool_lines(spool, "\"path\":\"/cobr\"") == 1);
    /* A /pix body that holds no array is one event. */
    pix_base(&ps, spool, "/pix");
    CHECK(run(&ps, "{\"other\":1}", 11, 0, &r) == 200 && has(&r.body, "\"id\":\""));
    CHECK(spool_lines(spool, "\"event\":{\"other\":1}}") == 1);
    CHECK(count_all_lines(spool) == 9);
    CHECK(hs_counters_read(spool, &snap) == 0 && snap.accepted == 9 && snap.duplicate == 4 &&
          snap.probes == 2 && snap.rejected[HS_R_ADDRESS_REFUSED] == 2);

    /* The suffix from the query string (the ?...&ignorar= trick), and a
     * query token. */
    pix_base(&ps, spool, NULL);
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "query:hmac", "");
    padd(&ps, "HOOKSPOOL_SECRET=%s%s", "s3cr3t-query-token", "");
    padd(&ps, "QUERY_STRING=%s%s", "hmac=s3cr3t-query-token&ignorar=/rec", "");
    snprintf(body, sizeof(body), "{\"recs\":[{\"idRec\":\"RQ1\"}]}");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 200 && has(&r.body, "\"ids\":[\""));
    CHECK(spool_lines(spool, "\"path\":\"/rec\",\"key\":") == 3);
    free(ps.p[ps.n - 1]);
    ps.p[ps.n - 1] = strdup("QUERY_STRING=hmac=s3cr3t-query-tokeN&ignorar=/rec");
    CHECK(run(&ps, body, strlen(body), 0, &r) == 401 && has(&r.body, "bad_signature"));
    free(ps.p[ps.n - 1]);
    ps.p[ps.n - 1] = strdup("QUERY_STRING=ignorar=/rec");
    CHECK(run(&ps, "", 0, 0, &r) == 401 && has(&r.body, "missing_signature"));
    {
        char *log = log_text();
        CHECK(log != NULL && strstr(log, "s3cr3t") == NULL);
        free(log);
    }

    /* Mutual TLS: the server's verification and the subject. */
    pfree(&ps);
    padd(&ps, "REQUEST_METHOD=%s%s", "POST", "");
    padd(&ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(&ps, "HOOKSPOOL_PRESET=%s%s", "pix", "");
    padd(&ps, "HOOKSPOOL_MTLS_SUBJECT=%s%s", "CN=bank.example,O=Bank", "");
    padd(&ps, "REMOTE_ADDR=%s%s", "203.0.113.5", "");
    CHECK(run(&ps, "", 0, 0, &r) == 403 && has(&r.body, "client_cert_refused"));
    padd(&ps, "SSL_CLIENT_VERIFY=%s%s", "SUCCESS", "");
    padd(&ps, "SSL_CLIENT_S_DN=%s%s", "CN=bank.example,O=Bank", "");
    CHECK(run(&ps, "", 0, 0, &r) == 200 && has(&r.body, "probe"));
    free(ps.p[ps.n - 1]);
    ps.p[ps.n - 1] = strdup("SSL_CLIENT_S_DN=CN=evil.example,O=Bank");
    CHECK(run(&ps, "", 0, 0, &r) == 403);
    /* A client header cannot stand in for the server's variable. */
    pfree(&ps);
    padd(&ps, "REQUEST_METHOD=%s%s", "POST", "");
    padd(&ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(&ps, "HOOKSPOOL_PRESET=%s%s", "pix", "");
    padd(&ps, "HOOKSPOOL_MTLS_SUBJECT=%s%s", "*", "");
    padd(&ps, "HTTP_SSL_CLIENT_VERIFY=%s%s", "SUCCESS", "");
    CHECK(run(&ps, "", 0, 0, &r) == 403);

    /* The preset or none alone, with nothing that authenticates: a
     * configuration error naming what to set. */
    pfree(&ps);
    padd(&ps, "REQUEST_METHOD=%s%s", "POST", "");
    padd(&ps, "HOOKSPOOL_SPOOL=%s%s", spool, "");
    padd(&ps, "HOOKSPOOL_PRESET=%s%s", "pix", "");
    CHECK(run(&ps, "", 0, 0, &r) == 500 && has(&r.body, "config_error"));
    {
        char *log = log_text();
        CHECK(log != NULL && strstr(log, "HOOKSPOOL_ALLOW_FROM") != NULL);
        free(log);
    }
    (void)err;

    /* Under an HMAC scheme an empty body is still a signed non-JSON body. */
    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", SECRET, "", 0);
    CHECK(run(&ps, "", 0, 0, &r) == 400 && has(&r.body, "bad_json"));

    /* Batches under a header key: the delivery's retry is a duplicate
     * element by element. */
    snprintf(spool, sizeof(spool), "%s/pix-hdr", root);
    base(&ps, "POST", spool);
    padd(&ps, "HOOKSPOOL_SCHEME=%s%s", "bearer", "");
    padd(&ps, "HOOKSPOOL_DEDUP=%s%s", "header:X-Delivery", "");
    padd(&ps, "HOOKSPOOL_BATCH=%s%s", "/items", "");
    padd(&ps, "HTTP_AUTHORIZATION=Bearer %s%s", SECRET, "");
    padd(&ps, "HTTP_X_DELIVERY=%s%s", "d-1", "");
    CHECK(run(&ps, "{\"items\":[1,2,3]}", 17, 0, &r) == 200 && has(&r.body, "\"duplicates\":0"));
    CHECK(run(&ps, "{\"items\":[1,2,3]}", 17, 0, &r) == 200 && has(&r.body, "\"duplicates\":3"));
    CHECK(count_all_lines(spool) == 3 && spool_lines(spool, "\"key\":[\"d-1\",2]") == 1);

    pfree(&ps);
    hs_response_free(&r);
}

/*
 * Issue 18: a FastCGI process' workers (a context each) share one dedup
 * tail per spool, the recorder's (hs_recorder_tail). Two contexts with
 * one recorder get the same tail for a spool, and each finds what the
 * other appended there; freeing the contexts leaves it to the recorder
 * (ASan sees a double free otherwise). Without a recorder a context
 * keeps its own.
 */
static void test_shared_ctx(void)
{
    params ps = { { 0 }, 0 };
    hs_response r;
    char spool[400], err[HS_CTX_ERR_MAX];
    const char *b1 = "{\"operation\":\"S\",\"resourceId\":\"shared-1\"}";
    hs_recorder *rec = hs_recorder_new();
    hs_ctx *saved = ctx, *c[2] = { hs_ctx_new(NULL, logfd), hs_ctx_new(NULL, logfd) };
    const hs_config *cfg;
    hs_dedup_tail *t[2] = { NULL, NULL };
    int i;

    CHECK(rec != NULL && c[0] != NULL && c[1] != NULL);
    if (rec == NULL || c[0] == NULL || c[1] == NULL) goto out;
    hs_response_init(&r);
    snprintf(spool, sizeof(spool), "%s/shared", root);
    for (i = 0; i < 2; i++) {
        hs_ctx_set_recorder(c[i], rec, 4);
        ctx = c[i];
        base(&ps, "POST", spool);
        sign_into(&ps, "caliza", SECRET, b1, strlen(b1));
        CHECK(run(&ps, b1, strlen(b1), 0, &r) == 200 &&
              has(&r.body, i == 0 ? "\"id\":" : "\"duplicate\":true"));
        cfg = hs_ctx_config(c[i], ps.p, clock_now, err, sizeof(err));
        CHECK(cfg != NULL && (t[i] = hs_ctx_dedup_tail(c[i], cfg)) != NULL);
    }
    CHECK(t[0] != NULL && t[0] == t[1] && t[0] == hs_recorder_tail(rec, spool));
    /* The context made without a recorder keeps a tail of its own. */
    ctx = saved;
    base(&ps, "POST", spool);
    sign_into(&ps, "caliza", SECRET, b1, strlen(b1));
    CHECK(run(&ps, b1, strlen(b1), 0, &r) == 200 && has(&r.body, "\"duplicate\":true"));
    cfg = hs_ctx_config(ctx, ps.p, clock_now, err, sizeof(err));
    CHECK(cfg != NULL && hs_ctx_dedup_tail(ctx, cfg) != t[0]);
    CHECK(spool_lines(spool, "shared-1") == 1);
    pfree(&ps);
    hs_response_free(&r);
out:
    ctx = saved;
    hs_ctx_free(c[0]);
    hs_ctx_free(c[1]);
    hs_recorder_free(rec);
}

int main(void)
{
    char cmd[300];
    if (mkdtemp(root) == NULL) return 1;
    snprintf(logpath, sizeof(logpath), "%s/log", root);
    logfd = open(logpath, O_CREAT | O_WRONLY | O_APPEND, 0600);
    ctx = hs_ctx_new(NULL, logfd);
    clock_now = time(NULL) - 100;
    test_post_ok();
    test_rejections();
    test_status_and_headers();
    test_dedup();
    test_keyless_catches_up();
    test_header_key_lossless();
    test_invalid_kept();
    test_docroot_warning();
    test_keep_longest_header();
    test_pix();
    test_handshake_source();
    test_shared_ctx();
    hs_ctx_free(ctx);
    close(logfd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return T_END();
}
