/*
 * pubkey.h - public-key signatures (Standard Webhooks v1a and Discord:
 * Ed25519; SendGrid: ECDSA P-256 with SHA-256), with OpenSSL's EVP.
 *
 * A configured public key is parsed once per configuration
 * (hs_pubkey_parse, called by config.c) into an EVP_PKEY that every
 * request of that configuration verifies with; a key of the wrong type
 * or size is refused there, so a request never meets one. Private keys
 * are read only by `hookspool sign` (sign.h), never by the receiver.
 */
#ifndef HS_PUBKEY_H
#define HS_PUBKEY_H

#include <stddef.h>
#include "crypto.h"

typedef enum {
    HS_PK_NONE = 0,
    HS_PK_ED25519,    /* Ed25519 (RFC 8032) over the signed bytes */
    HS_PK_P256        /* ECDSA P-256 over SHA-256 of the signed bytes, DER */
} hs_pk_alg;

/* How a public key's text is written. */
typedef enum {
    HS_PK_TEXT_WHPK,   /* "whpk_" and the Base64 of the 32 raw bytes (Standard Webhooks) */
    HS_PK_TEXT_HEX,    /* 64 hex digits of the 32 raw bytes (Discord) */
    HS_PK_TEXT_SPKI    /* Base64 of the DER SubjectPublicKeyInfo, as SendGrid
                        * shows it (a PEM's body lines joined) */
} hs_pk_text;

#define HS_PK_MAX_TEXT 512   /* bytes of a public key's text */
#define HS_PK_MAX_SIG  72    /* bytes of a signature: DER ECDSA P-256 at most */
#define HS_PK_ED25519_SIG 64

typedef struct hs_pubkey {
    hs_pk_alg   alg;
    void       *pk;       /* EVP_PKEY *, owned */
    const char *source;   /* the setting it came from */
} hs_pubkey;

/*
 * Parse text[0..n) written as form into an alg key in *out, with source
 * as its origin. Returns 0, or -1 with why[0..whylen) saying what is
 * wrong (never quoting the text); *out is then empty.
 */
int hs_pubkey_parse(hs_pk_alg alg, hs_pk_text form, const char *text, size_t n,
                    const char *source, hs_pubkey *out, char *why, size_t whylen);

/* Free k's key and empty it (NULL or an empty key: nothing). */
void hs_pubkey_free(hs_pubkey *k);

/*
 * 1 when sig[0..siglen) is k's signature of the concatenated parts, 0
 * otherwise (a malformed signature, a failure to compute: 0).
 */
int hs_pubkey_verify(const hs_pubkey *k, const hs_crypto_part *parts, size_t nparts,
                     const unsigned char *sig, size_t siglen);

/* The parts joined into one new allocation, *out (free it) of *n bytes:
 * Ed25519 takes its message in one piece. 0 or -1. */
int hs_pubkey_join(const hs_crypto_part *parts, size_t nparts, unsigned char **out, size_t *n);

/* The digest (const EVP_MD *) alg signs through: SHA-256 for P-256,
 * NULL for Ed25519, which hashes by itself. */
const void *hs_pubkey_md(hs_pk_alg alg);

#endif
