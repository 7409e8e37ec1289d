/* Unit tests of lib/config, lib/settings and lib/ctx: values, ranges,
 * sources, caches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "settings.h"
#include "t.h"

/* A lookup over a NULL-terminated "NAME=value" array. */
static const char *arr_lookup(void *arg, const char *name)
{
    return hs_param(arg, name);
}

static int parse(char **kv, hs_config *c, char *err)
{
    return hs_conf_parse(arr_lookup, kv, c, err, 256);
}

static void test_defaults(void)
{
    char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=abc", NULL };
    hs_config *c = malloc(sizeof(*c));
    char err[256];
    CHECK(parse(kv, c, err) == 0);
    CHECK_STR(c->scheme.name, "caliza");
    CHECK_STR(c->endpoint, "caliza");
    CHECK(c->tolerance == 300 && c->max_body == 1048576 && c->rotate_bytes == 67108864);
    CHECK(c->rotate_seconds == 60 && c->fsync_always == 1 && c->dedup_seconds == 604800);
    CHECK(c->max_lag == 3600 && c->min_free == 104857600 && c->umask == 077);
    CHECK(c->invalid_keep == 10485760 && !c->has_status_token);
    CHECK(c->dedup == HS_DEDUP_JSON && c->ndedup == 2 &&
          strcmp(c->dedup_items[0], "/operation") == 0 &&
          strcmp(c->dedup_items[1], "/resourceId") == 0);
    CHECK(c->nkeep == 0 && c->nsecrets == 1);
    CHECK(c->secrets[0].key_len == 3 && memcmp(c->secrets[0].key, "abc", 3) == 0);
    free(c);
}

