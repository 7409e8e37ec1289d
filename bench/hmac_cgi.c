/*
 * hmac_cgi.c - the OpenSSL floor for hookspool.fcgi run as a plain CGI:
 * trivial_cgi.c plus the one thing no receiver may skip, checking the
 * Caliza signature (HTTP_X_CALIZA_WEBHOOK_SIGNATURE, Base64 of
 * HMAC-SHA256(HOOKSPOOL_SECRET, body)) through OpenSSL's EVP API, set up
 * as hookspool sets it up: no configuration file, no cipher or digest
 * tables, no clean-up at exit, HMAC fetched once. It answers 200 when
 * the signature matches and 401 when it does not. It validates, stores
 * and counts nothing; bench/run.sh builds it static and runs it beside
 * the trivial CGI, so the report shows what OpenSSL's start-up alone
 * costs a process that serves one request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MAX_BODY 65536

static int put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1 when sig (Base64) is the HMAC-SHA256 of body under key, else 0. */
static int signature_ok(const char *key, const char *sig, const unsigned char *body, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE], want[64];
    size_t maclen = 0, siglen = strlen(sig);
    int ok = 0, n;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    p[1] = OSSL_PARAM_construct_end();
    if (c == NULL || siglen != 44 ||
        EVP_MAC_init(c, (const unsigned char *)key, strlen(key), p) != 1 ||
        EVP_MAC_update(c, body, len) != 1 ||
        EVP_MAC_final(c, mac, &maclen, sizeof(mac)) != 1 || maclen != 32)
        goto done;
    n = EVP_DecodeBlock(want, (const unsigned char *)sig, (int)siglen);
    ok = n == 33 && sig[43] == '=' && CRYPTO_memcmp(mac, want, 32) == 0;
done:
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return ok;
}

int main(void)
{
    static const char ok[] =
        "Status: 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 12\r\n"
        "\r\n"
        "{\"ok\":true}\n";
    static const char bad[] =
        "Status: 401 Unauthorized\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 13\r\n"
        "\r\n"
        "{\"ok\":false}\n";
    static unsigned char buf[MAX_BODY];
    const char *cl = getenv("CONTENT_LENGTH");
    const char *key = getenv("HOOKSPOOL_SECRET");
    const char *sig = getenv("HTTP_X_CALIZA_WEBHOOK_SIGNATURE");
    long long left = cl && *cl ? strtoll(cl, NULL, 10) : -1;
    size_t len = 0;

    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                              OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
                              OPENSSL_INIT_NO_ATEXIT, NULL);
    while (left != 0 && len < sizeof(buf)) {
        size_t want = sizeof(buf) - len;
        ssize_t r;
        if (left > 0 && (long long)want > left) want = (size_t)left;
        r = read(0, buf + len, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
        if (left > 0) left -= r;
    }
    if (key != NULL && sig != NULL && left == 0 && signature_ok(key, sig, buf, len))
        return put(ok, sizeof(ok) - 1);
    return put(bad, sizeof(bad) - 1);
}
