/*
 * fuzz_dedup.c - hs_dedup_key on a fuzzed event with a fuzzed dedup
 * configuration, parsed by hs_conf_parse as in production.
 *
 * Input: byte 0 picks the scheme (its default dedup, and the svix-id
 * fallback of the standard scheme), byte 1 bit 0 says whether
 * HOOKSPOOL_DEDUP comes from the input; then NUL-separated: the
 * HOOKSPOOL_DEDUP value, a block of "Name: value" header lines, and the
 * event (the rest). Events that hs_json_minify refuses are skipped: the
 * handler never builds a key for them.
 *
 * Properties:
 *  - the key, when produced, is appended (what was in the buffer stays),
 *    is valid JSON and already minified, and is an array of exactly one
 *    element per configured item;
 *  - each element is what the item names: for a JSON Pointer the bytes
 *    hs_json_pointer finds (null where it finds nothing), for a header a
 *    JSON string when its value is UTF-8, else {"hex":"<its bytes>"}
 *    exactly (null when absent);
 *  - no key (0) leaves the buffer as it was, and happens only when dedup
 *    is off or no item found a non-null value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dedup.h"
#include "json.h"

#define REQUIRE(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz_dedup: property failed: %s: ", #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
        abort(); \
    } \
} while (0)

#define MAXH 32
#define PRE  "PRE"

static const char *const schemes[] = {
    "caliza", "github", "stripe", "standard", "shopify", "bearer",
    "token:X-Token", "hmac-sha256-hex:X-Sig",
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

typedef struct {
    char  *name[MAXH];
    char  *val[MAXH];
    size_t n;
} hdrs;

static const char *hlook(void *arg, const char *name)
{
    hdrs *h = arg;
    size_t i;
    for (i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0) return h->val[i];
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

/* "Name: value" lines (or "Name:value"); a line without ':' is skipped. */
static void hparse(hdrs *h, const uint8_t *s, size_t n)
{
    const uint8_t *end = s + n;
    while (s < end && h->n < MAXH) {
        const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
        const uint8_t *le = nl ? nl : end;
        const uint8_t *colon = memchr(s, ':', (size_t)(le - s));
        if (colon != NULL) {
            const uint8_t *v = colon + 1;
            if (v < le && *v == ' ') v++;
            h->name[h->n] = cstr(s, (size_t)(colon - s));
            h->val[h->n] = cstr(v, (size_t)(le - v));
            h->n++;
        }
        s = nl ? nl + 1 : end;
    }
}

struct settings {
    const char *scheme;
    const char *dedup;   /* NULL: the scheme's default */
};

static const char *lookup(void *arg, const char *name)
{
    const struct settings *st = arg;
    if (strcmp(name, "HOOKSPOOL_SCHEME") == 0) return st->scheme;
    if (strcmp(name, "HOOKSPOOL_SPOOL") == 0) return "/nonexistent/hookspool-fuzz";
    if (strcmp(name, "HOOKSPOOL_SECRET") == 0) return "fuzz-dedup-secret";
    if (strcmp(name, "HOOKSPOOL_DEDUP") == 0) return st->dedup;
    return NULL;
}

/* The end of the JSON value starting at k[i] inside a minified array
 * text: used only to split the key into its elements, so it relies on
 * the key having been validated first. */
