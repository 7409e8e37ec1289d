/*
 * scheme.c - the table of schemes (see scheme.h) and the parsing of
 * HOOKSPOOL_SCHEME.
 */
#include "scheme.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* Pieces of the signed bytes, for the rows below. */
#define LIT(s) { HS_PART_LIT, (s) }
#define BODY   { HS_PART_BODY, NULL }
#define TS     { HS_PART_TS, NULL }
#define ID     { HS_PART_ID, NULL }

/*
 * The rows, indexed by kind. Unset fields are 0/NULL: no prefix, no
 * timestamp, no id, no alias.
 *
 * Adding a scheme is one row here plus its name in hs_scheme_kind
 * (scheme.h) and its test vectors in tests/unit/test_sig.c (the
 * provider's published example; test_sig.c's table tests then give the
 * row a sign and verify round trip, tampering, expiry and its defaults
 * without further code). A sender that signs "v0:" timestamp ":" body
 * with HMAC-SHA256 in hex, its timestamp in a header of its own, would
 * be:
 *
 *     [HS_SCHEME_SLACK] = {
 *         .kind = HS_SCHEME_SLACK, .form = "slack",
 *         .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
 *         .sig_header = "X-Slack-Signature", .prefix = "v0=",
 *         .layout = HS_LAYOUT_PLAIN, .ts_header = "X-Slack-Request-Timestamp",
 *         .parts = { LIT("v0:"), TS, LIT(":"), BODY },
 *         .key = HS_KEY_TEXT, .dedup = "off", .keep = "X-Slack-Retry-Num",
 *     },
 *
 * and verification, `hookspool sign --scheme slack`, the defaults and
 * `hookspool check` follow from it (test_sig.c's test_row_example
 * checks this very row against Slack's published example). A shape no
 * field describes yet (a query parameter or a JSON member in the signed
 * bytes, another timestamp format) is a new hs_part_kind or hs_layout,
 * written once in sig.c and sign.c, and then available to every row.
 */
