/*
 * fuzz_handler.c - the whole request path (hs_ctx_config, hs_body_limit,
 * hs_handle) on raw requests, with a real spool in a temporary directory.
 *
 * Input: byte 0 picks the method, byte 1 the scheme, byte 2 holds flags:
 *   bit 0  sign the body with the configured secret (hs_sign_headers), so the
 *          request gets past authentication into JSON, dedup and the spool
 *          (the signed headers come first: the first parameter wins)
 *   bit 1  HOOKSPOOL_STATUS_TOKEN is set
 *   bit 2  HOOKSPOOL_MAX_BODY=64
 *   bit 3  QUERY_STRING is field 0
 *   bit 4  CONTENT_LENGTH is field 1
 *   bit 5  an endpoint name full of characters JSON and Prometheus escape
 *   bit 6  HOOKSPOOL_BATCH=/pix and HOOKSPOOL_DEDUP=content (issue 17: the
 *          batch splitter and content keys on every body), and field 0 is
 *          also PATH_INFO (the suffix recorded in each line)
 * then NUL-separated fields: field 0, field 1, three extra headers as
 * "NAME=value" (sent as HTTP_NAME=value), and the body (the rest).
 * The settings are otherwise fixed: the spool (in $TMPDIR, else /tmp),
 * the secret, FSYNC=never, ROTATE_BYTES=65536, INVALID_KEEP=4096 (small:
 * the kept bodies are listed on every bad body, and it still exercises
 * their eviction). The body is cut to what hs_body_limit allows, as the
 * FastCGI entry point reads it.
 *
 * Properties: no crash; the status is one of 200 400 401 405 413 500 503;
 * extra header lines are "Name: value\r\n"; HEAD has no body; otherwise
 * the body is one line of minified JSON, or Prometheus text when a GET
 * asked for format=prometheus; neither the secret nor the status token
 * appears anywhere in the answer; a correctly signed POST of valid JSON
 * within the size limit is stored (200).
 *
 * The spool stays small: every MAINT_EVERY runs the active segment is
 * sealed (what `hookspool rotate` does) and ready/ and invalid/ emptied;
 * every WIPE_EVERY runs the whole spool goes (the context notices and
 * reopens), which also bounds the dedup store.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "dedup.h"
#include "handler.h"
#include "json.h"
#include "sig.h"
#include "sign.h"
#include "spool.h"
#include "status.h"

#define REQUIRE(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz_handler: property failed: %s: ", #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
        abort(); \
    } \
} while (0)

#define SECRET       "fz-Handler-Secret-4d7e19b2c8a05f63"
#define STATUS_TOKEN "fz-status-token-9a1c5e7b3d"
#define ODD_ENDPOINT "we\"ird\\end\x01point\xc3\xa9\xff\n"
#define MAINT_EVERY  1000
#define WIPE_EVERY   20000
#define NFIELDS      5
#define MAXP         40

static const char *const methods[] = {
    "POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "post", NULL,
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const char *const schemes[] = {
    "caliza", "github", "stripe", "standard", "shopify", "bearer",
    "token:X-Hook-Token", "hmac-sha256-hex:X-Signature:sha256=", "hmac-sha512-base64:X-Sig",
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static hs_ctx *ctx;
static char root[PATH_MAX];
static char spool[PATH_MAX];
static unsigned long runs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
    hs_ctx_free(ctx);
    ctx = NULL;
    rm_tree(root);
}

/* Remove every regular file in dir (ready/, invalid/). */
static void empty_dir(const char *dir)
{
    char path[PATH_MAX];
    struct dirent *d;
    DIR *dp = opendir(dir);
    if (dp == NULL) return;
    while ((d = readdir(dp)) != NULL) {
        if (d->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
        unlink(path);
    }
    closedir(dp);
}

static void maintain(void)
{
    char dir[PATH_MAX];
    hs_spool_opts o = { 65536, 60, 0, 077 };
    hs_spool *sp;
    int sealed = 0;

    if (runs % WIPE_EVERY == 0) {
        rm_tree(spool);
        return;
    }
    if (hs_spool_open(spool, &o, 0, &sp) == 0) {
        hs_dedup_rotate(sp, &o, 1, &sealed);
        hs_spool_close(sp);
    }
    snprintf(dir, sizeof(dir), "%s/ready", spool);
    empty_dir(dir);
    snprintf(dir, sizeof(dir), "%s/invalid", spool);
    empty_dir(dir);
}

static void init_once(void)
{
    const char *tmp;
    size_t i;
    int fd;

    /* Only the parameters below configure the handler: nothing from the
     * environment this process happens to run in. */
    unsetenv("HOOKSPOOL_CONFIG");
    for (i = 0; hs_conf_names[i] != NULL; i++) unsetenv(hs_conf_names[i]);
    tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root) - 16, "%s/hs-fuzz-handler-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) abort();
    snprintf(spool, sizeof(spool), "%s/spool", root);
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) abort();
    ctx = hs_ctx_new(NULL, fd);
    if (ctx == NULL) abort();
    atexit(cleanup);
}

