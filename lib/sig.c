/*
 * sig.c - verification: a request's headers read as its scheme's row
 * describes them, then every secret tried.
 *
 * The primitives are OpenSSL's (crypto.h, codec.h). What is written here
 * is the parsing around them, which is where webhook verifiers usually
 * go wrong: every header is bounded, every encoding is validated
 * strictly before OpenSSL sees it, and anything malformed, or a row that
 * does not hold together, is a wrong signature (HS_SIG_BAD), never an
 * error path that could accept.
 */
#include "sig.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "codec.h"
#include "crypto.h"
#include "form.h"
#include "json.h"
#include "query.h"
#include "text.h"

/* Signatures accepted in one header (Stripe sends two v1 while a secret
 * rolls, Standard Webhooks a short list); more is not a real sender. */
#define MAX_CANDIDATES 8
/* Decimal digits of a timestamp: LLONG_MAX has 19. */
#define MAX_TS_DIGITS  19
/* A header name after its alias prefix is swapped (scheme.h). */
#define MAX_ALIAS_NAME (2 * HS_SCHEME_MAX_HEADER_NAME)
/* A JSON Pointer built from a row's: its text, an index and a member. */
#define MAX_PTR        (HS_SCHEME_MAX_TEXT + 32)

/* What a request's headers said, parsed and bounded. */
typedef struct sig_req {
    size_t         mac_len;
    unsigned char  cand[MAX_CANDIDATES][HS_CRYPTO_MAX_MAC];
    size_t         ncand;
    hs_crypto_part parts[HS_SCHEME_MAX_PARTS];    /* the signed bytes */
    size_t         nparts;
    int            has_ts;
    long long      ts;
    const char    *ts_text;                       /* as sent */
    size_t         ts_len;
    const char    *token;                         /* token schemes */
    size_t         token_len;
    const char    *id;                            /* the id, as sent */
    size_t         id_len;
    hs_buf         json;          /* the body minified, for a row that reads JSON,
                                   * or a form body's fields as JSON */
    int            from_form;     /* json holds a form's fields: the row's
                                   * *_form pointers apply */
    const char    *each[HS_SIG_MAX_EACH];         /* HS_LAYOUT_EACH tokens */
    size_t         each_len[HS_SIG_MAX_EACH];
    size_t         neach;
    char           qval[HS_SCHEME_MAX_PARTS][HS_SIG_MAX_QUERY_VAL + 1];
    /* Public-key signatures (a row with a pk_alg), decoded. */
    unsigned char  pk_cand[MAX_CANDIDATES][HS_PK_MAX_SIG];
    size_t         pk_len[MAX_CANDIDATES];
    size_t         npk;
    hs_buf         url;           /* HS_PART_URL's bytes */
    hs_buf         form;          /* HS_PART_FORM's bytes */
    char           qtoken[HS_SIG_MAX_QUERY_TOKEN + 1];   /* a query: row's token */
} sig_req;

/* Outcome of fetching one header. */
enum { HDR_ABSENT, HDR_OK, HDR_BAD };

/* Decimal digits s[0..n) as a number (n <= MAX_TS_DIGITS), or -1. */
static long long digits(const char *s, size_t n)
{
    char buf[MAX_TS_DIGITS + 1];
    char *end;
    long long v;
    size_t i;

    if (n == 0 || n > MAX_TS_DIGITS)
        return -1;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno == ERANGE || end != buf + n || v < 0)
        return -1;
    return v;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil); y within [0, 9999]. */
static long long days_from_civil(long long y, long long m, long long d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time (section 5.6) to seconds; contract in sig.h. */
static int parse_rfc3339(const char *s, size_t n, long long *out)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    long long y, mo, d, h, mi, se, off = 0, oh, om;
    size_t i = 19;

    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    if ((y = digits(s, 4)) < 0 || (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
        (d = digits(s + 8, 2)) < 1 || d > mdays[mo - 1] ||
        (h = digits(s + 11, 2)) < 0 || h > 23 || (mi = digits(s + 14, 2)) < 0 || mi > 59 ||
        (se = digits(s + 17, 2)) < 0 || se > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f || i - f > 9)
            return -1;
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        if ((oh = digits(s + i + 1, 2)) < 0 || oh > 23 ||
            (om = digits(s + i + 4, 2)) < 0 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
    } else {
        return -1;
    }
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se) - off;
    return 0;
}

