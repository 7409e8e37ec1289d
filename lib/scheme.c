/*
 * scheme.c - the table of schemes (see scheme.h) and the parsing of
 * HOOKSPOOL_SCHEME.
 */
#include "scheme.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "form.h"
#include "text.h"

/* Pieces of the signed bytes, for the rows below. Designated, so the
 * fields a row leaves unset are 0 without clang's
 * -Wmissing-field-initializers (make fuzz builds with clang). */
#define LIT(s) { .kind = HS_PART_LIT, .lit = (s) }
#define BODY   { .kind = HS_PART_BODY }
#define TS     { .kind = HS_PART_TS }
#define ID     { .kind = HS_PART_ID }
#define QUERY_LC(name) { .kind = HS_PART_QUERY, .lit = (name), .lower = 1 }
#define URL    { .kind = HS_PART_URL }
#define FORM   { .kind = HS_PART_FORM }

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
        /* v1a: Ed25519 with the whpk_ public key, in the same list as
         * the v1 HMACs (the specification lets them mix). */
        .pk_alg = HS_PK_ED25519, .pk_text = HS_PK_TEXT_WHPK, .pk_key = "v1a",
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
    /* Slack: "v0:" ts ":" body (the example above); every Events API
     * delivery carries event_id; retries say so in X-Slack-Retry-Num. */
    [HS_SCHEME_SLACK] = {
        .kind = HS_SCHEME_SLACK, .form = "slack",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "X-Slack-Signature", .prefix = "v0=",
        .layout = HS_LAYOUT_PLAIN, .ts_header = "X-Slack-Request-Timestamp",
        .parts = { LIT("v0:"), TS, LIT(":"), BODY },
        .key = HS_KEY_TEXT, .dedup = "json:/event_id",
        .keep = "X-Slack-Retry-Num,X-Slack-Retry-Reason",
        .handshake = HS_HSK_SLACK,
    },
    /* Zoom: Slack's shape under its own names; no documented delivery id. */
    [HS_SCHEME_ZOOM] = {
        .kind = HS_SCHEME_ZOOM, .form = "zoom",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "x-zm-signature", .prefix = "v0=",
        .layout = HS_LAYOUT_PLAIN, .ts_header = "x-zm-request-timestamp",
        .parts = { LIT("v0:"), TS, LIT(":"), BODY },
        .key = HS_KEY_TEXT, .dedup = "off", .keep = "",
        .handshake = HS_HSK_ZOOM,
    },
    /* Twitch EventSub: id + RFC 3339 timestamp + body; the message id is
     * the same on every retry of a message. */
    [HS_SCHEME_TWITCH] = {
        .kind = HS_SCHEME_TWITCH, .form = "twitch",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "Twitch-Eventsub-Message-Signature", .prefix = "sha256=",
        .layout = HS_LAYOUT_PLAIN,
        .ts_header = "Twitch-Eventsub-Message-Timestamp", .ts_fmt = HS_TS_RFC3339,
        .id_header = "Twitch-Eventsub-Message-Id",
        .parts = { ID, TS, BODY },
        .key = HS_KEY_TEXT, .dedup = "header:Twitch-Eventsub-Message-Id",
        .keep = "Twitch-Eventsub-Message-Id,Twitch-Eventsub-Message-Type,"
                "Twitch-Eventsub-Subscription-Type",
        .handshake = HS_HSK_TWITCH,
    },
    /* Paddle Billing: "ts=<ts>;h1=<hex>", ts ":" body; several h1 while
     * a secret rolls; every notification has an event_id. */
    [HS_SCHEME_PADDLE] = {
        .kind = HS_SCHEME_PADDLE, .form = "paddle",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "Paddle-Signature",
        .layout = HS_LAYOUT_KV, .item_sep = ';', .sig_key = "h1", .ts_key = "ts",
        .parts = { TS, LIT(":"), BODY },
        .key = HS_KEY_TEXT, .dedup = "json:/event_id", .keep = "",
    },
    /* Mercado Pago: "ts=<ts>,v1=<hex>" over the manifest
     * id:<data.id>;request-id:<x-request-id>;ts:<ts>; which does not hold
     * the body (said by check and the README). */
    [HS_SCHEME_MERCADOPAGO] = {
        .kind = HS_SCHEME_MERCADOPAGO, .form = "mercadopago",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "x-signature",
        .layout = HS_LAYOUT_KV, .item_sep = ',', .sig_key = "v1", .ts_key = "ts",
        .id_header = "x-request-id",
        .parts = { LIT("id:"), QUERY_LC("data.id"), LIT(";request-id:"), ID,
                   LIT(";ts:"), TS, LIT(";") },
        .body_unsigned = 1,
        .key = HS_KEY_TEXT, .dedup = "off", .keep = "x-request-id",
    },
    /* Mailgun: no header; the body's signature object holds timestamp,
     * token and the hex HMAC of timestamp + token. The token is unique
     * per delivery: Mailgun says to refuse one seen before. Its older
     * form format sends the three as top-level form fields; the dedup
     * key names both places (one is null in each format). */
    [HS_SCHEME_MAILGUN] = {
        .kind = HS_SCHEME_MAILGUN, .form = "mailgun",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_json = "/signature/signature", .layout = HS_LAYOUT_PLAIN,
        .ts_json = "/signature/timestamp", .id_json = "/signature/token",
        .sig_form = "/signature", .ts_form = "/timestamp", .id_form = "/token",
        .parts = { TS, ID },
        .body_unsigned = 1,
        .envelope = "{\"signature\":{\"timestamp\":\"%T\",\"token\":\"%I\","
                    "\"signature\":\"%S\"},\"event-data\":%B}",
        .key = HS_KEY_TEXT, .dedup = "json:/signature/token,/token", .keep = "",
    },
    /* Meta (Facebook, Instagram, WhatsApp): GitHub's signature header;
     * no delivery id. */
    [HS_SCHEME_META] = {
        .kind = HS_SCHEME_META, .form = "meta",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "X-Hub-Signature-256", .prefix = "sha256=",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY },
        .key = HS_KEY_TEXT, .dedup = "off", .keep = "",
        .handshake = HS_HSK_META,
    },
    [HS_SCHEME_DROPBOX] = {
        .kind = HS_SCHEME_DROPBOX, .form = "dropbox",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "X-Dropbox-Signature",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY },
        .key = HS_KEY_TEXT, .dedup = "off", .keep = "",
        .handshake = HS_HSK_DROPBOX,
    },
    /* X (Account Activity API): the consumer secret signs the body. */
    [HS_SCHEME_TWITTER] = {
        .kind = HS_SCHEME_TWITTER, .form = "twitter",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_BASE64,
        .sig_header = "x-twitter-webhooks-signature", .prefix = "sha256=",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY },
        .key = HS_KEY_TEXT, .dedup = "off", .keep = "",
        .handshake = HS_HSK_TWITTER,
    },
    /* Okta event hooks: the Authorization header carries the secret the
     * administrator typed, as it is; eventId names each delivery. */
    [HS_SCHEME_OKTA] = {
        .kind = HS_SCHEME_OKTA, .form = "okta",
        .mac = HS_MAC_TOKEN, .sig_header = "Authorization",
        .layout = HS_LAYOUT_TOKEN, .key = HS_KEY_TEXT,
        .dedup = "json:/eventId", .keep = "",
        .handshake = HS_HSK_OKTA,
    },
    /* Smartsheet: hex of the body; nonce is unique per callback. */
    [HS_SCHEME_SMARTSHEET] = {
        .kind = HS_SCHEME_SMARTSHEET, .form = "smartsheet",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .sig_header = "Smartsheet-Hmac-SHA256",
        .layout = HS_LAYOUT_PLAIN, .parts = { BODY },
        .key = HS_KEY_TEXT, .dedup = "json:/nonce", .keep = "",
        .handshake = HS_HSK_SMARTSHEET,
    },
    /* Microsoft Graph: every notification of value carries clientState,
     * the secret given at subscription: a token, not a MAC. */
    [HS_SCHEME_GRAPH] = {
        .kind = HS_SCHEME_GRAPH, .form = "graph",
        .mac = HS_MAC_TOKEN, .sig_json = "/value", .sig_key = "clientState",
        .layout = HS_LAYOUT_EACH, .key = HS_KEY_TEXT,
        .envelope = "{\"value\":[{\"clientState\":%K,\"resourceData\":%B}]}",
        .dedup = "off", .keep = "",
        .handshake = HS_HSK_GRAPH,
    },
    /* A sender no row describes: alg and enc come from the name, the
     * header, its shape and the signed bytes from HOOKSPOOL_SIGNATURE
     * and HOOKSPOOL_SIGNED (hs_scheme_template). Until then it has no
     * header and authenticates nothing. */
    [HS_SCHEME_TEMPLATE] = {
        .kind = HS_SCHEME_TEMPLATE,
        .form = "template-ALG-ENC", .example = "template-sha256-hex",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_HEX,
        .layout = HS_LAYOUT_PLAIN, .key = HS_KEY_TEXT,
        .dedup = "off", .keep = "",
    },
    /* Discord's interactions endpoint: Ed25519 over timestamp + body,
     * the application's public key in hex; the PING is answered. */
    [HS_SCHEME_DISCORD] = {
        .kind = HS_SCHEME_DISCORD, .form = "discord",
        .mac = HS_MAC_PUBKEY, .enc = HS_ENC_HEX, .sig_header = "X-Signature-Ed25519",
        .layout = HS_LAYOUT_PLAIN, .ts_header = "X-Signature-Timestamp",
        .pk_alg = HS_PK_ED25519, .pk_text = HS_PK_TEXT_HEX,
        .parts = { TS, BODY }, .key = HS_KEY_TEXT,
        .dedup = "json:/id", .keep = "", .handshake = HS_HSK_DISCORD,
    },
    /* SendGrid's signed Event Webhook: ECDSA P-256 / SHA-256 over
     * timestamp + body, the signature Base64 DER, the verification key
     * the Base64 SubjectPublicKeyInfo SendGrid shows. */
    [HS_SCHEME_SENDGRID] = {
        .kind = HS_SCHEME_SENDGRID, .form = "sendgrid",
        .mac = HS_MAC_PUBKEY, .enc = HS_ENC_BASE64,
        .sig_header = "X-Twilio-Email-Event-Webhook-Signature",
        .layout = HS_LAYOUT_PLAIN, .ts_header = "X-Twilio-Email-Event-Webhook-Timestamp",
        .pk_alg = HS_PK_P256, .pk_text = HS_PK_TEXT_SPKI,
        .parts = { TS, BODY }, .key = HS_KEY_TEXT, .dedup = "off", .keep = "",
    },
    /* Twilio: HMAC-SHA1 of the URL it called, then a form body's fields
     * sorted by name; a JSON body is bound by the URL's bodySHA256. */
    [HS_SCHEME_TWILIO] = {
        .kind = HS_SCHEME_TWILIO, .form = "twilio",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA1, .enc = HS_ENC_BASE64,
        .sig_header = "X-Twilio-Signature", .layout = HS_LAYOUT_PLAIN,
        .parts = { URL, FORM },
        .body_hash_query = "bodySHA256",
        .key = HS_KEY_TEXT, .dedup = "header:I-Twilio-Idempotency-Token",
        .keep = "I-Twilio-Idempotency-Token",
    },
    /* Square: HMAC-SHA256 Base64 of the notification URL + body. */
    [HS_SCHEME_SQUARE] = {
        .kind = HS_SCHEME_SQUARE, .form = "square",
        .mac = HS_MAC_HMAC, .alg = HS_ALG_SHA256, .enc = HS_ENC_BASE64,
        .sig_header = "x-square-hmacsha256-signature", .layout = HS_LAYOUT_PLAIN,
        .parts = { URL, BODY },
        .key = HS_KEY_TEXT, .dedup = "json:/event_id", .keep = "",
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

/* 1 when p[0..n) is visible ASCII: no spaces, no control bytes. */
static int visible(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return 0;
    return 1;
}

/* What a prefix of a signature header may hold: at most
 * HS_SCHEME_MAX_PREFIX visible characters, no spaces (the header value
 * is trimmed before the prefix is matched). */
static int valid_prefix(const char *p, size_t n)
{
    return n <= HS_SCHEME_MAX_PREFIX && visible(p, n);
}

/* "hmac-" has been read: ALG-ENC:Header[:prefix] follows in p[0..n).
 * The header ends at the second ':' (a header name cannot hold one) and
 * the prefix is the rest: 1 to HS_SCHEME_MAX_PREFIX visible ASCII
 * characters (no spaces: the header value is trimmed before the prefix
 * is matched). */
static int parse_hmac(const char *p, size_t n, hs_scheme *out)
{
    const char *colon;
    size_t hlen, plen;
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
        if (plen == 0 || !valid_prefix(colon + 1, plen))
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

/* "template-" has been read: ALG-ENC is p[0..n), the rest of the shape
 * comes from hs_scheme_template. */
static int parse_template(const char *p, size_t n, hs_scheme *out)
{
    int alg, enc;

    if ((alg = take_name(&p, &n, alg_name, HS_ALG_COUNT, '-')) < 0)
        return -1;
    for (enc = 0; enc < HS_ENC_COUNT; enc++)
        if (hs_text_eq(p, n, enc_name(enc)))
            break;
    if (enc == HS_ENC_COUNT)
        return -1;
    out->alg = (hs_alg)alg;
    out->enc = (hs_enc)enc;
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
    { HS_SCHEME_TEMPLATE, "template-", parse_template },
    { HS_SCHEME_QUERY, "query:", parse_token },
};

/* Start *out as a copy of row r named s[0..len). */
static void use_row(const hs_scheme *r, const char *s, size_t len, hs_scheme *out)
{
    *out = *r;
    memcpy(out->name, s, len);
    out->name[len] = '\0';
    out->timestamped = r->ts_key != NULL || r->ts_header != NULL || r->ts_json != NULL;
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
 * hs_scheme_template: a sender described by two settings.
 */

/* Where a template's timestamp comes from. */
enum { TS_NONE, TS_SIG, TS_HEADER };

typedef struct tpl {
    hs_scheme *sc;
    size_t     used;       /* bytes of sc->text taken */
    size_t     nparts;
    int        ts_src;     /* TS_NONE, TS_SIG, TS_HEADER */
    int        ts_signed, body;
    char      *err;
    size_t     errlen;
} tpl;

static int tpl_fail(tpl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Say why in t->err; returns -1. */
static int tpl_fail(tpl *t, const char *fmt, ...)
{
    va_list ap;

    if (t->err != NULL && t->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(t->err, t->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Append part k with text s[0..n) (none for BODY and TS); literal text
 * right after a literal extends it. */
static int tpl_part(tpl *t, hs_part_kind k, const char *s, size_t n)
{
    hs_part *prev = t->nparts > 0 ? &t->sc->parts[t->nparts - 1] : NULL;

    if (n > HS_SCHEME_MAX_TEXT - t->used)
        return tpl_fail(t, "its literals and names are longer than %d bytes in all",
                        HS_SCHEME_MAX_TEXT);
    if (k == HS_PART_LIT && prev != NULL && prev->kind == HS_PART_LIT &&
        (size_t)prev->off + prev->len == t->used) {
        memcpy(t->sc->text + t->used, s, n);
        t->used += n;
        prev->len = (unsigned short)(prev->len + n);
        return 0;
    }
    if (t->nparts == HS_SCHEME_MAX_PARTS)
        return tpl_fail(t, "more than %d pieces (literal runs and placeholders)",
                        HS_SCHEME_MAX_PARTS);
    t->sc->parts[t->nparts] = (hs_part){ k, NULL, 0, (unsigned short)t->used,
                                         (unsigned short)n };
    /* BODY and TS come with s NULL: memcpy's source must not be null
     * even for 0 bytes. */
    if (n > 0)
        memcpy(t->sc->text + t->used, s, n);
    t->used += n;
    t->nparts++;
    return 0;
}

/* 1 when s[0..n) is a key of a k=v item: 1 to HS_SCHEME_MAX_KEY of
 * letters, digits, '_', '-', '.'. */
static int valid_key(const char *s, size_t n)
{
    return n > 0 && n <= HS_SCHEME_MAX_KEY && hs_text_alnum_or(s, n, "_-.");
}

/* Copy s[0..n) (n checked by the caller) NUL-terminated into a. */
static void set_field(char *a, const char *s, size_t n)
{
    memcpy(a, s, n);
    a[n] = '\0';
}

/* The placeholders of a signature shape. */
enum { SH_LIT, SH_MAC, SH_TS, SH_TS_MS };
#define SHAPE_MAX 5   /* lit, ph, lit, ph, lit */

/* A k=v item's key: "key=" exactly in s[0..n), the key stored in a. */
static int shape_key(const char *s, size_t n, char *a)
{
    if (n < 2 || s[n - 1] != '=' || !valid_key(s, n - 1))
        return -1;
    set_field(a, s, n - 1);
    return 0;
}

#define SHAPE_FORMS "write prefix{mac}, or key={ts},key={mac} (either order; " \
    "{ts_ms} for milliseconds; one separator character between the items)"

/* HOOKSPOOL_SIGNATURE: "Name: shape" (contract in scheme.h). */
static int tpl_signature(tpl *t, const char *s)
{
    hs_scheme *sc = t->sc;
    const char *colon = strchr(s, ':'), *v, *seg[SHAPE_MAX];
    size_t hl, n, i, j, nseg = 0, seglen[SHAPE_MAX];
    int kind[SHAPE_MAX], nmac = 0, nts = 0;

    hl = colon != NULL ? (size_t)(colon - s) : 0;
    if (colon == NULL || !valid_header_name(s, hl))
        return tpl_fail(t, "must be Name: shape, Name a header name of at most %d "
                        "characters", HS_SCHEME_MAX_HEADER_NAME);
    set_field(sc->header, s, hl);
    v = colon + 1;
    n = strlen(v);
    hs_text_trim_ows(&v, &n);
    if (n == 0)
        return tpl_fail(t, "no shape after the header name: %s", SHAPE_FORMS);
    for (i = 0; i < n; i = j) {
        if (nseg == SHAPE_MAX)
            return tpl_fail(t, "too many pieces: %s", SHAPE_FORMS);
        if (v[i] == '{') {
            const char *e = memchr(v + i, '}', n - i);
            size_t pl = e ? (size_t)(e - v - i) + 1 : 0;
            if (e == NULL)
                return tpl_fail(t, "a { without its }");
            kind[nseg] = hs_text_eq(v + i, pl, "{mac}") ? SH_MAC
                       : hs_text_eq(v + i, pl, "{ts}") ? SH_TS
                       : hs_text_eq(v + i, pl, "{ts_ms}") ? SH_TS_MS : -1;
            if (kind[nseg] < 0)
                return tpl_fail(t, "the shape's placeholders are {mac}, {ts} and {ts_ms}");
            nmac += kind[nseg] == SH_MAC;
            nts += kind[nseg] != SH_MAC;
            j = i + pl;
        } else {
            for (j = i; j < n && v[j] != '{'; j++)
                if (v[j] == '}')
                    return tpl_fail(t, "a } outside a placeholder");
            kind[nseg] = SH_LIT;
        }
        seg[nseg] = v + i;
        seglen[nseg++] = j - i;
    }
    if (nmac != 1 || nts > 1)
        return tpl_fail(t, "the shape needs {mac} once and at most one timestamp: %s",
                        SHAPE_FORMS);
    if (nts == 0) {
        /* prefix{mac}: nothing may follow the MAC. */
        if (kind[nseg - 1] != SH_MAC || nseg > 2 ||
            (nseg == 2 && !valid_prefix(seg[0], seglen[0])))
            return tpl_fail(t, "%s; a prefix is at most %d visible characters, no spaces",
                            SHAPE_FORMS, HS_SCHEME_MAX_PREFIX);
        if (nseg == 2)
            set_field(sc->prefix, seg[0], seglen[0]);
        sc->layout = HS_LAYOUT_PLAIN;
        return 0;
    }
    /* key=P1 <sep> key=P2: lit, ph, lit, ph. */
    if (nseg != 4 || kind[0] != SH_LIT || kind[2] != SH_LIT)
        return tpl_fail(t, "%s", SHAPE_FORMS);
    {
        const char *mid = seg[2];
        size_t ml = seglen[2];
        char sep, k1[HS_SCHEME_MAX_KEY + 1], k2[HS_SCHEME_MAX_KEY + 1];

        while (ml > 0 && hs_text_is_ows(*mid)) {
            mid++;
            ml--;
        }
        if (ml == 0)
            return tpl_fail(t, "no separator between the items: %s", SHAPE_FORMS);
        sep = *mid++;
        ml--;
        while (ml > 0 && hs_text_is_ows(*mid)) {
            mid++;
            ml--;
        }
        if (sep < 0x21 || sep > 0x7e || sep == '=' || valid_key(&sep, 1) ||
            shape_key(seg[0], seglen[0], k1) != 0 || shape_key(mid, ml, k2) != 0 ||
            strcmp(k1, k2) == 0)
            return tpl_fail(t, "%s; keys are 1 to %d letters, digits, _ - or ., "
                            "and differ", SHAPE_FORMS, HS_SCHEME_MAX_KEY);
        /* The verifier splits the header at sep before it reads the MAC:
         * Base64's '+' and '/' there would cut the MAC in two. */
        if (hs_codec_enc_holds(sc->enc, sep))
            return tpl_fail(t, "the separator %c is a character the MAC's encoding can "
                            "hold (%s): pick another one", sep, hs_codec_enc_name(sc->enc));
        set_field(sc->tpl_sig_key, kind[1] == SH_MAC ? k1 : k2,
                  strlen(kind[1] == SH_MAC ? k1 : k2));
        set_field(sc->tpl_ts_key, kind[1] == SH_MAC ? k2 : k1,
                  strlen(kind[1] == SH_MAC ? k2 : k1));
        sc->ts_fmt = (kind[1] == SH_MAC ? kind[3] : kind[1]) == SH_TS_MS
                     ? HS_TS_UNIX_MS : HS_TS_UNIX;
        sc->item_sep = sep;
        sc->layout = HS_LAYOUT_KV;
        t->ts_src = TS_SIG;
    }
    return 0;
}

/* Is name[0..n) the signature header's name (any case)? A placeholder
 * may not read it: it holds the signature. */
static int is_sig_header(const tpl *t, const char *name, size_t n)
{
    return n == strlen(t->sc->header) && hs_text_prefix_ci(name, n, t->sc->header);
}

/* One placeholder of HOOKSPOOL_SIGNED, its text name[0..n) between the
 * braces. */
static int tpl_placeholder(tpl *t, const char *name, size_t n)
{
    const char *colon = memchr(name, ':', n), *arg = colon ? colon + 1 : NULL;
    size_t hl = colon ? (size_t)(colon - name) : n, al = colon ? n - hl - 1 : 0;

    if (hs_text_eq(name, n, "body")) {
        if (t->body++)
            return tpl_fail(t, "{body} more than once");
        return tpl_part(t, HS_PART_BODY, NULL, 0);
    }
    if (hs_text_eq(name, n, "ts")) {
        if (t->ts_src != TS_SIG)
            return tpl_fail(t, "{ts} is the timestamp of the signature header, which has "
                            "none: name its header, {ts:Header}");
        if (t->ts_signed++)
            return tpl_fail(t, "the timestamp more than once");
        return tpl_part(t, HS_PART_TS, NULL, 0);
    }
    if (colon != NULL && (hs_text_eq(name, hl, "ts") || hs_text_eq(name, hl, "ts_ms"))) {
        if (t->ts_src == TS_SIG)
            return tpl_fail(t, "two timestamps: the signature header has one, sign it as {ts}");
        if (t->ts_signed++)
            return tpl_fail(t, "the timestamp more than once");
        if (!valid_header_name(arg, al))
            return tpl_fail(t, "{ts:Header}: not a header name");
        /* One header cannot carry both: the signer would write it twice
         * and the verifier read the signature as the timestamp. */
        if (is_sig_header(t, arg, al))
            return tpl_fail(t, "{ts:Header}: that is the signature header; a timestamp in "
                            "it is {ts} in its shape");
        set_field(t->sc->tpl_ts_header, arg, al);
        t->sc->ts_fmt = hl == 2 ? HS_TS_UNIX : HS_TS_UNIX_MS;
        t->ts_src = TS_HEADER;
        return tpl_part(t, HS_PART_TS, NULL, 0);
    }
    if (colon != NULL && hs_text_eq(name, hl, "header")) {
        if (!valid_header_name(arg, al))
            return tpl_fail(t, "{header:Name}: not a header name");
        if (is_sig_header(t, arg, al))
            return tpl_fail(t, "{header:Name}: the signature header cannot be signed");
        return tpl_part(t, HS_PART_HEADER, arg, al);
    }
    if (colon != NULL && hs_text_eq(name, hl, "query")) {
        if (al == 0 || al > HS_SCHEME_MAX_HEADER_NAME || !visible(arg, al))
            return tpl_fail(t, "{query:name}: 1 to %d visible characters",
                            HS_SCHEME_MAX_HEADER_NAME);
        return tpl_part(t, HS_PART_QUERY, arg, al);
    }
    if (colon != NULL && hs_text_eq(name, hl, "json")) {
        if (al == 0 || arg[0] != '/')
            return tpl_fail(t, "{json:/pointer}: a JSON Pointer starts with /");
        return tpl_part(t, HS_PART_JSON, arg, al);
    }
    /* Named only when printable: the message goes to a terminal and
     * the error log as one line. */
    if (n > HS_SCHEME_MAX_KEY)
        n = HS_SCHEME_MAX_KEY;
    return tpl_fail(t, "unknown placeholder {%.*s}: the placeholders are {body}, {ts}, "
                    "{ts:Header}, {ts_ms:Header}, {header:Name}, {query:name}, "
                    "{json:/pointer}; {{ and }} are braces",
                    visible(name, n) ? (int)n : 3, visible(name, n) ? name : "...");
}

/* HOOKSPOOL_SIGNED: the signed bytes (contract in scheme.h). */
static int tpl_signed(tpl *t, const char *s)
{
    size_t i = 0, j;

    while (s[i] != '\0') {
        if ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}')) {
            if (tpl_part(t, HS_PART_LIT, s + i, 1) != 0)
                return -1;
            i += 2;
        } else if (s[i] == '}') {
            return tpl_fail(t, "a } outside a placeholder (write }} for a brace)");
        } else if (s[i] == '{') {
            const char *e = strchr(s + i + 1, '}');
            if (e == NULL)
                return tpl_fail(t, "a { without its } (write {{ for a brace)");
            if (tpl_placeholder(t, s + i + 1, (size_t)(e - s - i - 1)) != 0)
                return -1;
            i = (size_t)(e - s) + 1;
        } else {
            for (j = i; s[j] != '\0' && s[j] != '{' && s[j] != '}'; j++)
                ;
            if (tpl_part(t, HS_PART_LIT, s + i, j - i) != 0)
                return -1;
            i = j;
        }
    }
    if (!t->body)
        return tpl_fail(t, "must sign the body: {body}");
    if (t->ts_src == TS_SIG && !t->ts_signed)
        return tpl_fail(t, "the signature header's timestamp is not signed: a sender "
                        "that sends one signs it, {ts}");
    return 0;
}

int hs_scheme_template(hs_scheme *sc, const char *signed_bytes, const char *signature,
                       hs_tpl_setting *which, char *err, size_t errlen)
{
    tpl t = { sc, 0, 0, TS_NONE, 0, 0, err, errlen };
    hs_tpl_setting dummy;

    if (which == NULL)
        which = &dummy;
    *which = HS_TPL_SIGNATURE;
    if (sc == NULL || sc->kind != HS_SCHEME_TEMPLATE)
        return tpl_fail(&t, "only with HOOKSPOOL_SCHEME=template-ALG-ENC");
    if (signature == NULL || signature[0] == '\0')
        return tpl_fail(&t, "not set (template-ALG-ENC needs the signature header's shape)");
    if (strnlen(signature, HS_SCHEME_MAX_TEMPLATE + 1) > HS_SCHEME_MAX_TEMPLATE)
        return tpl_fail(&t, "longer than %d bytes", HS_SCHEME_MAX_TEMPLATE);
    memset(sc->parts, 0, sizeof sc->parts);
    memset(sc->text, 0, sizeof sc->text);
    sc->prefix[0] = sc->tpl_sig_key[0] = sc->tpl_ts_key[0] = sc->tpl_ts_header[0] = '\0';
    sc->item_sep = '\0';
    sc->ts_fmt = HS_TS_UNIX;
    if (tpl_signature(&t, signature) != 0)
        return -1;
    *which = HS_TPL_SIGNED;
    if (signed_bytes == NULL || signed_bytes[0] == '\0')
        return tpl_fail(&t, "not set (template-ALG-ENC needs the signed bytes, e.g. {body})");
    if (strnlen(signed_bytes, HS_SCHEME_MAX_TEMPLATE + 1) > HS_SCHEME_MAX_TEMPLATE)
        return tpl_fail(&t, "longer than %d bytes", HS_SCHEME_MAX_TEMPLATE);
    if (tpl_signed(&t, signed_bytes) != 0)
        return -1;
    sc->timestamped = t.ts_src != TS_NONE;
    return 0;
}

/* A template's field a (empty: unset, unterminated: a hand-built struct,
 * unusable) or else the row's p. */
static const char *field_or(const char *a, size_t cap, const char *p)
{
    size_t n = hs_text_field_len(a, cap);

    if (n == cap)
        return NULL;
    return n > 0 ? a : p;
}

const char *hs_scheme_sig_key(const hs_scheme *sc)
{
    return sc ? field_or(sc->tpl_sig_key, sizeof sc->tpl_sig_key, sc->sig_key) : NULL;
}

const char *hs_scheme_ts_key(const hs_scheme *sc)
{
    return sc ? field_or(sc->tpl_ts_key, sizeof sc->tpl_ts_key, sc->ts_key) : NULL;
}

const char *hs_scheme_ts_header(const hs_scheme *sc)
{
    return sc ? field_or(sc->tpl_ts_header, sizeof sc->tpl_ts_header, sc->ts_header) : NULL;
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

const char *hs_scheme_part_text(const hs_scheme *sc, const hs_part *p, size_t *n)
{
    if (sc == NULL || p == NULL)
        return NULL;
    if (p->lit != NULL) {
        *n = strlen(p->lit);
        return p->lit;
    }
    if (p->len == 0 || (size_t)p->off + p->len > sizeof sc->text)
        return NULL;
    *n = p->len;
    return sc->text + p->off;
}

int hs_scheme_reads_json(const hs_scheme *sc)
{
    size_t i;

    if (sc->sig_json != NULL || sc->ts_json != NULL || sc->id_json != NULL)
        return 1;
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++)
        if (sc->parts[i].kind == HS_PART_JSON)
            return 1;
    return 0;
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

/* Add the text a part of the signed bytes stands for in a description. */
static void add_part(const hs_scheme *sc, const hs_part *p, char *out, size_t n,
                     size_t *used)
{
    const char *t;
    size_t l = 0;

    switch (p->kind) {
    case HS_PART_LIT:
        t = hs_scheme_part_text(sc, p, &l);
        add(out, n, used, "%.*s", (int)l, t ? t : "");
        break;
    case HS_PART_BODY: add(out, n, used, "body"); break;
    case HS_PART_TS:
        add(out, n, used, "%s", hs_scheme_ts_key(sc) ? hs_scheme_ts_key(sc)
                                : hs_scheme_ts_header(sc) ? hs_scheme_ts_header(sc)
                                : sc->ts_json ? sc->ts_json : "?");
        break;
    case HS_PART_ID:
        add(out, n, used, "%s", sc->id_header ? sc->id_header : sc->id_json ? sc->id_json : "?");
        break;
    case HS_PART_URL: add(out, n, used, "HOOKSPOOL_PUBLIC_URL[?query]"); break;
    case HS_PART_FORM:
        add(out, n, used, "each form field's name+value in name order%s%s%s",
            sc->body_hash_query ? " (a JSON body: " : "",
            sc->body_hash_query ? sc->body_hash_query : "",
            sc->body_hash_query ? " in the query is its hex SHA-256)" : "");
        break;
    case HS_PART_QUERY: case HS_PART_HEADER: case HS_PART_JSON:
        t = hs_scheme_part_text(sc, p, &l);
        add(out, n, used, "{%s %.*s}", p->kind == HS_PART_QUERY ? "query"
            : p->kind == HS_PART_HEADER ? "header" : "json", (int)l, t ? t : "?");
        break;
    default:
        break;
    }
}

static const char *pk_name(hs_pk_alg a)
{
    return a == HS_PK_ED25519 ? "Ed25519" : a == HS_PK_P256 ? "ECDSA P-256/SHA-256" : "?";
}

char *hs_scheme_describe(const hs_scheme *sc, long long tolerance, char *out, size_t n)
{
    const char *hdr = hs_scheme_sig_header(sc), *alg;
    size_t i, used = 0;

    if (n == 0)
        return out;
    out[0] = '\0';
    if (sc != NULL && sc->mac == HS_MAC_NONE) {
        add(out, n, &used, "no signature (mutual TLS or HOOKSPOOL_ALLOW_FROM authenticates)");
        return out;
    }
    if (hdr == NULL && (sc == NULL || sc->sig_json == NULL))
        return out;
    if (sc->query) {
        add(out, n, &used, "?%s=<the secret> in the URL (a shared token, not a signature)", hdr);
        return out;
    }
    if (sc->id_header != NULL)
        add(out, n, &used, "%s, ", sc->id_header);
    if (hs_scheme_ts_header(sc) != NULL)
        add(out, n, &used, "%s, ", hs_scheme_ts_header(sc));
    if (sc->layout == HS_LAYOUT_EACH) {
        add(out, n, &used, "a JSON body whose %s array has %s: <the secret> in every "
            "element (a shared token, not a signature)", sc->sig_json,
            hs_scheme_sig_key(sc) ? hs_scheme_sig_key(sc) : "?");
        return out;
    }
    if (hdr != NULL)
        add(out, n, &used, "%s: %s", hdr, sc->prefix);
    else
        add(out, n, &used, "in the JSON body at %s: ", sc->sig_json);
    if (sc->mac == HS_MAC_TOKEN) {
        add(out, n, &used, "<the secret> (a shared token, not a signature)");
        return out;
    }
    if (sc->layout == HS_LAYOUT_KV && hs_scheme_ts_key(sc) != NULL)
        add(out, n, &used, "%s=<%s>%c", hs_scheme_ts_key(sc), hs_scheme_ts_key(sc),
            sc->item_sep);
    if (sc->layout == HS_LAYOUT_KV || sc->layout == HS_LAYOUT_LIST)
        add(out, n, &used, "%s%c", hs_scheme_sig_key(sc) ? hs_scheme_sig_key(sc) : "?",
            sc->layout == HS_LAYOUT_KV ? '=' : ',');
    if (sc->mac == HS_MAC_PUBKEY) {
        add(out, n, &used, "<%s signature, %s, of ", pk_name(sc->pk_alg),
            hs_codec_enc_name(sc->enc) ? hs_codec_enc_name(sc->enc) : "?");
    } else {
        alg = hs_crypto_alg_name(sc->alg);
        add(out, n, &used, "<HMAC-");
        for (i = 0; alg != NULL && alg[i] != '\0'; i++)
            add(out, n, &used, "%c", alg[i] >= 'a' && alg[i] <= 'z' ? alg[i] - 'a' + 'A' : alg[i]);
        add(out, n, &used, " %s of ", hs_codec_enc_name(sc->enc) ? hs_codec_enc_name(sc->enc) : "?");
    }
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++)
        add_part(sc, &sc->parts[i], out, n, &used);
    add(out, n, &used, ">");
    if (sc->timestamped)
        add(out, n, &used, ", timestamp (%s) within %lld s",
            sc->ts_fmt == HS_TS_UNIX_MS ? "milliseconds" : sc->ts_fmt == HS_TS_RFC3339
            ? "RFC 3339" : "seconds", tolerance);
    if (sc->body_unsigned)
        add(out, n, &used, " (the sender's signature does not cover the body)");
    if (sc->sig_form != NULL)
        add(out, n, &used, "; a form body (%s) carries them as the JSON Pointers %s, "
            "%s, %s into its fields", HS_FORM_CONTENT_TYPE, sc->sig_form,
            sc->ts_form ? sc->ts_form : "-", sc->id_form ? sc->id_form : "-");
    if (sc->mac != HS_MAC_PUBKEY && sc->pk_alg != HS_PK_NONE && sc->pk_key != NULL)
        add(out, n, &used, "; or %s,<%s signature> checked with HOOKSPOOL_PUBLIC_KEY",
            sc->pk_key, pk_name(sc->pk_alg));
    if (sc->mac == HS_MAC_PUBKEY)
        add(out, n, &used, "; checked with HOOKSPOOL_PUBLIC_KEY");
    return out;
}