static void test_numbers(void)
{
    static const struct { const char *kv; int ok; } cases[] = {
        { "HOOKSPOOL_MIN_FREE=1", 1 },
        { "HOOKSPOOL_ROTATE_BYTES=4096", 1 },
        { "HOOKSPOOL_ROTATE_SECONDS=1", 1 },
        { "HOOKSPOOL_MAX_BODY=4611686018427387904", 1 },   /* 2^62 */
        { "HOOKSPOOL_MAX_BODY=4611686018427387905", 0 },
        { "HOOKSPOOL_MAX_BODY=99999999999999999999999", 0 },
        { "HOOKSPOOL_MAX_BODY=0", 0 },
        { "HOOKSPOOL_TOLERANCE=0", 0 },
        { "HOOKSPOOL_TOLERANCE=-1", 0 },
        { "HOOKSPOOL_TOLERANCE=+5", 0 },
        { "HOOKSPOOL_TOLERANCE= 5", 0 },
        { "HOOKSPOOL_TOLERANCE=5 ", 0 },
        { "HOOKSPOOL_TOLERANCE=1.5", 0 },
        { "HOOKSPOOL_TOLERANCE=1k", 0 },
        { "HOOKSPOOL_TOLERANCE=abc", 0 },
        { "HOOKSPOOL_TOLERANCE=", 0 },
        { "HOOKSPOOL_TOLERANCE=0x10", 0 },
        { "HOOKSPOOL_INVALID_KEEP=0", 1 },
        { "HOOKSPOOL_DEDUP_SECONDS=0", 0 },
        { "HOOKSPOOL_MAX_LAG=1", 1 },
        { "HOOKSPOOL_FSYNC=never", 1 },
        { "HOOKSPOOL_FSYNC=always", 1 },
        { "HOOKSPOOL_FSYNC=sometimes", 0 },
        { "HOOKSPOOL_UMASK=007", 1 },
        { "HOOKSPOOL_UMASK=0", 1 },
        { "HOOKSPOOL_UMASK=0777", 1 },
        { "HOOKSPOOL_UMASK=999", 0 },
        { "HOOKSPOOL_UMASK=1777", 0 },
        { "HOOKSPOOL_UMASK=-7", 0 },
        { "HOOKSPOOL_DEDUP=off", 1 },
        { "HOOKSPOOL_DEDUP=json:/a,/b/0", 1 },
        { "HOOKSPOOL_DEDUP=json:a", 0 },
        { "HOOKSPOOL_DEDUP=json:", 0 },
        { "HOOKSPOOL_DEDUP=json:/a,", 0 },
        { "HOOKSPOOL_DEDUP=header:X-Id", 1 },
        { "HOOKSPOOL_DEDUP=header:Bad Name", 0 },
        { "HOOKSPOOL_DEDUP=on", 0 },
        { "HOOKSPOOL_KEEP_HEADERS=X-A, X-B", 1 },
        { "HOOKSPOOL_KEEP_HEADERS=", 1 },
        { "HOOKSPOOL_KEEP_HEADERS=X-A,,X-B", 0 },
        { "HOOKSPOOL_KEEP_HEADERS=X:A", 0 },
        { "HOOKSPOOL_SCHEME=github", 1 },
        { "HOOKSPOOL_SCHEME=hmac-sha256-hex:Signature", 1 },
        { "HOOKSPOOL_SCHEME=token:x-functions-key", 1 },
        { "HOOKSPOOL_SCHEME=nope", 0 },
        { "HOOKSPOOL_SPOOL=relative/path", 0 },
        { "HOOKSPOOL_SPOOL=", 0 },
        { "HOOKSPOOL_ENDPOINT=", 0 },
        { "HOOKSPOOL_SECRET=base64:!!!", 0 },
        { "HOOKSPOOL_SECRET=hex:zz", 0 },
        { "HOOKSPOOL_SECRET_FILE=relative", 0 },
    };
    size_t i;
    hs_config *c = malloc(sizeof(*c));
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *kv[4], err[256] = "";
        int n = 0, r;
        kv[n++] = (char *)cases[i].kv;   /* first match wins: this one */
        kv[n++] = "HOOKSPOOL_SPOOL=/tmp/s";
        kv[n++] = "HOOKSPOOL_SECRET=abc";
        kv[n] = NULL;
        r = parse(kv, c, err);
        CHECK_MSG((r == 0) == cases[i].ok, "%s -> %d (%s)", cases[i].kv, r, err);
        if (!cases[i].ok) {
            /* the message names the setting, never a value */
            char name[64];
            size_t k = strcspn(cases[i].kv, "=");
            memcpy(name, cases[i].kv, k);
            name[k] = 0;
            CHECK_MSG(strstr(err, name) != NULL, "%s: [%s]", cases[i].kv, err);
        }
    }
    {
        char *kv[] = { "HOOKSPOOL_UMASK=007", "HOOKSPOOL_MAX_BODY=4611686018427387904",
                       "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=x",
                       "HOOKSPOOL_KEEP_HEADERS= X-A ,X-B", NULL };
        char err[256];
        CHECK(parse(kv, c, err) == 0 && c->umask == 007 &&
              c->max_body == 4611686018427387904LL);
        CHECK(c->nkeep == 2 && strcmp(c->keep[0], "X-A") == 0 && strcmp(c->keep[1], "X-B") == 0);
    }
    free(c);
}

static void test_secrets(void)
{
    hs_config *c = malloc(sizeof(*c));
    char err[256];
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", NULL };
        CHECK(parse(kv, c, err) != 0 && strstr(err, "HOOKSPOOL_SECRET") != NULL);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET_FILE=/nonexistent/x", NULL };
        CHECK(parse(kv, c, err) == 0 && c->nsecrets == 0);   /* read by ctx */
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=hex:616263",
                       "HOOKSPOOL_SECRET_OLD=base64:ZGVm", NULL };
        CHECK(parse(kv, c, err) == 0 && c->nsecrets == 2);
        CHECK(c->secrets[0].key_len == 3 && memcmp(c->secrets[0].key, "abc", 3) == 0);
        CHECK(c->secrets[1].key_len == 3 && memcmp(c->secrets[1].key, "def", 3) == 0);
        CHECK_STR(c->secrets[1].source, "HOOKSPOOL_SECRET_OLD");
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=bearer",
                       "HOOKSPOOL_SECRET=Bearer tok123", NULL };
        CHECK(parse(kv, c, err) == 0 && c->secrets[0].key_len == 6 &&
              memcmp(c->secrets[0].key, "tok123", 6) == 0);
        CHECK(c->dedup == HS_DEDUP_OFF && c->nkeep == 0);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=github",
                       "HOOKSPOOL_SECRET=x", NULL };
        CHECK(parse(kv, c, err) == 0 && c->dedup == HS_DEDUP_HEADER &&
              strcmp(c->dedup_items[0], "X-GitHub-Delivery") == 0 && c->nkeep == 3);
    }
    free(c);
}