int hs_sig_parse_ts(hs_ts_format fmt, const char *s, size_t n, long long *out)
{
    long long v;

    if (s == NULL || out == NULL)
        return -1;
    if (fmt == HS_TS_RFC3339)
        return parse_rfc3339(s, n, out);
    if ((fmt != HS_TS_UNIX && fmt != HS_TS_UNIX_MS) || (v = digits(s, n)) < 0)
        return -1;
    *out = fmt == HS_TS_UNIX_MS ? v / 1000 : v;
    return 0;
}

/*
 * 1 when t lies in [now - tol, now + tol]. The distance is computed in
 * unsigned arithmetic, which is exact for any two long long values, so
 * no operand can overflow; a negative tolerance counts as 0.
 */
static int ts_within(long long t, long long now, long long tol)
{
    unsigned long long d;

    if (tol < 0)
        tol = 0;
    d = t >= now ? (unsigned long long)t - (unsigned long long)now
                 : (unsigned long long)now - (unsigned long long)t;
    return d <= (unsigned long long)tol;
}

/*
 * Look up header name through hdr, or under its alias (scheme.h) when
 * absent. HDR_OK sets v[0..*vlen) to the value with surrounding OWS
 * removed; HDR_BAD means longer than HS_SIG_MAX_HEADER_VAL or empty. The
 * length is measured with a bounded loop so an enormous value is never
 * walked to its end.
 */
static int get_header(const hs_scheme *sc, hs_header_fn hdr, void *arg,
                      const char *name, const char **v, size_t *vlen)
{
    char alias[MAX_ALIAS_NAME + 1];
    const char *p = hdr(arg, name);
    size_t n = 0;

    if (p == NULL && hs_scheme_alias(sc, name, alias, sizeof alias))
        p = hdr(arg, alias);
    if (p == NULL)
        return HDR_ABSENT;
    while (n <= HS_SIG_MAX_HEADER_VAL && p[n] != '\0')
        n++;
    if (n > HS_SIG_MAX_HEADER_VAL)
        return HDR_BAD;
    hs_text_trim_ows(&p, &n);
    if (n == 0)
        return HDR_BAD;
    *v = p;
    *vlen = n;
    return HDR_OK;
}

/*
 * Decode one encoded MAC s[0..n) of exactly rq->mac_len bytes and add it
 * as a candidate. Returns 0, or -1 when the text has the wrong length or
 * alphabet (the candidate list is unchanged).
 */
static int add_candidate(sig_req *rq, hs_enc enc, const char *s, size_t n)
{
    unsigned char buf[HS_CODEC_B64_DEC_MAX(HS_CODEC_B64_LEN(HS_CRYPTO_MAX_MAC))];

    if (rq->ncand >= MAX_CANDIDATES ||
        hs_codec_decode_exact(enc, s, n, rq->mac_len, buf, sizeof buf) != 0)
        return -1;
    memcpy(rq->cand[rq->ncand++], buf, rq->mac_len);
    return 0;
}

/*
 * Decode one encoded public-key signature s[0..n) of 1 to HS_PK_MAX_SIG
 * bytes (its exact size is the key's business) and add it. 0, or -1
 * when it does not decode or fit (the list is unchanged).
 */