static const hs_scheme g_rows[] = {
    [HS_SCHEME_CALIZA] = {
        .kind = HS_SCHEME_CALIZA,
        .form = "caliza", .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256,
        .enc = HS_ENC_BASE64, .sig_header = "X-Caliza-Webhook-Signature",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY }, .key = HS_KEY_TEXT,
        /* What Caliza's documentation says to deduplicate on. */
        .dedup = "json:/operation,/resourceId", .keep = "",
    },
    [HS_SCHEME_GITHUB] = {
        .kind = HS_SCHEME_GITHUB,
        .form = "github", .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256,
        .enc = HS_ENC_HEX, .sig_header = "X-Hub-Signature-256",
        .prefix = "sha256=", .layout = HS_LAYOUT_PLAIN, .parts = { BODY },
        .key = HS_KEY_TEXT, .dedup = "header:X-GitHub-Delivery",
        .keep = "X-GitHub-Event,X-GitHub-Delivery,X-GitHub-Hook-ID",
    },
    [HS_SCHEME_STRIPE] = {
        .kind = HS_SCHEME_STRIPE,
        .form = "stripe", .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256,
        .enc = HS_ENC_HEX, .sig_header = "Stripe-Signature",
        /* Two v1 items while a secret rolls; v0 and others ignored. */
        .layout = HS_LAYOUT_KV, .item_sep = ',', .sig_key = "v1", .ts_key = "t",
        .parts = { TS, LIT("."), BODY },
        /* Stripe uses its whsec_ secret as the exact bytes. */
        .key = HS_KEY_TEXT, .dedup = "json:/id", .keep = "",
    },
    [HS_SCHEME_STANDARD] = {
        .kind = HS_SCHEME_STANDARD,
        .form = "standard", .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256,
        .enc = HS_ENC_BASE64, .sig_header = "webhook-signature",
        .layout = HS_LAYOUT_LIST, .sig_key = "v1",
        .ts_header = "webhook-timestamp", .id_header = "webhook-id",
        .id_new = "msg_",
        /* As the reference libraries do: svix-id for webhook-id, ... */
        .alias = { "webhook-", "svix-" },
        .parts = { ID, LIT("."), TS, LIT("."), BODY },
        .key = HS_KEY_WHSEC, .dedup = "header:webhook-id",
        .keep = "webhook-id,webhook-timestamp",
    },
    [HS_SCHEME_SHOPIFY] = {
        .kind = HS_SCHEME_SHOPIFY,
        .form = "shopify", .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256,
        .enc = HS_ENC_BASE64, .sig_header = "X-Shopify-Hmac-Sha256",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY }, .key = HS_KEY_TEXT,
        .dedup = "header:X-Shopify-Event-Id",
        .keep = "X-Shopify-Topic,X-Shopify-Shop-Domain,X-Shopify-Webhook-Id,"
                "X-Shopify-Event-Id",
    },
    [HS_SCHEME_HMAC] = {
        .kind = HS_SCHEME_HMAC,
        /* alg, enc, header and prefix come from the name. */
        .form = "hmac-ALG-ENC:Header[:prefix]", .example = "hmac-sha256-hex:Signature",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY }, .key = HS_KEY_TEXT,
        .dedup = "off", .keep = "",
    },
    [HS_SCHEME_BEARER] = {
        .kind = HS_SCHEME_BEARER,
        /* RFC 6750: "Bearer" (any case), 1*SP, the token. */
        .form = "bearer", .mac = HS_MAC_TOKEN, .sig_header = "Authorization",
        .prefix = "Bearer ", .layout = HS_LAYOUT_TOKEN, .key = HS_KEY_TOKEN,
        .dedup = "off", .keep = "",
    },
    [HS_SCHEME_TOKEN] = {
        .kind = HS_SCHEME_TOKEN,
        /* header comes from the name. */
        .form = "token:Header", .example = "token:x-functions-key",
        .mac = HS_MAC_TOKEN, .layout = HS_LAYOUT_TOKEN, .key = HS_KEY_TOKEN,
        .dedup = "off", .keep = "",
    },
    [HS_SCHEME_QUERY] = {
        .kind = HS_SCHEME_QUERY,
        /* A token in the query string (?NAME=secret): PIX banks that
         * skip mutual TLS. The parameter's name comes from the name. */
        .form = "query:NAME", .example = "query:token",
        .mac = HS_MAC_TOKEN, .layout = HS_LAYOUT_TOKEN, .key = HS_KEY_TOKEN,
        .query = 1, .dedup = "off", .keep = "",
    },
    [HS_SCHEME_NONE] = {
        .kind = HS_SCHEME_NONE,
        /* Nothing in the request: mutual TLS or an address list must
         * authenticate (config.c refuses it alone). */
        .form = "none", .mac = HS_MAC_NONE, .key = HS_KEY_TEXT,
        .dedup = "off", .keep = "",
    },
};
#define NROWS (sizeof g_rows / sizeof g_rows[0])

size_t hs_scheme_count(void)
{
    return NROWS;
}

const hs_scheme *hs_scheme_at(size_t i)
{
    return i < NROWS ? &g_rows[i] : NULL;
}

/* 1 when s[0..n) is a header name hookspool accepts: 1 to
 * HS_SCHEME_MAX_HEADER_NAME tchars. */
static int valid_header_name(const char *s, size_t n)
{
    return n <= HS_SCHEME_MAX_HEADER_NAME && hs_text_is_token(s, n);
}

/* ---------------------------------------------------------------------
 * hs_scheme_parse
 */

static const char *alg_name(int i) { return hs_crypto_alg_name((hs_alg)i); }
static const char *enc_name(int i) { return hs_codec_enc_name((hs_enc)i); }

/* Read one of the count names name_of(0 .. count-1), then sep, from the
 * front of *p[0..*n), advancing past both. Returns the name's index, or
 * -1 when none is there. */
static int take_name(const char **p, size_t *n, const char *(*name_of)(int),
                     int count, char sep)
{
    const char *name;
    size_t l;
    int i;

    for (i = 0; i < count; i++) {
        name = name_of(i);
        l = strlen(name);
        if (*n > l && memcmp(*p, name, l) == 0 && (*p)[l] == sep) {
            *p += l + 1;
            *n -= l + 1;
            return i;
        }
    }
    return -1;
}

