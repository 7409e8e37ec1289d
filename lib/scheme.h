/*
 * scheme.h - the signature and token schemes (SPEC section 3), one row
 * of data each.
 *
 * A row says everything hookspool knows about a sender: the headers it
 * sends, the bytes it signs, the MAC and its encoding, where its
 * timestamp is (and so whether HOOKSPOOL_TOLERANCE applies), how a
 * configured secret is read, the dedup and kept-header defaults, and,
 * from the same fields, how `hookspool sign` signs like it. Verification
 * (sig.h), signing (sign.h), the defaults (config.c) and `hookspool
 * check` read rows; none of them switches on the scheme. The table is in
 * scheme.c; its comment shows how a row is added.
 *
 * The generic forms hmac-ALG-ENC:Header[:prefix], token:Header and
 * query:NAME are rows too: parsing one copies its row and fills in the parts the name
 * gives (digest, encoding, header, prefix).
 */
#ifndef HS_SCHEME_H
#define HS_SCHEME_H

#include <stddef.h>
#include "codec.h"
#include "crypto.h"

#define HS_SCHEME_MAX_NAME        127  /* a HOOKSPOOL_SCHEME value */
#define HS_SCHEME_MAX_HEADER_NAME 64   /* a scheme's header name */
#define HS_SCHEME_MAX_PREFIX      32   /* hmac-...:Header:prefix */
#define HS_SCHEME_MAX_PARTS       8    /* pieces of the signed bytes */

/* Which row a scheme came from. A new row adds its name here. */
typedef enum {
    HS_SCHEME_CALIZA, HS_SCHEME_GITHUB, HS_SCHEME_STRIPE, HS_SCHEME_STANDARD,
    HS_SCHEME_SHOPIFY, HS_SCHEME_HMAC, HS_SCHEME_BEARER, HS_SCHEME_TOKEN,
    HS_SCHEME_QUERY, HS_SCHEME_NONE
} hs_scheme_kind;

/* What authenticates a request. */
typedef enum {
    HS_MAC_HMAC,    /* HMAC-alg of the signed bytes, encoded as enc */
    HS_MAC_TOKEN,   /* no MAC: the header carries the secret itself */
    HS_MAC_NONE     /* nothing in the request: only mutual TLS or an
                     * address list (auth.h) authenticates, and config.c
                     * refuses this row without one of them */
} hs_mac;

/* How the signature header's value is laid out. */
typedef enum {
    HS_LAYOUT_PLAIN,  /* prefix, then one encoded MAC: "sha256=<hex>" */
    HS_LAYOUT_KV,     /* "key=value" items split by item_sep, OWS around
                       * items: "t=<ts>,v1=<hex>,v1=<hex>"; other keys
                       * are ignored */
    HS_LAYOUT_LIST,   /* OWS-separated "key,value" entries:
                       * "v1,<b64> v2,<b64>"; other keys are ignored */
    HS_LAYOUT_TOKEN   /* [prefix (any case) and spaces] the token */
} hs_layout;

/* One piece of the signed bytes, in order. */
typedef enum {
    HS_PART_END = 0,  /* ends a list shorter than HS_SCHEME_MAX_PARTS */
    HS_PART_LIT,      /* the literal text lit */
    HS_PART_BODY,     /* the raw body as received */
    HS_PART_TS,       /* the timestamp's text as sent */
    HS_PART_ID        /* the value of the id_header */
} hs_part_kind;

typedef struct hs_part {
    hs_part_kind kind;
    const char  *lit;                   /* HS_PART_LIT */
} hs_part;

/* How a configured secret's text becomes the key. Everywhere "base64:"
 * and "hex:" prefixes decode; otherwise: */
typedef enum {
    HS_KEY_TEXT,    /* the exact bytes (a "whsec_" value included) */
    HS_KEY_WHSEC,   /* "whsec_<Base64>" is decoded (Standard Webhooks) */
    HS_KEY_TOKEN    /* text a sender puts in a header: a pasted
                     * "Bearer " is dropped */
} hs_key_form;

/*
 * One scheme. In the table `name` is empty and `form` is what
 * HOOKSPOOL_SCHEME says; a parsed scheme has name set to the configured
 * value. Pointer fields point to static text; the arrays are filled
 * from the name by the generic forms. Copying the struct copies the
 * scheme.
 */
