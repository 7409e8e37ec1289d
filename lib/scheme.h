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
 * query:NAME are rows too: parsing one copies its row and fills in the
 * parts the name gives (digest, encoding, header, prefix). So is
 * template-ALG-ENC, a sender no row describes: its signed bytes and its
 * signature header come from two settings (HOOKSPOOL_SIGNED,
 * HOOKSPOOL_SIGNATURE) that hs_scheme_template parses once into the same
 * fields a row has.
 */
#ifndef HS_SCHEME_H
#define HS_SCHEME_H

#include <stddef.h>
#include "codec.h"
#include "crypto.h"
#include "pubkey.h"

#define HS_SCHEME_MAX_NAME        127  /* a HOOKSPOOL_SCHEME value */
#define HS_SCHEME_MAX_HEADER_NAME 64   /* a scheme's header name */
#define HS_SCHEME_MAX_PREFIX      32   /* hmac-...:Header:prefix */
#define HS_SCHEME_MAX_PARTS       8    /* pieces of the signed bytes */
#define HS_SCHEME_MAX_TEXT        256  /* a template's literals and names */
#define HS_SCHEME_MAX_KEY         32   /* a key of a k=v signature header */
#define HS_SCHEME_MAX_TEMPLATE    512  /* HOOKSPOOL_SIGNED, HOOKSPOOL_SIGNATURE */

/* Which row a scheme came from. A new row adds its name here. */
typedef enum {
    HS_SCHEME_CALIZA, HS_SCHEME_GITHUB, HS_SCHEME_STRIPE, HS_SCHEME_STANDARD,
    HS_SCHEME_SHOPIFY, HS_SCHEME_HMAC, HS_SCHEME_BEARER, HS_SCHEME_TOKEN,
    HS_SCHEME_SLACK, HS_SCHEME_ZOOM, HS_SCHEME_TWITCH, HS_SCHEME_PADDLE,
    HS_SCHEME_MERCADOPAGO, HS_SCHEME_MAILGUN, HS_SCHEME_META, HS_SCHEME_DROPBOX,
    HS_SCHEME_TWITTER, HS_SCHEME_OKTA, HS_SCHEME_SMARTSHEET, HS_SCHEME_GRAPH,
    HS_SCHEME_TEMPLATE, HS_SCHEME_DISCORD, HS_SCHEME_SENDGRID, HS_SCHEME_TWILIO,
    HS_SCHEME_SQUARE, HS_SCHEME_QUERY,
    HS_SCHEME_NONE
} hs_scheme_kind;

/* The handshake a sender needs answered before it delivers anything
 * (handshake.h answers them). */
typedef enum {
    HS_HSK_NONE = 0, HS_HSK_SLACK, HS_HSK_META, HS_HSK_ZOOM, HS_HSK_TWITCH,
    HS_HSK_GRAPH, HS_HSK_DROPBOX, HS_HSK_TWITTER, HS_HSK_OKTA,
    HS_HSK_SMARTSHEET, HS_HSK_DISCORD
} hs_handshake_kind;

/* How a timestamp is written. */
typedef enum {
    HS_TS_UNIX = 0,   /* decimal seconds since the epoch */
    HS_TS_RFC3339,    /* 2019-11-16T10:11:12.634234626Z (Twitch) */
    HS_TS_UNIX_MS     /* decimal milliseconds since the epoch (WorkOS) */
} hs_ts_format;

/* What authenticates a request. */
typedef enum {
    HS_MAC_HMAC,    /* HMAC-alg of the signed bytes, encoded as enc */
    HS_MAC_TOKEN,   /* no MAC: the header carries the secret itself */
    HS_MAC_PUBKEY,  /* a public-key signature (pk_alg), encoded as enc,
                     * checked with HOOKSPOOL_PUBLIC_KEY; no secret */
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
    HS_LAYOUT_TOKEN,  /* [prefix (any case) and spaces] the token */
    HS_LAYOUT_EACH    /* no header: sig_json names a JSON array in the
                       * body, and member sig_key of every element of it
                       * carries the token (Microsoft Graph's clientState) */
} hs_layout;