typedef struct {
    char  *p[MAXP + 1];
    size_t n;
} params;

static void padd(params *ps, const char *a, size_t alen, const char *b, size_t blen)
{
    char *s;
    if (ps->n == MAXP) return;
    s = malloc(alen + blen + 1);
    if (s == NULL) abort();
    memcpy(s, a, alen);
    if (blen) memcpy(s + alen, b, blen);
    s[alen + blen] = '\0';
    ps->p[ps->n++] = s;
    ps->p[ps->n] = NULL;
}

static void pset(params *ps, const char *name_eq, const char *v)
{
    padd(ps, name_eq, strlen(name_eq), v, strlen(v));
}

/* "Name: value\n" lines as HTTP_NAME=value parameters. */
static void add_signed(params *ps, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n'), *colon = strchr(s, ':');
        char name[HS_SCHEME_MAX_HEADER_NAME + 8];
        size_t i, nlen;
        REQUIRE(nl && colon && colon < nl, "signed headers malformed");
        nlen = (size_t)(colon - s);
        REQUIRE(nlen + 6 < sizeof(name), "header name too long");
        memcpy(name, "HTTP_", 5);
        for (i = 0; i < nlen; i++) {
            char c = s[i];
            name[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
        }
        name[5 + nlen] = '=';
        padd(ps, name, nlen + 6, colon + 2, (size_t)(nl - colon - 2));
        s = nl + 1;
    }
}

static int has_bytes(const hs_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    return b->len >= n && memmem(b->p, b->len, needle, n) != NULL;
}

static void check_json_line(const hs_buf *b)
{
    hs_buf again = HS_BUF_INIT;
    REQUIRE(b->len >= 2 && b->p[b->len - 1] == '\n', "body is not one line: [%.*s]",
            (int)b->len, b->p);
    REQUIRE(memchr(b->p, '\n', b->len - 1) == NULL, "body has several lines: [%.*s]",
            (int)b->len, b->p);
    REQUIRE(hs_json_minify((const unsigned char *)b->p, b->len - 1, &again, NULL) == HS_JSON_OK,
            "body is not JSON: [%.*s]", (int)b->len, b->p);
    REQUIRE(again.len == b->len - 1 && memcmp(again.p, b->p, again.len) == 0,
            "body is not minified JSON");
    hs_buf_free(&again);
}

/* Prometheus text format 0.0.4 as status.c writes it: # HELP / # TYPE
 * lines and "hookspool_name[{labels}] value" samples. */
