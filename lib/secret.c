/* secret.c - see secret.h. */
#include "secret.h"

#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "text.h"

/* A literal secret is also read as Base64 (for the hint only) when it
 * decodes to at least this many bytes: shorter "valid Base64" is most
 * likely a plain word such as "test" or "secret12". */
#define MIN_ALT_B64 16

/* Hints name the setting to change; they never quote the value. */
static const char HINT_ADD_B64[] =
    "prefix the value with base64: (the sender uses its Base64 decoding)";
static const char HINT_DROP_B64[] =
    "remove the base64: prefix (the sender uses the text as it is)";
static const char HINT_DROP_HEX[] =
    "remove the hex: prefix (the sender uses the text as it is)";
static const char HINT_WHSEC[] =
    "the sender uses the whsec_ value as its literal bytes, without "
    "Base64-decoding it (give that text hex-encoded after hex:)";
static const char HINT_BEARER[] =
    "the sender sends the Bearer prefix too: use the bearer scheme";

/* Store v[0..n) as out's alt with hint, when it fits (else no hint). */
static void set_alt(hs_secret *out, const char *v, size_t n, const char *hint)
{
    if (n == 0 || n > sizeof out->alt)
        return;
    memcpy(out->alt, v, n);
    out->alt_len = n;
    out->alt_hint = hint;
}

/*
 * Contract in secret.h. A literal value is tried as Base64 for the hint
 * except for the token forms, whose senders put text in a header and
 * never the decoding of it.
 */
int hs_secret_decode(const hs_scheme *sc, const char *v, size_t len,
                     const char *source, hs_secret *out)
{
    unsigned char tmp[HS_CODEC_B64_DEC_MAX(HS_CODEC_B64_LEN(HS_SECRET_MAX))];
    const char *r;
    size_t rlen, klen = 0;

    if (out == NULL)
        return -1;
    OPENSSL_cleanse(out, sizeof *out);
    out->source = source;
    if (sc == NULL || v == NULL || len == 0)
        return -1;

    if (hs_text_prefix(v, len, "base64:") ||
        (sc->key == HS_KEY_WHSEC && hs_text_prefix(v, len, "whsec_"))) {
        int whsec = !hs_text_prefix(v, len, "base64:");
        r = v + (whsec ? strlen("whsec_") : strlen("base64:"));
        rlen = len - (size_t)(r - v);
        if (rlen > HS_CODEC_B64_LEN(HS_SECRET_MAX) ||
            hs_codec_b64_decode(r, rlen, tmp, sizeof tmp, &klen) != 0 ||
            klen > sizeof out->key)
            goto fail;
        memcpy(out->key, tmp, klen);
        out->key_len = klen;
        if (whsec)
            set_alt(out, v, len, HINT_WHSEC);
        else
            set_alt(out, r, rlen, HINT_DROP_B64);
    } else if (hs_text_prefix(v, len, "hex:")) {
        r = v + strlen("hex:");
        rlen = len - strlen("hex:");
        if (rlen > 2 * (size_t)HS_SECRET_MAX ||
            hs_codec_hex_decode(r, rlen, out->key, sizeof out->key, &klen) != 0)
            goto fail;
        out->key_len = klen;
        set_alt(out, r, rlen, HINT_DROP_HEX);
    } else if (sc->key == HS_KEY_TOKEN) {
        r = v;
        rlen = len;
        if (hs_text_prefix_ci(v, len, "bearer ")) {
            r += strlen("bearer ");
            rlen -= strlen("bearer ");
            /* "Bearer  tok" pasted with a double space is still "tok". */
            while (rlen > 0 && r[0] == ' ') {
                r++;
                rlen--;
            }
            if (sc->prefix[0] == '\0')
                set_alt(out, v, len, HINT_BEARER);
        }
        if (rlen == 0 || rlen > sizeof out->key)
            goto fail;
        memcpy(out->key, r, rlen);
        out->key_len = rlen;
    } else {
        if (len > sizeof out->key)
            goto fail;
        memcpy(out->key, v, len);
        out->key_len = len;
        if (len <= HS_CODEC_B64_LEN(HS_SECRET_MAX) &&
            hs_codec_b64_decode(v, len, tmp, sizeof tmp, &klen) == 0 &&
            klen >= MIN_ALT_B64 && klen <= sizeof out->alt) {
            memcpy(out->alt, tmp, klen);
            out->alt_len = klen;
            out->alt_hint = HINT_ADD_B64;
        }
    }
    OPENSSL_cleanse(tmp, sizeof tmp);
    return 0;
fail:
    OPENSSL_cleanse(tmp, sizeof tmp);
    OPENSSL_cleanse(out, sizeof *out);
    out->source = source;
    return -1;
}
