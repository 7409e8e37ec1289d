/*
 * fuzz_config.c - hs_conf_parse with fuzzed values for every setting,
 * hs_conf_file_parse and hs_conf_secret_file_parse on fuzzed text, and
 * hs_conf_parse_num against a reference.
 *
 * Input: byte 0 picks the mode (mod 4), bytes 1..3 are parameters, the
 * rest is the mode's text:
 *  0  hs_conf_parse: bytes 1..3 are a presence mask over hs_conf_names
 *     (HOOKSPOOL_SIGNED and HOOKSPOOL_SIGNATURE included: a
 *     template-ALG-ENC scheme is parsed from fuzzed shapes);
 *     the text is NUL-separated values in hs_conf_names order (a setting
 *     whose bit is clear, or whose field is missing, is not set).
 *     Properties: the result is the same twice (struct and message); an
 *     error is one printable ASCII line that never quotes a secret or the
 *     status token; a success has every field within SPEC's ranges and
 *     is what the values say (a dedup JSON item is a valid RFC 6901
 *     pointer).
 *  1  hs_conf_file_parse on the text, then hs_conf_parse over its pairs
 *     (the last line of a name wins, as in ctx.c). Byte 1 makes the pair
 *     callback stop at that call. Properties: every name passed is a
 *     known HOOKSPOOL_ name without surrounding whitespace; stopping at
 *     call k is -1 after exactly k calls; errors name a line.
 *  2  hs_conf_secret_file_parse for the scheme byte 1 picks, at most
 *     1 + byte 2 % 16 secrets. Properties: the count is in range, every
 *     secret has a key and the source, errors never quote a line.
 *  3  hs_conf_parse_num(text, min, max) against a reference parser.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"

#define REQUIRE(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz_config: property failed: %s: ", #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
        abort(); \
    } \
} while (0)

#define NNAMES 33   /* hs_conf_names without its NULL, checked at run time */
#define MAXPAIRS 256

static const char *const schemes[] = {
    "caliza", "github", "stripe", "standard", "shopify", "bearer",
    "token:X-Token", "hmac-sha256-hex:X-Sig", "hmac-sha1-base64:X-S:sha1=",
    "slack", "twitch", "okta", "graph", "template-sha256-hex",
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

/* Every text hs_conf_parse's messages are made of: a "secret" that is a
 * substring of them may appear in a message without being quoted. */
static const char vocab[] =
    "HOOKSPOOL_SCHEME: unknown scheme (caliza, github, stripe, standard, shopify, bearer, "
    "token:Header, hmac-ALG-ENC:Header[:prefix])"
    "HOOKSPOOL_SPOOL: not set (the spool directory is required)"
    "HOOKSPOOL_SPOOL: must be an absolute path"
    "HOOKSPOOL_ENDPOINT: must be 1 to 128 bytes"
    ": not a decimal integer from 0 to 2^62 1 to 2^62"
    "HOOKSPOOL_TOLERANCE HOOKSPOOL_MAX_BODY HOOKSPOOL_ROTATE_BYTES HOOKSPOOL_ROTATE_SECONDS "
    "HOOKSPOOL_DEDUP_SECONDS HOOKSPOOL_MAX_LAG HOOKSPOOL_MIN_FREE HOOKSPOOL_INVALID_KEEP"
    "HOOKSPOOL_FSYNC: must be always or never"
    "HOOKSPOOL_UMASK: must be octal, 000 to 777"
    "HOOKSPOOL_DEDUP: must be off, content, json:/pointer[,/pointer] or header:Name (at most 8 parts)"
    "HOOKSPOOL_KEEP_HEADERS: must be a comma list of at most 16 header names"
    "HOOKSPOOL_STATUS_TOKEN: longer than 512 bytes"
    "HOOKSPOOL_SECRET: empty, longer than 1024 bytes or badly encoded after its base64:/hex: prefix"
    "HOOKSPOOL_SECRET_OLD: empty, longer than 1024 bytes or badly encoded after its base64:/hex: prefix"
    "HOOKSPOOL_SECRET_FILE: must be an absolute path"
    "HOOKSPOOL_SECRET: no secret configured (set HOOKSPOOL_SECRET or HOOKSPOOL_SECRET_FILE)";

typedef struct {
    const char *name[MAXPAIRS];
    const char *val[MAXPAIRS];
    size_t      n;
    char       *own[2 * MAXPAIRS];   /* copies to free */
    size_t      nown;
} table;

/* The last entry of that name wins (a config file's later line). */
static const char *tlookup(void *arg, const char *name)
{
    const table *t = arg;
    size_t i = t->n;
    while (i-- > 0)
        if (strcmp(t->name[i], name) == 0) return t->val[i];
    return NULL;
}

static char *cstr(const void *p, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL) abort();
    if (n) memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

static void tfree(table *t)
{
    size_t i;
    for (i = 0; i < t->nown; i++) free(t->own[i]);
    t->n = t->nown = 0;
}

static int printable_line(const char *s)
{
    if (*s == '\0') return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
    return 1;
}

static int is_token(const char *s)
{
    if (*s == '\0') return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return 0;
    }
    return 1;
}

