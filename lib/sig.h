/*
 * sig.h - signature and token schemes (SPEC section 3).
 *
 * Everything here works on raw bytes with explicit lengths; nothing
 * knows about FastCGI or the environment. OpenSSL does every MAC, every
 * Base64 and every constant-time comparison.
 */
#ifndef HS_SIG_H
#define HS_SIG_H

#include <stddef.h>
#include <time.h>
#include "buf.h"

#define HS_SIG_MAX_HEADER_NAME 64   /* a scheme's header name */
#define HS_SIG_MAX_PREFIX      32   /* hmac-...:Header:prefix */
#define HS_SIG_MAX_SECRET      1024 /* bytes of one decoded secret */
#define HS_SIG_MAX_HEADER_VAL  8192 /* longer signature headers are wrong */

typedef enum {
    HS_SCHEME_CALIZA, HS_SCHEME_GITHUB, HS_SCHEME_STRIPE, HS_SCHEME_STANDARD,
    HS_SCHEME_SHOPIFY, HS_SCHEME_HMAC, HS_SCHEME_BEARER, HS_SCHEME_TOKEN
} hs_scheme_kind;

typedef enum { HS_ALG_SHA1, HS_ALG_SHA256, HS_ALG_SHA512 } hs_alg;
typedef enum { HS_ENC_HEX, HS_ENC_BASE64 } hs_enc;

typedef struct hs_scheme {
    hs_scheme_kind kind;
    char   name[128];                        /* as configured, e.g. "hmac-sha256-hex:Signature" */
    hs_alg alg;                              /* for the HMAC schemes */
    hs_enc enc;
    char   header[HS_SIG_MAX_HEADER_NAME + 1];  /* HMAC / TOKEN: the header; others: empty */
    char   prefix[HS_SIG_MAX_PREFIX + 1];       /* HMAC: value prefix stripped before decoding */
    int    timestamped;                      /* STRIPE, STANDARD */
} hs_scheme;

/*
 * Parse a HOOKSPOOL_SCHEME value s[0..len): one of caliza, github, stripe,
 * standard, shopify, bearer, token:Header, hmac-ALG-ENC:Header[:prefix]
 * (ALG sha1|sha256|sha512, ENC hex|base64). Header names are RFC 7230
 * tokens of at most HS_SIG_MAX_HEADER_NAME bytes. Returns 0 and fills
 * *out, or -1 for anything else (out is then unspecified).
 */
int hs_scheme_parse(const char *s, size_t len, hs_scheme *out);

/*
 * One accepted secret. `key` is what the scheme uses; `alt`, when
 * alt_len > 0, is the same setting read the other way (Base64-decoded
 * instead of literal, or literal instead of decoded) and is tried only to
 * produce a hint for the log, never to accept a request. `source` names
 * the setting it came from (static string or owned by the caller, e.g.
 * "HOOKSPOOL_SECRET"), `alt_hint` says what to change, e.g.
 * "prefix the value with base64:" (static string).
 */
typedef struct hs_secret {
    unsigned char key[HS_SIG_MAX_SECRET];
    size_t        key_len;
    unsigned char alt[HS_SIG_MAX_SECRET];
    size_t        alt_len;
    const char   *source;
    const char   *alt_hint;
} hs_secret;

/*
 * Decode one configured secret value v[0..len) for scheme sc:
 *  - "base64:..." / "hex:..." prefixes decode (strictly; bad text is an
 *    error); alt is then the literal text of the whole value;
 *  - for STANDARD, "whsec_<b64>" is Base64-decoded (alt: literal);
 *  - for STRIPE the "whsec_..." value is used as its exact bytes;
 *  - for BEARER and TOKEN a leading "Bearer " (any case) is dropped;
 *  - otherwise the exact bytes; alt is their Base64 decoding when the
 *    text is valid padded Base64 of at least 16 bytes decoded.
 * Returns 0, or -1 when the value is empty, too long or badly encoded.
 */
int hs_secret_decode(const hs_scheme *sc, const char *v, size_t len,
                     const char *source, hs_secret *out);

/* Looks up a request header by its HTTP name (case-insensitive, e.g.
 * "X-Hub-Signature-256"); returns its NUL-terminated value or NULL. */
typedef const char *(*hs_header_fn)(void *arg, const char *name);

typedef enum {
    HS_SIG_OK = 0,
    HS_SIG_MISSING,   /* the header(s) the scheme needs are absent */
    HS_SIG_BAD,       /* present but no secret matches (or malformed) */
    HS_SIG_EXPIRED    /* timestamped scheme: |now - t| > tolerance */
} hs_sig_result;

typedef struct hs_sig_verdict {
    hs_sig_result result;
    /* When result is HS_SIG_BAD and some secret's alt would have
     * matched: that secret's index, else -1. */
    int hint_index;
} hs_sig_verdict;

/*
 * Verify a request: body[0..len) is the raw body exactly as read.
 * Every secret of secrets[0..n) is tried; MACs are compared in constant
 * time over decoded bytes; hex is case-insensitive; a header of the wrong
 * length or alphabet is HS_SIG_BAD, never an error. Timestamps of STRIPE
 * and STANDARD must lie within [now - tolerance, now + tolerance].
 * Allocates nothing that outlives the call.
 */
hs_sig_verdict hs_sig_verify(const hs_scheme *sc, const hs_secret *secrets,
                             size_t n, hs_header_fn hdr, void *arg,
                             const unsigned char *body, size_t len,
                             time_t now, long long tolerance);

/*
 * Produce the headers a sender would send for body[0..len) with secret s
 * at time now, appending lines "Name: value\n" to out (STANDARD uses
 * msg_id, or a generated "msg_..." id when msg_id is NULL). For the
 * token schemes this is the token header itself. Returns 0 or -1.
 */
int hs_sig_sign(const hs_scheme *sc, const hs_secret *s,
                const unsigned char *body, size_t len, time_t now,
                const char *msg_id, hs_buf *out);

/* The headers a scheme keeps by default (SPEC section 3), as a comma
 * list such as "X-GitHub-Event,X-GitHub-Delivery", or "" for none. */
const char *hs_scheme_default_keep(const hs_scheme *sc);
/* The default dedup spec, e.g. "json:/operation,/resourceId",
 * "header:X-GitHub-Delivery" or "off". STANDARD answers
 * "header:webhook-id"; the caller falls back to svix-id. */
const char *hs_scheme_default_dedup(const hs_scheme *sc);



/*
 * Compare a presented token a[0..alen) with the expected b[0..blen) in
 * constant time, without leaking b's length through an early exit
 * (SHA-256 of both, then CRYPTO_memcmp of the digests). 1 when equal.
 * Used by the token schemes and the status token.
 */
int hs_sig_token_equal(const void *a, size_t alen, const void *b, size_t blen);
/*
 * Call first thing in main(), before anything else touches OpenSSL:
 * initialise libcrypto without reading openssl.cnf and without building
 * the name tables of every cipher and digest. hookspool needs neither
 * (it fetches HMAC and the digests it uses by name, once), and a CGI
 * process pays that start-up on every request. Nor does OpenSSL free its
 * tables at exit (OPENSSL_INIT_NO_ATEXIT): the process's end frees them,
 * and what hookspool itself holds stays reachable. Harmless if late.
 */
void hs_sig_process_init(void);

/* OpenSSL's SHA-256, fetched once per process (NULL if unavailable), for
 * the other modules' hashing. Owned by this module; never free it. */
struct evp_md_st;
const struct evp_md_st *hs_sig_sha256(void);

#endif
