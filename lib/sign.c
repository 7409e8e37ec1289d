/*
 * sign.c - see sign.h. Signing reads the same row fields as
 * verification (sig.c), the other way round: the signed bytes from the
 * parts, the header values from the layout.
 */
#include "sign.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "crypto.h"

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

/* The signature header's value after "Name: ", for an HMAC row. */
static void put_signature(const hs_scheme *sc, const char *ts, const char *enc,
                          hs_buf *out)
{
    switch (sc->layout) {
    case HS_LAYOUT_KV:
        if (sc->ts_key != NULL)
            hs_buf_printf(out, "%s=%s%c", sc->ts_key, ts, sc->item_sep);
        hs_buf_printf(out, "%s=%s", sc->sig_key, enc);
        break;
    case HS_LAYOUT_LIST:
        hs_buf_printf(out, "%s,%s", sc->sig_key, enc);
        break;
    default: /* HS_LAYOUT_PLAIN, checked by the caller */
        hs_buf_printf(out, "%s%s", sc->prefix, enc);
        break;
    }
}

/*
 * Contract in sign.h. The row is checked as verification would (a row
 * it would refuse is not signed either), and what is signed is exactly
 * what sig.c reads back.
 */
int hs_sign_headers(const hs_scheme *sc, const hs_secret *s,
                    const unsigned char *body, size_t len, time_t now,
                    const char *msg_id, hs_buf *out)
{
    unsigned char mac[HS_CRYPTO_MAX_MAC];
    char enc[2 * HS_CRYPTO_MAX_MAC + 1];
    char id[MAX_MSG_ID + 1];
    char ts[MAX_TS_DIGITS + 2];
    hs_crypto_part parts[HS_SCHEME_MAX_PARTS];
    const char *hdr;
    size_t mark, i, np = 0, maclen = 0, idlen = 0;
    int tl, rc = -1;

    if (sc == NULL || s == NULL || out == NULL || (body == NULL && len > 0) ||
        s->key_len == 0 || s->key_len > sizeof s->key)
        return -1;
    mark = out->len;
    if ((hdr = hs_scheme_sig_header(sc)) == NULL)
        goto done;

    if (sc->mac == HS_MAC_TOKEN) {
        if (sc->layout != HS_LAYOUT_TOKEN || !header_safe(s->key, s->key_len))
            goto done;
        hs_buf_printf(out, "%s: %s", hdr, sc->prefix);
        hs_buf_append(out, s->key, s->key_len);
        rc = hs_buf_putc(out, '\n');
        goto done;
    }
    if (sc->mac != HS_MAC_HMAC || sc->layout == HS_LAYOUT_TOKEN ||
        ((sc->layout == HS_LAYOUT_KV || sc->layout == HS_LAYOUT_LIST) &&
         sc->sig_key == NULL))
        goto done;

    tl = snprintf(ts, sizeof ts, "%lld", (long long)now);
    if (tl <= 0 || (size_t)tl >= sizeof ts)
        goto done;
    if ((sc->ts_key != NULL || sc->ts_header != NULL) && now < 0)
        goto done;
    if (sc->id_header != NULL &&
        (idlen = message_id(sc, msg_id, id, sizeof id)) == 0)
        goto done;
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++) {
        switch (sc->parts[i].kind) {
        case HS_PART_LIT:
            if (sc->parts[i].lit == NULL)
                goto done;
            parts[np++] = (hs_crypto_part){ sc->parts[i].lit, strlen(sc->parts[i].lit) };
            break;
        case HS_PART_BODY:
            parts[np++] = (hs_crypto_part){ body, len };
            break;
        case HS_PART_TS:
            if (sc->ts_key == NULL && sc->ts_header == NULL)
                goto done;
            parts[np++] = (hs_crypto_part){ ts, (size_t)tl };
            break;
        case HS_PART_ID:
            if (idlen == 0)
                goto done;
            parts[np++] = (hs_crypto_part){ id, idlen };
            break;
        default:
            goto done;
        }
    }
    if (hs_crypto_hmac(sc->alg, s->key, s->key_len, parts, np, mac, &maclen) != 0 ||
        hs_codec_encode(sc->enc, mac, maclen, enc, sizeof enc) != 0)
        goto done;

    if (idlen > 0) {
        hs_buf_printf(out, "%s: ", sc->id_header);
        hs_buf_append(out, id, idlen);
        hs_buf_putc(out, '\n');
    }
    if (sc->ts_header != NULL)
        hs_buf_printf(out, "%s: %s\n", sc->ts_header, ts);
    hs_buf_printf(out, "%s: ", hdr);
    put_signature(sc, ts, enc, out);
    hs_buf_putc(out, '\n');
    rc = out->oom ? -1 : 0;
done:
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(enc, sizeof enc);
    if (rc != 0 && !out->oom && out->len > mark) {
        out->len = mark;
        if (out->p != NULL)
            out->p[mark] = '\0';
    }
    return rc;
}