/* One piece of the signed bytes, in order. */
typedef enum {
    HS_PART_END = 0,  /* ends a list shorter than HS_SCHEME_MAX_PARTS */
    HS_PART_LIT,      /* the literal text lit */
    HS_PART_BODY,     /* the raw body as received */
    HS_PART_TS,       /* the timestamp's text as sent */
    HS_PART_ID,       /* the id: the id_header's value, or id_json's */
    HS_PART_QUERY,    /* the query parameter named lit, URL-decoded */
    HS_PART_HEADER,   /* the value of the header named lit */
    HS_PART_JSON,     /* the JSON Pointer lit into the body: a string's
                       * text (without escapes) or a number as sent */
    HS_PART_URL,      /* the URL the sender called: HOOKSPOOL_PUBLIC_URL,
                       * then "?" and the query string when there is one */
    HS_PART_FORM      /* a form body's fields, name then value, in name
                       * order (form.h hs_form_sorted); nothing when the
                       * query has body_hash_query (a JSON body) */
} hs_part_kind;

typedef struct hs_part {
    hs_part_kind kind;
    const char  *lit;    /* LIT: the text; QUERY, HEADER: the name; JSON:
                          * the pointer. NULL in a configured template:
                          * then text[off .. off+len) of the scheme */
    int          lower;  /* QUERY: lowercased before signing (Mercado
                          * Pago signs an alphanumeric data.id so) */
    unsigned short off, len;
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
    const char    *ts_json;   /* or the JSON Pointer to it in the body */
    hs_ts_format   ts_fmt;
    const char    *id_header; /* the header whose value HS_PART_ID signs, or NULL */
    const char    *id_json;   /* or the JSON Pointer to it in the body */
    const char    *sig_json;  /* no signature header: the JSON Pointer to
                               * the signature in the body (PLAIN), or to
                               * the array of EACH */
    const char    *sig_form;  /* a row that reads JSON and also takes a form
                               * body (Mailgun's form format): the JSON
                               * Pointers to the signature, timestamp and */
    const char    *ts_form;   /* id among its fields, as hs_form_json */
    const char    *id_form;   /* writes them; NULL: JSON bodies only */
    int            body_unsigned;  /* the sender's MAC does not cover the
                               * body (Mercado Pago, Mailgun): said by
                               * check and the README; every other HMAC
                               * row must sign the body */
    const char    *envelope;  /* sign: the body to send, "%B" the body
                               * read, "%T" the timestamp, "%I" the id,
                               * "%S" the encoded MAC, "%K" the token as a
                               * JSON string; NULL: the body as read */
    hs_handshake_kind handshake;
    hs_pk_alg      pk_alg;    /* the public-key signature it takes, or HS_PK_NONE */
    hs_pk_text     pk_text;   /* how its public key is written */
    const char    *pk_key;    /* HS_LAYOUT_LIST: the key of a public-key
                               * signature item ("v1a"), beside sig_key's
                               * HMAC ones; an HS_MAC_PUBKEY row's signature
                               * header carries only that */
    const char    *body_hash_query;  /* Twilio: a query parameter that, when
                               * present, carries the hex SHA-256 of a JSON
                               * body, which is then not signed otherwise */
    const char    *id_new;    /* sign: a generated id is this and 32 hex digits */
    const char    *alias[2];  /* a header this scheme reads whose name starts
                               * with alias[0] is also looked for under
                               * alias[1] and the rest of the name */
    hs_part        parts[HS_SCHEME_MAX_PARTS];     /* the signed bytes */
    hs_key_form    key;
    const char    *dedup;     /* HOOKSPOOL_DEDUP's default */
    const char    *keep;      /* HOOKSPOOL_KEEP_HEADERS' default */
    int            timestamped;  /* set by parsing: ts_key, ts_header or ts_json */
    char           text[HS_SCHEME_MAX_TEXT];  /* a configured template's
                               * literals and names (hs_part off/len) */
    /* A configured template's keys and timestamp header (the rows use
     * sig_key, ts_key, ts_header): empty when unset. Read them through
     * hs_scheme_sig_key, hs_scheme_ts_key, hs_scheme_ts_header. */
    char           tpl_sig_key[HS_SCHEME_MAX_KEY + 1];
    char           tpl_ts_key[HS_SCHEME_MAX_KEY + 1];
    char           tpl_ts_header[HS_SCHEME_MAX_HEADER_NAME + 1];
    int            query;     /* the token is the query-string parameter
                               * named `header`, not a header: sig.c reads
                               * it from hs_sig_input's query (issue 17,
                               * PIX banks) */
} hs_scheme;