/* template-ALG-ENC takes its shape from HOOKSPOOL_SIGNED and
 * HOOKSPOOL_SIGNATURE; an error names the one at fault and never the
 * secret; neither is accepted for another scheme. */
static void test_template(void)
{
    hs_config *c = malloc(sizeof(*c));
    char err[256];
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=template-sha256-hex",
                       "HOOKSPOOL_SECRET=s3cr3t-value", "HOOKSPOOL_SIGNED={ts}.{body}",
                       "HOOKSPOOL_SIGNATURE=Calendly-Webhook-Signature: t={ts},v1={mac}", NULL };
        CHECK(parse(kv, c, err) == 0);
        CHECK(c->scheme.kind == HS_SCHEME_TEMPLATE && c->scheme.timestamped &&
              c->scheme.layout == HS_LAYOUT_KV && c->dedup == HS_DEDUP_OFF && c->nkeep == 0);
        CHECK_STR(c->endpoint, "template-sha256-hex");
        CHECK_STR(hs_scheme_sig_header(&c->scheme) ? hs_scheme_sig_header(&c->scheme) : "",
                  "Calendly-Webhook-Signature");
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=template-sha256-hex",
                       "HOOKSPOOL_SECRET=s3cr3t-value", "HOOKSPOOL_SIGNED={ts}.{body}",
                       "HOOKSPOOL_SIGNATURE=X-Sig: v1={mac}", NULL };
        CHECK(parse(kv, c, err) != 0 && strncmp(err, "HOOKSPOOL_SIGNED: ", 18) == 0 &&
              strstr(err, "s3cr3t") == NULL);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=template-sha256-hex",
                       "HOOKSPOOL_SECRET=s3cr3t-value", "HOOKSPOOL_SIGNED={body}",
                       "HOOKSPOOL_SIGNATURE=X-Sig v1={mac}", NULL };
        CHECK(parse(kv, c, err) != 0 && strncmp(err, "HOOKSPOOL_SIGNATURE: ", 21) == 0);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=template-sha256-hex",
                       "HOOKSPOOL_SECRET=x", NULL };
        CHECK(parse(kv, c, err) != 0 && strncmp(err, "HOOKSPOOL_SIGNATURE: not set", 28) == 0);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SCHEME=github", "HOOKSPOOL_SECRET=x",
                       "HOOKSPOOL_SIGNED={body}", NULL };
        CHECK(parse(kv, c, err) != 0 && strncmp(err, "HOOKSPOOL_SIGNED: only with", 27) == 0);
    }
    {
        char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=x",
                       "HOOKSPOOL_SIGNATURE=X-Sig: {mac}", NULL };
        CHECK(parse(kv, c, err) != 0 && strncmp(err, "HOOKSPOOL_SIGNATURE: only with", 30) == 0);
    }
    free(c);
}

static int collect(void *arg, const char *name, const char *value)
{
    char *out = arg;
    strcat(out, name);
    strcat(out, "=");
    strcat(out, value);
    strcat(out, ";");
    return 0;
}

