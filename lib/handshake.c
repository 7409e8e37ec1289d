/*
 * handshake.c - see handshake.h. One row per handshake kind: what marks
 * the request, and how it is answered; the rows share the helpers that
 * check a challenge and write an answer.
 */
#include "handshake.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "crypto.h"
#include "json.h"
#include "query.h"
#include "text.h"

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json"
#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

int hs_handshake_challenge_ok(const char *s, size_t n)
{
    return s != NULL && n > 0 && n <= HS_HSK_MAX_CHALLENGE &&
           hs_text_alnum_or(s, n, HS_HSK_ALPHABET);
}

/* Graph's token: 1 to HS_HSK_MAX_GRAPH_TOKEN printable ASCII bytes
 * (it holds spaces and colons, and is echoed as text/plain only). */
static int graph_token_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > HS_HSK_MAX_GRAPH_TOKEN)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* The challenge as text/plain, nosniff. */
static hs_hsk_result answer_text(hs_hsk_answer *out, const char *name,
                                 const char *s, size_t n)
{
    out->status = 200;
    out->content_type = CT_TEXT;
    out->name = name;
    hs_buf_puts(out->head, NOSNIFF);
    hs_buf_append(out->body, s, n);
    return HS_HSK_ANSWERED;
}

/* {"key":"value"[,"key2":"value2"]} (values JSON-escaped), nosniff. */
static hs_hsk_result answer_json(hs_hsk_answer *out, const char *name,
                                 const char *k1, const char *v1, size_t n1,
                                 const char *k2, const char *v2, size_t n2)
{
    out->status = 200;
    out->content_type = CT_JSON;
    out->name = name;
    hs_buf_puts(out->head, NOSNIFF);
    hs_buf_putc(out->body, '{');
    hs_buf_json_str(out->body, k1, strlen(k1));
    hs_buf_putc(out->body, ':');
    hs_buf_json_str(out->body, v1, n1);
    if (k2 != NULL) {
        hs_buf_putc(out->body, ',');
        hs_buf_json_str(out->body, k2, strlen(k2));
        hs_buf_putc(out->body, ':');
        hs_buf_json_str(out->body, v2, n2);
    }
    hs_buf_puts(out->body, "}\n");
    return HS_HSK_ANSWERED;
}

/* The plain text at ptr in the body parsed as JSON into *json (which the
 * caller frees): 1 with *s, *n set, 0 when absent or not plain text. */
static int body_text(const hs_hsk_input *in, hs_buf *json, const char *ptr,
                     const char **s, size_t *n)
{
    const char *v;
    size_t vn;

    if (json->p == NULL && hs_json_minify(in->body, in->len, json, NULL) != HS_JSON_OK)
        return 0;
    if (json->p == NULL ||
        hs_json_pointer(json->p, json->len, ptr, strlen(ptr), &v, &vn) != 1)
        return 0;
    return hs_json_plain_text(v, vn, s, n);
}

/* 1 when the body's text at ptr is exactly lit. */
static int body_is(const hs_hsk_input *in, hs_buf *json, const char *ptr, const char *lit)
{
    const char *s;
    size_t n;

    return body_text(in, json, ptr, &s, &n) && hs_text_eq(s, n, lit);
}

/* A JSON body's challenge at ptr, echoed by answer (text or JSON). */
static hs_hsk_result echo_body(const hs_hsk_input *in, hs_buf *json, const char *ptr,
                               const char *name, const char *json_key, hs_hsk_answer *out)
{
    const char *s;
    size_t n;

    if (!body_text(in, json, ptr, &s, &n) || !hs_handshake_challenge_ok(s, n))
        return HS_HSK_MALFORMED;
    if (json_key != NULL)
        return answer_json(out, name, json_key, s, n, NULL, NULL, 0);
    return answer_text(out, name, s, n);
}

/* HMAC-SHA256 of s[0..n) under the first secret, encoded as enc into
 * mac_text (which holds 2 * HS_CRYPTO_MAX_MAC + 1 bytes). 0 or -1. */
