/*
 * sig.h - verifying a request's signature or token (SPEC section 3), as
 * its scheme's row (scheme.h) describes it.
 *
 * Everything here works on raw bytes with explicit lengths; nothing
 * knows about FastCGI or the environment, and nothing logs: the caller
 * decides what to say, and is never handed a secret or a MAC.
 */
#ifndef HS_SIG_H
#define HS_SIG_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "scheme.h"
#include "pubkey.h"
#include "secret.h"

#define HS_SIG_MAX_HEADER_VAL 8192 /* longer signature headers are wrong */

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

/* What a request brings to verification. */
typedef struct hs_sig_input {
    hs_header_fn         hdr;
    void                *arg;
    const char          *query;  /* QUERY_STRING, or NULL */
    const unsigned char *body;   /* the raw body exactly as read */
    size_t               len;
    /* Zero unless the scheme needs them: */
    const hs_pubkey     *pub;    /* HOOKSPOOL_PUBLIC_KEY (and _OLD) */
    size_t               npub;
    const char          *url;    /* HOOKSPOOL_PUBLIC_URL (HS_PART_URL) */
} hs_sig_input;

/* Notifications of an HS_LAYOUT_EACH body looked at, at most: each is a
 * pointer lookup through the body, so the work is bounded before the
 * sender is known. */
#define HS_SIG_MAX_EACH 256
/* Bytes of one query parameter's decoded value in the signed bytes. */
#define HS_SIG_MAX_QUERY_VAL 256
/* Bytes of a query:NAME scheme's token, decoded: longer is a wrong token. */
#define HS_SIG_MAX_QUERY_TOKEN 512

/*
 * Verify a request as hs_sig_verify does, with its query string (the
 * rows whose signed bytes hold a query parameter, and query:NAME whose
 * token is the parameter NAME ('+' kept, hs_query_token), need it;
 * without it they answer HS_SIG_MISSING), its public keys (a row with a
 * pk_alg: a signature verifies with any of them; HS_MAC_PUBKEY rows take
 * no secret) and its public URL (HS_PART_URL: none is HS_SIG_BAD). A row
 * that reads the body as JSON
 * (hs_scheme_reads_json) gets HS_SIG_MISSING when the body is not JSON
 * or lacks what it needs.
 */
hs_sig_verdict hs_sig_verify_input(const hs_scheme *sc, const hs_secret *secrets,
                                   size_t n, const hs_sig_input *in,
                                   time_t now, long long tolerance);

/*
 * Parse a timestamp s[0..n) written as fmt into seconds since the
 * epoch: HS_TS_UNIX 1 to 19 decimal digits; HS_TS_RFC3339
 * YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|+HH:MM|-HH:MM) ('T' and 'Z' in
 * either case). Returns 0 with *out set, or -1.
 */
int hs_sig_parse_ts(hs_ts_format fmt, const char *s, size_t n, long long *out);

/*
 * Verify a request: body[0..len) is the raw body exactly as read.
 * Every secret of secrets[0..n) is tried; MACs are compared in constant
 * time over decoded bytes; hex is case-insensitive; a header of the wrong
 * length or alphabet is HS_SIG_BAD, never an error. Every header the
 * scheme reads (signature, timestamp, id) must be present (else
 * HS_SIG_MISSING) and well formed (else HS_SIG_BAD). A timestamp must
 * lie within [now - tolerance, now + tolerance] (else HS_SIG_EXPIRED).
 * Allocates nothing that outlives the call.
 */
hs_sig_verdict hs_sig_verify(const hs_scheme *sc, const hs_secret *secrets,
                             size_t n, hs_header_fn hdr, void *arg,
                             const unsigned char *body, size_t len,
                             time_t now, long long tolerance);

/* HS_PART_URL's bytes into out (reset first): url, then "?" and query
 * when query is not empty. 0, or -1 without a url or out of memory. */
int hs_sig_url(const char *url, const char *query, hs_buf *out);

#endif
