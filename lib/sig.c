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

#include "codec.h"
#include "crypto.h"
#include "text.h"

/* Signatures accepted in one header (Stripe sends two v1 while a secret
 * rolls, Standard Webhooks a short list); more is not a real sender. */
#define MAX_CANDIDATES 8
/* Decimal digits of a timestamp: LLONG_MAX has 19. */
#define MAX_TS_DIGITS  19
/* A header name after its alias prefix is swapped (scheme.h). */
#define MAX_ALIAS_NAME (2 * HS_SCHEME_MAX_HEADER_NAME)

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
} sig_req;

/* Outcome of fetching one header. */
enum { HDR_ABSENT, HDR_OK, HDR_BAD };

/*
 * Parse a timestamp s[0..n): 1 to MAX_TS_DIGITS decimal digits, nothing
 * else (no sign, no space: strtoll would accept those, so they are
 * excluded first). Returns 0 with *out set, or -1.
 */
static int parse_ts(const char *s, size_t n, long long *out)
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
    *out = v;
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

/* Fetch one header the scheme needs, noting whether it was missing or
 * malformed; a NULL name is a header the scheme does not read. */
static void need_header(const hs_scheme *sc, hs_header_fn hdr, void *arg,
                        const char *name, const char **v, size_t *vlen,
                        int *missing, int *bad)
{
    int st;

    if (name == NULL)
        return;
    st = get_header(sc, hdr, arg, name, v, vlen);
    if (st == HDR_ABSENT)
        *missing = 1;
    else if (st == HDR_BAD)
        *bad = 1;
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

/* HS_LAYOUT_PLAIN: the prefix exactly, then one encoded MAC. */
static hs_sig_result parse_plain(const hs_scheme *sc, const char *v,
                                 size_t vlen, sig_req *rq)
{
    size_t plen = strlen(sc->prefix);   /* terminated: hs_scheme_sig_header */

    if (!hs_text_prefix(v, vlen, sc->prefix) ||
        add_candidate(rq, sc->enc, v + plen, vlen - plen) != 0)
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
    size_t i = 0, j, ilen, klen, tslen = 0, nsig = 0;

    if (sc->sig_key == NULL || sc->item_sep == '\0')
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
        if (sc->ts_key != NULL && hs_text_eq(item, klen, sc->ts_key)) {
            if (ts != NULL)
                return HS_SIG_BAD;
            ts = eq + 1;
            tslen = ilen - klen - 1;
            if (parse_ts(ts, tslen, &rq->ts) != 0)
                return HS_SIG_BAD;
        } else if (hs_text_eq(item, klen, sc->sig_key)) {
            if (++nsig > MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, sc->enc, eq + 1, ilen - klen - 1);
        }
        if (j == vlen)
            break;
        i = j + 1;
    }
    if ((sc->ts_key != NULL && ts == NULL) || rq->ncand == 0)
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
    const char *tok, *comma;
    size_t i = 0, j, tlen, nsig = 0;

    if (sc->sig_key == NULL)
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
        if (hs_text_eq(tok, (size_t)(comma - tok), sc->sig_key)) {
            if (++nsig > MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, sc->enc, comma + 1,
                                tlen - (size_t)(comma + 1 - tok));
        }
        i = j;
    }
    return rq->ncand == 0 ? HS_SIG_BAD : HS_SIG_OK;
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

/*
 * The signed bytes, in the row's order, from what the headers said. An
 * HMAC row must sign the body: one that does not authenticates nothing
 * and fails closed.
 */
static hs_sig_result build_parts(const hs_scheme *sc, sig_req *rq,
                                 const char *id, size_t idlen,
                                 const unsigned char *body, size_t len)
{
    size_t i;
    int saw_body = 0;

    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++) {
        hs_crypto_part *p = &rq->parts[rq->nparts++];
        switch (sc->parts[i].kind) {
        case HS_PART_LIT:
            if (sc->parts[i].lit == NULL)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ sc->parts[i].lit, strlen(sc->parts[i].lit) };
            break;
        case HS_PART_BODY:
            *p = (hs_crypto_part){ body, len };
            saw_body = 1;
            break;
        case HS_PART_TS:
            if (!rq->has_ts)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ rq->ts_text, rq->ts_len };
            break;
        case HS_PART_ID:
            if (id == NULL)
                return HS_SIG_BAD;
            *p = (hs_crypto_part){ id, idlen };
            break;
        default:
            return HS_SIG_BAD;
        }
    }
    return sc->mac == HS_MAC_HMAC && !saw_body ? HS_SIG_BAD : HS_SIG_OK;
}