/* "hmac-" has been read: ALG-ENC:Header[:prefix] follows in p[0..n).
 * The header ends at the second ':' (a header name cannot hold one) and
 * the prefix is the rest: 1 to HS_SCHEME_MAX_PREFIX visible ASCII
 * characters (no spaces: the header value is trimmed before the prefix
 * is matched). */
static int parse_hmac(const char *p, size_t n, hs_scheme *out)
{
    const char *colon;
    size_t i, hlen, plen;
    int alg, enc;

    if ((alg = take_name(&p, &n, alg_name, HS_ALG_COUNT, '-')) < 0 ||
        (enc = take_name(&p, &n, enc_name, HS_ENC_COUNT, ':')) < 0)
        return -1;
    out->alg = (hs_alg)alg;
    out->enc = (hs_enc)enc;

    colon = memchr(p, ':', n);
    hlen = colon ? (size_t)(colon - p) : n;
    if (!valid_header_name(p, hlen))
        return -1;
    if (colon != NULL) {
        plen = n - hlen - 1;
        if (plen == 0 || plen > HS_SCHEME_MAX_PREFIX)
            return -1;
        for (i = 0; i < plen; i++)
            if (colon[1 + i] < 0x21 || colon[1 + i] > 0x7e)
                return -1;
        memcpy(out->prefix, colon + 1, plen);
        out->prefix[plen] = '\0';
    }
    memcpy(out->header, p, hlen);
    out->header[hlen] = '\0';
    return 0;
}

/* "token:" has been read: the header name is p[0..n). */
static int parse_token(const char *p, size_t n, hs_scheme *out)
{
    if (!valid_header_name(p, n))
        return -1;
    memcpy(out->header, p, n);
    out->header[n] = '\0';
    return 0;
}

/* The generic forms: what their value starts with, and how the rest is
 * read into the copy of their row. */
static const struct {
    hs_scheme_kind kind;
    const char    *lead;
    int          (*parse)(const char *p, size_t n, hs_scheme *out);
} g_generic[] = {
    { HS_SCHEME_HMAC,  "hmac-",  parse_hmac },
    { HS_SCHEME_TOKEN, "token:", parse_token },
    { HS_SCHEME_QUERY, "query:", parse_token },
};

/* Start *out as a copy of row r named s[0..len). */
static void use_row(const hs_scheme *r, const char *s, size_t len, hs_scheme *out)
{
    *out = *r;
    memcpy(out->name, s, len);
    out->name[len] = '\0';
    out->timestamped = r->ts_key != NULL || r->ts_header != NULL;
}

/*
 * Contract in scheme.h. Names are matched exactly (lowercase, as the
 * SPEC spells them): a scheme is security configuration, and a near
 * miss is better reported than guessed.
 */