static int add_pk_candidate(sig_req *rq, hs_enc enc, const char *s, size_t n)
{
    unsigned char buf[HS_CODEC_B64_DEC_MAX(HS_CODEC_B64_LEN(HS_PK_MAX_SIG))];
    size_t got = 0;
    int rc;

    if (rq->npk >= MAX_CANDIDATES || n == 0 || n > HS_CODEC_B64_LEN(HS_PK_MAX_SIG) * 2)
        return -1;
    rc = enc == HS_ENC_HEX ? hs_codec_hex_decode(s, n, buf, sizeof buf, &got)
                           : hs_codec_b64_decode(s, n, buf, sizeof buf, &got);
    if (rc != 0 || got == 0 || got > HS_PK_MAX_SIG)
        return -1;
    memcpy(rq->pk_cand[rq->npk], buf, got);
    rq->pk_len[rq->npk++] = got;
    return 0;
}

/* HS_LAYOUT_PLAIN: the prefix exactly, then one encoded MAC. */
static hs_sig_result parse_plain(const hs_scheme *sc, const char *v,
                                 size_t vlen, sig_req *rq)
{
    size_t plen = strlen(sc->prefix);   /* terminated: hs_scheme_sig_header */

    if (!hs_text_prefix(v, vlen, sc->prefix))
        return HS_SIG_BAD;
    if (sc->mac == HS_MAC_PUBKEY)
        return add_pk_candidate(rq, sc->enc, v + plen, vlen - plen) == 0 ? HS_SIG_OK
                                                                        : HS_SIG_BAD;
    if (add_candidate(rq, sc->enc, v + plen, vlen - plen) != 0)
        return HS_SIG_BAD;
    return HS_SIG_OK;
}

/*
 * HS_LAYOUT_KV (Stripe-Signature): "key=value" items split by item_sep,
 * whitespace around items tolerated; exactly one ts_key item (when the
 * row has one), any number of sig_key items up to MAX_CANDIDATES, other
 * keys (v0, future versions) ignored. A signature of the wrong length
 * or alphabet cannot match and is skipped; at least one usable one is
 * required.
 */
static hs_sig_result parse_kv(const hs_scheme *sc, const char *v, size_t vlen,
                              sig_req *rq)
{
    const char *item, *eq, *ts = NULL;
    const char *sig_key = hs_scheme_sig_key(sc), *ts_key = hs_scheme_ts_key(sc);
    size_t i = 0, j, ilen, klen, tslen = 0, nsig = 0;

    if (sig_key == NULL || sc->item_sep == '\0')
        return HS_SIG_BAD;
    for (;;) {
        for (j = i; j < vlen && v[j] != sc->item_sep; j++)
            ;
        item = v + i;
        ilen = j - i;
        hs_text_trim_ows(&item, &ilen);
        if (ilen == 0)
            return HS_SIG_BAD;
        eq = memchr(item, '=', ilen);
        if (eq == NULL || eq == item)
            return HS_SIG_BAD;
        klen = (size_t)(eq - item);
        if (ts_key != NULL && hs_text_eq(item, klen, ts_key)) {
            if (ts != NULL)
                return HS_SIG_BAD;
            ts = eq + 1;
            tslen = ilen - klen - 1;
            if (hs_sig_parse_ts(sc->ts_fmt, ts, tslen, &rq->ts) != 0)
                return HS_SIG_BAD;
        } else if (hs_text_eq(item, klen, sig_key)) {
            if (++nsig > MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, sc->enc, eq + 1, ilen - klen - 1);
        }
        if (j == vlen)
            break;
        i = j + 1;
    }
    if ((ts_key != NULL && ts == NULL) || rq->ncand == 0)
        return HS_SIG_BAD;
    if (ts != NULL) {
        rq->has_ts = 1;
        rq->ts_text = ts;   /* signed as sent */
        rq->ts_len = tslen;
    }
    return HS_SIG_OK;
}

/*
 * HS_LAYOUT_LIST (webhook-signature): a space-separated list of
 * "key,<MAC>"; sig_key entries are candidates (malformed ones skipped),
 * other keys are skipped, an entry without a key is malformed.
 */