static int sign_with_secret(const hs_hsk_input *in, const char *s, size_t n, hs_enc enc,
                            char *mac_text, size_t cap)
{
    unsigned char mac[HS_CRYPTO_MAX_MAC];
    hs_crypto_part part = { s, n };
    size_t ml = 0;
    int rc;

    if (in->nsecrets == 0 || in->secrets == NULL)
        return -1;
    rc = hs_crypto_hmac(HS_ALG_SHA256, in->secrets[0].key, in->secrets[0].key_len,
                        &part, 1, mac, &ml);
    if (rc == 0)
        rc = hs_codec_encode(enc, mac, ml, mac_text, cap);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

/* The query parameter name into buf: HS_QUERY_OK/ABSENT/BAD. */
static int qget(const hs_hsk_input *in, const char *name, char *buf, size_t cap, size_t *n)
{
    return hs_query_get(in->query, name, strlen(name), buf, cap, n);
}

static int is_method(const hs_hsk_input *in, const char *m)
{
    return in->method != NULL && strcmp(in->method, m) == 0;
}

/* ------------------------------------------------------------ before */

/* Meta: GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C. */
static hs_hsk_result meta_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    char mode[32], tok[HS_HSK_MAX_CHALLENGE + 1], ch[HS_HSK_MAX_CHALLENGE + 1];
    size_t ml, tl, cl;
    int ms;

    if (!is_method(in, "GET") || (ms = qget(in, "hub.mode", mode, sizeof mode, &ml)) == HS_QUERY_ABSENT)
        return HS_HSK_NOT;
    if (ms != HS_QUERY_OK || !hs_text_eq(mode, ml, "subscribe"))
        return HS_HSK_MALFORMED;
    if (in->verify_token == NULL || in->verify_token[0] == '\0' ||
        qget(in, "hub.verify_token", tok, sizeof tok, &tl) != HS_QUERY_OK ||
        !hs_crypto_token_equal(tok, tl, in->verify_token, strlen(in->verify_token)))
        return HS_HSK_DENIED;
    if (qget(in, "hub.challenge", ch, sizeof ch, &cl) != HS_QUERY_OK ||
        !hs_handshake_challenge_ok(ch, cl))
        return HS_HSK_MALFORMED;
    out->authenticated = 1;
    return answer_text(out, "meta hub.challenge", ch, cl);
}

/* Dropbox: GET ?challenge=C, echoed as text/plain, nosniff. */
static hs_hsk_result dropbox_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    char ch[HS_HSK_MAX_CHALLENGE + 1];
    size_t cl;
    int st;

    if (!is_method(in, "GET") || (st = qget(in, "challenge", ch, sizeof ch, &cl)) == HS_QUERY_ABSENT)
        return HS_HSK_NOT;
    if (st != HS_QUERY_OK || !hs_handshake_challenge_ok(ch, cl))
        return HS_HSK_MALFORMED;
    return answer_text(out, "dropbox challenge", ch, cl);
}

/* X: GET ?crc_token=T, answered
 * {"response_token":"sha256=" base64(HMAC-SHA256(consumer secret, T))}. */
static hs_hsk_result twitter_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    char tok[HS_HSK_MAX_CHALLENGE + 1], mac[2 * HS_CRYPTO_MAX_MAC + 1];
    char resp[sizeof "sha256=" + sizeof mac];
    size_t tl;
    int st, w;

    if (!is_method(in, "GET") || (st = qget(in, "crc_token", tok, sizeof tok, &tl)) == HS_QUERY_ABSENT)
        return HS_HSK_NOT;
    if (st != HS_QUERY_OK || !hs_handshake_challenge_ok(tok, tl))
        return HS_HSK_MALFORMED;
    if (sign_with_secret(in, tok, tl, HS_ENC_BASE64, mac, sizeof mac) != 0)
        return HS_HSK_DENIED;
    w = snprintf(resp, sizeof resp, "sha256=%s", mac);
    OPENSSL_cleanse(mac, sizeof mac);
    if (w <= 0 || (size_t)w >= sizeof resp)
        return HS_HSK_DENIED;
    answer_json(out, "twitter crc_token", "response_token", resp, (size_t)w, NULL, NULL, 0);
    OPENSSL_cleanse(resp, sizeof resp);
    return HS_HSK_ANSWERED;
}