static void check_prometheus(const hs_buf *b)
{
    const char *s = b->p, *end = b->p + b->len;
    REQUIRE(b->len > 0 && end[-1] == '\n', "prometheus text does not end a line");
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s)), *sp;
        size_t n = (size_t)(nl - s), k;
        if (n >= 7 && (memcmp(s, "# HELP ", 7) == 0 || memcmp(s, "# TYPE ", 7) == 0)) {
            REQUIRE(n > 17 && memcmp(s + 7, "hookspool_", 10) == 0, "comment: [%.*s]", (int)n, s);
        } else {
            REQUIRE(n > 10 && memcmp(s, "hookspool_", 10) == 0, "sample: [%.*s]", (int)n, s);
            sp = s + n;
            while (sp > s && sp[-1] != ' ') sp--;
            REQUIRE(sp > s && sp < s + n, "sample without a value: [%.*s]", (int)n, s);
            for (k = 0; sp + k < s + n; k++)
                REQUIRE((sp[k] >= '0' && sp[k] <= '9') || sp[k] == '.', "value: [%.*s]", (int)n, s);
            /* Labels: a newline or an unescaped quote would break the line. */
            if (memchr(s, '{', n) != NULL) {
                const char *q = memchr(s, '{', n);
                int in = 0;
                for (; q < sp; q++) {
                    if (*q == '\\') { q++; continue; }
                    if (*q == '"') in = !in;
                }
                REQUIRE(!in, "label quotes unbalanced: [%.*s]", (int)n, s);
            }
        }
        s = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    params ps = { { 0 }, 0 };
    const uint8_t *f[NFIELDS], *body = NULL;
    size_t fl[NFIELDS], got = 0, start = 3, i, blen = 0, limit;
    uint8_t m, flags;
    const char *method, *scheme;
    char err[HS_CTX_ERR_MAX];
    const hs_config *cfg;
    hs_request req;
    hs_response resp;
    unsigned char *bcopy = NULL;
    int over = 0, prom = 0, json_ok;
    time_t now = time(NULL);

    if (ctx == NULL) init_once();
    if (++runs % MAINT_EVERY == 0) maintain();
    if (size < 3) return 0;
    m = data[0];
    method = methods[m % NMETHODS];
    scheme = schemes[data[1] % NSCHEMES];
    flags = data[2];
    for (i = 0; i < NFIELDS; i++) f[i] = NULL;
    for (i = 3; i < size && got < NFIELDS; i++) {
        if (data[i] != 0) continue;
        f[got] = data + start;
        fl[got] = i - start;
        got++;
        start = i + 1;
    }
    if (got == NFIELDS) {
        body = data + start;
        blen = size - start;
    }

    /* The signed headers go first, then the fuzzed parameters. */
    if (method != NULL) pset(&ps, "REQUEST_METHOD=", method);
    pset(&ps, "HOOKSPOOL_SPOOL=", spool);
    pset(&ps, "HOOKSPOOL_SECRET=", SECRET);
    pset(&ps, "HOOKSPOOL_FSYNC=", "never");
    pset(&ps, "HOOKSPOOL_ROTATE_BYTES=", "65536");
    pset(&ps, "HOOKSPOOL_INVALID_KEEP=", "4096");
    pset(&ps, "HOOKSPOOL_SCHEME=", scheme);
    if (flags & 0x02) pset(&ps, "HOOKSPOOL_STATUS_TOKEN=", STATUS_TOKEN);
    if (flags & 0x04) pset(&ps, "HOOKSPOOL_MAX_BODY=", "64");
    if (flags & 0x20) pset(&ps, "HOOKSPOOL_ENDPOINT=", ODD_ENDPOINT);
    if (flags & 0x40) {
        pset(&ps, "HOOKSPOOL_BATCH=", "/pix");
        pset(&ps, "HOOKSPOOL_DEDUP=", "content");
        if (f[0]) padd(&ps, "PATH_INFO=", 10, (const char *)f[0], fl[0]);
    }
    pset(&ps, "REMOTE_ADDR=", "192.0.2.1");
    if ((flags & 0x08) && f[0]) padd(&ps, "QUERY_STRING=", 13, (const char *)f[0], fl[0]);
    if ((flags & 0x10) && f[1]) padd(&ps, "CONTENT_LENGTH=", 15, (const char *)f[1], fl[1]);

    err[0] = '\0';
    cfg = hs_ctx_config(ctx, ps.p, now, err, sizeof(err));
    REQUIRE(cfg != NULL, "fixed settings refused: %s", err);
    limit = hs_body_limit(cfg, ps.p, &over);
    if (limit == 0 || body == NULL) blen = 0;
    if (blen > limit) blen = limit;
    /* An exact-size copy: a read past the body is an ASan report. */
    if (blen > 0) {
        bcopy = malloc(blen);
        if (bcopy == NULL) abort();
        memcpy(bcopy, body, blen);
    }

    if (flags & 0x01) {
        hs_secret *s = calloc(1, sizeof(*s));
        hs_buf out = HS_BUF_INIT;
        if (s == NULL) abort();
        REQUIRE(hs_secret_decode(&cfg->scheme, SECRET, strlen(SECRET), "S", s) == 0, "secret");
        REQUIRE(hs_sign_headers(&cfg->scheme, s, bcopy, blen, now, NULL, &out) == 0, "sign");
        add_signed(&ps, out.p);
        hs_buf_free(&out);
        free(s);
    }
    for (i = 2; i < NFIELDS; i++)
        if (f[i] != NULL && fl[i] > 0) padd(&ps, "HTTP_", 5, (const char *)f[i], fl[i]);

    /* The parameters changed after the first lookup: look up again, as
     * the entry point does once with the complete set. */
    cfg = hs_ctx_config(ctx, ps.p, now, err, sizeof(err));
    REQUIRE(cfg != NULL, "fixed settings refused: %s", err);

    memset(&req, 0, sizeof(req));
    req.params = ps.p;
    req.body = bcopy;
    req.body_len = blen;
    /* The entry point reads at most limit bytes; reaching it means more. */
    req.body_over = over || (limit > 0 && blen >= limit);
    req.now = now;
    hs_response_init(&resp);
    hs_handle(ctx, cfg, err, &req, &resp);

    REQUIRE(resp.status == 200 || resp.status == 400 || resp.status == 401 ||
            resp.status == 405 || resp.status == 413 || resp.status == 500 ||
            resp.status == 503, "status %d", resp.status);
    for (i = 0; i < resp.head.len;) {
        const char *l = resp.head.p + i, *e = memchr(l, '\n', resp.head.len - i);
        REQUIRE(e && e > l + 1 && e[-1] == '\r' && memchr(l, ':', (size_t)(e - l)) != NULL,
                "head line: [%.*s]", (int)(resp.head.len - i), l);
        i = (size_t)(e - resp.head.p) + 1;
    }
    REQUIRE(!has_bytes(&resp.body, SECRET) && !has_bytes(&resp.head, SECRET), "secret in the answer");
    REQUIRE(!has_bytes(&resp.body, STATUS_TOKEN) && !has_bytes(&resp.head, STATUS_TOKEN),
            "status token in the answer");

    prom = strcmp(resp.content_type, HS_STATUS_CT_PROMETHEUS) == 0;
    if (prom) {
        const char *q = hs_param(ps.p, "QUERY_STRING");
        REQUIRE(method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
                q && strstr(q, "format=prometheus"), "prometheus text unasked");
    }
    if (method && strcmp(method, "HEAD") == 0) {
        REQUIRE(resp.body.len == 0, "HEAD with a body");
    } else if (prom) {
        check_prometheus(&resp.body);
    } else {
        REQUIRE(strcmp(resp.content_type, "application/json") == 0, "content type %s",
                resp.content_type);
        check_json_line(&resp.body);
    }

    /* A correctly signed POST of valid JSON within the limit is stored. */
    json_ok = blen > 0 && hs_json_minify(bcopy, blen, NULL, NULL) == HS_JSON_OK;
    if ((flags & 0x01) && method && strcmp(method, "POST") == 0 && !req.body_over && json_ok)
        REQUIRE(resp.status == 200 || ((flags & 0x40) && resp.status == 413 &&
                                       has_bytes(&resp.body, "too_large")), "signed valid event answered %d: %.*s", resp.status,
                (int)resp.body.len, resp.body.p);

    hs_response_free(&resp);
    for (i = 0; i < ps.n; i++) free(ps.p[i]);
    free(bcopy);
    return 0;
}