static hs_sig_result parse_list(const hs_scheme *sc, const char *s, size_t n,
                                sig_req *rq)
{
    const char *tok, *comma, *sig_key = hs_scheme_sig_key(sc);
    size_t i = 0, j, tlen, nsig = 0;

    if (sig_key == NULL)
        return HS_SIG_BAD;
    while (i < n) {
        while (i < n && hs_text_is_ows(s[i]))
            i++;
        if (i == n)
            break;
        for (j = i; j < n && !hs_text_is_ows(s[j]); j++)
            ;
        tok = s + i;
        tlen = j - i;
        comma = memchr(tok, ',', tlen);
        if (comma == NULL || comma == tok)
            return HS_SIG_BAD;
        if (hs_text_eq(tok, (size_t)(comma - tok), sig_key)) {
            if (++nsig > MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, sc->enc, comma + 1,
                                tlen - (size_t)(comma + 1 - tok));
        } else if (sc->pk_key != NULL && sc->pk_alg != HS_PK_NONE &&
                   hs_text_eq(tok, (size_t)(comma - tok), sc->pk_key)) {
            if (++nsig > MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_pk_candidate(rq, sc->enc, comma + 1,
                                   tlen - (size_t)(comma + 1 - tok));
        }
        i = j;
    }
    return rq->ncand == 0 && rq->npk == 0 ? HS_SIG_BAD : HS_SIG_OK;
}

/* HS_LAYOUT_TOKEN: with a prefix (RFC 6750's "Bearer "), the prefix in
 * any case and any spaces after it, then a non-empty token. */
static hs_sig_result parse_token(const hs_scheme *sc, const char *v,
                                 size_t vlen, sig_req *rq)
{
    size_t plen = strlen(sc->prefix);   /* terminated: hs_scheme_sig_header */

    if (plen > 0) {
        if (!hs_text_prefix_ci(v, vlen, sc->prefix))
            return HS_SIG_BAD;
        v += plen;
        vlen -= plen;
        while (vlen > 0 && v[0] == ' ') {
            v++;
            vlen--;
        }
        if (vlen == 0)
            return HS_SIG_BAD;
    }
    rq->token = v;
    rq->token_len = vlen;
    return HS_SIG_OK;
}

/* The text at JSON Pointer ptr in the minified body: 1 with *v, *vlen
 * set; 0 when absent or not a plain string or number. */
static int json_text(const sig_req *rq, const char *ptr, size_t plen,
                     const char **v, size_t *vlen)
{
    const char *val;
    size_t n;

    if (rq->json.p == NULL ||
        hs_json_pointer(rq->json.p, rq->json.len, ptr, plen, &val, &n) != 1)
        return 0;
    return hs_json_plain_text(val, n, v, vlen);
}

/*
 * One part's bytes that the request supplies (QUERY, HEADER, JSON) into
 * *p; part i's decoded query value is kept in rq->qval[i]. Returns
 * HS_SIG_OK, HS_SIG_MISSING when absent, or HS_SIG_BAD when malformed.
 */
static hs_sig_result request_part(const hs_scheme *sc, const hs_part *pt, size_t i,
                                  const hs_sig_input *in, sig_req *rq, hs_crypto_part *p)
{
    const char *name, *v;
    size_t nlen, vlen, k;
    int st;

    if ((name = hs_scheme_part_text(sc, pt, &nlen)) == NULL)
        return HS_SIG_BAD;
    switch (pt->kind) {
    case HS_PART_QUERY:
        st = hs_query_get(in->query, name, nlen, rq->qval[i], sizeof rq->qval[i], &vlen);
        if (st == HS_QUERY_ABSENT)
            return HS_SIG_MISSING;
        if (st != HS_QUERY_OK)
            return HS_SIG_BAD;
        for (k = 0; pt->lower && k < vlen; k++)
            if (rq->qval[i][k] >= 'A' && rq->qval[i][k] <= 'Z')
                rq->qval[i][k] = (char)(rq->qval[i][k] - 'A' + 'a');
        *p = (hs_crypto_part){ rq->qval[i], vlen };
        return HS_SIG_OK;
    case HS_PART_HEADER: {
        char hname[HS_SCHEME_MAX_HEADER_NAME + 1];
        if (nlen > HS_SCHEME_MAX_HEADER_NAME)
            return HS_SIG_BAD;
        memcpy(hname, name, nlen);
        hname[nlen] = '\0';
        st = get_header(sc, in->hdr, in->arg, hname, &v, &vlen);
        if (st != HDR_OK)
            return st == HDR_ABSENT ? HS_SIG_MISSING : HS_SIG_BAD;
        *p = (hs_crypto_part){ v, vlen };
        return HS_SIG_OK;
    }
    case HS_PART_JSON:
        if (!json_text(rq, name, nlen, &v, &vlen))
            return HS_SIG_MISSING;
        *p = (hs_crypto_part){ v, vlen };
        return HS_SIG_OK;
    default:
        return HS_SIG_BAD;
    }
}

/* Contract in sig.h. */
int hs_sig_url(const char *url, const char *query, hs_buf *out)
{
    if (url == NULL || url[0] == '\0')
        return -1;
    hs_buf_reset(out);
    hs_buf_puts(out, url);
    if (query != NULL && query[0] != '\0') {
        hs_buf_putc(out, '?');
        hs_buf_puts(out, query);
    }
    return out->oom || out->p == NULL ? -1 : 0;
}

/*
 * The signed bytes, in the row's order, from what the request said. An
 * HMAC row must sign the body unless it says it does not
 * (body_unsigned): one that does not authenticates nothing and fails
 * closed.
 */
static hs_sig_result build_parts(const hs_scheme *sc, sig_req *rq,
                                 const hs_sig_input *in)
{
    const char *t;
    size_t i, l;
    hs_sig_result r;
    int saw_body = 0;

    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++) {
        hs_crypto_part *p = &rq->parts[rq->nparts++];
        switch (sc->parts[i].kind) {
        case HS_PART_LIT:
            if ((t = hs_scheme_part_text(sc, &sc->parts[i], &l)) == NULL)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ t, l };
            break;
        case HS_PART_BODY:
            *p = (hs_crypto_part){ in->body, in->len };
            saw_body = 1;
            break;
        case HS_PART_TS:
            if (!rq->has_ts)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ rq->ts_text, rq->ts_len };
            break;
        case HS_PART_ID:
            if (rq->id == NULL)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ rq->id, rq->id_len };
            break;
        case HS_PART_QUERY:
        case HS_PART_HEADER:
        case HS_PART_JSON:
            if ((r = request_part(sc, &sc->parts[i], i, in, rq, p)) != HS_SIG_OK)
                return r;
            break;
        case HS_PART_URL:
            if (hs_sig_url(in->url, in->query, &rq->url) != 0)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ rq->url.p, rq->url.len };
            break;
        case HS_PART_FORM:
            hs_buf_reset(&rq->form);
            if (hs_form_signed(in->body, in->len, in->query, sc->body_hash_query,
                               &rq->form) != 0)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ rq->form.p ? rq->form.p : "", rq->form.len };
            saw_body = 1;
            break;
        default:
            return HS_SIG_BAD;
        }
    }
    return sc->mac != HS_MAC_TOKEN && !saw_body && !sc->body_unsigned ? HS_SIG_BAD : HS_SIG_OK;
}

