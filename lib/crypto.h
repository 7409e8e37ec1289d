/*
 * crypto.h - hookspool's use of OpenSSL 3 (libcrypto): process set-up,
 * HMAC, digests, constant-time comparison, random bytes.
 *
 * The HMAC implementation and each digest are fetched once per process,
 * each when first needed, under CRYPTO_THREAD_run_once, and never freed
 * (they live as long as the process, like OpenSSL's own tables). Per
 * digest an HMAC context with the digest already set is kept as a
 * template and duplicated for each MAC, so the request path never looks
 * a digest up by name. On any failure the objects stay NULL and every
 * function that needs them fails closed. Nothing here logs.
 */
#ifndef HS_CRYPTO_H
#define HS_CRYPTO_H

#include <stddef.h>

/* The HMAC digests. */
typedef enum { HS_ALG_SHA1, HS_ALG_SHA256, HS_ALG_SHA512 } hs_alg;
#define HS_ALG_COUNT 3

/* Largest MAC of any hs_alg in bytes (SHA-512). */
#define HS_CRYPTO_MAX_MAC 64

/* A run of bytes fed to a MAC: a signed message is a list of these, so
 * the body is never copied to prepend an id or a timestamp. */
typedef struct hs_crypto_part {
    const void *p;
    size_t      n;
} hs_crypto_part;

/*
 * Call first thing in main(), before anything else touches OpenSSL:
 * initialise libcrypto without reading openssl.cnf and without building
 * the name tables of every cipher and digest. hookspool needs neither
 * (it fetches HMAC and the digests it uses by name, once), and a CGI
 * process pays that start-up on every request. Nor does OpenSSL free its
 * tables at exit (OPENSSL_INIT_NO_ATEXIT): the process's end frees them,
 * and what hookspool itself holds stays reachable. Harmless if late.
 */
void hs_crypto_process_init(void);

/* The name of alg as hookspool's settings spell it ("sha1", "sha256",
 * "sha512"; also the name it is fetched by), or NULL out of range. */
const char *hs_crypto_alg_name(hs_alg alg);

/* OpenSSL's SHA-256, fetched once per process (NULL if unavailable), for
 * the other modules' hashing. Owned by this module; never free it. */
struct evp_md_st;
const struct evp_md_st *hs_crypto_sha256(void);

/* Size in bytes of an HMAC with alg (at most HS_CRYPTO_MAX_MAC), or 0
 * when alg is out of range or OpenSSL cannot provide it. Thread-safe. */
size_t hs_crypto_mac_size(hs_alg alg);

/*
 * HMAC-alg of the concatenation parts[0..nparts) (parts of length 0 are
 * skipped) under key[0..klen), written to out; *outlen gets its size.
 * Returns 0, or -1 on any OpenSSL failure or bad argument (an empty key
 * included; out is then unspecified).
 */
int hs_crypto_hmac(hs_alg alg, const unsigned char *key, size_t klen,
                   const hs_crypto_part *parts, size_t nparts,
                   unsigned char out[HS_CRYPTO_MAX_MAC], size_t *outlen);

/* 1 when a[0..n) equals b[0..n), compared in constant time. */
int hs_crypto_equal(const void *a, const void *b, size_t n);

/*
 * Compare a presented token a[0..alen) with the expected b[0..blen) in
 * constant time, without leaking b's length through an early exit
 * (SHA-256 of both, then a constant-time comparison of the digests). 1
 * when equal; 0 when not, when blen is 0, or when hashing fails. Used by
 * the token schemes and the status token.
 */
int hs_crypto_token_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Fill buf[0..n) with random bytes from OpenSSL's CSPRNG. Returns 0 or
 * -1. */
int hs_crypto_random(void *buf, size_t n);

#endif