/* Okta: GET with X-Okta-Verification-Challenge, answered
 * {"verification":"<value>"}; an Authorization header, when sent, must
 * be the secret. */
static hs_hsk_result okta_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    const char *ch, *auth;
    size_t i, cl;
    int ok = 0;

    if (!is_method(in, "GET") || (ch = in->hdr(in->arg, "X-Okta-Verification-Challenge")) == NULL)
        return HS_HSK_NOT;
    if ((auth = in->hdr(in->arg, "Authorization")) != NULL) {
        for (i = 0; i < in->nsecrets; i++)
            ok |= hs_crypto_token_equal(auth, strlen(auth), in->secrets[i].key,
                                        in->secrets[i].key_len);
        if (!ok)
            return HS_HSK_DENIED;
    }
    cl = strnlen(ch, HS_HSK_MAX_CHALLENGE + 1);
    if (!hs_handshake_challenge_ok(ch, cl))
        return HS_HSK_MALFORMED;
    out->authenticated = auth != NULL;
    return answer_json(out, "okta verification", "verification", ch, cl, NULL, NULL, 0);
}

/* Graph: POST ?validationToken=T (URL-encoded), answered with T decoded
 * as text/plain. */
static hs_hsk_result graph_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    char tok[HS_HSK_MAX_GRAPH_TOKEN + 1];
    size_t tl;
    int st;

    if (!is_method(in, "POST") ||
        (st = qget(in, "validationToken", tok, sizeof tok, &tl)) == HS_QUERY_ABSENT)
        return HS_HSK_NOT;
    if (st != HS_QUERY_OK || !graph_token_ok(tok, tl))
        return HS_HSK_MALFORMED;
    return answer_text(out, "graph validationToken", tok, tl);
}

/* Smartsheet: a POST with Smartsheet-Hook-Challenge, answered 200 with
 * Smartsheet-Hook-Response and {"smartsheetHookResponse":...}. */
static hs_hsk_result smartsheet_answer(const hs_hsk_input *in, hs_hsk_answer *out)
{
    const char *ch = in->hdr(in->arg, "Smartsheet-Hook-Challenge");
    size_t cl;

    if (!is_method(in, "POST") || ch == NULL)
        return HS_HSK_NOT;
    cl = strnlen(ch, HS_HSK_MAX_CHALLENGE + 1);
    if (!hs_handshake_challenge_ok(ch, cl))
        return HS_HSK_MALFORMED;
    hs_buf_puts(out->head, "Smartsheet-Hook-Response: ");
    hs_buf_append(out->head, ch, cl);
    hs_buf_puts(out->head, "\r\n");
    return answer_json(out, "smartsheet challenge", "smartsheetHookResponse", ch, cl,
                       NULL, NULL, 0);
}

/* Unsigned, it is answered before authentication; signed, after. */
static hs_hsk_result smartsheet_before(const hs_hsk_input *in, hs_hsk_answer *out)
{
    if (in->hdr(in->arg, "Smartsheet-Hmac-SHA256") != NULL)
        return HS_HSK_NOT;
    return smartsheet_answer(in, out);
}

/* ------------------------------------------------------------- after */

/* Slack: {"type":"url_verification","challenge":C}, C as text/plain. */
static hs_hsk_result slack_after(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out)
{
    if (!body_is(in, json, "/type", "url_verification"))
        return HS_HSK_NOT;
    return echo_body(in, json, "/challenge", "slack url_verification", NULL, out);
}

/* Zoom: {"event":"endpoint.url_validation","payload":{"plainToken":P}},
 * answered {"plainToken":P,"encryptedToken":hex(HMAC-SHA256(secret, P))}. */