/* HS_LAYOUT_EACH: member sig_key of every element of the array at
 * sig_json, each a plain string; none at all is MISSING. */
static hs_sig_result parse_each(const hs_scheme *sc, sig_req *rq)
{
    char ptr[MAX_PTR];
    const char *v;
    size_t i, vlen;
    int w;

    if (sc->sig_json == NULL || sc->sig_key == NULL || rq->json.p == NULL)
        return HS_SIG_MISSING;
    for (i = 0; ; i++) {
        w = snprintf(ptr, sizeof ptr, "%s/%zu", sc->sig_json, i);
        if (w <= 0 || (size_t)w >= sizeof ptr)
            return HS_SIG_BAD;
        if (hs_json_pointer(rq->json.p, rq->json.len, ptr, (size_t)w, &v, &vlen) != 1)
            break;
        if (i == HS_SIG_MAX_EACH)
            return HS_SIG_BAD;
        w = snprintf(ptr, sizeof ptr, "%s/%zu/%s", sc->sig_json, i, sc->sig_key);
        if (w <= 0 || (size_t)w >= sizeof ptr ||
            !json_text(rq, ptr, (size_t)w, &rq->each[i], &rq->each_len[i]) ||
            rq->each_len[i] == 0)
            return HS_SIG_BAD;
        rq->neach = i + 1;
    }
    return rq->neach == 0 ? HS_SIG_MISSING : HS_SIG_OK;
}