static void test_file_parse(void)
{
    char out[512] = "", err[256];
    const char *t = "# comment\n\n  HOOKSPOOL_SPOOL = /srv/spool  \n"
                    "HOOKSPOOL_ENDPOINT=\"with space\"\r\nHOOKSPOOL_SECRET='a=b'\n"
                    "HOOKSPOOL_SCHEME=github";
    CHECK(hs_conf_file_parse(t, strlen(t), collect, out, err, sizeof(err)) == 0);
    CHECK_STR(out, "HOOKSPOOL_SPOOL=/srv/spool;HOOKSPOOL_ENDPOINT=with space;"
                   "HOOKSPOOL_SECRET=a=b;HOOKSPOOL_SCHEME=github;");
    out[0] = 0;
    t = "HOOKSPOOL_SPOOL=/x\nHOOKSPOOL_SPOL=/y\n";
    CHECK(hs_conf_file_parse(t, strlen(t), collect, out, err, sizeof(err)) != 0 &&
          strstr(err, "line 2") && strstr(err, "HOOKSPOOL_SPOL"));
    t = "just words\n";
    CHECK(hs_conf_file_parse(t, strlen(t), collect, out, err, sizeof(err)) != 0 &&
          strstr(err, "line 1"));
    t = "PATH=/bin\n";
    CHECK(hs_conf_file_parse(t, strlen(t), collect, out, err, sizeof(err)) != 0);
    CHECK(hs_conf_file_parse("HOOKSPOOL_SPOOL=/a\0b\n", 19, collect, out, err, sizeof(err)) != 0);
}

