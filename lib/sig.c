/*
 * sig.c - signature and token schemes (SPEC section 3).
 *
 * Every primitive comes from OpenSSL 3 (libcrypto): HMAC through EVP_MAC,
 * digests through EVP_MD, Base64 through EVP_EncodeBlock/EVP_DecodeBlock,
 * comparison through CRYPTO_memcmp, random ids through RAND_bytes. What is
 * written here is the parsing around them, which is where webhook
 * verifiers usually go wrong: every header is bounded, every encoding is
 * validated strictly before OpenSSL sees it, and anything malformed is a
 * wrong signature (HS_SIG_BAD), never an error path that could accept.
 *
 * This file never logs: the caller decides what to say, and must never be
 * handed a secret or a MAC in a string.
 *
 * The only static state is the fetched HMAC and digest implementations,
 * initialised once per process under CRYPTO_THREAD_run_once and never
 * freed (they live as long as the process, like OpenSSL's own tables).
 */
#include "sig.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* Largest MAC of any supported algorithm (SHA-512: 64 bytes). */
#define HS_SIG_MAX_MAC        EVP_MAX_MD_SIZE
/* Signatures accepted in one header (Stripe sends two v1 while a secret
 * rolls, Standard Webhooks a short list); more is not a real sender. */
#define HS_SIG_MAX_CANDIDATES 8
/* Decimal digits of a timestamp: LLONG_MAX has 19. */
#define HS_SIG_MAX_TS_DIGITS  19
/* A literal secret is also read as Base64 (for the hint only) when it
 * decodes to at least this many bytes: shorter "valid Base64" is most
 * likely a plain word such as "test" or "secret12". */
#define HS_SIG_MIN_ALT_B64    16
/* Random bytes in a generated Standard Webhooks message id. */
#define HS_SIG_MSG_ID_RAND    16
/* Longest msg_id hs_sig_sign accepts from its caller. */
#define HS_SIG_MAX_MSG_ID     256
/* Pieces of signed bytes: id "." timestamp "." body at most. */
#define HS_SIG_MAX_PARTS      5

/* Base64 text length of n bytes (padded). */
#define B64_LEN(n)            ((((n) + 2) / 3) * 4)
/* Worst-case bytes EVP_DecodeBlock writes for a text of n characters. */
#define B64_DEC_MAX(n)        (((n) / 4) * 3)

#define SHA256_LEN            32

/* ---------------------------------------------------------------------
 * Process-wide OpenSSL objects.
 */

static CRYPTO_ONCE g_once = CRYPTO_ONCE_STATIC_INIT;
static CRYPTO_ONCE g_md_once[HS_ALG_SHA512 + 1] = {
    CRYPTO_ONCE_STATIC_INIT, CRYPTO_ONCE_STATIC_INIT, CRYPTO_ONCE_STATIC_INIT
};
static EVP_MAC    *g_hmac;
static EVP_MD     *g_md[HS_ALG_SHA512 + 1];
/* Per digest, an HMAC context with the digest already set and no key:
 * duplicated per MAC, so the digest is not looked up by name each time
 * (EVP_MAC_init with a digest name fetches it on every call). */
static EVP_MAC_CTX *g_tmpl[HS_ALG_SHA512 + 1];
static int         g_ready;

static const char *const g_md_name[HS_ALG_SHA512 + 1] = {
    [HS_ALG_SHA1]   = "SHA1",
    [HS_ALG_SHA256] = "SHA256",
    [HS_ALG_SHA512] = "SHA512",
};

/*
 * Run once per process, each when first needed: fetch the HMAC
 * implementation, and each digest. Fetching is a locked lookup in
 * OpenSSL's method store; doing it once keeps it off the request path,
 * and fetching only what is used keeps a CGI process's start short (one
 * request: a caliza endpoint never fetches SHA-1 or SHA-512). On failure
 * the pointer stays NULL and every verification with it fails closed.
 */
static void hmac_init(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    g_ready = g_hmac != NULL;
}

static int crypto_ready(void);

static void md_init(hs_alg alg)
{
    EVP_MD *md = EVP_MD_fetch(NULL, g_md_name[alg], NULL);
    if (md != NULL && (EVP_MD_get_size(md) <= 0 || EVP_MD_get_size(md) > HS_SIG_MAX_MAC)) {
        EVP_MD_free(md);
        md = NULL;
    }
    g_md[alg] = md;
    if (md != NULL && crypto_ready()) {
        OSSL_PARAM params[2];
        EVP_MAC_CTX *t = EVP_MAC_CTX_new(g_hmac);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)g_md_name[alg], 0);
        params[1] = OSSL_PARAM_construct_end();
        if (t != NULL && EVP_MAC_CTX_set_params(t, params) != 1) {
            EVP_MAC_CTX_free(t);
            t = NULL;
        }
        g_tmpl[alg] = t;
    }
}

static void md0_init(void) { md_init((hs_alg)0); }
static void md1_init(void) { md_init((hs_alg)1); }
static void md2_init(void) { md_init((hs_alg)2); }

/* 1 when HMAC is usable, else 0. Thread-safe. */
static int crypto_ready(void)
{
    if (CRYPTO_THREAD_run_once(&g_once, hmac_init) != 1)
        return 0;
    return g_ready;
}