/* A value the row reads from a header or from the JSON body: *v set and
 * HDR_OK, HDR_ABSENT, or HDR_BAD. A NULL header and pointer: HDR_OK with
 * *v left NULL (the row reads no such value). */
static int row_value(const hs_scheme *sc, const hs_sig_input *in, sig_req *rq,
                     const char *header, const char *ptr, const char **v, size_t *vlen)
{
    if (header != NULL)
        return get_header(sc, in->hdr, in->arg, header, v, vlen);
    if (ptr != NULL) {
        if (!json_text(rq, ptr, strlen(ptr), v, vlen))
            return HDR_ABSENT;
        return *vlen == 0 || *vlen > HS_SIG_MAX_HEADER_VAL ? HDR_BAD : HDR_OK;
    }
    return HDR_OK;
}

/* A query:NAME row's token: the query parameter NAME ('+' kept), as
 * row_value answers. */
static int query_token(const hs_sig_input *in, const char *name, sig_req *rq,
                       const char **v, size_t *vlen)
{
    switch (hs_query_token(in->query, name, strlen(name), rq->qtoken,
                           sizeof rq->qtoken, vlen)) {
    case HS_QUERY_OK:
        *v = rq->qtoken;
        return *vlen == 0 ? HDR_BAD : HDR_OK;
    case HS_QUERY_ABSENT:
        return HDR_ABSENT;
    default:
        return HDR_BAD;
    }
}

/*
 * A body that is not JSON, for a row that reads its proof from the body:
 * when the row also takes a form (sig_form) and the request says it is
 * one (Content-Type), its fields as JSON into rq->json, and HS_SIG_OK.
 * Otherwise HS_SIG_MISSING (no proof where the row looks), or BAD out of
 * memory. Like the JSON parse, this runs before the sender is known,
 * bounded by the body's size and HS_FORM_MAX_FIELDS.
 */
static hs_sig_result form_fields(const hs_scheme *sc, const hs_sig_input *in, sig_req *rq)
{
    hs_form f = HS_FORM_INIT;
    int bad;

    if (sc->sig_form == NULL || !hs_form_content_type(in->hdr(in->arg, "Content-Type")) ||
        hs_form_parse(in->body, in->len, &f) != HS_FORM_OK)
        return HS_SIG_MISSING;
    bad = hs_form_json(&f, &rq->json) != 0;
    hs_form_free(&f);
    if (bad) {
        hs_buf_free(&rq->json);
        return HS_SIG_BAD;
    }
    rq->from_form = 1;
    return HS_SIG_OK;
}

/*
 * Read what scheme sc needs from the request into rq. Returns HS_SIG_OK
 * when it is present and well formed, else MISSING (any absent) or BAD
 * as sig.h defines.
 */