int hs_scheme_parse(const char *s, size_t len, hs_scheme *out)
{
    size_t i, l;

    if (s == NULL || out == NULL)
        return -1;
    if (len == 0 || len > HS_SCHEME_MAX_NAME || memchr(s, '\0', len) != NULL)
        return -1;
    for (i = 0; i < NROWS; i++) {
        if (g_rows[i].example == NULL && hs_text_eq(s, len, g_rows[i].form)) {
            use_row(&g_rows[i], s, len, out);
            return 0;
        }
    }
    for (i = 0; i < sizeof g_generic / sizeof g_generic[0]; i++) {
        l = strlen(g_generic[i].lead);
        if (hs_text_prefix(s, len, g_generic[i].lead)) {
            use_row(&g_rows[g_generic[i].kind], s, len, out);
            return g_generic[i].parse(s + l, len - l, out);
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------
 * Reading a row.
 */

const char *hs_scheme_default_keep(const hs_scheme *sc)
{
    return sc != NULL && sc->keep != NULL ? sc->keep : "";
}

const char *hs_scheme_default_dedup(const hs_scheme *sc)
{
    return sc != NULL && sc->dedup != NULL ? sc->dedup : "off";
}

/* Contract in scheme.h. The generic header is checked on every call
 * because a caller may have built the struct by hand; the table's
 * sig_header is checked once, by the table tests. */
const char *hs_scheme_sig_header(const hs_scheme *sc)
{
    size_t hl;

    if (sc == NULL ||
        hs_text_field_len(sc->prefix, sizeof sc->prefix) == sizeof sc->prefix)
        return NULL;
    hl = hs_text_field_len(sc->header, sizeof sc->header);
    if (hl > 0)
        return valid_header_name(sc->header, hl) ? sc->header : NULL;
    return sc->sig_header;
}

int hs_scheme_alias(const hs_scheme *sc, const char *name, char *out, size_t n)
{
    size_t l, rest;
    int w;

    if (sc == NULL || name == NULL || sc->alias[0] == NULL || sc->alias[1] == NULL)
        return 0;
    l = strlen(sc->alias[0]);
    rest = strlen(name);
    if (!hs_text_prefix_ci(name, rest, sc->alias[0]))
        return 0;
    w = snprintf(out, n, "%s%s", sc->alias[1], name + l);
    return w > 0 && (size_t)w < n;
}

/* Append a formatted text to out[0..n) at *used, truncating to fit. */
static void add(char *out, size_t n, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (*used + 1 >= n)
        return;
    va_start(ap, fmt);
    w = vsnprintf(out + *used, n - *used, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    *used += (size_t)w < n - *used ? (size_t)w : n - *used - 1;
}

char *hs_scheme_forms(char *out, size_t n)
{
    size_t i, used = 0;

    if (n == 0)
        return out;
    out[0] = '\0';
    for (i = 0; i < NROWS; i++)
        add(out, n, &used, "%s%s", i ? ", " : "", g_rows[i].form);
    return out;
}

/* The text a part of the signed bytes stands for in a description. */
static const char *part_text(const hs_scheme *sc, const hs_part *p)
{
    switch (p->kind) {
    case HS_PART_LIT:  return p->lit ? p->lit : "";
    case HS_PART_BODY: return "body";
    case HS_PART_TS:   return sc->ts_key ? sc->ts_key : sc->ts_header ? sc->ts_header : "?";
    case HS_PART_ID:   return sc->id_header ? sc->id_header : "?";
    default:           return "";
    }
}

char *hs_scheme_describe(const hs_scheme *sc, long long tolerance, char *out, size_t n)
{
    const char *hdr = hs_scheme_sig_header(sc), *alg;
    size_t i, used = 0;

    if (n == 0)
        return out;
    out[0] = '\0';
    if (sc->mac == HS_MAC_NONE) {
        add(out, n, &used, "no signature (mutual TLS or HOOKSPOOL_ALLOW_FROM authenticates)");
        return out;
    }
    if (hdr == NULL)
        return out;
    if (sc->id_header != NULL)
        add(out, n, &used, "%s, ", sc->id_header);
    if (sc->ts_header != NULL)
        add(out, n, &used, "%s, ", sc->ts_header);
    if (sc->query) {
        add(out, n, &used, "?%s=<the secret> in the URL (a shared token, not a signature)", hdr);
        return out;
    }
    add(out, n, &used, "%s: %s", hdr, sc->prefix);
    if (sc->mac == HS_MAC_TOKEN) {
        add(out, n, &used, "<the secret> (a shared token, not a signature)");
        return out;
    }
    if (sc->layout == HS_LAYOUT_KV && sc->ts_key != NULL)
        add(out, n, &used, "%s=<%s>%c", sc->ts_key, sc->ts_key, sc->item_sep);
    if (sc->layout == HS_LAYOUT_KV || sc->layout == HS_LAYOUT_LIST)
        add(out, n, &used, "%s%c", sc->sig_key ? sc->sig_key : "?",
            sc->layout == HS_LAYOUT_KV ? '=' : ',');
    alg = hs_crypto_alg_name(sc->alg);
    add(out, n, &used, "<HMAC-");
    for (i = 0; alg != NULL && alg[i] != '\0'; i++)
        add(out, n, &used, "%c", alg[i] >= 'a' && alg[i] <= 'z' ? alg[i] - 'a' + 'A' : alg[i]);
    add(out, n, &used, " %s of ", hs_codec_enc_name(sc->enc) ? hs_codec_enc_name(sc->enc) : "?");
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++)
        add(out, n, &used, "%s", part_text(sc, &sc->parts[i]));
    add(out, n, &used, ">");
    if (sc->ts_key != NULL || sc->ts_header != NULL)
        add(out, n, &used, ", timestamp within %lld s", tolerance);
    return out;
}