/* The texts of the messages of the settings issues 15 to 19 added (template-ALG-ENC's
 * shapes, HOOKSPOOL_VERIFY_TOKEN); the scheme forms come from
 * hs_scheme_forms, so a new row needs no change here. */
static const char tvocab[] =
    "HOOKSPOOL_SIGNED: HOOKSPOOL_SIGNATURE: only with HOOKSPOOL_SCHEME=template-ALG-ENC"
    "unknown placeholder {...}: the placeholders are {body}, {ts}, {ts:Header}, "
    "{ts_ms:Header}, {header:Name}, {query:name}, {json:/pointer}; {{ and }} are braces"
    "write prefix{mac}, or key={ts},key={mac} (either order; {ts_ms} for milliseconds; "
    "one separator character between the items)"
    "HOOKSPOOL_VERIFY_TOKEN: longer than bytes"
    /* issues 16, 17 and 19: the public-key, URL, form, PIX and archive
     * settings' messages */
    ": only with a scheme that verifies with a public key (standard, discord, sendgrid)"
    "HOOKSPOOL_ALLOW_FROM: must be a comma list of at most  IPv4 or IPv6 addresses or CIDR blocks (no bits set past the prefix)"
    "HOOKSPOOL_BASE_PATH: must be a URL path starting with / (at most  bytes)"
    "HOOKSPOOL_BATCH: must be off, array, pix or a JSON Pointer"
    "HOOKSPOOL_FORM_JSON: longer than  bytes"
    "HOOKSPOOL_MTLS_ISSUER: longer than  bytes"
    "HOOKSPOOL_MTLS_SUBJECT: longer than  bytes"
    "HOOKSPOOL_PRESET: pix needs mutual TLS (HOOKSPOOL_MTLS_SUBJECT), a query token (HOOKSPOOL_SCHEME=query:NAME) or HOOKSPOOL_ALLOW_FROM"
    "HOOKSPOOL_PRESET: unknown preset (pix)"
    "HOOKSPOOL_PUBLIC_KEY: not set ( verifies with the sender's public key)"
    "HOOKSPOOL_PUBLIC_URL: must be the http:// or https:// URL the sender calls, without query or fragment, at most  bytes"
    "HOOKSPOOL_PUBLIC_URL: not set ( signs the URL it calls: set it to that URL exactly, as configured at the sender)"
    "HOOKSPOOL_PUBLIC_URL: only visible ASCII (percent-encode the rest as the sender does)"
    "HOOKSPOOL_PUBLIC_URL: only with a scheme that signs the URL (twilio, square)"
    "HOOKSPOOL_SCHEME:  authenticates nothing by itself; set HOOKSPOOL_MTLS_SUBJECT (mutual TLS) or HOOKSPOOL_ALLOW_FROM"
    "HOOKSPOOL_SECRET:  verifies with a public key, not a secret (set HOOKSPOOL_PUBLIC_KEY)";

/* A value that must never appear in a message: long enough to matter
 * and not itself a piece of the message texts. A template's message
 * names an unknown placeholder of HOOKSPOOL_SIGNED as written (scheme.h:
 * a name from the texts): a secret typed into that setting is quoted
 * from there, which is not a leak of the secret settings. */
static void no_leak(const table *t, const char *err, const char *v)
{
    char forms[1024];
    const char *sg = tlookup((void *)t, "HOOKSPOOL_SIGNED");
    hs_scheme_forms(forms, sizeof forms);
    if (v == NULL || strlen(v) < 6 || strstr(vocab, v) != NULL || strstr(tvocab, v) != NULL ||
        strstr(forms, v) != NULL || (sg != NULL && strstr(sg, v) != NULL))
        return;
    REQUIRE(strstr(err, v) == NULL, "message quotes a secret: [%s]", err);
}

