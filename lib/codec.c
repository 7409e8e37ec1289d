/* codec.c - see codec.h. */
#include "codec.h"

#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char *const g_enc_name[HS_ENC_COUNT] = {
    [HS_ENC_HEX]    = "hex",
    [HS_ENC_BASE64] = "base64",
};

const char *hs_codec_enc_name(hs_enc enc)
{
    return (unsigned)enc < HS_ENC_COUNT ? g_enc_name[enc] : NULL;
}

/* Value of a Base64 alphabet character (RFC 4648 section 4), or -1. */
static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Value of a hex digit, either case, or -1. */
static int hex_val(unsigned char c);

int hs_codec_enc_holds(hs_enc enc, char c)
{
    unsigned char u = (unsigned char)c;
    switch (enc) {
    case HS_ENC_HEX:    return hex_val(u) >= 0;
    case HS_ENC_BASE64: return b64_val(u) >= 0 || u == '=';
    }
    return 0;
}

int hs_codec_b64_decode(const char *in, size_t inlen, unsigned char *out,
                        size_t outcap, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i, pad = 0, dlen;
    int n;

    if (in == NULL || inlen == 0 || inlen % 4 != 0 || inlen > INT_MAX)
        return -1;
    if (u[inlen - 1] == '=') {
        pad = 1;
        if (u[inlen - 2] == '=')
            pad = 2;
    }
    for (i = 0; i < inlen - pad; i++)
        if (b64_val(u[i]) < 0)
            return -1;
    if (pad == 1 && (b64_val(u[inlen - 2]) & 0x03) != 0)
        return -1;
    if (pad == 2 && (b64_val(u[inlen - 3]) & 0x0f) != 0)
        return -1;
    dlen = HS_CODEC_B64_DEC_MAX(inlen);
    if (dlen > outcap)
        return -1;
    n = EVP_DecodeBlock(out, u, (int)inlen);
    /* EVP_DecodeBlock counts the padding as zero bytes: a whole number of
     * 3-byte groups. Anything else means it disagreed with our check. */
    if (n < 0 || (size_t)n != dlen) {
        OPENSSL_cleanse(out, dlen);
        return -1;
    }
    *outlen = dlen - pad;
    return 0;
}

/*
 * Base64-encode in[0..n) into out, NUL-terminated. outcap must hold
 * HS_CODEC_B64_LEN(n) + 1 bytes. Returns the text length, or 0 on a bad
 * argument (n == 0 included).
 */
static size_t hs_codec_b64_encode(const unsigned char *in, size_t n, char *out,
                                  size_t outcap)
{
    int r;

    if (n == 0 || n > INT_MAX / 2 || HS_CODEC_B64_LEN(n) + 1 > outcap)
        return 0;
    r = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (r < 0 || (size_t)r != HS_CODEC_B64_LEN(n))
        return 0;
    return (size_t)r;
}

/* Value of a hex digit, either case, or -1. */
static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hs_codec_hex_decode(const char *in, size_t inlen, unsigned char *out,
                        size_t outcap, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i;
    int hi, lo;

    if (in == NULL || inlen == 0 || inlen % 2 != 0 || inlen / 2 > outcap)
        return -1;
    for (i = 0; i < inlen; i += 2) {
        hi = hex_val(u[i]);
        lo = hex_val(u[i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, i / 2);
            return -1;
        }
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *outlen = inlen / 2;
    return 0;
}

void hs_codec_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int hs_codec_decode_exact(hs_enc enc, const char *in, size_t inlen,
                          size_t want, unsigned char *out, size_t outcap)
{
    size_t got = 0;
    int rc;

    if (want == 0)
        return -1;
    if (enc == HS_ENC_HEX) {
        if (inlen != 2 * want)
            return -1;
        rc = hs_codec_hex_decode(in, inlen, out, outcap, &got);
    } else if (enc == HS_ENC_BASE64) {
        if (inlen != HS_CODEC_B64_LEN(want))
            return -1;
        rc = hs_codec_b64_decode(in, inlen, out, outcap, &got);
    } else {
        return -1;
    }
    return rc == 0 && got == want ? 0 : -1;
}

int hs_codec_encode(hs_enc enc, const unsigned char *in, size_t n,
                    char *out, size_t outcap)
{
    if (n == 0)
        return -1;
    if (enc == HS_ENC_HEX) {
        if (outcap == 0 || n > (outcap - 1) / 2)
            return -1;
        hs_codec_hex_encode(in, n, out);
        return 0;
    }
    if (enc != HS_ENC_BASE64)
        return -1;
    return hs_codec_b64_encode(in, n, out, outcap) == 0 ? -1 : 0;
}