static hs_sig_result parse_request(const hs_scheme *sc, const hs_sig_input *in,
                                   sig_req *rq)
{
    const char *name = hs_scheme_sig_header(sc);
    const char *v = NULL, *tsv = NULL;
    size_t vlen = 0, tslen = 0;
    int st[3], i, missing = 0, bad = 0;
    hs_sig_result r;

    if (name == NULL && sc->sig_json == NULL)
        return HS_SIG_BAD;
    if (sc->mac == HS_MAC_HMAC) {
        rq->mac_len = hs_crypto_mac_size(sc->alg);
        if (rq->mac_len == 0 || sc->layout == HS_LAYOUT_TOKEN || sc->layout == HS_LAYOUT_EACH)
            return HS_SIG_BAD;
    } else if (sc->mac == HS_MAC_PUBKEY) {
        if (sc->pk_alg == HS_PK_NONE || sc->layout != HS_LAYOUT_PLAIN)
            return HS_SIG_BAD;
    } else if (sc->mac != HS_MAC_TOKEN ||
               (sc->layout != HS_LAYOUT_TOKEN && sc->layout != HS_LAYOUT_EACH)) {
        return HS_SIG_BAD;
    }
    if (hs_scheme_reads_json(sc)) {
        /* These senders put their proof inside the body: it is parsed
         * (strictly, bounded by HOOKSPOOL_MAX_BODY) before it is known to
         * be theirs, and thrown away if it is not. */
        int jr = hs_json_minify(in->body, in->len, &rq->json, NULL);
        if (jr == HS_JSON_ENOMEM)
            return HS_SIG_BAD;
        if (jr != HS_JSON_OK) {
            hs_buf_free(&rq->json);
            if ((r = form_fields(sc, in, rq)) != HS_SIG_OK)
                return r;
        }
    }
    if (sc->layout == HS_LAYOUT_EACH)
        return parse_each(sc, rq);
    st[0] = row_value(sc, in, rq, sc->id_header, rq->from_form ? sc->id_form : sc->id_json,
                      &rq->id, &rq->id_len);
    st[1] = row_value(sc, in, rq, hs_scheme_ts_header(sc),
                      rq->from_form ? sc->ts_form : sc->ts_json, &tsv, &tslen);
    st[2] = sc->query && name != NULL ? query_token(in, name, rq, &v, &vlen)
            : row_value(sc, in, rq, name,
                        name ? NULL : rq->from_form ? sc->sig_form : sc->sig_json, &v, &vlen);
    for (i = 0; i < 3; i++) {
        missing |= st[i] == HDR_ABSENT;
        bad |= st[i] == HDR_BAD;
    }
    if (missing)
        return HS_SIG_MISSING;
    if (bad || v == NULL)
        return HS_SIG_BAD;
    if (tsv != NULL) {
        if (hs_sig_parse_ts(sc->ts_fmt, tsv, tslen, &rq->ts) != 0)
            return HS_SIG_BAD;
        rq->has_ts = 1;
        rq->ts_text = tsv;
        rq->ts_len = tslen;
    }
    switch (sc->layout) {
    case HS_LAYOUT_PLAIN: r = parse_plain(sc, v, vlen, rq); break;
    case HS_LAYOUT_KV:    r = parse_kv(sc, v, vlen, rq); break;
    case HS_LAYOUT_LIST:  r = parse_list(sc, v, vlen, rq); break;
    case HS_LAYOUT_TOKEN: r = parse_token(sc, v, vlen, rq); break;
    default:              r = HS_SIG_BAD; break;
    }
    if (r != HS_SIG_OK)
        return r;
    return build_parts(sc, rq, in);
}

/*
 * 1 when the HMAC under key[0..klen) of rq's signed bytes equals one of
 * rq's candidates. Every candidate is compared in constant time; a
 * failure to compute counts as no match.
 */
static int mac_matches(const hs_scheme *sc, const sig_req *rq,
                       const unsigned char *key, size_t klen)
{
    unsigned char mac[HS_CRYPTO_MAX_MAC];
    size_t i, n = 0;
    int hit = 0;

    if (hs_crypto_hmac(sc->alg, key, klen, rq->parts, rq->nparts, mac, &n) != 0 ||
        n != rq->mac_len)
        return 0;
    for (i = 0; i < rq->ncand; i++)
        hit |= hs_crypto_equal(mac, rq->cand[i], n);
    OPENSSL_cleanse(mac, sizeof mac);
    return hit;
}