/*
 * Read the headers scheme sc needs into rq. Returns HS_SIG_OK when they
 * are present and well formed, else MISSING (any absent) or BAD as sig.h
 * defines.
 */
static hs_sig_result parse_request(const hs_scheme *sc, hs_header_fn hdr,
                                   void *arg, const unsigned char *body,
                                   size_t len, sig_req *rq)
{
    const char *name = hs_scheme_sig_header(sc);
    const char *v = NULL, *tsv = NULL, *idv = NULL;
    size_t vlen = 0, tslen = 0, idlen = 0;
    int missing = 0, bad = 0;
    hs_sig_result r;

    if (name == NULL)
        return HS_SIG_BAD;
    if (sc->mac == HS_MAC_HMAC) {
        rq->mac_len = hs_crypto_mac_size(sc->alg);
        if (rq->mac_len == 0 || sc->layout == HS_LAYOUT_TOKEN)
            return HS_SIG_BAD;
    } else if (sc->mac != HS_MAC_TOKEN || sc->layout != HS_LAYOUT_TOKEN) {
        return HS_SIG_BAD;
    }
    need_header(sc, hdr, arg, sc->id_header, &idv, &idlen, &missing, &bad);
    need_header(sc, hdr, arg, sc->ts_header, &tsv, &tslen, &missing, &bad);
    need_header(sc, hdr, arg, name, &v, &vlen, &missing, &bad);
    if (missing)
        return HS_SIG_MISSING;
    if (bad)
        return HS_SIG_BAD;
    if (tsv != NULL) {
        if (parse_ts(tsv, tslen, &rq->ts) != 0)
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
    return build_parts(sc, rq, idv, idlen, body, len);
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
    if (sc->mac == HS_MAC_TOKEN)
        return hs_crypto_token_equal(rq->token, rq->token_len, key, klen);
    return mac_matches(sc, rq, key, klen);
}

/*
 * Contract in sig.h. Order: headers (MISSING, then malformed is BAD),
 * then the timestamp (EXPIRED), then every secret, then, only when none
 * matched, every secret's alt for the hint. Any internal failure is BAD:
 * this function fails closed.
 */
hs_sig_verdict hs_sig_verify(const hs_scheme *sc, const hs_secret *secrets,
                             size_t n, hs_header_fn hdr, void *arg,
                             const unsigned char *body, size_t len,
                             time_t now, long long tolerance)
{
    hs_sig_verdict vd = { HS_SIG_BAD, -1 };
    sig_req rq;
    size_t i;

    if (sc == NULL || hdr == NULL || (body == NULL && len > 0) ||
        (secrets == NULL && n > 0))
        return vd;
    memset(&rq, 0, sizeof rq);
    vd.result = parse_request(sc, hdr, arg, body, len, &rq);
    if (vd.result != HS_SIG_OK)
        goto done;
    if (rq.has_ts && !ts_within(rq.ts, (long long)now, tolerance)) {
        vd.result = HS_SIG_EXPIRED;
        goto done;
    }
    vd.result = HS_SIG_BAD;
    for (i = 0; i < n; i++) {
        if (key_matches(sc, &rq, secrets[i].key, secrets[i].key_len)) {
            vd.result = HS_SIG_OK;
            goto done;
        }
    }
    for (i = 0; i < n && i <= INT_MAX; i++) {
        if (secrets[i].alt_len > 0 &&
            key_matches(sc, &rq, secrets[i].alt, secrets[i].alt_len)) {
            vd.hint_index = (int)i;
            break;
        }
    }
done:
    OPENSSL_cleanse(&rq, sizeof rq);
    return vd;
}
