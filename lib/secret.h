/*
 * secret.h - a configured secret's text turned into the key a scheme
 * uses (HOOKSPOOL_SECRET, _SECRET_OLD, each line of _SECRET_FILE).
 */
#ifndef HS_SECRET_H
#define HS_SECRET_H

#include <stddef.h>
#include "scheme.h"

#define HS_SECRET_MAX 1024   /* bytes of one decoded secret */

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
    unsigned char key[HS_SECRET_MAX];
    size_t        key_len;
    unsigned char alt[HS_SECRET_MAX];
    size_t        alt_len;
    const char   *source;
    const char   *alt_hint;
} hs_secret;

/*
 * Decode one configured secret value v[0..len) for scheme sc, as its
 * row's key form says:
 *  - "base64:..." / "hex:..." prefixes decode (strictly; bad text is an
 *    error); alt is then the literal text after the prefix;
 *  - HS_KEY_WHSEC: "whsec_<b64>" is Base64-decoded (alt: the literal);
 *  - HS_KEY_TOKEN: a leading "Bearer " (any case, and the spaces after
 *    it) is dropped; when the scheme's header carries the bare token,
 *    alt is then the whole literal (the sender probably sends the
 *    prefix too);
 *  - otherwise the exact bytes (a Stripe "whsec_..." value included);
 *    alt is their Base64 decoding when the text is valid padded Base64
 *    of at least 16 bytes decoded.
 * Returns 0, or -1 when the value is empty, too long or badly encoded;
 * on failure *out is cleared (source kept) so no partial key remains.
 */
int hs_secret_decode(const hs_scheme *sc, const char *v, size_t len,
                     const char *source, hs_secret *out);

#endif
