/*
 * crypto.c - see crypto.h. The only static state of the signature code:
 * the fetched HMAC implementation, digests and per-digest HMAC templates.
 */
#include "crypto.h"

#include <limits.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SHA256_LEN 32

static CRYPTO_ONCE g_once = CRYPTO_ONCE_STATIC_INIT;
static CRYPTO_ONCE g_md_once[HS_ALG_COUNT] = {
    CRYPTO_ONCE_STATIC_INIT, CRYPTO_ONCE_STATIC_INIT, CRYPTO_ONCE_STATIC_INIT
};
static EVP_MAC    *g_hmac;
static EVP_MD     *g_md[HS_ALG_COUNT];
/* Per digest, an HMAC context with the digest already set and no key:
 * duplicated per MAC, so the digest is not looked up by name each time
 * (EVP_MAC_init with a digest name fetches it on every call). */
static EVP_MAC_CTX *g_tmpl[HS_ALG_COUNT];
static int         g_ready;

/* OpenSSL matches algorithm names without regard to case. */
static const char *const g_md_name[HS_ALG_COUNT] = {
    [HS_ALG_SHA1]   = "sha1",
    [HS_ALG_SHA256] = "sha256",
    [HS_ALG_SHA512] = "sha512",
};

/*
 * Run once per process, each when first needed: fetch the HMAC
 * implementation, and each digest. Fetching is a locked lookup in
 * OpenSSL's method store; doing it once keeps it off the request path,
 * and fetching only what is used keeps a CGI process's start short (one
 * request: a caliza endpoint never fetches SHA-1 or SHA-512). On failure
 * the pointer stays NULL and every MAC with it fails closed.
 */
static void hmac_init(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    g_ready = g_hmac != NULL;
}

/* 1 when HMAC is usable, else 0. Thread-safe. */
static int crypto_ready(void)
{
    if (CRYPTO_THREAD_run_once(&g_once, hmac_init) != 1)
        return 0;
    return g_ready;
}

static void md_init(hs_alg alg)
{
    EVP_MD *md = EVP_MD_fetch(NULL, g_md_name[alg], NULL);
    if (md != NULL && (EVP_MD_get_size(md) <= 0 || EVP_MD_get_size(md) > HS_CRYPTO_MAX_MAC)) {
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

/* CRYPTO_THREAD_run_once takes a function without arguments: one per
 * digest. */
static void md0_init(void) { md_init((hs_alg)0); }
static void md1_init(void) { md_init((hs_alg)1); }
static void md2_init(void) { md_init((hs_alg)2); }

/* 1 when alg is one of the hs_alg values (callers may build structs by
 * hand; an out-of-range value must not index the tables). */
static int alg_ok(hs_alg alg)
{
    return (unsigned)alg < HS_ALG_COUNT;
}

/* The fetched digest alg (alg checked by the caller), or NULL. */
static const EVP_MD *md_of(hs_alg alg)
{
    static void (*const init[HS_ALG_COUNT])(void) = { md0_init, md1_init, md2_init };
    if (CRYPTO_THREAD_run_once(&g_md_once[alg], init[alg]) != 1)
        return NULL;
    return g_md[alg];
}

void hs_crypto_process_init(void)
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

const char *hs_crypto_alg_name(hs_alg alg)
{
    return alg_ok(alg) ? g_md_name[alg] : NULL;
}

const EVP_MD *hs_crypto_sha256(void)
{
    return md_of(HS_ALG_SHA256);
}

size_t hs_crypto_mac_size(hs_alg alg)
{
    const EVP_MD *md;
    if (!alg_ok(alg) || !crypto_ready() || (md = md_of(alg)) == NULL || g_tmpl[alg] == NULL)
        return 0;
    return (size_t)EVP_MD_get_size(md);
}

int hs_crypto_hmac(hs_alg alg, const unsigned char *key, size_t klen,
                   const hs_crypto_part *parts, size_t nparts,
                   unsigned char out[HS_CRYPTO_MAX_MAC], size_t *outlen)
{
    EVP_MAC_CTX *ctx;
    size_t i, n = 0, want;
    int rc = -1;

    want = hs_crypto_mac_size(alg);
    if (want == 0 || key == NULL || klen == 0 || (parts == NULL && nparts > 0))
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
    if (EVP_MAC_final(ctx, out, &n, HS_CRYPTO_MAX_MAC) != 1 || n != want)
        goto done;
    *outlen = n;
    rc = 0;
done:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int hs_crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/*
 * Comparing the raw strings with CRYPTO_memcmp would need equal lengths
 * first, and returning early on a length mismatch tells an attacker the
 * token's length. Comparing fixed-size SHA-256 digests of both takes the
 * same time whatever the lengths, and equal digests mean equal strings;
 * the length test is folded in without branching, as a second guard.
 */
int hs_crypto_token_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char da[SHA256_LEN], db[SHA256_LEN];
    unsigned int la = 0, lb = 0;
    int hit = 0;

    const EVP_MD *md = md_of(HS_ALG_SHA256);
    if (md == NULL || blen == 0)
        return 0;
    if (EVP_Digest(a, alen, da, &la, md, NULL) == 1 &&
        EVP_Digest(b, blen, db, &lb, md, NULL) == 1 &&
        la == SHA256_LEN && lb == SHA256_LEN)
        hit = (CRYPTO_memcmp(da, db, SHA256_LEN) == 0) & (alen == blen);
    OPENSSL_cleanse(da, sizeof da);
    OPENSSL_cleanse(db, sizeof db);
    return hit;
}

int hs_crypto_random(void *buf, size_t n)
{
    if (n > INT_MAX)
        return -1;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}