static void test_secret_file_parse(void)
{
    hs_scheme sc;
    hs_secret *s = calloc(HS_CONF_MAX_SECRETS, sizeof(*s));
    char err[256];
    const char *t = "# current\nnewsecret  \n\n  oldsecret\n";
    CHECK(hs_scheme_parse("caliza", 6, &sc) == 0);
    CHECK(hs_conf_secret_file_parse(&sc, t, strlen(t), "F", s, HS_CONF_MAX_SECRETS,
                                    err, sizeof(err)) == 2);
    CHECK(s[0].key_len == 9 && memcmp(s[0].key, "newsecret", 9) == 0);
    CHECK(s[1].key_len == 9 && memcmp(s[1].key, "oldsecret", 9) == 0);
    t = "# nothing\n\n";
    CHECK(hs_conf_secret_file_parse(&sc, t, strlen(t), "F", s, HS_CONF_MAX_SECRETS,
                                    err, sizeof(err)) == -1);
    t = "a\nb\nc\n";
    CHECK(hs_conf_secret_file_parse(&sc, t, strlen(t), "F", s, 2, err, sizeof(err)) == -1);
    t = "base64:%%%\n";
    CHECK(hs_conf_secret_file_parse(&sc, t, strlen(t), "F", s, 2, err, sizeof(err)) == -1 &&
          strstr(err, "line 1") && !strstr(err, "%%%"));
    free(s);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_ctx_sources(void)
{
    char dir[] = "/tmp/hs-test-conf-XXXXXX", conf[256], sf[256], besides[256], err[512];
    hs_ctx *ctx;
    const hs_config *a, *b, *c;
    const hs_secret *sec;
    int n;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(conf, sizeof(conf), "%s/my.conf", dir);
    snprintf(besides, sizeof(besides), "%s/hookspool.conf", dir);
    snprintf(sf, sizeof(sf), "%s/secrets", dir);
    write_file(conf, "HOOKSPOOL_SPOOL=/tmp/from-file\nHOOKSPOOL_ENDPOINT=file\n"
                     "HOOKSPOOL_SECRET=filesecret\nHOOKSPOOL_TOLERANCE=11\n");
    write_file(besides, "HOOKSPOOL_SPOOL=/tmp/besides\nHOOKSPOOL_SECRET=b\n");

    ctx = hs_ctx_new(dir, 2);
    unsetenv("HOOKSPOOL_CONFIG");
    unsetenv("HOOKSPOOL_ENDPOINT");
    /* hookspool.conf beside the program when HOOKSPOOL_CONFIG is unset */
    a = hs_ctx_config(ctx, NULL, 1000, err, sizeof(err));
    CHECK(a && strcmp(a->spool, "/tmp/besides") == 0);
    {
        char p0[300];
        char *params[] = { p0, NULL };
        snprintf(p0, sizeof(p0), "HOOKSPOOL_CONFIG=%s", conf);
        b = hs_ctx_config(ctx, params, 1000, err, sizeof(err));
        CHECK(b && strcmp(b->endpoint, "file") == 0 && b->tolerance == 11);
        /* the environment beats the file */
        setenv("HOOKSPOOL_ENDPOINT", "env", 1);
        b = hs_ctx_config(ctx, params, 1000, err, sizeof(err));
        CHECK(b && strcmp(b->endpoint, "env") == 0 && b->tolerance == 11);
        {
            /* the request's parameters beat the environment */
            char *p2[] = { p0, "HOOKSPOOL_ENDPOINT=param", NULL };
            c = hs_ctx_config(ctx, p2, 1000, err, sizeof(err));
            CHECK(c && strcmp(c->endpoint, "param") == 0 && c != b);
            /* parsed once: the same values give the same parsed struct */
            CHECK(hs_ctx_config(ctx, p2, 1000, err, sizeof(err)) == c);
            CHECK(hs_ctx_config(ctx, params, 1000, err, sizeof(err)) == b);
        }
        unsetenv("HOOKSPOOL_ENDPOINT");
    }
    {
        /* HOOKSPOOL_CONFIG naming a missing file is an error */
        char *params[] = { "HOOKSPOOL_CONFIG=/nonexistent/hookspool.conf", NULL };
        CHECK(hs_ctx_config(ctx, params, 1000, err, sizeof(err)) == NULL &&
              strstr(err, "HOOKSPOOL_CONFIG"));
    }
    {
        /* a secret file, re-read when it changes, checked once a second */
        char p0[300];
        char *params[] = { "HOOKSPOOL_SPOOL=/tmp/x", p0, NULL };
        snprintf(p0, sizeof(p0), "HOOKSPOOL_SECRET_FILE=%s", sf);
        a = hs_ctx_config(ctx, params, 1000, err, sizeof(err));
        CHECK(a != NULL);
        CHECK(hs_ctx_secrets(ctx, a, 1000, &sec, err, sizeof(err)) == -1 &&
              strstr(err, "HOOKSPOOL_SECRET_FILE"));
        write_file(sf, "one\ntwo\n");
        /* same second: not re-checked yet */
        CHECK(hs_ctx_secrets(ctx, a, 1000, &sec, err, sizeof(err)) == -1);
        n = hs_ctx_secrets(ctx, a, 1001, &sec, err, sizeof(err));
        /* hookspool.conf beside the program gives HOOKSPOOL_SECRET=b too */
        CHECK_MSG(n == 3, "%d %s", n, err);
        CHECK(n == 3 && sec[0].key_len == 1 && sec[1].key_len == 3 &&
              memcmp(sec[2].key, "two", 3) == 0);
        write_file(sf, "three\n");
        n = hs_ctx_secrets(ctx, a, 1001, &sec, err, sizeof(err));
        CHECK(n == 3);
        n = hs_ctx_secrets(ctx, a, 1002, &sec, err, sizeof(err));
        CHECK(n == 2 && sec[1].key_len == 5 && memcmp(sec[1].key, "three", 5) == 0);
        /* a broken rewrite is an error, not a silent keep of the old */
        write_file(sf, "\n");
        CHECK(hs_ctx_secrets(ctx, a, 1003, &sec, err, sizeof(err)) == -1);
    }
    {
        /* a changed configuration file is seen within a second */
        char p0[300];
        char *params[] = { p0, NULL };
        snprintf(p0, sizeof(p0), "HOOKSPOOL_CONFIG=%s", conf);
        write_file(conf, "HOOKSPOOL_SPOOL=/tmp/from-file\nHOOKSPOOL_SECRET=s\n"
                         "HOOKSPOOL_ENDPOINT=changed-and-longer\n");
        a = hs_ctx_config(ctx, params, 1005, err, sizeof(err));
        CHECK(a && strcmp(a->endpoint, "changed-and-longer") == 0);
        write_file(conf, "HOOKSPOOL_SPOOL=/tmp/from-file\nHOOKSPOOL_TOLERANCE=x\n");
        CHECK(hs_ctx_config(ctx, params, 1006, err, sizeof(err)) == NULL &&
              strstr(err, "HOOKSPOOL_TOLERANCE"));
    }
    {
        /* The last request's raw settings are a shortcut, never a stale
         * answer: alternate endpoints, change the environment under the
         * same parameters, and push the remembered entry out of the
         * cache (more distinct configurations than it keeps), then ask
         * again. */
        char names[HS_CTX_MAX_CONFIGS + 2][64];
        char *p1[] = { "HOOKSPOOL_SPOOL=/tmp/x", "HOOKSPOOL_SECRET=s", "HOOKSPOOL_ENDPOINT=one", NULL };
        char *p2[] = { "HOOKSPOOL_SPOOL=/tmp/x", "HOOKSPOOL_SECRET=s", "HOOKSPOOL_ENDPOINT=two", NULL };
        char *pk[] = { "HOOKSPOOL_SPOOL=/tmp/x", "HOOKSPOOL_SECRET=s", NULL, NULL };
        int k, ok = 1;
        for (k = 0; k < 3; k++) {
            a = hs_ctx_config(ctx, p1, 1010, err, sizeof(err));
            b = hs_ctx_config(ctx, p2, 1010, err, sizeof(err));
            if (!a || !b || strcmp(a->endpoint, "one") != 0 || strcmp(b->endpoint, "two") != 0) ok = 0;
        }
        CHECK(ok);
        CHECK(hs_ctx_config(ctx, p2, 1010, err, sizeof(err)) == b);
        setenv("HOOKSPOOL_TOLERANCE", "77", 1);
        c = hs_ctx_config(ctx, p2, 1010, err, sizeof(err));
        CHECK(c && c->tolerance == 77 && strcmp(c->endpoint, "two") == 0);
        unsetenv("HOOKSPOOL_TOLERANCE");
        c = hs_ctx_config(ctx, p2, 1010, err, sizeof(err));
        CHECK(c && c->tolerance != 77);
        a = hs_ctx_config(ctx, p1, 1010, err, sizeof(err));
        for (k = 0; k < HS_CTX_MAX_CONFIGS + 2; k++) {
            snprintf(names[k], sizeof(names[k]), "HOOKSPOOL_ENDPOINT=n%d", k);
            pk[2] = names[k];
            c = hs_ctx_config(ctx, pk, 1010, err, sizeof(err));
            if (!c || strcmp(c->endpoint, names[k] + strlen("HOOKSPOOL_ENDPOINT=")) != 0) ok = 0;
            /* the previous request's entry may have been re-parsed for this one */
            c = hs_ctx_config(ctx, pk, 1010, err, sizeof(err));
            if (!c || strcmp(c->endpoint, names[k] + strlen("HOOKSPOOL_ENDPOINT=")) != 0) ok = 0;
        }
        CHECK(ok);
        a = hs_ctx_config(ctx, p1, 1010, err, sizeof(err));
        CHECK(a && strcmp(a->endpoint, "one") == 0);
    }
    {
        /* the same parameters twice in a row, the file changed between */
        char p0[300];
        char *params[] = { p0, NULL };
        snprintf(p0, sizeof(p0), "HOOKSPOOL_CONFIG=%s", conf);
        write_file(conf, "HOOKSPOOL_SPOOL=/tmp/from-file\nHOOKSPOOL_SECRET=s\nHOOKSPOOL_ENDPOINT=aaa\n");
        a = hs_ctx_config(ctx, params, 1020, err, sizeof(err));
        CHECK(a && strcmp(a->endpoint, "aaa") == 0);
        write_file(conf, "HOOKSPOOL_SPOOL=/tmp/from-file\nHOOKSPOOL_SECRET=s\nHOOKSPOOL_ENDPOINT=bbbb\n");
        a = hs_ctx_config(ctx, params, 1021, err, sizeof(err));
        CHECK(a && strcmp(a->endpoint, "bbbb") == 0);
    }
    hs_ctx_free(ctx);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
}

/* The process setting HOOKSPOOL_THREADS and its fsync-dependent default. */
static void test_threads(void)
{
    int n = 0;
    CHECK(hs_conf_threads(NULL, NULL, &n) == 0 && n == HS_CONF_THREADS_FLUSH);
    CHECK(hs_conf_threads(NULL, "always", &n) == 0 && n == HS_CONF_THREADS_FLUSH);
    CHECK(hs_conf_threads(NULL, "never", &n) == 0 && n == HS_CONF_THREADS_NOFLUSH);
    /* only the exact value the configuration accepts counts */
    CHECK(hs_conf_threads(NULL, "Never", &n) == 0 && n == HS_CONF_THREADS_FLUSH);
    CHECK(hs_conf_threads(NULL, "", &n) == 0 && n == HS_CONF_THREADS_FLUSH);
    CHECK(HS_CONF_THREADS_FLUSH > 1 && HS_CONF_THREADS_NOFLUSH == 1);
    /* an explicit value wins over either default */
    CHECK(hs_conf_threads("8", "never", &n) == 0 && n == 8);
    CHECK(hs_conf_threads("1", "always", &n) == 0 && n == 1);
    CHECK(hs_conf_threads("64", NULL, &n) == 0 && n == 64);
    CHECK(hs_conf_threads("0", NULL, &n) == -1);
    CHECK(hs_conf_threads("65", "never", &n) == -1);
    CHECK(hs_conf_threads("4 ", NULL, &n) == -1);
    CHECK(hs_conf_threads("", NULL, &n) == -1);
}

/* HS_CONF_NO_SECRET (the shell's status): no secret required, a secret
 * that is set still checked, and the settings cache never hands a
 * configuration parsed without the requirement to a caller that has it. */
static void test_no_secret(void)
{
    char *kv[] = { "HOOKSPOOL_SPOOL=/tmp/s", NULL };
    char *bad[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=hex:zz", NULL };
    hs_config *c = malloc(sizeof(*c));
    hs_settings *s = hs_settings_new(NULL);
    const hs_config *a;
    char err[512] = "";
    int fresh = -1;

    unsetenv("HOOKSPOOL_SECRET");
    unsetenv("HOOKSPOOL_SECRET_OLD");
    unsetenv("HOOKSPOOL_SECRET_FILE");
    unsetenv("HOOKSPOOL_CONFIG");
    CHECK(hs_conf_parse(arr_lookup, kv, c, err, 256) == -1 &&
          strncmp(err, "HOOKSPOOL_SECRET:", 17) == 0);
    CHECK(hs_conf_parse_flags(arr_lookup, kv, HS_CONF_NO_SECRET, c, err, 256) == 0 &&
          c->nsecrets == 0 && c->secret_file[0] == '\0' && strcmp(c->spool, "/tmp/s") == 0);
    CHECK(hs_conf_parse_flags(arr_lookup, bad, HS_CONF_NO_SECRET, c, err, 256) == -1 &&
          strncmp(err, "HOOKSPOOL_SECRET:", 17) == 0);

    a = hs_settings_config(s, kv, HS_CONF_NO_SECRET, 1000, &fresh, err, sizeof(err));
    CHECK(a != NULL && fresh == 1);
    a = hs_settings_config(s, kv, HS_CONF_NO_SECRET, 1000, &fresh, err, sizeof(err));
    CHECK(a != NULL && fresh == 0);                  /* kept */
    err[0] = '\0';
    a = hs_settings_config(s, kv, 0, 1000, &fresh, err, sizeof(err));
    CHECK(a == NULL && strncmp(err, "HOOKSPOOL_SECRET:", 17) == 0);
    a = hs_settings_config(s, kv, HS_CONF_NO_SECRET, 1000, &fresh, err, sizeof(err));
    CHECK(a != NULL);
    hs_settings_free(s);
    free(c);
}

/* hs_settings_read_secrets, the one reader of secret files (the
 * receiver's and `hookspool sign`'s): at most HS_CONF_MAX_FILE bytes,
 * and a larger file is an error, never read cut short. */
static void test_read_secrets(void)
{
    char dir[] = "/tmp/hs-test-secrets-XXXXXX", path[256], err[512];
    hs_secret *out = calloc(HS_CONF_MAX_SECRETS, sizeof(*out));
    hs_scheme sc;
    size_t size;
    FILE *f;

    CHECK(mkdtemp(dir) != NULL);
    CHECK(hs_scheme_parse("caliza", 6, &sc) == 0);
    snprintf(path, sizeof(path), "%s/secrets", dir);
    for (size = HS_CONF_MAX_FILE; size <= HS_CONF_MAX_FILE + 1; size++) {
        size_t i;
        f = fopen(path, "w");
        fputs("first-secret\n", f);
        for (i = strlen("first-secret\n"); i + 1 < size; i++) fputc('#', f);
        fputc('\n', f);
        fclose(f);
        err[0] = '\0';
        if (size == HS_CONF_MAX_FILE) {
            CHECK(hs_settings_read_secrets(&sc, path, out, HS_CONF_MAX_SECRETS, NULL, err,
                                           sizeof(err)) == 1);
            CHECK(out[0].key_len == 12 && memcmp(out[0].key, "first-secret", 12) == 0);
        } else {
            CHECK(hs_settings_read_secrets(&sc, path, out, HS_CONF_MAX_SECRETS, NULL, err,
                                           sizeof(err)) == -1);
            CHECK_MSG(strstr(err, "HOOKSPOOL_SECRET_FILE: cannot read") != NULL &&
                      strstr(err, "larger than 64 KiB") != NULL, "%s", err);
        }
    }
    unlink(path);
    CHECK(hs_settings_read_secrets(&sc, path, out, HS_CONF_MAX_SECRETS, NULL, err,
                                   sizeof(err)) == -1 && strstr(err, path) != NULL);
    rmdir(dir);
    free(out);
}

/* The spool commands' settings (hs_conf_parse_spool): the library's own
 * defaults and checks, with nothing else required. */
static void test_spool_settings(void)
{
    char *none[] = { NULL };
    char *full[] = { "HOOKSPOOL_SPOOL=/tmp/s", "HOOKSPOOL_SECRET=abc", NULL };
    char *set[] = { "HOOKSPOOL_ROTATE_SECONDS=5", "HOOKSPOOL_ROTATE_BYTES=4096",
                    "HOOKSPOOL_FSYNC=never", "HOOKSPOOL_UMASK=027", NULL };
    char *badsec[] = { "HOOKSPOOL_ROTATE_SECONDS=5s", NULL };
    char *badfs[] = { "HOOKSPOOL_FSYNC=sometimes", NULL };
    char *badum[] = { "HOOKSPOOL_UMASK=8", NULL };
    hs_config *c = malloc(sizeof(*c)), *d = malloc(sizeof(*d));
    char err[256];

    CHECK(parse(full, d, err) == 0);
    CHECK(hs_conf_parse_spool(arr_lookup, none, c, err, sizeof(err)) == 0);
    CHECK(c->rotate_bytes == d->rotate_bytes && c->rotate_seconds == d->rotate_seconds &&
          c->fsync_always == d->fsync_always);
    CHECK(c->umask == HS_CONF_UMASK_SHELL && d->umask == HS_CONF_UMASK_DEF);
    CHECK(hs_conf_parse_spool(arr_lookup, set, c, err, sizeof(err)) == 0);
    CHECK(c->rotate_seconds == 5 && c->rotate_bytes == 4096 && c->fsync_always == 0 &&
          c->umask == 027);
    CHECK(hs_conf_parse_spool(arr_lookup, badsec, c, err, sizeof(err)) == -1 &&
          strncmp(err, "HOOKSPOOL_ROTATE_SECONDS:", 25) == 0);
    CHECK(hs_conf_parse_spool(arr_lookup, badfs, c, err, sizeof(err)) == -1 &&
          strncmp(err, "HOOKSPOOL_FSYNC:", 16) == 0);
    CHECK(hs_conf_parse_spool(arr_lookup, badum, c, err, sizeof(err)) == -1 &&
          strncmp(err, "HOOKSPOOL_UMASK:", 16) == 0);
    free(c);
    free(d);
}

int main(void)
{
    test_defaults();
    test_threads();
    test_numbers();
    test_secrets();
    test_template();
    test_file_parse();
    test_secret_file_parse();
    test_ctx_sources();
    test_no_secret();
    test_read_secrets();
    test_spool_settings();
    return T_END();
}