/* 1 when key[0..klen) authenticates the request parsed into rq. */
static int key_matches(const hs_scheme *sc, const sig_req *rq,
                       const unsigned char *key, size_t klen)
{
    if (klen == 0 || klen > HS_SECRET_MAX)
        return 0;
    size_t i;
    int all = 1;

    if (sc->layout == HS_LAYOUT_EACH) {
        /* Every notification must carry it: one batch, one sender. */
        for (i = 0; i < rq->neach; i++)
            all &= hs_crypto_token_equal(rq->each[i], rq->each_len[i], key, klen);
        return rq->neach > 0 && all;
    }
    if (sc->mac == HS_MAC_TOKEN)
        return hs_crypto_token_equal(rq->token, rq->token_len, key, klen);
    return mac_matches(sc, rq, key, klen);
}

/* 1 when one of rq's public-key signatures verifies with one of in's
 * public keys of the row's algorithm. */
static int pubkey_matches(const hs_scheme *sc, const sig_req *rq, const hs_sig_input *in)
{
    size_t i, k;

    if (sc->pk_alg == HS_PK_NONE || in->pub == NULL)
        return 0;
    for (k = 0; k < in->npub; k++) {
        if (in->pub[k].alg != sc->pk_alg)
            continue;
        for (i = 0; i < rq->npk; i++)
            if (hs_pubkey_verify(&in->pub[k], rq->parts, rq->nparts, rq->pk_cand[i],
                                 rq->pk_len[i]))
                return 1;
    }
    return 0;
}

/*
 * Contract in sig.h. Order: headers (MISSING, then malformed is BAD),
 * then the timestamp (EXPIRED), then every secret, then, only when none
 * matched, every secret's alt for the hint. Any internal failure is BAD:
 * this function fails closed.
 */
hs_sig_verdict hs_sig_verify_input(const hs_scheme *sc, const hs_secret *secrets,
                                   size_t n, const hs_sig_input *in,
                                   time_t now, long long tolerance)
{
    hs_sig_verdict vd = { HS_SIG_BAD, -1 };
    sig_req *rq;
    size_t i;

    if (sc == NULL || in == NULL || in->hdr == NULL || (in->body == NULL && in->len > 0) ||
        (secrets == NULL && n > 0))
        return vd;
    /* Several kilobytes with the query values and EACH's tokens: on the
     * heap, not on a FastCGI thread's stack. */
    if ((rq = calloc(1, sizeof *rq)) == NULL)
        return vd;
    vd.result = parse_request(sc, in, rq);
    if (vd.result != HS_SIG_OK)
        goto done;
    if (rq->has_ts && !ts_within(rq->ts, (long long)now, tolerance)) {
        vd.result = HS_SIG_EXPIRED;
        goto done;
    }
    vd.result = HS_SIG_BAD;
    for (i = 0; i < n && sc->mac != HS_MAC_PUBKEY; i++) {
        if (key_matches(sc, rq, secrets[i].key, secrets[i].key_len)) {
            vd.result = HS_SIG_OK;
            goto done;
        }
    }
    if (pubkey_matches(sc, rq, in)) {
        vd.result = HS_SIG_OK;
        goto done;
    }
    for (i = 0; i < n && i <= INT_MAX; i++) {
        if (secrets[i].alt_len > 0 &&
            key_matches(sc, rq, secrets[i].alt, secrets[i].alt_len)) {
            vd.hint_index = (int)i;
            break;
        }
    }
done:
    hs_buf_free(&rq->json);
    hs_buf_free(&rq->url);
    hs_buf_free(&rq->form);
    OPENSSL_cleanse(rq, sizeof *rq);
    free(rq);
    return vd;
}

hs_sig_verdict hs_sig_verify(const hs_scheme *sc, const hs_secret *secrets,
                             size_t n, hs_header_fn hdr, void *arg,
                             const unsigned char *body, size_t len,
                             time_t now, long long tolerance)
{
    hs_sig_input in = { hdr, arg, NULL, body, len, NULL, 0, NULL };

    return hs_sig_verify_input(sc, secrets, n, &in, now, tolerance);
}