typedef struct hs_scheme {
    char           name[HS_SCHEME_MAX_NAME + 1];  /* as configured */
    hs_scheme_kind kind;
    const char    *form;      /* "caliza", "hmac-ALG-ENC:Header[:prefix]" */
    const char    *example;   /* a HOOKSPOOL_SCHEME value of a generic form */
    hs_mac         mac;
    hs_alg         alg;       /* HS_MAC_HMAC */
    hs_enc         enc;       /* HS_MAC_HMAC */
    const char    *sig_header;  /* the header with the signature or token */
    char           header[HS_SCHEME_MAX_HEADER_NAME + 1];  /* a generic form's
                               * header, from its name (then sig_header is
                               * NULL); empty for the other rows */
    char           prefix[HS_SCHEME_MAX_PREFIX + 1];       /* before the MAC or token */
    hs_layout      layout;
    char           item_sep;  /* HS_LAYOUT_KV: between items */
    const char    *sig_key;   /* KV, LIST: the key of a signature item ("v1") */
    const char    *ts_key;    /* KV: the key of the timestamp item ("t"), or NULL */
    const char    *ts_header; /* the header holding the timestamp, or NULL */
    const char    *id_header; /* the header whose value HS_PART_ID signs, or NULL */
    const char    *id_new;    /* sign: a generated id is this and 32 hex digits */
    const char    *alias[2];  /* a header this scheme reads whose name starts
                               * with alias[0] is also looked for under
                               * alias[1] and the rest of the name */
    hs_part        parts[HS_SCHEME_MAX_PARTS];     /* the signed bytes */
    hs_key_form    key;
    const char    *dedup;     /* HOOKSPOOL_DEDUP's default */
    const char    *keep;      /* HOOKSPOOL_KEEP_HEADERS' default */
    int            timestamped;  /* set by parsing: ts_key or ts_header */
    int            query;     /* the token is the query-string parameter
                               * named `header`, not a header: the caller
                               * hands hs_sig_verify a lookup of the query
                               * string (issue 17, PIX banks) */
} hs_scheme;

/*
 * Parse a HOOKSPOOL_SCHEME value s[0..len): a row's form exactly
 * (lowercase, as SPEC spells it), token:Header, or
 * hmac-ALG-ENC:Header[:prefix] (ALG sha1|sha256|sha512, ENC hex|base64).
 * Header names are RFC 7230 tokens of at most HS_SCHEME_MAX_HEADER_NAME
 * bytes. Returns 0 and fills *out with the row, or -1 for anything else
 * (out is then unspecified).
 */
int hs_scheme_parse(const char *s, size_t len, hs_scheme *out);

/* The rows, for iterating: hs_scheme_at(i) for i < hs_scheme_count(),
 * NULL past the end. A row's name is empty; parse its form (or, for a
 * generic form, its example) to get a usable scheme. */
size_t hs_scheme_count(void);
const hs_scheme *hs_scheme_at(size_t i);

/* The headers a scheme keeps by default, as a comma list such as
 * "X-GitHub-Event,X-GitHub-Delivery", or "" for none (also for NULL). */
const char *hs_scheme_default_keep(const hs_scheme *sc);
/* The default dedup spec, e.g. "json:/operation,/resourceId",
 * "header:X-GitHub-Delivery" or "off" (also for NULL). */
const char *hs_scheme_default_dedup(const hs_scheme *sc);

/* The forms of every row, ", "-separated in table order
 * ("caliza, github, ..., token:Header"), NUL-terminated in out[0..n)
 * (truncated to fit). Returns out. */
char *hs_scheme_forms(char *out, size_t n);

/*
 * What a sender of scheme sc sends, in one line for `hookspool check`,
 * NUL-terminated in out[0..n) (truncated to fit), e.g.
 * "X-Hub-Signature-256: sha256=<HMAC-SHA256 hex of body>";
 * tolerance is HOOKSPOOL_TOLERANCE, said for the timestamped schemes.
 * Never holds a secret. Returns out.
 */
char *hs_scheme_describe(const hs_scheme *sc, long long tolerance, char *out, size_t n);

/* The header that carries sc's signature or token (sig_header, or a
 * generic form's header), or NULL when sc has none that is a valid,
 * terminated header name, or its prefix is not terminated (a
 * hand-built struct): such a scheme authenticates nothing. */
const char *hs_scheme_sig_header(const hs_scheme *sc);

/* The other name under which header name (one that sc reads) may come,
 * written NUL-terminated into out[0..n): 1 when there is one, 0 when
 * not (or it does not fit). */
int hs_scheme_alias(const hs_scheme *sc, const char *name, char *out, size_t n);

#endif