/* Parse with lookup twice; check determinism, the message, the ranges. */
static void parse_and_check(table *t)
{
    hs_config *a = calloc(2, sizeof(*a));
    char e1[300], e2[300];
    int r1, r2;
    size_t i;
    const char *v;

    if (a == NULL) abort();
    memset(e1, 'x', sizeof(e1));
    e1[sizeof(e1) - 1] = '\0';
    strcpy(e2, e1);
    r1 = hs_conf_parse(tlookup, t, &a[0], e1, sizeof(e1));
    r2 = hs_conf_parse(tlookup, t, &a[1], e2, sizeof(e2));
    REQUIRE(r1 == r2 && (r1 == 0 || r1 == -1), "%d then %d", r1, r2);
    REQUIRE(memcmp(&a[0], &a[1], sizeof(a[0])) == 0, "two parses differ");
    if (r1 != 0) {
        REQUIRE(strcmp(e1, e2) == 0, "two messages differ");
        REQUIRE(printable_line(e1), "message not one printable line: [%s]", e1);
        REQUIRE(strncmp(e1, "HOOKSPOOL_", 10) == 0, "message names no setting: [%s]", e1);
        no_leak(t, e1, tlookup(t, "HOOKSPOOL_SECRET"));
        no_leak(t, e1, tlookup(t, "HOOKSPOOL_SECRET_OLD"));
        no_leak(t, e1, tlookup(t, "HOOKSPOOL_STATUS_TOKEN"));
        free(a);
        return;
    }
    {
        const hs_config *c = &a[0];
        v = tlookup(t, "HOOKSPOOL_SPOOL");
        REQUIRE(v && strcmp(c->spool, v) == 0 && c->spool[0] == '/', "spool [%s]", c->spool);
        /* The endpoint defaults to the scheme's name, or "pix" under
         * HOOKSPOOL_PRESET=pix (README, the settings table). */
        v = tlookup(t, "HOOKSPOOL_ENDPOINT");
        REQUIRE(strcmp(c->endpoint, v ? v : c->preset_pix ? "pix" : c->scheme.name) == 0,
                "endpoint [%s]", c->endpoint);
        REQUIRE(strlen(c->endpoint) >= 1 && strlen(c->endpoint) <= HS_CONF_MAX_ENDPOINT, "endpoint length");
        REQUIRE(c->tolerance >= 1 && c->max_body >= 1 && c->rotate_bytes >= 1 &&
                c->rotate_seconds >= 1 && c->dedup_seconds >= 1 && c->max_lag >= 1 &&
                c->min_free >= 1 && c->invalid_keep >= 0, "a number below its minimum");
        REQUIRE(c->tolerance <= HS_CONF_NUM_MAX && c->max_body <= HS_CONF_NUM_MAX &&
                c->rotate_bytes <= HS_CONF_NUM_MAX && c->rotate_seconds <= HS_CONF_NUM_MAX &&
                c->dedup_seconds <= HS_CONF_NUM_MAX && c->max_lag <= HS_CONF_NUM_MAX &&
                c->min_free <= HS_CONF_NUM_MAX && c->invalid_keep <= HS_CONF_NUM_MAX,
                "a number above 2^62");
        REQUIRE(c->umask <= 0777, "umask %o", (unsigned)c->umask);
        REQUIRE(c->fsync_always == 0 || c->fsync_always == 1, "fsync");
        REQUIRE(c->nsecrets <= 2 && (c->nsecrets > 0 || c->secret_file[0] == '/'), "secrets");
        for (i = 0; i < c->nsecrets; i++)
            REQUIRE(c->secrets[i].key_len >= 1 && c->secrets[i].key_len <= HS_SECRET_MAX,
                    "secret %zu length %zu", i, c->secrets[i].key_len);
        /* json: and header: have 1 to HS_CONF_MAX_DEDUP items; off and
         * content (the event's own bytes) have none. */
        REQUIRE((c->dedup == HS_DEDUP_OFF || c->dedup == HS_DEDUP_CONTENT) == (c->ndedup == 0) &&
                c->ndedup <= HS_CONF_MAX_DEDUP,
                "dedup %d with %zu items", (int)c->dedup, c->ndedup);
        for (i = 0; i < c->ndedup; i++) {
            const char *it = c->dedup_items[i];
            REQUIRE(strlen(it) >= 1 && strlen(it) <= HS_CONF_MAX_ITEM, "dedup item length");
            /* config.h and the README promise JSON Pointers: one that
             * hs_json_pointer refuses (-1) could never find anything and
             * would turn dedup off without a word. */
            if (c->dedup == HS_DEDUP_JSON) {
                const char *pv;
                size_t pl;
                REQUIRE(it[0] == '/', "pointer [%s]", it);
                REQUIRE(hs_json_pointer("{}", 2, it, strlen(it), &pv, &pl) != -1,
                        "HOOKSPOOL_DEDUP accepted [%s], which is not a JSON Pointer", it);
            }
            else REQUIRE(is_token(it), "header name [%s]", it);
        }
        REQUIRE(c->nkeep <= HS_CONF_MAX_KEEP, "nkeep %zu", c->nkeep);
        for (i = 0; i < c->nkeep; i++)
            REQUIRE(is_token(c->keep[i]) && strlen(c->keep[i]) <= HS_CONF_MAX_ITEM,
                    "kept header [%s]", c->keep[i]);
        v = tlookup(t, "HOOKSPOOL_STATUS_TOKEN");
        REQUIRE(c->has_status_token == (v != NULL && *v != '\0'), "status token presence");
        if (c->has_status_token) REQUIRE(strcmp(c->status_token, v) == 0, "status token");
        /* A template is accepted only with a shape (hs_scheme_template):
         * one without a signature header would authenticate nothing. */
        if (c->scheme.kind == HS_SCHEME_TEMPLATE)
            REQUIRE(hs_scheme_sig_header(&c->scheme) != NULL &&
                    tlookup(t, "HOOKSPOOL_SIGNED") != NULL &&
                    tlookup(t, "HOOKSPOOL_SIGNATURE") != NULL, "template without a shape");
        else
            REQUIRE(tlookup(t, "HOOKSPOOL_SIGNED") == NULL &&
                    tlookup(t, "HOOKSPOOL_SIGNATURE") == NULL,
                    "HOOKSPOOL_SIGNED or _SIGNATURE accepted for %s", c->scheme.name);
    }
    free(a);
}

