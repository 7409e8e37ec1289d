/*
 * json.h - strict RFC 8259 validation and minifying, byte for byte.
 *
 * The spool keeps an event exactly as the sender wrote it, less the
 * whitespace between tokens: numbers, string escapes and key order are
 * never re-encoded ("500.00" stays "500.00", "\u00e9" stays "\u00e9").
 */
#ifndef HS_JSON_H
#define HS_JSON_H

#include <stddef.h>
#include "buf.h"

/* Deepest nesting of arrays/objects accepted; deeper is HS_JSON_EDEPTH. */
#define HS_JSON_MAX_DEPTH 256

enum {
    HS_JSON_OK = 0,
    HS_JSON_EEMPTY,     /* no value at all (empty or only whitespace) */
    HS_JSON_ESYNTAX,    /* grammar violation */
    HS_JSON_EUTF8,      /* invalid, overlong or surrogate UTF-8, or a BOM */
    HS_JSON_EDEPTH,     /* nesting deeper than HS_JSON_MAX_DEPTH */
    HS_JSON_ENOMEM      /* out may not grow */
};

/*
 * Validate in[0..len) as exactly one JSON text (RFC 8259 section 2:
 * optional whitespace, one value, optional whitespace; UTF-8 without a
 * byte-order mark). Strict: no comments, no trailing commas, no leading
 * zeros, no NaN/Infinity, no raw control characters (< 0x20) in strings,
 * only the escapes \" \\ \/ \b \f \n \r \t \u and four hex digits (kept as
 * sent; lone or mis-paired \uD800-\uDFFF escapes are accepted as RFC 8259
 * section 8.2 allows them grammatically).
 *
 * If out is non-NULL the minified text (every token byte for byte, the
 * whitespace between tokens dropped) is appended to it; on error out may
 * hold a partial text: the caller discards it. If err_off is non-NULL it
 * receives the offset of the first offending byte on error.
 * Iterative, no recursion: memory use does not depend on the input beyond
 * out's growth. Returns one of the HS_JSON_* codes.
 */
int hs_json_minify(const unsigned char *in, size_t len, hs_buf *out,
                   size_t *err_off);

/* A short stable name for an HS_JSON_* code, for logs. */
const char *hs_json_strerror(int code);

/*
 * Resolve the RFC 6901 JSON Pointer ptr[0..ptrlen) (e.g. "/a/0/b", with
 * ~0 and ~1 escapes) in the *valid, minified* JSON text json[0..len).
 * Object member names are compared after decoding the name's JSON
 * escapes, so "/caf\u00e9" style keys work. Array indexes are decimal
 * without leading zeros. When an object has the same name twice, the
 * first one wins.
 * On success returns 1 and sets *val and *vallen to the value's bytes inside
 * json (as sent: a string keeps its quotes and escapes). Returns 0 when
 * the pointer finds nothing, -1 when ptr is not a valid pointer (does not
 * start with '/' and is not empty). The empty pointer is the whole text.
 */
int hs_json_pointer(const char *json, size_t len, const char *ptr,
                    size_t ptrlen, const char **val, size_t *vallen);

/*
 * The text of a JSON value val[0..n) as hs_json_pointer returns it: for
 * a string without escapes its contents (between the quotes), for a
 * number its text as sent. Returns 1 with *s, *sn set, or 0 for any
 * other value (an object, an array, a literal, a string with escapes):
 * what a signature, a timestamp or a challenge never needs.
 */
int hs_json_plain_text(const char *val, size_t n, const char **s, size_t *sn);

#endif