/* The fetched digest alg (alg checked by the caller), or NULL. */
static const EVP_MD *md_of(hs_alg alg)
{
    static void (*const init[HS_ALG_SHA512 + 1])(void) = { md0_init, md1_init, md2_init };
    if (CRYPTO_THREAD_run_once(&g_md_once[alg], init[alg]) != 1)
        return NULL;
    return g_md[alg];
}

void hs_sig_process_init(void)
{
    /* Best effort: if something called OpenSSL first, it is already
     * initialised with the defaults and this changes nothing.
     * NO_ATEXIT: at exit the kernel frees the process's memory anyway;
     * OpenSSL's own clean-up (every method store, name map and provider)
     * was 13% of a CGI request's user-space instructions (callgrind),
     * and a process exits after each CGI request. */
    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                              OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                              OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_ATEXIT, NULL);
}

const EVP_MD *hs_sig_sha256(void)
{
    return md_of(HS_ALG_SHA256);
}

/* 1 when alg is one of the hs_alg values (callers may build structs by
 * hand; an out-of-range value must not index the tables). */
static int alg_ok(hs_alg alg)
{
    return (unsigned)alg <= (unsigned)HS_ALG_SHA512;
}

/* MAC size of alg in bytes, or 0 when unusable. */
static size_t mac_size(hs_alg alg)
{
    const EVP_MD *md;
    if (!alg_ok(alg) || !crypto_ready() || (md = md_of(alg)) == NULL || g_tmpl[alg] == NULL)
        return 0;
    return (size_t)EVP_MD_get_size(md);
}

/* A run of bytes fed to the MAC; the signed message is a list of these so
 * the body is never copied to prepend an id or a timestamp. */
typedef struct part {
    const void *p;
    size_t      n;
} part;

/*
 * HMAC-alg of the concatenation parts[0..nparts) under key[0..klen),
 * written to out (room for HS_SIG_MAX_MAC bytes); *outlen gets its size.
 * Returns 0, or -1 on any OpenSSL failure or bad argument (out is then
 * unspecified).
 */
