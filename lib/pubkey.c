/*
 * pubkey.c - see pubkey.h.
 */
#include "pubkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "codec.h"
#include "text.h"

#define ED25519_KEY 32
#define WHPK "whpk_"
/* Longest DER SubjectPublicKeyInfo read: a P-256 one is 91 bytes. */
#define MAX_SPKI 256

static void why_set(char *why, size_t whylen, const char *s)
{
    if (why != NULL && whylen > 0) snprintf(why, whylen, "%s", s);
}

int hs_pubkey_parse(hs_pk_alg alg, hs_pk_text form, const char *text, size_t n,
                    const char *source, hs_pubkey *out, char *why, size_t whylen)
{
    unsigned char raw[MAX_SPKI];
    const unsigned char *p = raw;
    size_t rl = 0, pl = strlen(WHPK);
    EVP_PKEY *pk = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (text == NULL || n == 0 || n > HS_PK_MAX_TEXT) {
        why_set(why, whylen, "empty or longer than 512 bytes");
        return -1;
    }
    hs_text_trim_ows(&text, &n);
    switch (form) {
    case HS_PK_TEXT_WHPK:
        if (!hs_text_prefix(text, n, WHPK) ||
            hs_codec_b64_decode(text + pl, n - pl, raw, sizeof raw, &rl) != 0 || rl != ED25519_KEY) {
            why_set(why, whylen, "not a Standard Webhooks public key: whpk_ and the Base64 "
                    "of 32 bytes");
            goto done;
        }
        break;
    case HS_PK_TEXT_HEX:
        if (hs_codec_hex_decode(text, n, raw, sizeof raw, &rl) != 0 || rl != ED25519_KEY) {
            why_set(why, whylen, "not an Ed25519 public key: 64 hex digits");
            goto done;
        }
        break;
    case HS_PK_TEXT_SPKI:
        if (hs_codec_b64_decode(text, n, raw, sizeof raw, &rl) != 0 || rl == 0) {
            why_set(why, whylen, "not Base64 (the key as the provider shows it)");
            goto done;
        }
        break;
    default:
        why_set(why, whylen, "unknown key form");
        goto done;
    }
    if (alg == HS_PK_ED25519 && rl == ED25519_KEY) {
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rl);
    } else if (alg == HS_PK_P256 && form == HS_PK_TEXT_SPKI) {
        pk = d2i_PUBKEY(NULL, &p, (long)rl);
        if (pk != NULL && (p != raw + rl || !EVP_PKEY_is_a(pk, "EC") ||
                           EVP_PKEY_get_bits(pk) != 256)) {
            EVP_PKEY_free(pk);
            why_set(why, whylen, "not an ECDSA P-256 public key");
            goto done_no_msg;
        }
        if (pk != NULL) {
            char curve[64];
            size_t cl = 0;
            if (EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof curve, &cl) != 1 ||
                strcmp(curve, "prime256v1") != 0) {
                EVP_PKEY_free(pk);
                pk = NULL;
                why_set(why, whylen, "not an ECDSA P-256 public key (another curve)");
                goto done_no_msg;
            }
        }
    }
    if (pk == NULL) {
        why_set(why, whylen, alg == HS_PK_P256 ? "not an ECDSA P-256 public key"
                                               : "not an Ed25519 public key");
        goto done;
    }
    out->alg = alg;
    out->pk = pk;
    out->source = source;
    rc = 0;
    goto done;
done_no_msg:
    pk = NULL;
done:
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

void hs_pubkey_free(hs_pubkey *k)
{
    if (k == NULL) return;
    EVP_PKEY_free(k->pk);
    k->pk = NULL;
    k->alg = HS_PK_NONE;
}

/* Contract in pubkey.h. */
int hs_pubkey_join(const hs_crypto_part *parts, size_t nparts, unsigned char **out, size_t *n)
{
    size_t i, total = 0, off = 0;

    for (i = 0; i < nparts; i++) {
        if (parts[i].n > (size_t)-1 - total - 1) return -1;
        total += parts[i].n;
    }
    if ((*out = malloc(total ? total : 1)) == NULL) return -1;
    for (i = 0; i < nparts; i++) {
        if (parts[i].n) memcpy(*out + off, parts[i].p, parts[i].n);
        off += parts[i].n;
    }
    *n = total;
    return 0;
}

/* Contract in pubkey.h. */
const void *hs_pubkey_md(hs_pk_alg alg)
{
    return alg == HS_PK_P256 ? EVP_sha256() : NULL;
}

int hs_pubkey_verify(const hs_pubkey *k, const hs_crypto_part *parts, size_t nparts,
                     const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx;
    unsigned char *msg = NULL;
    size_t i, mlen = 0;
    int ok = 0;

    if (k == NULL || k->pk == NULL || sig == NULL || siglen == 0 || siglen > HS_PK_MAX_SIG ||
        (k->alg == HS_PK_ED25519 && siglen != HS_PK_ED25519_SIG))
        return 0;
    if ((ctx = EVP_MD_CTX_new()) == NULL) return 0;
    if (EVP_DigestVerifyInit(ctx, NULL, hs_pubkey_md(k->alg), NULL, k->pk) != 1) goto done;
    if (k->alg == HS_PK_ED25519) {
        if (hs_pubkey_join(parts, nparts, &msg, &mlen) == 0)
            ok = EVP_DigestVerify(ctx, sig, siglen, msg, mlen) == 1;
    } else if (k->alg == HS_PK_P256) {
        for (i = 0; i < nparts; i++)
            if (EVP_DigestVerifyUpdate(ctx, parts[i].p, parts[i].n) != 1) goto done;
        ok = EVP_DigestVerifyFinal(ctx, sig, siglen) == 1;
    }
done:
    free(msg);
    EVP_MD_CTX_free(ctx);
    return ok;
}
