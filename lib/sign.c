/*
 * sign.c - see sign.h. Signing reads the same row fields as
 * verification (sig.c), the other way round: the signed bytes from the
 * parts, the header values from the layout.
 */
#include "sign.h"
#include "text.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "codec.h"
#include "crypto.h"
#include "form.h"
#include "json.h"
#include "pubkey.h"
#include "query.h"

/* Random bytes in a generated message id. */
#define MSG_ID_RAND  16
/* Longest msg_id accepted from the caller. */
#define MAX_MSG_ID   256
/* Longest generated id prefix (the row's id_new). */
#define MAX_ID_NEW   32
/* Decimal digits of a timestamp: LLONG_MAX has 19. */
#define MAX_TS_DIGITS 19

/*
 * 1 when s[0..n) can be sent as a header value as it is: no control
 * bytes (so no CR/LF injection), no leading or trailing whitespace
 * (a receiver would trim it), not empty.
 */
static int header_safe(const unsigned char *s, size_t n)
{
    size_t i;

    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* The message id to sign into id[0..idcap): msg_id checked, or a new
 * one. Returns its length, or 0 when it cannot be used. */
static size_t message_id(const hs_scheme *sc, const char *msg_id,
                         char *id, size_t idcap)
{
    unsigned char rnd[MSG_ID_RAND];
    size_t n = 0, pl;

    if (msg_id != NULL) {
        while (n <= MAX_MSG_ID && msg_id[n] != '\0')
            n++;
        if (n > MAX_MSG_ID || !header_safe((const unsigned char *)msg_id, n) ||
            n >= idcap)
            return 0;
        memcpy(id, msg_id, n + 1);
        return n;
    }
    pl = sc->id_new ? strlen(sc->id_new) : 0;
    if (pl > MAX_ID_NEW || pl + 2 * sizeof rnd + 1 > idcap ||
        hs_crypto_random(rnd, sizeof rnd) != 0)
        return 0;
    memcpy(id, sc->id_new ? sc->id_new : "", pl);
    hs_codec_hex_encode(rnd, sizeof rnd, id + pl);
    return pl + 2 * sizeof rnd;
}

/* The signature header's value after "Name: "; pk: a public-key
 * signature (a list row writes it under pk_key). */
static void put_signature(const hs_scheme *sc, const char *ts, const char *enc, int pk,
                          hs_buf *out)
{
    const char *sig_key = pk && sc->pk_key ? sc->pk_key : hs_scheme_sig_key(sc);
    const char *ts_key = hs_scheme_ts_key(sc);

    switch (sc->layout) {
    case HS_LAYOUT_KV:
        if (ts_key != NULL)
            hs_buf_printf(out, "%s=%s%c", ts_key, ts, sc->item_sep);
        hs_buf_printf(out, "%s=%s", sig_key, enc);
        break;
    case HS_LAYOUT_LIST:
        hs_buf_printf(out, "%s,%s", sig_key, enc);
        break;
    default: /* HS_LAYOUT_PLAIN, checked by the caller */
        hs_buf_printf(out, "%s%s", sc->prefix, enc);
        break;
    }
}

/* Write the timestamp now as sc writes it into ts[0..cap): its length,
 * or 0 when it does not fit or now cannot be written. */
static size_t timestamp(const hs_scheme *sc, time_t now, char *ts, size_t cap)
{
    struct tm tm;
    size_t n;
    int w;

    if (sc->ts_fmt == HS_TS_RFC3339) {
        if (now < 0 || gmtime_r(&now, &tm) == NULL)
            return 0;
        n = strftime(ts, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return n;
    }
    if (sc->ts_fmt == HS_TS_UNIX_MS) {
        if (now < 0 || (long long)now > LLONG_MAX / 1000)
            return 0;
        w = snprintf(ts, cap, "%lld", (long long)now * 1000);
    } else {
        w = snprintf(ts, cap, "%lld", (long long)now);
    }
    return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

/* What the signer knows when it writes the parts and the envelope. */
typedef struct sign_state {
    const hs_sig_input *in;
    char           ts[MAX_TS_DIGITS + 32];
    size_t         tl;
    char           id[MAX_MSG_ID + 1];
    size_t         idlen;
    char           qval[HS_SCHEME_MAX_PARTS][HS_SIG_MAX_QUERY_VAL + 1];
    hs_buf         json;      /* the body minified, for JSON parts */
    hs_buf         url, form; /* HS_PART_URL's, HS_PART_FORM's bytes */
    char           enc[2 * HS_PK_MAX_SIG + 1];   /* hex, the longer */
} sign_state;

/* Part i of the signed bytes into *p. 0, or -1 when the request lacks it. */
static int sign_part(const hs_scheme *sc, size_t i, sign_state *st, hs_crypto_part *p)
{
    const hs_part *pt = &sc->parts[i];
    const char *t, *v;
    size_t l, k, vlen;

    switch (pt->kind) {
    case HS_PART_LIT:
        if ((t = hs_scheme_part_text(sc, pt, &l)) == NULL)
            return -1;
        *p = (hs_crypto_part){ t, l };
        return 0;
    case HS_PART_BODY:
        *p = (hs_crypto_part){ st->in->body, st->in->len };
        return 0;
    case HS_PART_TS:
        if (!sc->timestamped || st->tl == 0)
            return -1;
        *p = (hs_crypto_part){ st->ts, st->tl };
        return 0;
    case HS_PART_ID:
        if (st->idlen == 0)
            return -1;
        *p = (hs_crypto_part){ st->id, st->idlen };
        return 0;
    case HS_PART_QUERY:
        if ((t = hs_scheme_part_text(sc, pt, &l)) == NULL ||
            hs_query_get(st->in->query, t, l, st->qval[i], sizeof st->qval[i], &vlen) != 0)
            return -1;
        for (k = 0; pt->lower && k < vlen; k++)
            if (st->qval[i][k] >= 'A' && st->qval[i][k] <= 'Z')
                st->qval[i][k] = (char)(st->qval[i][k] - 'A' + 'a');
        *p = (hs_crypto_part){ st->qval[i], vlen };
        return 0;
    case HS_PART_HEADER: {
        char name[HS_SCHEME_MAX_HEADER_NAME + 1];
        if ((t = hs_scheme_part_text(sc, pt, &l)) == NULL || l > HS_SCHEME_MAX_HEADER_NAME ||
            st->in->hdr == NULL)
            return -1;
        memcpy(name, t, l);
        name[l] = '\0';
        if ((v = st->in->hdr(st->in->arg, name)) == NULL)
            return -1;
        /* The bytes the verifier signs (sig.c get_header): the value
         * without surrounding whitespace, which a server strips anyway;
         * an empty one is refused there, so here too. */
        l = strlen(v);
        hs_text_trim_ows(&v, &l);
        if (l == 0)
            return -1;
        *p = (hs_crypto_part){ v, l };
        return 0;
    }
    case HS_PART_URL:
        if (hs_sig_url(st->in->url, st->in->query, &st->url) != 0)
            return -1;
        *p = (hs_crypto_part){ st->url.p, st->url.len };
        return 0;
    case HS_PART_FORM:
        hs_buf_reset(&st->form);
        if (hs_form_signed(st->in->body, st->in->len, st->in->query, sc->body_hash_query,
                           &st->form) != 0)
            return -1;
        *p = (hs_crypto_part){ st->form.p ? st->form.p : "", st->form.len };
        return 0;
    case HS_PART_JSON: {
        const char *val;
        if ((t = hs_scheme_part_text(sc, pt, &l)) == NULL)
            return -1;
        if (st->json.p == NULL &&
            hs_json_minify(st->in->body, st->in->len, &st->json, NULL) != HS_JSON_OK)
            return -1;
        if (hs_json_pointer(st->json.p, st->json.len, t, l, &val, &vlen) != 1 ||
            !hs_json_plain_text(val, vlen, &v, &vlen))
            return -1;
        *p = (hs_crypto_part){ v, vlen };
        return 0;
    }
    default:
        return -1;
    }
}

/* The body to send: the row's envelope with its fields filled, or the
 * body as read. The body read must be JSON for an envelope. */
static int put_body(const hs_scheme *sc, const hs_secret *s, const sign_state *st,
                    hs_buf *out)
{
    const char *e = sc->envelope;

    if (e == NULL)
        return hs_buf_append(out, st->in->body, st->in->len);
    if (hs_json_minify(st->in->body, st->in->len, NULL, NULL) != HS_JSON_OK)
        return -1;
    for (; *e != '\0'; e++) {
        if (e[0] != '%' || e[1] == '\0') {
            hs_buf_putc(out, *e);
            continue;
        }
        switch (*++e) {
        case 'B': hs_buf_append(out, st->in->body, st->in->len); break;
        case 'T': hs_buf_append(out, st->ts, st->tl); break;
        case 'I': hs_buf_append(out, st->id, st->idlen); break;
        case 'S': hs_buf_puts(out, st->enc); break;
        case 'K':
            if (s == NULL) return -1;
            hs_buf_json_str(out, (const char *)s->key, s->key_len);
            break;
        default: return -1;
        }
    }
    return out->oom ? -1 : 0;
}

/* Sign the concatenated parts with the PEM private key pem[0..n) (PKCS#8
 * or SEC1), which must be of alg, into sig[0..HS_PK_MAX_SIG) with
 * *siglen. 0 or -1. */
static int pk_sign(hs_pk_alg alg, const char *pem, size_t n, const hs_crypto_part *parts,
                   size_t nparts, unsigned char sig[HS_PK_MAX_SIG], size_t *siglen)
{
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *msg = NULL;
    size_t mlen = 0, i, sl = HS_PK_MAX_SIG;
    int rc = -1;

    if (pem == NULL || n == 0 || n > 65536 || (bio = BIO_new_mem_buf(pem, (int)n)) == NULL)
        return -1;
    pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pk == NULL || (alg == HS_PK_ED25519 && !EVP_PKEY_is_a(pk, "ED25519")) ||
        (alg == HS_PK_P256 && (!EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_get_bits(pk) != 256)) ||
        (ctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(ctx, NULL, hs_pubkey_md(alg), NULL, pk) != 1)
        goto done;
    if (alg == HS_PK_ED25519) {
        if (hs_pubkey_join(parts, nparts, &msg, &mlen) != 0 ||
            EVP_DigestSign(ctx, sig, &sl, msg, mlen) != 1)
            goto done;
    } else {
        for (i = 0; i < nparts; i++)
            if (EVP_DigestSignUpdate(ctx, parts[i].p, parts[i].n) != 1) goto done;
        if (EVP_DigestSignFinal(ctx, sig, &sl) != 1) goto done;
    }
    *siglen = sl;
    rc = 0;
done:
    free(msg);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return rc;
}

/*
 * Contract in sign.h. The row is checked as verification would (a row
 * it would refuse is not signed either), and what is signed is exactly
 * what sig.c reads back.
 */
static int sign_request(const hs_scheme *sc, const hs_secret *s, const char *pem, size_t pemlen,
                        const hs_sig_input *in, time_t now, const char *msg_id, hs_buf *out,
                        hs_buf *body_out)
{
    unsigned char mac[HS_PK_MAX_SIG];
    hs_crypto_part parts[HS_SCHEME_MAX_PARTS];
    sign_state *st = NULL;
    const char *hdr;
    size_t mark, bmark = 0, i, np = 0, maclen = 0;
    int rc = -1;

    if (sc == NULL || in == NULL || out == NULL || (in->body == NULL && in->len > 0) ||
        (pem == NULL && (s == NULL || s->key_len == 0 || s->key_len > sizeof s->key)) ||
        (pem != NULL && (sc->pk_alg == HS_PK_NONE || sc->mac == HS_MAC_TOKEN)) ||
        (pem == NULL && sc->mac == HS_MAC_PUBKEY))
        return -1;
    mark = out->len;
    if (body_out != NULL)
        bmark = body_out->len;
    hdr = hs_scheme_sig_header(sc);
    if ((hdr == NULL && sc->sig_json == NULL) || (sc->envelope != NULL && body_out == NULL) ||
        (hdr == NULL && sc->envelope == NULL) || (st = calloc(1, sizeof *st)) == NULL)
        goto done;
    st->in = in;

    if (sc->mac == HS_MAC_TOKEN) {
        if (sc->layout == HS_LAYOUT_EACH) {
            rc = put_body(sc, s, st, body_out);
            goto done;
        }
        if (sc->layout != HS_LAYOUT_TOKEN || !header_safe(s->key, s->key_len))
            goto done;
        hs_buf_printf(out, "%s: %s", hdr, sc->prefix);
        hs_buf_append(out, s->key, s->key_len);
        rc = hs_buf_putc(out, '\n');
        if (rc == 0 && body_out != NULL)
            rc = put_body(sc, s, st, body_out);
        goto done;
    }
    if ((sc->mac != HS_MAC_HMAC && sc->mac != HS_MAC_PUBKEY) || sc->layout == HS_LAYOUT_TOKEN ||
        sc->layout == HS_LAYOUT_EACH ||
        ((sc->layout == HS_LAYOUT_KV || sc->layout == HS_LAYOUT_LIST) &&
         hs_scheme_sig_key(sc) == NULL))
        goto done;

    if (sc->timestamped && (now < 0 || (st->tl = timestamp(sc, now, st->ts, sizeof st->ts)) == 0))
        goto done;
    if (!sc->timestamped)
        st->tl = timestamp(sc, now < 0 ? 0 : now, st->ts, sizeof st->ts);
    if ((sc->id_header != NULL || sc->id_json != NULL) &&
        (st->idlen = message_id(sc, msg_id, st->id, sizeof st->id)) == 0)
        goto done;
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++)
        if (sign_part(sc, i, st, &parts[np++]) != 0)
            goto done;
    if (pem != NULL ? pk_sign(sc->pk_alg, pem, pemlen, parts, np, mac, &maclen) != 0
                    : hs_crypto_hmac(sc->alg, s->key, s->key_len, parts, np, mac, &maclen) != 0)
        goto done;
    if (hs_codec_encode(sc->enc, mac, maclen, st->enc, sizeof st->enc) != 0)
        goto done;

    if (sc->id_header != NULL) {
        hs_buf_printf(out, "%s: ", sc->id_header);
        hs_buf_append(out, st->id, st->idlen);
        hs_buf_putc(out, '\n');
    }
    if (hs_scheme_ts_header(sc) != NULL)
        hs_buf_printf(out, "%s: %s\n", hs_scheme_ts_header(sc), st->ts);
    if (hdr != NULL) {
        hs_buf_printf(out, "%s: ", hdr);
        put_signature(sc, st->ts, st->enc, pem != NULL, out);
        hs_buf_putc(out, '\n');
    }
    rc = out->oom ? -1 : 0;
    if (rc == 0 && body_out != NULL)
        rc = put_body(sc, s, st, body_out);
done:
    OPENSSL_cleanse(mac, sizeof mac);
    if (st != NULL) {
        hs_buf_free(&st->json);
        hs_buf_free(&st->url);
        hs_buf_free(&st->form);
        OPENSSL_cleanse(st, sizeof *st);
        free(st);
    }
    if (rc != 0 && !out->oom && out->len > mark) {
        out->len = mark;
        if (out->p != NULL)
            out->p[mark] = '\0';
    }
    if (rc != 0 && body_out != NULL && !body_out->oom && body_out->len > bmark) {
        body_out->len = bmark;
        if (body_out->p != NULL)
            body_out->p[bmark] = '\0';
    }
    return rc;
}

int hs_sign_request(const hs_scheme *sc, const hs_secret *s, const hs_sig_input *in,
                    time_t now, const char *msg_id, hs_buf *out, hs_buf *body_out)
{
    return sign_request(sc, s, NULL, 0, in, now, msg_id, out, body_out);
}

int hs_sign_request_pk(const hs_scheme *sc, const char *pem, size_t n, const hs_sig_input *in,
                       time_t now, const char *msg_id, hs_buf *out, hs_buf *body_out)
{
    if (pem == NULL)
        return -1;
    return sign_request(sc, NULL, pem, n, in, now, msg_id, out, body_out);
}

int hs_sign_headers(const hs_scheme *sc, const hs_secret *s,
                    const unsigned char *body, size_t len, time_t now,
                    const char *msg_id, hs_buf *out)
{
    hs_sig_input in = { NULL, NULL, NULL, body, len, NULL, 0, NULL };

    return hs_sign_request(sc, s, &in, now, msg_id, out, NULL);
}