static int mac_compute(hs_alg alg, const unsigned char *key, size_t klen,
                       const part *parts, size_t nparts,
                       unsigned char out[HS_SIG_MAX_MAC], size_t *outlen)
{
    EVP_MAC_CTX *ctx;
    size_t i, n = 0, want;
    int rc = -1;

    want = mac_size(alg);
    if (want == 0 || key == NULL || klen == 0)
        return -1;
    ctx = EVP_MAC_CTX_dup(g_tmpl[alg]);
    if (ctx == NULL)
        return -1;
    if (EVP_MAC_init(ctx, key, klen, NULL) != 1)
        goto done;
    for (i = 0; i < nparts; i++) {
        if (parts[i].n == 0)
            continue;
        if (parts[i].p == NULL ||
            EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
            goto done;
    }
    if (EVP_MAC_final(ctx, out, &n, HS_SIG_MAX_MAC) != 1 || n != want)
        goto done;
    *outlen = n;
    rc = 0;
done:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* ---------------------------------------------------------------------
 * Encodings. Validation is ours and strict; the transforms are OpenSSL's.
 */

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

/*
 * Strictly decode padded Base64 in[0..inlen) into out[0..outcap).
 * Accepted: a non-empty multiple of 4 characters from the standard
 * alphabet, '=' only as the last one or two characters, and zero unused
 * bits before the padding (the canonical encoding; anything else was not
 * produced by an encoder). outcap must hold B64_DEC_MAX(inlen) bytes,
 * because EVP_DecodeBlock writes the padding's zero bytes too.
 * Returns 0 with *outlen set to the real decoded length, or -1.
 */
static int b64_decode(const char *in, size_t inlen, unsigned char *out,
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
    dlen = B64_DEC_MAX(inlen);
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
 * Base64-encode in[0..n) into out (NUL-terminated). outcap must hold
 * B64_LEN(n) + 1 bytes. Returns the text length, or 0 on a bad argument.
 */
static size_t b64_encode(const unsigned char *in, size_t n, char *out,
                         size_t outcap)
{
    int r;

    if (n == 0 || n > INT_MAX / 2 || B64_LEN(n) + 1 > outcap)
        return 0;
    r = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (r < 0 || (size_t)r != B64_LEN(n))
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

/*
 * Decode hex in[0..inlen) (case-insensitive, no separators) into
 * out[0..outcap). inlen must be even and non-zero and inlen/2 <= outcap.
 * Returns 0 with *outlen set, or -1.
 */
static int hex_decode(const char *in, size_t inlen, unsigned char *out,
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

/* Lowercase hex of in[0..n) into out, which must hold 2n + 1 bytes. */
static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* ---------------------------------------------------------------------
 * Small text helpers. None depends on the locale.
 */

/* 1 when s[0..n) equals the NUL-terminated lit exactly. */
static int eq_lit(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n == l && memcmp(s, lit, l) == 0;
}

/* 1 when s[0..n) starts with the NUL-terminated lit exactly. */
static int has_prefix(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n >= l && memcmp(s, lit, l) == 0;
}

/* ASCII lowercase, independent of the locale. */
static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* 1 when s[0..n) starts with lit ignoring ASCII case. */
static int has_prefix_ci(const char *s, size_t n, const char *lit)
{
    size_t i, l = strlen(lit);

    if (n < l)
        return 0;
    for (i = 0; i < l; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

/* 1 for HTTP optional whitespace (SP, HTAB). */
static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Narrow s[0..*n) to exclude leading and trailing OWS. */
static void trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && is_ows((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* 1 for an RFC 7230 tchar (the characters of a header name). */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* 1 when s[0..n) is a header name hookspool accepts: 1 to
 * HS_SIG_MAX_HEADER_NAME tchars. */
static int valid_header_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > HS_SIG_MAX_HEADER_NAME)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Length of the string in the fixed array a[0..cap), or cap when it has
 * no NUL (a hand-built struct): never reads past the array. */
static size_t field_len(const char *a, size_t cap)
{
    const char *z = memchr(a, '\0', cap);

    return z ? (size_t)(z - a) : cap;
}

/* 1 when a scheme's header field holds a valid, terminated name. */
static int scheme_header_ok(const hs_scheme *sc)
{
    return valid_header_name(sc->header,
                             field_len(sc->header, sizeof sc->header));
}

/* 1 when a scheme's prefix field is terminated (it may be empty). */
static int scheme_prefix_ok(const hs_scheme *sc)
{
    return field_len(sc->prefix, sizeof sc->prefix) < sizeof sc->prefix;
}

/*
 * Parse a timestamp s[0..n): 1 to HS_SIG_MAX_TS_DIGITS decimal digits,
 * nothing else (no sign, no space: strtoll would accept those, so they
 * are excluded first). Returns 0 with *out set, or -1.
 */
static int parse_ts(const char *s, size_t n, long long *out)
{
    char buf[HS_SIG_MAX_TS_DIGITS + 1];
    char *end;
    long long v;
    size_t i;

    if (n == 0 || n > HS_SIG_MAX_TS_DIGITS)
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

/* ---------------------------------------------------------------------
 * hs_scheme_parse
 */

static const struct {
    const char    *name;
    hs_scheme_kind kind;
    hs_enc         enc;
    int            timestamped;
} g_named[] = {
    { "caliza",   HS_SCHEME_CALIZA,   HS_ENC_BASE64, 0 },
    { "github",   HS_SCHEME_GITHUB,   HS_ENC_HEX,    0 },
    { "stripe",   HS_SCHEME_STRIPE,   HS_ENC_HEX,    1 },
    { "standard", HS_SCHEME_STANDARD, HS_ENC_BASE64, 1 },
    { "shopify",  HS_SCHEME_SHOPIFY,  HS_ENC_BASE64, 0 },
    { "bearer",   HS_SCHEME_BEARER,   HS_ENC_HEX,    0 },
};

static const struct {
    const char *name;
    hs_alg      alg;
} g_algs[] = {
    { "sha1",   HS_ALG_SHA1 },
    { "sha256", HS_ALG_SHA256 },
    { "sha512", HS_ALG_SHA512 },
};

static const struct {
    const char *name;
    hs_enc      enc;
} g_encs[] = {
    { "hex",    HS_ENC_HEX },
    { "base64", HS_ENC_BASE64 },
};

/*
 * Contract in sig.h. Names are matched exactly (lowercase, as the SPEC
 * spells them): a scheme is security configuration, and a near miss is
 * better reported than guessed. In "hmac-ALG-ENC:Header:prefix" the
 * header ends at the second ':' (a header name cannot hold one) and the
 * prefix is the rest: 1 to HS_SIG_MAX_PREFIX visible ASCII characters
 * (no spaces: the header value is trimmed before the prefix is matched).
 */
int hs_scheme_parse(const char *s, size_t len, hs_scheme *out)
{
    const char *p, *colon;
    size_t i, n, hlen, plen;

    if (s == NULL || out == NULL)
        return -1;
    if (len == 0 || len >= sizeof out->name || memchr(s, '\0', len) != NULL)
        return -1;
    memset(out, 0, sizeof *out);
    memcpy(out->name, s, len);
    out->name[len] = '\0';
    /* The named schemes all use HMAC-SHA256; the token schemes ignore it. */
    out->alg = HS_ALG_SHA256;
    out->enc = HS_ENC_HEX;

    for (i = 0; i < sizeof g_named / sizeof g_named[0]; i++) {
        if (eq_lit(s, len, g_named[i].name)) {
            out->kind = g_named[i].kind;
            out->enc = g_named[i].enc;
            out->timestamped = g_named[i].timestamped;
            return 0;
        }
    }

    if (has_prefix(s, len, "token:")) {
        p = s + strlen("token:");
        n = len - strlen("token:");
        if (!valid_header_name(p, n))
            return -1;
        out->kind = HS_SCHEME_TOKEN;
        memcpy(out->header, p, n);
        out->header[n] = '\0';
        return 0;
    }

    if (!has_prefix(s, len, "hmac-"))
        return -1;
    p = s + strlen("hmac-");
    n = len - strlen("hmac-");
    for (i = 0; i < sizeof g_algs / sizeof g_algs[0]; i++) {
        size_t l = strlen(g_algs[i].name);
        if (n > l && memcmp(p, g_algs[i].name, l) == 0 && p[l] == '-')
            break;
    }
    if (i == sizeof g_algs / sizeof g_algs[0])
        return -1;
    out->alg = g_algs[i].alg;
    p += strlen(g_algs[i].name) + 1;
    n -= strlen(g_algs[i].name) + 1;
    for (i = 0; i < sizeof g_encs / sizeof g_encs[0]; i++) {
        size_t l = strlen(g_encs[i].name);
        if (n > l && memcmp(p, g_encs[i].name, l) == 0 && p[l] == ':')
            break;
    }
    if (i == sizeof g_encs / sizeof g_encs[0])
        return -1;
    out->enc = g_encs[i].enc;
    p += strlen(g_encs[i].name) + 1;
    n -= strlen(g_encs[i].name) + 1;

    colon = memchr(p, ':', n);
    hlen = colon ? (size_t)(colon - p) : n;
    if (!valid_header_name(p, hlen))
        return -1;
    if (colon != NULL) {
        plen = n - hlen - 1;
        if (plen == 0 || plen > HS_SIG_MAX_PREFIX)
            return -1;
        for (i = 0; i < plen; i++)
            if (colon[1 + i] < 0x21 || colon[1 + i] > 0x7e)
                return -1;
        memcpy(out->prefix, colon + 1, plen);
        out->prefix[plen] = '\0';
    }
    out->kind = HS_SCHEME_HMAC;
    memcpy(out->header, p, hlen);
    out->header[hlen] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------
 * hs_secret_decode
 */

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
 * Contract in sig.h. Notes on the choices the header leaves open:
 *  - after "base64:" or "hex:", alt is the encoded text without the
 *    prefix: that is what a sender uses when the operator added a
 *    prefix the provider did not mean;
 *  - for STANDARD "whsec_...", alt is the whole literal value, which is
 *    how Stripe-style senders use such a secret;
 *  - a literal value is also tried as Base64 for the hint, except for
 *    the token schemes, whose senders put text in a header and never the
 *    decoding of it; for TOKEN, a dropped "Bearer " prefix makes the
 *    whole literal the alt (the sender probably sends the prefix).
 * On failure *out is cleared (source kept) so no partial key remains.
 */
int hs_secret_decode(const hs_scheme *sc, const char *v, size_t len,
                     const char *source, hs_secret *out)
{
    unsigned char tmp[B64_DEC_MAX(B64_LEN(HS_SIG_MAX_SECRET))];
    const char *r;
    size_t rlen, klen = 0;
    int token;

    if (out == NULL)
        return -1;
    OPENSSL_cleanse(out, sizeof *out);
    out->source = source;
    if (sc == NULL || v == NULL || len == 0)
        return -1;
    token = sc->kind == HS_SCHEME_BEARER || sc->kind == HS_SCHEME_TOKEN;

    if (has_prefix(v, len, "base64:") ||
        (sc->kind == HS_SCHEME_STANDARD && has_prefix(v, len, "whsec_"))) {
        int whsec = !has_prefix(v, len, "base64:");
        r = v + (whsec ? strlen("whsec_") : strlen("base64:"));
        rlen = len - (size_t)(r - v);
        if (rlen > B64_LEN(HS_SIG_MAX_SECRET) ||
            b64_decode(r, rlen, tmp, sizeof tmp, &klen) != 0 ||
            klen > sizeof out->key)
            goto fail;
        memcpy(out->key, tmp, klen);
        out->key_len = klen;
        if (whsec)
            set_alt(out, v, len, HINT_WHSEC);
        else
            set_alt(out, r, rlen, HINT_DROP_B64);
    } else if (has_prefix(v, len, "hex:")) {
        r = v + strlen("hex:");
        rlen = len - strlen("hex:");
        if (rlen > 2 * (size_t)HS_SIG_MAX_SECRET ||
            hex_decode(r, rlen, out->key, sizeof out->key, &klen) != 0)
            goto fail;
        out->key_len = klen;
        set_alt(out, r, rlen, HINT_DROP_HEX);
    } else if (token) {
        r = v;
        rlen = len;
        if (has_prefix_ci(v, len, "bearer ")) {
            r += strlen("bearer ");
            rlen -= strlen("bearer ");
            /* "Bearer  tok" pasted with a double space is still "tok". */
            while (rlen > 0 && r[0] == ' ') {
                r++;
                rlen--;
            }
            if (sc->kind == HS_SCHEME_TOKEN)
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
        if (len <= B64_LEN(HS_SIG_MAX_SECRET) &&
            b64_decode(v, len, tmp, sizeof tmp, &klen) == 0 &&
            klen >= HS_SIG_MIN_ALT_B64 && klen <= sizeof out->alt) {
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

/* ---------------------------------------------------------------------
 * hs_sig_verify
 */

/* What a request's headers said, parsed and bounded. */
typedef struct sig_req {
    hs_alg        alg;
    size_t        mac_len;
    unsigned char cand[HS_SIG_MAX_CANDIDATES][HS_SIG_MAX_MAC];
    size_t        ncand;
    part          parts[HS_SIG_MAX_PARTS];    /* the signed bytes */
    size_t        nparts;
    int           has_ts;
    long long     ts;
    const char   *token;                      /* token schemes */
    size_t        token_len;
} sig_req;

/* Outcome of fetching one header. */
enum { HDR_ABSENT, HDR_OK, HDR_BAD };

/*
 * Look up header name through hdr. HDR_OK sets v[0..*vlen) to the value
 * with surrounding OWS removed; HDR_BAD means longer than
 * HS_SIG_MAX_HEADER_VAL or empty. The length is measured with a bounded
 * loop so an enormous value is never walked to its end.
 */
static int get_header(hs_header_fn hdr, void *arg, const char *name,
                      const char **v, size_t *vlen)
{
    const char *p = hdr(arg, name);
    size_t n = 0;

    if (p == NULL)
        return HDR_ABSENT;
    while (n <= HS_SIG_MAX_HEADER_VAL && p[n] != '\0')
        n++;
    if (n > HS_SIG_MAX_HEADER_VAL)
        return HDR_BAD;
    trim_ows(&p, &n);
    if (n == 0)
        return HDR_BAD;
    *v = p;
    *vlen = n;
    return HDR_OK;
}

/* The HMAC algorithm of a signing scheme: the named ones are fixed. */
static hs_alg scheme_alg(const hs_scheme *sc)
{
    return sc->kind == HS_SCHEME_HMAC ? sc->alg : HS_ALG_SHA256;
}

/* The encoding of a signing scheme's MAC. */
static hs_enc scheme_enc(const hs_scheme *sc)
{
    switch (sc->kind) {
    case HS_SCHEME_GITHUB:
    case HS_SCHEME_STRIPE:
        return HS_ENC_HEX;
    case HS_SCHEME_HMAC:
        return sc->enc;
    default:
        return HS_ENC_BASE64;
    }
}

/*
 * Decode one encoded MAC s[0..n) of exactly rq->mac_len bytes and add it
 * as a candidate. Returns 0, or -1 when the text has the wrong length or
 * alphabet (the candidate list is unchanged).
 */
static int add_candidate(sig_req *rq, hs_enc enc, const char *s, size_t n)
{
    unsigned char buf[B64_DEC_MAX(B64_LEN(HS_SIG_MAX_MAC))];
    size_t got = 0;
    int rc;

    if (rq->ncand >= HS_SIG_MAX_CANDIDATES)
        return -1;
    if (enc == HS_ENC_HEX) {
        if (n != 2 * rq->mac_len)
            return -1;
        rc = hex_decode(s, n, buf, sizeof buf, &got);
    } else {
        if (n != B64_LEN(rq->mac_len))
            return -1;
        rc = b64_decode(s, n, buf, sizeof buf, &got);
    }
    if (rc != 0 || got != rq->mac_len)
        return -1;
    memcpy(rq->cand[rq->ncand++], buf, got);
    return 0;
}

/*
 * Stripe-Signature: comma-separated "key=value" items, whitespace around
 * items tolerated; exactly one t (decimal), any number of v1 up to
 * HS_SIG_MAX_CANDIDATES, other keys (v0, future versions) ignored. A v1
 * of the wrong length or alphabet cannot match and is skipped; at least
 * one usable v1 is required.
 */
static hs_sig_result parse_stripe(const char *v, size_t vlen, sig_req *rq)
{
    const char *item, *eq, *ts = NULL;
    size_t i = 0, j, ilen, tslen = 0, nv1 = 0;

    for (;;) {
        for (j = i; j < vlen && v[j] != ','; j++)
            ;
        item = v + i;
        ilen = j - i;
        trim_ows(&item, &ilen);
        if (ilen == 0)
            return HS_SIG_BAD;
        eq = memchr(item, '=', ilen);
        if (eq == NULL || eq == item)
            return HS_SIG_BAD;
        if (eq_lit(item, (size_t)(eq - item), "t")) {
            if (ts != NULL)
                return HS_SIG_BAD;
            ts = eq + 1;
            tslen = ilen - 2;
            if (parse_ts(ts, tslen, &rq->ts) != 0)
                return HS_SIG_BAD;
        } else if (eq_lit(item, (size_t)(eq - item), "v1")) {
            if (++nv1 > HS_SIG_MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, HS_ENC_HEX, eq + 1,
                                ilen - (size_t)(eq + 1 - item));
        }
        if (j == vlen)
            break;
        i = j + 1;
    }
    if (ts == NULL || rq->ncand == 0)
        return HS_SIG_BAD;
    rq->has_ts = 1;
    /* Stripe signs the timestamp text as sent, then '.', then the body. */
    rq->parts[0] = (part){ ts, tslen };
    rq->parts[1] = (part){ ".", 1 };
    rq->nparts = 2;
    return HS_SIG_OK;
}

/*
 * Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature,
 * each falling back to its svix- name (as the reference libraries do).
 * The signature header is a space-separated list of "version,<b64>";
 * v1 entries are candidates (malformed ones skipped), other versions are
 * skipped, an entry without a version is malformed.
 */
static hs_sig_result parse_standard(hs_header_fn hdr, void *arg, sig_req *rq)
{
    static const char *const names[3][2] = {
        { "webhook-id",        "svix-id" },
        { "webhook-timestamp", "svix-timestamp" },
        { "webhook-signature", "svix-signature" },
    };
    const char *val[3], *s, *tok, *comma;
    size_t vlen[3], i, j, tlen, nv1 = 0;
    int st, missing = 0, bad = 0;

    for (i = 0; i < 3; i++) {
        st = get_header(hdr, arg, names[i][0], &val[i], &vlen[i]);
        if (st == HDR_ABSENT)
            st = get_header(hdr, arg, names[i][1], &val[i], &vlen[i]);
        if (st == HDR_ABSENT)
            missing = 1;
        else if (st == HDR_BAD)
            bad = 1;
    }
    if (missing)
        return HS_SIG_MISSING;
    if (bad || parse_ts(val[1], vlen[1], &rq->ts) != 0)
        return HS_SIG_BAD;

    s = val[2];
    i = 0;
    while (i < vlen[2]) {
        while (i < vlen[2] && is_ows(s[i]))
            i++;
        if (i == vlen[2])
            break;
        for (j = i; j < vlen[2] && !is_ows(s[j]); j++)
            ;
        tok = s + i;
        tlen = j - i;
        comma = memchr(tok, ',', tlen);
        if (comma == NULL || comma == tok)
            return HS_SIG_BAD;
        if (eq_lit(tok, (size_t)(comma - tok), "v1")) {
            if (++nv1 > HS_SIG_MAX_CANDIDATES)
                return HS_SIG_BAD;
            (void)add_candidate(rq, HS_ENC_BASE64, comma + 1,
                                tlen - (size_t)(comma + 1 - tok));
        }
        i = j;
    }
    if (rq->ncand == 0)
        return HS_SIG_BAD;
    rq->has_ts = 1;
    rq->parts[0] = (part){ val[0], vlen[0] };
    rq->parts[1] = (part){ ".", 1 };
    rq->parts[2] = (part){ val[1], vlen[1] };
    rq->parts[3] = (part){ ".", 1 };
    rq->nparts = 4;
    return HS_SIG_OK;
}

/*
 * Read the headers scheme sc needs into rq. Returns HS_SIG_OK when they
 * are present and well formed, else MISSING or BAD as sig.h defines.
 */
static hs_sig_result parse_request(const hs_scheme *sc, hs_header_fn hdr,
                                   void *arg, sig_req *rq)
{
    const char *v = NULL, *name;
    size_t vlen = 0, plen;
    int st;

    if (sc->kind == HS_SCHEME_BEARER || sc->kind == HS_SCHEME_TOKEN) {
        if (sc->kind == HS_SCHEME_TOKEN && !scheme_header_ok(sc))
            return HS_SIG_BAD;
        name = sc->kind == HS_SCHEME_BEARER ? "Authorization" : sc->header;
        st = get_header(hdr, arg, name, &v, &vlen);
        if (st == HDR_ABSENT)
            return HS_SIG_MISSING;
        if (st == HDR_BAD)
            return HS_SIG_BAD;
        if (sc->kind == HS_SCHEME_BEARER) {
            /* RFC 6750: "Bearer" (any case), 1*SP, the token. */
            if (!has_prefix_ci(v, vlen, "bearer "))
                return HS_SIG_BAD;
            v += strlen("bearer ");
            vlen -= strlen("bearer ");
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

    rq->alg = scheme_alg(sc);
    rq->mac_len = mac_size(rq->alg);
    if (rq->mac_len == 0)
        return HS_SIG_BAD;

    switch (sc->kind) {
    case HS_SCHEME_STANDARD:
        return parse_standard(hdr, arg, rq);
    case HS_SCHEME_CALIZA:
        name = "X-Caliza-Webhook-Signature";
        break;
    case HS_SCHEME_GITHUB:
        name = "X-Hub-Signature-256";
        break;
    case HS_SCHEME_STRIPE:
        name = "Stripe-Signature";
        break;
    case HS_SCHEME_SHOPIFY:
        name = "X-Shopify-Hmac-Sha256";
        break;
    case HS_SCHEME_HMAC:
        if (!scheme_header_ok(sc) || !scheme_prefix_ok(sc))
            return HS_SIG_BAD;
        name = sc->header;
        break;
    default:
        return HS_SIG_BAD;
    }
    st = get_header(hdr, arg, name, &v, &vlen);
    if (st == HDR_ABSENT)
        return HS_SIG_MISSING;
    if (st == HDR_BAD)
        return HS_SIG_BAD;

    switch (sc->kind) {
    case HS_SCHEME_STRIPE:
        return parse_stripe(v, vlen, rq);
    case HS_SCHEME_GITHUB:
        if (!has_prefix(v, vlen, "sha256="))
            return HS_SIG_BAD;
        v += strlen("sha256=");
        vlen -= strlen("sha256=");
        break;
    case HS_SCHEME_HMAC:
        plen = strlen(sc->prefix);  /* terminated: checked above */
        if (!has_prefix(v, vlen, sc->prefix))
            return HS_SIG_BAD;
        v += plen;
        vlen -= plen;
        break;
    default:
        break;
    }
    if (add_candidate(rq, scheme_enc(sc), v, vlen) != 0)
        return HS_SIG_BAD;
    return HS_SIG_OK;
}

/*
 * 1 when the HMAC under key[0..klen) of rq's signed bytes plus the body
 * equals one of rq's candidates. Every candidate is compared with
 * CRYPTO_memcmp; a failure to compute counts as no match.
 */
static int mac_matches(const sig_req *rq, const unsigned char *key,
                       size_t klen, const unsigned char *body, size_t len)
{
    unsigned char mac[HS_SIG_MAX_MAC];
    part parts[HS_SIG_MAX_PARTS];
    size_t i, n = 0;
    int hit = 0;

    if (rq->nparts >= HS_SIG_MAX_PARTS)
        return 0;
    memcpy(parts, rq->parts, rq->nparts * sizeof parts[0]);
    parts[rq->nparts] = (part){ body, len };
    if (mac_compute(rq->alg, key, klen, parts, rq->nparts + 1, mac, &n) != 0 ||
        n != rq->mac_len)
        return 0;
    for (i = 0; i < rq->ncand; i++)
        hit |= CRYPTO_memcmp(mac, rq->cand[i], n) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return hit;
}

/*
 * 1 when token[0..tlen) equals key[0..klen). Comparing the raw strings
 * with CRYPTO_memcmp would need equal lengths first, and returning early
 * on a length mismatch tells an attacker the token's length. Comparing
 * fixed-size SHA-256 digests of both takes the same time whatever the
 * lengths, and equal digests mean equal strings; the length test is
 * folded in without branching, as a second guard.
 */
static int token_matches(const char *token, size_t tlen,
                         const unsigned char *key, size_t klen)
{
    unsigned char a[SHA256_LEN], b[SHA256_LEN];
    unsigned int alen = 0, blen = 0;
    int hit = 0;

    const EVP_MD *md = md_of(HS_ALG_SHA256);
    if (md == NULL || klen == 0)
        return 0;
    if (EVP_Digest(token, tlen, a, &alen, md, NULL) == 1 &&
        EVP_Digest(key, klen, b, &blen, md, NULL) == 1 &&
        alen == SHA256_LEN && blen == SHA256_LEN)
        hit = (CRYPTO_memcmp(a, b, SHA256_LEN) == 0) & (tlen == klen);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    return hit;
}

/* 1 when key[0..klen) authenticates the request parsed into rq. */
static int key_matches(const hs_scheme *sc, const sig_req *rq,
                       const unsigned char *key, size_t klen,
                       const unsigned char *body, size_t len)
{
    if (klen == 0 || klen > HS_SIG_MAX_SECRET)
        return 0;
    if (sc->kind == HS_SCHEME_BEARER || sc->kind == HS_SCHEME_TOKEN)
        return token_matches(rq->token, rq->token_len, key, klen);
    return mac_matches(rq, key, klen, body, len);
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
    vd.result = parse_request(sc, hdr, arg, &rq);
    if (vd.result != HS_SIG_OK)
        goto done;
    if (rq.has_ts && !ts_within(rq.ts, (long long)now, tolerance)) {
        vd.result = HS_SIG_EXPIRED;
        goto done;
    }
    vd.result = HS_SIG_BAD;
    for (i = 0; i < n; i++) {
        if (key_matches(sc, &rq, secrets[i].key, secrets[i].key_len,
                        body, len)) {
            vd.result = HS_SIG_OK;
            goto done;
        }
    }
    for (i = 0; i < n && i <= INT_MAX; i++) {
        if (secrets[i].alt_len > 0 &&
            key_matches(sc, &rq, secrets[i].alt, secrets[i].alt_len,
                        body, len)) {
            vd.hint_index = (int)i;
            break;
        }
    }
done:
    OPENSSL_cleanse(&rq, sizeof rq);
    return vd;
}

/* ---------------------------------------------------------------------
 * hs_sig_sign
 */

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

/* Encode mac[0..n) as enc into out (room for B64_LEN(HS_SIG_MAX_MAC)+1,
 * which also covers hex); returns 0 or -1. */
static int encode_mac(hs_enc enc, const unsigned char *mac, size_t n,
                      char *out, size_t outcap)
{
    if (n == 0 || n > HS_SIG_MAX_MAC)
        return -1;
    if (enc == HS_ENC_HEX) {
        if (2 * n + 1 > outcap)
            return -1;
        hex_encode(mac, n, out);
        return 0;
    }
    return b64_encode(mac, n, out, outcap) == 0 ? -1 : 0;
}

/*
 * Contract in sig.h. On failure out is put back to its previous length
 * (unless it ran out of memory, which it records itself), so a caller
 * never sends half a header.
 */
int hs_sig_sign(const hs_scheme *sc, const hs_secret *s,
                const unsigned char *body, size_t len, time_t now,
                const char *msg_id, hs_buf *out)
{
    unsigned char mac[HS_SIG_MAX_MAC], rnd[HS_SIG_MSG_ID_RAND];
    char enc[2 * HS_SIG_MAX_MAC + 1];
    char id[sizeof "msg_" + 2 * HS_SIG_MSG_ID_RAND];
    char ts[HS_SIG_MAX_TS_DIGITS + 2];
    part parts[HS_SIG_MAX_PARTS];
    size_t mark, np = 0, maclen = 0, idlen = 0;
    int tl, rc = -1;

    if (sc == NULL || s == NULL || out == NULL || (body == NULL && len > 0) ||
        s->key_len == 0 || s->key_len > sizeof s->key)
        return -1;
    mark = out->len;

    if (sc->kind == HS_SCHEME_BEARER || sc->kind == HS_SCHEME_TOKEN) {
        if (!header_safe(s->key, s->key_len))
            goto done;
        if (sc->kind == HS_SCHEME_BEARER)
            hs_buf_puts(out, "Authorization: Bearer ");
        else {
            if (!scheme_header_ok(sc))
                goto done;
            hs_buf_printf(out, "%s: ", sc->header);
        }
        hs_buf_append(out, s->key, s->key_len);
        rc = hs_buf_putc(out, '\n');
        goto done;
    }

    tl = snprintf(ts, sizeof ts, "%lld", (long long)now);
    if (tl <= 0 || (size_t)tl >= sizeof ts)
        goto done;
    if (sc->kind == HS_SCHEME_STRIPE) {
        if (now < 0)
            goto done;
        parts[np++] = (part){ ts, (size_t)tl };
        parts[np++] = (part){ ".", 1 };
    } else if (sc->kind == HS_SCHEME_STANDARD) {
        if (now < 0)
            goto done;
        if (msg_id != NULL) {
            while (idlen <= HS_SIG_MAX_MSG_ID && msg_id[idlen] != '\0')
                idlen++;
            if (idlen > HS_SIG_MAX_MSG_ID ||
                !header_safe((const unsigned char *)msg_id, idlen))
                goto done;
        } else {
            if (RAND_bytes(rnd, sizeof rnd) != 1)
                goto done;
            memcpy(id, "msg_", 4);
            hex_encode(rnd, sizeof rnd, id + 4);
            msg_id = id;
            idlen = strlen(id);
        }
        parts[np++] = (part){ msg_id, idlen };
        parts[np++] = (part){ ".", 1 };
        parts[np++] = (part){ ts, (size_t)tl };
        parts[np++] = (part){ ".", 1 };
    } else if (sc->kind == HS_SCHEME_HMAC) {
        if (!scheme_header_ok(sc) || !scheme_prefix_ok(sc))
            goto done;
    } else if (sc->kind != HS_SCHEME_CALIZA && sc->kind != HS_SCHEME_GITHUB &&
               sc->kind != HS_SCHEME_SHOPIFY) {
        goto done;
    }
    parts[np++] = (part){ body, len };
    if (mac_compute(scheme_alg(sc), s->key, s->key_len, parts, np,
                    mac, &maclen) != 0 ||
        encode_mac(scheme_enc(sc), mac, maclen, enc, sizeof enc) != 0)
        goto done;

    switch (sc->kind) {
    case HS_SCHEME_CALIZA:
        hs_buf_printf(out, "X-Caliza-Webhook-Signature: %s\n", enc);
        break;
    case HS_SCHEME_GITHUB:
        hs_buf_printf(out, "X-Hub-Signature-256: sha256=%s\n", enc);
        break;
    case HS_SCHEME_STRIPE:
        hs_buf_printf(out, "Stripe-Signature: t=%s,v1=%s\n", ts, enc);
        break;
    case HS_SCHEME_STANDARD:
        hs_buf_puts(out, "webhook-id: ");
        hs_buf_append(out, msg_id, idlen);
        hs_buf_printf(out, "\nwebhook-timestamp: %s\n"
                      "webhook-signature: v1,%s\n", ts, enc);
        break;
    case HS_SCHEME_SHOPIFY:
        hs_buf_printf(out, "X-Shopify-Hmac-Sha256: %s\n", enc);
        break;
    default: /* HS_SCHEME_HMAC, checked above */
        hs_buf_printf(out, "%s: %s%s\n", sc->header, sc->prefix, enc);
        break;
    }
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

/* ---------------------------------------------------------------------
 * Defaults (SPEC section 3 table).
 */

/* Contract in sig.h. */
const char *hs_scheme_default_keep(const hs_scheme *sc)
{
    if (sc == NULL)
        return "";
    switch (sc->kind) {
    case HS_SCHEME_GITHUB:
        return "X-GitHub-Event,X-GitHub-Delivery,X-GitHub-Hook-ID";
    case HS_SCHEME_STANDARD:
        return "webhook-id,webhook-timestamp";
    case HS_SCHEME_SHOPIFY:
        return "X-Shopify-Topic,X-Shopify-Shop-Domain,X-Shopify-Webhook-Id,"
               "X-Shopify-Event-Id";
    default:
        return "";
    }
}

/* Contract in sig.h. */
const char *hs_scheme_default_dedup(const hs_scheme *sc)
{
    if (sc == NULL)
        return "off";
    switch (sc->kind) {
    case HS_SCHEME_CALIZA:
        return "json:/operation,/resourceId";
    case HS_SCHEME_GITHUB:
        return "header:X-GitHub-Delivery";
    case HS_SCHEME_STRIPE:
        return "json:/id";
    case HS_SCHEME_STANDARD:
        return "header:webhook-id";
    case HS_SCHEME_SHOPIFY:
        return "header:X-Shopify-Event-Id";
    default:
        return "off";
    }
}

int hs_sig_token_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return token_matches(a, alen, b, blen);
}