/*
 * Parse a HOOKSPOOL_SCHEME value s[0..len): a row's form exactly
 * (lowercase, as SPEC spells it), token:Header,
 * hmac-ALG-ENC:Header[:prefix] or template-ALG-ENC (ALG
 * sha1|sha256|sha512, ENC hex|base64). Header names are RFC 7230 tokens
 * of at most HS_SCHEME_MAX_HEADER_NAME bytes. Returns 0 and fills *out
 * with the row, or -1 for anything else (out is then unspecified). A
 * template-ALG-ENC scheme authenticates nothing until hs_scheme_template
 * has given it its shape.
 */
int hs_scheme_parse(const char *s, size_t len, hs_scheme *out);

/* Which setting hs_scheme_template found wrong. */
typedef enum { HS_TPL_SIGNED, HS_TPL_SIGNATURE } hs_tpl_setting;

/*
 * Give a template-ALG-ENC scheme sc (from hs_scheme_parse) the shape of
 * its sender, from two NUL-terminated texts (README "A sender no row
 * describes"):
 *
 *   signature  the signature header: "Name: shape". The shape is
 *              "prefix{mac}" (the prefix, possibly empty, then the
 *              encoded MAC), or two k=v items around one separator
 *              character, one holding {mac}, the other the timestamp as
 *              {ts} (seconds) or {ts_ms} (milliseconds):
 *              "t={ts},v1={mac}", "ts={ts};h1={mac}".
 *   signed     the signed bytes: literal text and placeholders {body},
 *              {ts} (the signature header's timestamp), {ts:Header} or
 *              {ts_ms:Header} (a timestamp in a header of its own),
 *              {header:Name}, {query:name} (URL-decoded) and
 *              {json:/pointer} (a string's text or a number as sent);
 *              {{ and }} are literal braces. It must hold {body} once,
 *              and the timestamp, when the sender sends one.
 *
 * Returns 0, or -1 with *which naming the text at fault and err[0..errlen)
 * saying why (never echoing more than a name from the texts); sc is then
 * unspecified. Parsing happens once per configuration; verification
 * and signing read the fields it filled as they read a row's.
 */
int hs_scheme_template(hs_scheme *sc, const char *signed_bytes, const char *signature,
                       hs_tpl_setting *which, char *err, size_t errlen);

/* The key of a k=v or list signature item holding the MAC, the key of
 * the timestamp item, the header holding the timestamp: the row's, or a
 * template's; NULL when sc has none. */
const char *hs_scheme_sig_key(const hs_scheme *sc);
const char *hs_scheme_ts_key(const hs_scheme *sc);
const char *hs_scheme_ts_header(const hs_scheme *sc);

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

/* The text of part p of sc: its lit, or its slice of sc->text (a
 * configured template), with *n its length; NULL when it has none or the
 * slice is out of the array. */
const char *hs_scheme_part_text(const hs_scheme *sc, const hs_part *p, size_t *n);

/* 1 when sc reads the body as JSON to authenticate (a JSON part, or a
 * signature, timestamp or id inside the body). */
int hs_scheme_reads_json(const hs_scheme *sc);

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