struct pairs_ctx {
    table  *t;
    size_t  calls, stop_at;
};

static int pair_cb(void *arg, const char *name, const char *value)
{
    struct pairs_ctx *p = arg;
    size_t i, nl = strlen(name);
    int known = strcmp(name, "HOOKSPOOL_CONFIG") == 0;

    p->calls++;
    for (i = 0; hs_conf_names[i] != NULL; i++)
        if (strcmp(hs_conf_names[i], name) == 0) known = 1;
    REQUIRE(known, "unknown name passed: [%s]", name);
    REQUIRE(nl > 0 && name[nl - 1] != ' ' && name[nl - 1] != '\t' && name[0] != ' ',
            "name not trimmed: [%s]", name);
    REQUIRE(strchr(value, '\n') == NULL, "value holds a newline");
    if (p->stop_at != 0 && p->calls == p->stop_at) return -1;
    if (p->t->n < MAXPAIRS) {
        char *n = cstr(name, nl), *v = cstr(value, strlen(value));
        p->t->name[p->t->n] = n;
        p->t->val[p->t->n++] = v;
        p->t->own[p->t->nown++] = n;
        p->t->own[p->t->nown++] = v;
    }
    return 0;
}

/* Reference decimal parser: 0 and *out when s is 1+ digits whose value
 * fits in long long and lies in [min, max], else -1. */