static size_t elem_end(const char *k, size_t n, size_t i)
{
    size_t depth = 0;
    int in_str = 0;
    for (; i < n; i++) {
        char c = k[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') { if (depth == 0) return i; depth--; }
        else if (c == ',' && depth == 0) return i;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct settings st;
    hs_config *cfg;
    hdrs h = { { 0 }, { 0 }, 0 };
    hs_buf ev = HS_BUF_INIT, out = HS_BUF_INIT, again = HS_BUF_INIT;
    const uint8_t *f[2] = { NULL, NULL }, *body;
    size_t fl[2] = { 0, 0 }, blen, i, got = 0, start, pos, e;
    char err[256], *dedup = NULL, *event = NULL, *key;
    int rc, any_found = 0;

    if (size < 2) return 0;
    st.scheme = schemes[data[0] % NSCHEMES];
    st.dedup = NULL;
    /* Two NUL-terminated fields, then the event. */
    start = 2;
    for (i = 2; i < size && got < 2; i++) {
        if (data[i] != 0) continue;
        f[got] = data + start;
        fl[got] = i - start;
        got++;
        start = i + 1;
    }
    if (got < 2) return 0;
    body = data + start;
    blen = size - start;
    if (data[1] & 1) {
        dedup = cstr(f[0], fl[0]);
        st.dedup = dedup;
    }
    hparse(&h, f[1], fl[1]);

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) abort();
    if (hs_conf_parse(lookup, &st, cfg, err, sizeof(err)) != 0) goto done;
    REQUIRE(cfg->ndedup <= HS_CONF_MAX_DEDUP, "ndedup %zu", cfg->ndedup);
    if (hs_json_minify(body, blen, &ev, NULL) != HS_JSON_OK) goto done;
    /* The event in a block of its exact size: ASan sees any overread. */
    event = malloc(ev.len);
    if (event == NULL) abort();
    memcpy(event, ev.p, ev.len);

    hs_buf_puts(&out, PRE);
    rc = hs_dedup_key(cfg, event, ev.len, hlook, &h, &out);
    REQUIRE(rc == 0 || rc == 1, "rc %d", rc);
    REQUIRE(out.len >= 3 && memcmp(out.p, PRE, 3) == 0, "the buffer's contents were lost");

    /* What each item finds, independently of the key. Content dedup
     * (HOOKSPOOL_DEDUP=content) keys every event by its bytes: there is
     * always something to find. */
    if (cfg->dedup == HS_DEDUP_CONTENT) any_found = 1;
    for (i = 0; i < cfg->ndedup; i++) {
        const char *item = cfg->dedup_items[i], *v;
        size_t vl;
        if (cfg->dedup == HS_DEDUP_JSON) {
            if (hs_json_pointer(event, ev.len, item, strlen(item), &v, &vl) == 1 &&
                !(vl == 4 && memcmp(v, "null", 4) == 0))
                any_found = 1;
        } else if (cfg->dedup == HS_DEDUP_HEADER) {
            if (hlook(&h, item) != NULL ||
                (cfg->scheme.kind == HS_SCHEME_STANDARD && strcasecmp(item, "webhook-id") == 0 &&
                 hlook(&h, "svix-id") != NULL))
                any_found = 1;
        }
    }
    if (rc == 0) {
        REQUIRE(out.len == 3, "no key, but %zu bytes appended", out.len - 3);
        REQUIRE(cfg->dedup == HS_DEDUP_OFF || !any_found, "a value was found but no key made");
        goto done;
    }
    REQUIRE(cfg->dedup != HS_DEDUP_OFF && any_found, "a key with nothing found");

    key = out.p + 3;
    REQUIRE(hs_json_minify((const unsigned char *)key, out.len - 3, &again, NULL) == HS_JSON_OK,
            "key is not JSON: [%.*s]", (int)(out.len - 3), key);
    REQUIRE(again.len == out.len - 3 && memcmp(again.p, key, again.len) == 0,
            "key is not minified: [%s]", key);
    REQUIRE(key[0] == '[' && key[out.len - 4] == ']', "key is not an array: [%s]", key);

    /* Split into elements and compare each with its item. */
    pos = 1;
    for (i = 0; i < cfg->ndedup; i++) {
        const char *item = cfg->dedup_items[i], *v;
        size_t vl;
        e = elem_end(key, out.len - 3, pos);
        REQUIRE(e > pos && e < out.len - 3, "element %zu missing in [%s]", i, key);
        REQUIRE(key[e] == (i + 1 == cfg->ndedup ? ']' : ','), "element count in [%s]", key);
        if (cfg->dedup == HS_DEDUP_JSON) {
            if (hs_json_pointer(event, ev.len, item, strlen(item), &v, &vl) == 1)
                REQUIRE(vl == e - pos && memcmp(v, key + pos, vl) == 0,
                        "element %zu [%.*s] is not %s's value [%.*s]", i, (int)(e - pos),
                        key + pos, item, (int)vl, v);
            else
                REQUIRE(e - pos == 4 && memcmp(key + pos, "null", 4) == 0,
                        "element %zu: %s finds nothing, yet [%.*s]", i, item, (int)(e - pos),
                        key + pos);
        } else {
            const char *hv = hlook(&h, item);
            if (hv == NULL && cfg->scheme.kind == HS_SCHEME_STANDARD &&
                strcasecmp(item, "webhook-id") == 0)
                hv = hlook(&h, "svix-id");
            if (hv == NULL)
                REQUIRE(e - pos == 4 && memcmp(key + pos, "null", 4) == 0,
                        "element %zu: header %s absent, yet [%.*s]", i, item, (int)(e - pos),
                        key + pos);
            else if (hs_buf_is_utf8(hv, strlen(hv)))
                REQUIRE(key[pos] == '"' && key[e - 1] == '"' && e - pos >= 2,
                        "element %zu: header %s is not a string: [%.*s]", i, item,
                        (int)(e - pos), key + pos);
            else {
                /* Not UTF-8: its exact bytes in hex, never a lossy string. */
                hs_buf want = HS_BUF_INIT;
                hs_buf_puts(&want, "{\"hex\":\"");
                hs_buf_hex(&want, hv, strlen(hv));
                hs_buf_puts(&want, "\"}");
                REQUIRE(!want.oom && want.len == e - pos && memcmp(want.p, key + pos, want.len) == 0,
                        "element %zu: header %s is not UTF-8, yet [%.*s]", i, item,
                        (int)(e - pos), key + pos);
                hs_buf_free(&want);
            }
        }
        pos = e + 1;
    }
done:
    for (i = 0; i < h.n; i++) {
        free(h.name[i]);
        free(h.val[i]);
    }
    free(dedup);
    free(event);
    free(cfg);
    hs_buf_free(&ev);
    hs_buf_free(&out);
    hs_buf_free(&again);
    return 0;
}