static hs_hsk_result zoom_after(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out)
{
    char mac[2 * HS_CRYPTO_MAX_MAC + 1];
    const char *p;
    size_t pn;
    hs_hsk_result r;

    if (!body_is(in, json, "/event", "endpoint.url_validation"))
        return HS_HSK_NOT;
    if (!body_text(in, json, "/payload/plainToken", &p, &pn) || !hs_handshake_challenge_ok(p, pn))
        return HS_HSK_MALFORMED;
    if (sign_with_secret(in, p, pn, HS_ENC_HEX, mac, sizeof mac) != 0)
        return HS_HSK_DENIED;
    r = answer_json(out, "zoom endpoint.url_validation", "plainToken", p, pn,
                    "encryptedToken", mac, strlen(mac));
    OPENSSL_cleanse(mac, sizeof mac);
    return r;
}

/* Twitch: Twitch-Eventsub-Message-Type: webhook_callback_verification,
 * the body's challenge as text/plain. */
static hs_hsk_result twitch_after(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out)
{
    const char *t = in->hdr(in->arg, "Twitch-Eventsub-Message-Type");

    if (t == NULL || strcmp(t, "webhook_callback_verification") != 0)
        return HS_HSK_NOT;
    return echo_body(in, json, "/challenge", "twitch webhook_callback_verification", NULL, out);
}

static hs_hsk_result smartsheet_after(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out)
{
    (void)json;
    return smartsheet_answer(in, out);
}

/* Discord's PING, {"type":1} once its signature verified: answered
 * {"type":1} (Discord also sends wrongly signed PINGs, which never get
 * here: the handler answers them 401). */
static hs_hsk_result discord_after(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out)
{
    if (!body_is(in, json, "/type", "1"))
        return HS_HSK_NOT;
    out->status = 200;
    out->content_type = CT_JSON;
    out->name = "discord ping";
    hs_buf_puts(out->body, "{\"type\":1}");
    return HS_HSK_ANSWERED;
}

/* The rows, indexed by hs_handshake_kind. */
static const struct {
    hs_hsk_result (*before)(const hs_hsk_input *in, hs_hsk_answer *out);
    hs_hsk_result (*after)(const hs_hsk_input *in, hs_buf *json, hs_hsk_answer *out);
} g_hsk[] = {
    [HS_HSK_NONE]       = { NULL, NULL },
    [HS_HSK_SLACK]      = { NULL, slack_after },
    [HS_HSK_META]       = { meta_before, NULL },
    [HS_HSK_ZOOM]       = { NULL, zoom_after },
    [HS_HSK_TWITCH]     = { NULL, twitch_after },
    [HS_HSK_GRAPH]      = { graph_before, NULL },
    [HS_HSK_DROPBOX]    = { dropbox_before, NULL },
    [HS_HSK_TWITTER]    = { twitter_before, NULL },
    [HS_HSK_OKTA]       = { okta_before, NULL },
    [HS_HSK_SMARTSHEET] = { smartsheet_before, smartsheet_after },
    [HS_HSK_DISCORD]    = { NULL, discord_after },
};

/* 1 when the arguments are usable and sc's kind has a row. */
static int row_of(const hs_scheme *sc, const hs_hsk_input *in, hs_hsk_answer *out)
{
    return sc != NULL && in != NULL && out != NULL && in->hdr != NULL &&
           out->head != NULL && out->body != NULL &&
           (size_t)sc->handshake < sizeof g_hsk / sizeof g_hsk[0];
}

hs_hsk_result hs_handshake_before(const hs_scheme *sc, const hs_hsk_input *in,
                                  hs_hsk_answer *out)
{
    if (!row_of(sc, in, out) || g_hsk[sc->handshake].before == NULL)
        return HS_HSK_NOT;
    out->authenticated = 0;
    return g_hsk[sc->handshake].before(in, out);
}

hs_hsk_result hs_handshake_after(const hs_scheme *sc, const hs_hsk_input *in,
                                 hs_hsk_answer *out)
{
    hs_buf json = HS_BUF_INIT;
    hs_hsk_result r;

    if (!row_of(sc, in, out) || g_hsk[sc->handshake].after == NULL)
        return HS_HSK_NOT;
    out->authenticated = 1;   /* called once the POST verified */
    r = g_hsk[sc->handshake].after(in, &json, out);
    hs_buf_free(&json);
    return r;
}