static int ref_num(const char *s, long long min, long long max, long long *out)
{
    unsigned long long v = 0;
    if (*s == '\0') return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v > ((unsigned long long)LLONG_MAX - (unsigned long long)(*s - '0')) / 10) return -1;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    if ((long long)v < min || (long long)v > max) return -1;
    *out = (long long)v;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t p[4] = { 0, 0, 0, 0 };
    table *t;
    char err[256];
    size_t i, n = 0;

    while (hs_conf_names[n] != NULL) n++;
    REQUIRE(n == NNAMES, "hs_conf_names has %zu names", n);
    memcpy(p, data, size < 4 ? size : 4);
    data += size < 4 ? size : 4;
    size -= size < 4 ? size : 4;
    t = calloc(1, sizeof(*t));
    if (t == NULL) abort();

    switch (p[0] % 4) {
    case 0: {
        /* One bit per name (NNAMES < 64), from the three control bytes
         * (the upper bits repeat them, mixed, so every name can be set). */
        uint64_t mask = (uint64_t)p[1] | (uint64_t)p[2] << 8 | (uint64_t)p[3] << 16 |
                        (uint64_t)(p[1] ^ p[3]) << 24 | (uint64_t)(p[2] ^ p[1]) << 32 |
                        (uint64_t)(p[3] ^ p[2]) << 40;
        size_t start = 0, k = 0;
        for (i = 0; i <= size && k < NNAMES; i++) {
            if (i < size && data[i] != 0) continue;
            if (mask & (1ull << k)) {
                char *v = cstr(data + start, i - start);
                t->name[t->n] = hs_conf_names[k];
                t->val[t->n++] = v;
                t->own[t->nown++] = v;
            }
            k++;
            start = i + 1;
        }
        parse_and_check(t);
        break;
    }
    case 1: {
        struct pairs_ctx pc = { t, 0, p[1] % 8 };
        char *text = malloc(size ? size : 1);
        int rc;
        if (text == NULL) abort();
        if (size) memcpy(text, data, size);
        err[0] = '\0';
        rc = hs_conf_file_parse(text, size, pair_cb, &pc, err, sizeof(err));
        REQUIRE(rc == 0 || rc == -1, "rc %d", rc);
        if (pc.stop_at != 0 && pc.calls == pc.stop_at) {
            REQUIRE(rc == -1, "the callback's stop was ignored");
        } else if (rc != 0) {
            REQUIRE(strncmp(err, "line ", 5) == 0 || strncmp(err, "larger than", 11) == 0,
                    "message: [%s]", err);
        }
        free(text);
        if (rc == 0) parse_and_check(t);
        break;
    }
    case 2: {
        hs_scheme sc;
        hs_secret *out;
        size_t max = 1 + p[2] % HS_CONF_MAX_SECRETS;
        char *text = malloc(size ? size : 1);
        int rc;
        static const char src[] = "SECRET_FILE";
        if (text == NULL) abort();
        if (size) memcpy(text, data, size);
        REQUIRE(hs_scheme_parse(schemes[p[1] % NSCHEMES], strlen(schemes[p[1] % NSCHEMES]), &sc) == 0,
                "scheme");
        out = calloc(max, sizeof(*out));
        if (out == NULL) abort();
        err[0] = '\0';
        rc = hs_conf_secret_file_parse(&sc, text, size, src, out, max, err, sizeof(err));
        REQUIRE(rc == -1 || (rc >= 1 && (size_t)rc <= max), "rc %d, max %zu", rc, max);
        if (rc > 0) {
            for (i = 0; i < (size_t)rc; i++)
                REQUIRE(out[i].key_len >= 1 && out[i].key_len <= HS_SECRET_MAX &&
                        out[i].source == src, "secret %zu", i);
        } else {
            REQUIRE(printable_line(err), "message: [%s]", err);
            REQUIRE(strncmp(err, "line ", 5) == 0 || strncmp(err, "more than ", 10) == 0 ||
                    strcmp(err, "holds no secret") == 0 || strncmp(err, "larger than", 11) == 0,
                    "message: [%s]", err);
        }
        free(out);
        free(text);
        break;
    }
    default: {
        static const long long mins[] = { 0, 1, 5, 1000 };
        static const long long maxs[] = { HS_CONF_NUM_MAX, LLONG_MAX, 0, 777, 1LL << 31 };
        long long lo = mins[p[1] % 4], hi = maxs[p[2] % 5], got = -7, want = -7;
        char *s = cstr(data, size);
        int rc = hs_conf_parse_num(s, lo, hi, &got);
        int wrc = ref_num(s, lo, hi, &want);
        REQUIRE(rc == wrc && (rc != 0 || got == want),
                "[%s] in [%lld, %lld]: %d/%lld, reference %d/%lld", s, lo, hi, rc, got, wrc, want);
        free(s);
        break;
    }
    }
    tfree(t);
    free(t);
    return 0;
}
